"""What item-item models share: a user's profile (weighted items) times an item x item
similarity. ``item_knn``, ``rp3beta`` and ``sequence`` differ only in how they build the
two; scoring, explanations and the saved form are the same."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from kibble.recsys.base import Arrays, FloatArray, IntArray, Recommender, csr_arrays, csr_from
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence


class ItemItem(Recommender):
    """Scores = profile[user] @ similarity; subclasses set both in ``_fit``.

    ``profile_from`` rebuilds only the (cheap) profiles from newer interactions over the
    same ids, keeping the (expensive) similarity: the hybrid's fast refit."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.similarity: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.profile: sp.csr_matrix | None = None

    def profile_from(self, interactions: Interactions) -> sp.csr_matrix:
        """User profiles from ``interactions`` (log-damped weights unless overridden)."""
        return confidence(interactions.matrix, "log", 1.0)

    def _profiles(self) -> sp.csr_matrix:
        """The stored profile, else log-damped history (what older artifacts relied on)."""
        if self.profile is None:
            self.profile = confidence(self.history, "log", 1.0)
        return self.profile

    def _score(self, rows: IntArray) -> FloatArray:
        scores = self._profiles()[rows] @ self.similarity
        return np.asarray(scores.toarray(), dtype=np.float32)

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        row = np.asarray(self.similarity[item].toarray(), dtype=np.float32).ravel()
        return row if others is None else row[others]

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {
            **csr_arrays("similarity", self.similarity),
            **csr_arrays("profile", self._profiles()),
        }

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.similarity = csr_from("similarity", arrays)
        self.profile = csr_from("profile", arrays) if "profile.shape" in arrays else None
