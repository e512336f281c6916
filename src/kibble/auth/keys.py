"""Signing keys: one secret per installation, one derived key per purpose.

The secret is ``secret_key`` from settings (``KIBBLE_SECRET_KEY``) when set: the
production way, so every replica signs and verifies alike. Otherwise it is 32 random
bytes kept in ``home/secret.key`` (mode 0600), made once by whichever process needs it
first. Nothing about it can be computed from public facts such as the home's path.
Each purpose (``serving-request-id``, ``ui-csrf``) gets its own HMAC-derived key, so a
key that leaks through one use cannot sign for another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from kibble.config import Settings
from kibble.errors import ConfigError

FILE_NAME = "secret.key"
KEY_BYTES = 32


def derived_key(settings: Settings, purpose: str) -> bytes:
    """The key for ``purpose``: stable across restarts and replicas that share the secret."""
    return hmac.new(root_secret(settings), purpose.encode(), hashlib.sha256).digest()


def root_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        if len(settings.secret_key) < KEY_BYTES:
            raise ConfigError(
                f"secret_key has {len(settings.secret_key)} characters; it needs {KEY_BYTES}+",
                hint="generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
            )
        return settings.secret_key.encode()
    return _home_secret(settings.home / FILE_NAME)


def _home_secret(path: Path) -> bytes:
    """Read the home's key, creating it atomically (write aside, then link) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        aside = path.with_name(f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
        finally:
            os.close(fd)
        try:
            os.link(aside, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            aside.unlink()
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise ConfigError(
            f"{path} holds {len(key)} bytes, not a {KEY_BYTES}-byte key",
            hint="delete it to make a new one (signed request ids and forms issued "
            "with the old key stop verifying)",
        )
    return key
