"""The closed loop, day by day: simulate -> gates -> train -> evaluate -> A/B -> decide.

A failing gate holds the day's retraining with reasons and an alert; the next morning the
upstream fix arrives (late partition delivered, bad day re-delivered), the gate re-checks
and the held run resumes by itself, resolving its alert. Challengers are tested live
against the champion with the shop's ground-truth response; a clear win is promoted, a
loss is rolled back with the numbers behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kibble.context import Context
from kibble.k9s.abtest import Arm, Serve, ctr_difference, run_ab
from kibble.k9s.config import SimConfig
from kibble.k9s.daily import REF_GATES, gates
from kibble.k9s.gates import check_partition, psi
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import deliver_late, partition_dir, save_config, write_database, write_day
from kibble.monitoring.alerts import raise_alert
from kibble.pipelines import run_pipeline
from kibble.pipelines.schedules import recheck_held
from kibble.recsys.base import Recommender
from kibble.recsys.training import train

CANDIDATES = {"als": {"factors": 32, "iterations": 8}, "item_knn": {}}
DRIFT_PSI = 0.2
AB_USERS = 6000
FEEDBACK_DROP = 0.5


def default_scenarios(days: int) -> dict[str, int]:
    """A held run early, then a species shift and a latency incident on the last day."""
    if days < 3:
        return {"late_partition": days - 1}
    return {"late_partition": 1, "cats_launch": days - 1, "latency_incident": days - 1}


@dataclass
class DemoState:
    shop: Shop
    out: Path
    context: Context | None = None
    history: list[pl.DataFrame] = field(default_factory=list)
    volumes: list[int] = field(default_factory=list)
    champion: tuple[str, Recommender] | None = None
    version: int = 0
    held: dict[int, list[dict[str, str]]] = field(default_factory=dict)
    last_ctr: float | None = None
    days: list[dict[str, Any]] = field(default_factory=list)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    ab_results: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)


def _read_partition(state: DemoState, day: int) -> pl.DataFrame | None:
    folder = partition_dir(state.out, state.shop.config.day(day).isoformat())
    files = sorted(folder.glob("events.*"))
    if not files:
        return None
    path = files[0]
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path)
    return pl.read_csv(path, infer_schema_length=0)


def _alert(state: DemoState, day: int, kind: str, message: str, **evidence: Any) -> dict[str, Any]:
    alert = {
        "date": state.shop.config.day(day).isoformat(),
        "kind": kind,
        "message": message,
        "status": "firing",
        "evidence": evidence,
    }
    state.alerts.append(alert)
    if state.context is not None and not kind.startswith("data_"):  # data_*: the gate step
        raise_alert(
            state.context,
            kind,
            f"k9s|{kind}|{alert['date']}",
            message,
            {"date": alert["date"], **evidence},
        )
    return alert


def _gate(state: DemoState, day: int) -> list[dict[str, str]]:
    events = _read_partition(state, day)
    reasons = check_partition(
        events, known_items=len(state.shop.catalog), previous_volumes=state.volumes[-7:]
    )
    return [{"kind": r.kind, "message": r.message} for r in reasons]


def _accept(state: DemoState, day: int) -> pl.DataFrame:
    events = _read_partition(state, day)
    assert events is not None
    clean = events.with_columns(pl.col("user_id").cast(pl.Int64), pl.col("item_id").cast(pl.Int64))
    if events.schema["ts"] == pl.String:
        clean = clean.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))
    clean = clean.select("user_id", "item_id", "event_type", "ts")
    state.history.append(clean)
    state.volumes.append(clean.height)
    return clean


def _resume_held(state: DemoState, today: int) -> None:
    """The upstream fix arrives; held days re-check and resume by themselves."""
    if not state.held:
        return
    deliver_late(state.out)
    for day in list(state.held):
        if _gate(state, day):
            write_day(state.shop, state.out, day, clean=True)
        if _gate(state, day):
            continue
        _accept(state, day)
        entry = state.days[day]
        if state.context is not None:  # the scheduler's re-check resumes the held run
            rechecked = recheck_held(state.context, force=True)
            entry["run_status"] = {r["run_id"]: r["status"] for r in rechecked}.get(
                entry.get("run_id", ""), "unknown"
            )
        entry["status"] = "resumed"
        entry["resumed_on"] = state.shop.config.day(today).isoformat()
        for alert in state.alerts:
            if alert["date"] == entry["date"] and alert["kind"].startswith("data_"):
                alert["status"] = "resolved"
        del state.held[day]
        _train_and_test(state, day)
        entry["champion"] = state.champion[0] if state.champion else None


def _serve(model: Recommender, latency_ms: float = 40.0) -> Serve:
    def serve(user: int) -> tuple[list[int], float]:
        recs = model.recommend(str(user), 10, explain=False)
        return [int(r.item_id) for r in recs], latency_ms

    return serve


def _fit(state: DemoState, name: str, params: dict[str, Any]) -> Recommender:
    events = pl.concat(state.history).with_columns(
        pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String)
    )
    return train(
        events,
        model=name,
        params=params,
        interaction_options={"time_col": "ts", "event_col": "event_type"},
    ).model


def _train_and_test(state: DemoState, day: int) -> None:
    """Train every candidate, A/B them against the champion, promote the clear winner."""
    if state.champion is None:
        state.champion = ("popularity-v0", _fit(state, "popularity", {}))
        date = state.shop.config.day(day).isoformat()
        state.promotions.append({"date": date, "version": 0, "reason": "baseline"})
        return
    challengers = {name: _fit(state, name, params) for name, params in CANDIDATES.items()}
    shop = state.shop
    active = shop.users.user_id[shop.users.active(day)]
    rng = np.random.default_rng([shop.config.seed, 4, day])
    sample = rng.choice(active, min(len(active), AB_USERS), replace=False)
    serve = {"champion": _serve(state.champion[1])}
    serve.update({name: _serve(model) for name, model in challengers.items()})
    arms = run_ab(shop, day, [int(u) for u in sample], serve, seed=shop.config.seed)
    _feedback_check(state, day, *arms.values())
    date = shop.config.day(day).isoformat()
    comparisons: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "date": date,
        "champion": state.champion[0],
        "arms": [arm.to_dict() for arm in arms.values()],
        "comparisons": comparisons,
    }
    winner: tuple[str, float] | None = None
    for name in challengers:
        diff, low, high = ctr_difference(arms["champion"], arms[name])
        numbers: dict[str, Any] = {
            "challenger": name,
            "champion_ctr": round(arms["champion"].ctr, 4),
            "challenger_ctr": round(arms[name].ctr, 4),
            "ctr_diff": round(diff, 4),
            "ci95": [round(low, 4), round(high, 4)],
        }
        comparisons.append(numbers)
        if low > 0 and (winner is None or diff > winner[1]):
            winner = (name, diff)
        else:
            reason = "worse than the champion" if high < 0 else "no significant gain"
            state.rollbacks.append({"date": date, **numbers, "reason": reason})
    state.ab_results.append(result)
    if winner is not None:
        name = winner[0]
        state.version += 1
        numbers = next(c for c in comparisons if c["challenger"] == name)
        state.promotions.append({"date": date, "version": state.version, **numbers})
        state.champion = (f"{name}-v{state.version}", challengers[name])
    if state.context is not None:
        state.context.audit("k9s.ab_test", date, result=result)


def _feedback_check(state: DemoState, day: int, *arms: Arm) -> None:
    clicks = sum(a.clicks for a in arms)
    shown = sum(a.impressions for a in arms)
    ctr = clicks / max(1, shown)
    abandoned = sum(a.abandoned for a in arms) / max(1, shown)
    if state.last_ctr and ctr < FEEDBACK_DROP * state.last_ctr:
        _alert(
            state,
            day,
            "feedback_loop",
            "clicks collapsed while traffic did not: users abandon slow responses, "
            "so the feedback the next model learns from is starved",
            ctr=round(ctr, 4),
            previous_ctr=round(state.last_ctr, 4),
            abandon_rate=round(abandoned, 4),
            added_latency_ms=state.shop.latency_penalty_ms(day),
        )
    else:
        state.last_ctr = ctr


def _drift_check(state: DemoState, day: int, today: pl.DataFrame) -> None:
    if len(state.history) < 2:
        return
    cat = state.shop.catalog
    top = pl.Series("species", ["dog", "puppy", "senior", "cat"])

    def species(frame: pl.DataFrame) -> pl.Series:
        rows = np.clip(frame["item_id"].to_numpy() - 1, 0, len(cat) - 1)
        return pl.Series("species", top.to_numpy()[cat.species[rows]])

    score = psi(species(state.history[-2]), species(today))
    report = {
        "date": state.shop.config.day(day).isoformat(),
        "column": "species",
        "psi": round(score, 4),
    }
    state.drift.append(report)
    if score > DRIFT_PSI:
        _alert(
            state, day, "drift", f"species mix shifted (PSI {score:.2f} > {DRIFT_PSI})", **report
        )


def run_day(state: DemoState, day: int) -> dict[str, Any]:
    """One daily run; returns its summary entry."""
    shop = state.shop
    write_day(shop, state.out, day)
    write_database(shop, state.out, day)
    _resume_held(state, day)
    entry: dict[str, Any] = {"date": shop.config.day(day).isoformat(), "held_reasons": []}
    state.days.append(entry)
    if state.context is not None:  # recorded as a pipeline run: `kibble runs list`
        params = {
            "shop": str(state.out),
            "day": entry["date"],
            "home": str(state.context.settings.home),
            "project": state.context.project,
        }
        run = run_pipeline(gates, params, context=state.context, ref=REF_GATES)
        entry["run_id"] = run.run_id
    reasons = _gate(state, day)
    if reasons:
        state.held[day] = reasons
        entry.update(status="held", held_reasons=reasons)
        for reason in reasons:
            _alert(state, day, reason["kind"], reason["message"])
    else:
        today = _accept(state, day)
        _drift_check(state, day, today)
        entry["status"] = "succeeded"
        _train_and_test(state, day)
    entry["champion"] = state.champion[0] if state.champion else None
    return entry


def run_demo(
    home: Path,
    config: SimConfig,
    *,
    context: Context | None = None,
    on_day: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the whole demo in ``home``; returns the summary (the `--json` document)."""
    started = time.perf_counter()
    out = home / "k9s"
    save_config(config, out)
    state = DemoState(Shop.build(config), out, context)
    for day in range(config.days):
        entry = run_day(state, day)
        if on_day is not None:
            on_day(entry)
    return {
        "home": str(home),
        "shop": str(out),
        "config": {
            "products": config.products,
            "users": config.users,
            "scenarios": config.scenarios,
        },
        "days": state.days,
        "promotions": state.promotions,
        "rollbacks": state.rollbacks,
        "ab_results": state.ab_results,
        "alerts": state.alerts,
        "drift": state.drift,
        "champion": state.champion[0] if state.champion else None,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
