"""The gate's offline evidence: every model on the same held-out users, and the reference
models (baseline, champion) scored once per holdout however many candidates are judged."""

from __future__ import annotations

from kibble.recsys import Interactions
from kibble.recsys.base import Recommender, create_model
from kibble.registry.offline import evidence
from tests.recsys.conftest import Shop


def test_references_are_scored_once_per_holdout(shop: Shop) -> None:
    train = Interactions.from_events(shop.events)
    champion = create_model("item_knn").fit(train)
    loads: list[str] = []

    def load_champion() -> Recommender:
        loads.append("champion")
        return champion

    keys = {"champion": "sha256:champ|events@3"}
    judged = [
        evidence(
            create_model(name).fit(train),
            shop.events,
            metric_name="ndcg@10",
            champion=load_champion,
            reference_keys=keys,
            max_users=40,
        )
        for name in ("als", "popularity")
    ]
    assert loads == ["champion"]  # the second candidate reused its scores
    first, second = judged
    assert first.champion == second.champion and first.champion
    assert set(first.candidate) == set(first.champion) == set(second.candidate)
    assert len(first.candidate) <= 40
    # another table version is another holdout: scored afresh
    evidence(
        create_model("popularity").fit(train),
        shop.events,
        metric_name="ndcg@10",
        champion=load_champion,
        reference_keys={"champion": "sha256:champ|events@4"},
        max_users=40,
    )
    assert loads == ["champion", "champion"]
