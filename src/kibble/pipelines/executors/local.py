"""In-process execution: the default and the fastest (no serialisation round trip)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class LocalExecutor:
    name = "local"
    parallelism = 1
    in_process = True

    def __init__(self, *, threaded: bool = False) -> None:
        self.threaded = threaded

    def submit(
        self, task: dict[str, Any], local_call: Callable[[], dict[str, Any]]
    ) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        if task.get("timeout_s") is None:
            _complete(future, local_call)
            return future
        # A timeout needs the body off this thread; a Python thread cannot be killed, so a
        # step that overruns is abandoned (reported failed) and finishes in the background.
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run, args=(_complete, future, local_call), daemon=True
        )
        thread.start()
        return future

    def abandon(self) -> None:
        return None

    def close(self) -> None:
        return None


def _complete(future: Future[dict[str, Any]], call: Callable[[], dict[str, Any]]) -> None:
    try:
        future.set_result(call())
    except BaseException as exc:  # reported through the future, like a real pool
        future.set_exception(exc)
