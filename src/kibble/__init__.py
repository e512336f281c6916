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
    from kibble.factory.service import apply as apply_factory
    from kibble.factory.service import plan as plan_factory
    from kibble.factory.sources import ingest_source
    from kibble.models.log import log_model
    from kibble.models.monitor import monitor_model
    from kibble.monitoring.alerts import list_alerts
    from kibble.monitoring.deployment import monitor_deployment
    from kibble.pipelines import Hold, Pipeline, hold, release, resume_run, run_pipeline, step
    from kibble.registry.lifecycle import (
        archive_model,
        describe_model,
        gate_model,
        promote_model,
        register_model,
        rollback_model,
    )
    from kibble.rollouts.service import history as rollout_history
    from kibble.rollouts.service import start as start_rollout
    from kibble.rollouts.service import step as step_rollout
    from kibble.serving.app import create_app as serving_app
    from kibble.serving.faults import Fault

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
        (
            "archive_model",
            "describe_model",
            "gate_model",
            "promote_model",
            "register_model",
            "rollback_model",
        ),
        "kibble.registry.lifecycle",
    ),
    "list_alerts": "kibble.monitoring.alerts",
    "ingest_source": "kibble.factory.sources",
    "Fault": "kibble.serving.faults",
    "log_model": "kibble.models.log",
    "monitor_model": "kibble.models.monitor",
    "monitor_deployment": "kibble.monitoring.deployment",
    **dict.fromkeys(
        ("Hold", "Pipeline", "hold", "release", "resume_run", "run_pipeline", "step"),
        "kibble.pipelines",
    ),
}


_RENAMED = {  # public name -> (module, name there)
    "apply_factory": ("kibble.factory.service", "apply"),
    "plan_factory": ("kibble.factory.service", "plan"),
    "rollout_history": ("kibble.rollouts.service", "history"),
    "serving_app": ("kibble.serving.app", "create_app"),
    "start_rollout": ("kibble.rollouts.service", "start"),
    "step_rollout": ("kibble.rollouts.service", "step"),
}


def __getattr__(name: str) -> Any:
    """Import on first use: every `kibble` command starts faster without the whole API."""
    from importlib import import_module

    if name in _RENAMED:
        module_name, attr = _RENAMED[name]
        return getattr(import_module(module_name), attr)
    if name == "__version__":  # importlib.metadata is slow to import; most commands never ask
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("kibble")
        except PackageNotFoundError:  # pragma: no cover - a source tree without install
            return "0.0.0+local"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "AlertRule",
    "Client",
    "ColumnSpec",
    "Context",
    "Factory",
    "Fault",
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
    "apply_factory",
    "archive_model",
    "describe_model",
    "gate_model",
    "hold",
    "ingest_source",
    "list_alerts",
    "load_settings",
    "log_model",
    "monitor_deployment",
    "monitor_model",
    "plan_factory",
    "promote_model",
    "register_model",
    "release",
    "resume_run",
    "rollback_model",
    "rollout_history",
    "run_pipeline",
    "serving_app",
    "start_rollout",
    "step",
    "step_rollout",
]
