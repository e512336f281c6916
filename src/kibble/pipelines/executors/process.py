"""A local process pool: independent steps run in parallel on several cores.

Workers are spawned (not forked) so they never inherit the parent's open database
connections or threads, and end when the runner dies, even by ``kill -9``
(``kibble.lifetime``): a resumed run never races an orphan finishing the same step.
Step functions must be importable (``module:function``).
A step's ``timeout_s`` counts from submission, so it includes starting a worker (about
a second): give steps run here a timeout of several seconds.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from kibble.lifetime import exit_with_parent
from kibble.pipelines.worker import execute_task


class ProcessExecutor:
    name = "process"
    in_process = False

    def __init__(self, max_workers: int = 2) -> None:
        self.parallelism = max_workers
        self._context = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.parallelism, mp_context=self._context, initializer=exit_with_parent
        )

    def submit(
        self, task: dict[str, Any], local_call: Callable[[], dict[str, Any]]
    ) -> Future[dict[str, Any]]:
        return self._pool.submit(execute_task, task)

    def abandon(self) -> None:
        """Kill this pool's workers (one is stuck past its timeout) and start fresh ones.

        Steps still running in the same pool fail with it and are retried if they may be.
        """
        workers: dict[int, Any] = getattr(self._pool, "_processes", None) or {}
        for process in list(workers.values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
