"""The shop's customers on the real serving app: they ask for a list, react to what they
were shown and to how long they waited (``k9s.response``), and send their clicks and
purchases through the feedback intake, each naming the answer it refers to.

The app runs in-process (an ASGI transport); customers visit concurrently, so a slow
answer delays its customer, not the whole shop. The driver's clock stamps the answers.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import numpy as np

from kibble.k9s.response import respond
from kibble.k9s.shop import Shop

CONCURRENCY = 64
FEEDBACK_BATCH = 1000  # the intake's largest batch


@dataclass
class Tally:
    """What one group of customers met: answers, clicks, purchases, abandoned visits."""

    visits: int = 0
    clicked: int = 0
    purchases: int = 0
    abandoned: int = 0
    latency_ms: list[float] = field(default_factory=list)

    @property
    def ctr(self) -> float:
        """Visits with at least one click, per visit (the controller's CTR)."""
        return self.clicked / self.visits if self.visits else 0.0

    def to_dict(self) -> dict[str, Any]:
        p99 = float(np.percentile(self.latency_ms, 99)) if self.latency_ms else 0.0
        return {
            "visits": self.visits,
            "clicked": self.clicked,
            "purchases": self.purchases,
            "abandoned": self.abandoned,
            "ctr": round(self.ctr, 4),
            "p99_ms": round(p99, 1),
        }


@dataclass
class Visits:
    """One batch of visits: the feedback to send and the last answer's request id."""

    events: list[dict[str, Any]] = field(default_factory=list)
    last_request: str | None = None


async def _visit(
    http: httpx.AsyncClient,
    shop: Shop,
    day: int,
    user: int,
    when: datetime,
    tallies: dict[str, Tally],
    out: Visits,
) -> None:
    started = time.perf_counter()
    answer = await http.get("/v1/recommendations", params={"user_id": str(user), "k": 10})
    waited = (time.perf_counter() - started) * 1000.0
    answer.raise_for_status()
    body = answer.json()
    items = [int(i["item_id"]) for i in body["items"]]
    rng = np.random.default_rng([shop.config.seed, 7, day, user])
    reaction = respond(shop, user, items, day=day, latency_ms=waited, rng=rng)
    group = "cat owners" if shop.users.cat_owner[user - 1] else "dog owners"
    for tally in (tallies[group], tallies["all"]):
        tally.visits += 1
        tally.clicked += bool(reaction.clicked)
        tally.purchases += bool(reaction.purchased)
        tally.abandoned += reaction.abandoned
        tally.latency_ms.append(waited)
    request = str(body["request_id"])
    out.last_request = request
    for kind, ids in (("click", reaction.clicked), ("purchase", reaction.purchased)):
        out.events += [
            {
                "event_id": f"{request}:{kind}:{item}",
                "user_id": str(user),
                "item_id": str(item),
                "event_type": kind,
                "request_id": request,
                "ts": when.isoformat(),
            }
            for item in ids
        ]


async def visit(
    http: httpx.AsyncClient,
    shop: Shop,
    day: int,
    users: list[int],
    when: datetime,
    tallies: dict[str, Tally],
) -> Visits:
    """``users`` visit at ``when`` (a few at a time), then their feedback is sent."""
    out = Visits()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(user: int) -> None:
        async with gate:
            await _visit(http, shop, day, user, when, tallies, out)

    await asyncio.gather(*(one(u) for u in users))
    for start in range(0, len(out.events), FEEDBACK_BATCH):
        sent = await http.post(
            "/v1/feedback", json={"events": out.events[start : start + FEEDBACK_BATCH]}
        )
        sent.raise_for_status()
    return out


def new_tallies() -> dict[str, Tally]:
    return {"all": Tally(), "cat owners": Tally(), "dog owners": Tally()}
