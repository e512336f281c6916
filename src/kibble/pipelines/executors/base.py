"""The executor interface: submit a step attempt, get a future of its outcome."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol


class Executor(Protocol):
    name: str
    #: how many steps the runner may have in flight at once
    parallelism: int
    #: True when the body runs here and can receive Python values directly
    in_process: bool

    def submit(
        self, task: dict[str, Any], local_call: Callable[[], dict[str, Any]]
    ) -> Future[dict[str, Any]]:
        """Start one attempt. ``local_call`` is used by in-process executors only."""
        ...

    def abandon(self) -> None:
        """A step timed out: free what it holds if the executor can (kill its worker)."""
        ...

    def close(self) -> None: ...
