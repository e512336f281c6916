"""Functions a Ray worker imports by name in the remote-call tests."""

from __future__ import annotations

import os


def pid() -> int:
    return os.getpid()


def fail(message: str) -> None:
    raise ValueError(message)


def task_name() -> str | None:
    """The name Ray lists this task under (`ray list tasks`, the dashboard)."""
    import ray

    return ray.get_runtime_context().get_task_name()
