"""Implicit-feedback matrix factorisation (ALS from the ``implicit`` library)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.topk import topk as implicit_topk
from threadpoolctl import threadpool_limits

from kibble.recsys.base import Arrays, FloatArray, IntArray, Recommender, register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence


@register
class ALS(Recommender):
    """User and item factors fitted by alternating least squares on confidences."""

    name = "als"
    defaults: ClassVar[dict[str, Any]] = {
        "factors": 64,
        "regularization": 0.05,
        "alpha": 2.0,
        "iterations": 15,
        "weighting": "log",
        "random_state": 42,
        "num_threads": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.user_factors: FloatArray = np.zeros((0, 0), np.float32)
        self.item_factors: FloatArray = np.zeros((0, 0), np.float32)
        self._unit: FloatArray | None = None

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        weighted = confidence(interactions.matrix, str(p["weighting"]), float(p["alpha"]))
        # implicit runs its own threads; a threaded BLAS underneath would oversubscribe.
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=int(p["factors"]),
                regularization=float(p["regularization"]),
                alpha=1.0,
                iterations=int(p["iterations"]),
                random_state=int(p["random_state"]),
                num_threads=int(p["num_threads"]),
            )
            model.fit(weighted, show_progress=False)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._unit = None

    def _score(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.user_factors[rows] @ self.item_factors.T, dtype=np.float32)

    def _chunk_rows(self) -> int:
        return 65_536  # implicit's top-k batches internally; no dense block is kept

    def _rank_known(
        self, rows: IntArray, k: int, allowed: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, FloatArray]:
        """implicit's own top-k kernel, with our filters passed in."""
        p = self._params
        query_filter = None
        if p["filter_seen"]:
            query_filter = self.history[rows]
        elif p["filter_excluded"] and self.excluded.nnz:
            query_filter = self.excluded[rows]
        banned = np.flatnonzero(~allowed).astype(np.int32)
        ids, scores = implicit_topk(
            self.item_factors,
            self.user_factors[rows],
            k,
            filter_query_items=query_filter,
            filter_items=banned if len(banned) else None,
            num_threads=int(p["num_threads"]),
        )
        ids = np.asarray(ids, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float32)
        # implicit marks filtered cells with -FLT_MAX rather than -inf
        bad = ~np.isfinite(scores) | (ids < 0) | (scores <= np.finfo(np.float32).min / 2)
        ids[bad] = -1
        scores[bad] = -np.inf
        return ids, scores

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        if self._unit is None:
            norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
            self._unit = (self.item_factors / np.maximum(norms, 1e-9)).astype(np.float32)
        targets = self._unit if others is None else self._unit[others]
        return np.asarray(targets @ self._unit[item], dtype=np.float32)

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]
        self._unit = None
