"""Pure promotion-gate logic (no I/O) so every decision is reproducible and easy to test.

A candidate must beat the baseline (95% paired-bootstrap interval of the per-user difference
entirely above 0), must not trail the champion by more than a tolerance, must not hurt any
user slice more than allowed, and must pass sanity checks (diversity, coverage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from kibble.errors import UsageError


class GatePolicy(BaseModel):
    """Thresholds for promotion; stored per registered model, defaults suit most recommenders.

    ``kibble apply`` writes one per model from the factory definition; a model without one
    is gated with these defaults.
    """

    metric: str = "ndcg"
    beat_baseline: bool = True
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    bootstrap_samples: int = Field(default=1000, ge=100)
    champion_tolerance: float = Field(default=0.01, ge=0.0)
    slice_tolerance: float = Field(default=0.05, ge=0.0)
    slice_tolerances: dict[str, float] = Field(
        default_factory=dict, description="per-slice tolerance; others use slice_tolerance"
    )
    min_distinct_lists_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    min_coverage_ratio: float = Field(default=0.5, ge=0.0)
    safety_probe: bool = True
    latency_sla_ms: float | None = Field(
        default=None, gt=0, description="probe p99 limit; None uses serving.latency_sla_ms"
    )
    seed: int = 0


class Check(BaseModel):
    """One gate check: what was measured, against what, and a sentence a human can read."""

    name: str
    measured: float
    threshold: float
    passed: bool
    sentence: str


def failed_check(name: str, why: str) -> Check:
    """A check that could not run: it fails the gate with the reason, never skips."""
    return Check(name=name, measured=0.0, threshold=1.0, passed=False, sentence=why)


class GateReport(BaseModel):
    """All checks plus the overall verdict; serialised to JSON and stored with the version."""

    checks: list[Check]
    passed: bool
    policy: dict[str, Any] | None = None
    policy_source: str = Field(default="", description="e.g. 'factory version 3' or 'default'")

    @classmethod
    def of(cls, checks: list[Check]) -> GateReport:
        return cls(checks=checks, passed=all(c.passed for c in checks))


def _align(
    candidate: Mapping[str, float], other: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    users = sorted(set(candidate) & set(other))
    if not users:
        raise UsageError(
            "no common users between candidate and reference metrics",
            hint="evaluate both models on the same held-out users",
        )
    a = np.array([candidate[u] for u in users], dtype=np.float64)
    b = np.array([other[u] for u in users], dtype=np.float64)
    return a, b


def paired_bootstrap(
    candidate: Mapping[str, float], reference: Mapping[str, float], policy: GatePolicy
) -> tuple[float, float, float]:
    """Return (mean difference, low, high) of candidate - reference, aligned by user id."""
    a, b = _align(candidate, reference)
    diff = a - b
    rng = np.random.default_rng(policy.seed)
    idx = rng.integers(0, diff.size, size=(policy.bootstrap_samples, diff.size))
    means = diff[idx].mean(axis=1)
    alpha = (1.0 - policy.confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(diff.mean()), float(low), float(high)


def _vs_baseline(cand: Mapping[str, float], base: Mapping[str, float], p: GatePolicy) -> Check:
    mean, low, high = paired_bootstrap(cand, base, p)
    ok = low > 0.0
    return Check(
        name="beats_baseline",
        measured=low,
        threshold=0.0,
        passed=ok,
        sentence=(
            f"{p.metric} lift over baseline is {mean:+.4f} "
            f"({p.confidence:.0%} interval {low:+.4f}..{high:+.4f}); "
            + ("the whole interval is above 0." if ok else "the interval reaches 0 or below.")
        ),
    )


def _vs_champion(cand: Mapping[str, float], champ: Mapping[str, float], p: GatePolicy) -> Check:
    mean, low, _high = paired_bootstrap(cand, champ, p)
    ok = low >= -p.champion_tolerance
    return Check(
        name="not_worse_than_champion",
        measured=low,
        threshold=-p.champion_tolerance,
        passed=ok,
        sentence=(
            f"{p.metric} difference to champion is {mean:+.4f} (lower bound {low:+.4f}); "
            f"tolerance is {p.champion_tolerance:.4f}."
        ),
    )


def _slices(
    cand: Mapping[str, float],
    ref: Mapping[str, float],
    slices: Mapping[str, str],
    p: GatePolicy,
) -> list[Check]:
    groups: dict[str, list[str]] = {}
    for user, name in slices.items():
        if user in cand and user in ref:
            groups.setdefault(name, []).append(user)
    checks = []
    for name in sorted(groups):
        users = groups[name]
        delta = float(np.mean([cand[u] - ref[u] for u in users]))
        tolerance = p.slice_tolerances.get(name, p.slice_tolerance)
        ok = delta >= -tolerance
        checks.append(
            Check(
                name=f"slice:{name}",
                measured=delta,
                threshold=-tolerance,
                passed=ok,
                sentence=f"slice {name!r} ({len(users)} users) changes {p.metric} by {delta:+.4f}.",
            )
        )
    return checks


def _sanity(
    recommendations: Mapping[str, Sequence[str]],
    reference_coverage: int | None,
    p: GatePolicy,
) -> list[Check]:
    lists = [tuple(v) for v in recommendations.values()]
    distinct = len(set(lists)) / len(lists) if lists else 0.0
    needed = p.min_distinct_lists_ratio if len(lists) > 1 else 0.0
    checks = [
        Check(
            name="diversity",
            measured=distinct,
            threshold=needed,
            passed=bool(lists) and distinct >= needed and (len(lists) == 1 or len(set(lists)) > 1),
            sentence=f"{len(set(lists))} distinct lists across {len(lists)} users.",
        )
    ]
    coverage = len({i for v in recommendations.values() for i in v})
    if reference_coverage:
        ratio = coverage / reference_coverage
        checks.append(
            Check(
                name="coverage",
                measured=ratio,
                threshold=p.min_coverage_ratio,
                passed=ratio >= p.min_coverage_ratio,
                sentence=(
                    f"candidate recommends {coverage} distinct items, "
                    f"{ratio:.0%} of the reference's {reference_coverage}."
                ),
            )
        )
    return checks


def evaluate_gates(
    candidate: Mapping[str, float],
    baseline: Mapping[str, float],
    policy: GatePolicy | None = None,
    *,
    champion: Mapping[str, float] | None = None,
    slices: Mapping[str, str] | None = None,
    recommendations: Mapping[str, Sequence[str]] | None = None,
    reference_coverage: int | None = None,
) -> GateReport:
    """Run every gate on per-user metrics (user id -> value) and return the report."""
    p = policy or GatePolicy()
    checks = [_vs_baseline(candidate, baseline, p)] if p.beat_baseline else []
    reference = champion if champion is not None else baseline
    if champion is not None:
        checks.append(_vs_champion(candidate, champion, p))
    if slices:
        checks.extend(_slices(candidate, reference, slices, p))
    if recommendations is not None:
        checks.extend(_sanity(recommendations, reference_coverage, p))
    return GateReport.of(checks)
