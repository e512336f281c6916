"""Turning summed event weights into training confidences (shared by the CF models)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

from kibble.errors import UsageError

WEIGHTINGS = ("log", "linear", "bm25")


def confidence(matrix: sp.csr_matrix, weighting: str, alpha: float) -> sp.csr_matrix:
    """``log``: alpha*log1p(w) tames heavy users and repeat views; ``bm25``: also damps
    popular items; ``linear``: alpha*w as given."""
    if weighting not in WEIGHTINGS:
        raise UsageError(
            f"unknown weighting {weighting!r}", hint=f"choose one of: {', '.join(WEIGHTINGS)}"
        )
    out = matrix.astype(np.float32, copy=True)
    if weighting == "log":
        out.data = np.log1p(out.data)
    elif weighting == "bm25":
        out = sp.csr_matrix(bm25_weight(out, K1=1.2, B=0.75), dtype=np.float32)
    out.data *= np.float32(alpha)
    return out
