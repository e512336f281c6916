"""Drift measures between a reference window and a current window. Pure and vectorised.

The one home of PSI and KS in kibble: the data checks (``kibble.checks``) import them from
here, so a gate and a monitor report the same number for the same data.

Numeric features: PSI over quantile bins taken from the reference, the two-sample
Kolmogorov-Smirnov statistic (exact, from one merge of the two sorted samples) with its
asymptotic p-value, and Jensen-Shannon distance over the same bins. Categorical features:
PSI, Jensen-Shannon distance and a chi-square test over the category counts; categories
never seen in the reference (a new species in the catalogue) are named in the result.

No per-row Python: sorting, counting and merging run in numpy / Polars, and features are
measured in a small thread pool (numpy and Polars release the GIL while they work).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
from scipy import special

from kibble.errors import UsageError

Kind = Literal["numeric", "categorical"]
Metric = Literal["psi", "ks", "js", "chi2_p"]
FloatArray = npt.NDArray[np.float64]

EPSILON = 1e-4
"""Floor for a bin's share, so an empty bin gives a large but finite PSI."""


@dataclass(frozen=True)
class Threshold:
    """When a feature counts as drifted: ``metric`` above ``value`` (below for ``chi2_p``)."""

    metric: Metric = "psi"
    value: float = 0.2

    def breached(self, result: FeatureDrift) -> bool:
        if self.metric == "psi":
            return result.psi > self.value
        if self.metric == "js":
            return result.js > self.value
        if self.metric == "ks":
            return result.ks_statistic is not None and result.ks_statistic > self.value
        return result.chi2_pvalue is not None and result.chi2_pvalue < self.value


DEFAULT_THRESHOLD = Threshold()


@dataclass
class FeatureDrift:
    feature: str
    kind: Kind
    psi: float
    js: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2: float | None = None
    chi2_pvalue: float | None = None
    null_rate_reference: float = 0.0
    null_rate_current: float = 0.0
    new_categories: list[str] = field(default_factory=list)
    threshold: Threshold = DEFAULT_THRESHOLD
    drifted: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["threshold"] = {"metric": self.threshold.metric, "value": self.threshold.value}
        return data


@dataclass
class DriftReport:
    """Features ranked by movement (PSI, largest first); ``drifted`` names the breaches."""

    features: list[FeatureDrift]
    reference_rows: int
    current_rows: int

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    def top(self, n: int = 5) -> list[FeatureDrift]:
        return self.features[:n]

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "drifted": self.drifted,
            "features": [f.as_dict() for f in self.features],
        }


# ----------------------------------------------------------------------------- numeric


def _finite_sorted(values: FloatArray) -> FloatArray:
    values = values[~np.isnan(values)]
    return np.sort(values, kind="quicksort")


def quantile_edges(sorted_reference: FloatArray, bins: int = 10) -> FloatArray:
    """Inner bin edges at the reference's quantiles (duplicates dropped for discrete data)."""
    n = sorted_reference.size
    if n == 0:
        return np.empty(0)
    positions = (np.arange(1, bins) * (n - 1)) // bins
    return np.unique(sorted_reference[positions])


