"""The closed loop, day by day, through the platform's own parts.

Each simulated day: the shop writes its landing files and database -> the ``k9s_gates``
pipeline ingests them into the lake's Delta tables and runs the contract checks -> a
failing check holds the run with reasons and an alert; the next morning the upstream
fix arrives and the scheduler's re-check (``recheck_held``) resumes it by itself ->
candidates are trained on the lake's events, saved as artifacts and registered as
model versions -> the registry gate (``gate_candidate``) judges them offline against
the popularity baseline and the champion -> a gated candidate goes live as champion
and is A/B tested against the previous one on the shop's simulated customers: a clear
win stays, anything else is rolled back (``Registry.rollback``) with the numbers ->
``monitor_day`` records data, model and system metrics, the drift report and the
feedback-loop check, raising alerts. The summary is read back from the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

from kibble import GatePolicy
from kibble.artifacts.formats import NPZ
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.factory.service import apply
from kibble.k9s.abtest import Serve, Traffic, ctr_difference, run_ab
from kibble.k9s.config import SimConfig
from kibble.k9s.daily import REF_GATES, gates
from kibble.k9s.factory import MODEL, k9s_factory
from kibble.k9s.response import respond
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import deliver_late, save_config, write_database, write_day
from kibble.monitoring.alerts import list_alerts
from kibble.monitoring.daily import monitor_day
from kibble.monitoring.feedback_loop import LoopConfig
from kibble.pipelines import run_pipeline
from kibble.pipelines.schedules import recheck_held
from kibble.recsys.base import Recommendation, Recommender
from kibble.recsys.training import train
from kibble.registry.promotion import Evaluation, gate_candidate
from kibble.rollouts import service as rollouts
from kibble.store.models import GateReportRecord, ModelVersion
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import Feedback, ServedRequests

DEPLOYMENT = "k9s"
ACTOR = "k9s-demo"
BASELINE = "popularity"
CANDIDATES: dict[str, dict[str, Any]] = {
    "als": {"factors": 32, "iterations": 8},
    "item_knn": {},
}
AB_USERS = 4000
EVAL_USERS = 2000
ROLLED_BACK = "rolled back"
LOOP = LoopConfig(recent_days=1, min_baseline_days=1, min_breach_days=1)
"""The demo's history is days, not weeks: judge the last day against all earlier ones."""
INTERACTIONS = {"time_col": "ts", "event_col": "event_type"}
DEMO_GATES = GatePolicy(primary_metric="clicks", champion_tolerance=0.01, confidence=0.95)


def history(ctx: Context, day: str, days: int = 14) -> pl.DataFrame:
    """Events of the ``days`` days up to ``day`` from the lake, ready for training."""
    last = date.fromisoformat(day)
    frame = Tables(ctx).polars("events", columns=["user_id", "item_id", "event_type", "ts", "date"])
    frame = frame.filter(pl.col("date").is_between(last - timedelta(days=days - 1), last))
    return frame.select(
        pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String), "event_type", "ts"
    )


def default_scenarios(days: int) -> dict[str, int]:
    """A held run early, then a species shift and a latency incident on the last day."""
    if days < 3:
        return {"late_partition": days - 1}
    return {"late_partition": 1, "cats_launch": days - 1, "latency_incident": days - 1}


@dataclass
class DemoState:
    shop: Shop
    out: Path
    context: Context
    champion: int | None = None
    baseline: int | None = None
    models: dict[int, Recommender] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)
    reference: pl.DataFrame | None = None
    days: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[int, dict[str, Any]] = field(default_factory=dict)
    ab_results: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    step: Callable[[str], None] = lambda _what: None
    """Told what the day is doing now (the CLI's progress bar shows it)."""

    def date(self, day: int) -> str:
        return self.shop.config.day(day).isoformat()

    def champion_label(self) -> str | None:
        return None if self.champion is None else self.labels[self.champion]


