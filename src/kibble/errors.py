"""One exception hierarchy. Every message says what went wrong and what to do next.

The CLI prints ``str(error)`` as one line and exits with ``error.exit_code``; the API
maps ``http_status``. Raise the most specific class; add a class only when a caller
needs to tell it apart.
"""

from __future__ import annotations


class KibbleError(Exception):
    """Base of every error kibble raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigError(KibbleError):
    """Settings are missing, malformed or contradictory."""

    exit_code = 2
    http_status = 400


class UsageError(KibbleError):
    """The caller asked for something that cannot be done as asked."""

    exit_code = 2
    http_status = 400


class NotFoundError(KibbleError):
    """A named record, artifact or table does not exist (in this project)."""

    http_status = 404


class ConflictError(KibbleError):
    """The request collides with the current state (duplicate, stale version, race)."""

    http_status = 409


class UnsafeInputError(KibbleError):
    """Input tried to escape its sandbox: path traversal, forbidden URL, pickle payload."""

    exit_code = 2
    http_status = 400


class IntegrityError(KibbleError):
    """Stored bytes or records do not match what was recorded (corruption, tampering)."""

    http_status = 500


class StoreError(KibbleError):
    """The metadata store cannot be reached or migrated."""

    http_status = 503


class NotReadyError(KibbleError):
    """A service is up but cannot answer yet (no model loaded): retry later."""

    http_status = 503


class PermissionDeniedError(KibbleError):
    """The caller is authenticated but lacks the role for this action."""

    http_status = 403


class AuthenticationError(KibbleError):
    """No valid credentials were presented."""

    http_status = 401


class QuotaExceededError(KibbleError):
    """A per-project quota would be exceeded."""

    http_status = 429


class DataQualityError(KibbleError):
    """Data broke its contract or a gate; the message names the check and the rows."""

    http_status = 422
