from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kibble.errors import UsageError
from kibble.monitoring.drift import (
    Threshold,
    categorical_drift,
    drift_report,
    ks_sorted,
    numeric_drift,
    psi_from_shares,
)

RNG = np.random.default_rng(7)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    st.lists(st.integers(-5, 5), min_size=1, max_size=60),
)
def test_ks_statistic_equals_scipy_with_ties(a: list[int], b: list[int]) -> None:
    x, y = np.sort(np.array(a, float)), np.sort(np.array(b, float))
    ours, _ = ks_sorted(x, y)
    assert ours == pytest.approx(stats.ks_2samp(a, b, method="asymp").statistic, abs=1e-12)


def test_ks_pvalue_matches_scipy_asymptotic() -> None:
    a, b = RNG.normal(size=4000), RNG.normal(0.06, size=3000)
    result = numeric_drift(a, b)
    reference = stats.ks_2samp(a, b, method="asymp")
    assert result.ks_statistic == pytest.approx(reference.statistic, abs=1e-12)
    assert result.ks_pvalue == pytest.approx(reference.pvalue, rel=0.1)


def test_same_distribution_has_small_psi_and_shift_has_large() -> None:
    reference = RNG.normal(size=50_000)
    same = numeric_drift(reference, RNG.normal(size=50_000))
    shifted = numeric_drift(reference, RNG.normal(0.8, size=50_000))
    assert same.psi < 0.01 and not same.drifted
    assert shifted.psi > 0.2 and shifted.drifted
    assert shifted.js > same.js
    assert shifted.ks_pvalue is not None and shifted.ks_pvalue < 1e-6


def test_psi_matches_textbook_formula() -> None:
    expected = np.array([0.25, 0.25, 0.5])
    actual = np.array([0.5, 0.25, 0.25])
    manual = (0.5 - 0.25) * np.log(0.5 / 0.25) + (0.25 - 0.5) * np.log(0.25 / 0.5)
    assert psi_from_shares(expected, actual) == pytest.approx(manual)


def test_numeric_nulls_are_reported_not_binned() -> None:
    current = np.array([1.0, 2.0, np.nan, np.nan])
    result = numeric_drift(np.array([1.0, 2.0, 3.0, 4.0]), current)
    assert result.null_rate_current == 0.5
    assert result.null_rate_reference == 0.0


def test_categorical_matches_scipy_chi2_and_names_new_categories() -> None:
    ref = pl.Series(["dog"] * 500 + ["puppy"] * 300 + ["senior"] * 200)
    cur = pl.Series(["dog"] * 400 + ["puppy"] * 300 + ["senior"] * 200 + ["cat"] * 100)
    result = categorical_drift(ref, cur, feature="species")
    table = np.array([[500, 300, 200, 0], [400, 300, 200, 100]])
    chi2, pvalue, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.chi2 == pytest.approx(chi2)
    assert result.chi2_pvalue == pytest.approx(pvalue, rel=1e-6, abs=1e-300)
    assert result.new_categories == ["cat"]
    assert result.drifted


def test_report_ranks_features_and_applies_per_feature_thresholds() -> None:
    n = 20_000
    reference = pl.DataFrame(
        {
            "price": RNG.lognormal(3, 0.5, n),
            "quantity": RNG.integers(1, 5, n),
            "category": RNG.choice(["food", "toys", "beds"], n),
            "steady": RNG.normal(size=n),
        }
    )
    current = pl.DataFrame(
        {
            "price": RNG.lognormal(3.6, 0.5, n),
            "quantity": RNG.integers(1, 5, n),
            "category": RNG.choice(["food", "toys", "beds"], n, p=[0.6, 0.3, 0.1]),
            "steady": RNG.normal(size=n),
        }
    )
    report = drift_report(
        reference, current.to_arrow(), thresholds={"steady": Threshold("ks", 0.001)}
    )
    names = [f.feature for f in report.features]
    assert names[0] == "price"
    psis = [f.psi for f in report.features]
    assert psis == sorted(psis, reverse=True)
    assert {f.feature: f.kind for f in report.features}["category"] == "categorical"
    assert set(report.drifted) >= {"price", "category", "steady"}
    assert "quantity" not in report.drifted
    assert report.as_dict()["features"][0]["threshold"] == {"metric": "psi", "value": 0.2}


def test_report_refuses_missing_features() -> None:
    frame = pl.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(UsageError, match="missing"):
        drift_report(frame, frame, features=["a", "b"])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=200),
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=200),
)
def test_measures_stay_in_their_ranges(a: list[float], b: list[float]) -> None:
    result = numeric_drift(np.array(a), np.array(b))
    assert result.psi >= 0
    assert 0 <= result.js <= 1 + 1e-12
    assert result.ks_statistic is not None and 0 <= result.ks_statistic <= 1
    assert result.ks_pvalue is not None and 0 <= result.ks_pvalue <= 1
    same = numeric_drift(np.array(a), np.array(a))
    assert same.psi == pytest.approx(0, abs=1e-12) and same.ks_statistic == 0