def _reason(text: str) -> dict[str, str]:
    """``[step: ]kind: message`` (what the gate step holds with) as a dict."""
    parts = text.split(": ", 2)
    if len(parts) == 3 and not parts[0].startswith("data_"):
        parts = parts[1:]
    kind, message = parts if len(parts) == 2 else ("data", text)
    return {"kind": kind, "message": message}


def _register(state: DemoState, day: int, name: str, params: dict[str, Any]) -> int:
    """Fit on the lake's events, store the model as an artifact and register a version
    made by the day's gated run (so lineage leads from the run to the model)."""
    ctx = state.context
    fitted = train(
        history(ctx, state.date(day)), model=name, params=params, interaction_options=INTERACTIONS
    )
    ref = ctx.save_artifact(fitted.blob, NPZ, name=f"{MODEL}-{name}", meta=fitted.summary)
    with ctx.store.session() as session:
        version = (
            Registry(session, ctx.project_id)
            .register_version(
                MODEL,
                ref.digest,
                name,
                params=fitted.model.params,
                run_id=state.days[day]["run_id"],
                metrics={
                    "trained_on": state.date(day),
                    "interactions": fitted.summary["interactions"],
                },
                lineage={
                    "tables": {"events": Tables(ctx).lake.version("events")},
                    "day": state.date(day),
                },
            )
            .version
        )
    state.models[version] = fitted.model
    state.labels[version] = f"{name}-v{version}"
    return version


