"""Ray: steps run as Ray tasks on an existing cluster, with declared CPUs and memory.

Install the extra (``pip install 'kibble[ray]'``) and pass ``--executor ray
--ray-address HOST:PORT``. Workers must import the step's module and reach the
artifact store (use object storage when the cluster spans machines).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from kibble.errors import ConfigError
from kibble.pipelines.worker import execute_task


class RayExecutor:
    name = "ray"
    in_process = False

    def __init__(self, address: str, parallelism: int = 8) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "the ray executor needs the `ray` package",
                hint="pip install 'kibble[ray]'",
            ) from exc
        if not address:
            raise ConfigError(
                "the ray executor needs a cluster address",
                hint="pass --ray-address HOST:PORT or set pipelines.ray_address",
            )
        self._ray = ray
        self.parallelism = parallelism
        self._owned = not ray.is_initialized()
        if self._owned:
            # Workers import step modules by name: give them this driver's import roots.
            roots = [os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            ray.init(
                address=address,
                logging_level=logging.ERROR,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(roots)}},
            )
        self._remote = ray.remote(execute_task)
        self._pending: list[Any] = []

    def submit(
        self, task: dict[str, Any], local_call: Callable[[], dict[str, Any]]
    ) -> Future[dict[str, Any]]:
        # Named after what it runs (pipeline.step, training, trial), so the Ray dashboard
        # and `ray list tasks` say what is running instead of `execute_task`.
        options: dict[str, Any] = {
            "num_cpus": task.get("cpus", 1.0),
            "max_retries": 0,
            "name": str(task.get("name") or task["ref"]),
        }
        if task.get("memory_mb"):
            options["memory"] = int(task["memory_mb"]) * 1024 * 1024
        ref = self._remote.options(**options).remote(task)
        self._pending.append(ref)
        future: Future[dict[str, Any]] = ref.future()
        return future

    def abandon(self) -> None:
        for ref in self._pending:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: S112 - already finished refs cannot be cancelled
                continue
        self._pending.clear()

    def close(self) -> None:
        self._pending.clear()
        if self._owned:
            self._ray.shutdown()
