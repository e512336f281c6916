"""A tiny harness every benchmark uses, so results read the same and compare across commits.

Each benchmark measures kibble and its named baseline side by side in one run, prints a
table, and ends with one JSON line:
``{"bench": NAME, "figures": {...}, "ratios": {...}, "targets": {...}, "met": {...},
"env": {...}}``, where ``env`` says where and with what it ran (machine, load average at
start and end, kibble's and the peers' versions). With ``KIBBLE_BENCH_RESULTS=DIR`` (as
``make bench`` sets) the same record is written to ``DIR/<bench>.json``, the source of
``docs/benchmarks.md``.

Peers that cannot share kibble's pins (Prefect, Metaflow, Evidently) live in their own
virtualenv, ``.venv-peers`` (``make bench`` builds it from ``bench/requirements-peers.txt``);
``peer_python`` finds it and fails the bench with the reason when a peer is missing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
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
    peers: dict[str, str] = field(default_factory=dict)
    loadavg_start: float = field(default_factory=lambda: os.getloadavg()[0])

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
        payload = self.payload()
        if extra:
            payload.update(extra)
        line = json.dumps(payload)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        if folder := os.environ.get("KIBBLE_BENCH_RESULTS"):
            path = Path(folder) / f"{self.name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(payload, indent=1) + "\n")

    def payload(self) -> dict[str, Any]:
        """The record a run leaves: its JSON line and ``bench/results/<name>.json``."""
        return {
            "bench": self.name,
            "figures": self.figures,
            # a zero baseline gives no ratio: null, not JSON's non-standard Infinity
            "ratios": {k: v if math.isfinite(v) else None for k, v in self.ratios.items()},
            "targets": self.targets,
            "met": self.met,
            "units": self.units,
            "env": self.environment(),
        }

    def environment(self) -> dict[str, Any]:
        """Where the figures come from: read them against this, not as absolutes."""
        return {
            "machine": f"{platform.machine()} {platform.system()} {os.cpu_count()} cpus",
            "memory_gib": round(
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1
            ),
            "python": platform.python_version(),
            "loadavg_1m": {
                "start": round(self.loadavg_start, 2),
                "end": round(os.getloadavg()[0], 2),
            },
            "versions": {name: _version(name) for name in OURS},
            "peers": dict(self.peers),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    def uses_peers(self, python: str, *names: str) -> None:
        """Record the versions of ``names`` installed for ``python`` (the peers' venv)."""
        self.peers.update(peer_versions(python, names))


# kibble and the libraries its figures depend on most; peers are recorded by the bench.
OURS = ("kibble", "numpy", "polars", "deltalake", "sqlalchemy", "fastapi", "faiss-cpu", "implicit")
ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = os.environ.get("KIBBLE_BENCH_PEERS_PYTHON", str(ROOT / ".venv-peers/bin/python"))


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def peer_python(*names: str) -> str:
    """The peers' interpreter, checked to import ``names``; a missing peer fails the bench."""
    if not Path(PEERS_PYTHON).exists():
        raise SystemExit(
            f"peer environment missing: {PEERS_PYTHON} does not exist; run `make bench` "
            "(it builds .venv-peers from bench/requirements-peers.txt) or set "
            "KIBBLE_BENCH_PEERS_PYTHON to a Python that has the peers installed"
        )
    peer_versions(PEERS_PYTHON, names)
    return PEERS_PYTHON


def peer_versions(python: str, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{name: version}`` as ``python`` sees them; exits with the reason if one is missing."""
    script = (
        "import json, sys\nfrom importlib import metadata\n"
        "print(json.dumps({n: metadata.version(n) for n in sys.argv[1:]}))"
    )
    done = subprocess.run(
        [python, "-c", script, *names], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(
            f"peer missing: {', '.join(names)} not importable by {python} ({reason[0]}); "
            "run `make bench` to install bench/requirements-peers.txt"
        )
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def peak_rss_mib() -> float:
    """Peak resident memory of this process (and waited-for children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024
