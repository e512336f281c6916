"""Drift over 1M rows x 20 columns against a reference of the same size, side by side.

kibble's ``drift_report`` (PSI + KS + JS for numerics, PSI + JS + chi-square for
categoricals) against a plain scipy loop (``ks_2samp`` + ``chi2_contingency`` per column)
and Evidently's ``DataDriftPreset``, run in a subprocess of the peers' virtualenv
(``.venv-peers``, built by ``make bench``; Evidently is a bench-only peer, not a kibble
dependency) on the same data. Without Evidently the bench fails and says why.

Targets: kibble under 2 s in total, at least 30x faster than Evidently, faster than the
scipy loop. Usage::

    python bench/drift.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench, peak_rss_mib, peer_python
from kibble.monitoring.drift import drift_report

NUMERIC, CATEGORICAL = 12, 8

EVIDENTLY_SCRIPT = r"""
import json, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet(sys.argv[1])
cur = pd.read_parquet(sys.argv[2])
for column in ref.columns:
    if ref[column].dtype == object:
        ref[column] = ref[column].astype("category")
        cur[column] = cur[column].astype("category")
start = time.perf_counter()
snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
elapsed = time.perf_counter() - start
result = snapshot.dict()
print(json.dumps({"seconds": elapsed, "metrics": len(result.get("metrics", []))}))
"""


def make_frames(rows: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Numerics of several shapes and categoricals of several cardinalities; the current
    window has a few shifted columns, one with a brand-new category."""
    rng = np.random.default_rng(seed)

    def frame(shift: bool) -> dict[str, object]:
        data: dict[str, object] = {}
        for i in range(NUMERIC):
            moved = shift and i % 4 == 0
            if i % 3 == 0:
                data[f"num_{i}"] = rng.normal(0.3 if moved else 0.0, 1.0, rows)
            elif i % 3 == 1:
                data[f"num_{i}"] = rng.lognormal(3.2 if moved else 3.0, 0.5, rows)
            else:
                data[f"num_{i}"] = rng.poisson(4 if moved else 3, rows).astype(np.float64)
        for i in range(CATEGORICAL):
            size = (5, 30, 200, 1000)[i % 4]
            labels = np.array([f"c{i}_{k}" for k in range(size + (1 if shift and i == 1 else 0))])
            weights = np.arange(1, labels.size + 1, dtype=np.float64)
            if shift and i % 3 == 0:
                weights = weights[::-1].copy()
            data[f"cat_{i}"] = labels[rng.choice(labels.size, rows, p=weights / weights.sum())]
        return data

    return pl.DataFrame(frame(False)), pl.DataFrame(frame(True))


def scipy_loop(reference: pl.DataFrame, current: pl.DataFrame) -> int:
    """The plain way: one scipy test per column. Category counts come from Polars so the
    baseline pays for scipy's tests, not for a slow way of counting strings."""
    drifted = 0
    for column in reference.columns:
        if reference.schema[column].is_numeric():
            ref, cur = reference[column].to_numpy(), current[column].to_numpy()
            pvalue = stats.ks_2samp(ref, cur).pvalue
        else:
            counts = (
                reference[column]
                .value_counts(name="ref")
                .join(
                    current[column].value_counts(name="cur"), on=column, how="full", coalesce=True
                )
                .fill_null(0)
            )
            table = np.vstack((counts["ref"].to_numpy(), counts["cur"].to_numpy()))
            pvalue = stats.chi2_contingency(table).pvalue
        drifted += int(pvalue < 0.05)
    return drifted


def run_evidently(python: str, reference: pl.DataFrame, current: pl.DataFrame) -> float:
    with tempfile.TemporaryDirectory(prefix="kibble-bench-drift-") as folder:
        ref_path, cur_path = Path(folder) / "ref.parquet", Path(folder) / "cur.parquet"
        reference.write_parquet(ref_path)
        current.write_parquet(cur_path)
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(
            [python, "-c", EVIDENTLY_SCRIPT, str(ref_path), str(cur_path)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"evidently run failed:\n{done.stderr[-2000:]}")
        return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N for kibble and scipy")
    args = parser.parse_args()

    bench = Bench("drift")
    evidently_python = peer_python("evidently")  # before any work: a missing peer fails fast
    bench.uses_peers(evidently_python, "evidently", "pandas")
    reference, current = make_frames(args.rows)
    bench.figure("rows", args.rows, "rows")
    bench.figure("columns", reference.width, "columns")

    ours, drifted = float("inf"), []
    for _ in range(args.repeat):
        start = time.perf_counter()
        report = drift_report(reference, current)
        ours = min(ours, time.perf_counter() - start)
        drifted = report.drifted
    bench.figure("kibble_s", ours)
    bench.figure("kibble_drifted_features", len(drifted), "features")

    baseline = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        scipy_loop(reference, current)
        baseline = min(baseline, time.perf_counter() - start)
    bench.figure("scipy_loop_s", baseline)
    bench.ratio("scipy_loop_over_kibble", baseline, ours)
    bench.target("under_2s", "kibble drift report under 2 s in total", ours < 2.0)
    bench.target("beats_scipy", "kibble faster than the plain scipy loop", ours < baseline)

    evidently = run_evidently(evidently_python, reference, current)
    bench.figure("evidently_s", evidently)
    speedup = bench.ratio("evidently_over_kibble", evidently, ours)
    bench.target("30x_evidently", "at least 30x faster than Evidently", speedup >= 30)
    bench.figure("peak_rss", peak_rss_mib(), "MiB")
    bench.report({"drifted": drifted, "cpus": os.cpu_count()})


if __name__ == "__main__":
    main()
