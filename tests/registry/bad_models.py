"""Deliberately good and broken models the probe worker imports by allowlisted name."""

from __future__ import annotations

import time

from kibble.recsys.base import RecContext

ITEMS = [f"i{n}" for n in range(50)]
KNOWN = {"alice", "bob", "carol"}


class GoodModel:
    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        hidden: set[str | None] = {*context.exclude, context.item_id} if context else set()
        start = sum(map(ord, user_id)) % len(ITEMS)
        ranked = ITEMS[start:] + ITEMS[:start]
        return [i for i in ranked if i not in hidden][:k]


class CrashOnUnknownUser(GoodModel):
    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        if user_id not in KNOWN:
            raise KeyError(user_id)
        return super().recommend(user_id, k, context)


class DuplicateItems(GoodModel):
    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        return [ITEMS[0]] * k


class SlowModel(GoodModel):
    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        time.sleep(0.08)  # the defect under test: slower than the 50 ms SLA
        return super().recommend(user_id, k, context)


class IgnoresContext(GoodModel):
    """Recommends the basket back to the customer: the defect is dropping the context."""

    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        return super().recommend(user_id, k)


class CrashOnUnknownContextItem(GoodModel):
    """Looks the item on screen up without a fallback, as a careless item-to-item model does."""

    def recommend(self, user_id: str, k: int, context: RecContext | None = None) -> list[str]:
        if context is not None and context.item_id is not None:
            ITEMS.index(context.item_id)  # ValueError for an id the catalogue never had
        return super().recommend(user_id, k, context)
