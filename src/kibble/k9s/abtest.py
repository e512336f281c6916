"""Live A/B between champion and challenger lists, scored by the shop's true response.

``serve`` is any function user -> (recommendations, latency_ms): an HTTP call to
`kibble serve` or an in-process model. Arms are assigned by user id, so a user always
sees one arm.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kibble.k9s.response import respond
from kibble.k9s.shop import Shop
from kibble.recsys.base import Recommendation

Serve = Callable[[int], tuple[list[Recommendation], float]]


@dataclass
class Arm:
    name: str
    impressions: int = 0
    clicks: int = 0
    purchases: int = 0
    abandoned: int = 0

    @property
    def ctr(self) -> float:
        return self.clicks / max(1, self.impressions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.name,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "purchases": self.purchases,
            "abandoned": self.abandoned,
            "ctr": round(self.ctr, 4),
        }


@dataclass
class Traffic:
    """What an A/B served and how users answered, for the monitoring tables and the
    request log. ``prefix`` keeps request ids unique across days."""

    prefix: str = ""
    served: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self, arm: str, user: int, recs: list[Recommendation], latency_ms: float, reaction: Any
    ) -> None:
        request = f"{self.prefix}{arm}-{user}-{len(self.served)}"
        self.served.append(
            {"request_id": request, "arm": arm, "user_id": str(user),
             "items": [r.item_id for r in recs], "explained": [r.to_dict() for r in recs],
             "latency_ms": latency_ms, "status": 200}
        )  # fmt: skip
        for kind, ids in (("click", reaction.clicked), ("purchase", reaction.purchased)):
            self.feedback += [
                {"request_id": request, "item_id": str(i), "event_type": kind} for i in ids
            ]


def ctr_difference(a: Arm, b: Arm, z: float = 1.96) -> tuple[float, float, float]:
    """Challenger minus champion CTR (sessions with >= 1 click) and its 95% interval."""
    n1, n2 = max(1, a.impressions), max(1, b.impressions)
    p1, p2 = a.ctr, b.ctr
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) or 1e-9
    diff = p2 - p1
    return diff, diff - z * se, diff + z * se


def run_ab(
    shop: Shop,
    day: int,
    users: list[int],
    arms: dict[str, Serve],
    *,
    seed: int,
    traffic: Traffic | None = None,
) -> dict[str, Arm]:
    """Each user gets one list from its arm; a click means the session clicked anything."""
    rng = np.random.default_rng([seed, 3, day])
    names = list(arms)
    out = {name: Arm(name) for name in names}
    for user in users:
        name = names[user % len(names)]
        recs, latency = arms[name](user)
        latency += shop.latency_penalty_ms(day)
        items = [int(r.item_id) for r in recs]
        reaction = respond(shop, user, items, day=day, latency_ms=latency, rng=rng)
        if traffic is not None:
            traffic.add(name, user, recs, latency, reaction)
        arm = out[name]
        arm.impressions += 1
        arm.abandoned += reaction.abandoned
        arm.clicks += bool(reaction.clicked)
        arm.purchases += bool(reaction.purchased)
    return out