def _bin_shares(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """Share of values in (-inf, e1], (e1, e2], ..., (ek, inf), from a sorted sample."""
    if sorted_values.size == 0:
        return np.zeros(edges.size + 1)
    cuts = np.searchsorted(sorted_values, edges, side="right")
    counts = np.diff(np.concatenate(([0], cuts, [sorted_values.size])))
    return counts / sorted_values.size


def psi_from_shares(expected: FloatArray, actual: FloatArray) -> float:
    """Population stability index: sum((a - e) * ln(a / e)) with empty bins floored."""
    e = np.clip(expected, EPSILON, None)
    a = np.clip(actual, EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def js_from_shares(p: FloatArray, q: FloatArray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two discrete distributions."""
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    m = (p + q) / 2

    def _kl(x: FloatArray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    divergence = max((_kl(p) + _kl(q)) / 2, 0.0)
    return math.sqrt(divergence)


def ks_sorted(sorted_a: FloatArray, sorted_b: FloatArray) -> tuple[float, float]:
    """Exact two-sample KS statistic from two sorted samples, asymptotic two-sided p-value.

    The statistic is the largest gap between the two empirical CDFs. Concatenating the
    sorted samples and stable-sorting merges two runs in linear time; the gap is read only
    where the merged value changes, so ties are handled exactly like scipy's ``ks_2samp``.
    """
    n1, n2 = sorted_a.size, sorted_b.size
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    merged = np.concatenate((sorted_a, sorted_b))
    order = np.argsort(merged, kind="stable")
    from_a = order < n1
    values = merged[order]
    cdf_a = np.cumsum(from_a) / n1
    cdf_b = np.cumsum(~from_a) / n2
    last_of_tie = np.empty(values.size, dtype=bool)
    last_of_tie[:-1] = values[1:] != values[:-1]
    last_of_tie[-1] = True
    statistic = float(np.max(np.abs(cdf_a[last_of_tie] - cdf_b[last_of_tie])))
    effective_n = n1 * n2 / (n1 + n2)
    pvalue = float(special.kolmogorov(math.sqrt(effective_n) * statistic))
    return statistic, min(max(pvalue, 0.0), 1.0)


def numeric_psi(reference: FloatArray, current: FloatArray, bins: int = 10) -> float:
    """PSI over the reference's quantile bins (NaNs dropped): the one PSI kibble reports."""
    ref = _finite_sorted(np.asarray(reference, dtype=np.float64))
    cur = _finite_sorted(np.asarray(current, dtype=np.float64))
    edges = quantile_edges(ref, bins)
    return psi_from_shares(_bin_shares(ref, edges), _bin_shares(cur, edges))


def ks_statistic(reference: FloatArray, current: FloatArray) -> float:
    """Two-sample Kolmogorov-Smirnov D between two unsorted samples (NaNs dropped)."""
    ref = _finite_sorted(np.asarray(reference, dtype=np.float64))
    cur = _finite_sorted(np.asarray(current, dtype=np.float64))
    return ks_sorted(ref, cur)[0]


def numeric_drift(
    reference: FloatArray,
    current: FloatArray,
    *,
    feature: str = "value",
    bins: int = 10,
    threshold: Threshold = DEFAULT_THRESHOLD,
) -> FeatureDrift:
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    ref_sorted, cur_sorted = _finite_sorted(ref), _finite_sorted(cur)
    edges = quantile_edges(ref_sorted, bins)
    expected, actual = _bin_shares(ref_sorted, edges), _bin_shares(cur_sorted, edges)
    ks_stat, ks_p = ks_sorted(ref_sorted, cur_sorted)
    result = FeatureDrift(
        feature=feature,
        kind="numeric",
        psi=psi_from_shares(expected, actual),
        js=js_from_shares(expected, actual),
        ks_statistic=ks_stat,
        ks_pvalue=ks_p,
        null_rate_reference=_null_rate(ref.size, ref_sorted.size),
        null_rate_current=_null_rate(cur.size, cur_sorted.size),
        threshold=threshold,
    )
    result.drifted = threshold.breached(result)
    return result


def _null_rate(total: int, kept: int) -> float:
    return (total - kept) / total if total else 0.0


# ------------------------------------------------------------------------- categorical


def categorical_drift(
    reference: pl.Series,
    current: pl.Series,
    *,
    feature: str = "value",
    threshold: Threshold = DEFAULT_THRESHOLD,
    max_new_listed: int = 10,
) -> FeatureDrift:
    """PSI, JS and chi-square over category counts; nulls are reported, not counted."""
    ref_counts = _counts(reference, "ref")
    cur_counts = _counts(current, "cur")
    joined = ref_counts.join(cur_counts, on="category", how="full", coalesce=True).fill_null(0)
    ref_n = joined["ref"].to_numpy().astype(np.float64)
    cur_n = joined["cur"].to_numpy().astype(np.float64)
    expected, actual = _shares(ref_n), _shares(cur_n)
    chi2, chi2_p = chi_square(ref_n, cur_n)
    new = joined.filter((pl.col("ref") == 0) & (pl.col("cur") > 0)).sort("cur", descending=True)
    result = FeatureDrift(
        feature=feature,
        kind="categorical",
        psi=psi_from_shares(expected, actual),
        js=js_from_shares(expected, actual),
        chi2=chi2,
        chi2_pvalue=chi2_p,
        null_rate_reference=_series_null_rate(reference),
        null_rate_current=_series_null_rate(current),
        new_categories=[str(v) for v in new["category"].head(max_new_listed).to_list()],
        threshold=threshold,
    )
    result.drifted = threshold.breached(result)
    return result


def categorical_psi(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """PSI over category counts; a category missing on one side counts as an empty bin."""
    keys = sorted(set(reference) | set(current))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    return psi_from_shares(_shares(ref), _shares(cur))


def _shares(counts: FloatArray) -> FloatArray:
    total = counts.sum()
    return counts / total if total else counts


def _counts(series: pl.Series, name: str) -> pl.DataFrame:
    values = series.drop_nulls()
    if values.dtype != pl.String:
        values = values.cast(pl.String)
    counts = values.rename("category").value_counts(name=name)
    return counts.with_columns(pl.col(name).cast(pl.Int64))


def _series_null_rate(series: pl.Series) -> float:
    return series.null_count() / series.len() if series.len() else 0.0


def chi_square(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float]:
    """Chi-square test of homogeneity on a 2 x k table (categories seen on either side)."""
    keep = (ref_counts + cur_counts) > 0
    table = np.vstack((ref_counts[keep], cur_counts[keep]))
    total = table.sum()
    if total == 0 or table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, float(special.chdtrc(dof, statistic))


# ------------------------------------------------------------------------------ report


def _as_frame(data: pl.DataFrame | pa.Table) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    frame = pl.from_arrow(data)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table always gives a frame
        raise UsageError("expected a table", hint="pass a polars DataFrame or a pyarrow Table")
    return frame


def infer_kind(dtype: pl.DataType) -> Kind:
    """Numbers, dates and times are numeric (ordered); strings, booleans, enums are not."""
    if dtype == pl.Boolean:
        return "categorical"
    return "numeric" if dtype.is_numeric() or dtype.is_temporal() else "categorical"


def _floats(series: pl.Series) -> FloatArray:
    values = series.to_physical().cast(pl.Float64).fill_nan(None).fill_null(np.nan)
    return values.to_numpy()


def drift_report(
    reference: pl.DataFrame | pa.Table,
    current: pl.DataFrame | pa.Table,
    *,
    features: Sequence[str] | None = None,
    kinds: Mapping[str, Kind] | None = None,
    thresholds: Mapping[str, Threshold] | None = None,
    default_threshold: Threshold = DEFAULT_THRESHOLD,
    bins: int = 10,
    workers: int = 4,
) -> DriftReport:
    """Measure every feature and rank them by PSI. Kinds are inferred from dtypes.

    ``thresholds`` sets a rule per feature (e.g. ``{"price": Threshold("ks", 0.1)}``);
    the rest use ``default_threshold`` (PSI > 0.2, the usual "significant shift").
    """
    ref, cur = _as_frame(reference), _as_frame(current)
    names = list(features) if features is not None else list(ref.columns)
    missing = [n for n in names if n not in ref.columns or n not in cur.columns]
    if missing:
        raise UsageError(
            f"features missing from the reference or current data: {', '.join(missing)}",
            hint="pass features= with columns present in both frames",
        )
    kinds = dict(kinds or {})
    thresholds = dict(thresholds or {})

    def measure(name: str) -> FeatureDrift:
        kind = kinds.get(name) or infer_kind(ref.schema[name])
        threshold = thresholds.get(name, default_threshold)
        if kind == "numeric":
            return numeric_drift(
                _floats(ref[name]),
                _floats(cur[name]),
                feature=name,
                bins=bins,
                threshold=threshold,
            )
        return categorical_drift(ref[name], cur[name], feature=name, threshold=threshold)

    if workers > 1 and len(names) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(measure, names))
    else:
        results = [measure(n) for n in names]
    results.sort(key=lambda r: r.psi, reverse=True)
    return DriftReport(features=results, reference_rows=ref.height, current_rows=cur.height)
