"""Connectors: read a source into an Arrow table. Files, SQL, HTTP JSON.

A source is named by one string, so the CLI and the scheduler can pass it around:

- a path to a file or a folder of files (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``,
  ``.json``, ``.parquet``);
- an ``http(s)://`` URL (fetched through the SSRF guard; JSON records or any file format);
- an SQLAlchemy URL (``postgresql+psycopg://...``, ``sqlite:///...``) with a ``table`` or
  ``query`` option.

Connectors only read; mapping onto a contract happens in ``kibble.data.conform``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from kibble.data.urls import fetch
from kibble.errors import UnsafeInputError, UsageError

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SQL_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mariadb", "mssql", "oracle")


@dataclass(frozen=True)
class SourceOptions:
    format: str | None = None
    table: str | None = None
    query: str | None = None
    records_path: str | None = None
    allow_private_urls: bool = False
    max_bytes: int = 1024 * 1024 * 1024
    timeout_s: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)


def source_kind(source: str) -> str:
    """``files``, ``http`` or ``sql``; anything else is refused before it is touched."""
    if "://" not in source:
        return "files"
    scheme = urlsplit(source).scheme.lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme.split("+", 1)[0] in SQL_SCHEMES:
        return "sql"
    raise UnsafeInputError(
        f"source scheme {scheme!r} is not supported",
        hint="give a local path, an http(s):// URL or an SQLAlchemy database URL",
    )


def read_source(source: str, options: SourceOptions | None = None) -> pa.Table:
    return read_frame(source, options).to_arrow()


def read_frame(source: str, options: SourceOptions | None = None) -> pl.DataFrame:
    """The source as a Polars frame (ingestion's path: no round trip through Arrow)."""
    options = options or SourceOptions()
    kind = source_kind(source)
    if kind == "files":
        return read_files_frame(Path(source), options.format)
    if kind == "http":
        return _frame(read_http(source, options))
    return _frame(read_sql(source, table=options.table, query=options.query))


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _format_of(name: str, given: str | None) -> str:
    fmt = given or _SUFFIXES.get(Path(name).suffix.lower())
    if fmt not in FORMATS:
        raise UsageError(
            f"cannot tell the format of {name!r}",
            hint=f"pass --format, one of {', '.join(FORMATS)}",
        )
    return fmt


def _read_one(data: Path | bytes, fmt: str, records_path: str | None = None) -> pl.DataFrame:
    """One file (or body) as a frame; an empty, binary or truncated one is bad input."""
    name = data.name if isinstance(data, Path) else "the response"
    try:
        return _parse(data, fmt, records_path)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"cannot read {name} as {fmt}: {detail}",
            hint="check that the file is complete and in that format, or pass --format",
        ) from exc


def _parse(data: Path | bytes, fmt: str, records_path: str | None) -> pl.DataFrame:
    src: Any = data if isinstance(data, Path) else io.BytesIO(data)
    if fmt == "parquet":
        return pl.read_parquet(src)
    if fmt in ("csv", "tsv"):
        return pl.read_csv(
            src, separator="\t" if fmt == "tsv" else ",", infer_schema=False, try_parse_dates=False
        )
    if fmt == "jsonl":
        return pl.read_ndjson(src, infer_schema_length=None)
    raw = json.loads(data.read_bytes() if isinstance(data, Path) else data)
    for part in (records_path or "").split("."):
        if part:
            if not isinstance(raw, dict) or part not in raw:
                raise UsageError(f"JSON has no field {part!r} on the records path")
            raw = raw[part]
    if not isinstance(raw, list):
        raise UsageError(
            "JSON source is not a list of records",
            hint="point --records-path at the list, e.g. 'data.items'",
        )
    return pl.from_dicts(raw, infer_schema_length=None) if raw else pl.DataFrame()


def read_files(path: Path, fmt: str | None = None) -> pa.Table:
    """A file, or every data file under a folder (sorted by path), as one table."""
    return read_files_frame(path, fmt).to_arrow()


def read_files_frame(path: Path, fmt: str | None = None) -> pl.DataFrame:
    """:func:`read_files` as a Polars frame."""
    if path.is_dir():  # partition folders (date=...) included
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        files = [p for p in files if fmt or p.suffix.lower() in _SUFFIXES]
        if not files:
            raise UsageError(f"folder {path} has no data files", hint=f"formats: {FORMATS}")
    elif path.is_file():
        files = [path]
    else:
        raise UsageError(f"source {path} does not exist", hint="check the path")
    frames = [_read_one(p, _format_of(p.name, fmt)) for p in files]
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def read_http(url: str, options: SourceOptions) -> pa.Table:
    """GET a URL through the SSRF guard; JSON by default, other formats by suffix."""
    body = fetch(
        url,
        allow_private=options.allow_private_urls,
        max_bytes=options.max_bytes,
        timeout_s=options.timeout_s,
        headers=options.headers,
    )
    path = urlsplit(url).path
    fmt = options.format or _SUFFIXES.get(Path(path).suffix.lower(), "json")
    return _read_one(body, fmt, options.records_path).to_arrow()


def read_sql(url: str, *, table: str | None = None, query: str | None = None) -> pa.Table:
    """Read a table or a query result through SQLAlchemy (identifiers are quoted)."""
    if bool(table) == bool(query):
        raise UsageError("an SQL source needs exactly one of --sql-table or --query")
    engine = sa.create_engine(url)
    try:
        if table:
            schema, _, name = table.rpartition(".")
            statement: sa.Executable = sa.select(sa.text("*")).select_from(
                sa.table(name, schema=schema or None)
            )
        else:
            statement = sa.text(query or "")
        with engine.connect() as connection:
            result = connection.execute(statement)
            columns = list(result.keys())
            rows = result.fetchall()
    except sa.exc.SQLAlchemyError as exc:
        raise UsageError(
            f"cannot read from the SQL source: {exc.__class__.__name__}: {exc.args[0]}",
            hint="check the URL, the table name or the query",
        ) from exc
    finally:
        engine.dispose()
    data = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
    return pl.DataFrame(data, strict=False, infer_schema_length=None).to_arrow()
