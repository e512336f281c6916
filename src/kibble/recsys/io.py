"""Reading interaction, item and user files (CSV, TSV, Parquet) for bring-your-own-data.

Headerless files are common (MovieLens' ``u.data``): when the first row holds a number,
columns are named by ``columns`` or, for four columns, ``user_id item_id rating
timestamp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from kibble.errors import UsageError

HEADERLESS_4 = ("user_id", "item_id", "rating", "timestamp")


def _separator(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".tsv" in suffixes or ".tab" in suffixes or ".data" in suffixes:
        return "\t"
    if path.suffix.lower() in {".csv", ".txt"}:
        sample = path.open("r", encoding="utf-8", errors="replace").readline()
        return "\t" if sample.count("\t") > sample.count(",") else ","
    return ","


def _any_numeric(names: Sequence[str]) -> bool:
    """A header row never has numbers for names; a data row usually does."""

    def numeric(value: str) -> bool:
        try:
            float(value)
        except ValueError:
            return False
        return True

    return any(numeric(n) for n in names)


def read_table(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
) -> pl.DataFrame:
    """A file as a Polars frame; ``columns`` names the columns of a headerless file."""
    file = Path(path).expanduser()
    if file.is_dir():  # a landing folder: its files, partition folders included
        from kibble.data.connectors import read_files_frame

        frame = read_files_frame(file)
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise UsageError(
                f"{file.name} has no column {missing[0]!r} (columns: {', '.join(frame.columns)})",
                hint="name the columns with --user-col / --item-col / --time-col",
            )
        return frame
    if not file.is_file():
        raise UsageError(f"{file} does not exist", hint="check the path")
    try:
        if file.suffix.lower() in {".parquet", ".pq"}:
            frame = pl.read_parquet(file)
        else:
            separator = _separator(file)
            frame = pl.read_csv(file, separator=separator, infer_schema_length=10_000)
            lacking = not set(required) <= set(frame.columns)
            if lacking and (columns or _any_numeric(frame.columns)):
                names = list(columns) if columns else None
                if names is None and len(frame.columns) == len(HEADERLESS_4):
                    names = list(HEADERLESS_4)
                if names is None or len(names) != len(frame.columns):
                    raise UsageError(
                        f"{file.name} has no header row and {len(frame.columns)} columns",
                        hint="name them with --columns a,b,c in file order",
                    )
                frame = pl.read_csv(
                    file,
                    separator=separator,
                    has_header=False,
                    new_columns=names,
                    infer_schema_length=10_000,
                )
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot read {file.name}: {detail}",
            hint="check that the file is complete CSV, TSV or Parquet",
        ) from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{file.name} has no column {missing[0]!r} (columns: {', '.join(frame.columns)})",
            hint="name the columns with --user-col / --item-col / --time-col, or --columns",
        )
    return frame
