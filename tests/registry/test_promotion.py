"""gate_candidate end to end on the real store: challenger on pass, archive + alert on fail."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from kibble.context import Context
from kibble.registry.promotion import Evaluation, gate_candidate
from kibble.store.models import Alert, GateReportRecord, ModelVersion, RegisteredModel
from kibble.store.repositories.registry import Registry

BASE = {f"u{i}": float(v) for i, v in enumerate(np.random.default_rng(3).uniform(0, 1, 100))}


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
    assert gate_candidate(context, "recs", 1, Evaluation(better, BASE)).passed
    assert not gate_candidate(context, "recs", 2, Evaluation(worse, BASE)).passed
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        challenger = reg.alias(reg.model("recs"), "challenger")
        assert challenger is not None and challenger.version == 1
        assert reg.version(reg.model("recs"), 2).status == "archived"
        alert = s.scalars(sa.select(Alert).where(Alert.kind == "gate_failed")).one()
        assert alert.evidence["failed"] == ["beats_baseline"]
        stored = s.get(GateReportRecord, alert.evidence["gate_report_id"])
        assert stored is not None and stored.passed is False
        assert stored.report["checks"][0]["name"] == "beats_baseline"
