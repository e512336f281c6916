"""Which model versions a deployment serves, read from the store (one small seam).

``resolve_aliases`` is the only place that knows where champion/baseline come from:
the registry's aliases, so a promotion anywhere (CLI, API, controller) reaches every
replica on its next poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.serving.routing import DEFAULT_GRADUAL_STEPS, DEFAULT_HOLDOUT, ArmStats, RoutingSpec
from kibble.store.models import FactoryVersion, ModelVersion
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import Feedback, Rollouts, ServedRequests

# Rollout policies the router runs live; anything else stored falls back to gradual.
LIVE_POLICIES = ("canary", "gradual", "ab", "shadow", "bandit")


@dataclass(frozen=True)
class VersionRef:
    """A model version the server may load: label ``name:version`` and its artifact."""

    label: str
    digest: str


def resolve_aliases(session: Session, project_id: str, model_name: str) -> dict[str, VersionRef]:
    """Registry aliases plus every version by label.

    ``champion`` and ``baseline`` come from the registry's aliases; only when an alias is
    not set yet does this fall back (champion: the newest version that is not archived,
    baseline: the oldest), so a fresh model serves before anyone promotes it.
    ``challenger`` is present only when the registry has that alias.
    """
    registry = Registry(session, project_id)
    model = registry.model(model_name)
    rows = list(
        session.scalars(
            sa.select(ModelVersion)
            .where(ModelVersion.model_id == model.id)
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

    live = [v for v in rows if v.status != "archived"] or rows
    out = {f"{model_name}:{v.version}": ref(v) for v in rows}
    fallback = {"champion": live[-1], "baseline": rows[0]}
    for alias in ("champion", "baseline", "challenger"):
        version = registry.alias(model, alias) or fallback.get(alias)
        if version is not None:
            out[alias] = ref(version)
    return out


def bandit_stats(
    session: Session, project_id: str, deployment: str, arms: list[str], since: datetime | None
) -> dict[str, ArmStats]:
    """Clicks over live answers per arm since the rollout began (Thompson's posterior)."""
    if since is None:
        return {a: ArmStats() for a in arms}
    trials = ServedRequests(session, project_id).count_by_arm(deployment, since)
    clicks = Feedback(session, project_id).count_by_arm(since)
    return {a: ArmStats(min(clicks.get(a, 0), trials.get(a, 0)), trials.get(a, 0)) for a in arms}


def declared_holdout(session: Session, project_id: str, deployment: str) -> float:
    """The baseline holdout share the applied factory declares for ``deployment``
    (the routing default without a declaration)."""
    spec = session.scalar(
        sa.select(FactoryVersion.spec)
        .where(FactoryVersion.project_id == project_id)
        .order_by(FactoryVersion.version.desc())
        .limit(1)
    )
    declared = ((spec or {}).get("deployments") or {}).get(deployment) or {}
    return float(declared.get("holdout_share", DEFAULT_HOLDOUT))


def routing_for(
    session: Session, project_id: str, deployment: str, model_name: str
) -> tuple[RoutingSpec, dict[str, VersionRef], dict[str, ArmStats]]:
    """The routing spec, the versions it needs and (for bandits) each arm's reward counts."""
    refs = resolve_aliases(session, project_id, model_name)
    champion, baseline = refs["champion"], refs["baseline"]
    rollout = Rollouts(session, project_id).active(deployment)
    arms = {champion.label: champion, baseline.label: baseline}
    holdout = declared_holdout(session, project_id, deployment)
    if rollout is None or rollout.challenger not in refs or rollout.challenger == champion.label:
        spec = RoutingSpec(
            "canary",
            champion.label,
            baseline=baseline.label,
            holdout_share=holdout,
            salt=deployment,
        )
        return spec, arms, {}
    challenger = refs[rollout.challenger]
    arms[challenger.label] = challenger
    steps = list(rollout.steps) or list(DEFAULT_GRADUAL_STEPS)
    share = float(steps[min(rollout.step, len(steps) - 1)])
    policy = rollout.policy if rollout.policy in LIVE_POLICIES else "gradual"
    spec = RoutingSpec(
        policy,
        champion.label,
        challenger.label,
        baseline.label,
        challenger_share=share,
        holdout_share=holdout,
        salt=deployment,
    )
    stats: dict[str, ArmStats] = {}
    if policy == "bandit":
        stats = bandit_stats(
            session,
            project_id,
            deployment,
            [champion.label, challenger.label],
            rollout.created_at,
        )
    return spec, arms, stats


def set_champion(
    session: Session, project_id: str, model_name: str, label: str, *, actor: str, reason: str
) -> None:
    """Move the registry's ``champion`` alias to ``label`` (row-locked, with history)."""
    name, _, version = label.rpartition(":")
    if name != model_name or not version.isdigit():
        raise NotFoundError(f"no version {label!r}", hint=f"use {model_name}:<version>")
    Registry(session, project_id).move_alias(
        model_name, "champion", int(version), actor=actor, reason=reason
    )
