"""Ingest and fully check N events (default 10M) against the bare delta-rs baseline.

Baseline: ``polars.read_parquet`` then ``deltalake.write_deltalake`` of the same file.
Ours: ``kibble.data.ingest`` (contract casting, row rules + quarantine, dedup within
the batch and against the table) then ``run_checks`` over the whole table (schema,
values, keys, referential integrity) and over the last day (freshness, volume, drift).
``peak_rss_mib`` is the whole process (inputs and baseline included);
``kibble_peak_rss_mib`` the ingest + checks phase alone (Linux).

    .venv/bin/python bench/ingest_check.py            # 10M events
    .venv/bin/python bench/ingest_check.py --rows 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench, peak_rss_mib
from kibble.checks.runner import run_checks
from kibble.config import load_settings
from kibble.context import Context
from kibble.data.ingest import ingest

DAYS = 28


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (Linux), to measure one phase on its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _phase_peak_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


TYPES = np.array(["view", "click", "add_to_cart", "purchase"])


def make_inputs(folder: Path, rows: int, items: int, users: int) -> Path:
    rng = np.random.default_rng(7)
    idx = np.arange(rows)
    start = np.datetime64("2026-10-01T00:00:00", "us")
    ts = start + rng.integers(0, DAYS * 86_400_000_000, rows).astype("timedelta64[us]")
    events = pa.table(
        {
            "event_id": pa.array(np.char.add("e", idx.astype(str))),
            "user_id": rng.integers(0, users, rows),
            "item_id": rng.integers(0, items, rows),
            "event_type": pa.array(TYPES[rng.choice(4, rows, p=[0.7, 0.2, 0.07, 0.03])]),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "session_id": pa.array(np.char.add("s", (idx // 20).astype(str))),
            "request_id": pa.nulls(rows, pa.string()),
        }
    )
    path = folder / "events.parquet"
    pq.write_table(events, path)
    pl.DataFrame(
        {
            "item_id": np.arange(items),
            "title": [f"product {i}" for i in range(items)],
            "description": [None] * items,
            "category": ["dog/toys/chew"] * items,
            "species": ["dog"] * items,
            "price": rng.uniform(1, 200, items),
            "season_start": [None] * items,
            "season_end": [None] * items,
            "in_stock": [True] * items,
        }
    ).write_parquet(folder / "products.parquet")
    pl.DataFrame(
        {
            "user_id": np.arange(users),
            "dog_size": np.array(["small", "medium", "large"])[np.arange(users) % 3],
            "budget": np.array(["low", "mid", "high"])[np.arange(users) % 3],
            "signup_date": [None] * users,
        }
    ).with_columns(pl.lit("2025-01-01").str.to_date().alias("signup_date")).write_parquet(
        folder / "users.parquet"
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200_000)
    args = parser.parse_args()
    bench = Bench("ingest_check")
    root = Path(tempfile.mkdtemp(prefix="kibble-bench-"))
    try:
        source = make_inputs(root, args.rows, args.items, args.users)
        start = time.perf_counter()
        frame = pl.read_parquet(source)
        frame = frame.with_columns(pl.col("ts").dt.date().alias("date"))
        write_deltalake(str(root / "baseline"), frame.to_arrow(), partition_by=["date"])
        baseline = bench.figure("baseline_read_write_s", time.perf_counter() - start)
        del frame

        context = Context.open(load_settings({"home": root / "home"}, environ={}))
        ingest(context, str(root / "products.parquet"), "products", mode="replace")
        ingest(context, str(root / "users.parquet"), "users", mode="replace")
        seed = pl.read_parquet(source, n_rows=max(args.rows // 100, 1))
        ingest(context, seed, "events")  # rows already there: the load must skip them
        del seed

        phase = _reset_peak()
        start = time.perf_counter()
        loaded = ingest(context, str(source), "events")
        ingest_s = bench.figure("kibble_ingest_s", time.perf_counter() - start)
        start = time.perf_counter()
        full = run_checks(context, "events")
        last_day = max(loaded.partitions)
        daily = run_checks(context, "events", partition=last_day, skip=("freshness",))
        checks_s = bench.figure("kibble_checks_s", time.perf_counter() - start)
        total = ingest_s + checks_s
        bench.figure("kibble_total_s", total)
        bench.figure("rows", args.rows, "rows")
        bench.figure("rows_written", loaded.rows_written, "rows")
        bench.figure("rows_duplicate", loaded.rows_duplicate, "rows")
        bench.figure("peak_rss_mib", peak_rss_mib(), "MiB")  # whole run, baseline included
        kibble_peak = _phase_peak_mib() if phase else None
        if kibble_peak is not None:
            bench.figure("kibble_peak_rss_mib", kibble_peak, "MiB")
        ratio = bench.ratio("kibble_vs_baseline", total, baseline)
        bench.target("ratio", "ingest + all checks within 3x the baseline", ratio <= 3.0)
        bench.target("total", "under 20 s", total < 20.0)
        bench.target("memory", "peak memory under 4 GiB", peak_rss_mib() < 4096)
        bench.target("checks_pass", "all checks pass on clean data", full.passed and daily.passed)
        context.close()
        bench.report({"reasons": full.reasons + daily.reasons})
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
