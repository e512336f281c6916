"""Session / sequence-aware candidates: what people touch next after what this user
touched last.

Items are similar when they follow each other closely in users' time-ordered events
(within ``window`` steps, nearer steps count more); a user's profile is their
``recent_items`` latest distinct items, each halved every ``half_life_days`` before the
end of training. So the list follows the user's current mission (a new puppy, a trip to
the beach), not their average over a year.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from kibble.recsys.base import register
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.interactions import SECONDS_PER_DAY, Interactions
from kibble.recsys.models.neighbourhood import ItemItem
from kibble.recsys.models.weighting import MIN_RECENCY, top_per_row


def ordered_events(
    interactions: Interactions,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """(user, item, time) of positive events, by user then time, repeats collapsed."""
    keep = interactions.weights > 0
    users, items, times = interactions.rows[keep], interactions.cols[keep], interactions.times[keep]
    order = np.lexsort((items, times, users))
    users, items, times = users[order], items[order], times[order]
    repeat = np.zeros(len(users), bool)
    repeat[1:] = (users[1:] == users[:-1]) & (items[1:] == items[:-1])
    return users[~repeat], items[~repeat], times[~repeat]


def transitions(
    users: npt.NDArray[np.int64], items: npt.NDArray[np.int64], n_items: int, window: int
) -> sp.csr_matrix:
    """Symmetric co-occurrence of items up to ``window`` steps apart (weight 1/step),
    normalised by the square roots of both items' counts."""
    rows, cols, values = [], [], []
    for step in range(1, max(1, window) + 1):
        same = users[step:] == users[:-step]
        a, b = items[:-step][same], items[step:][same]
        differ = a != b
        rows += [a[differ], b[differ]]
        cols += [b[differ], a[differ]]
        values.append(np.full(2 * int(differ.sum()), 1.0 / step, np.float32))
    counts = np.bincount(items, minlength=n_items).astype(np.float32)
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix(
        (np.concatenate(values), (r, c)), shape=(n_items, n_items), dtype=np.float32
    )
    matrix.sum_duplicates()
    norm = np.sqrt(np.maximum(counts, 1.0))
    scale = sp.diags(1.0 / norm).astype(np.float32)
    return sp.csr_matrix(scale @ matrix @ scale, dtype=np.float32)


def recent_profile(
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    times: npt.NDArray[np.float64],
    shape: tuple[int, int],
    reference_time: float,
    half_life_days: float,
    recent_items: int,
) -> sp.csr_matrix:
    """Each user's ``recent_items`` latest distinct items, weighted by recency."""
    # latest event per (user, item), then the newest first within each user
    order = np.lexsort((-times, items, users))
    users, items, times = users[order], items[order], times[order]
    first = np.ones(len(users), bool)
    first[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    users, items, times = users[first], items[first], times[first]
    order = np.lexsort((-times, users))
    users, items, times = users[order], items[order], times[order]
    starts = np.searchsorted(users, users, side="left")
    rank = np.arange(len(users)) - starts
    keep = rank < recent_items
    age = np.maximum(reference_time - times[keep], 0.0) / SECONDS_PER_DAY
    weight = np.exp2(-age / half_life_days) if half_life_days else np.ones(len(age))
    weight = np.maximum(weight, MIN_RECENCY).astype(np.float32)
    return sp.csr_matrix((weight, (users[keep], items[keep])), shape=shape, dtype=np.float32)


@register
class Sequence(ItemItem):
    """Similarity to the user's most recent items, by what follows what in sessions."""

    name = "sequence"
    defaults: ClassVar[dict[str, Any]] = {
        "window": 3,
        "neighbours": 100,
        "recent_items": 10,
        "half_life_days": 7.0,
    }

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        p = self._params
        users, order_items, times = ordered_events(interactions)
        n_items = len(self.item_ids)
        similarity = transitions(users, order_items, n_items, int(p["window"]))
        self.similarity = top_per_row(similarity, int(p["neighbours"]))
        self.profile = self._recent(users, order_items, times, interactions)

    def profile_from(self, interactions: Interactions) -> sp.csr_matrix:
        return self._recent(*ordered_events(interactions), interactions)

    def _recent(
        self,
        users: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        times: npt.NDArray[np.float64],
        interactions: Interactions,
    ) -> sp.csr_matrix:
        return recent_profile(
            users,
            items,
            times,
            interactions.shape,
            interactions.reference_time,
            float(self._params["half_life_days"]),
            int(self._params["recent_items"]),
        )
