from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from kibble.errors import UsageError
from kibble.monitoring.feedback_loop import LoopConfig, detect_feedback_loop
from tests.monitoring.series import daily_series

SEEDS = range(6)


@pytest.mark.parametrize("seed", SEEDS)
def test_latency_incident_that_suppresses_clicks_fires_with_evidence(seed: int) -> None:
    verdict = detect_feedback_loop(daily_series(incident_days=3, seed=seed))
    assert verdict.fired
    assert "latency_p99_ms" in verdict.rising
    assert {"ctr", "events_per_user", "feedback_per_impression"} <= set(verdict.falling)
    ctr = verdict.signals["ctr"]
    assert all(change < -0.2 for change in ctr.change)
    assert all(z < -3 for z in ctr.z)
    assert verdict.evidence()["signals"]["latency_p99_ms"]["observed"]
    assert "clicks per impression" in verdict.reason


@pytest.mark.parametrize("seed", SEEDS)
def test_weekend_dip_does_not_fire(seed: int) -> None:
    # 55 and 56 days end on a Saturday and a Sunday: a 30% dip in events per user.
    for days in (55, 56):
        series = daily_series(days=days, seed=seed)
        assert series["day"][-1].weekday() >= 5
        verdict = detect_feedback_loop(series)
        assert not verdict.fired, verdict.reason
        assert verdict.falling == []


@pytest.mark.parametrize("season", [0.02, -0.02])
@pytest.mark.parametrize("seed", SEEDS)
def test_seasonal_rise_or_fall_does_not_fire(season: float, seed: int) -> None:
    verdict = detect_feedback_loop(daily_series(season_per_day=season, seed=seed))
    assert not verdict.fired, verdict.reason
    assert verdict.falling == []


def test_naive_week_over_week_baseline_would_be_fooled_by_season() -> None:
    """The seasonal fall is real: the last days are far below the baseline's median."""
    series = daily_series(season_per_day=-0.02)
    recent = series["ctr"].tail(3).mean()
    baseline = series["ctr"].head(28).median()
    assert isinstance(recent, float) and isinstance(baseline, float)
    assert recent < 0.6 * baseline
    assert not detect_feedback_loop(series).fired


def test_latency_alone_is_not_a_feedback_loop() -> None:
    verdict = detect_feedback_loop(daily_series(incident_days=3, latency_only=True))
    assert not verdict.fired
    assert verdict.rising == ["latency_p99_ms"]
    assert "moved alone" in verdict.reason


def test_without_system_signals_three_engagement_signals_are_needed() -> None:
    series = daily_series(incident_days=3).drop("latency_p99_ms", "error_rate")
    assert detect_feedback_loop(series).fired
    assert not detect_feedback_loop(series.drop("feedback_per_impression")).fired


def test_short_history_does_not_fire() -> None:
    verdict = detect_feedback_loop(daily_series(days=10, incident_days=3))
    assert not verdict.fired
    assert "not enough history" in verdict.reason


def test_one_bad_day_is_not_enough_by_default() -> None:
    series = daily_series(incident_days=1)
    assert not detect_feedback_loop(series).fired
    assert detect_feedback_loop(series, LoopConfig(min_breach_days=1)).fired


def test_series_needs_day_and_engagement_columns() -> None:
    with pytest.raises(UsageError, match="day"):
        detect_feedback_loop({"ctr": [0.1]})
    with pytest.raises(UsageError, match="engagement"):
        detect_feedback_loop({"day": [date(2026, 1, 1)], "latency_p99_ms": [1.0]})


def test_missing_days_do_not_confuse_the_trend() -> None:
    gappy = daily_series(season_per_day=0.02).filter(
        ~pl.col("day").is_in([date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 14)])
    )
    assert not detect_feedback_loop(gappy).fired
    incident = daily_series(incident_days=3).filter(pl.col("day") != date(2026, 10, 5))
    assert detect_feedback_loop(incident).fired


@pytest.mark.parametrize("phase", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
def test_a_seasonal_wave_at_any_phase_does_not_fire(phase: float) -> None:
    series = daily_series(seed=int(phase))
    wave = np.exp(0.3 * np.sin(2 * np.pi * np.arange(series.height) / 90 + phase))
    series = series.with_columns(
        pl.col(c) * wave for c in ("events_per_user", "feedback_per_impression", "ctr")
    )
    assert not detect_feedback_loop(series).fired


def _young_deployment(ctr: list[float], latency: list[float]) -> pl.DataFrame:
    """Thirty days of the shop's events, and a deployment serving for the last seven:
    its CTR (feedback per impression moves with it: both count clicks) and p99."""
    days = 30
    rng = np.random.default_rng(5)
    young = [None] * (days - len(ctr))
    return pl.DataFrame(
        {
            "day": [date(2026, 11, 1) + timedelta(days=i) for i in range(days)],
            "events_per_user": 12.0 * np.exp(rng.normal(0, 0.03, days)),
            "ctr": young + ctr,
            "feedback_per_impression": young + [0.4 * c for c in ctr],
            "latency_p99_ms": young + latency,
        }
    )


CTR = [0.30, 0.36, 0.31, 0.33]
P99 = [3.0, 2.6, 3.3, 2.8]


def test_young_signals_get_the_noise_band_of_their_own_days() -> None:
    # an ordinary wobble of a week-old deployment: clicks 13% under, p99 30% over
    quiet = detect_feedback_loop(_young_deployment([*CTR, 0.26, 0.26, 0.27], P99 + [3.9] * 3))
    assert not quiet.fired, quiet.reason
    assert quiet.signals["ctr"].measured_days == 4
    assert not quiet.signals["ctr"].breached
    # a latency incident on the last two days: half the visits leave
    incident = detect_feedback_loop(
        _young_deployment([*CTR, 0.31, 0.18, 0.17], [*P99, 3.1, 1500, 1500])
    )
    assert incident.fired, incident.reason
    assert {"ctr", "feedback_per_impression"} <= set(incident.falling)
    assert incident.rising == ["latency_p99_ms"]


def test_a_signal_measured_on_too_few_days_is_not_judged() -> None:
    verdict = detect_feedback_loop(
        _young_deployment([0.31, 0.30, 0.18, 0.17], [3.0, 3.1, 1500, 1500])
    )
    assert verdict.signals["ctr"].measured_days == 1
    assert not verdict.signals["ctr"].breached
    assert not verdict.fired
