"""Which model versions a deployment serves, read from the store (one small seam).

``resolve_aliases`` is the only place that knows where champion/baseline come from;
when the registry's alias API lands, switch it there.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.serving.routing import DEFAULT_GRADUAL_STEPS, RoutingSpec
from kibble.store.models import ModelVersion, RegisteredModel
from kibble.store.repositories.serving import Rollouts


@dataclass(frozen=True)
class VersionRef:
    """A model version the server may load: label ``name:version`` and its artifact."""

    label: str
    digest: str


def resolve_aliases(session: Session, project_id: str, model_name: str) -> dict[str, VersionRef]:
    """champion = status 'champion' or the newest version; baseline = 'baseline' or oldest."""
    rows = list(
        session.scalars(
            sa.select(ModelVersion)
            .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
            .where(RegisteredModel.project_id == project_id, RegisteredModel.name == model_name)
            .order_by(ModelVersion.version)
        )
    )
    if not rows:
        raise NotFoundError(
            f"model {model_name!r} has no versions in this project",
            hint="train and register one first (`kibble recsys train`, `kibble models`)",
        )

    def ref(v: ModelVersion) -> VersionRef:
        return VersionRef(f"{model_name}:{v.version}", v.artifact_digest)

    by_status = {v.status: v for v in rows}
    out = {
        "champion": ref(by_status.get("champion", rows[-1])),
        "baseline": ref(by_status.get("baseline", rows[0])),
    }
    out.update({f"{model_name}:{v.version}": ref(v) for v in rows})
    return out


def routing_for(
    session: Session, project_id: str, deployment: str, model_name: str
) -> tuple[RoutingSpec, dict[str, VersionRef]]:
    """The routing spec and the versions it needs, from aliases plus any active rollout."""
    refs = resolve_aliases(session, project_id, model_name)
    champion, baseline = refs["champion"], refs["baseline"]
    rollout = Rollouts(session, project_id).active(deployment)
    arms = {champion.label: champion, baseline.label: baseline}
    if rollout is None or rollout.challenger not in refs:
        spec = RoutingSpec("canary", champion.label, baseline=baseline.label, salt=deployment)
        return spec, arms
    challenger = refs[rollout.challenger]
    arms[challenger.label] = challenger
    steps = list(rollout.steps) or list(DEFAULT_GRADUAL_STEPS)
    share = float(steps[min(rollout.step, len(steps) - 1)])
    policy = rollout.policy if rollout.policy in ("canary", "gradual", "shadow") else "gradual"
    spec = RoutingSpec(
        policy,
        champion.label,
        challenger.label,
        baseline.label,
        challenger_share=share,
        salt=deployment,
    )
    return spec, arms


def set_champion(session: Session, project_id: str, model_name: str, label: str) -> None:
    """Mark ``label`` champion (the registry alias seam): the old champion goes back."""
    refs = resolve_aliases(session, project_id, model_name)
    if label not in refs:
        raise NotFoundError(f"no version {label!r}", hint=f"use {model_name}:<version>")
    version = int(label.rpartition(":")[2])
    rows = session.scalars(
        sa.select(ModelVersion)
        .join(RegisteredModel, ModelVersion.model_id == RegisteredModel.id)
        .where(RegisteredModel.project_id == project_id, RegisteredModel.name == model_name)
    )
    for row in rows:
        if row.version == version:
            row.status = "champion"
        elif row.status == "champion":
            row.status = "registered"
