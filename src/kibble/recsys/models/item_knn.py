"""Item-item neighbours (implicit's cosine or BM25 similarity over the history)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning

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
from kibble.recsys.models.weighting import confidence


@register
class ItemKNN(Recommender):
    """A user's score for an item: weighted sum of its similarity to the user's history."""

    name = "item_knn"
    defaults: ClassVar[dict[str, Any]] = {"neighbours": 100, "similarity": "bm25", "num_threads": 0}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.similarity: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self._profile: sp.csr_matrix | None = None

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        kind = str(p["similarity"])
        model: CosineRecommender | BM25Recommender
        if kind == "cosine":
            model = CosineRecommender(K=int(p["neighbours"]), num_threads=int(p["num_threads"]))
        elif kind == "bm25":
            model = BM25Recommender(K=int(p["neighbours"]), num_threads=int(p["num_threads"]))
        else:
            raise UsageError(f"unknown similarity {kind!r}", hint="use cosine or bm25")
        with warnings.catch_warnings():
            # implicit's BM25 path hands itself a COO matrix and warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(interactions.matrix, show_progress=False)
        sim = sp.csr_matrix(model.similarity, dtype=np.float32)
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.similarity = sim
        self._profile = None

    def _user_profile(self) -> sp.csr_matrix:
        if self._profile is None:
            self._profile = confidence(self.history, "log", 1.0)
        return self._profile

    def _score(self, rows: IntArray) -> FloatArray:
        scores = self._user_profile()[rows] @ self.similarity
        return np.asarray(scores.toarray(), dtype=np.float32)

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        row = np.asarray(self.similarity[item].toarray(), dtype=np.float32).ravel()
        return row if others is None else row[others]

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, csr_arrays("similarity", self.similarity)

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.similarity = csr_from("similarity", arrays)
        self._profile = None
