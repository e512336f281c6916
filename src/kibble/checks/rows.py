"""Row-level rules: map a source frame onto a contract and split good rows from bad.

Pure and vectorised (Polars expressions, no Python loop over rows). A row that breaks
a rule is never dropped: it is returned with a ``_reason`` naming every rule it broke,
so ingestion can write it to the quarantine table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from kibble.data.contracts.model import Column, Contract
from kibble.errors import UsageError

REASON = "_reason"
_BROKEN = "__kibble_broken"
_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us", "UTC"),
}


def polars_type(column: Column) -> pl.DataType:
    return _TYPES[column.type]


@dataclass(frozen=True)
class Conformed:
    good: pl.DataFrame
    bad: pl.DataFrame
    rows_read: int
    extra_columns: list[str]


def _cast(expr: pl.Expr, source: pl.DataType, column: Column) -> pl.Expr:
    target = polars_type(column)
    if column.type == "timestamp":
        if source == pl.String:
            return expr.str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        if isinstance(source, pl.Datetime):
            tz = source.time_zone
            out = expr.dt.cast_time_unit("us")
            return (
                out.dt.replace_time_zone("UTC") if tz is None else out.dt.convert_time_zone("UTC")
            )
    if column.type == "date" and source == pl.String:
        return expr.str.to_date(strict=False)
    if column.type == "date" and isinstance(source, pl.Datetime):
        return expr.dt.date()
    if column.type == "bool" and source == pl.String:
        lowered = expr.str.to_lowercase()
        return (
            pl.when(lowered.is_in(["true", "1", "yes", "t"]))
            .then(True)
            .when(lowered.is_in(["false", "0", "no", "f"]))
            .then(False)
            .otherwise(None)
        )
    if column.type == "int64" and source == pl.String:
        return expr.str.strip_chars().cast(pl.Int64, strict=False)
    return expr.cast(target, strict=False)


def _rules(column: Column, raw: pl.Expr, value: pl.Expr) -> list[tuple[pl.Expr, str]]:
    name = column.name
    rules = [(raw.is_not_null() & value.is_null(), f"{name}: not a valid {column.type}")]
    if not column.nullable:
        rules.append((raw.is_null(), f"{name}: missing value"))
    if column.min is not None:
        rules.append((value < column.min, f"{name}: below minimum {column.min:g}"))
    if column.max is not None:
        rules.append((value > column.max, f"{name}: above maximum {column.max:g}"))
    if column.allowed is not None:
        rules.append((~value.is_in(column.allowed), f"{name}: value not allowed"))
    if column.pattern is not None:
        rules.append((~value.str.contains(column.pattern), f"{name}: does not match pattern"))
    return rules


def conform(
    frame: pl.DataFrame,
    contract: Contract,
    *,
    mapping: dict[str, str] | None = None,
    partition: date | None = None,
) -> Conformed:
    """Rename (``mapping``: contract column -> source column), cast, and apply row rules."""
    renames = {src: dst for dst, src in (mapping or {}).items() if src in frame.columns}
    frame = frame.rename(renames) if renames else frame
    part = contract.partition_by
    if part and part not in frame.columns:
        if partition is not None:
            frame = frame.with_columns(pl.lit(partition, pl.Date).alias(part))
        else:
            stamp = next((c for c in contract.columns if c.type == "timestamp"), None)
            if stamp and stamp.name in frame.columns:
                moment = _cast(pl.col(stamp.name), frame.schema[stamp.name], stamp)
                frame = frame.with_columns(moment.dt.date().alias(part))
    missing = [c.name for c in contract.columns if c.name not in frame.columns and not c.nullable]
    if missing:
        raise UsageError(  # a file without the columns asked for: bad input, like any command's
            f"source lacks required columns of {contract.name}: {', '.join(missing)}",
            hint="map them with --map COLUMN=SOURCE_COLUMN or fix the source",
        )
    extra = [c for c in frame.columns if c not in contract.column_names]
    frame = frame.with_columns(
        pl.lit(None).alias(c.name) for c in contract.columns if c.name not in frame.columns
    )
    values, checks = [], []
    for column in contract.columns:
        raw = pl.col(column.name)
        value = _cast(raw, frame.schema[column.name], column).alias(column.name)
        values.append(value)
        checks.extend(_rules(column, raw, value))
    if part and partition is not None:
        day = _cast(pl.col(part), frame.schema[part], contract.column(part))
        checks.append((day != pl.lit(partition), f"{part}: outside partition {partition}"))
    # One pass computes the cast values and a cheap "any rule broken" flag; the reason
    # strings are built only for the (usually few) bad rows, never for the whole batch.
    broken = pl.any_horizontal([mask.fill_null(False) for mask, _ in checks])
    out = frame.lazy().select(*values, broken.alias(_BROKEN)).collect()
    n_bad = int(out.get_column(_BROKEN).sum())
    if n_bad == 0:
        good, bad_rows = out.drop(_BROKEN), frame.clear()
    else:
        flags = out.get_column(_BROKEN)
        good = out.filter(~flags).drop(_BROKEN)
        bad_rows = frame.filter(flags)
    del out
    reason = pl.concat_str(
        [pl.when(mask).then(pl.lit(text)) for mask, text in checks],
        separator="; ",
        ignore_nulls=True,
    )
    bad = bad_rows.select(
        *(pl.col(c.name).cast(pl.String) for c in contract.columns), reason.alias(REASON)
    )
    return Conformed(good=good, bad=bad, rows_read=frame.height, extra_columns=extra)


def key_expr(columns: list[str]) -> pl.Expr:
    return pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)


def first_of_each_key(frame: pl.DataFrame, key: list[str]) -> pl.Series:
    """True for the first row of each key (no copy of the frame).

    Fast path: when the 64-bit hashes of the keys are all distinct, the keys are too
    (equal keys always hash alike), and counting distinct integers is several times
    cheaper than hashing strings into a table; only a batch that really holds
    duplicates pays for the exact pass.
    """
    expr = key_expr(key or frame.columns)
    if frame.select(expr.hash().n_unique()).item() == frame.height:
        return pl.repeat(True, frame.height, eager=True)
    return frame.select(expr.is_first_distinct()).to_series()
