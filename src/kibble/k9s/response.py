"""Ground-truth reaction to a served list: what the user clicks and buys, or abandons.

Slow responses make users leave before looking (so latency incidents cost signals);
positions further down are seen less (1/log2(rank+2)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kibble.k9s.shop import Shop


@dataclass
class Response:
    abandoned: bool
    clicked: list[int] = field(default_factory=list)
    purchased: list[int] = field(default_factory=list)


def abandon_probability(latency_ms: float) -> float:
    """0 under 300 ms, rising to 95% at ~1.7 s."""
    return float(np.clip((latency_ms - 300.0) / 1500.0, 0.0, 0.95))


def respond(
    shop: Shop,
    user_id: int,
    item_ids: list[int],
    *,
    day: int,
    latency_ms: float = 50.0,
    rng: np.random.Generator,
) -> Response:
    """Simulate one user looking at ``item_ids`` served in ``latency_ms``."""
    if rng.random() < abandon_probability(latency_ms):
        return Response(abandoned=True)
    urow = int(user_id) - 1
    if not 0 <= urow < len(shop.users) or not item_ids:
        return Response(abandoned=False)
    ids = np.asarray(item_ids, dtype=np.int64)
    rows = shop.item_rows(ids)
    known = rows >= 0
    ids, rows = ids[known], rows[known]
    if len(rows) == 0:
        return Response(abandoned=False)
    position = 1.0 / np.log2(np.flatnonzero(known) + 2.0)
    p = shop.click_probability(np.full(len(rows), urow), rows, day) * position
    clicked = rng.random(len(rows)) < p
    bought = clicked & (rng.random(len(rows)) < 0.25)
    return Response(
        abandoned=False,
        clicked=[int(i) for i in ids[clicked]],
        purchased=[int(i) for i in ids[bought]],
    )
