"""Each check fails on data built to break it, with a message naming the problem."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl

from kibble.checks import rules
from kibble.checks.rows import conform, first_of_each_key
from kibble.checks.runner import run_checks
from kibble.context import Context
from kibble.data.contracts import EVENTS, DriftRule, VolumeRule
from kibble.data.ingest import ingest
from kibble.data.tables import Tables
from kibble.monitoring.drift import drift_report
from tests.data.helpers import events, products

DAY = date(2026, 11, 10)


def _good(frame: pl.DataFrame) -> pl.DataFrame:
    return conform(frame, EVENTS).good


def test_wrong_types_fail_schema() -> None:
    frame = _good(events(DAY, 5)).with_columns(pl.col("item_id").cast(pl.String))
    result = rules.check_schema(frame.schema, EVENTS)
    assert result.status == "fail"
    assert "wrong types: item_id is String" in result.message


def test_duplicate_keys_fail() -> None:
    frame = _good(events(DAY, 5))
    result = rules.check_duplicate_keys(pl.concat([frame, frame.head(2)]), EVENTS)
    assert result.status == "fail"
    assert "2 rows with duplicate keys (event_id)" in result.message


def test_unknown_product_ids_fail() -> None:
    fk = EVENTS.foreign_keys[0]
    result = rules.check_foreign_key(pl.Series([1, 2, 999]), pl.Series([1, 2, 3]), fk)
    assert result.status == "fail"
    assert "1 rows reference unknown products ids in item_id (e.g. 999)" in result.message


def test_late_partition_fails_and_on_time_passes() -> None:
    deadline = rules.deadline_of(DAY, 6)
    late = rules.check_freshness(DAY, deadline + timedelta(hours=3), 6, deadline)
    assert late.status == "fail" and "is late: it arrived 3.0 h after" in late.message
    ok = rules.check_freshness(DAY, deadline - timedelta(hours=1), 6, deadline)
    assert ok.status == "pass"
    missing = rules.check_freshness(DAY, None, 6, deadline + timedelta(minutes=1))
    assert missing.status == "fail" and "has not arrived" in missing.message


def test_half_volume_fails() -> None:
    history = [1000, 1040, 980, 1010, 995, 1020, 990]
    result = rules.check_volume(500, history, VolumeRule(), "events 2026-11-10")
    assert result.status == "fail"
    assert "too low: 500 rows" in result.message
    assert rules.check_volume(1005, history, VolumeRule(), "x").status == "pass"


def test_shifted_distribution_fails() -> None:
    rule = DriftRule(column="event_type", kind="categorical")
    reference = pl.Series(["view"] * 700 + ["click"] * 200 + ["purchase"] * 100)
    same = rules.check_drift(reference.sample(fraction=1.0, shuffle=True, seed=1), reference, rule)
    assert same.status == "pass"
    shifted = pl.Series(["view"] * 200 + ["click"] * 200 + ["purchase"] * 600)
    result = rules.check_drift(shifted, reference, rule)
    assert result.status == "fail" and "distribution of event_type shifted" in result.message
    numeric = DriftRule(column="price", kind="numeric")
    base = pl.Series([float(i % 100) for i in range(2000)])
    moved = rules.check_drift(base + 40.0, base, numeric)
    assert moved.status == "fail" and "KS" in moved.message


def test_a_gate_and_the_monitor_report_the_same_drift() -> None:
    """One PSI and one KS in kibble: the data gate and the drift monitor agree exactly."""
    rng = np.random.default_rng(3)
    reference = pl.DataFrame(
        {"price": rng.lognormal(3, 0.4, 5_000), "kind": rng.choice(["a", "b", "c"], 5_000)}
    )
    current = pl.DataFrame(
        {
            "price": rng.lognormal(3.05, 0.45, 4_000),
            "kind": rng.choice(["a", "b", "c", "d"], 4_000, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    report = {f.feature: f for f in drift_report(reference, current).features}
    numeric = rules.check_drift(
        current["price"], reference["price"], DriftRule(column="price", kind="numeric")
    )
    assert numeric.observed["psi"] == round(report["price"].psi, 4)
    assert numeric.observed["ks"] == round(report["price"].ks_statistic or -1, 4)
    categorical = rules.check_drift(
        current["kind"], reference["kind"], DriftRule(column="kind", kind="categorical")
    )
    assert categorical.observed["psi"] == round(report["kind"].psi, 4)


def test_run_checks_gate_on_a_table(context: Context) -> None:
    ingest(context, products(20), "products", mode="replace")
    for offset in range(8, 0, -1):
        day = DAY - timedelta(days=offset)
        ingest(context, events(day, 100), "events")
    # the day under test: half the volume, unknown products, buying spree
    broken = events(DAY, 50, items=40).with_columns(pl.lit("purchase").alias("event_type"))
    ingest(context, broken, "events")
    now = datetime.now(UTC)
    report = run_checks(context, "events", partition=str(DAY), now=now)
    failed = {r.name for r in report.results if r.failed}
    assert {"foreign_key:item_id", "volume", "drift:event_type"} <= failed
    assert not report.passed
    assert any("unknown products ids" in r for r in report.reasons)
    assert any("volume of events 2026-11-10 is too low" in r for r in report.reasons)
    good = run_checks(
        context, "events", partition=str(DAY - timedelta(days=1)), skip=("freshness",)
    )
    assert good.passed, good.reasons
    assert Tables(context).read("events").num_rows == 850


def test_rejected_rows_fail_above_the_contract_share() -> None:
    reasons = {"user_id: not a valid int64": 30}
    failed = rules.check_rejected(30, 970, reasons, 0.001, "events 2026-11-10")
    assert failed.status == "fail"
    assert "30 rows (3.0%) were rejected into quarantine (user_id: not a valid int64" in (
        failed.message
    )
    assert rules.check_rejected(1, 9999, {"x": 1}, 0.001, "t").status == "warn"
    assert rules.check_rejected(0, 10, {}, 0.0, "t").status == "pass"


def test_first_of_each_key_is_exact_with_and_without_duplicates() -> None:
    frame = pl.DataFrame({"k": ["a", "b", "a", "c", "b"], "n": [1, 2, 3, 4, 5]})
    assert first_of_each_key(frame, ["k"]).to_list() == [True, True, False, True, False]
    assert first_of_each_key(frame.head(2), ["k"]).to_list() == [True, True]
    pairs = pl.DataFrame({"a": [1, 1, 1], "b": ["x", "y", "x"]})
    assert first_of_each_key(pairs, ["a", "b"]).to_list() == [True, True, False]


def test_text_dates_are_checked_against_the_partition() -> None:
    frame = events(DAY, 3).with_columns(pl.Series("date", [str(DAY), str(DAY), "2026-01-01"]))
    result = conform(frame, EVENTS, partition=DAY)
    assert result.good.height == 2
    assert result.bad.get_column("_reason").to_list() == [f"date: outside partition {DAY}"]
