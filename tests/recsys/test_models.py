"""One contract, every model (the scikit-learn way): filters, fallbacks, k, explanations,
and save/load identity."""

from __future__ import annotations

import io
import pickle

import numpy as np
import polars as pl
import pytest

from kibble.errors import NotFoundError, UnsafeInputError, UsageError
from kibble.recsys import (
    Interactions,
    RecContext,
    Recommender,
    create_model,
    load_model,
    save_model,
)
from kibble.recsys.base import model_names
from tests.recsys.conftest import TODAY, Shop

MODELS = ["popularity", "als", "item_knn", "sequence", "rp3beta", "ease", "content", "hybrid"]
SMALL: dict[str, dict[str, object]] = {
    "als": {"factors": 8, "iterations": 5, "half_life_days": 14.0},
    "item_knn": {"half_life_days": 14.0},
}


@pytest.fixture(scope="module", params=MODELS)
def model(request: pytest.FixtureRequest, shop: Shop) -> Recommender:
    name = request.param
    return create_model(name, **SMALL.get(name, {})).fit(shop.interactions, shop.catalog)


def _ids(recs: list) -> list[str]:  # type: ignore[type-arg]
    return [r.item_id for r in recs]


def test_every_builtin_model_is_registered() -> None:
    assert set(MODELS) <= set(model_names())


def test_exactly_k_without_duplicates(model: Recommender, shop: Shop) -> None:
    context = RecContext(when=TODAY)
    for user in shop.interactions.user_ids[:20]:
        recs = model.recommend(user, 10, context=context)
        assert len(recs) == 10
        assert len(set(_ids(recs))) == 10
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)


def test_filters_purchased_out_of_stock_and_out_of_season(model: Recommender, shop: Shop) -> None:
    everything = len(model.item_ids)
    recs = _ids(model.recommend(shop.buyer, everything, context=RecContext(when=TODAY)))
    assert shop.purchased and not shop.purchased & set(recs)
    assert shop.out_of_stock not in recs
    assert shop.out_of_season not in recs
    # all the rest is available, so the list is the catalogue minus exactly those
    assert len(recs) == everything - len(shop.purchased | {shop.out_of_stock, shop.out_of_season})


def test_purchase_filter_can_be_switched_off(shop: Shop) -> None:
    model = create_model("popularity", filter_excluded=False).fit(shop.interactions, shop.catalog)
    recs = _ids(model.recommend(shop.buyer, len(model.item_ids), context=RecContext(when=TODAY)))
    assert shop.purchased <= set(recs)


def test_unknown_user_and_empty_history_fall_back(model: Recommender, shop: Shop) -> None:
    for user in ("never-seen", shop.empty_user):
        recs = model.recommend(user, 5, context=RecContext(when=TODAY))
        assert len(recs) == 5
        assert all(r.source == f"{model.name}:fallback" for r in recs)
        assert shop.out_of_stock not in _ids(recs)


def test_context_item_category_species_and_exclusions(model: Recommender, shop: Shop) -> None:
    item = shop.interactions.item_ids[5]
    position = shop.catalog.item_ids.index(item)
    category = shop.catalog.category[position]
    recs = model.recommend("never-seen", 5, context=RecContext(item_id=item, when=TODAY))
    assert item not in _ids(recs) and len(recs) == 5
    in_category = model.recommend(shop.buyer, 50, context=RecContext(category=category, when=TODAY))
    wanted = {
        i
        for i, c in zip(shop.catalog.item_ids, shop.catalog.category, strict=True)
        if c == category
    }
    assert in_category and set(_ids(in_category)) <= wanted
    dogs = model.recommend(shop.buyer, 50, context=RecContext(species="dog", when=TODAY))
    dog_items = {
        i for i, s in zip(shop.catalog.item_ids, shop.catalog.species, strict=True) if s == "dog"
    }
    assert set(_ids(dogs)) <= dog_items
    first = _ids(model.recommend(shop.buyer, 3, context=RecContext(when=TODAY)))
    again = model.recommend(shop.buyer, 3, context=RecContext(exclude=frozenset(first), when=TODAY))
    assert not set(first) & set(_ids(again))


