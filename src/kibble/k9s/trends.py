"""The external trends feed: daily social-media mentions per category and per product.

What a shop buys from a social-listening vendor, simulated: product mentions follow
each product's appeal, jump when its season opens (and all but vanish out of season),
and burst when a product goes viral (a few days, then decay); category mentions add up
their products plus background chatter. Deterministic per config seed and day.

Published the two ways such feeds arrive, both read by kibble's connectors under the
``trends`` contract: as files (``trends/date=YYYY-MM-DD/trends.csv`` beside the shop's
landing folder) and over HTTP (``serve_trends``: ``GET /trends/date=YYYY-MM-DD/trends.csv``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kibble.k9s.catalog import SUBS, season_active
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import land

FEED_DIR = "trends"
BURST_DAYS = 4.0  # a viral product's mentions halve about every 4 days
BURSTS_PER_YEAR = 1.5  # how often a product goes viral


def trends_dir(out: Path, day: str) -> Path:
    return out / FEED_DIR / f"date={day}"


def _bursts(shop: Shop, day: int) -> np.ndarray:
    """Each product's viral multiplier on ``day`` (1 when it is not trending)."""
    n = len(shop.catalog)
    rng = np.random.default_rng([shop.config.seed, 104_729])
    span = max(shop.config.days, 365)
    starts = rng.uniform(-30, span, (n, max(1, round(BURSTS_PER_YEAR * span / 365))))
    heights = rng.uniform(5, 60, starts.shape)
    age = day - starts
    live = age >= 0
    lift = np.where(live, heights * np.exp2(-np.where(live, age, 0) / BURST_DAYS), 0.0)
    return np.asarray(1.0 + lift.sum(axis=1))


def day_trends(shop: Shop, day: int) -> pl.DataFrame:
    """One day of the feed: ``date, kind (product|category), key, category, mentions``."""
    cat = shop.catalog
    rng = np.random.default_rng([shop.config.seed, 7_919, day])
    seasonal = cat.season >= 0
    in_season = season_active(cat, shop.month_day(day))
    season = np.where(seasonal, np.where(in_season, 6.0, 0.05), 1.0)
    launched = cat.launch_day <= day
    rate = 0.05 * cat.popularity * (0.5 + cat.quality) * season * _bursts(shop, day) * launched
    mentions = rng.poisson(rate)
    label = shop.config.day(day).isoformat()
    keep = np.flatnonzero(mentions > 0)
    subs = np.asarray(SUBS, dtype=object)
    products = pl.DataFrame(
        {
            "date": [label] * len(keep),
            "kind": ["product"] * len(keep),
            "key": cat.item_id[keep].astype(str).tolist(),
            "category": subs[cat.sub[keep]].tolist(),
            "mentions": mentions[keep].astype(np.int64),
        }
    )
    expected = np.bincount(cat.sub, weights=rate, minlength=len(SUBS))
    chatter = rng.poisson(20.0 + 3.0 * expected)
    categories = pl.DataFrame(
        {
            "date": [label] * len(SUBS),
            "kind": ["category"] * len(SUBS),
            "key": list(SUBS),
            "category": list(SUBS),
            "mentions": chatter.astype(np.int64),
        }
    )
    return pl.concat([categories, products])


def corrupt_trends(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    """A bad vendor day: negative counts, unknown kinds and keys lost in a re-export."""
    rng = np.random.default_rng(seed)
    broken = rng.random(frame.height) < 0.3
    return frame.with_columns(
        pl.when(pl.Series(broken)).then(-1).otherwise(pl.col("mentions")).alias("mentions"),
        pl.when(pl.Series(rng.random(frame.height) < 0.2))
        .then(pl.lit("post"))
        .otherwise(pl.col("kind"))
        .alias("kind"),
    )


def write_trends(shop: Shop, out: Path, day: int, *, broken: bool = False) -> Path:
    """Write one day of the feed as CSV where a file connector (or HTTP) picks it up."""
    frame = day_trends(shop, day)
    if broken:
        frame = corrupt_trends(frame, shop.config.seed + day)
    path = trends_dir(out, shop.config.day(day).isoformat()) / "trends.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    land(path, shop.config.day(day))
    return path


def write_all_trends(shop: Shop, out: Path) -> list[Path]:
    """Every simulated day's feed (``kibble k9s simulate`` leaves it to this call)."""
    return [write_trends(shop, out, day) for day in range(shop.config.days)]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The feed server does not write a line per request."""


@contextmanager
def serve_trends(out: Path, port: int = 0) -> Iterator[str]:
    """Serve ``out``'s feed over HTTP on 127.0.0.1 (``port`` 0: any free one); yields the
    base URL, e.g. ``http://127.0.0.1:PORT/trends/date=2026-12-01/trends.csv``."""
    handler = functools.partial(_Quiet, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
