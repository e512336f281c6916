"""Collaborative filtering blended with content, per user and per item.

The CF share of a score is ``user_trust * item_trust``: both grow with the number of
interactions (``n / (n + shrink)``), so light users and new or seasonal items lean on
content. Items whose seasonal window just opened get a push in proportion to their
content match with the user (they have no history yet to earn one).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np

from kibble.recsys.base import (
    Arrays,
    FloatArray,
    IntArray,
    Recommender,
    create_model,
    model_from_state,
    model_state,
    register,
)
from kibble.recsys.catalog import ItemCatalog, entering_season
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.content import Content


def _standardise(scores: FloatArray) -> FloatArray:
    """Per-row z-scores so CF and content scales can be added."""
    mean = scores.mean(axis=1, keepdims=True)
    std = scores.std(axis=1, keepdims=True)
    return np.asarray((scores - mean) / np.maximum(std, 1e-9), dtype=np.float32)


@register
class Hybrid(Recommender):
    """CF (``cf``: als or item_knn) + content + a little recent popularity."""

    name = "hybrid"
    defaults: ClassVar[dict[str, Any]] = {
        "cf": "item_knn",
        "cf_params": {},
        "user_shrink": 5.0,
        "item_shrink": 5.0,
        "popularity_weight": 0.1,
        "season_boost": 1.0,
        "season_boost_days": 21,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.cf: Recommender | None = None
        self.content: Content | None = None
        self.item_trust: FloatArray = np.zeros(0, np.float32)
        self._log_pop: FloatArray | None = None

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        cf = create_model(str(self._params["cf"]), **dict(self._params["cf_params"]))
        content = Content()
        for part in (cf, content):
            part.copy_common_from(self)
            part._fit(interactions, items)
            part._fitted = True
        self.cf, self.content = cf, content
        self._set_trust()

    def _set_trust(self) -> None:
        counts = np.diff(self.history.tocsc().indptr).astype(np.float32)
        shrink = float(self._params["item_shrink"])
        self.item_trust = (counts / (counts + shrink)).astype(np.float32)
        pop = np.log1p(self.popularity)
        self._log_pop = ((pop - pop.mean()) / max(float(pop.std()), 1e-9)).astype(np.float32)

    def _parts(self) -> tuple[Recommender, Content]:
        if self.cf is None or self.content is None:
            self._require_fitted()
            raise RuntimeError("hybrid components missing")
        return self.cf, self.content

    def _score(self, rows: IntArray) -> FloatArray:
        cf, content = self._parts()
        cf_scores = _standardise(cf._score(rows))
        content_scores = _standardise(content._score(rows))
        n_seen = np.diff(self.history.indptr)[rows].astype(np.float32)
        user_trust = n_seen / (n_seen + float(self._params["user_shrink"]))
        share = user_trust[:, None] * self.item_trust[None, :]
        scores = share * cf_scores + (1.0 - share) * content_scores
        if self._log_pop is not None:
            scores += float(self._params["popularity_weight"]) * self._log_pop[None, :]
        boost = float(self._params["season_boost"])
        if boost:
            today = datetime.fromtimestamp(self.reference_time or 0, UTC).date()
            fresh = entering_season(
                self.season_start, today, int(self._params["season_boost_days"])
            )
            if fresh.any():
                scores[:, fresh] += boost * np.maximum(content_scores[:, fresh], 0.0)
        return np.asarray(scores, dtype=np.float32)

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray:
        cf, content = self._parts()
        by_content = content._similarity(item, others)
        by_cf = cf._similarity(item, others)
        if by_cf is None:
            return by_content
        trust = float(self.item_trust[item])
        return (trust * by_cf + (1.0 - trust) * by_content).astype(np.float32)

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        cf, content = self._parts()
        arrays: Arrays = {"item_trust": self.item_trust}
        state: dict[str, Any] = {}
        for key, part in (("cf", cf), ("content", content)):
            meta, part_arrays = model_state(part)
            state[key] = meta
            arrays.update({f"{key}/{name}": value for name, value in part_arrays.items()})
        return state, arrays

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        parts = {}
        for key in ("cf", "content"):
            prefix = f"{key}/"
            own = {n[len(prefix) :]: v for n, v in arrays.items() if n.startswith(prefix)}
            parts[key] = model_from_state(state[key], own, self)
        self.cf = parts["cf"]
        content = parts["content"]
        assert isinstance(content, Content)
        self.content = content
        self._set_trust()
