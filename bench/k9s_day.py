"""A whole K9s day, end to end, at several shop sizes: what the factory costs and how it grows.

One day of the applied K9s factory on the simulated shop (100k products; users and so
events scaled 1x, 2x, ... the default 20k users), run as a user runs it: the factory's
daily pipeline (``kibble.k9s.daily:daily``, kibble's platform steps). ``check`` lands the
day (catalogue, customers, the day's events) and runs the contracts' checks; ``train``
fits the candidate (ALS) on 14 days of history before the day and registers it;
``gate`` runs the safety probe and judges it against the baseline and the champion on
the day's users; ``rollout`` starts its canary. Each step's wall time comes from the
run's own record and its peak memory from sampling the process while it ran, in a fresh
process per size, beside the bare components doing the same work without the platform:
polars + Delta for the day's tables, an ``implicit`` fit on the same history with numpy
scoring of the day's users, a faiss HNSW build (what the probe's serving load costs), a
numpy paired bootstrap and an ``.npz`` write.

Figures: per size and stage, seconds and peak MiB for both sides; the platform's total
over the bare sum (the glue, target at most 1.3x at every size); the fitted scaling
exponent of the platform's total against the size (target at most 1.1). The shop is
simulated before the clock starts. The default run is 1x and 2x (about 3 minutes on 2
cores); ``--scales 1,2,4,8`` runs the issue's full curve (4x and 8x take many minutes).

Stages are the pipeline's steps; the bare side's work is grouped under the same names.

    python bench/k9s_day.py [--scales 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # implicit threads itself, as kibble does

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench

USERS_1X = 20_000
PRODUCTS = 100_000
HISTORY_DAYS = 14
ALS_PARAMS: dict[str, Any] = {"factors": 32, "iterations": 8, "random_state": 0}
CANDIDATES = {"als": ALS_PARAMS}
DEPLOYMENT, MODEL = "k9s", "k9s-recs"
STAGES = ("check", "train", "gate", "rollout")
GLUE_LIMIT, EXPONENT_LIMIT = 1.3, 1.1


@dataclass
class Measure:
    seconds: float
    peak_mib: float


@dataclass
class World:
    """A simulated shop whose last day is the one the factory runs."""

    shop: Path
    home: Path
    day: str
    users: int


def _reset_peak() -> None:
    """Restart the kernel's peak-RSS counter (Linux) so each stage's peak is its own."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmHWM in /proc/self/status: this bench needs Linux")


@contextmanager
def stage(into: dict[str, Measure], name: str) -> Iterator[None]:
    _reset_peak()
    start = time.perf_counter()
    yield
    into[name] = Measure(time.perf_counter() - start, _peak_mib())


def _params(day: str) -> dict[str, Any]:
    return {"day": day, "model": MODEL, "deployment": DEPLOYMENT, "candidates": CANDIDATES}


def prepare(scale: float, folder: Path) -> World:
    """Simulate the shop, apply its factory and bring the lake and registry up to the day
    before (untimed): every earlier day landed and checked, the baseline as champion."""
    from kibble.config import load_settings
    from kibble.context import Context
    from kibble.factory.service import apply
    from kibble.k9s import SimConfig
    from kibble.k9s.daily import REF, REF_GATES, daily, gates
    from kibble.k9s.factory import k9s_factory
    from kibble.k9s.simulate import simulate
    from kibble.pipelines import run_pipeline

    config = SimConfig(products=PRODUCTS, users=int(USERS_1X * scale), days=HISTORY_DAYS)
    shop, home = folder / "shop", folder / "home"
    result = simulate(config, shop)
    days = [d.date for d in result.days]
    ctx = Context.open(load_settings({"home": home}, environ={}))
    try:
        apply(ctx, k9s_factory(ctx.project, shop, schedule=None))
        for day in days[:-2]:
            run_pipeline(gates, {"day": day}, context=ctx, ref=REF_GATES)
        bootstrap = run_pipeline(daily, _params(days[-2]), context=ctx, ref=REF)
        assert bootstrap.status == "succeeded", bootstrap
    finally:
        ctx.close()
    return World(shop=shop, home=home, day=days[-1], users=config.users)


