"""A tiny harness every benchmark uses, so results read the same and compare across commits.

Each benchmark measures kibble and its named baseline side by side in one run, prints a
table, and ends with one JSON line:
``{"bench": NAME, "figures": {...}, "ratios": {...}, "targets": {...}, "met": {...}}``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class Bench:
    name: str
    figures: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)
    met: dict[str, bool] = field(default_factory=dict)

    def figure(self, name: str, value: float, unit: str = "s") -> float:
        self.figures[name] = round(float(value), 6)
        self.units[name] = unit
        return value

    def ratio(self, name: str, ours: float, baseline: float) -> float:
        value = ours / baseline if baseline else float("inf")
        self.ratios[name] = round(value, 4)
        return value

    def target(self, name: str, description: str, met: bool) -> None:
        self.targets[name] = description
        self.met[name] = bool(met)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.figure(name, time.perf_counter() - start, "s")

    def report(self, extra: dict[str, Any] | None = None) -> None:
        console = Console(stderr=False)
        table = Table(title=f"bench: {self.name}", title_justify="left")
        for column in ("kind", "name", "value", "note"):
            table.add_column(column)
        for key, value in self.figures.items():
            table.add_row("figure", key, f"{value:,.4g}", self.units.get(key, ""))
        for key, value in self.ratios.items():
            table.add_row("ratio", key, f"{value:.3f}x", "")
        for key, description in self.targets.items():
            table.add_row("target", key, "met" if self.met[key] else "MISSED", description)
        console.print(table)
        payload: dict[str, Any] = {
            "bench": self.name,
            "figures": self.figures,
            "ratios": self.ratios,
            "targets": self.targets,
            "met": self.met,
        }
        if extra:
            payload.update(extra)
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()


def peak_rss_mib() -> float:
    """Peak resident memory of this process (and waited-for children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024
