"""Recommendation quality against "what's trending", and the blend's training cost.

Data: synthetic shop events whose items trend (bursts of 5-50x over a few weeks, items
launching throughout), so recency-weighted popularity is a hard baseline, as on real
shop data; users keep to a few favourite categories. One protocol for every model, the
one ``kibble recsys evaluate`` applies: a global temporal split (train on the first 80%
of events, test on the rest), headline on warm users (history before the cut), cold
users beside, bootstrap 95% intervals over users, paired for differences. Side by side:

- kibble's models, each tuned on a validation period carved from the training period:
  trending popularity (the baseline), ALS and item-kNN with recency, the sequence model,
  RP3beta, EASE, content, and the learned blend (``hybrid``, the default);
- the named peers, bare ``implicit`` ALS and BPR with their default settings, fitted on
  the same training matrix and filtered the same way.

Target: the tuned blend beats trending popularity on warm users with its 95% interval
above zero. With ``--k9s-size``: the blend's training time against ALS alone at K9s
size (100k items, 20k users; target under 2x), and the EASE memory guard refusing it.

Usage::

    python bench/recsys_quality.py [--users 3000 --items 2000 --events 150000]
    python bench/recsys_quality.py --k9s-size [--k9s-events 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench
from kibble.errors import UsageError
from kibble.recsys import Interactions, ItemCatalog, create_model
from kibble.recsys import metrics as m
from kibble.recsys.evaluation import EvaluationReport, evaluate
from kibble.recsys.interactions import DEFAULT_EVENT_WEIGHTS
from kibble.recsys.split import relevant_items, temporal_split
from kibble.recsys.synthetic import EVENT_TYPES, generate_trending_codes

MODELS = ("als", "item_knn", "sequence", "rp3beta", "ease", "content", "hybrid")
PURCHASE = EVENT_TYPES.index("purchase")


def shop(users: int, items: int, events: int, seed: int) -> tuple[Interactions, ItemCatalog]:
    """Trending events as interactions, and a catalogue that knows each item's category."""
    codes = generate_trending_codes(
        users, items, events, n_topics=max(20, items // 2000), seed=seed
    )
    weights = np.array([DEFAULT_EVENT_WEIGHTS[e] for e in EVENT_TYPES], np.float32)[codes.events]
    item_ids = [f"i{i}" for i in range(codes.n_items)]
    interactions = Interactions.from_arrays(
        [f"u{u}" for u in range(codes.n_users)],
        item_ids,
        codes.users,
        codes.items,
        weights,
        codes.seconds,
        exclude_flags=codes.events == PURCHASE,
    )
    topics = [f"topic{t}" for t in codes.item_topic.tolist()]
    catalog = ItemCatalog(item_ids=item_ids, texts=topics, category=topics)
    return interactions, catalog


def bare_peer(
    name: str,
    interactions: Interactions,
    report: EvaluationReport,
    resamples: int,
    seed: int,
) -> dict[str, object]:
    """A bare implicit model on the same split, scored like kibble's (warm users)."""
    split = temporal_split(interactions, test_fraction=0.2)
    users, relevant = relevant_items(split.test)
    baseline = report.get(report.baseline)
    assert [split.train.user_ids[u] for u in users.tolist()] == baseline.user_ids
    segments = report.segments()
    warm = np.array([segments[u] == "warm" for u in baseline.user_ids])
    model: AlternatingLeastSquares | BayesianPersonalizedRanking
    model = (
        AlternatingLeastSquares(random_state=seed)
        if name == "als"
        else (BayesianPersonalizedRanking(random_state=seed))
    )
    matrix = split.train.matrix
    started = time.perf_counter()
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
    fit_seconds = time.perf_counter() - started
    hidden = matrix if baseline.params["filter_seen"] else split.train.exclude
    rows = users[warm]
    ids, _ = model.recommend(rows, hidden[rows], N=report.k, filter_already_liked_items=True)
    ndcg = m.ndcg_at_k(np.asarray(ids, np.int64), [relevant[i] for i in np.flatnonzero(warm)])
    delta = ndcg - baseline.per_user["ndcg"][warm]
    return {
        "model": f"implicit {name.upper()} (bare)",
        "ndcg": float(ndcg.mean()),
        "interval": m.bootstrap_interval(ndcg, resamples=resamples, seed=seed),
        "difference": float(delta.mean()),
        "difference_interval": m.bootstrap_interval(delta, resamples=resamples, seed=seed),
        "cold": None,
        "fit_seconds": fit_seconds,
    }


def kibble_rows(report: EvaluationReport) -> list[dict[str, object]]:
    key = f"ndcg@{report.k}"
    rows = []
    for r in report.models:
        lift = r.vs_baseline.get(key)
        rows.append(
            {
                "model": f"{r.model} (baseline)" if r.model == report.baseline else r.model,
                "ndcg": r.metrics[key],
                "interval": tuple(r.intervals[key]),
                "difference": lift["difference"] if lift else None,
                "difference_interval": (lift["low"], lift["high"]) if lift else None,
                "cold": r.slices["users"].get("cold", {}).get("ndcg"),
                "fit_seconds": r.fit_seconds,
            }
        )
    return rows


def print_table(rows: list[dict[str, object]], report: EvaluationReport) -> None:
    table = Table(
        title=(
            f"NDCG@{report.k} on {report.n_users} warm users (95% bootstrap intervals); "
            f"cut {report.cut[:10]}; {report.n_train} train / {report.n_test} test events"
        ),
        title_justify="left",
    )
    for column in ("model", "warm NDCG [95%]", "vs trending [95%]", "cold NDCG", "fit s"):
        table.add_column(column)

    def pair(values: Any) -> str:
        low, high = values
        return f"[{low:+.4f}, {high:+.4f}]"

    for row in rows:
        diff = row["difference"]
        lift = "" if diff is None else f"{diff:+.4f} {pair(row['difference_interval'])}"
        table.add_row(
            str(row["model"]),
            f"{row['ndcg']:.4f} {pair(row['interval'])}",
            lift,
            "-" if row["cold"] is None else f"{row['cold']:.4f}",
            f"{row['fit_seconds']:.2f}",
        )
    Console(width=120).print(table)


def time_k9s_size(bench: Bench, events: int, seed: int) -> dict[str, object]:
    """The default blend's training against ALS alone, same data, side by side."""
    interactions, catalog = shop(20_000, 100_000, events, seed)
    bench.figure("k9s_events", len(interactions.rows), "")
    for name in ("als", "hybrid"):
        with bench.timed(f"k9s_{name}_fit_s"):
            create_model(name).fit(interactions, catalog)
    ratio = bench.ratio(
        "k9s_blend_vs_als_fit", bench.figures["k9s_hybrid_fit_s"], bench.figures["k9s_als_fit_s"]
    )
    bench.target("k9s_blend_vs_als_fit", "blend training under 2x ALS alone at K9s size", ratio < 2)
    try:
        create_model("ease").fit(interactions, catalog)
        refused = ""
    except UsageError as exc:
        refused = str(exc)
    bench.target("ease_refuses_k9s_size", "EASE memory guard refuses 100k items", bool(refused))
    return {"ease_refusal": refused}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--k9s-size", action="store_true", help="also time the blend at K9s size")
    parser.add_argument("--k9s-events", type=int, default=1_000_000)
    args = parser.parse_args()
    bench = Bench("recsys_quality")
    interactions, catalog = shop(args.users, args.items, args.events, args.seed)
    with bench.timed("evaluate_s"):
        report = evaluate(
            interactions, items=catalog, models=MODELS, resamples=args.resamples, seed=args.seed
        )
    rows = kibble_rows(report)
    rows += [bare_peer(n, interactions, report, args.resamples, args.seed) for n in ("als", "bpr")]
    print_table(rows, report)
    for row in rows:
        name = str(row["model"]).split(" (")[0].replace(" ", "_").lower()
        bench.figure(f"warm_ndcg_{name}", float(row["ndcg"]), "")  # type: ignore[arg-type]
    blend = report.get("hybrid")
    lift = blend.vs_baseline[f"ndcg@{report.k}"]
    bench.figure("blend_lift", lift["difference"], "NDCG")
    bench.figure("blend_lift_low", lift["low"], "NDCG")
    bench.figure("blend_lift_high", lift["high"], "NDCG")
    bench.ratio(
        "blend_vs_trending_ndcg",
        blend.metrics["ndcg@10"],
        report.get("popularity").metrics["ndcg@10"],
    )
    bench.target(
        "blend_beats_trending_warm",
        "tuned blend beats trending popularity on warm users, 95% interval above 0",
        lift["low"] > 0,
    )
    extra: dict[str, object] = {
        "protocol": report.protocol,
        "blend_weights": blend.learned.get("weights"),
    }
    if args.k9s_size:
        extra.update(time_k9s_size(bench, args.k9s_events, args.seed))
    bench.report(extra)


if __name__ == "__main__":
    main()
