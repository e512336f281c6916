"""Pure statistics for rollouts: A/B tests, sequential tests, off-policy estimates (no I/O).

The two-proportion z-test is valid only at a pre-planned sample size; the mSPRT
p-value stays valid however often a dashboard peeks, so the controller uses it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike

from kibble.errors import UsageError

NORMAL = NormalDist()
"""The standard normal: its ``cdf`` gives p-values, its ``inv_cdf`` critical values."""


@dataclass(frozen=True)
class ABResult:
    """Two-proportion comparison of treatment (b) against control (a)."""

    rate_a: float
    rate_b: float
    lift: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or successes < 0 or successes > trials:
        raise UsageError(
            f"invalid counts: {successes} successes of {trials} trials",
            hint="successes must be between 0 and trials",
        )


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, alpha: float = 0.05
) -> ABResult:
    """Pooled z-test of ``rate_b - rate_a`` with an unpooled (Wald) CI of the absolute lift."""
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        raise UsageError("both arms need trials for a test", hint="wait for traffic on both arms")
    pa, pb = successes_a / trials_a, successes_b / trials_b
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b))
    z = (pb - pa) / se_pooled if se_pooled > 0 else 0.0
    p_value = 2 * (1 - NORMAL.cdf(abs(z)))
    se = math.sqrt(pa * (1 - pa) / trials_a + pb * (1 - pb) / trials_b)
    half = NORMAL.inv_cdf(1 - alpha / 2) * se
    lift = pb - pa
    return ABResult(pa, pb, lift, lift - half, lift + half, z, p_value)


def min_sample_size(
    base_rate: float, min_detectable_lift: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users per arm needed to detect an absolute lift with the given power (two-sided)."""
    if not 0 < base_rate < 1 or min_detectable_lift == 0:
        raise UsageError(
            "base rate must be in (0, 1) and the lift non-zero",
            hint="e.g. base_rate=0.05, min_detectable_lift=0.005",
        )
    p2 = base_rate + min_detectable_lift
    if not 0 < p2 < 1:
        raise UsageError("base rate + lift leaves (0, 1)", hint="use a smaller lift")
    za, zb = NORMAL.inv_cdf(1 - alpha / 2), NORMAL.inv_cdf(power)
    var = base_rate * (1 - base_rate) + p2 * (1 - p2)
    return math.ceil((za + zb) ** 2 * var / min_detectable_lift**2)


def msprt_p_value(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, tau: float = 0.01
) -> float:
    """Always-valid p-value of a mixture SPRT (normal mixture, variance ``tau**2``).

    Uses the normal approximation of the difference in rates; the running minimum over
    peeks is the caller's job (the controller keeps it in the rollout state).
    """
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        return 1.0
    pa, pb = successes_a / trials_a, successes_b / trials_b
    var = pa * (1 - pa) / trials_a + pb * (1 - pb) / trials_b
    if var <= 0:
        return 1.0
    diff = pb - pa
    t2 = tau**2
    log_lr = 0.5 * math.log(var / (var + t2)) + diff**2 * t2 / (2 * var * (var + t2))
    return float(min(1.0, math.exp(-log_lr)))


def ips(rewards: ArrayLike, logged_p: ArrayLike, target_p: ArrayLike) -> float:
    """Inverse propensity estimate of a target policy's mean reward from logged traffic."""
    r, w = _weights(rewards, logged_p, target_p)
    return float(np.mean(r * w))


def snips(rewards: ArrayLike, logged_p: ArrayLike, target_p: ArrayLike) -> float:
    """Self-normalised IPS: lower variance, small bias; 0 when no weight is positive."""
    r, w = _weights(rewards, logged_p, target_p)
    total = float(w.sum())
    return float((r * w).sum() / total) if total > 0 else 0.0


def _weights(
    rewards: ArrayLike, logged_p: ArrayLike, target_p: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rewards, dtype=np.float64)
    lp = np.asarray(logged_p, dtype=np.float64)
    tp = np.asarray(target_p, dtype=np.float64)
    if not (r.shape == lp.shape == tp.shape) or r.ndim != 1 or r.size == 0:
        raise UsageError("rewards and propensities must be equal-length 1-d arrays", hint="")
    if np.any(lp <= 0) or np.any(lp > 1) or np.any(tp < 0) or np.any(tp > 1):
        raise UsageError(
            "propensities must be in (0, 1] (logged) and [0, 1] (target)",
            hint="log the assignment probability of every decision",
        )
    return r, tp / lp
