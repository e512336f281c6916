"""Narrowing detector: the feedback loop where a recommender shows ever fewer items.

A model trained on what it showed learns to show it again: catalogue coverage falls and
exposure concentrates on the same best-sellers, while the catalogue itself is no smaller.
This fires when, over the last ``recent_days``, coverage and exposure evenness
(``1 - Gini``) both fell below their baseline level by more than the noise band and
``min_change``, and the catalogue kept at least ``1 - max_catalog_shrink`` of its size
(a shrinking catalogue narrows exposure honestly). The baseline is a weekday-adjusted
level, not a trend, so a slow narrowing is measured rather than forecast.
Pure: a daily series in, a verdict with evidence out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from kibble.monitoring.feedback_loop import LoopConfig, SignalEvidence, signal_deviation

SIGNALS = {"coverage": "catalogue coverage", "evenness": "exposure evenness (1 - Gini)"}


@dataclass(frozen=True)
class NarrowingConfig(LoopConfig):
    min_baseline_days: int = 7
    min_change: float = 0.15
    """Smallest relative fall of coverage and of evenness that counts."""
    max_catalog_shrink: float = 0.05
    """The catalogue counts as not shrinking while it keeps 95% of its baseline size."""


@dataclass
class NarrowingVerdict:
    fired: bool
    reason: str
    days: list[str] = field(default_factory=list)
    signals: dict[str, SignalEvidence] = field(default_factory=dict)
    catalog: dict[str, float] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "days": self.days,
            "catalog": self.catalog,
            "signals": {name: asdict(e) for name, e in self.signals.items()},
        }


def detect_narrowing(
    series: pl.DataFrame, config: NarrowingConfig | None = None
) -> NarrowingVerdict:
    """Judge the last days of a daily series with ``day``, ``coverage``, ``gini`` and
    ``catalog_size`` columns (``exposure.*`` metrics of one deployment)."""
    config = config or NarrowingConfig()
    wanted = ("day", "coverage", "gini", "catalog_size")
    missing = [c for c in wanted if c not in series.columns]
    if missing:
        return NarrowingVerdict(False, f"not judged: no {', '.join(missing)} series")
    frame = series.select(wanted).drop_nulls().sort("day")
    days = [d.date() if isinstance(d, datetime) else d for d in frame["day"].to_list()]
    baseline = len(days) - config.recent_days
    if baseline < config.min_baseline_days:
        return NarrowingVerdict(
            False,
            f"not enough history: {max(baseline, 0)} baseline days, "
            f"{config.min_baseline_days} needed",
        )
    recent = [d.isoformat() for d in days[-config.recent_days :]]
    values = {
        "coverage": frame["coverage"].cast(pl.Float64).to_numpy(),
        "evenness": 1.0 - frame["gini"].cast(pl.Float64).to_numpy(),
    }
    signals = {name: _evidence(name, v, days, config) for name, v in values.items()}
    sizes = frame["catalog_size"].cast(pl.Float64).to_numpy()
    base = sizes[max(0, baseline - config.baseline_days) : baseline]
    ratio = float(np.mean(sizes[-config.recent_days :]) / max(float(np.median(base)), 1.0))
    catalog = {"baseline": float(np.median(base)), "recent": float(sizes[-1]), "ratio": ratio}
    verdict = NarrowingVerdict(False, "", recent, signals, catalog)
    narrowed = all(e.breached for e in signals.values())
    stable = ratio >= 1.0 - config.max_catalog_shrink
    verdict.fired = narrowed and stable
    verdict.reason = _explain(verdict, narrowed, stable)
    return verdict


def _evidence(
    name: str, values: np.ndarray[Any, Any], days: list[date], config: NarrowingConfig
) -> SignalEvidence:
    expected, change, z = signal_deviation(values, days, config, trend=False)
    bad = (z < -config.z_threshold) & (change <= -config.min_change)
    breached = int(bad.sum())
    return SignalEvidence(
        signal=name,
        direction="down is bad",
        expected=[round(float(v), 6) for v in expected],
        observed=[round(float(v), 6) for v in values[-config.recent_days :]],
        change=[round(float(v), 6) for v in change],
        z=[round(float(v), 6) for v in z],
        breached_days=breached,
        breached=breached >= config.min_breach_days,
    )


def _explain(verdict: NarrowingVerdict, narrowed: bool, stable: bool) -> str:
    span = f"over {verdict.days[0]}..{verdict.days[-1]}"
    moves = ", ".join(
        f"{SIGNALS[name]} {np.mean(e.change) * 100:+.0f}%" for name, e in verdict.signals.items()
    )
    size = f"catalogue at {verdict.catalog['ratio'] * 100:.0f}% of its baseline size"
    if narrowed and stable:
        return f"exposure narrowing {span}: {moves}; {size}"
    if narrowed:
        return f"exposure narrowed {span} but the catalogue shrank ({size}): {moves}"
    return f"exposure within its band {span}: {moves}"
