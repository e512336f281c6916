"""A load killed with SIGKILL mid-write leaves the previous version; a re-run completes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kibble.config import load_settings
from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.data.tables import Tables
from tests.data.helpers import events


def _big_events(path: Path, days: int, per_day: int) -> int:
    n = days * per_day
    idx = np.arange(n)
    start = np.datetime64("2026-09-01T00:00:00", "us")
    ts = (
        start + (idx // per_day) * np.timedelta64(1, "D") + (idx % per_day) * np.timedelta64(1, "s")
    )
    table = pa.table(
        {
            "event_id": pa.array(np.char.add("k", idx.astype(str))),
            "user_id": idx % 1000,
            "item_id": idx % 500,
            "event_type": pa.array(np.array(["view", "click"])[idx % 2]),
            "ts": pa.array(ts, pa.timestamp("us", "UTC")),
            "session_id": pa.array(np.char.add("s", (idx % 97).astype(str))),
            "request_id": pa.nulls(n, pa.string()),
        }
    )
    pq.write_table(table, path)
    return n


@pytest.mark.slow
def test_kill_9_mid_load_keeps_previous_version(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = load_settings({"home": home}, environ={})
    context = Context.open(settings)
    before = ingest(context, events(date(2026, 8, 1), 10), "events").table_version
    source = tmp_path / "big.parquet"
    total = _big_events(source, days=90, per_day=8000)
    table_dir = Path(settings.lake_url) / "default" / "events"
    existing = {p for p in table_dir.rglob("*.parquet")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kibble",
            "--home",
            str(home),
            "ingest",
            str(source),
            "--table",
            "events",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if set(table_dir.rglob("*.parquet")) - existing:  # data files land before the commit
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the load finished before it could be killed"
    tables = Tables(context)
    assert tables.lake.version("events") == before
    assert tables.read("events").num_rows == 10
    rerun = ingest(context, str(source), "events")
    assert rerun.rows_written == total
    assert tables.read("events").num_rows == total + 10
    context.close()
