"""The K9s daily retraining pipeline, guarded by data gates (`kibble run` / schedules).

    gate -> train -> decide

``gate`` checks the day's partition (freshness, completeness, correctness). A failure
raises an alert and *holds* the run with the reasons; serving keeps the champion. The
scheduler re-runs the gate of held runs (``pipelines.held_recheck_s``); once the data is
fixed the gate passes, its alert resolves and the run continues by itself::

    kibble run kibble.k9s.daily:daily -P shop=DIR -P day=2026-12-03 -P home=HOME
    kibble schedules add k9s --pipeline kibble.k9s.daily:daily --cron "0 6 * * *" -P shop=DIR
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from kibble.config import load_settings
from kibble.context import Context
from kibble.k9s.abtest import ctr_difference, run_ab
from kibble.k9s.gates import check_partition
from kibble.k9s.simulate import load_shop, partition_dir
from kibble.monitoring.alerts import raise_alert, resolve_alert
from kibble.pipelines import Pipeline, hold, log, step
from kibble.recsys.base import Recommender
from kibble.recsys.training import train as train_model

REF = "kibble.k9s.daily:daily"
REF_GATES = "kibble.k9s.daily:gates"
ALERT_KINDS = ("data_late", "data_incomplete", "data_incorrect")


def read_day(out: Path, day: str) -> pl.DataFrame | None:
    """The day's landing partition as a frame; None when it has not arrived."""
    files = sorted(partition_dir(out, day).glob("events.*"))
    if not files:
        return None
    path = files[0]
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".jsonl":
        return pl.read_ndjson(path, infer_schema_length=None)
    return pl.read_csv(path, infer_schema_length=0)


def _context(home: str, project: str) -> Context | None:
    return Context.open(load_settings({"home": home}), project=project) if home else None


def _fingerprint(kind: str, day: str) -> str:
    return f"k9s|{kind}|events|{day}"


@step(cache=False)
def gate(shop: str, day: str, home: str = "", project: str = "default") -> dict[str, Any]:
    """Hold the run unless the day's events arrived, complete and correct."""
    out = Path(shop)
    known = len(load_shop(out).catalog)
    first = date.fromisoformat(day)
    previous = [read_day(out, (first - timedelta(days=i)).isoformat()) for i in range(1, 8)]
    volumes = [f.height for f in previous if f is not None]
    reasons = check_partition(read_day(out, day), known_items=known, previous_volumes=volumes)
    ctx = _context(home, project)
    try:
        if ctx is not None:
            failing = {r.kind for r in reasons}
            for r in reasons:
                raise_alert(ctx, r.kind, _fingerprint(r.kind, day), r.message, {"day": day})
            for kind in ALERT_KINDS:
                if kind not in failing:
                    resolve_alert(ctx, _fingerprint(kind, day), "the data is fixed")
    finally:
        if ctx is not None:
            ctx.close()
    if reasons:
        raise hold(*(f"{r.kind}: {r.message}" for r in reasons))
    log(f"gates passed for {day}")
    return {"day": day, "volumes": volumes}


def _history(out: Path, day: str, days: int = 14) -> pl.DataFrame:
    last = date.fromisoformat(day)
    frames = []
    for i in range(days):
        frame = read_day(out, (last - timedelta(days=i)).isoformat())
        if frame is not None:
            frames.append(
                frame.select(
                    pl.col("user_id").cast(pl.String),
                    pl.col("item_id").cast(pl.String),
                    "event_type",
                    pl.col("ts").cast(pl.String).str.to_datetime(time_zone="UTC")
                    if frame.schema["ts"] == pl.String
                    else pl.col("ts"),
                )
            )
    return pl.concat(frames)


def _fit(events: pl.DataFrame, name: str, params: dict[str, Any]) -> Recommender:
    options = {"time_col": "ts", "event_col": "event_type"}
    return train_model(events, model=name, params=params, interaction_options=options).model


@step(cache=False)
def train(shop: str, day: str, gate: dict[str, Any], users: int = 2000) -> dict[str, Any]:
    """Train the baseline and candidates; A/B them on simulated customers of that day."""
    out = Path(shop)
    sim = load_shop(out)
    events = _history(out, day)
    models = {
        "popularity": _fit(events, "popularity", {}),
        "als": _fit(events, "als", {"factors": 32, "iterations": 8}),
    }
    index = (date.fromisoformat(day) - sim.config.start).days
    active = sim.users.user_id[sim.users.active(index)][:users]

    def serve(model: Recommender) -> Any:
        def answer(user: int) -> tuple[list[int], float]:
            return [int(r.item_id) for r in model.recommend(str(user), 10, explain=False)], 40.0

        return answer

    arms = run_ab(
        sim, index, [int(u) for u in active], {n: serve(m) for n, m in models.items()}, seed=1
    )
    diff, low, high = ctr_difference(arms["popularity"], arms["als"])
    return {
        "events": events.height,
        "arms": [a.to_dict() for a in arms.values()],
        "ctr_diff": round(diff, 4),
        "ci95": [round(low, 4), round(high, 4)],
    }


@step(cache=False)
def decide(train: dict[str, Any]) -> dict[str, Any]:
    """Promote the challenger only when its click-rate gain is significant."""
    verdict = "promote" if train["ci95"][0] > 0 else "keep champion"
    log(f"{verdict}: ctr diff {train['ctr_diff']} (95% {train['ci95']})")
    return {"verdict": verdict, **train}


daily = Pipeline(
    "k9s_daily",
    [gate, train, decide],
    description="K9s guarded daily retraining: data gates, candidates, A/B, decision",
)
gates = Pipeline("k9s_gates", [gate], description="K9s data gates alone (the demo's record)")
