"""Monitoring a live deployment from what the store holds: the request log and feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.errors import NotFoundError, UsageError
from kibble.monitoring import model_metrics, query_metrics, system_metrics
from kibble.monitoring.deployment import log_frames, monitor_deployment, window
from kibble.store.repositories.serving import Feedback, ServedRequests
from tests.cli.test_cli import kibble
from tests.data.helpers import products

DEPLOYMENT = "shop-home"
FAST, SLOW = "rec:1", "rec:2"


def answer(n: int, arm: str, at: datetime, latency_ms: float, **extra: Any) -> dict[str, Any]:
    """One logged answer of five items, as ``kibble serve`` writes it."""
    items = [{"item_id": str((n + k) % 20), "score": 1.0 - k / 10, "reasons": []} for k in range(5)]
    return {
        "request_id": f"{arm}-{n}",
        "deployment": DEPLOYMENT,
        "user_id": f"u{n}",
        "arm": arm,
        "model_version": arm,
        "probability": 0.5,
        "items": items,
        "ts": at,
        "latency_ms": latency_ms,
        **extra,
    }


def traffic(at: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """20 answers per arm; the fast arm gets 10 clicks and 2 purchases, the slow one 2
    clicks; the slow arm also failed once and shadowed once (neither was shown)."""
    rows = [answer(n, FAST, at, 10.0 + n % 3) for n in range(20)]
    rows += [answer(n, SLOW, at, 120.0) for n in range(20)]
    rows.append(answer(99, SLOW, at, 5.0, items=[], error="RuntimeError: boom"))
    rows.append(answer(98, SLOW, at, 130.0, shadow_of=f"{FAST}-0"))
    clicks = [(f"{FAST}-{n}", str(n % 20)) for n in range(10)]
    clicks += [(f"{SLOW}-{n}", str(n % 20)) for n in range(2)]
    feedback = [
        {"event_id": f"c-{r}", "user_id": "u", "item_id": i, "event_type": "click", "ts": at,
         "request_id": r, "arm": None}
        for r, i in clicks
    ] + [
        {"event_id": f"p-{n}", "user_id": "u", "item_id": str(n), "event_type": "purchase",
         "ts": at, "request_id": f"{FAST}-{n}", "arm": None}
        for n in range(2)
    ]  # fmt: skip
    return rows, feedback


def as_log(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as the columns ``ServedRequests.window`` returns (``items`` as JSON text)."""
    names = ("request_id", "arm", "model_version", "items", "ts", "latency_ms", "error")
    log = {name: [row.get(name) for row in rows] for name in (*names, "shadow_of")}
    log["items"] = [json.dumps(items) for items in log["items"]]
    return log


