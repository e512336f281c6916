"""Implicit-feedback matrix factorisation (ALS from the ``implicit`` library).

``half_life_days`` decays each event's confidence by its age before fitting, so the
factors follow what users do now rather than what they did a season ago."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.topk import topk as implicit_topk
from threadpoolctl import threadpool_limits

from kibble.recsys.ann import TARGET_RECALL, Calibration, InnerProductIndex, candidate_count
from kibble.recsys.base import Arrays, FloatArray, IntArray, Recommender, register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence, recent

INDEX_MAX_ROWS = 8  # requests this small use the index; offline batches score exactly
MAX_CANDIDATES = 1024  # beyond this many candidates an exact pass is as cheap
CALIBRATION_USERS = 512


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
        "half_life_days": 0.0,
        "random_state": 42,
        "num_threads": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.user_factors: FloatArray = np.zeros((0, 0), np.float32)
        self.item_factors: FloatArray = np.zeros((0, 0), np.float32)
        self._unit: FloatArray | None = None
        self._index: InnerProductIndex | None = None
        self._calibration: Calibration | None = None
        self.warm_start: tuple[FloatArray, FloatArray] | None = None

    @property
    def index_calibration(self) -> Calibration | None:
        return self._calibration

    def _prepare_serving(self, index: bool) -> None:
        """Unit vectors for explanations; an HNSW index kept only if its measured
        recall@10 on real user vectors reaches the target (else serving stays exact)."""
        self._unit_vectors()
        self._index, self._calibration = None, None
        if not index or len(self.user_factors) == 0 or len(self.item_factors) == 0:
            return
        built = InnerProductIndex(self.item_factors)
        active = np.flatnonzero(np.diff(self.history.indptr) > 0)
        pool = active if len(active) else np.arange(len(self.user_factors))
        rng = np.random.default_rng(0)
        sample = rng.choice(pool, min(CALIBRATION_USERS, len(pool)), replace=False)
        self._calibration = built.calibrate(self.user_factors[np.sort(sample)], k=10)
        if self._calibration.recall >= TARGET_RECALL:
            self._index = built

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        matrix = recent(interactions, float(p["half_life_days"]))
        weighted = confidence(matrix, str(p["weighting"]), float(p["alpha"]))
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
            start = self.warm_start
            factors = int(p["factors"])
            shapes = ((weighted.shape[0], factors), (weighted.shape[1], factors))
            if start is not None and (start[0].shape, start[1].shape) == shapes:
                # continue from earlier factors (a refit on a little more data)
                model.user_factors, model.item_factors = start[0].copy(), start[1].copy()
            model.fit(weighted, show_progress=False)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._unit = None
        self._index, self._calibration = None, None

    def _score(self, rows: IntArray) -> FloatArray:
        return np.asarray(self.user_factors[rows] @ self.item_factors.T, dtype=np.float32)

    def _chunk_rows(self) -> int:
        return 65_536  # implicit's top-k batches internally; no dense block is kept

    def _rank_known(
        self, rows: IntArray, k: int, allowed: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, FloatArray]:
        """The index for a few users (a live request), exact scoring for batches."""
        if self._index is not None and len(rows) <= INDEX_MAX_ROWS:
            return self._rank_indexed(self._index, rows, k, allowed)
        return self._rank_exact(rows, k, allowed)

    def _banned(self, row: int) -> IntArray:
        """Items this user must not see (the same rule ``_rank_exact`` passes implicit)."""
        p = self._params
        matrix = self.history if p["filter_seen"] else self.excluded
        if not (p["filter_seen"] or p["filter_excluded"]) or matrix.nnz == 0:
            return np.zeros(0, np.int64)
        return np.asarray(matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]], np.int64)

    def _rank_indexed(
        self, index: InnerProductIndex, rows: IntArray, k: int, allowed: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, FloatArray]:
        """Ask the index for enough candidates to survive the filters, filter them, and
        score exactly any user for whom fewer than ``k`` survive."""
        ids_out = np.full((len(rows), k), -1, dtype=np.int64)
        scores_out = np.full((len(rows), k), -np.inf, dtype=np.float32)
        share = np.count_nonzero(allowed) / max(1, len(allowed))
        exact: list[int] = []
        for position, row in enumerate(rows.tolist()):
            banned = self._banned(row)
            n = candidate_count(k, len(banned), share)
            if n > MAX_CANDIDATES:
                exact.append(position)
                continue
            ids, scores = index.search(self.user_factors[row], n)
            keep = allowed[ids]
            if len(banned):
                keep &= ~np.isin(ids, banned)
            ids, scores = ids[keep][:k], scores[keep][:k]
            if len(ids) < k:
                exact.append(position)
                continue
            ids_out[position], scores_out[position] = ids, scores
        if exact:
            where = np.asarray(exact, dtype=np.int64)
            ids_out[where], scores_out[where] = self._rank_exact(rows[where], k, allowed)
        return ids_out, scores_out

    def _rank_exact(
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

    def _unit_vectors(self) -> FloatArray:
        if self._unit is None:
            norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
            self._unit = (self.item_factors / np.maximum(norms, 1e-9)).astype(np.float32)
        return self._unit

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        unit = self._unit_vectors()
        targets = unit if others is None else unit[others]
        return np.asarray(targets @ unit[item], dtype=np.float32)

    def _similarities(self, items: IntArray, others: IntArray) -> FloatArray:
        unit = self._unit_vectors()
        return np.asarray(unit[items] @ unit[others].T, dtype=np.float32)

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.user_factors = arrays["user_factors"]
        self.item_factors = arrays["item_factors"]
        self._unit = None
        self._index, self._calibration = None, None
