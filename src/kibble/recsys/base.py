"""The one interface every recommender implements, and its safe on-disk form.

A model only says how it scores (``_fit``, ``_score``, ``_similarity``); this base does
everything around it the same way for all models: id mappings, filters (already
purchased, out of stock, out of season, the context's category / species / exclusions),
no duplicates, exactly ``k`` items when the catalogue allows, popularity fallback for
unknown users, explanations, and ``save_model`` / ``load_model`` as one ``.npz`` blob
(arrays + a JSON metadata entry, never pickle). Registry and serving load models only
through ``load_model``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from kibble.artifacts.formats import arrays_from_bytes, arrays_to_bytes
from kibble.errors import NotFoundError, UnsafeInputError, UsageError
from kibble.recsys.ann import Calibration
from kibble.recsys.catalog import ItemCatalog, in_season
from kibble.recsys.interactions import Interactions

FORMAT = "kibble.recsys.model"
FORMAT_VERSION = 1
META_KEY = "__meta__"
MEDIA_TYPE = "application/x-npz"

Arrays = dict[str, npt.NDArray[Any]]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_TIEBREAK = np.float32(1e-12)
_CHUNK_CELLS = 16_000_000  # dense scores per chunk: 64 MB of float32
INDEX_MIN_ITEMS = 10_000  # below this, exact scoring is already cheap: no approximate index
_MASK_CACHE_SIZE = 256  # cached filter masks per served model (dates, categories, species)


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score, and why (history items that contributed most)."""

    item_id: str
    score: float
    reasons: list[str] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RecContext:
    """Where the recommendation is shown: the item on screen, a category or species page,
    the day (for seasonal windows; default today, UTC) and extra items to leave out."""

    item_id: str | None = None
    category: str | None = None
    species: str | None = None
    when: date | None = None
    exclude: frozenset[str] = frozenset()


COMMON_DEFAULTS: dict[str, Any] = {
    "filter_excluded": True,  # leave out items the user bought (the events marked exclude)
    "filter_seen": False,  # leave out every item the user interacted with
    "popularity_half_life_days": 14.0,  # fallback popularity decay; 0 disables
}

_MODELS: dict[str, type[Recommender]] = {}
R = TypeVar("R", bound="type[Recommender]")


def register(cls: R) -> R:
    """Make a model class loadable by name."""
    _MODELS[cls.name] = cls
    return cls


def model_names() -> list[str]:
    _load_builtin_models()
    return sorted(_MODELS)


def create_model(name: str, **params: Any) -> Recommender:
    """A fresh, unfitted model by name with hyperparameters."""
    _load_builtin_models()
    if name not in _MODELS:
        raise UsageError(
            f"there is no recommender called {name!r}",
            hint=f"choose one of: {', '.join(sorted(_MODELS))}",
        )
    return _MODELS[name](**params)


def _load_builtin_models() -> None:
    import kibble.recsys.models  # noqa: F401 - registers the built-in models


