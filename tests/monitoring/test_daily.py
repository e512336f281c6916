"""A month of a small shop, then a bad day: the daily monitor raises, dedups and resolves."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from kibble.context import Context
from kibble.monitoring import (
    data_metrics,
    list_alerts,
    model_metrics,
    record_metrics,
    system_metrics,
)
from kibble.monitoring.daily import monitor_day
from kibble.monitoring.notifiers import OutboxNotifier, read_outbox

START = date(2026, 9, 7)  # a Monday
DAYS = 35
LAST = START + timedelta(days=DAYS - 1)


def shop_day(
    day: date, *, volume: float = 1.0, incident: bool = False, seed: int = 0
) -> dict[str, pl.DataFrame]:
    """Events, served responses, feedback and request logs of one day."""
    rng = np.random.default_rng(seed)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    weekend = day.weekday() >= 5
    users = 150
    per_user = (5.0 if weekend else 8.0) * (0.7 if incident else 1.0)
    n_events = int(users * per_user * volume)
    seconds = rng.integers(0, 86_400, n_events)
    events = pl.DataFrame(
        {
            "event_id": [f"{day}-{i}" for i in range(n_events)],
            "user_id": rng.integers(0, users, n_events),
            "item_id": rng.integers(0, 500, n_events),
            "event_type": rng.choice(
                ["view", "click", "add_to_cart", "purchase"], n_events, p=[0.7, 0.2, 0.07, 0.03]
            ),
            "ts": [midnight + timedelta(seconds=int(s)) for s in seconds],
            "session_id": [f"{day}-{u}" for u in rng.integers(0, users, n_events)],
        }
    )
    requests = 200
    request_ids = [f"{day}-r{i}" for i in range(requests)]
    ts = [midnight + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, requests)]
    items = rng.integers(0, 500, (requests, 5))
    served = pl.DataFrame(
        {"ts": ts, "request_id": request_ids, "items": items.tolist(), "arm": "champion"}
    )
    ctr = (0.04 if weekend else 0.05) * (0.5 if incident else 1.0)
    shown = [(r, int(i)) for r, row in zip(request_ids, items, strict=True) for i in row]
    clicked = rng.random(len(shown)) < ctr
    feedback = pl.DataFrame(
        {
            "request_id": [r for (r, _), c in zip(shown, clicked, strict=True) if c],
            "item_id": [i for (_, i), c in zip(shown, clicked, strict=True) if c],
            "event_type": "click",
        }
    )
    latency = rng.lognormal(np.log(20), 0.3, requests) * (3.0 if incident else 1.0)
    logs = pl.DataFrame({"ts": ts, "latency_ms": latency, "status": 200, "arm": "champion"})
    return {"events": events, "served": served, "feedback": feedback, "requests": logs}


def species(cats: bool, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    choices = ["dog", "puppy", "senior", "cat"] if cats else ["dog", "puppy", "senior"]
    return pl.DataFrame(
        {"species": rng.choice(choices, 3_000), "price": rng.lognormal(3, 0.4, 3_000)}
    )


def test_bad_day_raises_dedups_and_resolves_when_redelivered(
    context: Context, tmp_path: Path
) -> None:
    outbox = OutboxNotifier(tmp_path / "outbox.jsonl")
    history = []
    for offset in range(DAYS - 1):
        day = START + timedelta(days=offset)
        frames = shop_day(day, incident=offset >= DAYS - 3, seed=offset)
        history += data_metrics(frames["events"], labels={"table": "events"})
        history += model_metrics(
            frames["served"], frames["feedback"], catalog_size=500, labels={"deployment": "home"}
        )
        history += system_metrics(frames["requests"], labels={"deployment": "home"})
    record_metrics(context, history)

    # The last day: half delivered, a latency incident still suppressing clicks, and a
    # new species in the catalogue.
    bad = shop_day(LAST, volume=0.5, incident=True, seed=99)
    kwargs = {
        "deployment": "home",
        "catalog_size": 500,
        "notifiers": [outbox],
        "drift_reference": species(False, 1),
        "drift_current": species(True, 2),
    }
    summary = monitor_day(context, LAST, **bad, **kwargs)  # type: ignore[arg-type]
    assert set(summary.raised) == {"data_volume", "drift", "feedback_loop", "latency_sla"}
    assert summary.drift is not None and summary.drift.drifted == ["species"]
    assert summary.loop is not None and "ctr" in summary.loop.falling
    volume = next(a for a in summary.alerts if a.alert["kind"] == "data_volume")
    assert 0.3 < volume.alert["evidence"]["value"] < 0.7

    # Running the same day again records the same points and notifies nobody twice.
    again = monitor_day(context, LAST, **bad, **kwargs)  # type: ignore[arg-type]
    assert again.raised == []
    assert len(list_alerts(context)) == 4

    # The partition is re-delivered complete and the catalogue drift is accepted as the
    # new reference: those alerts resolve by themselves; latency and the loop stay.
    fixed = shop_day(LAST, volume=1.0, incident=True, seed=99)
    kwargs["drift_reference"] = species(True, 3)
    redone = monitor_day(context, LAST, **fixed, **kwargs)  # type: ignore[arg-type]
    assert set(redone.resolved) == {"data_volume", "drift"}
    assert sorted(a["kind"] for a in list_alerts(context)) == ["feedback_loop", "latency_sla"]
    events = [(m["event"], m["alert"]["kind"]) for m in read_outbox(outbox.path)]
    assert sorted(events) == sorted(
        [
            ("raised", "data_volume"),
            ("raised", "drift"),
            ("raised", "feedback_loop"),
            ("raised", "latency_sla"),
            ("resolved", "data_volume"),
            ("resolved", "drift"),
        ]
    )


def test_a_normal_day_raises_nothing(context: Context, tmp_path: Path) -> None:
    outbox = OutboxNotifier(tmp_path / "outbox.jsonl")
    history = []
    for offset in range(DAYS - 1):
        frames = shop_day(START + timedelta(days=offset), seed=offset)
        history += data_metrics(frames["events"], labels={"table": "events"})
        history += model_metrics(
            frames["served"], frames["feedback"], labels={"deployment": "home"}
        )
        history += system_metrics(frames["requests"], labels={"deployment": "home"})
    record_metrics(context, history)
    same_day_last_week = shop_day(LAST - timedelta(days=7), seed=27)["events"]
    summary = monitor_day(
        context,
        LAST,
        deployment="home",
        notifiers=[outbox],
        reference_events=same_day_last_week,
        **shop_day(LAST, seed=7),  # type: ignore[arg-type]
    )
    assert summary.drift is not None and summary.drift.drifted == []
    assert {f.feature for f in summary.drift.features} == {"event_type", "events_per_user"}
    assert summary.loop is not None and not summary.loop.fired, summary.loop.reason
    assert summary.alerts == [] and list_alerts(context) == []
    assert summary.points > 0
