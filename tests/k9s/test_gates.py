"""Gates of the daily run: each data fault holds with its own reason."""

from __future__ import annotations

import polars as pl

from kibble.k9s import Shop, SimConfig
from kibble.k9s.events import corrupt, day_events
from kibble.k9s.gates import check_partition, psi

CFG = SimConfig(products=300, users=2000, days=3, sessions_per_user=0.5)


def kinds(events: pl.DataFrame | None, previous: list[int]) -> list[str]:
    return [r.kind for r in check_partition(events, known_items=300, previous_volumes=previous)]


def test_clean_day_passes_and_each_fault_has_its_reason() -> None:
    shop = Shop.build(CFG)
    events = day_events(shop, 1)
    usual = [events.height] * 3
    assert kinds(events, usual) == []
    assert kinds(None, usual) == ["data_late"]
    assert kinds(events.head(events.height // 2), usual) == ["data_incomplete"]
    assert kinds(corrupt(events, 1), usual) == ["data_incorrect"]
    assert kinds(events, []) == []  # no history yet: no volume verdict


def test_psi_is_zero_for_the_same_mix_and_large_for_a_new_category() -> None:
    a = pl.Series("s", ["dog"] * 80 + ["puppy"] * 20)
    assert psi(a, a) == 0.0
    b = pl.Series("s", ["dog"] * 50 + ["puppy"] * 10 + ["cat"] * 40)
    assert psi(a, b) > 0.2
