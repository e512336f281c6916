"""gate_candidate end to end on the real store: challenger on pass, archive + alert on fail."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from kibble.context import Context
from kibble.registry.promotion import Evaluation, gate_candidate
from kibble.store.models import Alert, GateReportRecord, ModelVersion, RegisteredModel
from kibble.store.repositories.registry import Registry

BASE = {f"u{i}": float(v) for i, v in enumerate(np.random.default_rng(3).uniform(0, 1, 100))}
LISTS = {u: [f"i{i % 40}", f"i{(i + 1) % 40}"] for i, u in enumerate(BASE)}


def _evaluation(candidate: dict[str, float], **extra: object) -> Evaluation:
    return Evaluation(candidate, BASE, recommendations=LISTS, reference_coverage=40, **extra)  # type: ignore[arg-type]


def _register(context: Context) -> None:
    with context.store.session() as s:
        m = RegisteredModel(project_id=context.project_id, name="recs")
        s.add(m)
        s.flush()
        for v in (1, 2):
            s.add(
                ModelVersion(
                    project_id=context.project_id,
                    model_id=m.id,
                    version=v,
                    artifact_digest=f"sha256:{v:064d}",
                    flavor="popularity",
                )
            )


def test_pass_sets_challenger_and_fail_archives_with_alert(context: Context) -> None:
    _register(context)
    better = {u: v + 0.1 for u, v in BASE.items()}
    worse = {u: v - 0.1 for u, v in BASE.items()}
    assert gate_candidate(context, "recs", 1, _evaluation(better)).passed
    assert not gate_candidate(context, "recs", 2, _evaluation(worse)).passed
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        challenger = reg.alias(reg.model("recs"), "challenger")
        assert challenger is not None and challenger.version == 1
        assert reg.version(reg.model("recs"), 2).status == "archived"
        alert = s.scalars(sa.select(Alert).where(Alert.kind == "gate_failed")).one()
        assert alert.evidence["v2"]["failed"] == ["beats_baseline"]
        stored = s.get(GateReportRecord, alert.evidence["v2"]["gate_report_id"])
        assert stored is not None and stored.passed is False
        assert stored.report["checks"][0]["name"] == "beats_baseline"


def test_a_gate_without_its_evidence_fails_with_the_reason(context: Context) -> None:
    """The policy asks for coverage; metrics alone cannot show it, so the gate refuses."""
    _register(context)
    better = {u: v + 0.1 for u, v in BASE.items()}
    report = gate_candidate(context, "recs", 1, Evaluation(better, BASE))
    assert not report.passed
    coverage = next(c for c in report.checks if c.name == "coverage")
    assert not coverage.passed and "could not run" in coverage.sentence


def test_refused_candidates_share_one_alert_a_day(context: Context) -> None:
    _register(context)
    worse = {u: v - 0.1 for u, v in BASE.items()}
    for version in (1, 2):
        assert not gate_candidate(context, "recs", version, _evaluation(worse)).passed
    with context.store.session() as s:
        alert = s.scalars(sa.select(Alert).where(Alert.kind == "gate_failed")).one()
        assert {"v1", "v2"} <= set(alert.evidence)
        assert "latest v2" in alert.message


def test_a_refusal_is_filed_under_the_day_its_data_ends(context: Context) -> None:
    """A backfilled or replayed run's refusal belongs to its data's day, not today."""
    _register(context)
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        reg.version(reg.model("recs"), 2).metrics = {"trained_until": "2026-11-28T00:00:00+00:00"}
    worse = {u: v - 0.1 for u, v in BASE.items()}
    assert not gate_candidate(context, "recs", 2, _evaluation(worse)).passed
    with context.store.session() as s:
        alert = s.scalars(sa.select(Alert).where(Alert.kind == "gate_failed")).one()
        assert alert.evidence["day"] == "2026-11-28"
        assert "on 2026-11-28" in alert.message
