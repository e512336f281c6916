"""Approximate top-k by inner product (faiss HNSW), self-checked against exact scoring.

Serving a 100k-item catalogue exactly costs a full matrix-vector product and a
partition per request; a graph index answers in a fraction of that. The index is built
from the factors when a model is loaded for serving (never stored: artifacts stay plain
``.npz``), and it calibrates itself on a sample of real user vectors: it picks the
smallest search breadth whose recall@k against exact top-k reaches the target, or
reports that none does, so callers can fall back to exact scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

TARGET_RECALL = 0.98
CALIBRATION_MARGIN = 0.01  # the sample must beat the target by this much
EF_CHOICES = (32, 64, 128, 256, 512)


@dataclass
class Calibration:
    """What the index measured at build time (printed by the serving bench)."""

    recall: float
    ef_search: int
    queries: int
    k: int


class InnerProductIndex:
    """HNSW over item vectors by inner product; results re-scored exactly.

    ``search`` returns candidates sorted by their exact dot product with the query, so
    the only approximation is which items make the candidate list, never their order.
    """

    def __init__(self, items: FloatArray, *, m: int = 16, ef_construction: int = 80) -> None:
        import faiss

        self.items = np.ascontiguousarray(items, dtype=np.float32)
        self._faiss: Any = faiss
        self._index: Any = faiss.IndexHNSWFlat(self.items.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self._index.hnsw.efConstruction = ef_construction
        self._index.add(self.items)
        self.ef_search = EF_CHOICES[0]
        self.calibration: Calibration | None = None
        self._params: dict[int, Any] = {}  # efSearch -> SearchParametersHNSW, built once

    @property
    def n_items(self) -> int:
        return int(self.items.shape[0])

    def search(self, query: FloatArray, n: int) -> tuple[IntArray, FloatArray]:
        """Up to ``n`` candidate items for one query vector, best exact score first."""
        n = max(1, min(n, self.n_items))
        ef = max(self.ef_search, n)
        params = self._params.get(ef)
        if params is None:
            params = self._faiss.SearchParametersHNSW()
            params.efSearch = ef
            self._params[ef] = params
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        _, found = self._index.search(q, n, params=params)
        ids = found[0]
        if ids[-1] < 0:  # fewer than n reachable
            ids = ids[ids >= 0]
        ids = ids.astype(np.int64)
        scores = self.items[ids] @ q[0]
        order = np.argsort(-scores, kind="stable")
        return ids[order], scores[order]

    def calibrate(
        self,
        queries: FloatArray,
        k: int = 10,
        target: float = TARGET_RECALL,
        margin: float = CALIBRATION_MARGIN,
    ) -> Calibration:
        """Smallest ``efSearch`` whose recall@k on ``queries`` reaches ``target + margin``.

        When no choice does, the widest is kept and the returned recall is below target:
        the caller decides (the model then serves exactly).
        """
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        exact = exact_topk(self.items, queries, k)
        result = Calibration(0.0, EF_CHOICES[-1], len(queries), k)
        for ef in EF_CHOICES:
            self.ef_search = ef
            found = [self.search(q, candidate_count(k))[0][:k] for q in queries]
            recall = recall_at_k(found, exact)
            result = Calibration(recall, ef, len(queries), k)
            if recall >= min(1.0, target + margin):
                break
        self.calibration = result
        return result


def candidate_count(k: int, extra: int = 0, allowed_share: float = 1.0) -> int:
    """How many candidates to ask for so ``k`` survive ``extra`` banned items and filters
    that keep ``allowed_share`` of the catalogue (twice the expected need, plus slack)."""
    share = max(allowed_share, 1e-9)
    return math.ceil(2.0 * (k + extra) / share) + k


def exact_topk(items: FloatArray, queries: FloatArray, k: int) -> list[IntArray]:
    """Exact top-k item positions per query by inner product (the recall reference)."""
    scores = queries @ items.T
    k = min(k, items.shape[0])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return [row.astype(np.int64) for row in np.take_along_axis(part, order, axis=1)]


def recall_at_k(found: list[IntArray], exact: list[IntArray]) -> float:
    """Mean share of each exact top-k list that ``found`` also returned."""
    if not exact:
        return 1.0
    hits = [
        len(set(f.tolist()) & set(e.tolist())) / max(1, len(e))
        for f, e in zip(found, exact, strict=True)
    ]
    return float(np.mean(hits))
