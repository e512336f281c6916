"""RP3beta: a three-step random walk user -> item -> user -> item, with the landing
item's popularity divided out (``beta``) so the walk does not always end on bestsellers.

Paudel et al. 2017 / Dacrema et al. 2019: simple, strong on top-N, and a sparse item x
item matrix like item-kNN, built block by block so memory stays bounded.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from kibble.recsys.base import register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.neighbourhood import ItemItem
from kibble.recsys.models.weighting import recent, top_per_row

BLOCK_ITEMS = 2048  # item rows of the walk computed at once


def _power(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    if alpha != 1.0:
        out.data = np.power(out.data, np.float32(alpha))
    return out


@register
class RP3beta(ItemItem):
    """Item x item transition probabilities, popularity-penalised, top ``neighbours``."""

    name = "rp3beta"
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 1.0,
        "beta": 0.5,
        "neighbours": 100,
        "half_life_days": 0.0,
    }

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        matrix = recent(interactions, float(p["half_life_days"]))
        alpha = float(p["alpha"])
        user_item = _power(sp.csr_matrix(normalize(matrix, norm="l1", axis=1)), alpha)
        item_user = _power(sp.csr_matrix(normalize(matrix.T.tocsr(), norm="l1", axis=1)), alpha)
        degree = np.asarray((matrix > 0).sum(axis=0), dtype=np.float32).ravel()
        penalty = np.where(degree > 0, np.power(np.maximum(degree, 1.0), -float(p["beta"])), 0.0)
        scale = sp.diags(penalty.astype(np.float32))
        k = int(p["neighbours"])
        blocks = []
        for start in range(0, item_user.shape[0], BLOCK_ITEMS):
            block = sp.csr_matrix(item_user[start : start + BLOCK_ITEMS] @ user_item @ scale)
            blocks.append(top_per_row(_without_self(block, start), k))
        n_items = len(self.item_ids)
        self.similarity = (
            sp.csr_matrix(sp.vstack(blocks), dtype=np.float32)
            if blocks
            else sp.csr_matrix((n_items, n_items), dtype=np.float32)
        )
        self.profile = user_item

    def profile_from(self, interactions: Interactions) -> sp.csr_matrix:
        matrix = recent(interactions, float(self._params["half_life_days"]))
        return _power(
            sp.csr_matrix(normalize(matrix, norm="l1", axis=1)), float(self._params["alpha"])
        )


def _without_self(block: sp.csr_matrix, start: int) -> sp.csr_matrix:
    """Drop each row's own item (a walk back to where it began says nothing)."""
    coo = block.tocoo()
    keep = coo.col != coo.row + start
    return sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=block.shape, dtype=np.float32
    )
