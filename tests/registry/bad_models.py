"""Deliberately good and broken models the probe worker imports by allowlisted name."""

from __future__ import annotations

import time

ITEMS = [f"i{n}" for n in range(50)]
KNOWN = {"alice", "bob", "carol"}


class GoodModel:
    def recommend(self, user_id: str, k: int) -> list[str]:
        start = sum(map(ord, user_id)) % len(ITEMS)
        return (ITEMS[start:] + ITEMS[:start])[:k]


class CrashOnUnknownUser(GoodModel):
    def recommend(self, user_id: str, k: int) -> list[str]:
        if user_id not in KNOWN:
            raise KeyError(user_id)
        return super().recommend(user_id, k)


class DuplicateItems(GoodModel):
    def recommend(self, user_id: str, k: int) -> list[str]:
        return [ITEMS[0]] * k


class SlowModel(GoodModel):
    def recommend(self, user_id: str, k: int) -> list[str]:
        time.sleep(0.08)  # the defect under test: slower than the 50 ms SLA
        return super().recommend(user_id, k)
