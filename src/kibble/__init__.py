"""kibble: the factory around a model, from ingestion to guarded retraining.

The public API lives here; everything else is internal and may move.
"""

from typing import TYPE_CHECKING, Any

from kibble.errors import KibbleError

if TYPE_CHECKING:
    from kibble.client import Client
    from kibble.config import Settings, load_settings
    from kibble.context import Context
    from kibble.factory import (
        AlertRule,
        ColumnSpec,
        Factory,
        GatePolicy,
        PipelineSpec,
        RolloutPolicy,
        SecretRef,
        SourceSpec,
        TableSpec,
    )
    from kibble.monitoring.deployment import monitor_deployment
    from kibble.pipelines import Hold, Pipeline, hold, release, resume_run, run_pipeline, step
    from kibble.registry.lifecycle import (
        archive_model,
        gate_model,
        promote_model,
        register_model,
        rollback_model,
    )
    from kibble.rollouts.service import start as start_rollout

_LAZY = {
    "Client": "kibble.client",
    "Context": "kibble.context",
    "Settings": "kibble.config",
    "load_settings": "kibble.config",
    **dict.fromkeys(
        (
            "AlertRule",
            "ColumnSpec",
            "Factory",
            "GatePolicy",
            "PipelineSpec",
            "RolloutPolicy",
            "SecretRef",
            "SourceSpec",
            "TableSpec",
        ),
        "kibble.factory",
    ),
    **dict.fromkeys(
        ("archive_model", "gate_model", "promote_model", "register_model", "rollback_model"),
        "kibble.registry.lifecycle",
    ),
    "monitor_deployment": "kibble.monitoring.deployment",
    **dict.fromkeys(
        ("Hold", "Pipeline", "hold", "release", "resume_run", "run_pipeline", "step"),
        "kibble.pipelines",
    ),
}


def __getattr__(name: str) -> Any:
    """Import on first use: every `kibble` command starts faster without the whole API."""
    if name == "start_rollout":
        from kibble.rollouts.service import start

        return start

    if name == "__version__":  # importlib.metadata is slow to import; most commands never ask
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kibble")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            return "0.0.0+local"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "AlertRule",
    "Client",
    "ColumnSpec",
    "Context",
    "Factory",
    "GatePolicy",
    "Hold",
    "KibbleError",
    "Pipeline",
    "PipelineSpec",
    "RolloutPolicy",
    "SecretRef",
    "Settings",
    "SourceSpec",
    "TableSpec",
    "__version__",
    "archive_model",
    "gate_model",
    "hold",
    "load_settings",
    "monitor_deployment",
    "promote_model",
    "register_model",
    "release",
    "resume_run",
    "rollback_model",
    "run_pipeline",
    "start_rollout",
    "step",
]