class Recommender(ABC):
    """fit / recommend / recommend_batch / similar_items / explain, plus name and params."""

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        allowed = {**COMMON_DEFAULTS, **self.defaults}
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise UsageError(
                f"{self.name} has no hyperparameter {unknown[0]!r}",
                hint=f"choose from: {', '.join(sorted(allowed))}",
            )
        self._params: dict[str, Any] = {**allowed, **params}
        self._fitted = False
        self.user_ids: list[str] = []
        self.item_ids: list[str] = []
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}
        self.history: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.excluded: sp.csr_matrix = sp.csr_matrix((0, 0), dtype=np.float32)
        self.popularity: FloatArray = np.zeros(0, np.float32)
        self.in_stock: npt.NDArray[np.bool_] = np.zeros(0, bool)
        self.season_start: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.season_end: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.category: npt.NDArray[np.str_] = np.zeros(0, "<U1")
        self.species: npt.NDArray[np.str_] = np.zeros(0, "<U1")
        self.reference_time = 0.0
        self._pop_rank_cache: FloatArray | None = None
        # filter masks by ("when"|"category"|"species", value); None until prepare_serving
        self._mask_cache: dict[tuple[str, Any], npt.NDArray[np.bool_]] | None = None
        # unknown users' top-k by (day, category, species, k); None until prepare_serving
        self._cold_cache: dict[tuple[Any, ...], tuple[IntArray, FloatArray]] | None = None

    # -- what a model implements -------------------------------------------------------

    @abstractmethod
    def _fit(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        """Learn from the aligned interactions (item columns == self.item_ids)."""

    @abstractmethod
    def _score(self, rows: IntArray) -> FloatArray:
        """Dense scores (len(rows) x n_items) for known users; higher is better."""

    def _similarity(self, item: int, others: IntArray | None = None) -> FloatArray | None:
        """Similarity of ``item`` to ``others`` (all items when None); None if the model
        has no notion of item similarity (then co-occurrence is used)."""
        return None

    def _state(self) -> tuple[dict[str, Any], Arrays]:
        """Model-specific JSON state and arrays for saving."""
        return {}, {}

    def _restore(self, state: dict[str, Any], arrays: Arrays) -> None:  # noqa: B027
        """Inverse of ``_state``."""

    def _prepare_serving(self, index: bool) -> None:  # noqa: B027
        """Model-specific warm-up for serving; build an approximate index when ``index``."""

    def _similarities(self, items: IntArray, others: IntArray) -> FloatArray | None:
        """Similarity of each of ``items`` (rows) to each of ``others`` (columns), or None.

        Models override this to score all explained items in one product; the default
        stacks ``_similarity`` per item."""
        rows = []
        for item in items.tolist():
            sims = self._similarity(int(item), others)
            if sims is None:
                return None
            rows.append(np.asarray(sims, dtype=np.float32))
        return np.stack(rows) if rows else np.zeros((0, len(others)), np.float32)

    # -- the public interface -------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """``save_model(self)``: lets a pipeline step return a model (no pickle)."""
        return save_model(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Recommender:
        """``load_model(data)``, checked to be this kind of model."""
        model = load_model(data)
        if not isinstance(model, cls):
            raise UsageError(
                f"the blob holds a {model.name} model, not {cls.name or cls.__name__}",
                hint="load it with kibble.recsys.load_model",
            )
        return model

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def fitted(self) -> bool:
        return self._fitted

    @property
    def index_calibration(self) -> Calibration | None:
        """Recall of the approximate index against exact top-k, when one serves."""
        return None

    def prepare_serving(
        self, *, index: bool = True, index_min_items: int = INDEX_MIN_ITEMS
    ) -> None:
        """Make single-user requests cheap; called once when serving loads a model.

        Caches filter masks (per day, category, species), so a request no longer
        rebuilds catalogue-sized masks, and unknown users' lists per filter (a
        catalogue-sized top-k otherwise), and lets the model build an approximate index
        (``index``, for catalogues of at least ``index_min_items``) that falls back to
        exact scoring on its own. The model must not be modified afterwards.
        """
        self._require_fitted()
        self._mask_cache = {}
        self._cold_cache = {}
        self._pop_rank()
        self._prepare_serving(index and len(self.item_ids) >= index_min_items)

    def fit(self, interactions: Interactions, items: ItemCatalog | None = None) -> Self:
        """Train on ``interactions``; ``items`` adds content, stock and seasons."""
        if interactions.nnz == 0 and items is None:
            raise UsageError(
                "there are no interactions to train on",
                hint="check the events table and the split cut",
            )
        aligned = interactions.with_items(items.item_ids) if items is not None else interactions
        catalog = align_catalog(items, aligned.item_ids) if items is not None else None
        self._set_common(aligned, catalog)
        self._fit(aligned, catalog)
        self._fitted = True
        return self

    def recommend(
        self,
        user_id: str,
        k: int = 10,
        *,
        context: RecContext | None = None,
        explain: bool = True,
    ) -> list[Recommendation]:
        """Top ``k`` items for one user (unknown users get the context's fallback)."""
        return self.recommend_batch([user_id], k, context=context, explain=explain)[user_id]

    def recommend_batch(
        self,
        user_ids: Sequence[str],
        k: int = 10,
        *,
        context: RecContext | None = None,
        explain: bool = False,
    ) -> dict[str, list[Recommendation]]:
        """Top ``k`` items for many users at once (the fast path for offline work)."""
        indices, scores = self.rank(user_ids, k, context=context)
        out: dict[str, list[Recommendation]] = {}
        indptr = self.history.indptr
        for position, user in enumerate(user_ids):
            row = self._user_index.get(user)
            row = row if row is not None and indptr[row + 1] > indptr[row] else None
            source = self.name if row is not None else f"{self.name}:fallback"
            valid = indices[position][indices[position] >= 0]
            chosen = valid.tolist()
            values = scores[position][: len(chosen)].tolist()
            reasons = self._reasons_for(row, valid) if explain else [[] for _ in chosen]
            out[user] = [
                Recommendation(self.item_ids[item], score, why, source)
                for item, score, why in zip(chosen, values, reasons, strict=True)
            ]
        return out

    def rank(
        self, user_ids: Sequence[str], k: int = 10, *, context: RecContext | None = None
    ) -> tuple[IntArray, FloatArray]:
        """Item positions (-1 pads) and scores, one row per user: the vectorised core."""
        self._require_fitted()
        if k < 1:
            raise UsageError(f"k must be at least 1, not {k}", hint="ask for k >= 1 items")
        allowed = self.allowed_items(context)
        k = min(k, len(self.item_ids))
        indices = np.full((len(user_ids), k), -1, dtype=np.int64)
        scores = np.full((len(user_ids), k), -np.inf, dtype=np.float32)
        rows = np.array([self._user_index.get(u, -1) for u in user_ids], dtype=np.int64)
        if len(rows) and self.history.shape[0]:
            safe = np.maximum(rows, 0)
            empty = self.history.indptr[safe + 1] == self.history.indptr[safe]
            rows[empty] = -1  # an empty history is scored like an unknown user
        known = np.flatnonzero(rows >= 0)
        unknown = np.flatnonzero(rows < 0)
        if len(unknown):
            top, val = self._cold_top(context, allowed, k)
            indices[unknown] = top
            scores[unknown] = val
        chunk = self._chunk_rows()
        for start in range(0, len(known), chunk):
            positions = known[start : start + chunk]
            top, val = self._rank_known(rows[positions], k, allowed)
            indices[positions] = top
            scores[positions] = val
        return indices, scores

    def similar_items(self, item_id: str, k: int = 10) -> list[Recommendation]:
        """Items most like ``item_id`` (available ones only, never the item itself)."""
        self._require_fitted()
        item = self._item_index.get(item_id)
        if item is None:
            raise NotFoundError(
                f"{self.name} does not know item {item_id!r}",
                hint="only items seen in training or in the catalogue can be compared",
            )
        sims = self.item_scores(item)
        allowed = self.allowed_items(None)
        allowed[item] = False
        top, val = topk(np.where(allowed, sims, -np.inf)[None, :].astype(np.float32), k)
        return [
            Recommendation(self.item_ids[i], float(s), [f"similar to {item_id}"], self.name)
            for i, s in zip(top[0], val[0], strict=True)
            if i >= 0
        ]

    def explain(self, user_id: str, item_id: str) -> list[str]:
        """Why ``item_id`` suits ``user_id``: the history items that contributed most."""
        self._require_fitted()
        item = self._item_index.get(item_id)
        if item is None:
            raise NotFoundError(f"{self.name} does not know item {item_id!r}")
        return self._reasons(self._user_index.get(user_id), item)

    # -- shared machinery -----------------------------------------------------------------

    def item_scores(self, item: int) -> FloatArray:
        """Similarity of every item to one item, with a popularity tie-break."""
        sims = self._similarity(item)
        if sims is None:
            sims = self._cooccurrence(item)
        return (np.asarray(sims, dtype=np.float32) + _TIEBREAK * self._pop_rank()).astype(
            np.float32
        )

    def allowed_items(self, context: RecContext | None) -> npt.NDArray[np.bool_]:
        """Items that may be shown in this context: in stock, in season, matching filters."""
        when = (context.when if context else None) or datetime.now(UTC).date()
        allowed = self._mask("when", when).copy()
        if context is not None:
            if context.category:
                allowed &= self._mask("category", context.category)
            if context.species:
                allowed &= self._mask("species", context.species)
            for item_id in (*context.exclude, context.item_id):
                position = self._item_index.get(item_id) if item_id else None
                if position is not None:
                    allowed[position] = False
        return allowed

    def _mask(self, kind: str, value: Any) -> npt.NDArray[np.bool_]:
        """One filter's catalogue-sized mask; cached (read-only) once prepared for serving."""
        cache = self._mask_cache
        if cache is not None and (kind, value) in cache:
            return cache[(kind, value)]
        if kind == "when":
            mask = self.in_stock & in_season(self.season_start, self.season_end, value)
        elif kind == "category":
            mask = self.category == value
        else:
            mask = (self.species == value) | (self.species == "")
        mask = np.asarray(mask, dtype=bool)
        if cache is not None and len(cache) < _MASK_CACHE_SIZE:
            mask.setflags(write=False)
            cache[(kind, value)] = mask
        return mask

    def _chunk_rows(self) -> int:
        """Users scored per dense block (bounded memory: about 64 MB of scores)."""
        return max(1, _CHUNK_CELLS // max(1, len(self.item_ids)))

    def _rank_known(
        self, rows: IntArray, k: int, allowed: npt.NDArray[np.bool_]
    ) -> tuple[IntArray, FloatArray]:
        scores = self._score(rows)
        scores += _TIEBREAK * self._pop_rank()[None, :]
        scores[:, ~allowed] = -np.inf
        self._mask_user_items(scores, rows)
        return topk(scores, k)

    def _mask_user_items(self, scores: FloatArray, rows: IntArray) -> None:
        for matrix, active in (
            (self.excluded, self._params["filter_excluded"]),
            (self.history, self._params["filter_seen"]),
        ):
            if not active or matrix.nnz == 0:
                continue
            sub = matrix[rows]
            counts = np.diff(sub.indptr)
            scores[np.repeat(np.arange(len(rows)), counts), sub.indices] = -np.inf

    def _cold_top(
        self, context: RecContext | None, allowed: npt.NDArray[np.bool_], k: int
    ) -> tuple[IntArray, FloatArray]:
        """An unknown user's top ``k``; cached once serving is prepared, unless the
        context names items (then it depends on them)."""
        cache = self._cold_cache
        key = None
        if cache is not None and not (context and (context.item_id or context.exclude)):
            when = (context.when if context else None) or datetime.now(UTC).date()
            key = (
                when,
                context.category if context else None,
                context.species if context else None,
                k,
            )
            if key in cache:
                return cache[key]
        cold = self._cold_scores(context)[None, :]
        top, val = topk(np.where(allowed, cold, -np.inf).astype(np.float32), k)
        if cache is not None and key is not None and len(cache) < _MASK_CACHE_SIZE:
            top.setflags(write=False)
            val.setflags(write=False)
            cache[key] = (top, val)
        return top, val

    def _cold_scores(self, context: RecContext | None) -> FloatArray:
        """Scores for a user the model has never seen: near the context item, else popular."""
        item = self._item_index.get(context.item_id) if context and context.item_id else None
        if item is not None:
            return self.item_scores(item)
        return self.popularity + _TIEBREAK * self._pop_rank()

    def _pop_rank(self) -> FloatArray:
        if self._pop_rank_cache is None:
            order = np.argsort(np.argsort(self.popularity, kind="stable"), kind="stable")
            self._pop_rank_cache = (order / max(1, len(order))).astype(np.float32)
        return self._pop_rank_cache

    def _cooccurrence(self, item: int) -> FloatArray:
        column = self.history[:, [item]]
        users = column.nonzero()[0]
        if len(users) == 0:
            return np.zeros(len(self.item_ids), np.float32)
        counts = np.asarray((self.history[users] > 0).sum(axis=0)).ravel()
        return np.asarray(counts / (1.0 + self.popularity_counts()), dtype=np.float32)

    def popularity_counts(self) -> FloatArray:
        return np.asarray((self.history > 0).sum(axis=0), dtype=np.float32).ravel()

    def _reasons(self, row: int | None, item: int, top: int = 3) -> list[str]:
        return self._reasons_for(row, np.array([item], dtype=np.int64), top)[0]

    def _reasons_for(self, row: int | None, items: IntArray, top: int = 3) -> list[list[str]]:
        """Reasons for several items of one user from one similarity block (the hot path
        explains every served item; one product beats one per item)."""
        if row is None:
            return [
                ["popular now" if self.popularity[item] > 0 else "new in the catalogue"]
                for item in items.tolist()
            ]
        start, end = self.history.indptr[row], self.history.indptr[row + 1]
        seen = self.history.indices[start:end].astype(np.int64)
        weights = np.asarray(self.history.data[start:end], dtype=np.float32)
        sims = self._similarities(items, seen) if len(seen) and len(items) else None
        if sims is None:
            return [["popular now"] for _ in range(len(items))]
        contributions = weights[None, :] * np.asarray(sims, dtype=np.float32)
        totals = np.abs(contributions).sum(axis=1)
        totals[totals == 0] = 1.0
        orders = np.argsort(-contributions, axis=1)[:, :top]
        best = np.take_along_axis(contributions, orders, axis=1)
        percent = 100 * best / totals[:, None]
        names = [[self.item_ids[j] for j in line] for line in seen[orders].tolist()]
        out: list[list[str]] = []
        # plain Python floats and bools: formatting numpy scalars is what made this slow
        for name, pct, ok in zip(names, percent.tolist(), (best > 0).tolist(), strict=True):
            lines = zip(name, pct, ok, strict=True)
            reasons = [f"because of {n} ({v:.0f}%)" for n, v, o in lines if o]
            out.append(reasons or ["popular now"])
        return out

    def _set_common(self, interactions: Interactions, items: ItemCatalog | None) -> None:
        self.user_ids = list(interactions.user_ids)
        self.item_ids = list(interactions.item_ids)
        self._index_ids()
        self.history = interactions.matrix
        self.excluded = interactions.exclude
        self.reference_time = interactions.reference_time
        half_life = float(self._params["popularity_half_life_days"]) or None
        self.popularity = interactions.decayed_popularity(half_life)
        n = len(self.item_ids)
        if items is None:
            items = ItemCatalog(item_ids=self.item_ids)
        self.in_stock = items.in_stock.copy()
        self.season_start = items.season_start.copy()
        self.season_end = items.season_end.copy()
        self.category = _str_array(items.category, n)
        self.species = _str_array(items.species, n)

    def _index_ids(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {u: i for i, u in enumerate(self.item_ids)}
        self._pop_rank_cache = None
        self._mask_cache = None
        self._cold_cache = None

    def _require_fitted(self) -> None:
        if not self._fitted:
            raise UsageError(
                f"the {self.name} model is not trained yet", hint="call fit(interactions) first"
            )

    def use_catalog(self, items: ItemCatalog) -> None:
        """Take stock, seasons, species and categories from a newer catalogue without
        retraining: serving follows the shop's products table. Items the catalogue
        lacks keep neutral attributes; filter caches are rebuilt."""
        self._require_fitted()
        prepared = self._mask_cache is not None
        catalog = align_catalog(items, self.item_ids)
        n = len(self.item_ids)
        self.in_stock = catalog.in_stock.copy()
        self.season_start = catalog.season_start.copy()
        self.season_end = catalog.season_end.copy()
        self.category = _str_array(catalog.category, n)
        self.species = _str_array(catalog.species, n)
        self._mask_cache = {} if prepared else None  # serving keeps its (now empty) caches
        self._cold_cache = {} if prepared else None

    def copy_common_from(self, other: Recommender) -> None:
        """Share another model's mappings and filters (hybrid components use one copy)."""
        for attr in (
            "user_ids",
            "item_ids",
            "history",
            "excluded",
            "popularity",
            "in_stock",
            "season_start",
            "season_end",
            "category",
            "species",
            "reference_time",
        ):
            setattr(self, attr, getattr(other, attr))
        self._index_ids()
        self._fitted = other._fitted


def align_catalog(items: ItemCatalog, item_ids: Sequence[str]) -> ItemCatalog:
    """The catalogue reordered to ``item_ids``; items it lacks get neutral attributes."""
    where = {item: i for i, item in enumerate(items.item_ids)}
    pos = np.array([where.get(i, -1) for i in item_ids], dtype=np.int64)
    has = pos >= 0
    safe = np.where(has, pos, 0)

    def pick(values: Sequence[str]) -> list[str]:
        return [values[p] if p >= 0 else "" for p in pos.tolist()]

    def take(values: npt.NDArray[Any], default: Any) -> npt.NDArray[Any]:
        if len(values) == 0:
            return np.full(len(pos), default, dtype=values.dtype)
        return np.where(has, values[safe], default).astype(values.dtype)

    return ItemCatalog(
        item_ids=list(item_ids),
        texts=pick(items.texts),
        category=pick(items.category),
        species=pick(items.species),
        price=take(items.price, np.nan),
        season_start=take(items.season_start, -1),
        season_end=take(items.season_end, -1),
        in_stock=take(items.in_stock, True),
        trends=items.trends,
    )


def topk(scores: FloatArray, k: int) -> tuple[IntArray, FloatArray]:
    """Per-row top ``k`` (best first); -inf cells are never returned (index -1 pads)."""
    n_rows, n_items = scores.shape
    k = min(k, n_items)
    if k < n_items:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n_items), (n_rows, 1))
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1)
    indices[~np.isfinite(values)] = -1
    return indices, values.astype(np.float32)


def _str_array(values: Sequence[str], n: int) -> npt.NDArray[np.str_]:
    return np.asarray(list(values) if len(values) == n else [""] * n, dtype=np.str_)


# -- safe persistence -----------------------------------------------------------------------


def csr_arrays(prefix: str, matrix: sp.csr_matrix) -> Arrays:
    return {
        f"{prefix}.data": np.asarray(matrix.data, dtype=np.float32),
        f"{prefix}.indices": np.asarray(matrix.indices, dtype=np.int32),
        f"{prefix}.indptr": np.asarray(matrix.indptr, dtype=np.int64),
        f"{prefix}.shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def csr_from(prefix: str, arrays: Arrays) -> sp.csr_matrix:
    shape = tuple(int(x) for x in arrays[f"{prefix}.shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]),
        shape=shape,
    )


def _common_arrays(model: Recommender) -> Arrays:
    return {
        "user_ids": np.asarray(model.user_ids, dtype=np.str_),
        "item_ids": np.asarray(model.item_ids, dtype=np.str_),
        "popularity": model.popularity,
        "in_stock": model.in_stock,
        "season_start": model.season_start,
        "season_end": model.season_end,
        "category": model.category,
        "species": model.species,
        **csr_arrays("history", model.history),
        **csr_arrays("excluded", model.excluded),
    }


def model_state(model: Recommender) -> tuple[dict[str, Any], Arrays]:
    """A model's JSON metadata and arrays (hybrids nest their components with this)."""
    state, arrays = model._state()
    meta = {"model": model.name, "params": model.params, "state": state}
    return meta, {f"m.{key}": value for key, value in arrays.items()}


def model_from_state(
    meta: dict[str, Any], arrays: Arrays, common: Recommender | None
) -> Recommender:
    """Rebuild a model from ``model_state`` output; ``common`` supplies shared arrays."""
    model = create_model(str(meta["model"]), **meta["params"])
    if common is not None:
        model.copy_common_from(common)
    own = {key[2:]: value for key, value in arrays.items() if key.startswith("m.")}
    model._restore(meta["state"], own)
    model._fitted = True
    return model


def save_model(model: Recommender) -> bytes:
    """One ``.npz`` blob: shared arrays, the model's arrays and a JSON ``__meta__`` entry."""
    model._require_fitted()
    meta, arrays = model_state(model)
    meta.update(
        format=FORMAT,
        format_version=FORMAT_VERSION,
        reference_time=model.reference_time,
        n_users=len(model.user_ids),
        n_items=len(model.item_ids),
    )
    encoded = json.dumps(meta, sort_keys=True, default=_json_default).encode()
    arrays = {**_common_arrays(model), **arrays}
    arrays[META_KEY] = np.frombuffer(encoded, dtype=np.uint8)
    return arrays_to_bytes(arrays)


def load_model(data: bytes) -> Recommender:
    """The model ``save_model`` wrote; recommendations are identical to the saved one's."""
    arrays = arrays_from_bytes(data)
    raw = arrays.pop(META_KEY, None)
    try:
        meta = json.loads(bytes(raw).decode()) if raw is not None else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsafeInputError(
            "model metadata is not valid JSON", hint="re-save the model"
        ) from exc
    if meta.get("format") != FORMAT:
        raise UsageError(
            "these bytes are not a kibble recommender",
            hint="load blobs written by kibble.recsys.save_model",
        )
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise UsageError(
            f"model format {meta['format_version']} is newer than this kibble",
            hint="upgrade kibble to load it",
        )
    try:
        return _rebuild(meta, arrays)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise UsageError(
            f"the model blob is incomplete or inconsistent ({exc})",
            hint="re-save the model with kibble.recsys.save_model",
        ) from exc


def _rebuild(meta: dict[str, Any], arrays: Arrays) -> Recommender:
    base = create_model(str(meta["model"]), **meta["params"])
    base.user_ids = [str(u) for u in arrays["user_ids"].tolist()]
    base.item_ids = [str(i) for i in arrays["item_ids"].tolist()]
    base.history = csr_from("history", arrays)
    base.excluded = csr_from("excluded", arrays)
    base.popularity = arrays["popularity"]
    base.in_stock = arrays["in_stock"]
    base.season_start = arrays["season_start"]
    base.season_end = arrays["season_end"]
    base.category = arrays["category"]
    base.species = arrays["species"]
    base.reference_time = float(meta.get("reference_time", 0.0))
    base._index_ids()
    base._fitted = True
    own = {key[2:]: value for key, value in arrays.items() if key.startswith("m.")}
    base._restore(meta["state"], own)
    return base


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Iterable):
        return list(value)
    return str(value)


ModelFactory = Callable[..., Recommender]
