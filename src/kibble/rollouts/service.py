"""Rollout lifecycle against the store: start, observe, decide, promote, abort, replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from kibble.context import Context
from kibble.errors import ConflictError, NotFoundError
from kibble.rollouts.analysis import ips, snips
from kibble.rollouts.controller import ArmMetrics, Guardrails, RolloutState, decide
from kibble.serving.pointers import resolve_aliases, set_champion
from kibble.serving.routing import DEFAULT_GRADUAL_STEPS, RoutingSpec, route
from kibble.store.models import Rollout
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


def start(
    context: Context, deployment: str, model_name: str, challenger: str, policy: str = "gradual"
) -> dict[str, Any]:
    """Begin a rollout of ``challenger`` (``name:version``) against the champion."""
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        if repo.active(deployment) is not None:
            raise ConflictError(
                f"deployment {deployment!r} already has an active rollout",
                hint="promote or abort it first",
            )
        refs = resolve_aliases(session, context.project_id, model_name)
        if challenger not in refs:
            raise NotFoundError(f"no version {challenger!r}", hint=f"use {model_name}:<version>")
        row = repo.start(
            deployment, refs["champion"].label, challenger, policy, list(DEFAULT_GRADUAL_STEPS)
        )
        out = _summary(row)
    context.audit("rollout.start", deployment, challenger=challenger, policy=policy)
    return out


def arm_metrics(context: Context, since: datetime) -> dict[str, ArmMetrics]:
    """Per-arm impressions (served lists) and clicks (attributed feedback) since a time."""
    with context.store.session() as session:
        served = ServedRequests(session, context.project_id).since(since)
        events = Feedback(session, context.project_id).since(since)
    counts: dict[str, list[int]] = {}
    for s in served:
        counts.setdefault(s.arm, [0, 0])[0] += 1
    for e in events:
        if e.arm and e.event_type == "click":
            counts.setdefault(e.arm, [0, 0])[1] += 1
    return {a: ArmMetrics(n, 0, 0.0, n, min(c, n)) for a, (n, c) in counts.items()}


def step(
    context: Context,
    deployment: str,
    rails: Guardrails | None = None,
    metrics: dict[str, ArmMetrics] | None = None,
) -> dict[str, Any]:
    """Run the controller once: level-triggered, records the decision and its numbers."""
    rails = rails or Guardrails(sla_p99_ms=context.settings.serving.latency_sla_ms)
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        row = repo.active(deployment)
        if row is None:
            raise NotFoundError(
                f"no active rollout for {deployment!r}",
                hint="start one with `kibble rollout start`",
            )
        since = row.updated_at or row.created_at
    seen = metrics if metrics is not None else arm_metrics(context, since)
    empty = ArmMetrics(0, 0, 0.0, 0, 0)
    state = RolloutState(row.step, tuple(row.steps), "active")
    verdict = decide(state, seen.get(row.champion, empty), seen.get(row.challenger, empty), rails)
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        live = session.get(Rollout, row.id)
        assert live is not None
        if verdict.action != "hold":
            repo.record(
                live,
                verdict.action,
                verdict.next_state.step,
                verdict.next_state.status,
                list(verdict.reasons),
                verdict.numbers,
            )
        if verdict.action == "promote":
            model_name = row.challenger.rpartition(":")[0]
            set_champion(session, context.project_id, model_name, row.challenger)
        out = {
            **_summary(live),
            "action": verdict.action,
            "reasons": list(verdict.reasons),
            "numbers": verdict.numbers,
        }
    return out


def finish(context: Context, deployment: str, action: str, reason: str) -> dict[str, Any]:
    """Operator promote/abort: records the decision; promote sets the champion."""
    with context.store.session() as session:
        repo = Rollouts(session, context.project_id)
        row = repo.active(deployment)
        if row is None:
            raise NotFoundError(
                f"no active rollout for {deployment!r}",
                hint="`kibble rollout status` lists rollouts",
            )
        status = "promoted" if action == "promote" else "rolled_back"
        repo.record(row, action, row.step, status, [reason], {})
        if action == "promote":
            set_champion(
                session, context.project_id, row.challenger.rpartition(":")[0], row.challenger
            )
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


def replay(context: Context, spec: RoutingSpec, since: datetime) -> dict[str, float]:
    """Off-policy value (click rate) of ``spec`` on logged traffic: IPS and SNIPS."""
    with context.store.session() as session:
        served = ServedRequests(session, context.project_id).since(since)
        clicked = {
            e.request_id
            for e in Feedback(session, context.project_id).since(since)
            if e.event_type == "click"
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
