"""API token values: random, recognisable, stored only as a hash. Pure, no I/O.

A token looks like ``kb_<43 url-safe characters>`` (256 random bits), so a leaked one is
easy to spot in logs and by secret scanners. With that much entropy a plain SHA-256 is
enough to store it: nothing is gained from a slow hash, and lookups stay one index probe.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

PREFIX = "kb_"
_BODY_LENGTH = 43
DISPLAY_LENGTH = 10


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def looks_like_token(value: str) -> bool:
    body = value[len(PREFIX) :]
    return (
        value.startswith(PREFIX)
        and len(body) == _BODY_LENGTH
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in body)
    )


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def display_prefix(value: str) -> str:
    """What lists show so a person can tell tokens apart (never enough to use one)."""
    return value[:DISPLAY_LENGTH]


def is_live(expires_at: datetime | None, revoked_at: datetime | None, now: datetime) -> bool:
    return revoked_at is None and (expires_at is None or expires_at > now)
