"""Functions a Ray worker imports by name in the remote-call tests."""

from __future__ import annotations

import os


def pid() -> int:
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)
