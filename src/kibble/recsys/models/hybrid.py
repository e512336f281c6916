"""The default hybrid: a learned blend of trending popularity, CF, the sequence model,
content and, when the catalogue brings one, an external trends feed.

Each member's scores are standardised per user; the blend is their weighted sum, with
weights fitted on a validation period carved from the end of the training data (never
the test period): members are fitted on the part before it, and coordinate ascent picks
the weights that rank what users then did best (NDCG@10). The members are then refitted
on all the training data (ALS continues from the factors it already has, so this costs a
few iterations, not a second fit; item-item members keep the similarities they learned
and refresh only users' profiles, unless ``refit`` is ``full``).

Items with little history lean on content (``item_shrink``): a new or seasonal item has
no CF or sequence signal yet, so its score there is its content match; its trend is a
count already and stays its own, except that an item nobody touched yet gets the
typical item's trend rather than the lowest. Items whose season just opened get a push
in proportion to that match.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from kibble.errors import UsageError
from kibble.recsys.base import (
    Arrays,
    FloatArray,
    IntArray,
    RecContext,
    Recommender,
    create_model,
    model_from_state,
    model_state,
    register,
    topk,
)
from kibble.recsys.blend import fit_weights
from kibble.recsys.catalog import ItemCatalog, entering_season
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.als import ALS
from kibble.recsys.models.content import Content
from kibble.recsys.models.neighbourhood import ItemItem
from kibble.recsys.split import relevant_items, temporal_split

MEMBERS = ("popularity", "cf", "sequence", "content", "external")
FALLBACK_WEIGHTS = {"popularity": 1.0, "cf": 1.0, "sequence": 0.5, "content": 0.5, "external": 0.5}
ITEM_LEVEL = ("popularity", "external")  # one score per item, the same for every user
_CELLS = 8_000_000  # dense member scores per validation chunk


def _standardise(scores: FloatArray) -> FloatArray:
    """Per-row z-scores so members' scales can be added. In place: a model's ``_score`` is
    the caller's to change (``rank`` masks it in place too), the rows are whole
    catalogues, and every temporary costs a pass over them."""
    out = np.asarray(scores, dtype=np.float32)
    if not out.flags.writeable:
        out = out.copy()
    out -= out.mean(axis=1, keepdims=True)
    std = np.sqrt(np.einsum("ij,ij->i", out, out) / max(out.shape[1], 1))
    out /= np.maximum(std, 1e-9).astype(np.float32)[:, None]
    return out


def trend_scores(popularity: FloatArray) -> FloatArray:
    """Decayed popularity on a log scale (the head stays ordered, the tail is not noise)."""
    top = max(float(popularity.max(initial=0.0)), 1e-12)
    values = np.log1p(100.0 * popularity / top)[None, :]
    return np.asarray(_standardise(values.astype(np.float32))[0], dtype=np.float32)


def item_trust(history: Any, shrink: float) -> FloatArray:
    counts = np.diff(history.tocsc().indptr).astype(np.float32)
    return np.asarray(counts / (counts + max(shrink, 1e-9)), dtype=np.float32)


@register
class Hybrid(Recommender):
    """Trending popularity + CF + sequence + content, weights learned on validation."""

    name = "hybrid"
    defaults: ClassVar[dict[str, Any]] = {
        "cf": "item_knn",
        "cf_params": {"half_life_days": 30.0},
        "sequence_params": {},
        "members": list(MEMBERS),
        "weights": {},  # fixed weights per member; empty: learn them on validation
        "validation_fraction": 0.15,
        "validation_users": 500,
        "candidates": 50,
        "refit": "fast",  # fast: keep similarities, refresh profiles; full: refit all
        "refit_iterations": 3,
        "item_shrink": 2.0,
        "season_boost": 1.0,
        "season_boost_days": 21,
        "seed": 0,
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        unknown = sorted(set(self._params["members"]) - set(MEMBERS))
        if unknown or not self._params["members"]:
            raise UsageError(
                f"the hybrid has no member {unknown[0] if unknown else '(none)'!r}",
                hint=f"choose members from: {', '.join(MEMBERS)}",
            )
        if str(self._params["refit"]) not in ("fast", "full"):
            raise UsageError("the hybrid's refit is fast or full", hint="--param refit=fast")
        self.parts: dict[str, Recommender] = {}
        self.weights: dict[str, float] = {}
        self.validation: dict[str, Any] = {}
        self.item_trust: FloatArray = np.zeros(0, np.float32)
        self.external: FloatArray | None = None  # the trends feed's signal, standardised
        self._trend: FloatArray | None = None

    # -- fitting ----------------------------------------------------------------------------

    def _members(self) -> list[str]:
        """Asked-for members; ``external`` only when the catalogue brought a trends feed."""
        wanted = self._params["members"]
        return [
            m for m in MEMBERS if m in wanted and (m != "external" or self.external is not None)
        ]

    def _external(self, items: ItemCatalog | None, as_of: float) -> FloatArray | None:
        if items is None or items.trends is None:
            return None
        signal = items.trends.signal(self.item_ids, list(self.category), as_of)
        return trend_scores(signal) if signal.any() else None

    def _new_part(self, member: str) -> Recommender:
        p = self._params
        if member == "cf":
            return create_model(str(p["cf"]), **dict(p["cf_params"]))
        if member == "sequence":
            return create_model("sequence", **dict(p["sequence_params"]))
        return Content()

    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        self.external = self._external(items, interactions.reference_time)
        fixed = {str(k): float(v) for k, v in dict(self._params["weights"]).items()}
        inner: dict[str, Recommender] = {}
        if fixed:
            self.weights = {m: fixed.get(m, 0.0) for m in self._members()}
            self.validation = {"weights": "given"}
        else:
            inner = self._learn(interactions, items)
        self.parts = {}
        fast = str(self._params["refit"]) == "fast"
        for member in self._members():
            if member in ITEM_LEVEL:
                continue
            part = self._new_part(member)
            earlier = inner.get(member)
            if fast and isinstance(part, ALS) and isinstance(earlier, ALS):
                part = create_model(
                    part.name,
                    **{**part.params, "iterations": int(self._params["refit_iterations"])},
                )
                assert isinstance(part, ALS)
                part.warm_start = (earlier.user_factors, earlier.item_factors)
            part.copy_common_from(self)
            if isinstance(part, Content) and isinstance(earlier, Content):
                part.features = earlier.features  # content depends on the items only
            elif fast and isinstance(part, ItemItem) and isinstance(earlier, ItemItem):
                part.similarity = earlier.similarity
                part.profile = part.profile_from(interactions)
            else:
                part._fit(interactions, items)
            part._fitted = True
            self.parts[member] = part
        self._set_trust()

    def _learn(
        self, interactions: Interactions, items: ItemCatalog | None
    ) -> dict[str, Recommender]:
        """Fit members on the training period minus its end; weights from that end."""
        p = self._params
        try:
            split = temporal_split(interactions, test_fraction=float(p["validation_fraction"]))
        except UsageError as exc:
            self.weights = {m: FALLBACK_WEIGHTS[m] for m in self._members()}
            self.validation = {"weights": "fallback", "why": exc.message}
            return {}
        half_life = float(p["popularity_half_life_days"])
        trend = create_model(
            "popularity",
            half_life_days=half_life,
            popularity_half_life_days=half_life,
            filter_seen=p["filter_seen"],
            filter_excluded=p["filter_excluded"],
        ).fit(split.train, items)
        parts = {
            m: self._new_part(m).fit(split.train, items)
            for m in self._members()
            if m not in ITEM_LEVEL
        }
        users, relevant = relevant_items(split.test)
        warm = np.diff(split.train.matrix.indptr)[users] > 0
        users = users[warm]
        relevant = [r for r, w in zip(relevant, warm, strict=True) if w]
        rng = np.random.default_rng(int(p["seed"]))
        if len(users) > int(p["validation_users"]):
            chosen = np.sort(rng.choice(len(users), int(p["validation_users"]), replace=False))
            users, relevant = users[chosen], [relevant[i] for i in chosen]
        if len(users) == 0:
            self.weights = {m: FALLBACK_WEIGHTS[m] for m in self._members()}
            self.validation = {"weights": "fallback", "why": "no returning user in validation"}
            return parts
        trust = item_trust(split.train.matrix, float(p["item_shrink"]))
        external = self._external(items, split.train.reference_time)
        if external is None and self.external is not None:
            external = np.zeros(len(self.item_ids), np.float32)  # no mentions yet back then
        pools = _pools(
            trend,
            external,
            parts,
            trust,
            self._members(),
            users,
            relevant,
            int(p["candidates"]),
            RecContext(when=split.cut_date.date()),
        )
        weights, ndcg = fit_weights(*pools, k=10)
        self.weights = {
            m: round(float(w), 4) for m, w in zip(self._members(), weights, strict=True)
        }
        self.validation = {
            "weights": "learned",
            "cut": split.cut_date.isoformat(),
            "users": len(users),
            "ndcg@10": round(ndcg, 6),
        }
        return parts

    def _set_trust(self) -> None:
        self.item_trust = item_trust(self.history, float(self._params["item_shrink"]))
        self._trend = trend_scores(self.popularity)

    # -- scoring ----------------------------------------------------------------------------

    def _score(self, rows: IntArray) -> FloatArray:
        if self._trend is None:
            self._set_trust()
        assert self._trend is not None
        features = _features(
            {"popularity": self._trend, "external": self.external},
            self.parts,
            self.item_trust,
            self._members(),
            rows,
        )
        scores = np.zeros((len(rows), len(self.item_ids)), np.float32)
        for member, values in features.items():
            weight = np.float32(self.weights.get(member, 0.0))
            if weight:
                scores += weight * values
        boost = float(self._params["season_boost"])
        content = self.parts.get("content")
        if boost and content is not None:
            today = datetime.fromtimestamp(self.reference_time or 0, UTC).date()
            fresh = entering_season(
                self.season_start, today, int(self._params["season_boost_days"])
            )
            if fresh.any():
                match = _standardise(content._score(rows))[:, fresh]
                scores[:, fresh] += boost * np.maximum(match, 0.0)
        return scores

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray | None:
        content = self.parts.get("content")
        collaborative = self.parts.get("cf") or self.parts.get("sequence")
        by_content = content._similarity(item, others) if content is not None else None
        by_cf = collaborative._similarity(item, others) if collaborative is not None else None
        if by_cf is None or by_content is None:
            return by_cf if by_content is None else by_content
        trust = float(self.item_trust[item])
        return (trust * by_cf + (1.0 - trust) * by_content).astype(np.float32)

    # -- saving -----------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        arrays: Arrays = {} if self.external is None else {"external": self.external}
        state: dict[str, Any] = {"weights": self.weights, "validation": self.validation}
        for key, part in self.parts.items():
            meta, part_arrays = model_state(part)
            state[key] = meta
            arrays.update({f"{key}/{name}": value for name, value in part_arrays.items()})
        return state, arrays

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:
        self.weights = {str(k): float(v) for k, v in state["weights"].items()}
        self.validation = dict(state.get("validation", {}))
        self.external = arrays.get("external")
        self.parts = {}
        for key in self._members():
            if key in ITEM_LEVEL:
                continue
            prefix = f"{key}/"
            own = {n[len(prefix) :]: v for n, v in arrays.items() if n.startswith(prefix)}
            self.parts[key] = model_from_state(state[key], own, self)
        self._set_trust()


def _features(
    item_level: dict[str, FloatArray | None],
    parts: dict[str, Recommender],
    trust: FloatArray,
    members: list[str],
    rows: IntArray,
) -> dict[str, FloatArray]:
    """Each member's standardised scores; an item's untrusted share is its content match."""
    out: dict[str, FloatArray] = {}
    for member in members:
        values = item_level.get(member)
        if values is not None:
            out[member] = np.broadcast_to(values, (len(rows), len(values))).astype(np.float32)
        else:
            out[member] = _standardise(parts[member]._score(rows))
    content = out.get("content")
    known = parts.get("content")
    if content is not None and isinstance(known, Content) and known.features.nnz:
        # CF and sequence know little of items few users touched: content stands in
        for member in ("cf", "sequence"):
            if member in out:
                out[member] = trust[None, :] * out[member] + (1.0 - trust[None, :]) * content
    touched = trust > 0
    if "popularity" in out and touched.any() and not touched.all():
        # an item nobody touched yet is not known to be unpopular: give it the typical
        # item's trend, and let the other members decide
        trend = out["popularity"][0].copy()
        trend[~touched] = np.median(trend[touched])
        out["popularity"] = np.broadcast_to(trend, out["popularity"].shape)
    return out


def _pools(
    trend_model: Recommender,
    external: FloatArray | None,
    parts: dict[str, Recommender],
    trust: FloatArray,
    members: list[str],
    users: IntArray,
    relevant: list[npt.NDArray[np.int64]],
    per_member: int,
    context: RecContext,
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.int64]
]:
    """Candidate pools for validation users: every member's top ``per_member`` items
    (filtered as served), with all members' features for each and whether it was hit."""
    trend = trend_scores(trend_model.popularity)
    allowed = trend_model.allowed_items(context)
    n_items = len(trend)
    chunk = max(1, _CELLS // max(1, n_items * len(members)))
    features, valid, hits = [], [], []
    for start in range(0, len(users), chunk):
        rows = users[start : start + chunk]
        values = _features({"popularity": trend, "external": external}, parts, trust, members, rows)
        pools = []
        for member in members:
            masked = values[member].copy()
            masked[:, ~allowed] = -np.inf
            trend_model._mask_user_items(masked, rows)
            pools.append(topk(masked, per_member)[0])
        pool = np.concatenate(pools, axis=1)
        pool.sort(axis=1)
        ok = pool >= 0
        ok[:, 1:] &= pool[:, 1:] != pool[:, :-1]
        safe = np.maximum(pool, 0)
        stacked = np.stack([np.take_along_axis(values[m], safe, axis=1) for m in members], -1)
        features.append(stacked.astype(np.float32))
        valid.append(ok)
        targets = relevant[start : start + chunk]
        hits.append(np.stack([np.isin(p, t) for p, t in zip(pool, targets, strict=True)]) & ok)
    n_relevant = np.array([len(np.unique(r)) for r in relevant], dtype=np.int64)
    return np.concatenate(features), np.concatenate(valid), np.concatenate(hits), n_relevant
