"""The weighted user x item matrix every model trains on, with stable string-id mappings.

Built from an events table (Arrow, Polars or pandas): each event type has a weight
(view 1, click 2, add_to_cart 4, purchase 8 by default), repeated events add up, and an
optional half-life decays old events. The raw (user, item, weight, time) triples are kept
so a model can re-weight them (the popularity baseline decays with its own half-life).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from kibble.artifacts.formats import arrays_from_bytes, arrays_to_bytes
from kibble.errors import UsageError

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "add_to_cart": 4.0,
    "purchase": 8.0,
}
DEFAULT_EXCLUDE_EVENTS: tuple[str, ...] = ("purchase",)
SECONDS_PER_DAY = 86_400.0

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]


def to_polars(table: Any) -> pl.DataFrame:
    """Accept a Polars frame, an Arrow table or a pandas frame."""
    if isinstance(table, pl.DataFrame):
        return table
    if isinstance(table, pl.LazyFrame):
        return table.collect()
    frame = pl.from_arrow(table) if hasattr(table, "schema") and hasattr(table, "column") else None
    if isinstance(frame, pl.DataFrame):
        return frame
    try:
        return pl.from_pandas(table)
    except (TypeError, ValueError, ImportError) as exc:
        raise UsageError(
            f"cannot read events from {type(table).__name__}",
            hint="pass a Polars DataFrame, a pyarrow Table or a pandas DataFrame",
        ) from exc


def epoch_seconds(column: pl.Series) -> npt.NDArray[np.float64]:
    """Seconds since the epoch for a datetime, date or numeric column."""
    dtype = column.dtype
    if dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
        dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        micros = column.dt.replace_time_zone(None).cast(pl.Datetime("us")).cast(pl.Int64)
        return micros.cast(pl.Float64).to_numpy() / 1e6
    if dtype.is_numeric():
        return column.cast(pl.Float64).to_numpy()
    if dtype == pl.String:
        parsed = column.str.to_datetime(strict=False)
        if parsed.null_count() > column.null_count():
            raise UsageError(
                f"time column {column.name!r} has values that are not timestamps",
                hint="use ISO-8601 strings, a datetime column or epoch seconds",
            )
        return epoch_seconds(parsed)
    raise UsageError(
        f"time column {column.name!r} has type {dtype}",
        hint="use a datetime, a date or epoch seconds",
    )


def _codes(values: pl.Series) -> tuple[list[str], IntArray]:
    """Sorted distinct ids and each row's position among them (stable across runs)."""
    distinct = values.unique().sort()
    positions = pl.int_range(0, len(distinct), eager=True, dtype=pl.Int64)
    codes = values.replace_strict(distinct, positions, return_dtype=pl.Int64).to_numpy()
    return distinct.to_list(), np.asarray(codes, dtype=np.int64)


def _index(ids: Sequence[str]) -> dict[str, int]:
    return {value: position for position, value in enumerate(ids)}


