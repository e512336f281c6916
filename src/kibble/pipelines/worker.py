"""The body of one step attempt, identical in every executor.

A remote worker receives a ``task`` of plain data (function reference, input digests,
parameters), loads inputs from the artifact store, calls the function and writes the
output back there. Only digests and JSON cross the process boundary: never pickles of
user values.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from kibble.artifacts import ArtifactStore
from kibble.pipelines import stepctx
from kibble.pipelines.definitions import Hold, Step
from kibble.pipelines.serde import decode, encode


def import_ref(ref: str) -> Any:
    """``package.module:attr.path`` to the object it names."""
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname:
        from kibble.errors import UsageError

        raise UsageError(f"{ref!r} is not MODULE:ATTRIBUTE", hint="e.g. myproject.flows:daily")
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def invoke(
    func: Callable[..., Any],
    kwargs: Mapping[str, Any],
    store: ArtifactStore,
    project: str,
    run: Mapping[str, Any] | None = None,
    context: Any = None,
) -> dict[str, Any]:
    """Run ``func`` and describe what happened as plain data (plus the value itself)."""
    stepctx.install_log_capture()
    scope, token = stepctx.enter(dict(run or {}), context)
    started = time.perf_counter()
    outcome: dict[str, Any]
    try:
        value = func(**kwargs)
        encoded = encode(value)
        ref = store.put_bytes(project, encoded.data, encoded.media_type)
        outcome = {
            "status": "ok",
            "output": {
                "digest": ref.digest,
                "size": ref.size,
                "media_type": ref.media_type,
                "codec": encoded.codec,
            },
            "value": value,
        }
    except Hold as held:
        outcome = {"status": "hold", "reasons": held.reasons}
    except Exception as exc:
        stepctx.log(traceback.format_exc(), "ERROR")
        outcome = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        stepctx.leave(token)
    outcome["logs"] = scope.logs
    outcome["reads"] = scope.reads
    outcome["duration_s"] = time.perf_counter() - started
    return outcome


def execute_task(task: dict[str, Any]) -> dict[str, Any]:
    """Entry point for process-pool and Ray workers; returns JSON-able data only."""
    store = ArtifactStore(task["artifact_url"], task.get("storage_options") or {})
    target = import_ref(task["ref"])
    func = target.func if isinstance(target, Step) else target
    kwargs: dict[str, Any] = dict(task["params"])
    for name, ref in task["inputs"].items():
        kwargs[name] = decode(store.get_bytes(task["project"], ref["digest"]), ref["codec"])
    outcome = invoke(func, kwargs, store, task["project"], task.get("run"))
    outcome.pop("value", None)
    return outcome
