"""Keys under a store root. Nothing a user types may escape its project's prefix.

We reject instead of normalising: a key that needs normalising is either a mistake
or an attack, and both deserve a clear error rather than a silent rewrite.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from kibble.errors import UnsafeInputError

MAX_KEY_LENGTH = 512
MAX_SEGMENT_LENGTH = 128
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def check_key(key: str) -> str:
    """Validate a relative key such as ``models/als/v3.npz``; return it unchanged."""
    if not key:
        raise UnsafeInputError(
            "empty artifact key", hint="give a relative path like 'models/a.npz'"
        )
    if len(key) > MAX_KEY_LENGTH:
        raise UnsafeInputError(f"artifact key is {len(key)} characters; the limit is 512")
    decoded = key
    for _ in range(3):  # catch %2e%2e and %252e%252e alike
        decoded = unquote(decoded)
    if decoded != key:
        raise UnsafeInputError(
            f"artifact key {key!r} contains URL-encoded characters",
            hint="use plain characters: letters, digits, '.', '_', '-', '=' and '/'",
        )
    if "\x00" in key or "\\" in key or key.startswith("/") or ":" in key:
        raise UnsafeInputError(
            f"artifact key {key!r} is absolute or has forbidden characters",
            hint="keys are relative paths with '/' separators",
        )
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise UnsafeInputError(
                f"artifact key {key!r} has an unsafe segment {segment!r}",
                hint="each segment: letters, digits, '.', '_', '-', '=', not starting with '.'",
            )
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise UnsafeInputError(f"artifact key segment is over {MAX_SEGMENT_LENGTH} characters")
    return key


def check_digest(digest: str) -> str:
    if not DIGEST.fullmatch(digest):
        raise UnsafeInputError(
            f"{digest!r} is not an artifact digest",
            hint="digests look like sha256:<64 lowercase hex characters>",
        )
    return digest


def blob_key(digest: str) -> str:
    hexpart = check_digest(digest).split(":", 1)[1]
    return f"blobs/sha256/{hexpart[:2]}/{hexpart}"