class RssSampler:
    """The process's resident memory every 20 ms, so each step's peak can be read back
    from the times the run recorded for it."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.samples.append((time.time(), int(line.split()[1]) / 1024))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> float:
        inside = [mib for at, mib in self.samples if start <= at <= end]
        return max(inside, default=0.0)


def platform_day(world: World) -> dict[str, Measure]:
    """One run of the factory's daily pipeline; its steps are the stages."""
    from kibble.config import load_settings
    from kibble.context import Context
    from kibble.k9s.daily import REF, daily
    from kibble.pipelines import run_pipeline
    from kibble.store.repositories.pipelines import RunRecords

    took: dict[str, Measure] = {}
    ctx = Context.open(load_settings({"home": world.home}, environ={}))
    try:
        with RssSampler() as rss:
            run = run_pipeline(daily, _params(world.day), context=ctx, ref=REF)
        if run.status != "succeeded":
            raise SystemExit(f"the daily run ended {run.status}: {run.error or run.held_reasons}")
        with ctx.store.session() as session:
            for row in RunRecords(session, ctx.project_id).steps(run.run_id):
                assert row.started_at is not None and row.ended_at is not None
                start, end = row.started_at.timestamp(), row.ended_at.timestamp()
                took[row.name] = Measure(end - start, rss.peak(start, end))
        gate = run.output("gate")
    finally:
        ctx.close()
    verdict = "passed" if gate["passed"] else f"refused ({gate['refused'][0]['failed']})"
    print(f"  platform: candidate {verdict}", file=sys.stderr)
    return {name: took[name] for name in STAGES}


def bare_day(world: World) -> dict[str, Measure]:
    """The same work with the bare libraries and nothing around them."""
    import sqlite3

    import faiss
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy import sparse

    took: dict[str, Measure] = {}
    lake = world.home / "bare-lake"
    last = date.fromisoformat(world.day)
    day_paths = sorted((world.shop / "landing" / "events").glob("date=*/events.*"))
    with sqlite3.connect(world.shop / "shop.db") as db:  # history before the day, untimed
        for table in ("products", "users"):
            frame = pl.read_database(f"SELECT * FROM {table}", db)
            frame.write_delta(lake / table, mode="overwrite")
    for path in day_paths[:-1]:
        pl.read_parquet(path).write_delta(lake / "events", mode="append")

    with stage(took, "check"):  # the bare path lands the day and checks nothing
        with sqlite3.connect(world.shop / "shop.db") as db:
            for table in ("products", "users"):
                frame = pl.read_database(f"SELECT * FROM {table}", db)
                frame.write_delta(lake / table, mode="overwrite")
        pl.read_parquet(day_paths[-1]).write_delta(lake / "events", mode="append")
    with stage(took, "train"):  # history before the day, as the train step; then saved
        events = pl.read_delta(str(lake / "events"))
        history = events.filter(
            pl.col("date").is_between(last - timedelta(days=HISTORY_DAYS), last - timedelta(1))
        )
        matrix, users, items = _matrix(history)
        user_factors, item_factors = _als(AlternatingLeastSquares, matrix)
        rank = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float32)
        np.savez(
            world.home / "bare-model.npz", user_factors=user_factors, item_factors=item_factors
        )
    with stage(took, "gate"):  # score the day's users, the index, the bootstrap
        test = events.filter(pl.col("date") == last)
        test = test.filter(pl.col("user_id").is_in(users) & pl.col("item_id").is_in(items))
        rows = np.searchsorted(users, test["user_id"].to_numpy())
        cols = np.searchsorted(items, test["item_id"].to_numpy())
        truth = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=matrix.shape)
        scored = np.unique(rows)
        ndcg = _ndcg(lambda chunk: user_factors[chunk] @ item_factors.T, truth, scored)
        base = _ndcg(lambda chunk: np.tile(rank, (len(chunk), 1)), truth, scored)
        index = faiss.IndexHNSWFlat(item_factors.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.add(np.ascontiguousarray(item_factors, dtype=np.float32))
        diff = ndcg - base
        rng = np.random.default_rng(0)
        means = diff[rng.integers(0, diff.size, size=(1000, diff.size))].mean(axis=1)
        np.quantile(means, [0.025, 0.975])
    took["rollout"] = Measure(0.0, 0.0)  # nothing to roll out without a platform
    return took


def _matrix(events: pl.DataFrame) -> tuple[Any, np.ndarray, np.ndarray]:
    """User x item confidence matrix (log weighting, as kibble's ALS default)."""
    from scipy import sparse

    users = np.unique(events["user_id"].to_numpy())
    items = np.unique(events["item_id"].to_numpy())
    rows = np.searchsorted(users, events["user_id"].to_numpy())
    cols = np.searchsorted(items, events["item_id"].to_numpy())
    counts = sparse.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(users), len(items))
    )
    counts.data = np.log1p(2.0 * counts.data).astype(np.float32)
    return counts, users, items


def _als(model: Callable[..., Any], matrix: Any) -> tuple[np.ndarray, np.ndarray]:
    als = model(
        factors=ALS_PARAMS["factors"],
        iterations=ALS_PARAMS["iterations"],
        regularization=0.05,
        random_state=0,
    )
    als.fit(matrix, show_progress=False)
    return np.asarray(als.user_factors), np.asarray(als.item_factors)


