"""Rollout lifecycle against the store: start, observe, decide, promote, abort, replay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from kibble.auth.quotas import INACTIVE_DEPLOYMENT_STATUSES, enforce
from kibble.context import Context
from kibble.errors import ConflictError, NotFoundError, UsageError
from kibble.factory.applied import rollout_policy
from kibble.rollouts.analysis import ips, snips
from kibble.rollouts.controller import ArmMetrics, RolloutState, decide, summarize
from kibble.serving.pointers import LIVE_POLICIES, resolve_aliases, routing_for, set_champion
from kibble.serving.routing import (
    DEFAULT_GRADUAL_STEPS,
    Guardrails,
    RoutingSpec,
    expected_shares,
    route,
)
from kibble.store.models import Deployment, Rollout
from kibble.store.repositories.deployments import Deployments
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import Feedback, Rollouts, ServedRequests


def _summary(r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id,
        "deployment": r.deployment,
        "champion": r.champion,
        "challenger": r.challenger,
        "policy": r.policy,
        "step": r.step,
        "steps": r.steps,
        "status": r.status,
    }


def traffic(session: Session, project_id: str, deployment: str, model_name: str) -> dict[str, Any]:
    """The split the routers apply now: policy, arms with their shares, the active rollout."""
    spec, _, stats = routing_for(session, project_id, deployment, model_name)
    rollout = Rollouts(session, project_id).active(deployment)
    return {
        "policy": spec.policy,
        "champion": spec.champion,
        "challenger": spec.challenger,
        "baseline": spec.baseline,
        "holdout_share": spec.holdout_share,
        "arms": {arm: round(share, 4) for arm, share in expected_shares(spec, stats).items()},
        "rollout_id": None if rollout is None else rollout.id,
    }


def _save_traffic(
    session: Session, project_id: str, deployment: str, model_name: str
) -> Deployment:
    policy = traffic(session, project_id, deployment, model_name)
    return Deployments(session, project_id).save(deployment, model_name, policy)


def _record_deployment(
    context: Context, session: Session, deployment: str, model_name: str
) -> Deployment:
    """Write the deployment's current traffic; a new (or revived) one counts against the
    project's deployment quota."""
    known = Deployments(session, context.project_id).get(deployment)
    if known is None or known.status in INACTIVE_DEPLOYMENT_STATUSES:
        enforce(session, context.project_id, context.artifacts, context.project, deployments=1)
    return _save_traffic(session, context.project_id, deployment, model_name)


def declare(context: Context, deployment: str, model_name: str) -> dict[str, Any]:
    """Record that ``deployment`` serves ``model_name`` (what `kibble serve` does first)."""
    with context.store.session() as session:
        row = _record_deployment(context, session, deployment, model_name)
        return {"name": row.name, "model_name": row.model_name, "policy": row.policy}