@dataclass
class Interactions:
    """A sparse users x items matrix (CSR, float32) plus what built it."""

    user_ids: list[str]
    item_ids: list[str]
    matrix: sp.csr_matrix
    exclude: sp.csr_matrix
    rows: IntArray = field(repr=False)
    cols: IntArray = field(repr=False)
    weights: FloatArray = field(repr=False)
    times: npt.NDArray[np.float64] = field(repr=False)
    flags: npt.NDArray[np.bool_] = field(repr=False)
    reference_time: float = 0.0
    half_life_days: float | None = None
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = _index(self.user_ids)
        self._item_index = _index(self.item_ids)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    @classmethod
    def from_events(
        cls,
        events: Any,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        time_col: str | None = "timestamp",
        event_col: str | None = None,
        weight_col: str | None = None,
        event_weights: Mapping[str, float] | None = None,
        exclude_events: Iterable[str] = DEFAULT_EXCLUDE_EVENTS,
        half_life_days: float | None = None,
        reference_time: float | None = None,
    ) -> Interactions:
        """Aggregate events into a matrix.

        ``event_col`` maps each event type through ``event_weights``; ``weight_col`` takes a
        numeric weight (a rating); with neither, every row weighs 1. Rows whose event type
        is in ``exclude_events`` (purchases by default) mark items a model will not
        recommend again to that user; with ``weight_col`` and no event column nothing is
        marked.
        """
        frame = to_polars(events)
        needed = [user_col, item_col] + [c for c in (time_col, event_col, weight_col) if c]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise UsageError(
                f"events have no column {missing[0]!r} (columns: {', '.join(frame.columns)})",
                hint="name the columns with user_col / item_col / time_col / event_col",
            )
        frame = frame.drop_nulls([user_col, item_col])
        users = frame[user_col].cast(pl.String)
        items = frame[item_col].cast(pl.String)
        weights_map = dict(event_weights or DEFAULT_EVENT_WEIGHTS)
        exclude_flags = np.zeros(frame.height, dtype=bool)
        if weight_col is not None:
            weights = frame[weight_col].cast(pl.Float64).fill_null(0.0).to_numpy()
        elif event_col is not None:
            kinds = frame[event_col].cast(pl.String)
            mapped = kinds.replace_strict(weights_map, default=0.0, return_dtype=pl.Float64)
            weights = mapped.to_numpy()
            exclude_flags = kinds.is_in(list(exclude_events)).fill_null(False).to_numpy()
        else:
            weights = np.ones(frame.height, dtype=np.float64)
        times = (
            epoch_seconds(frame[time_col])
            if time_col is not None
            else np.zeros(frame.height, dtype=np.float64)
        )
        user_ids, user_codes = _codes(users)
        item_ids, item_codes = _codes(items)
        return cls.from_arrays(
            user_ids,
            item_ids,
            np.asarray(user_codes, dtype=np.int64),
            np.asarray(item_codes, dtype=np.int64),
            np.asarray(weights, dtype=np.float32),
            np.asarray(times, dtype=np.float64),
            exclude_flags=exclude_flags,
            half_life_days=half_life_days,
            reference_time=reference_time,
        )

    @classmethod
    def from_arrays(
        cls,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        rows: IntArray,
        cols: IntArray,
        weights: FloatArray,
        times: npt.NDArray[np.float64] | None = None,
        *,
        exclude_flags: npt.NDArray[np.bool_] | None = None,
        half_life_days: float | None = None,
        reference_time: float | None = None,
    ) -> Interactions:
        """Build from integer codes (the fast path the benchmark and the simulator use)."""
        times = np.zeros(len(rows), dtype=np.float64) if times is None else times
        ref = float(times.max()) if reference_time is None and len(times) else reference_time
        ref = float(ref or 0.0)
        values = decay(weights, times, ref, half_life_days)
        shape = (len(user_ids), len(item_ids))
        matrix = sp.csr_matrix((values, (rows, cols)), shape=shape, dtype=np.float32)
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        flags = np.zeros(len(rows), dtype=bool) if exclude_flags is None else exclude_flags
        exclude = sp.csr_matrix(
            (np.ones(int(flags.sum()), dtype=np.float32), (rows[flags], cols[flags])),
            shape=shape,
        )
        exclude.sum_duplicates()
        return cls(
            user_ids=list(user_ids),
            item_ids=list(item_ids),
            matrix=matrix,
            exclude=exclude,
            rows=rows,
            cols=cols,
            weights=weights,
            times=times,
            flags=flags,
            reference_time=ref,
            half_life_days=half_life_days,
        )

    def to_bytes(self) -> bytes:
        """The raw events and mappings as one ``.npz`` (a pipeline step can return it)."""
        return arrays_to_bytes(
            {
                "user_ids": np.asarray(self.user_ids, dtype=np.str_),
                "item_ids": np.asarray(self.item_ids, dtype=np.str_),
                "rows": self.rows,
                "cols": self.cols,
                "weights": self.weights,
                "times": self.times,
                "flags": self.flags,
                "settings": np.array(
                    [self.reference_time, self.half_life_days or 0.0], dtype=np.float64
                ),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Interactions:
        arrays = arrays_from_bytes(data)
        reference_time, half_life = arrays["settings"].tolist()
        return cls.from_arrays(
            [str(u) for u in arrays["user_ids"].tolist()],
            [str(i) for i in arrays["item_ids"].tolist()],
            arrays["rows"],
            arrays["cols"],
            arrays["weights"],
            arrays["times"],
            exclude_flags=arrays["flags"],
            half_life_days=half_life or None,
            reference_time=reference_time,
        )

    def with_items(self, item_ids: Iterable[str]) -> Interactions:
        """The same interactions over a wider item universe (catalogue items never seen)."""
        extra = [i for i in dict.fromkeys(item_ids) if i not in self._item_index]
        if not extra:
            return self
        shape = (len(self.user_ids), len(self.item_ids) + len(extra))
        return Interactions(
            user_ids=self.user_ids,
            item_ids=self.item_ids + extra,
            matrix=_widen(self.matrix, shape),
            exclude=_widen(self.exclude, shape),
            rows=self.rows,
            cols=self.cols,
            weights=self.weights,
            times=self.times,
            flags=self.flags,
            reference_time=self.reference_time,
            half_life_days=self.half_life_days,
        )

    def decayed_popularity(self, half_life_days: float | None) -> FloatArray:
        """Per-item sum of event weights, decayed towards ``reference_time``."""
        values = decay(self.weights, self.times, self.reference_time, half_life_days)
        totals = np.bincount(self.cols, weights=values, minlength=len(self.item_ids))
        return totals.astype(np.float32)

    def select(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where ``mask`` holds, over the same id mappings (for splits)."""
        return Interactions.from_arrays(
            self.user_ids,
            self.item_ids,
            self.rows[mask],
            self.cols[mask],
            self.weights[mask],
            self.times[mask],
            exclude_flags=self.flags[mask],
            half_life_days=self.half_life_days,
        )


def decay(
    weights: FloatArray,
    times: npt.NDArray[np.float64],
    reference_time: float,
    half_life_days: float | None,
) -> FloatArray:
    """Halve an event's weight every ``half_life_days`` before ``reference_time``."""
    if not half_life_days:
        return weights.astype(np.float32, copy=False)
    age_days = np.maximum(reference_time - times, 0.0) / SECONDS_PER_DAY
    factor = np.exp2(-age_days / half_life_days)
    return (weights * factor).astype(np.float32)


def _widen(matrix: sp.csr_matrix, shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=shape)
