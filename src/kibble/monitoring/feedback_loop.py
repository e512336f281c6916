"""Feedback-loop detector: engagement signals and system health falling together.

A slow or failing recommender shows fewer useful items, users click less and leave
sooner, so the next training set holds less signal: a silent loop. This detector watches
daily series and fires when, over the last ``recent_days``, at least two engagement
signals (events per active user, feedback per impression, CTR, session length) fell
and a system signal (p99 latency, error rate) rose, all beyond what the baseline predicts.

The baseline is robust to the patterns a healthy shop has. Each signal is read in log
space (changes are ratios); a weekday profile (median per weekday) removes the weekly
cycle, so a weekend dip is compared with earlier weekends; a Theil-Sen trend carries a
seasonal rise or fall forward; the band is the median absolute deviation of the baseline
residuals. Pure: arrays in, a verdict with evidence out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from kibble.errors import UsageError

FloatArray = npt.NDArray[np.float64]

ENGAGEMENT = ("events_per_user", "feedback_per_impression", "ctr", "session_length")
"""Signals where lower is worse."""
SYSTEM = ("latency_p99_ms", "error_rate")
"""Signals where higher is worse."""
LABELS = {
    "events_per_user": "events per active user",
    "feedback_per_impression": "feedback per impression",
    "ctr": "clicks per impression",
    "session_length": "session length",
    "latency_p99_ms": "p99 latency",
    "error_rate": "error rate",
}


@dataclass(frozen=True)
class LoopConfig:
    recent_days: int = 3
    baseline_days: int = 28
    min_baseline_days: int = 14
    z_threshold: float = 3.0
    min_change: float = 0.10
    """Smallest relative move that counts, however quiet the baseline was."""
    min_scale: float = 0.02
    """Floor of the noise band in log units (about 2%), so flat series do not over-react."""
    min_breach_days: int = 2
    min_engagement: int = 2
    min_system: int = 1
    min_signal_days: int = 4
    """Baseline days a signal must have been measured on to be judged: a signal younger
    than the series (CTR of a deployment that started serving last week, in a series of
    a month of events) is judged against the days it has, or not at all before this."""


@dataclass
class SignalEvidence:
    signal: str
    direction: str  # "down is bad" / "up is bad"
    expected: list[float]
    observed: list[float]
    change: list[float]
    """Relative change per recent day, observed / expected - 1."""
    z: list[float]
    breached_days: int
    breached: bool
    measured_days: int = 0
    """Baseline days the signal was measured on (the rest carry its median)."""


@dataclass
class LoopVerdict:
    fired: bool
    reason: str
    days: list[str] = field(default_factory=list)
    signals: dict[str, SignalEvidence] = field(default_factory=dict)

    @property
    def falling(self) -> list[str]:
        return [s for s, e in self.signals.items() if e.breached and s in ENGAGEMENT]

    @property
    def rising(self) -> list[str]:
        return [s for s, e in self.signals.items() if e.breached and s in SYSTEM]

    def evidence(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "days": self.days,
            "falling": self.falling,
            "rising": self.rising,
            "signals": {name: asdict(e) for name, e in self.signals.items()},
        }


def theil_sen(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Median of pairwise slopes, and the median intercept: a trend outliers cannot bend."""
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    slope = float(np.median((y[j] - y[i])[keep] / dx[keep])) if keep.any() else 0.0
    return slope, float(np.median(y - slope * x))


def _weekdays(days: Sequence[date]) -> npt.NDArray[np.int64]:
    return np.array([d.weekday() for d in days], dtype=np.int64)


