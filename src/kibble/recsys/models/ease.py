"""EASE (Steck 2019): a closed-form item x item linear model, B = I - P / diag(P) with
P = (X'X + l2 I)^-1. Often the best top-N model on small catalogues, but it needs a few
dense items x items matrices, so it refuses catalogues whose estimate exceeds
``max_memory_gb`` before allocating anything."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from kibble.errors import UsageError
from kibble.recsys.base import (
    Arrays,
    FloatArray,
    IntArray,
    Recommender,
    csr_arrays,
    csr_from,
    register,
)
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence, recent

BYTES_PER_CELL = 8 + 8 + 8 + 4  # float64 Gram, inverse, scaled copy; float32 weights


def memory_estimate(n_items: int) -> int:
    """Peak bytes EASE needs for ``n_items`` items (the dense matrices it holds at once)."""
    return int(n_items) ** 2 * BYTES_PER_CELL


def check_memory(n_items: int, limit_gb: float) -> None:
    """Refuse before allocating when the catalogue is too large for EASE."""
    need = memory_estimate(n_items)
    if need > limit_gb * 2**30:
        raise UsageError(
            f"EASE on {n_items:,} items needs about {need / 2**30:,.1f} GiB of memory, "
            f"above its {limit_gb:g} GiB limit",
            hint="use rp3beta or item_knn for a catalogue this size, "
            "or raise --param max_memory_gb if the machine has the memory",
        )


@register
class EASE(Recommender):
    """Scores = profile[user] @ B, B the ridge regression of each item on all others."""

    name = "ease"
    defaults: ClassVar[dict[str, Any]] = {
        "l2": 200.0,
        "half_life_days": 0.0,
        "max_memory_gb": 4.0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.weights: FloatArray = np.zeros((0, 0), np.float32)
        self.profile: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        n_items = len(self.item_ids)
        check_memory(n_items, float(p["max_memory_gb"]))
        profile = confidence(recent(interactions, float(p["half_life_days"])), "log", 1.0)
        gram = np.asarray((profile.T @ profile).toarray(), dtype=np.float64)
        gram[np.diag_indices(n_items)] += float(p["l2"])
        inverse = np.linalg.inv(gram)
        del gram
        weights = -inverse / np.diag(inverse)[None, :]
        weights[np.diag_indices(n_items)] = 0.0
        self.weights = weights.astype(np.float32)
        self.profile = profile

    def _score(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.profile[rows] @ self.weights, dtype=np.float32)

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        row = np.asarray(self.weights[item], dtype=np.float32)
        return row if others is None else np.asarray(row[others], dtype=np.float32)

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {"weights": self.weights, **csr_arrays("profile", self.profile)}

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.weights = arrays["weights"]
        self.profile = csr_from("profile", arrays)
