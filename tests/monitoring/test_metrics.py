from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa
import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import UsageError
from kibble.monitoring import (
    Point,
    data_metrics,
    model_metrics,
    query_metrics,
    record_metrics,
    system_metrics,
)
from kibble.monitoring.points import parse_duration

DAY = datetime(2026, 11, 1, tzinfo=UTC)


def values(points: list[Point], name: str, **labels: str) -> dict[str, float]:
    return {
        p.window_start.date().isoformat(): p.value
        for p in points
        if p.name == name and all(p.labels.get(k) == v for k, v in labels.items())
    }


def test_data_metrics_volumes_users_nulls_and_late_rows() -> None:
    events = pa.table(
        {
            "ts": [
                DAY,
                DAY + timedelta(hours=3),
                DAY + timedelta(hours=5),
                DAY + timedelta(days=1),
            ],
            "user_id": ["a", "a", "b", None],
            "event_type": ["view", "click", "view", "view"],
            "segment": ["new", "new", "returning", "new"],
            "session_id": ["s1", "s1", "s2", None],
            "ingested_at": [
                DAY + timedelta(hours=1),
                DAY + timedelta(days=2),  # landed a day late
                DAY + timedelta(hours=6),
                DAY + timedelta(days=1, hours=1),
            ],
        }
    )
    points = data_metrics(events, labels={"table": "events"})
    assert values(points, "data.events", event_type="view") == {
        "2026-11-01": 2,
        "2026-11-02": 1,
    }
    assert values(points, "data.events_by_segment", event_type="view", segment="returning") == {
        "2026-11-01": 1
    }
    assert values(points, "data.active_users") == {"2026-11-01": 2, "2026-11-02": 0}
    assert values(points, "data.events_per_user")["2026-11-01"] == 1.5
    assert values(points, "data.null_rate", column="user_id") == {
        "2026-11-01": 0.0,
        "2026-11-02": 1.0,
    }
    assert values(points, "data.late_rows") == {"2026-11-01": 1, "2026-11-02": 0}
    assert values(points, "data.sessions") == {"2026-11-01": 2}
    assert values(points, "data.session_length") == {"2026-11-01": 1.5}
    assert all(p.labels["table"] == "events" for p in points)
    assert all(p.window_end - p.window_start == timedelta(days=1) for p in points)


def test_data_metrics_need_a_timestamp() -> None:
    with pytest.raises(UsageError, match="not a timestamp"):
        data_metrics(pl.DataFrame({"ts": ["x"], "user_id": ["a"], "event_type": ["v"]}))
    with pytest.raises(UsageError, match="lacks the column"):
        data_metrics(pl.DataFrame({"ts": [DAY]}))


def test_model_metrics_rates_coverage_and_gini() -> None:
    served = pl.DataFrame(
        {
            "ts": [DAY, DAY, DAY],
            "request_id": ["r1", "r2", "r3"],
            "items": [["i1", "i2"], ["i1", "i3"], ["i1", "i2"]],
            "arm": ["champion", "champion", "challenger"],
            "deployment": ["home"] * 3,
        }
    )
    feedback = pl.DataFrame(
        {
            "request_id": ["r1", "r1", "r2", "r3", "r9"],
            "item_id": ["i1", "i1", "i3", "i2", "i1"],
            "event_type": ["click", "add_to_cart", "purchase", "click", "click"],
        }
    )
    points = model_metrics(served, feedback, catalog_size=10)
    champion = {"arm": "champion", "deployment": "home"}
    assert values(points, "model.impressions", **champion) == {"2026-11-01": 4}
    assert values(points, "model.ctr", **champion) == {"2026-11-01": 0.25}
    assert values(points, "model.add_to_cart_rate", **champion) == {"2026-11-01": 0.25}
    assert values(points, "model.conversion_rate", **champion) == {"2026-11-01": 0.25}
    assert values(points, "model.feedback_per_impression", **champion) == {"2026-11-01": 0.75}
    assert values(points, "model.coverage", **champion) == {"2026-11-01": pytest.approx(0.3)}
    # exposure i1=2, i2=1, i3=1, seven items never shown: Gini 0.75
    assert values(points, "model.exposure_gini", **champion)["2026-11-01"] == pytest.approx(0.75)
    assert values(points, "model.ctr", arm="challenger") == {"2026-11-01": 0.5}


def test_gini_is_zero_for_even_exposure() -> None:
    served = pl.DataFrame(
        {"ts": [DAY] * 4, "request_id": ["a", "b", "c", "d"], "item_id": list("wxyz")}
    )
    points = model_metrics(served)
    assert values(points, "model.exposure_gini") == {"2026-11-01": pytest.approx(0.0)}
    assert values(points, "model.ctr") == {"2026-11-01": 0.0}


