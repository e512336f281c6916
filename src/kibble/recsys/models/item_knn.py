"""Item-item neighbours (implicit's cosine or BM25 similarity over the history).

With ``half_life_days`` both the neighbours and the user's profile are built from
events decayed by age, so a user's latest interests and the latest co-interactions
count most (trends move faster than tastes)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning

from kibble.errors import UsageError
from kibble.recsys.base import register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.neighbourhood import ItemItem
from kibble.recsys.models.weighting import confidence, recent


@register
class ItemKNN(ItemItem):
    """A user's score for an item: weighted sum of its similarity to the user's history."""

    name = "item_knn"
    defaults: ClassVar[dict[str, Any]] = {
        "neighbours": 100,
        "similarity": "bm25",
        "half_life_days": 0.0,
        "num_threads": 0,
    }

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
        matrix = recent(interactions, float(p["half_life_days"]))
        with warnings.catch_warnings():
            # implicit's BM25 path hands itself a COO matrix and warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            model.fit(matrix, show_progress=False)
        sim = sp.csr_matrix(model.similarity, dtype=np.float32)
        sim.setdiag(0)
        sim.eliminate_zeros()
        self.similarity = sim
        self.profile = confidence(matrix, "log", 1.0)

    def profile_from(self, interactions: Interactions) -> sp.csr_matrix:
        return confidence(recent(interactions, float(self._params["half_life_days"])), "log", 1.0)
