"""`kibble recsys` as a user runs it: a real subprocess on small files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from kibble.config import load_settings
from kibble.recsys import load_model
from kibble.recsys.synthetic import generate
from kibble.store import Store
from kibble.store.models import Run
from tests.cli.test_cli import kibble


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recsys-cli")
    data = generate(200, 120, 6000, seed=5)
    ratings = data.events.select(
        "user_id",
        "item_id",
        pl.col("event")
        .replace_strict({"view": 1, "click": 2, "add_to_cart": 3, "purchase": 5})
        .alias("rating"),
        pl.col("timestamp").dt.epoch("s").alias("timestamp"),
    )
    # MovieLens style: tab-separated, no header row
    ratings.write_csv(folder / "ratings.tsv", separator="\t", include_header=False)
    data.events.write_parquet(folder / "events.parquet")
    data.items.write_csv(folder / "items.csv")
    data.users.write_csv(folder / "users.csv")
    return folder


def _runs(home: Path) -> list[Run]:
    store = Store.open(load_settings({"home": home}, environ={}))
    try:
        with store.session() as session:
            return list(session.scalars(sa.select(Run).order_by(Run.created_at)))
    finally:
        store.close()


@pytest.mark.slow
def test_evaluate_headerless_tsv_records_a_run(files: Path, home: Path) -> None:
    result = kibble(
        "recsys",
        "evaluate",
        "--interactions",
        str(files / "ratings.tsv"),
        "--weight-col",
        "rating",
        "--models",
        "popularity,als,item_knn",
        "--user-file",
        str(files / "users.csv"),
        "--slice-cols",
        "segment",
        "--json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [m["model"] for m in report["models"]] == ["popularity", "als", "item_knn"]
    assert report["models"][0]["verdict"] == "baseline"
    assert set(report["models"][1]["slices"]) == {"users", "segment", "items"}
    runs = _runs(home)
    assert [r.id for r in runs] == [report["run_id"]]
    assert runs[0].kind == "evaluation"
    assert runs[0].metrics["models"]["als"]["ndcg@10"] == report["models"][1]["metrics"]["ndcg@10"]


@pytest.mark.slow
def test_evaluate_table_output_marks_baseline(files: Path, home: Path) -> None:
    result = kibble(
        "recsys",
        "evaluate",
        "-i",
        str(files / "events.parquet"),
        "--event-col",
        "event",
        "--items",
        str(files / "items.csv"),
        "--models",
        "content,hybrid",
        "--no-tune",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    assert "baseline" in result.stdout and "hybrid" in result.stdout
    assert "recorded as run" in result.stderr


@pytest.mark.slow
def test_evaluate_reads_a_shops_own_products_and_counts_chosen_users(
    files: Path, home: Path
) -> None:
    """K9s' products file writes seasons as MM-DD text; that used to crash --items."""
    import numpy as np

    from kibble.k9s.catalog import generate_catalog

    products = generate_catalog(120, np.random.default_rng(0)).frame()
    assert products["season_start"].drop_nulls().str.contains("-").all()
    products.with_columns(pl.format("i{}", pl.col("item_id") - 1).alias("item_id")).write_csv(
        files / "products.csv"
    )
    events = pl.read_parquet(files / "events.parquet")
    feed = events.group_by(pl.col("timestamp").dt.date().cast(pl.String).alias("date"), "item_id")
    feed.len().select(
        "date", pl.lit("product").alias("kind"), pl.col("item_id").alias("key"),
        pl.col("len").alias("mentions"),
    ).write_csv(files / "trends.csv")  # fmt: skip
    result = kibble(
        "recsys", "evaluate", "-i", str(files / "events.parquet"), "--event-col", "event",
        "--items", str(files / "products.csv"), "--trends", str(files / "trends.csv"),
        "--models", "content,hybrid", "--no-tune", "--users", "all", "--json", home=home,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["population"] == "all" and "global temporal" in report["protocol"]["split"]
    content = report["models"][1]
    assert content["intervals"]["ndcg@10"][0] <= content["metrics"]["ndcg@10"]
    assert set(content["vs_baseline"]["ndcg@10"]) == {"difference", "low", "high"}
    assert "external" in report["models"][2]["learned"]["weights"]  # the feed is a member
    cold = kibble(
        "recsys", "evaluate", "-i", str(files / "events.parquet"), "--event-col", "event",
        "--models", "popularity", "--no-tune", "--users", "cold", home=home,
    )  # fmt: skip
    assert cold.returncode == 2 and "no cold user" in cold.stderr


def test_train_stores_a_loadable_artifact(files: Path, home: Path, tmp_path: Path) -> None:
    result = kibble(
        "recsys",
        "train",
        "-i",
        str(files / "events.parquet"),
        "--event-col",
        "event",
        "--model",
        "als",
        "--param",
        "factors=8",
        "--param",
        "iterations=3",
        "--json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["params"]["factors"] == 8 and summary["interactions"] > 0
    out = tmp_path / "model.npz"
    got = kibble("artifacts", "get", summary["digest"], "-o", str(out), home=home)
    assert got.returncode == 0, got.stderr
    model = load_model(out.read_bytes())
    assert model.name == "als" and len(model.recommend("u1", 5)) == 5
    assert [r.kind for r in _runs(home)] == ["training"]
    shown = kibble("recsys", "recommend", summary["digest"], "u1", "--k", "4", "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    recs = json.loads(shown.stdout)
    assert [r["item_id"] for r in recs] == [r.item_id for r in model.recommend("u1", 4)]
    assert all(r["reasons"] and r["source"] == "als" for r in recs)


@pytest.mark.slow
def test_tune_records_every_trial(files: Path, home: Path) -> None:
    result = kibble(
        "recsys",
        "tune",
        "-i",
        str(files / "ratings.tsv"),
        "--weight-col",
        "rating",
        "--model",
        "item_knn",
        "--trials",
        "3",
        "--json",
        home=home,
    )
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    assert len(study["trials"]) == 3
    runs = _runs(home)
    trials = [r for r in runs if r.kind == "tuning-trial"]
    assert sorted(r.id for r in trials) == sorted(t["run_id"] for t in study["trials"])
    assert all(r.tags["study"] == study["study"] for r in trials)
    summary = [r for r in runs if r.kind == "tuning"]
    assert len(summary) == 1 and summary[0].metrics["best_params"] == study["best_params"]


@pytest.mark.slow
def test_bad_input_is_one_clear_line(files: Path, home: Path) -> None:
    missing = kibble("recsys", "evaluate", "-i", str(files / "nope.csv"), home=home)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    wrong = kibble(
        "recsys", "evaluate", "-i", str(files / "items.csv"), "--models", "svd", home=home
    )
    assert wrong.returncode == 2 and "unknown model 'svd'" in wrong.stderr
    both = kibble(
        "recsys",
        "evaluate",
        "-i",
        str(files / "ratings.tsv"),
        "--weight-col",
        "rating",
        "--event-col",
        "x",
        home=home,
    )
    assert both.returncode == 2 and "not both" in both.stderr


@pytest.mark.slow
@pytest.mark.ray
def test_tune_runs_on_ray_from_the_settings(files: Path, home: Path, ray_cluster: str) -> None:
    """`pipelines.executor` / `pipelines.ray_address` send the trials to Ray, no flag needed.

    (That Ray finds what a local search finds is shown in test_ray.py.)"""
    env = {"KIBBLE_PIPELINES__EXECUTOR": "ray", "KIBBLE_PIPELINES__RAY_ADDRESS": ray_cluster}
    result = kibble(
        "recsys", "tune", "-i", str(files / "ratings.tsv"), "--weight-col", "rating",
        "--model", "item_knn", "--trials", "2", "--jobs", "2", "--json", home=home, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    runs = _runs(home)
    assert [r.params["executor"] for r in runs if r.kind == "tuning"] == ["ray"]
    trials = [r for r in runs if r.kind == "tuning-trial"]
    assert sorted(r.id for r in trials) == sorted(t["run_id"] for t in study["trials"])
    assert {r.tags["executor"] for r in trials} == {"ray"}


def test_compare_shows_evaluations_side_by_side(files: Path, home: Path) -> None:
    from kibble.context import Context
    from kibble.recsys import Interactions
    from kibble.recsys.evaluation import evaluate
    from kibble.recsys.runs import record_evaluation

    events = pl.read_parquet(files / "events.parquet")
    interactions = Interactions.from_events(events, event_col="event")
    context = Context.open(load_settings({"home": home}, environ={}))
    run_ids = []
    try:
        for k in (5, 10):
            report = evaluate(interactions, models=["popularity", "item_knn"], k=k, tune=False)
            started = datetime.now(UTC)
            run_ids.append(record_evaluation(context, report, params={"k": k}, started_at=started))
    finally:
        context.close()
    shown = kibble("recsys", "compare", *run_ids, "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    compared = json.loads(shown.stdout)
    assert [r["run_id"] for r in compared["runs"]] == run_ids
    rows = {row["what"]: row for row in compared["rows"]}
    assert rows["param k"]["values"] == [5, 10]
    assert "metric baseline" not in rows  # the same in both: not a difference
    hit5 = rows["metric models.item_knn.hit_rate@5"]["values"]
    assert hit5[0] is not None and hit5[1] is None  # each run reports its own K
    coverage = rows["metric models.item_knn.coverage"]["values"]
    assert rows["metric models.item_knn.coverage"]["best"] == run_ids[coverage.index(max(coverage))]
    table = kibble("recsys", "compare", run_ids[0][:8], run_ids[1][:8], "--all", home=home)
    assert table.returncode == 0, table.stderr
    assert "metric baseline" in table.stdout and run_ids[0][:12] in table.stdout
    lonely = kibble("recsys", "compare", run_ids[0], home=home)
    assert lonely.returncode == 2 and "at least two" in lonely.stderr