def test_system_metrics_rate_errors_and_percentiles_per_arm() -> None:
    requests = pl.DataFrame(
        {
            "ts": [DAY + timedelta(minutes=i) for i in range(100)],
            "latency_ms": [float(i) for i in range(100)],
            "status": [200] * 95 + [503] * 5,
            "arm": ["a"] * 100,
        }
    )
    points = system_metrics(requests, every="1h")
    counts = {p.window_start: p.value for p in points if p.name == "system.requests"}
    assert counts == {DAY: 60, DAY + timedelta(hours=1): 40}
    rate = [p.value for p in points if p.name == "system.request_rate" and p.window_start == DAY]
    assert rate == [pytest.approx(60 / 3600)]
    first_hour = [p for p in points if p.name == "system.error_rate" and p.window_start == DAY]
    assert [p.value for p in first_hour] == [0.0]
    assert first_hour[0].window_end - first_hour[0].window_start == timedelta(hours=1)
    second = [p for p in points if p.name == "system.error_rate" and p.window_start != DAY]
    assert second[0].value == pytest.approx(5 / 40)
    p99 = [p.value for p in points if p.name == "system.latency_p99_ms" and p.window_start == DAY]
    assert p99 == [pytest.approx(58.41)]
    with pytest.raises(UsageError, match="status"):
        system_metrics(requests.drop("status"))


def test_record_and_query_round_trip(backend_settings: Settings) -> None:
    context = Context.open(backend_settings)
    now = datetime.now(UTC).replace(microsecond=0)
    points = [
        Point(
            "model.ctr",
            0.05 + i / 100,
            now - timedelta(days=i),
            now - timedelta(days=i - 1),
            {"deployment": "home", "arm": "champion"},
        )
        for i in range(5)
    ] + [Point("model.ctr", 0.2, now, now + timedelta(days=1), {"deployment": "search"})]
    assert record_metrics(context, points) == 6
    home = query_metrics(context, "model.ctr", "10d", {"deployment": "home"})
    assert [p.value for p in home] == pytest.approx([0.09, 0.08, 0.07, 0.06, 0.05])
    assert home[0].labels == {"deployment": "home", "arm": "champion"}
    assert home[0].window_start.tzinfo is not None
    assert len(query_metrics(context, "model.ctr", "2d", {"deployment": "home"})) == 2
    assert len(query_metrics(context, "model.ctr", "10d", {"arm": "champion"})) == 5
    assert len(query_metrics(context, None, "10d", prefix="model.")) == 6

    # Re-recording a window replaces the value instead of duplicating it.
    record_metrics(
        context, [Point("model.ctr", 0.5, now, now + timedelta(days=1), {"deployment": "search"})]
    )
    search = query_metrics(context, "model.ctr", "10d", {"deployment": "search"})
    assert [p.value for p in search] == [0.5]

    # Another project sees nothing of this one.
    other = Context.open(backend_settings, project="other")
    assert query_metrics(other, "model.ctr", "10d") == []
    other.close()
    context.close()


def test_parse_duration() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(UsageError, match="duration"):
        parse_duration("soon")


def test_prometheus_collector_exports_latest_points(context: Context) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from kibble.monitoring.prometheus import StoredMetricsCollector

    now = datetime.now(UTC).replace(microsecond=0)
    labels = {"deployment": "home", "arm": "champion"}
    record_metrics(
        context,
        [
            Point("model.ctr", 0.04, now - timedelta(days=2), now - timedelta(days=1), labels),
            Point("model.ctr", 0.07, now - timedelta(days=1), now, labels),
            Point("drift.psi", 0.31, now - timedelta(days=1), now, {"feature": "species"}),
        ],
    )
    registry = CollectorRegistry()
    registry.register(StoredMetricsCollector(context, since="7d"))
    text = generate_latest(registry).decode()
    assert 'kibble_model_ctr{arm="champion",deployment="home",project="default"} 0.07' in text
    assert 'kibble_drift_psi{feature="species",project="default"} 0.31' in text
    assert "0.04" not in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": float("nan")}, "non-finite"),
        ({"window_start": datetime(2026, 1, 1)}, "naive"),
        ({"window_end": DAY - timedelta(days=1)}, "ends before"),
        ({"name": ""}, "1-128"),
        ({"labels": {"k": "v" * 600}}, "too long"),
    ],
)
def test_points_refuse_what_the_store_cannot_hold(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "model.ctr",
        "value": 0.1,
        "window_start": DAY,
        "window_end": DAY + timedelta(days=1),
        "labels": {},
    }
    fields.update(kwargs)
    with pytest.raises(UsageError, match=message):
        Point(**fields)  # type: ignore[arg-type]


def test_volume_ratio_compares_same_weekday_so_weekends_read_normal() -> None:
    from kibble.monitoring.data_metrics import volume_ratios

    start = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
    totals = []
    for i in range(35):
        day = start + timedelta(days=i)
        volume = 600.0 if day.weekday() >= 5 else 1000.0
        if i == 34:
            volume /= 2  # the last day (a Sunday) arrives half-delivered
        totals.append(Point("data.events_total", volume, day, day + timedelta(days=1), {"t": "e"}))
    ratios = {p.window_start: p.value for p in volume_ratios(totals)}
    assert min(ratios) == start + timedelta(days=7)  # the first week has no history
    saturday = start + timedelta(days=33)
    assert ratios[saturday] == pytest.approx(1.0)
    assert ratios[start + timedelta(days=34)] == pytest.approx(0.5)
    assert all(p.labels == {"t": "e"} for p in volume_ratios(totals))
