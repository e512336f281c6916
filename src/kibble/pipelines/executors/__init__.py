"""Where step bodies run: in this process, in a local process pool, or on Ray.

Every executor takes the same plain-data task (see ``kibble.pipelines.worker``) and
returns a future of the same plain-data outcome, so the runner never cares which.
"""

from __future__ import annotations

from kibble.errors import UsageError
from kibble.pipelines.executors.base import Executor
from kibble.pipelines.executors.local import LocalExecutor
from kibble.pipelines.executors.process import ProcessExecutor

__all__ = ["Executor", "LocalExecutor", "ProcessExecutor", "make_executor"]


def make_executor(name: str, *, max_workers: int = 2, ray_address: str = "") -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "process":
        return ProcessExecutor(max_workers)
    if name == "ray":
        from kibble.pipelines.executors.ray import RayExecutor

        return RayExecutor(ray_address)
    raise UsageError(f"unknown executor {name!r}", hint="use local, process or ray")
