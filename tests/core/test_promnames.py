"""Stored metric names become promtool-clean: base units, `_total` only on counters."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kibble.core.promnames import conform


def test_milliseconds_become_seconds_with_the_value_scaled() -> None:
    family = GaugeMetricFamily("kibble_system_latency_p99_ms", "p99", labels=["arm"])
    family.add_metric(["a"], 12.5)
    out = conform(family)
    assert out.name == "kibble_system_latency_p99_seconds"
    assert [(s.name, s.labels, s.value) for s in out.samples] == [
        ("kibble_system_latency_p99_seconds", {"arm": "a"}, 0.0125)
    ]


def test_a_gauge_loses_total_and_a_counter_keeps_it() -> None:
    gauge = GaugeMetricFamily("kibble_data_events_total", "events per day", value=3)
    assert conform(gauge).name == "kibble_data_events"
    counter = CounterMetricFamily("kibble_requests", "served", value=3)
    assert conform(counter) is counter