def test_batch_matches_single(model: Recommender, shop: Shop) -> None:
    users = [*shop.interactions.user_ids[:5], "never-seen"]
    context = RecContext(when=TODAY)
    batch = model.recommend_batch(users, 7, context=context)
    for user in users:
        assert _ids(batch[user]) == _ids(model.recommend(user, 7, context=context))


def test_similar_items_and_explanations(model: Recommender, shop: Shop) -> None:
    item = shop.interactions.item_ids[3]
    similar = model.similar_items(item, 5)
    assert len(similar) == 5 and item not in _ids(similar)
    with pytest.raises(NotFoundError):
        model.similar_items("no-such-item")
    recs = model.recommend(shop.buyer, 3, context=RecContext(when=TODAY))
    assert all(r.reasons for r in recs)
    if model.name != "popularity":
        # CF and content models name the history items behind a recommendation
        history = set(
            np.asarray(shop.interactions.item_ids)[
                shop.interactions.matrix[shop.interactions.user_index(shop.buyer)].indices
            ]
        )
        named = {
            reason.split()[2]
            for r in recs
            for reason in r.reasons
            if reason.startswith("because of")
        }
        assert named and named <= history
    assert model.explain(shop.buyer, recs[0].item_id) == recs[0].reasons


def test_save_load_gives_identical_recommendations(model: Recommender, shop: Shop) -> None:
    blob = save_model(model)
    assert not blob.startswith(b"\x80")  # not a pickle
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        assert "__meta__" in archive.files
    loaded = load_model(blob)
    assert loaded.name == model.name and loaded.params == model.params
    users = [*shop.interactions.user_ids, "never-seen"]
    context = RecContext(when=TODAY)
    before = model.rank(users, 10, context=context)
    after = loaded.rank(users, 10, context=context)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], rtol=1e-6)
    assert save_model(loaded) == blob  # stable bytes: the same content address


def test_load_refuses_pickle_and_foreign_npz() -> None:
    with pytest.raises(UnsafeInputError):
        load_model(pickle.dumps({"a": 1}))
    buffer = io.BytesIO()
    np.savez(buffer, x=np.arange(3))
    with pytest.raises(UsageError, match="not a kibble recommender"):
        load_model(buffer.getvalue())


def test_bad_hyperparameter_and_unfitted_use_are_clear() -> None:
    with pytest.raises(UsageError, match="no hyperparameter 'factor'"):
        create_model("als", factor=3)
    with pytest.raises(UsageError, match="no recommender called"):
        create_model("svd")
    with pytest.raises(UsageError, match="not trained"):
        create_model("popularity").recommend("u1")


@pytest.mark.parametrize("name", ["content", "hybrid"])
def test_cold_items_reach_users_through_content(name: str, shop: Shop) -> None:
    model = create_model(name).fit(shop.interactions, shop.catalog)
    twin = shop.catalog.texts[shop.catalog.item_ids.index(shop.cold_item)]
    assert twin  # the cold item copies a popular item's text
    similar = _ids(model.similar_items(shop.cold_item, 3))
    assert similar  # content knows it even though nobody interacted with it
    context = RecContext(when=TODAY)
    reached = [
        u
        for u in shop.interactions.user_ids
        if shop.cold_item in _ids(model.recommend(u, 10, context=context, explain=False))
    ]
    assert reached, "a content-aware model should recommend a brand-new item to someone"


def test_cf_alone_cannot_reach_cold_items(shop: Shop) -> None:
    model = create_model("item_knn").fit(shop.interactions, shop.catalog)
    context = RecContext(when=TODAY)
    reached = [
        u
        for u in shop.interactions.user_ids[:50]
        if shop.cold_item in _ids(model.recommend(u, 10, context=context, explain=False))
    ]
    assert not reached


def test_hybrid_boosts_items_entering_their_season(shop: Shop) -> None:
    def mean_rank(boost: float) -> float:
        model = create_model("hybrid", season_boost=boost, season_boost_days=7)
        model.fit(shop.interactions, shop.catalog)
        model.reference_time = float(np.datetime64(TODAY, "s").astype(np.int64))
        n = len(model.item_ids)
        ranks = []
        for user in shop.interactions.user_ids[:40]:
            ids = _ids(model.recommend(user, n, context=RecContext(when=TODAY), explain=False))
            if shop.entering_season in ids:
                ranks.append(ids.index(shop.entering_season))
        return float(np.mean(ranks))

    assert mean_rank(5.0) < mean_rank(0.0)


