"""The drift benchmark runs end to end on small data (timings are never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_drift_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "drift.py"), "--rows", "5000", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "drift"
    assert result["figures"]["columns"] == 20
    assert {"kibble_s", "scipy_loop_s"} <= set(result["figures"])
    assert set(result["targets"]) == {"under_2s", "beats_scipy"}
    # The shifted columns of the generated data are the ones found.
    assert "cat_0" in result["drifted"] and "num_1" not in result["drifted"]