def _replay(
    state: DemoState, day: int, model: Recommender, users: list[int]
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Clicks each customer gives the model's list, offline, on the shop's simulated
    customers (the digital twin): no latency, the same random draws for every model, so
    the registry's paired bootstrap compares like with like. Also the lists themselves,
    for the coverage and diversity gates."""
    shop, out, lists = state.shop, {}, {}
    for user in users:
        items = [int(r.item_id) for r in model.recommend(str(user), 10, explain=False)]
        rng = np.random.default_rng([shop.config.seed, 5, day, user])
        out[str(user)] = float(
            len(respond(shop, user, items, day=day, latency_ms=0.0, rng=rng).clicked)
        )
        lists[str(user)] = [str(i) for i in items]
    return out, lists


def _gate(state: DemoState, day: int, versions: dict[str, int]) -> list[tuple[int, str]]:
    """Offline: every candidate against the popularity baseline and the champion."""
    ctx, shop = state.context, state.shop
    assert state.champion is not None and state.baseline is not None
    active = shop.users.user_id[shop.users.active(day)]
    rng = np.random.default_rng([shop.config.seed, 6, day])
    users = [int(u) for u in rng.choice(active, min(len(active), EVAL_USERS), replace=False)]
    baseline, _ = _replay(state, day, state.models[state.baseline], users)
    champion, shown = _replay(state, day, state.models[state.champion], users)
    coverage = len({i for items in shown.values() for i in items})
    passed = []
    for name, version in versions.items():
        candidate, lists = _replay(state, day, state.models[version], users)
        evaluation = Evaluation(  # the factory's policy
            candidate, baseline, champion, recommendations=lists, reference_coverage=coverage
        )
        if gate_candidate(ctx, MODEL, version, evaluation, actor=ACTOR).passed:
            passed.append((sum(candidate.values()), version, name))
    return [(version, name) for _, version, name in sorted(passed, reverse=True)]


def _serve(model: Recommender) -> Serve:
    def serve(user: int) -> tuple[list[Recommendation], float]:
        return model.recommend(str(user), 10, explain=True), 40.0

    return serve


def _log_ab(
    state: DemoState, day: int, served: list[dict[str, Any]], feedback: list[dict[str, Any]],
    arms: dict[str, str],
) -> None:  # fmt: skip
    """An A/B's answers into the request log, and what each customer then did, as
    `kibble serve` records them: support can explain any of them later."""
    ctx = state.context
    noon = datetime.combine(state.shop.config.day(day), datetime.min.time(), UTC) + timedelta(
        hours=12
    )
    requests = {row["request_id"]: row for row in served}
    with ctx.store.session() as session:
        ServedRequests(session, ctx.project_id).add_many(
            {
                "request_id": row["request_id"],
                "deployment": DEPLOYMENT,
                "user_id": row["user_id"],
                "arm": arms[row["arm"]],
                "model_version": arms[row["arm"]],
                "probability": 1.0 / len(arms),
                "items": row["explained"],
                "ts": noon,
                "latency_ms": row["latency_ms"],
            }
            for row in served
        )
        Feedback(session, ctx.project_id).add(
            [
                {
                    "event_id": f"{e['request_id']}:{e['event_type']}:{e['item_id']}",
                    "user_id": requests[e["request_id"]]["user_id"],
                    "item_id": e["item_id"],
                    "event_type": e["event_type"],
                    "ts": noon + timedelta(minutes=1),
                    "request_id": e["request_id"],
                    "arm": arms[requests[e["request_id"]]["arm"]],
                }
                for e in feedback
            ]
        )


def _report_id(session: Any, version: ModelVersion) -> str | None:
    found: str | None = session.scalar(
        sa.select(GateReportRecord.id)
        .where(GateReportRecord.version_id == version.id)
        .order_by(GateReportRecord.created_at.desc())
        .limit(1)
    )
    return found


def _canary(state: DemoState, day: int, version: int, traffic: Traffic) -> None:
    """Make the gated version champion, A/B it against the previous one, roll back a loss.

    The experiment is recorded as the deployment's rollout (policy ``ab``), its decision
    carrying the numbers, so the deployment shows what was tested and why it ended so."""
    ctx, shop = state.context, state.shop
    previous = state.champion
    assert previous is not None
    label, old = state.labels[version], state.labels[previous]
    rollouts.start(ctx, DEPLOYMENT, MODEL, f"{MODEL}:{version}", policy="ab", steps=[0.5])
    with ctx.store.session() as session:
        reg = Registry(session, ctx.project_id)
        row = reg.version(reg.model(MODEL), version)
        reg.move_alias(
            MODEL,
            "champion",
            version,
            actor=ACTOR,
            reason=f"canary: {label} passed the promotion gates; A/B against {old}",
            gate_report_id=_report_id(session, row),
        )
    active = shop.users.user_id[shop.users.active(day)]
    rng = np.random.default_rng([shop.config.seed, 4, day, version])
    sample = [int(u) for u in rng.choice(active, min(len(active), AB_USERS), replace=False)]
    serve = {old: _serve(state.models[previous]), label: _serve(state.models[version])}
    served_from, feedback_from = len(traffic.served), len(traffic.feedback)
    arms = run_ab(shop, day, sample, serve, seed=shop.config.seed, traffic=traffic)
    _log_ab(
        state,
        day,
        traffic.served[served_from:],
        traffic.feedback[feedback_from:],
        {old: f"{MODEL}:{previous}", label: f"{MODEL}:{version}"},
    )
    diff, low, high = ctr_difference(arms[old], arms[label])
    numbers: dict[str, Any] = {
        "date": state.date(day),
        "challenger": label,
        "champion": old,
        "champion_ctr": round(arms[old].ctr, 4),
        "challenger_ctr": round(arms[label].ctr, 4),
        "ctr_diff": round(diff, 4),
        "ci95": [round(low, 4), round(high, 4)],
    }
    state.numbers[version] = numbers
    state.ab_results.append({**numbers, "arms": [a.to_dict() for a in arms.values()]})
    measured = {  # the names the live rollout controller records
        "ctr_champion": numbers["champion_ctr"],
        "ctr_challenger": numbers["challenger_ctr"],
        "impressions_champion": float(arms[old].impressions),
        "impressions_challenger": float(arms[label].impressions),
        "lift": numbers["ctr_diff"],
        "lift_ci_low": round(low, 4),
        "lift_ci_high": round(high, 4),
    }
    interval = f"diff {diff:+.4f} (95% {low:+.4f}..{high:+.4f})"
    won = low > 0
    verdict = "worse than the champion" if high < 0 else "no significant gain"
    reason = (
        f"A/B win: {interval}"
        if won
        else f"{ROLLED_BACK}: {verdict}; CTR {numbers['challenger_ctr']} vs "
        f"{numbers['champion_ctr']}, {interval}"
    )
    with ctx.store.session() as session:
        reg = Registry(session, ctx.project_id)
        row = reg.version(reg.model(MODEL), version)
        row.metrics = {**row.metrics, "ab": numbers}
        if not won:
            reg.rollback(MODEL, actor=ACTOR, reason=reason)
    if won:
        state.champion = version
    rollouts.finish(ctx, DEPLOYMENT, "promote" if won else "abort", reason, measured)


def _train_and_test(state: DemoState, day: int) -> Traffic | None:
    """Register candidates, gate them, canary the gated ones; the first model is the baseline."""
    ctx = state.context
    if state.champion is None:
        version = _register(state, day, BASELINE, {})
        with ctx.store.session() as session:
            reg = Registry(session, ctx.project_id)
            for alias in ("baseline", "champion"):
                reg.move_alias(
                    MODEL,
                    alias,
                    version,
                    actor=ACTOR,
                    reason="first model: the popularity baseline",
                )
        state.champion = state.baseline = version
        state.numbers[version] = {"date": state.date(day), "reason": "baseline"}
        return None
    state.step("training candidates")
    versions = {name: _register(state, day, name, params) for name, params in CANDIDATES.items()}
    traffic = Traffic(prefix=f"{state.date(day)}-")
    state.step("gating candidates")
    for version, name in _gate(state, day, versions):
        state.step(f"A/B testing {name}-v{version}")
        _canary(state, day, version, traffic)
    return traffic


def _frames(state: DemoState, day: int, traffic: Traffic | None) -> dict[str, Any]:
    if traffic is None or not traffic.served:
        return {}
    noon = datetime.combine(state.shop.config.day(day), datetime.min.time(), UTC) + timedelta(
        hours=12
    )
    served = pl.DataFrame(traffic.served).with_columns(pl.lit(noon).alias("ts"))
    feedback = pl.DataFrame(
        traffic.feedback,
        schema={"request_id": pl.String, "item_id": pl.String, "event_type": pl.String},
    )
    requests = served.select("ts", "latency_ms", "status")
    return {
        "served": served.drop("latency_ms", "status", "explained"),
        "feedback": feedback,
        "requests": requests,
    }


def _monitor(state: DemoState, day: int, traffic: Traffic | None) -> None:
    """The day's metrics, drift against the day before and the feedback-loop check."""
    tables = Tables(state.context)
    events = tables.polars("events", partition=state.date(day))
    products = tables.polars("products", columns=["item_id", "category", "species", "price"])
    summary = monitor_day(
        state.context,
        date.fromisoformat(state.date(day)),
        events=events,
        reference_events=state.reference,
        products=products,
        catalog_size=products.height,
        deployment=DEPLOYMENT,
        loop_config=LOOP,
        **_frames(state, day, traffic),
    )
    state.reference = events
    if summary.drift is not None:
        state.drift.append(
            {
                "date": state.date(day),
                "drifted": list(summary.drift.drifted),
                "features": summary.drift.as_dict()["features"][:5],
            }
        )


def _accept(state: DemoState, day: int) -> None:
    traffic = _train_and_test(state, day)
    state.step("monitoring")
    _monitor(state, day, traffic)


def _resume_held(state: DemoState, today: int) -> None:
    """The upstream fix arrives; the scheduler's re-check resumes the held runs by itself."""
    if not state.held:
        return
    delivered = set(deliver_late(state.out))
    for day in sorted(state.held):
        if state.date(day) not in delivered:  # a bad day is re-delivered complete and correct
            write_day(state.shop, state.out, day, clean=True)
    status = {r["run_id"]: r["status"] for r in recheck_held(state.context, force=True)}
    for day in sorted(state.held):
        entry = state.days[day]
        entry["run_status"] = status.get(entry["run_id"], "held")
        if entry["run_status"] != "succeeded":
            continue
        entry.update(status="resumed", resumed_on=state.date(today))
        state.held.discard(day)
        _accept(state, day)
        entry["champion"] = state.champion_label()


def run_day(state: DemoState, day: int) -> dict[str, Any]:
    """One daily run; returns its summary entry."""
    shop, ctx = state.shop, state.context
    state.step("landing the day's files")
    write_day(shop, state.out, day)
    write_database(shop, state.out, day)
    _resume_held(state, day)
    entry: dict[str, Any] = {"date": state.date(day), "held_reasons": []}
    state.days.append(entry)
    state.step("ingesting and checking")
    run = run_pipeline(gates, {"day": entry["date"]}, context=ctx, ref=REF_GATES)
    entry.update(run_id=run.run_id, run_status=run.status)
    if run.status == "held":
        state.held.add(day)
        entry.update(status="held", held_reasons=[_reason(r) for r in run.held_reasons])
    else:
        entry["status"] = run.status
        if run.status == "succeeded":
            _accept(state, day)
    entry["champion"] = state.champion_label()
    return entry


def decisions(state: DemoState) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Promotions and rollbacks as the registry's alias history records them."""
    ctx = state.context
    with ctx.store.session() as session:
        reg = Registry(session, ctx.project_id)
        numbers = {
            v.id: v.version
            for v in session.scalars(
                sa.select(ModelVersion).where(ModelVersion.model_id == reg.model(MODEL).id)
            )
        }
        moves = [h for h in reg.history(MODEL) if h.alias == "champion"]
        rolled_back = {h.from_version_id for h in moves if h.reason.startswith(ROLLED_BACK)}
        promotions, rollbacks = [], []
        for h in moves:
            to = numbers[str(h.to_version_id)]
            base = {"version": to, "model": state.labels[to], "reason": h.reason}
            if h.reason.startswith(ROLLED_BACK):
                frm = numbers[h.from_version_id] if h.from_version_id else None
                ab = state.numbers.get(frm, {}) if frm is not None else {}
                rollbacks.append({**ab, **base, "rolled_back_version": frm})
            elif h.to_version_id not in rolled_back or h.from_version_id is None:
                promotions.append(
                    {**state.numbers.get(to, {}), **base, "gate_report_id": h.gate_report_id}
                )
    return promotions, rollbacks


def _alerts(ctx: Context) -> list[dict[str, Any]]:
    out = []
    for alert in reversed(list_alerts(ctx, status=None, limit=1000)):
        evidence = alert["evidence"]
        days = evidence.get("days") or [None]
        out.append(
            {
                "date": evidence.get("day") or days[-1],
                "kind": alert["kind"],
                "status": alert["status"],
                "severity": alert["severity"],
                "message": alert["message"],
                "evidence": evidence,
            }
        )
    return out


def run_demo(
    home: Path,
    config: SimConfig,
    *,
    context: Context,
    on_day: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole demo in ``home``; returns the summary (the `--json` document)."""
    started = time.perf_counter()
    out = home / "k9s"
    save_config(config, out)
    factory = k9s_factory(context.project, out, schedule=None)
    # The demo judges candidates on simulated clicks per customer (the shop's digital twin)
    factory = factory.model_copy(update={"models": {MODEL: DEMO_GATES}})
    factory_version, _ = apply(context, factory, note="kibble demo: the K9s factory")
    state = DemoState(Shop.build(config), out, context)
    if on_step is not None:
        state.step = on_step
    for day in range(config.days):
        entry = run_day(state, day)
        if on_day is not None:
            on_day(entry)
    promotions, rollbacks = decisions(state)
    return {
        "home": str(home),
        "shop": str(out),
        "model": MODEL,
        "factory_version": factory_version.version,
        "config": {
            "products": config.products,
            "users": config.users,
            "start": config.start.isoformat(),
            "scenarios": config.scenarios,
        },
        "days": state.days,
        "promotions": promotions,
        "rollbacks": rollbacks,
        "ab_results": state.ab_results,
        "alerts": _alerts(context),
        "drift": state.drift,
        "champion": state.champion_label(),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


__all__ = ["DemoState", "decisions", "default_scenarios", "run_day", "run_demo"]
