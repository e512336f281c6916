"""Pure statistics behind the volume gate. PSI and KS live in ``kibble.monitoring.drift``."""

from __future__ import annotations

import numpy as np


def robust_band(
    history: list[int], k: float, min_relative_width: float
) -> tuple[float, float, float]:
    """(low, median, high): median +- max(k * 1.4826 * MAD, relative floor * median)."""
    values = np.asarray(history, dtype=np.float64)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    half = max(k * mad, min_relative_width * median)
    return max(0.0, median - half), median, median + half
