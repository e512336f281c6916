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

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from kibble.checks.result import CheckResult
from kibble.checks.rules import check_freshness
from kibble.config import load_settings
from kibble.context import Context
from kibble.data.connectors import SourceOptions
from kibble.data.contracts import EVENTS
from kibble.data.ingest import ingest
from kibble.data.tables import Tables
from kibble.errors import UsageError
from kibble.k9s.abtest import ctr_difference, run_ab
from kibble.k9s.simulate import database_url, load_shop, partition_dir
from kibble.monitoring.alerts import raise_alert, resolve_alert
from kibble.pipelines import Pipeline, hold, log, record_read, step
from kibble.recsys.base import Recommendation, Recommender
from kibble.recsys.training import train as train_model
from kibble.store.repositories.data import DataRecords

REF = "kibble.k9s.daily:daily"
REF_GATES = "kibble.k9s.daily:gates"
ALERT_KINDS = ("data_late", "data_incomplete", "data_incorrect")
FIXED = {
    "data_late": lambda day: f"partition {day} arrived late; its checks pass now",
    "data_incomplete": lambda day: (
        f"partition {day} was re-delivered complete; its checks pass now"
    ),
    "data_incorrect": lambda day: f"partition {day} was re-delivered correct; its checks pass now",
}
"""What a resolved data alert says (its open text, "has not arrived", would read wrong)."""
RUN_HOUR = 7
"""The daily run starts at 07:00 UTC the morning after its day, past the events deadline."""


def alert_kind(check: str) -> str:
    """The alert a failed contract check raises (and the kind a held run names)."""
    if check == "freshness":
        return "data_late"
    if check == "volume":
        return "data_incomplete"
    return "data_incorrect"


def run_time(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(RUN_HOUR), UTC)


def landed(out: Path, day: str) -> Path | None:
    """The day's landing file; None when the partition has not arrived."""
    files = sorted(partition_dir(out, day).glob("events.*"))
    return files[0] if files else None


def open_context(home: str, project: str) -> Context:
    if not home:
        raise UsageError(
            "the K9s daily run needs the kibble home it ingests into",
            hint="pass -P home=PATH (the folder `kibble --home` uses)",
        )
    return Context.open(load_settings({"home": home}), project=project)


def load_day(ctx: Context, out: Path, day: str) -> bool:
    """Ingest the shop's catalogue and customers, and the day's events if they landed."""
    url = database_url(out)
    for table in ("products", "users"):
        ingest(ctx, url, table, mode="replace", options=SourceOptions(table=table))
    path = landed(out, day)
    if path is None:
        return False
    ingest(ctx, str(path), "events", partition=day, mode="replace-partition")
    return True


def _late(ctx: Context, day: str, report_id: str, run_id: str | None) -> CheckResult:
    """Freshness on the simulator's clock: ingestion's wall-clock arrival time means
    nothing in a demo that runs a day in seconds, so a partition that is there when the
    day's run starts is on time and a missing one is judged at the run's time."""
    assert EVENTS.freshness_hours is not None
    result = check_freshness(date.fromisoformat(day), None, EVENTS.freshness_hours, run_time(day))
    tables = Tables(ctx)
    dataset = tables.register(tables.contract("events"))
    with ctx.store.session() as session:
        DataRecords(session, ctx.project_id).record_checks(
            dataset,
            [
                {
                    "report_id": report_id,
                    "table_version": tables.lake.version("events") or -1,
                    "partition": day,
                    "run_id": run_id,
                    **result.to_dict(),
                }
            ],
        )
    return result


def check_day(ctx: Context, out: Path, day: str) -> list[CheckResult]:
    """Load the day and run the events contract's checks on it; returns the failures.

    Drift failures are reported (stored with the checks) but do not hold retraining.
    """
    from kibble.checks.runner import run_checks

    arrived = load_day(ctx, out, day)
    tables = Tables(ctx)
    if not tables.lake.exists("events"):
        assert EVENTS.freshness_hours is not None
        return [
            check_freshness(date.fromisoformat(day), None, EVENTS.freshness_hours, run_time(day))
        ]
    report = run_checks(ctx, "events", partition=day, skip=("freshness",), now=run_time(day))
    record_read("events", report.version)
    failed = [r for r in report.results if r.failed and not r.name.startswith("drift:")]
    if not arrived:
        failed.insert(0, _late(ctx, day, report.report_id, None))
    return failed


def _fingerprint(kind: str, day: str) -> str:
    return f"k9s|{kind}|events|{day}"


@step(cache=False)
def gate(shop: str, day: str, home: str = "", project: str = "default") -> dict[str, Any]:
    """Hold the run unless the day's events arrived, complete and correct (the contract)."""
    ctx = open_context(home, project)
    try:
        failed = check_day(ctx, Path(shop), day)
        kinds = {alert_kind(r.name) for r in failed}
        for r in failed:
            kind = alert_kind(r.name)
            raise_alert(
                ctx, kind, _fingerprint(kind, day), r.message, {"day": day, "check": r.name}
            )
        for kind in ALERT_KINDS:
            if kind not in kinds:
                resolve_alert(
                    ctx, _fingerprint(kind, day), "the data is fixed", message=FIXED[kind](day)
                )
    finally:
        ctx.close()
    if failed:
        raise hold(*(f"{alert_kind(r.name)}: {r.message}" for r in failed))
    log(f"gates passed for {day}")
    return {"day": day}


def history(ctx: Context, day: str, days: int = 14) -> pl.DataFrame:
    """Events of the ``days`` days up to ``day`` from the lake, ready for training."""
    last = date.fromisoformat(day)
    frame = Tables(ctx).polars("events", columns=["user_id", "item_id", "event_type", "ts", "date"])
    frame = frame.filter(pl.col("date").is_between(last - timedelta(days=days - 1), last))
    return frame.select(
        pl.col("user_id").cast(pl.String), pl.col("item_id").cast(pl.String), "event_type", "ts"
    )


def _fit(events: pl.DataFrame, name: str, params: dict[str, Any]) -> Recommender:
    options = {"time_col": "ts", "event_col": "event_type"}
    return train_model(events, model=name, params=params, interaction_options=options).model


@step(cache=False)
def train(
    shop: str,
    day: str,
    gate: dict[str, Any],
    home: str = "",
    project: str = "default",
    users: int = 2000,
) -> dict[str, Any]:
    """Train the baseline and candidates; A/B them on simulated customers of that day."""
    out = Path(shop)
    sim = load_shop(out)
    ctx = open_context(home, project)
    try:
        events = history(ctx, day)
    finally:
        ctx.close()
    models = {
        "popularity": _fit(events, "popularity", {}),
        "als": _fit(events, "als", {"factors": 32, "iterations": 8}),
    }
    index = (date.fromisoformat(day) - sim.config.start).days
    active = sim.users.user_id[sim.users.active(index)][:users]

    def serve(model: Recommender) -> Any:
        def answer(user: int) -> tuple[list[Recommendation], float]:
            return model.recommend(str(user), 10, explain=False), 40.0

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
