"""Human output by default (rich tables), one JSON document with ``--json``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")
JsonOption = typer.Option(False, "--json", help="print machine-readable JSON instead of a table")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@contextmanager
def working(message: str, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner saying what a long command is doing, on stderr (stdout stays for
    --json) and only on a terminal; ``quiet`` (--json) turns it off. Yields a function
    that updates the message with the current step."""
    if quiet or not err_console.is_terminal:
        yield lambda _msg: None
        return
    with err_console.status(message) as status:
        yield lambda msg: status.update(f"{message}: {msg}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_default, indent=2, sort_keys=False) + "\n")


def _cell(value: Any) -> str:
    """A table cell: times to the second in UTC (what a reader compares), never cut."""
    if value is None:
        return ""
    if isinstance(value, str) and ISO_TIME.fullmatch(value):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return str(value.strftime("%Y-%m-%d %H:%M:%S"))
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Cells wrap (fold) on a narrow terminal instead of ending in an ellipsis."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(cell) for cell in row))
    console.print(table)
    if not rows:
        console.print("[dim](none)[/dim]")


def emit(data: Any, as_json: bool, title: str, columns: Sequence[str], keys: Sequence[str]) -> None:
    """Print a list of dicts as JSON or as a table of ``keys``."""
    if as_json:
        print_json(data)
        return
    rows = [[item.get(key) for key in keys] for item in data]
    print_table(title, columns, rows)