def test_load_refuses_a_truncated_model(shop: Shop) -> None:
    model = create_model("popularity").fit(shop.interactions)
    with np.load(io.BytesIO(save_model(model)), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files if name != "user_ids"}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(UsageError, match="incomplete"):
        load_model(buffer.getvalue())


def test_models_and_interactions_round_trip_as_pipeline_outputs(shop: Shop) -> None:
    from kibble.pipelines.serde import decode, encode
    from kibble.recsys import Interactions

    encoded = encode(shop.interactions)
    back = decode(encoded.data, encoded.codec)
    assert isinstance(back, Interactions)
    assert back.user_ids == shop.interactions.user_ids
    assert (back.matrix != shop.interactions.matrix).nnz == 0
    assert (back.exclude != shop.interactions.exclude).nnz == 0
    model = create_model("item_knn").fit(back, shop.catalog)
    encoded = encode(model)
    loaded = decode(encoded.data, encoded.codec)
    assert _ids(loaded.recommend(shop.buyer, 5)) == _ids(model.recommend(shop.buyer, 5))
    with pytest.raises(UsageError, match="holds a item_knn model"):
        type(create_model("als")).from_bytes(encoded.data)


def _two_phase() -> Interactions:
    """Twenty users like items a0..a4 (long ago), ten like b0..b4 (lately); the probe
    touched a0 long ago and b0 lately. Undecayed, the a items win (more popular)."""
    users, items, times = [], [], []
    day = 86_400.0
    for u in range(30):
        group = "a" if u < 20 else "b"
        for j in range(5):
            users.append(f"u{u}")
            items.append(f"{group}{j}")
            times.append((0.0 if group == "a" else 100 * day) + u * 10 + j)
    users += ["probe", "probe"]
    items += ["a0", "b0"]
    times += [1.0, 100 * day + 5]
    frame = pl.DataFrame({"user_id": users, "item_id": items, "timestamp": times})
    return Interactions.from_events(frame)


@pytest.mark.parametrize(
    ("name", "params"),
    [("item_knn", {"similarity": "cosine"}), ("als", {"factors": 4, "iterations": 10})],
)
def test_recency_half_life_follows_what_users_do_now(name: str, params: dict) -> None:  # type: ignore[type-arg]
    inter = _two_phase()

    def lead(half_life: float) -> float:
        """How far the recent topic's items score above the old topic's, for the probe."""
        model = create_model(name, half_life_days=half_life, filter_seen=True, **params)
        recs = model.fit(inter).recommend("probe", 8, explain=False)
        assert recs[0].item_id.startswith("b") or half_life == 0.0
        recent = float(np.mean([r.score for r in recs if r.item_id.startswith("b")]))
        old = float(np.mean([r.score for r in recs if r.item_id.startswith("a")]))
        return (recent - old) / (abs(recent) + abs(old))

    assert lead(5.0) > lead(0.0) + 0.1


def test_sequence_scores_what_follows_the_latest_items() -> None:
    # everyone walks the chain c0 -> c1 -> ... -> c9 in order; the probe stopped at c4
    users, items, times = [], [], []
    for u in range(20):
        for j in range(10):
            users.append(f"u{u}")
            items.append(f"c{j}")
            times.append(u * 100 + j)
    users += ["probe"] * 5
    items += [f"c{j}" for j in range(5)]
    times += [5000 + j for j in range(5)]
    frame = pl.DataFrame({"user_id": users, "item_id": items, "timestamp": times})
    model = create_model("sequence", window=1, filter_seen=True).fit(
        Interactions.from_events(frame)
    )
    assert _ids(model.recommend("probe", 1))[0] == "c5"


def test_ease_refuses_a_k9s_sized_catalogue_before_allocating() -> None:
    n = 100_000
    inter = Interactions.from_arrays(
        ["u0", "u1"],
        [f"i{i}" for i in range(n)],
        np.array([0, 1]),
        np.array([0, 1]),
        np.ones(2, np.float32),
    )
    with pytest.raises(UsageError, match=r"EASE on 100,000 items needs about .* GiB.*limit"):
        create_model("ease").fit(inter)
