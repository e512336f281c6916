"""Monitoring: metrics over time, drift, feedback-loop detection, alert rules and notifiers.

Pure parts (``drift``, ``feedback_loop``, ``narrowing``, ``rules``, the metric
calculators) take frames and return numbers; ``store``, ``alerts`` and ``watch`` record
them through a ``Context``. ``run_monitors`` runs them all over a window, the one
implementation behind ``monitor_deployment`` (a live deployment, from the request log
and the lake: what ``kibble monitor run`` and the ``kibble.steps`` monitor step call) and
``monitor_day`` (frames a caller holds). Names are loaded on first use, so importing
one pure module does not pull in the store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Functions named like their module are bound now: a lazy name would be replaced by the
# module as soon as anything imported ``kibble.monitoring.model_metrics`` (the import
# system sets the package attribute), and `from kibble.monitoring import model_metrics`
# would then return the module. (They need polars, which every caller loads anyway.)
from kibble.monitoring.data_metrics import data_metrics
from kibble.monitoring.model_metrics import model_metrics
from kibble.monitoring.system_metrics import system_metrics

_EXPORTS = {
    "Point": "points",
    "record_metrics": "store",
    "query_metrics": "store",
    "MonitorReport": "monitor",
    "Observed": "monitor",
    "run_monitors": "monitor",
    "monitor_day": "daily",
    "monitor_deployment": "deployment",
    "NarrowingConfig": "narrowing",
    "NarrowingVerdict": "narrowing",
    "detect_narrowing": "narrowing",
    "exposure_metrics": "model_metrics",
    "rules_from_factory": "rules",
    "rules_in_force": "alerts",
    "evaluate_rules_in_force": "alerts",
    "Evaluation": "alerts",
    "watch_narrowing": "watch",
    "data_metrics": "data_metrics",
    "volume_ratios": "data_metrics",
    "model_metrics": "model_metrics",
    "system_metrics": "system_metrics",
    "DriftReport": "drift",
    "FeatureDrift": "drift",
    "Threshold": "drift",
    "drift_report": "drift",
    "input_drift": "drift_inputs",
    "prediction_drift": "drift_inputs",
    "LoopConfig": "feedback_loop",
    "LoopVerdict": "feedback_loop",
    "detect_feedback_loop": "feedback_loop",
    "Rule": "rules",
    "StoredMetricsCollector": "prometheus",
    "default_rules": "rules",
    "rules_from_dicts": "rules",
    "raise_alert": "alerts",
    "resolve_alert": "alerts",
    "list_alerts": "alerts",
    "ack_alert": "alerts",
    "evaluate_rules": "alerts",
    "get_alert": "alerts",
    "drift_points": "watch",
    "record_drift_report": "watch",
    "daily_signals": "watch",
    "watch_feedback_loop": "watch",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from kibble.monitoring.alerts import (
        Evaluation,
        ack_alert,
        evaluate_rules,
        evaluate_rules_in_force,
        get_alert,
        list_alerts,
        raise_alert,
        resolve_alert,
        rules_in_force,
    )
    from kibble.monitoring.daily import monitor_day
    from kibble.monitoring.data_metrics import volume_ratios
    from kibble.monitoring.deployment import monitor_deployment
    from kibble.monitoring.drift import DriftReport, FeatureDrift, Threshold, drift_report
    from kibble.monitoring.drift_inputs import input_drift, prediction_drift
    from kibble.monitoring.feedback_loop import LoopConfig, LoopVerdict, detect_feedback_loop
    from kibble.monitoring.model_metrics import exposure_metrics
    from kibble.monitoring.monitor import MonitorReport, Observed, run_monitors
    from kibble.monitoring.narrowing import NarrowingConfig, NarrowingVerdict, detect_narrowing
    from kibble.monitoring.points import Point
    from kibble.monitoring.prometheus import StoredMetricsCollector
    from kibble.monitoring.rules import Rule, default_rules, rules_from_dicts, rules_from_factory
    from kibble.monitoring.store import query_metrics, record_metrics
    from kibble.monitoring.watch import (
        daily_signals,
        drift_points,
        record_drift_report,
        watch_feedback_loop,
        watch_narrowing,
    )

__all__ = [
    "DriftReport",
    "Evaluation",
    "FeatureDrift",
    "LoopConfig",
    "LoopVerdict",
    "MonitorReport",
    "NarrowingConfig",
    "NarrowingVerdict",
    "Observed",
    "Point",
    "Rule",
    "StoredMetricsCollector",
    "Threshold",
    "ack_alert",
    "daily_signals",
    "data_metrics",
    "default_rules",
    "detect_feedback_loop",
    "detect_narrowing",
    "drift_points",
    "drift_report",
    "evaluate_rules",
    "evaluate_rules_in_force",
    "exposure_metrics",
    "get_alert",
    "input_drift",
    "list_alerts",
    "model_metrics",
    "monitor_day",
    "monitor_deployment",
    "prediction_drift",
    "query_metrics",
    "raise_alert",
    "record_drift_report",
    "record_metrics",
    "resolve_alert",
    "rules_from_dicts",
    "rules_from_factory",
    "rules_in_force",
    "run_monitors",
    "system_metrics",
    "volume_ratios",
    "watch_feedback_loop",
    "watch_narrowing",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble.monitoring' has no attribute {name!r}")
    value = getattr(import_module(f"kibble.monitoring.{module}"), name)
    globals()[name] = value
    return value
