from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kibble.errors import UsageError
from kibble.monitoring.points import Point
from kibble.monitoring.rules import Rule, default_rules, evaluate, fingerprint, rules_from_dicts

NOW = datetime(2026, 11, 2, tzinfo=UTC)
DAY = timedelta(days=1)


def point(value: float, days_ago: int, **labels: str) -> Point:
    end = NOW - days_ago * DAY
    return Point("data.volume_ratio", value, end - DAY, end, labels)


def test_evaluates_once_per_label_series_within_the_window() -> None:
    rule = Rule(
        name="vol",
        kind="data_volume",
        metric="data.volume_ratio",
        condition="<",
        threshold=0.6,
        window="2d",
        aggregate="min",
    )
    points = [
        point(0.4, 5, table="events"),  # outside the window: ignored
        point(0.9, 1, table="events"),
        point(0.95, 0, table="events"),
        point(0.5, 0, table="users"),
        Point("other.metric", 0.0, NOW - DAY, NOW, {"table": "events"}),
    ]
    results = {r.labels["table"]: r for r in evaluate(rule, points, NOW)}
    assert set(results) == {"events", "users"}
    assert not results["events"].firing and results["events"].value == 0.9
    assert results["users"].firing and results["users"].points == 1
    assert results["users"].fingerprint == "vol|table=users"
    assert "breached" in results["users"].message


def test_rule_label_filter_and_aggregates() -> None:
    points = [point(v, i, table="events") for i, v in enumerate([3.0, 1.0, 2.0])]
    for aggregate, expected in [
        ("last", 3.0),
        ("max", 3.0),
        ("min", 1.0),
        ("mean", 2.0),
        ("sum", 6.0),
    ]:
        rule = Rule(
            name="r",
            kind="k",
            metric="data.volume_ratio",
            condition=">",
            threshold=0,
            window="5d",
            aggregate=aggregate,
        )  # type: ignore[arg-type]
        [result] = evaluate(rule, points, NOW)
        assert result.value == expected
    only_users = Rule(
        name="r",
        kind="k",
        metric="data.volume_ratio",
        condition=">",
        threshold=0,
        labels={"table": "users"},
    )
    assert evaluate(only_users, points, NOW) == []


def test_defaults_cover_every_named_failure_mode() -> None:
    kinds = {r.kind for r in default_rules(latency_sla_ms=75)}
    assert kinds == {
        "data_late",
        "data_volume",
        "data_invalid",
        "drift",
        "latency_sla",
        "error_rate",
        "gate_failed",
    }
    sla = next(r for r in default_rules(latency_sla_ms=75) if r.kind == "latency_sla")
    assert sla.threshold == 75


def test_rules_from_dicts_validates_with_a_clear_message() -> None:
    [rule] = rules_from_dicts(
        [
            {
                "name": "ctr_low",
                "kind": "model_quality",
                "metric": "model.ctr",
                "condition": "<",
                "threshold": 0.01,
                "window": "3d",
            }
        ]
    )
    assert rule.window == "3d"
    with pytest.raises(UsageError, match="condition"):
        rules_from_dicts(
            [{"name": "x", "kind": "k", "metric": "m", "condition": "!=", "threshold": 1}]
        )
    with pytest.raises(UsageError, match="duration"):
        rules_from_dicts(
            [
                {
                    "name": "x",
                    "kind": "k",
                    "metric": "m",
                    "condition": "<",
                    "threshold": 1,
                    "window": "forever",
                }
            ]
        )
    with pytest.raises(UsageError, match="unique"):
        rules_from_dicts(
            [{"name": "x", "kind": "k", "metric": "m", "condition": "<", "threshold": 1}] * 2
        )


def test_long_fingerprints_are_hashed_to_fit() -> None:
    key = fingerprint("rule", {"feature": "x" * 300})
    assert len(key) <= 128 and key.startswith("rule|")
    assert key == fingerprint("rule", {"feature": "x" * 300})
