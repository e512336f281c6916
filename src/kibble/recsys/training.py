"""The training path as one call: events table -> matrix -> fit -> saved ``.npz`` blob.

The CLI, the K9s daily pipeline and the benchmark all go through here, so what is timed
is what runs in production.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kibble.recsys.base import Recommender, create_model, save_model
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import Interactions


@dataclass
class TrainResult:
    model: Recommender
    blob: bytes
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "params": self.model.params,
            "users": len(self.model.user_ids),
            "items": len(self.model.item_ids),
            "interactions": int(self.model.history.nnz),
            "bytes": len(self.blob),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def train(
    events: Any,
    *,
    model: str = "als",
    params: Mapping[str, Any] | None = None,
    items: ItemCatalog | None = None,
    interaction_options: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Fit ``model`` on an events table (or ready ``Interactions``) and serialise it."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    if isinstance(events, Interactions):
        interactions = events
    else:
        interactions = Interactions.from_events(events, **dict(interaction_options or {}))
    seconds["matrix"] = time.perf_counter() - start
    start = time.perf_counter()
    fitted = create_model(model, **dict(params or {})).fit(interactions, items)
    seconds["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    blob = save_model(fitted)
    seconds["save"] = time.perf_counter() - start
    return TrainResult(fitted, blob, seconds)
