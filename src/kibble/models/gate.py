"""Gate a tabular version: its safety probe in its own process, then per-row evidence on
a lake table with a label column against the baseline (a registered one, else the label's
mean) and the champion, decided by the registry's paired-bootstrap gates."""

from __future__ import annotations

from typing import Any

from kibble.context import Context
from kibble.data.tables import Tables
from kibble.models.bundle import Bundle
from kibble.models.evaluate import tabular_evidence
from kibble.models.log import load_logged
from kibble.models.metrics import RowMetric
from kibble.models.probe import run_tabular_probe
from kibble.registry.gates import Check, GatePolicy, GateReport, failed_check
from kibble.registry.promotion import Evaluation, gate_candidate

PROBE_ROWS = 50


def gate_tabular(
    context: Context,
    name: str,
    version: int,
    *,
    digest: str,
    policy: GatePolicy,
    params: dict[str, Any],
    champion_digest: str | None,
    baseline_digest: str | None,
    table: str,
    label: str | None,
    slice_by: str | None = None,
    metric: RowMetric | None = None,
    actor: str,
) -> GateReport:
    """Probe, measure, decide; a check that cannot run fails with the reason."""
    checks: list[Check] = []
    evaluation = Evaluation(candidate={}, baseline={})
    label = label or params.get("label")
    try:
        bundle = load_logged(context, digest)
    except Exception as exc:
        bundle = None
        checks.append(failed_check("loads", f"the version does not load: {exc}"))
    frame = None
    if bundle is not None:
        try:
            frame = Tables(context).polars(table)
        except Exception as exc:
            checks.append(failed_check("offline", f"evaluation table {table!r} unreadable: {exc}"))
    if bundle is not None and frame is not None:
        names = [c for c in bundle.manifest.signature.names if c in frame.columns]
        rows = frame.select(names).head(PROBE_ROWS).to_dicts()
        if policy.safety_probe:
            report = run_tabular_probe(
                context,
                digest,
                bundle.manifest.signature,
                rows,
                latency_sla_ms=policy.latency_sla_ms,
            )
            checks += [c.model_copy(update={"name": f"probe:{c.name}"}) for c in report.checks]
        if not all(c.passed for c in checks):
            checks.append(
                failed_check("offline", "offline checks not run: the model failed the probe")
            )
        elif not label:
            checks.append(
                failed_check("offline", "no label column: pass label= or log the model with label=")
            )
        else:
            try:
                refs = {
                    k: load_logged(context, d) if d else None
                    for k, d in (("baseline", baseline_digest), ("champion", champion_digest))
                }
                metric_name, evaluation = _evidence(
                    bundle, frame, label, policy, refs, slice_by, metric
                )
                policy = policy.model_copy(update={"metric": metric_name})
            except Exception as exc:
                checks.append(failed_check("offline", f"offline checks could not run: {exc}"))
    given = policy.model_copy(update={"min_coverage_ratio": 0.0})  # no item lists here
    return gate_candidate(
        context,
        name,
        version,
        Evaluation(
            candidate=evaluation.candidate,
            baseline=evaluation.baseline,
            champion=evaluation.champion,
            slices=evaluation.slices,
            policy=given,
        ),
        actor=actor,
        extra_checks=checks,
    )


def _evidence(
    bundle: Bundle,
    frame: Any,
    label: str,
    policy: GatePolicy,
    refs: dict[str, Bundle | None],
    slice_by: str | None,
    metric: RowMetric | None,
) -> tuple[str, Evaluation]:
    return tabular_evidence(
        bundle,
        frame,
        label=label,
        metric=policy.metric,
        baseline=refs["baseline"],
        champion=refs["champion"],
        slice_by=slice_by,
        user_metric=metric,
    )