def signal_deviation(
    values: FloatArray,
    days: Sequence[date],
    config: LoopConfig,
    *,
    trend: bool = True,
    measured: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Expected values, relative change and z-scores for the last ``recent_days`` days.

    ``trend=False`` expects the baseline's weekday-adjusted level instead of carrying its
    trend forward (the noise band still comes from the detrended residuals), so a drift
    that is itself slow, like a narrowing exposure, is measured rather than forecast.
    ``measured`` marks the days the signal was really measured on: filled days carry the
    level but never the noise band, which would otherwise shrink to nothing.
    """
    y = np.log(np.clip(values, 1e-9, None))
    t = np.array([d.toordinal() - days[0].toordinal() for d in days], dtype=np.float64)
    recent = slice(y.size - config.recent_days, y.size)
    base = slice(max(0, y.size - config.recent_days - config.baseline_days), recent.start)
    weekday = _weekdays(days)
    yb, tb, wb = y[base], t[base], weekday[base]
    profile = np.zeros(7)
    overall = float(np.median(yb))
    for k in range(7):
        same = yb[wb == k]
        if same.size:
            profile[k] = float(np.median(same)) - overall
    slope, intercept = theil_sen(tb, yb - profile[wb])
    residuals = yb - profile[wb] - (intercept + slope * tb)
    if measured is not None and measured[base].any():
        residuals = residuals[measured[base]]
    mad = float(np.median(np.abs(residuals - np.median(residuals))))
    scale = max(1.4826 * mad, config.min_scale)
    if not trend:
        slope, intercept = 0.0, float(np.median(yb - profile[wb]))
    expected_log = intercept + slope * t[recent] + profile[weekday[recent]]
    deviation = y[recent] - expected_log
    return np.exp(expected_log), np.expm1(deviation), deviation / scale


def _as_columns(series: pl.DataFrame | Mapping[str, Sequence[Any]]) -> pl.DataFrame:
    frame = series if isinstance(series, pl.DataFrame) else pl.DataFrame(dict(series))
    if "day" not in frame.columns:
        raise UsageError(
            "the daily series needs a 'day' column (date)",
            hint="one row per day: day, ctr, events_per_user, latency_p99_ms, ...",
        )
    return frame.sort("day")


def detect_feedback_loop(
    series: pl.DataFrame | Mapping[str, Sequence[Any]],
    config: LoopConfig | None = None,
) -> LoopVerdict:
    """Judge the last ``recent_days`` of a daily series (columns named as in ``LABELS``)."""
    config = config or LoopConfig()
    frame = _as_columns(series)
    days = [d.date() if isinstance(d, datetime) else d for d in frame["day"].to_list()]
    have = [s for s in (*ENGAGEMENT, *SYSTEM) if s in frame.columns]
    if not any(s in ENGAGEMENT for s in have):
        raise UsageError(
            "no engagement signal in the series",
            hint=f"add one or more of {', '.join(ENGAGEMENT)}",
        )
    baseline = len(days) - config.recent_days
    if baseline < config.min_baseline_days:
        return LoopVerdict(
            False,
            f"not enough history: {max(baseline, 0)} baseline days, "
            f"{config.min_baseline_days} needed",
        )
    recent_days = [d.isoformat() for d in days[-config.recent_days :]]
    signals: dict[str, SignalEvidence] = {}
    for name in have:
        column = frame[name].cast(pl.Float64)
        measured = column.is_not_null().to_numpy()
        start = max(0, baseline - config.baseline_days)
        measured_days = int(measured[start:baseline].sum())
        # gaps carry the baseline's level: the recent days, anomaly included, never set it
        level = column[start:baseline].median() if measured_days else column.median()
        values = column.fill_null(level or 0.0).to_numpy()
        expected, change, z = signal_deviation(values, days, config, measured=measured)
        up_is_bad = name in SYSTEM
        sign = 1.0 if up_is_bad else -1.0
        bad = (sign * z > config.z_threshold) & (sign * change >= config.min_change)
        bad &= measured[baseline:]  # a recent day the signal was not measured moved nothing
        breached_days = int(bad.sum()) if measured_days >= config.min_signal_days else 0
        signals[name] = SignalEvidence(
            signal=name,
            direction="up is bad" if up_is_bad else "down is bad",
            expected=[_round(v) for v in expected],
            observed=[_round(v) for v in values[-config.recent_days :]],
            change=[_round(v) for v in change],
            z=[_round(v) for v in z],
            breached_days=breached_days,
            breached=breached_days >= config.min_breach_days,
            measured_days=measured_days,
        )
    verdict = LoopVerdict(False, "", recent_days, signals)
    has_system = any(s in SYSTEM for s in have)
    need_system = config.min_system if has_system else 0
    need_engagement = config.min_engagement + (0 if has_system else 1)
    fired = len(verdict.falling) >= need_engagement and len(verdict.rising) >= need_system
    verdict.fired = fired
    verdict.reason = _explain(verdict, fired)
    return verdict


def _round(value: float) -> float:
    return round(float(value), 6) if math.isfinite(value) else 0.0


def _explain(verdict: LoopVerdict, fired: bool) -> str:
    moved = [
        f"{LABELS[name]} {np.mean(e.change) * 100:+.0f}%"
        for name, e in verdict.signals.items()
        if e.breached
    ]
    span = f"over {verdict.days[0]}..{verdict.days[-1]}" if verdict.days else ""
    if fired:
        return f"feedback loop suspected {span}: " + ", ".join(moved)
    if moved:
        return f"no joint decline {span}; moved alone: " + ", ".join(moved)
    return f"signals within their weekly/seasonal bands {span}"
