"""The external trends feed: seasonal and bursty, published as files and over HTTP, and
ingested under the ``trends`` contract like any source (a bad day is held)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from kibble.checks.runner import run_checks
from kibble.config import load_settings
from kibble.context import Context
from kibble.data.connectors import SourceOptions
from kibble.data.contracts import TRENDS
from kibble.data.ingest import ingest
from kibble.k9s import SimConfig
from kibble.k9s.shop import Shop
from kibble.k9s.trends import _bursts, day_trends, serve_trends, write_trends

CONFIG = SimConfig(products=2000, users=50, days=3)  # starts 1 Dec: Christmas is on


def test_the_feed_is_seasonal_bursty_and_repeatable() -> None:
    shop = Shop.build(CONFIG)
    feed = day_trends(shop, 0)
    assert feed.columns == TRENDS.column_names
    assert feed.equals(day_trends(shop, 0))
    products = feed.filter(pl.col("kind") == "product")
    season = shop.catalog.season
    mentioned = np.zeros(len(shop.catalog))
    rows = products["key"].cast(pl.Int64).to_numpy() - 1
    mentioned[rows] = products["mentions"].to_numpy()
    christmas, summer = mentioned[season == 0].mean(), mentioned[season == 1].mean()
    assert christmas > 5 * summer  # in season: talked about; out of season: hardly
    lift = _bursts(shop, 0)
    assert lift.max() > 5 and np.median(lift) < 1.5  # a few products are going viral
    assert (feed.filter(pl.col("kind") == "category")["mentions"] > 0).all()


def test_files_and_http_are_ingested_and_a_bad_day_is_held(tmp_path: Path) -> None:
    shop = Shop.build(CONFIG)
    out = tmp_path / "shop"
    write_trends(shop, out, 0)
    write_trends(shop, out, 1)
    write_trends(shop, out, 2, broken=True)
    context = Context.open(load_settings({"home": tmp_path / "home"}, environ={}), project="k9s")
    try:
        now = datetime(2026, 12, 4, tzinfo=UTC)
        first = ingest(
            context,
            str(out / "trends" / "date=2026-12-01" / "trends.csv"),
            "trends",
            partition="2026-12-01",
            mode="replace-partition",
            arrived_at=datetime(2026, 12, 1, 6, tzinfo=UTC),
        )
        assert first.rows_rejected == 0 and first.rows_written > 0
        with serve_trends(out) as base:
            second = ingest(
                context,
                f"{base}/trends/date=2026-12-02/trends.csv",
                "trends",
                partition="2026-12-02",
                mode="replace-partition",
                options=SourceOptions(allow_private_urls=True),
                arrived_at=datetime(2026, 12, 2, 6, tzinfo=UTC),
            )
        assert second.rows_rejected == 0 and second.rows_written > 0
        for day in ("2026-12-01", "2026-12-02"):
            report = run_checks(context, "trends", partition=day, now=now)
            assert report.passed, report.reasons
        bad = ingest(
            context,
            str(out / "trends" / "date=2026-12-03"),
            "trends",
            partition="2026-12-03",
            mode="replace-partition",
            arrived_at=datetime(2026, 12, 3, 6, tzinfo=UTC),
        )
        assert bad.rows_rejected > 0
        held = run_checks(context, "trends", partition="2026-12-03", now=now)
        assert not held.passed
        assert "rejected" in {r.name for r in held.results if r.failed}
    finally:
        context.close()


def test_kibble_k9s_trends_publishes_every_day(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kibble.cli.main import app
    from kibble.k9s.simulate import save_config

    out = tmp_path / "shop"
    save_config(CONFIG, out)
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "k9s", "trends", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    files = [Path(p) for p in json.loads(result.stdout)["files"]]
    assert [f.parent.name for f in files] == [f"date=2026-12-0{d}" for d in (1, 2, 3)]
    assert pl.read_csv(files[0]).columns == TRENDS.column_names
