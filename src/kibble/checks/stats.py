"""Pure statistics behind the gates: a robust volume band, PSI and the KS statistic."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
EPS = 1e-4


def robust_band(
    history: list[int], k: float, min_relative_width: float
) -> tuple[float, float, float]:
    """(low, median, high): median +- max(k * 1.4826 * MAD, relative floor * median)."""
    values = np.asarray(history, dtype=np.float64)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    half = max(k * mad, min_relative_width * median)
    return max(0.0, median - half), median, median + half


def psi_from_shares(expected: FloatArray, actual: FloatArray) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.clip(expected, EPS, None)
    a = np.clip(actual, EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def categorical_psi(reference: dict[str, int], current: dict[str, int]) -> float:
    keys = sorted(set(reference) | set(current))
    ref = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    cur = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    return psi_from_shares(ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0))


def numeric_psi(reference: FloatArray, current: FloatArray, bins: int) -> float:
    """PSI over quantile bins of the reference (ties collapse into fewer bins)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    return psi_from_shares(ref / max(ref.sum(), 1), cur / max(cur.sum(), 1))


def ks_statistic(reference: FloatArray, current: FloatArray) -> float:
    """Two-sample Kolmogorov-Smirnov D: the largest gap between the two ECDFs."""
    a, b = np.sort(reference), np.sort(current)
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / max(len(a), 1)
    cdf_b = np.searchsorted(b, grid, side="right") / max(len(b), 1)
    return float(np.max(np.abs(cdf_a - cdf_b))) if len(grid) else 0.0