def feedback_frame(feedback: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(feedback).select("request_id", "item_id", "event_type")


def by_arm(points: list[Any], name: str) -> dict[str, float]:
    return {p.labels["arm"]: p.value for p in points if p.name == name}


def test_per_arm_metrics_from_a_hand_built_log() -> None:
    at = datetime(2026, 11, 10, 12, tzinfo=UTC)
    rows, feedback = traffic(at)
    served, requests = log_frames(as_log(rows))
    assert served.height == 200  # 40 answers shown x 5 items; the failure and shadow not
    assert served["score"].max() == 1.0
    plain = as_log([{**rows[0], "items": ["3", "4"]}])  # a log of ids without scores
    assert log_frames(plain)[0]["item_id"].to_list() == ["3", "4"]
    points = model_metrics(served, feedback_frame(feedback), catalog_size=20)
    assert by_arm(points, "model.impressions") == {FAST: 100, SLOW: 100}
    assert by_arm(points, "model.ctr") == {FAST: 0.10, SLOW: 0.02}
    assert by_arm(points, "model.conversion_rate") == {FAST: 0.02, SLOW: 0.0}
    assert by_arm(points, "model.coverage") == {FAST: 1.0, SLOW: 1.0}
    system = system_metrics(requests, every="1d")
    assert by_arm(system, "system.requests") == {FAST: 20, SLOW: 22}
    assert by_arm(system, "system.error_rate") == {FAST: 0.0, SLOW: 1 / 22}
    assert by_arm(system, "system.latency_p50_ms")[SLOW] == 120.0


def test_the_window_covers_whole_utc_days() -> None:
    until = datetime(2026, 11, 10, 14, 30, tzinfo=UTC)
    assert window("1d", until) == (datetime(2026, 11, 9, tzinfo=UTC), until)
    with pytest.raises(UsageError, match="timezone-aware"):
        window("1d", until.replace(tzinfo=None))


def test_an_unknown_deployment_is_a_clear_error(context: Context) -> None:
    with pytest.raises(NotFoundError, match="no deployment 'nope'"):
        monitor_deployment(context, "nope")


@pytest.mark.slow
def test_monitor_run_records_arms_and_alerts_with_evidence(
    backend_settings: Settings, database_url: str, home: Path
) -> None:
    context = Context.open(backend_settings)
    ingest(context, products(20), "products", mode="replace")
    now = datetime.now(UTC)
    rows, feedback = traffic(now - timedelta(minutes=1))
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(rows)
        Feedback(session, context.project_id).add(feedback)

    env = {"KIBBLE_DATABASE_URL": database_url}
    ran = kibble("monitor", "run", "--deployment", DEPLOYMENT, "--json", home=home, env=env)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["rules"] == "built-in defaults"
    assert any("no events table" in note for note in report["notes"])
    [latency] = [a for a in report["alerts"] if a["kind"] == "latency_sla"]
    assert latency["action"] == "raised" and SLOW in latency["message"]
    assert report["narrowing"].startswith("not enough history")

    points = query_metrics(context, None, "2d", {"deployment": DEPLOYMENT})
    assert by_arm(points, "model.ctr") == {FAST: 0.10, SLOW: 0.02}
    assert by_arm(points, "model.conversion_rate") == {FAST: 0.02, SLOW: 0.0}
    assert {p.name: p.value for p in points if p.name.startswith("exposure.")} == {
        "exposure.items_served": 20.0,
        "exposure.coverage": 1.0,
        "exposure.gini": pytest.approx(0.0),
        "exposure.catalog_size": 20.0,
    }
    p99 = by_arm(points, "system.latency_p99_ms")
    assert p99[FAST] < 13 and p99[SLOW] >= 120

    shown = kibble("alerts", "show", latency["id"][:12], "--json", home=home, env=env)
    assert shown.returncode == 0, shown.stderr
    evidence = json.loads(shown.stdout)["evidence"]
    assert evidence["labels"] == {"deployment": DEPLOYMENT, "arm": SLOW}
    assert evidence["value"] >= 120 and evidence["recent"]

    again = kibble("monitor", "run", "--deployment", DEPLOYMENT, "--json", home=home, env=env)
    assert again.returncode == 0, again.stderr
    repeated = {a["kind"]: a["action"] for a in json.loads(again.stdout)["alerts"]}
    assert repeated == {"latency_sla": "repeated", "error_rate": "repeated"}  # 1 of 22 failed
    context.close()


def shift(row: dict[str, Any], base: int) -> None:
    """Serve items ``base`` .. ``base + 9`` only."""
    row["items"] = [{**i, "item_id": str(base + int(i["item_id"]) % 10)} for i in row["items"]]


def test_prediction_drift_compares_the_window_with_the_one_before(context: Context) -> None:
    """Yesterday the model served toys; today it serves food: the answers drifted."""
    catalogue = products(20).with_columns(
        pl.when(pl.col("item_id") < 10).then(pl.lit("dog/toys")).otherwise(pl.lit("dog/food"))
        .alias("category")
    )  # fmt: skip
    ingest(context, catalogue, "products", mode="replace")
    until = datetime(2026, 11, 10, 12, tzinfo=UTC)
    before = [answer(n, FAST, until - timedelta(days=2), 10.0) for n in range(0, 40, 5)]
    today = [answer(n, FAST, until - timedelta(hours=2), 10.0) for n in range(10, 50, 5)]
    for row in today:
        row["request_id"] += "-today"
        shift(row, 10)
    for row in before:
        shift(row, 0)
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(before + today)

    report = monitor_deployment(context, DEPLOYMENT, since="1d", until=until, notifiers=[])
    assert report.prediction_drift is not None
    assert "category" in report.prediction_drift.drifted
    [drift] = [a.alert for a in report.alerts if a.alert["kind"] == "drift"]
    assert drift["evidence"]["drifted"] == report.prediction_drift.drifted
    psi = query_metrics(context, "drift.psi", until - timedelta(days=3), {"drift": "prediction"})
    assert {p.labels["feature"] for p in psi} >= {"category", "price", "score"}
