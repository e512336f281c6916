"""A/B statistics and off-policy estimators against SciPy and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kibble.errors import UsageError
from kibble.rollouts.analysis import (
    ips,
    min_sample_size,
    msprt_p_value,
    snips,
    two_proportion_test,
)


def test_two_proportion_matches_scipy_normal() -> None:
    r = two_proportion_test(100, 2000, 140, 2000)
    p = 240 / 4000
    z = (0.07 - 0.05) / np.sqrt(p * (1 - p) * (2 / 2000))
    assert r.z == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
    se = np.sqrt(0.05 * 0.95 / 2000 + 0.07 * 0.93 / 2000)
    assert r.ci_low == pytest.approx(0.02 - stats.norm.ppf(0.975) * se, rel=1e-6)
    assert r.ci_low > 0  # significant lift


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 5000), st.floats(0, 1), st.floats(0, 1))
def test_ci_contains_point_estimate(na: int, nb: int, fa: float, fb: float) -> None:
    r = two_proportion_test(int(fa * na), na, int(fb * nb), nb)
    assert r.ci_low <= r.lift <= r.ci_high
    assert 0.0 <= r.p_value <= 1.0


def test_min_sample_size_matches_textbook_value() -> None:
    # 5% -> 6% at alpha 0.05, power 0.8: about 8,150 per arm (standard formula).
    n = min_sample_size(0.05, 0.01)
    assert 8100 <= n <= 8200
    assert min_sample_size(0.05, 0.005) > 3 * n
    with pytest.raises(UsageError):
        min_sample_size(0.0, 0.01)


def test_msprt_false_positive_rate_under_peeking_stays_below_alpha() -> None:
    """A/A test peeked at 50 times: the always-valid p-value rarely crosses 0.05."""
    rng = np.random.default_rng(7)
    crossed_msprt = crossed_naive = 0
    runs = 300
    for _ in range(runs):
        a = rng.random(20_000) < 0.1
        b = rng.random(20_000) < 0.1
        hit_m = hit_n = False
        for n in range(400, 20_001, 400):
            sa, sb = int(a[:n].sum()), int(b[:n].sum())
            hit_m |= msprt_p_value(sa, n, sb, n) < 0.05
            hit_n |= two_proportion_test(sa, n, sb, n).p_value < 0.05
        crossed_msprt += hit_m
        crossed_naive += hit_n
    assert crossed_msprt / runs <= 0.05
    assert crossed_naive / runs > 0.10  # naive peeking inflates errors: the reason for mSPRT


def test_msprt_detects_a_real_effect() -> None:
    assert msprt_p_value(1000, 20_000, 1300, 20_000) < 0.01
    assert msprt_p_value(0, 0, 5, 10) == 1.0


def test_ips_and_snips_recover_target_policy_value() -> None:
    """Logged: uniform over 2 arms; target: always arm 1 (reward rate 0.3 vs 0.1)."""
    rng = np.random.default_rng(3)
    arm = rng.integers(0, 2, 50_000)
    reward = (rng.random(50_000) < np.where(arm == 1, 0.3, 0.1)).astype(float)
    logged = np.full(arm.size, 0.5)
    target = (arm == 1).astype(float)
    assert ips(reward, logged, target) == pytest.approx(0.3, abs=0.01)
    assert snips(reward, logged, target) == pytest.approx(0.3, abs=0.01)


def test_estimators_reject_bad_propensities() -> None:
    with pytest.raises(UsageError, match="propensities"):
        ips([1.0], [0.0], [1.0])
    with pytest.raises(UsageError, match="equal-length"):
        snips([1.0, 0.0], [0.5], [1.0])
