"""Recommender training and batch scoring: kibble's full path against bare ``implicit``.

Data: synthetic interactions with latent tastes and power-law popularity (default 10M
events, 200k users, 100k items). Side by side, on the same machine and thread settings:

- train: kibble's path (events table with string ids -> weighted matrix -> ALS fit with
  64 factors, 15 iterations -> saved ``.npz`` artifact) against a bare
  ``implicit.cpu.als`` fit on the same prebuilt confidence matrix. Target: under 1.3x.
- recommend: top-10 for every user with purchase filtering, kibble's ``rank`` against
  implicit's own batch ``recommend`` on the same factors. Target: within 2x.
- with ``--ray-address``: the same fit as a Ray task (``kibble recsys train --executor
  ray``: matrix to the artifact store, fit on a worker, artifact back) against the local
  fit + save, and whether both artifacts are the same bytes. The price of going remote.

Usage::

    python bench/recsys_train.py [--rows 10000000 --users 200000 --items 100000]
    ray start --head --port 6379 && python bench/recsys_train.py --ray-address 127.0.0.1:6379
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import polars as pl
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench, peak_rss_mib
from kibble.config import load_settings
from kibble.context import Context
from kibble.recsys.interactions import Interactions
from kibble.recsys.models.weighting import confidence
from kibble.recsys.remote import train_on
from kibble.recsys.synthetic import EVENT_TYPES, generate_codes
from kibble.recsys.training import TrainResult, train


def events_table(rows: int, users: int, items: int) -> pl.DataFrame:
    codes = generate_codes(users, items, rows, n_topics=50, days=90, seed=1)
    return pl.DataFrame(
        {
            "user_id": codes.users,
            "item_id": codes.items,
            "event": pl.Series(np.asarray(EVENT_TYPES)[codes.events]),
            "timestamp": codes.seconds,
        }
    ).with_columns(
        pl.format("u{}", "user_id").alias("user_id"),
        pl.format("i{}", "item_id").alias("item_id"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--ray-address", default="", help="also fit as a task on this cluster")
    parser.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs the Ray task asks for")
    args = parser.parse_args()
    bench = Bench("recsys_train")
    params = {"factors": args.factors, "iterations": args.iterations, "random_state": 0}

    with bench.timed("generate_s"):
        events = events_table(args.rows, args.users, args.items)

    started = time.perf_counter()
    result = train(events, model="als", params=params, interaction_options={"event_col": "event"})
    kibble_train = bench.figure("kibble_train_s", time.perf_counter() - started)
    for step, seconds in result.seconds.items():
        bench.figure(f"kibble_{step}_s", seconds)
    bench.figure("artifact_mib", len(result.blob) / 2**20, "MiB")
    model = result.model

    # the same prebuilt confidence matrix kibble trained on, fitted by implicit alone
    weighted = confidence(model.history, "log", float(model.params["alpha"]))
    bare = AlternatingLeastSquares(
        factors=args.factors,
        regularization=float(model.params["regularization"]),
        alpha=1.0,
        iterations=args.iterations,
        random_state=0,
    )
    with threadpool_limits(1, "blas"), bench.timed("implicit_fit_s"):
        bare.fit(weighted, show_progress=False)
    bench.ratio("train_vs_implicit", kibble_train, bench.figures["implicit_fit_s"])

    users = model.user_ids
    with bench.timed("kibble_recommend_all_s"):
        ours, _ = model.rank(users, 10)
    everyone = np.arange(len(users))
    with bench.timed("implicit_recommend_all_s"):
        _ids, _ = bare.recommend(everyone, model.excluded, N=10, filter_already_liked_items=True)
    bench.ratio(
        "recommend_vs_implicit",
        bench.figures["kibble_recommend_all_s"],
        bench.figures["implicit_recommend_all_s"],
    )
    same_on_ray = (
        time_on_ray(bench, args.ray_address, args.ray_cpus, events, result)
        if args.ray_address
        else None
    )
    bench.figure("users", len(users), "")
    bench.figure("items", len(model.item_ids), "")
    bench.figure("interactions", model.history.nnz, "")
    bench.figure("peak_rss_mib", peak_rss_mib(), "MiB")
    bench.target(
        "train_vs_implicit",
        "full path under 1.3x bare implicit fit",
        bench.ratios["train_vs_implicit"] < 1.3,
    )
    bench.target(
        "recommend_vs_implicit",
        "batch recommend within 2x implicit",
        bench.ratios["recommend_vs_implicit"] <= 2.0,
    )
    extra: dict[str, object] = {"rows": args.rows, "valid_lists": bool((ours[:, 0] >= 0).all())}
    if same_on_ray is not None:
        extra["same_artifact_on_ray"] = same_on_ray
    bench.report(extra)


def time_on_ray(
    bench: Bench, address: str, cpus: float, events: pl.DataFrame, local: TrainResult
) -> bool:
    """The local fit again as a Ray task, on the same matrix the local path built."""
    model = local.model
    interactions = Interactions.from_events(events, event_col="event")
    with tempfile.TemporaryDirectory() as home:
        context = Context.open(load_settings({"home": home}, environ={}))
        try:
            with bench.timed("ray_train_s"):
                remote = train_on(
                    context,
                    interactions,
                    model="als",
                    params=model.params,
                    executor="ray",
                    ray_address=address,
                    cpus=cpus,
                )
        finally:
            context.close()
    local_s = local.seconds["fit"] + local.seconds["save"]
    bench.ratio("ray_vs_local_fit", bench.figures["ray_train_s"], local_s)
    return bool(remote.blob == local.blob)


if __name__ == "__main__":
    main()
