"""Small, honest synthetic interaction data for tests and benchmarks.

Users have latent tastes (a few favourite topics), items follow a power-law popularity
inside their topic, items launch over time (so recency matters, as in real shops), and a
share of items is seasonal. It is not the K9s shop simulator; it is enough to check that
collaborative filtering finds tastes that popularity cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import polars as pl

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
EVENT_PROBS = (0.6, 0.25, 0.1, 0.05)
SPECIES = ("dog", "cat")
START = datetime(2026, 1, 1, tzinfo=UTC)
_WORDS = [
    "chew",
    "bone",
    "ball",
    "rope",
    "squeaky",
    "plush",
    "bed",
    "mat",
    "bowl",
    "feeder",
    "leash",
    "collar",
    "harness",
    "treat",
    "biscuit",
    "jerky",
    "salmon",
    "chicken",
    "beef",
    "lamb",
    "grain",
    "free",
    "puppy",
    "senior",
    "dental",
    "brush",
    "shampoo",
    "coat",
    "jacket",
    "raincoat",
    "sweater",
    "toy",
    "puzzle",
    "frisbee",
    "tunnel",
    "scratcher",
    "litter",
    "catnip",
    "wand",
    "fountain",
    "carrier",
    "crate",
    "kennel",
    "blanket",
    "heated",
    "cooling",
    "summer",
    "winter",
    "christmas",
    "easter",
    "halloween",
    "pumpkin",
    "reindeer",
    "organic",
    "vegan",
    "large",
    "small",
    "medium",
    "travel",
    "outdoor",
    "indoor",
]


@dataclass
class SyntheticCodes:
    """Integer-coded events: the fast form the benchmark feeds straight into a matrix."""

    users: npt.NDArray[np.int64]
    items: npt.NDArray[np.int64]
    events: npt.NDArray[np.int8]
    seconds: npt.NDArray[np.float64]
    item_topic: npt.NDArray[np.int64]
    item_launch_day: npt.NDArray[np.float64]
    n_users: int
    n_items: int


@dataclass
class SyntheticData:
    events: pl.DataFrame
    items: pl.DataFrame
    users: pl.DataFrame


def generate_codes(
    n_users: int = 500,
    n_items: int = 300,
    n_events: int = 20_000,
    *,
    n_topics: int = 12,
    days: int = 90,
    taste_strength: float = 0.85,
    seed: int = 0,
) -> SyntheticCodes:
    """Vectorised sampling; 10 million events take a few seconds."""
    rng = np.random.default_rng(seed)
    item_topic = rng.integers(0, n_topics, n_items)
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.9  # power law over all items
    rng.shuffle(item_weight)
    item_launch = np.where(rng.random(n_items) < 0.7, 0.0, rng.uniform(0, days, n_items))
    order = np.lexsort((np.arange(n_items), item_topic))
    sorted_topics = item_topic[order]
    cum = np.cumsum(item_weight[order])
    starts = np.searchsorted(sorted_topics, np.arange(n_topics), side="left")
    ends = np.searchsorted(sorted_topics, np.arange(n_topics), side="right")
    base = np.concatenate([[0.0], cum])
    lo, hi = base[starts], base[ends]

    activity = 1.0 / np.arange(1, n_users + 1) ** 0.7
    activity /= activity.sum()
    users = rng.choice(n_users, size=n_events, p=activity)
    favourites = rng.integers(0, n_topics, (n_users, 3))
    pick = rng.choice(3, size=n_events, p=(0.6, 0.3, 0.1))
    topic = favourites[users, pick]
    explore = rng.random(n_events) > taste_strength
    topic[explore] = rng.integers(0, n_topics, int(explore.sum()))
    empty = hi[topic] <= lo[topic]
    topic[empty] = sorted_topics[0]
    target = lo[topic] + rng.random(n_events) * (hi[topic] - lo[topic])
    items = order[np.clip(np.searchsorted(cum, target, side="right"), 0, n_items - 1)]
    day = rng.uniform(0, days, n_events)
    launch = item_launch[items]
    late = day < launch
    day[late] = launch[late] + rng.random(int(late.sum())) * (days - launch[late])
    events = rng.choice(len(EVENT_TYPES), size=n_events, p=EVENT_PROBS).astype(np.int8)
    return SyntheticCodes(
        users=users.astype(np.int64),
        items=items.astype(np.int64),
        events=events,
        seconds=START.timestamp() + day * 86_400.0,
        item_topic=item_topic.astype(np.int64),
        item_launch_day=item_launch,
        n_users=n_users,
        n_items=n_items,
    )


def generate(
    n_users: int = 500,
    n_items: int = 300,
    n_events: int = 20_000,
    *,
    n_topics: int = 12,
    days: int = 90,
    seed: int = 0,
) -> SyntheticData:
    """Events, items and users as tables with string ids, like a real shop export."""
    codes = generate_codes(n_users, n_items, n_events, n_topics=n_topics, days=days, seed=seed)
    rng = np.random.default_rng(seed + 1)
    events = pl.DataFrame(
        {
            "user_id": codes.users,
            "item_id": codes.items,
            "event": np.asarray(EVENT_TYPES)[codes.events],
            "timestamp": (codes.seconds * 1e6).astype(np.int64),
        }
    ).with_columns(
        pl.format("u{}", pl.col("user_id")).alias("user_id"),
        pl.format("i{}", pl.col("item_id")).alias("item_id"),
        pl.col("timestamp").cast(pl.Datetime("us", "UTC")),
    )
    topic_words = [rng.choice(_WORDS, 4, replace=False) for _ in range(n_topics)]
    titles, descriptions = [], []
    for topic in codes.item_topic.tolist():
        words = topic_words[topic]
        titles.append(" ".join(rng.choice(words, 2)))
        descriptions.append(" ".join([*rng.choice(words, 3), *rng.choice(_WORDS, 2)]))
    seasonal = rng.random(n_items) < 0.1
    season_start = np.where(seasonal, rng.integers(1, 366, n_items), -1)
    items = pl.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": titles,
            "description": descriptions,
            "category": [f"topic{t}/sub{t % 3}" for t in codes.item_topic.tolist()],
            "species": np.asarray(SPECIES)[codes.item_topic % 2],
            "price": np.round(rng.lognormal(2.5, 0.8, n_items), 2),
            "season_start": season_start,
            "season_end": np.where(seasonal, (season_start + 60) % 366, -1),
            "in_stock": rng.random(n_items) > 0.02,
        }
    )
    users = pl.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(n_users)],
            "segment": rng.choice(["new", "regular", "loyal"], n_users),
        }
    )
    return SyntheticData(events=events, items=items, users=users)


def generate_trending_codes(
    n_users: int = 3000,
    n_items: int = 2000,
    n_events: int = 150_000,
    *,
    n_topics: int = 20,
    days: int = 120,
    trend_share: float = 0.6,
    taste_strength: float = 0.4,
    seed: int = 0,
) -> SyntheticCodes:
    """A shop where trends make recency-weighted popularity a hard baseline.

    ``trend_share`` of the items have a burst (a peak day, a width of days, a height of
    5-50x their base appeal) and items launch through the period, so what is hot this
    week is mostly what everyone buys. Users still keep to a few favourite topics, so a
    model that knows both the trend and the taste beats either alone.
    """
    rng = np.random.default_rng(seed)
    item_topic = rng.integers(0, n_topics, n_items)
    base = 1.0 / np.arange(1, n_items + 1) ** 0.8
    rng.shuffle(base)
    launch = np.where(rng.random(n_items) < 0.5, 0.0, rng.uniform(0, days, n_items))
    trending = rng.random(n_items) < trend_share
    peak = launch + rng.uniform(0, 30, n_items)
    width = rng.uniform(5, 25, n_items)
    height = np.where(trending, rng.uniform(5, 50, n_items), 0.0)
    favourites = rng.integers(0, n_topics, (n_users, 3))
    activity = 1.0 / np.arange(1, n_users + 1) ** 0.6
    rng.shuffle(activity)
    activity /= activity.sum()
    join = np.where(rng.random(n_users) < 0.7, 0.0, rng.uniform(0, days, n_users))
    order = np.lexsort((np.arange(n_items), item_topic))
    sorted_topics = item_topic[order]
    starts = np.searchsorted(sorted_topics, np.arange(n_topics), side="left")
    ends = np.searchsorted(sorted_topics, np.arange(n_topics), side="right")
    per_day = rng.multinomial(n_events, np.full(days, 1.0 / days))
    users_out, items_out, seconds_out = [], [], []
    for day, count in enumerate(per_day.tolist()):
        if count == 0:
            continue
        weight = base * (1.0 + height * np.exp(-0.5 * ((day - peak) / width) ** 2))
        weight = np.where(launch <= day, weight, 0.0)[order]
        cum = np.cumsum(weight)
        lo = np.concatenate([[0.0], cum])[starts]
        hi = np.concatenate([[0.0], cum])[ends]
        active = np.where(join <= day, activity, 0.0)
        users = rng.choice(n_users, size=count, p=active / active.sum())
        topic = favourites[users, rng.choice(3, size=count, p=(0.6, 0.3, 0.1))]
        explore = rng.random(count) > taste_strength
        topic[explore] = rng.integers(0, n_topics, int(explore.sum()))
        empty = hi[topic] <= lo[topic]
        anywhere = np.searchsorted(cum, cum[-1] * rng.random(int(empty.sum())))
        topic[empty] = sorted_topics[np.minimum(anywhere, n_items - 1)]
        target = lo[topic] + rng.random(count) * (hi[topic] - lo[topic])
        picked = order[np.clip(np.searchsorted(cum, target, side="right"), 0, n_items - 1)]
        users_out.append(users)
        items_out.append(picked)
        seconds_out.append(START.timestamp() + (day + rng.random(count)) * 86_400.0)
    seconds = np.concatenate(seconds_out)
    return SyntheticCodes(
        users=np.concatenate(users_out).astype(np.int64),
        items=np.concatenate(items_out).astype(np.int64),
        events=rng.choice(len(EVENT_TYPES), size=len(seconds), p=EVENT_PROBS).astype(np.int8),
        seconds=seconds,
        item_topic=item_topic.astype(np.int64),
        item_launch_day=launch,
        n_users=n_users,
        n_items=n_items,
    )
