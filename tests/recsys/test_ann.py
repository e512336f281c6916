"""The approximate index and the serving-prepared models: recall against exact top-k,
filters on the candidates, and the fall back to exact scoring when too few survive."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kibble.recsys import RecContext, Recommender, create_model, load_model, save_model
from kibble.recsys.ann import (
    TARGET_RECALL,
    InnerProductIndex,
    candidate_count,
    exact_topk,
    recall_at_k,
)
from kibble.recsys.models.als import ALS
from tests.recsys.conftest import TODAY, Shop

SMALL = {"als": {"factors": 8, "iterations": 5}}


def _random_factors(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    items = rng.normal(size=(3000, 16)).astype(np.float32)
    items *= rng.lognormal(0, 0.5, size=(3000, 1)).astype(np.float32)  # uneven norms
    queries = rng.normal(size=(200, 16)).astype(np.float32)
    return items, queries


def test_index_recall_against_exact_topk_on_a_random_model() -> None:
    items, queries = _random_factors()
    index = InnerProductIndex(items)
    calibration = index.calibrate(queries[:100], k=10)
    assert calibration.recall >= TARGET_RECALL
    # held-out queries, measured independently of the calibration
    found = [index.search(q, candidate_count(10))[0][:10] for q in queries[100:]]
    assert recall_at_k(found, exact_topk(items, queries[100:], 10)) >= TARGET_RECALL


def test_search_orders_candidates_by_their_exact_score() -> None:
    items, queries = _random_factors(1)
    index = InnerProductIndex(items)
    ids, scores = index.search(queries[0], 40)
    assert len(ids) == 40 and len(set(ids.tolist())) == 40
    np.testing.assert_allclose(scores, items[ids] @ queries[0], rtol=1e-5)
    assert np.all(np.diff(scores) <= 0)


def test_candidate_count_grows_with_banned_items_and_narrow_filters() -> None:
    base = candidate_count(10)
    assert base >= 2 * 10
    assert candidate_count(10, extra=50) > base
    assert candidate_count(10, allowed_share=0.1) > candidate_count(10, allowed_share=0.5)


def test_recall_at_k_counts_shared_items() -> None:
    exact = [np.array([1, 2, 3, 4])]
    assert recall_at_k([np.array([4, 3, 9, 8])], exact) == 0.5
    assert recall_at_k([], []) == 1.0


@pytest.fixture(scope="module")
def als(shop: Shop) -> ALS:
    model = create_model("als", **SMALL["als"]).fit(shop.interactions, shop.catalog)
    assert isinstance(model, ALS)
    return model


def _served(model: Recommender) -> Recommender:
    """A copy loaded and prepared the way the serving app does it (index forced on)."""
    copy = load_model(save_model(model))
    copy.prepare_serving(index_min_items=0)
    return copy


def _ids(recs: list[Any]) -> list[str]:
    return [r.item_id for r in recs]


def test_prepared_als_builds_a_calibrated_index(als: ALS) -> None:
    served = _served(als)
    calibration = served.index_calibration
    assert calibration is not None and calibration.recall >= TARGET_RECALL
    assert als.index_calibration is None  # offline models stay exact


def test_indexed_als_matches_exact_lists(als: ALS, shop: Shop) -> None:
    served = _served(als)
    context = RecContext(when=TODAY)
    hits = []
    for user in shop.interactions.user_ids[:40]:
        exact = _ids(als.recommend(user, 10, context=context))
        approx = served.recommend(user, 10, context=context)
        assert len(approx) == 10 and len(set(_ids(approx))) == 10
        assert [r.score for r in approx] == sorted((r.score for r in approx), reverse=True)
        hits.append(len(set(exact) & set(_ids(approx))) / 10)
    assert float(np.mean(hits)) >= TARGET_RECALL


def test_indexed_als_keeps_every_filter(als: ALS, shop: Shop) -> None:
    served = _served(als)
    context = RecContext(when=TODAY, exclude=frozenset({"i1", "i2"}))
    for k in (5, 10):
        recs = _ids(served.recommend(shop.buyer, k, context=context))
        assert len(recs) == k
        assert not shop.purchased & set(recs)
        assert shop.out_of_stock not in recs and shop.out_of_season not in recs
        assert not {"i1", "i2"} & set(recs)


def test_narrow_filters_still_give_the_exact_lists(als: ALS, shop: Shop) -> None:
    served = _served(als)
    category = str(als.category[0])
    context = RecContext(when=TODAY, category=category)
    for user in shop.interactions.user_ids[:10]:
        exact = als.recommend(user, 10, context=context)
        approx = served.recommend(user, 10, context=context)
        assert _ids(approx) == _ids(exact)
        assert all(als.category[als.item_ids.index(r.item_id)] == category for r in approx)


class _ShortIndex:
    """An index that finds only three candidates: the filters leave fewer than k."""

    def __init__(self, index: InnerProductIndex) -> None:
        self.index = index
        self.calls = 0

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return self.index.search(query, 3)


def test_too_few_candidates_fall_back_to_exact_scoring(als: ALS, shop: Shop) -> None:
    served = _served(als)
    assert isinstance(served, ALS) and served._index is not None
    short = _ShortIndex(served._index)
    served._index = short  # type: ignore[assignment]
    context = RecContext(when=TODAY)
    users = shop.interactions.user_ids[:5]
    for user in users:
        exact = als.recommend(user, 10, context=context)
        assert _ids(served.recommend(user, 10, context=context)) == _ids(exact)
    counts = np.diff(als.history.indptr)
    assert short.calls == sum(counts[als.user_ids.index(u)] > 0 for u in users) > 0


@pytest.mark.parametrize("name", ["popularity", "item_knn", "content", "hybrid", "als"])
def test_prepared_models_answer_like_unprepared_ones(name: str, shop: Shop) -> None:
    """Cached filter masks change nothing: same lists and reasons in every context."""
    model = create_model(name, **SMALL.get(name, {})).fit(shop.interactions, shop.catalog)
    served = load_model(save_model(model))
    served.prepare_serving(index=False)
    contexts = [
        RecContext(when=TODAY),
        RecContext(when=TODAY, category=str(model.category[3])),
        RecContext(when=TODAY, species=str(model.species[5])),
        RecContext(when=TODAY, item_id="i4", exclude=frozenset({"i7"})),
        None,
    ]
    for context in contexts:
        for user in [*shop.interactions.user_ids[:8], "stranger", shop.empty_user]:
            expected = model.recommend(user, 7, context=context)
            got = served.recommend(user, 7, context=context)
            assert [(r.item_id, r.reasons) for r in got] == [
                (r.item_id, r.reasons) for r in expected
            ]
    assert _ids(served.similar_items("i4", 5)) == _ids(model.similar_items("i4", 5))


def test_served_reasons_match_explain(als: ALS, shop: Shop) -> None:
    served = _served(als)
    for rec in served.recommend(shop.buyer, 10, context=RecContext(when=TODAY)):
        assert rec.reasons == served.explain(shop.buyer, rec.item_id)
        assert rec.reasons


def test_cached_masks_are_read_only_and_callers_get_copies(als: ALS) -> None:
    served = _served(als)
    first = served.allowed_items(RecContext(when=TODAY))
    first[:] = False  # a caller may write its copy
    again = served.allowed_items(RecContext(when=TODAY))
    assert again.any()
    cached = served._mask("when", TODAY)
    assert not cached.flags.writeable


def test_unknown_users_are_answered_from_the_cache_once_prepared(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = create_model("popularity").fit(shop.interactions, shop.catalog)
    served = load_model(save_model(model))
    served.prepare_serving(index=False)
    computed: list[object] = []
    cold_scores = served._cold_scores
    monkeypatch.setattr(served, "_cold_scores", lambda c: computed.append(c) or cold_scores(c))
    plain, shoes = RecContext(when=TODAY), RecContext(when=TODAY, category=str(model.category[3]))
    first = [served.recommend(u, 5, context=plain) for u in ("s1", "s2", "s3")]
    assert len(computed) == 1 and first[0] == first[1] == first[2]
    served.recommend("s4", 5, context=shoes)
    served.recommend("s5", 5, context=RecContext(when=TODAY, item_id="i4"))  # near an item
    served.recommend("s6", 5, context=RecContext(when=TODAY, item_id="i4"))
    assert len(computed) == 4  # a new filter once; a context item is never cached
    assert _ids(served.recommend("s7", 5, context=plain)) == _ids(
        model.recommend("s7", 5, context=plain)
    )
