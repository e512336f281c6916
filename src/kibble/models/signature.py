"""A model's input signature: column names and types taken from its training frame.

Serving, the probe and batch scoring check rows against it before the model sees them,
so a missing column or a wrong type is a 400 naming the column, not a stack trace. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from kibble.errors import UsageError

ColumnType = Literal["int", "float", "bool", "str"]


class Column(BaseModel):
    name: str
    type: ColumnType


class Signature(BaseModel):
    """The columns a model was trained on, in order."""

    columns: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


def _kind(dtype: Any) -> ColumnType:
    """A column type from a pandas, numpy or polars dtype's name."""
    text = str(dtype).lower()
    if "bool" in text:
        return "bool"
    if "int" in text:
        return "int"
    if "float" in text or "decimal" in text:
        return "float"
    if text in ("object", "string", "str", "utf8", "categorical", "category") or "str" in text:
        return "str"
    raise UsageError(
        f"column type {dtype} has no signature type",
        hint="train on int, float, bool or string columns (convert dates to numbers)",
    )


def signature_of(frame: Any) -> Signature:
    """The signature of a pandas or polars frame (column order kept)."""
    if hasattr(frame, "schema") and hasattr(frame, "height"):  # polars
        items = list(frame.schema.items())
    elif hasattr(frame, "dtypes") and hasattr(frame, "columns"):  # pandas
        items = list(zip(frame.columns, frame.dtypes, strict=True))
    else:
        raise UsageError(
            f"cannot read a signature from a {type(frame).__name__}",
            hint="pass training_frame= a pandas or polars DataFrame, or signature={name: type}",
        )
    return Signature(columns=[Column(name=str(n), type=_kind(t)) for n, t in items])


def _fits(value: Any, kind: ColumnType) -> bool:
    if kind == "float":
        return (isinstance(value, int | float) and not isinstance(value, bool)) or value is None
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def check_rows(signature: Signature, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows reduced to the signature's columns in its order; raise one UsageError naming
    the first missing column or wrongly typed value (extra columns are ignored)."""
    if not rows:
        raise UsageError("no rows to predict", hint='send {"inputs": [{column: value, ...}]}')
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise UsageError(f"row {i} is not an object", hint="send each row as {column: value}")
        clean: dict[str, Any] = {}
        for col in signature.columns:
            if col.name not in row:
                raise UsageError(
                    f"row {i}: missing column {col.name!r}",
                    hint=f"send every column of the signature: {', '.join(signature.names)}",
                )
            value = row[col.name]
            if not _fits(value, col.type):
                raise UsageError(
                    f"row {i}: column {col.name!r} must be {col.type}, got {type(value).__name__}",
                    hint=f"send {col.name} as a JSON {col.type}",
                )
            clean[col.name] = math.nan if value is None else value
        out.append(clean)
    return out