def _ndcg(score: Callable[[np.ndarray], np.ndarray], truth: Any, users: np.ndarray) -> np.ndarray:
    """NDCG@10 per user of the top-10 of ``score(rows)``, scored 512 users at a time."""
    k, out = 10, []
    discount = 1 / np.log2(np.arange(2, k + 2))
    for start in range(0, len(users), 512):
        chunk = users[start : start + 512]
        scores = score(chunk)
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        relevant = truth[chunk]
        hits = np.asarray(relevant[np.arange(len(chunk))[:, None], top].todense()) > 0
        ideal = np.cumsum(discount)[np.minimum(np.diff(relevant.indptr), k) - 1]
        out.append((hits * discount).sum(axis=1) / ideal)
    return np.concatenate(out)


def one_scale(scale: float) -> dict[str, Any]:
    """Both sides at one size, in this (fresh) process."""
    with tempfile.TemporaryDirectory(prefix="kibble-bench-k9s-day-") as folder:
        start = time.perf_counter()
        world = prepare(scale, Path(folder))
        events = pl.scan_parquet(str(world.shop / "landing/events/*/events.*")).select(pl.len())
        count = int(events.collect().item())
        prepared = time.perf_counter() - start
        platform = platform_day(world)
        bare = bare_day(world)
    return {
        "scale": scale,
        "users": world.users,
        "events_14d": count,
        "prepare_s": prepared,
        "platform": {k: asdict(v) for k, v in platform.items()},
        "bare": {k: asdict(v) for k, v in bare.items()},
    }


def run_scale(scale: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(scale)],
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode != 0:
        raise SystemExit(f"k9s day at {scale}x failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def exponent(scales: list[float], totals: list[float]) -> float:
    """Slope of log(total) on log(scale): 1.0 is linear growth."""
    slope, _ = np.polyfit(np.log(scales), np.log(totals), 1)
    return float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,2", help="shop sizes, e.g. 1,2,4,8 (default 1,2)")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)  # a child: one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_scale(args.one)))
        return
    scales = [float(s) for s in args.scales.split(",")]
    print(
        f"k9s day at {', '.join(f'{s:g}x' for s in scales)} (--scales 1,2,4,8 for the full curve)"
    )
    bench = Bench("k9s_day")
    runs = [run_scale(scale) for scale in scales]
    totals, glue = [], []
    for run in runs:
        tag = f"{run['scale']:g}x"
        bench.figure(f"{tag}_events_14d", run["events_14d"], "rows")
        for side in ("platform", "bare"):
            for name, measure in run[side].items():
                bench.figure(f"{tag}_{side}_{name}_s", measure["seconds"])
                bench.figure(f"{tag}_{side}_{name}_peak", measure["peak_mib"], "MiB")
        ours = sum(m["seconds"] for m in run["platform"].values())
        theirs = sum(m["seconds"] for m in run["bare"].values())
        bench.figure(f"{tag}_platform_total_s", ours)
        bench.figure(f"{tag}_bare_total_s", theirs)
        glue.append(bench.ratio(f"{tag}_platform_over_bare", ours, theirs))
        totals.append(ours)
    bench.target(
        "glue",
        f"platform at most {GLUE_LIMIT}x the bare sum at every size",
        max(glue) <= GLUE_LIMIT,
    )
    if len(scales) > 1:
        slope = bench.figure("scaling_exponent", exponent(scales, totals), "")
        bench.figure(
            "bare_scaling_exponent",
            exponent(scales, [sum(m["seconds"] for m in r["bare"].values()) for r in runs]),
            "",
        )
        bench.target(
            "linear",
            f"cost grows no faster than linearly (exponent <= {EXPONENT_LIMIT})",
            slope <= EXPONENT_LIMIT,
        )
    stage_table(runs)
    bench.report({"scales": scales, "runs": runs})


def stage_table(runs: list[dict[str, Any]]) -> None:
    """Per stage and size: platform and bare seconds, platform peak memory."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="k9s day: seconds (platform / bare) and platform peak MiB per stage")
    table.add_column("stage")
    for run in runs:
        table.add_column(f"{run['scale']:g}x ({run['events_14d']:,} events)", justify="right")
    for name in runs[0]["platform"]:
        cells = [
            f"{r['platform'][name]['seconds']:.2f} / {r['bare'][name]['seconds']:.2f} s, "
            f"{r['platform'][name]['peak_mib']:,.0f} MiB"
            for r in runs
        ]
        table.add_row(name, *cells)
    Console().print(table)


if __name__ == "__main__":
    main()
