"""The baseline every other model must beat: recently popular items, time-decayed."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from kibble.recsys.base import Arrays, FloatArray, IntArray, Recommender, register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions


@register
class Popularity(Recommender):
    """Sum of event weights per item, halved every ``half_life_days`` (0: no decay)."""

    name = "popularity"
    defaults: ClassVar[dict[str, Any]] = {"half_life_days": 14.0}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.scores: FloatArray = np.zeros(0, np.float32)

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        half_life = float(self._params["half_life_days"]) or None
        totals = interactions.decayed_popularity(half_life)
        self.scores = (totals / max(float(totals.max(initial=0.0)), 1e-12)).astype(np.float32)

    def _score(self, rows: IntArray) -> FloatArray:
        return np.tile(self.scores, (len(rows), 1))

    def _cold_scores(self, context: Any) -> FloatArray:
        if context is not None and context.item_id:
            return super()._cold_scores(context)
        return self.scores + np.float32(1e-12) * self._pop_rank()

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {"scores": self.scores}

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.scores = arrays["scores"]
