"""Tuning trials and trainings on the pipelines' executors: here, a process pool or Ray.

Work crosses the process boundary the way pipeline steps do (``kibble.pipelines.worker``):
inputs are encoded into the artifact store once (``.npz``, never pickles), each call is a
plain-data task naming a function of this module, and its result comes back through the
store. So a trial scores the same wherever it runs, and a cluster needs nothing from the
driver but the artifact store (object storage when it spans machines).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kibble.context import Context
from kibble.errors import KibbleError
from kibble.pipelines.executors import Executor, make_executor
from kibble.pipelines.serde import decode, encode
from kibble.pipelines.worker import import_ref
from kibble.recsys.base import load_model
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.evaluation import validation_ndcg
from kibble.recsys.interactions import Interactions
from kibble.recsys.split import temporal_split
from kibble.recsys.training import TrainResult, train


class RemoteCallError(KibbleError):
    """A trial or training failed in its worker; the message carries the worker's error."""


# -- the functions workers run (importable by name, plain-data parameters) --------------


def validation_score(
    period: Interactions,
    items: ItemCatalog | None = None,
    *,
    model: str,
    params: dict[str, Any],
    k: int,
    validation_fraction: float,
) -> float:
    """One tuning trial: fit on the training ``period`` minus its end, NDCG@K on that end."""
    inner = temporal_split(period, test_fraction=validation_fraction)
    return validation_ndcg(model, params, inner, items, k)


def fit_blob(
    interactions: Interactions,
    items: ItemCatalog | None = None,
    *,
    model: str,
    params: dict[str, Any],
) -> bytes:
    """One training: the saved ``.npz`` artifact, exactly what ``train`` produces here."""
    return train(interactions, model=model, params=params, items=items).blob


# -- the driver side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    value: Any
    seconds: float


class RemoteCalls:
    """Submit calls of this module's functions; share big inputs once per session.

    With the ``local`` executor calls run in this process (``jobs`` threads at most) on
    the very objects given; otherwise each becomes an executor task.
    """

    def __init__(
        self,
        context: Context,
        executor: str | None = None,
        *,
        ray_address: str | None = None,
        jobs: int = 1,
    ) -> None:
        settings = context.settings.pipelines
        self.context = context
        self.executor: Executor = make_executor(
            executor or settings.executor,
            max_workers=max(jobs, settings.max_workers),
            ray_address=ray_address or settings.ray_address,
        )
        self.jobs = max(1, jobs)
        self._threads = ThreadPoolExecutor(self.jobs) if self.executor.in_process else None
        # keyed by id(); the value is kept so its id cannot be reused while cached
        self._refs: dict[int, tuple[Any, dict[str, Any]]] = {}

    @property
    def name(self) -> str:
        return self.executor.name

    def __enter__(self) -> RemoteCalls:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        self.executor.close()

    def _ref(self, value: Any) -> dict[str, Any]:
        """Encode and store ``value`` once; later calls reuse its digest."""
        key = id(value)
        if key not in self._refs:
            encoded = encode(value)
            ref = self.context.artifacts.put_bytes(
                self.context.project, encoded.data, encoded.media_type
            )
            self._refs[key] = (value, {"digest": ref.digest, "codec": encoded.codec})
        return self._refs[key][1]

    def submit(
        self,
        func: Callable[..., Any],
        inputs: Mapping[str, Any],
        params: Mapping[str, Any],
        *,
        cpus: float = 1.0,
        name: str | None = None,
    ) -> Future[Done]:
        """Run ``func(**inputs, **params)``; ``inputs`` are shared, ``params`` are JSON.

        ``cpus`` is what a Ray task asks for; Ray also caps the task's OpenMP threads
        (implicit's) to it, so a fit on Ray uses ``cpus`` cores.
        """
        if self._threads is not None:
            return self._threads.submit(_timed, func, {**inputs, **params})
        ref = f"{func.__module__}:{func.__qualname__}"
        if import_ref(ref) is not func:
            raise RemoteCallError(
                f"{ref} cannot be imported by a worker",
                hint="submit a module-level function",
            )
        context = self.context
        task = {
            "name": name or func.__qualname__,  # what the Ray dashboard lists
            "ref": ref,
            "project": context.project,
            "artifact_url": context.settings.artifact_url,
            "storage_options": context.settings.storage.fsspec_options(
                context.settings.artifact_url
            ),
            "inputs": {name: self._ref(value) for name, value in inputs.items()},
            "params": dict(params),
            "timeout_s": None,
            "cpus": cpus,
            "memory_mb": None,
        }
        done: Future[Done] = Future()

        def unpack(outcome_future: Future[dict[str, Any]]) -> None:
            try:
                outcome = outcome_future.result()
                if outcome["status"] != "ok":
                    raise RemoteCallError(
                        f"{ref} failed on the {self.name} executor: {outcome.get('error')}",
                        hint="the same call runs locally with --executor local",
                    )
                output = outcome["output"]
                data = context.artifacts.get_bytes(context.project, output["digest"])
                done.set_result(Done(decode(data, output["codec"]), outcome["duration_s"]))
            except BaseException as exc:  # reported through the future
                done.set_exception(exc)

        self.executor.submit(task, _unused).add_done_callback(unpack)
        return done


def _timed(func: Callable[..., Any], kwargs: dict[str, Any]) -> Done:
    started = time.perf_counter()
    value = func(**kwargs)
    return Done(value, time.perf_counter() - started)


def _unused() -> dict[str, Any]:
    raise AssertionError("remote executors never call the local body")


def train_on(
    context: Context,
    interactions: Interactions,
    *,
    model: str,
    params: Mapping[str, Any] | None = None,
    items: ItemCatalog | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    cpus: float = 1.0,
) -> TrainResult:
    """``train`` on the chosen executor; the blob (and so the model) is the same anywhere."""
    name = executor or context.settings.pipelines.executor
    if name == "local":
        return train(interactions, model=model, params=params, items=items)
    with RemoteCalls(context, name, ray_address=ray_address) as calls:
        inputs = {"interactions": interactions, "items": items}
        done = calls.submit(
            fit_blob,
            inputs,
            {"model": model, "params": dict(params or {})},
            cpus=cpus,
            name=f"recsys.train.{model}",
        )
        blob: bytes = done.result().value
        seconds = done.result().seconds
    return TrainResult(load_model(blob), blob, {"remote": seconds})
