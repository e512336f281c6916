"""Generated daily series like the K9s simulator's: weekly cycle, season, noise, incidents."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

WEEKEND_DIP = {"events_per_user": 0.70, "feedback_per_impression": 0.85, "ctr": 0.90}
WEEKEND_LATENCY = 0.8


def daily_series(
    days: int = 56,
    *,
    start: date = date(2026, 9, 7),  # a Monday
    season_per_day: float = 0.0,
    incident_days: int = 0,
    latency_only: bool = False,
    noise: float = 0.03,
    seed: int = 0,
) -> pl.DataFrame:
    """One row per day; the last ``incident_days`` have a latency incident suppressing clicks."""
    rng = np.random.default_rng(seed)
    day = [start + timedelta(days=i) for i in range(days)]
    weekend = np.array([d.weekday() >= 5 for d in day])
    season = np.exp(season_per_day * np.arange(days))

    def wobble() -> np.ndarray:
        return np.exp(rng.normal(0, noise, days))

    base = {"events_per_user": 12.0, "feedback_per_impression": 0.08, "ctr": 0.05}
    frame: dict[str, object] = {"day": day}
    for name, level in base.items():
        weekly = np.where(weekend, WEEKEND_DIP[name], 1.0)
        frame[name] = level * weekly * season * wobble()
    frame["latency_p99_ms"] = 40.0 * np.where(weekend, WEEKEND_LATENCY, 1.0) * wobble()
    frame["error_rate"] = 0.002 * wobble()
    if incident_days:
        hit = np.arange(days) >= days - incident_days
        frame["latency_p99_ms"] = np.where(
            hit, frame["latency_p99_ms"] * 2.5, frame["latency_p99_ms"]
        )  # type: ignore[operator]
        if not latency_only:
            for name, drop in (
                ("ctr", 0.65),
                ("events_per_user", 0.75),
                ("feedback_per_impression", 0.7),
            ):
                frame[name] = np.where(hit, frame[name] * drop, frame[name])  # type: ignore[operator]
    return pl.DataFrame(frame)
