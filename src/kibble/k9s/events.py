"""One day of organic shop activity: sessions of views, clicks, carts and purchases.

Sessions follow taste (favourite categories), popularity, season and weekday (weekend dip);
whether a view turns into a click is drawn from the shop's true utility.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import numpy as np
import polars as pl

from kibble.k9s.catalog import TOP, season_active
from kibble.k9s.shop import Shop

WEEKEND_FACTOR = 0.75


def _item_weights(shop: Shop, day: int) -> np.ndarray:
    cat = shop.catalog
    weight = cat.popularity * (cat.launch_day <= day)
    boost = 3.0 if shop.config.scenario_on("seasonal_peak", day) else 1.5
    seasonal = cat.season >= 0
    in_season = season_active(cat, shop.month_day(day))
    weight = weight * np.where(seasonal, np.where(in_season, boost, 0.2), 1.0)
    return np.asarray(weight)


def session_count(shop: Shop, day: int, active: int, *, clean: bool = False) -> float:
    """Expected sessions that day, before noise (``clean``: without a half-volume fault)."""
    cfg = shop.config
    factor = WEEKEND_FACTOR if cfg.day(day).weekday() >= 5 else 1.0
    if cfg.scenario_on("half_volume", day) and not clean:
        factor *= 0.5
    if cfg.scenario_on("seasonal_peak", day):
        factor *= 2.0
    return active * cfg.sessions_per_user * factor


def day_events(shop: Shop, day: int, *, clean: bool = False) -> pl.DataFrame:
    """All events of day ``day`` (contract columns + ``date``); ``clean``: full volume."""
    cfg = shop.config
    rng = np.random.default_rng([cfg.seed, 1, day])
    active = np.flatnonzero(shop.users.active(day))
    n_sessions = int(rng.poisson(session_count(shop, day, len(active), clean=clean)))
    s_user = rng.choice(active, n_sessions) if len(active) else np.zeros(0, np.int64)
    n_views = np.minimum(1 + rng.geometric(0.25, n_sessions), 20)
    v_session = np.repeat(np.arange(n_sessions), n_views)
    v_user = s_user[v_session]
    # groups: the 7 top categories, plus 7 = cat products
    groups = np.where(shop.catalog.species == 3, len(TOP), shop.catalog.top)
    owner = shop.users.cat_owner[v_user]
    fav = shop.users.fav[v_user, rng.integers(0, 2, len(v_user))]
    v_group = np.where(rng.random(len(v_user)) < 0.6, fav, rng.integers(0, len(TOP), len(v_user)))
    v_group = np.where(owner & (rng.random(len(v_user)) < 0.7), len(TOP), v_group)
    weights = _item_weights(shop, day)
    v_item = np.zeros(len(v_user), np.int64)
    for g in range(len(TOP) + 1):
        members = np.flatnonzero(groups == g)
        picks = np.flatnonzero(v_group == g)
        cum = np.cumsum(weights[members])
        if len(picks) == 0:
            continue
        if len(members) == 0 or cum[-1] <= 0:
            v_group[picks] = 0
            members = np.flatnonzero(groups == 0)
            cum = np.cumsum(weights[members])
        idx = np.searchsorted(cum, rng.random(len(picks)) * cum[-1], side="right")
        v_item[picks] = members[np.minimum(idx, len(members) - 1)]
    p_click = shop.click_probability(v_user, v_item, day)
    click = rng.random(len(v_user)) < p_click
    cart = click & (rng.random(len(v_user)) < 0.3)
    buy = cart & (rng.random(len(v_user)) < 0.55)
    # timestamps: sessions start mostly in the evening, views 20-60 s apart
    start = np.clip(rng.normal(19.0, 4.0, n_sessions), 0.0, 23.4) * 3600.0
    offset = np.arange(len(v_user)) - np.repeat(np.cumsum(n_views) - n_views, n_views)
    v_ts = start[v_session] + offset * rng.uniform(20, 60, len(v_user))
    kinds = [("view", np.ones(len(v_user), bool), 0), ("click", click, 5)]
    kinds += [("add_to_cart", cart, 30), ("purchase", buy, 90)]
    midnight = datetime.combine(cfg.day(day), time(), tzinfo=UTC).timestamp()
    frames = []
    for name, mask, delay in kinds:
        rows = np.flatnonzero(mask)
        frames.append(
            pl.DataFrame(
                {
                    "row": rows,
                    "kind": np.full(
                        len(rows), ["view", "click", "add_to_cart", "purchase"].index(name)
                    ),
                    "user_id": shop.users.user_id[v_user[rows]],
                    "item_id": shop.catalog.item_id[v_item[rows]],
                    "event_type": [name] * len(rows),
                    "t": np.minimum(v_ts[rows] + delay, 86_399.0) + midnight,
                    "session": v_session[rows],
                }
            )
        )
    prefix = cfg.day(day).strftime("%Y%m%d")
    out = pl.concat(frames).sort(["t", "row", "kind"])
    return out.with_row_index("n").select(
        ("e" + pl.lit(prefix) + "-" + pl.col("n").cast(pl.String)).alias("event_id"),
        "user_id",
        "item_id",
        "event_type",
        pl.from_epoch(pl.col("t"), time_unit="s").dt.replace_time_zone("UTC").alias("ts"),
        ("s" + pl.lit(prefix) + "-" + pl.col("session").cast(pl.String)).alias("session_id"),
        pl.lit(None, dtype=pl.String).alias("request_id"),
        pl.lit(cfg.day(day)).alias("date"),
    )


def corrupt(events: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Fault injection: 3% unknown product ids and 2% user ids that are not numbers."""
    rng = np.random.default_rng([seed, 2])
    n = events.height
    unknown = rng.random(n) < 0.03
    broken = rng.random(n) < 0.02
    item = np.where(unknown, 900_000_000 + np.arange(n), events["item_id"].to_numpy())
    users = events["user_id"].cast(pl.String).to_numpy().astype(object)
    users[broken] = "n/a"
    return events.with_columns(pl.Series("item_id", item), pl.Series("user_id", list(users)))