def start(
    context: Context,
    deployment: str,
    model_name: str,
    challenger: str | None = None,
    policy: str | None = None,
    steps: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Begin a rollout of ``challenger`` (``name:version``; default: the registry's
    ``challenger`` alias) against the registry's champion.

    ``policy`` and ``steps`` (shares in (0, 1]) default to the deployment's rollout policy
    in the applied factory, else gradual over ``DEFAULT_GRADUAL_STEPS``."""
    policy, steps = _declared_plan(context, deployment, model_name, policy, steps)
    if policy not in LIVE_POLICIES:
        raise UsageError(f"unknown rollout policy {policy!r}", hint=f"use one of {LIVE_POLICIES}")
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        if repo.active(deployment) is not None:
            raise ConflictError(
                f"deployment {deployment!r} already has an active rollout",
                hint="promote or abort it first",
            )
        refs = resolve_aliases(session, context.project_id, model_name)
        if challenger is None:
            if "challenger" not in refs:
                raise NotFoundError(
                    f"model {model_name!r} has no challenger alias",
                    hint="name one (name:version) or pass a candidate through the gates",
                )
            challenger = refs["challenger"].label
        if challenger not in refs:
            raise NotFoundError(f"no version {challenger!r}", hint=f"use {model_name}:<version>")
        if _archived(session, context.project_id, model_name, challenger):
            raise ConflictError(
                f"{challenger} is archived and can never be promoted",
                hint="roll out a version that passed the gates (its challenger alias)",
            )
        if challenger == refs["champion"].label:
            raise ConflictError(f"{challenger} is already champion", hint="roll out another one")
        row = repo.start(deployment, refs["champion"].label, challenger, policy, list(steps))
        _record_deployment(context, session, deployment, model_name)
        out = _summary(row)
    context.audit(
        "rollout.start", deployment, challenger=challenger, policy=policy, steps=list(steps)
    )
    return out


def _archived(session: Session, project_id: str, model_name: str, label: str) -> bool:
    registry = Registry(session, project_id)
    version = registry.version(registry.model(model_name), int(label.rpartition(":")[2]))
    return version.status == "archived"


# -- the applied factory's rollout policy (deployments: in the definition) ----------------


def _declared_plan(
    context: Context,
    deployment: str,
    model_name: str,
    policy: str | None,
    steps: Sequence[float] | None,
) -> tuple[str, Sequence[float]]:
    """Strategy and steps: as given, else as the factory declares them for ``deployment``."""
    declared = rollout_policy(context, deployment)
    if declared is None:
        return policy or "gradual", DEFAULT_GRADUAL_STEPS if steps is None else steps
    if declared.model != model_name:
        raise ConflictError(
            f"deployment {deployment!r} deploys {declared.model!r} in the applied factory, "
            f"not {model_name!r}",
            hint=f"roll out a version of {declared.model}, or change "
            f"deployments.{deployment}.model and run `kibble apply`",
        )
    shares = [s / 100 for s in declared.steps]
    return policy or declared.strategy, shares if steps is None else steps


def declared_guardrails(context: Context, deployment: str) -> Guardrails:
    """The controller's limits from the factory's rollout policy for ``deployment``;
    without one, the built-in defaults with p99 judged against the serving SLA."""
    declared = rollout_policy(context, deployment)
    if declared is None:
        return Guardrails(sla_p99_ms=context.settings.serving.latency_sla_ms)
    return Guardrails(
        max_error_rate=declared.max_error_rate,
        sla_p99_ms=declared.p99_latency_ms,
        ctr_margin=declared.ctr_margin,
        min_impressions=declared.min_samples,
        min_requests=min(Guardrails.min_requests, declared.min_samples),
    )


def _arm_metrics(
    session: Session, project_id: str, deployment: str, since: datetime
) -> dict[str, ArmMetrics]:
    observed = ServedRequests(session, project_id).observations(deployment, since)
    return summarize(observed, Feedback(session, project_id).count_by_arm(since))


def arm_metrics(context: Context, deployment: str, since: datetime) -> dict[str, ArmMetrics]:
    """Per-arm requests, errors, p95/p99 latency (request log) and clicks since a time."""
    with context.store.session() as session:
        return _arm_metrics(session, context.project_id, deployment, since)


def step(
    context: Context,
    deployment: str,
    rails: Guardrails | None = None,
    metrics: dict[str, ArmMetrics] | None = None,
    since: datetime | None = None,
) -> dict[str, Any]:
    """Run the controller once: level-triggered, records the decision and its numbers.

    One transaction row-locks the rollout (``SKIP LOCKED`` on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` serialises writers), so when several replicas tick at once
    exactly one decides; the others get ``skipped``. Metrics come from the request log
    and attributed clicks since the current step began (``since``: a caller whose
    serving runs on its own clock says when that was), unless ``metrics`` is given.
    """
    rails = rails or declared_guardrails(context, deployment)
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        row = repo.active(deployment, lock=True)
        if row is None:
            if repo.active(deployment) is None:
                raise NotFoundError(
                    f"no active rollout for {deployment!r}",
                    hint="start one with `kibble rollout start`",
                )
            return {"deployment": deployment, "action": "skipped", "reasons": ["locked"]}
        began = since or row.updated_at or row.created_at
        seen = (
            metrics
            if metrics is not None
            else _arm_metrics(session, context.project_id, deployment, began)
        )
        empty = ArmMetrics(0, 0, 0.0, 0, 0)
        state = RolloutState(row.step, tuple(row.steps), "active")
        verdict = decide(
            state, seen.get(row.champion, empty), seen.get(row.challenger, empty), rails
        )
        if verdict.action != "hold":
            repo.record(
                row,
                verdict.action,
                verdict.next_state.step,
                verdict.next_state.status,
                list(verdict.reasons),
                verdict.numbers,
            )
            model_name = row.challenger.rpartition(":")[0]
            if verdict.action == "promote":
                set_champion(
                    session,
                    context.project_id,
                    model_name,
                    row.challenger,
                    actor=f"rollout-controller:{context.actor}",
                    reason="; ".join(verdict.reasons),
                )
            _save_traffic(session, context.project_id, deployment, model_name)
        return {
            **_summary(row),
            "action": verdict.action,
            "reasons": list(verdict.reasons),
            "numbers": verdict.numbers,
        }


def finish(
    context: Context,
    deployment: str,
    action: str,
    reason: str,
    numbers: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Promote or abort by hand (or by an experiment run outside the router, with the
    ``numbers`` it decided on): records the decision; promote makes the challenger
    champion unless it already is."""
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        row = repo.active(deployment)
        if row is None:
            raise NotFoundError(
                f"no active rollout for {deployment!r}",
                hint="`kibble rollout status` lists rollouts",
            )
        status = "promoted" if action == "promote" else "rolled_back"
        repo.record(row, action, row.step, status, [reason], numbers or {})
        model_name = row.challenger.rpartition(":")[0]
        champion = resolve_aliases(session, context.project_id, model_name)["champion"]
        if action == "promote" and champion.label != row.challenger:
            set_champion(
                session,
                context.project_id,
                model_name,
                row.challenger,
                actor=context.actor,
                reason=reason,
            )
        _save_traffic(session, context.project_id, deployment, model_name)
        out = _summary(row)
    context.audit(f"rollout.{action}", deployment, reason=reason)
    return out


def status(context: Context, deployment: str) -> dict[str, Any]:
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        row = repo.active(deployment) or repo.latest(deployment)
        if row is None:
            raise NotFoundError(
                f"no rollout for {deployment!r}", hint="start one with `kibble rollout start`"
            )
        decisions = [
            {
                "action": d.action,
                "step": d.step,
                "reasons": d.reasons,
                "numbers": d.numbers,
                "at": d.created_at.isoformat(),
            }
            for d in repo.decisions(row.id)
        ]
        return {**_summary(row), "decisions": decisions}


def history(context: Context, deployment: str) -> list[dict[str, Any]]:
    """Every rollout of ``deployment``, oldest first, each with its decisions."""
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        rows = repo.of_deployment(deployment)
        decided = repo.decisions_of([r.id for r in rows])
        return [
            {
                **_summary(r),
                "decisions": [
                    {"action": d.action, "step": d.step, "reasons": d.reasons, "numbers": d.numbers}
                    for d in decided.get(r.id, [])
                ],
            }
            for r in rows
        ]


def replay(context: Context, spec: RoutingSpec, since: datetime) -> dict[str, float]:
    """Off-policy value (click rate) of ``spec`` on logged traffic: IPS and SNIPS."""
    with context.store.session() as session:
        served = [
            s
            for s in ServedRequests(session, context.project_id).since(since)
            if s.shadow_of is None and s.error is None
        ]
        clicked = {
            e.request_id
            for e in Feedback(session, context.project_id).since(since)
            if e.event_type == "click" and e.arm is not None  # attributed by the server
        }
    if not served:
        raise NotFoundError("no logged traffic in that window", hint="widen --since")
    rewards = np.array([1.0 if s.request_id in clicked else 0.0 for s in served])
    logged = np.array([s.probability for s in served])
    target = np.array([1.0 if route(spec, s.user_id).arm == s.arm else 0.0 for s in served])
    return {
        "requests": float(len(served)),
        "ips": ips(rewards, logged, target),
        "snips": snips(rewards, logged, target),
        "logged_ctr": float(rewards.mean()),
    }
