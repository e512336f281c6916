"""Contracts of the K9s shop: a catalogue, its customers and what they do.

They are ordinary contracts; a user's own tables are declared the same way.
"""

from __future__ import annotations

from kibble.data.contracts.model import Column, Contract, DriftRule, ForeignKey, VolumeRule

EVENT_TYPES = ["view", "click", "add_to_cart", "purchase"]
# what the products are for; "cat" arrived with the shop's cats launch
SPECIES = ["dog", "puppy", "senior", "cat"]
DOG_SIZES = ["small", "medium", "large"]
BREED_GROUPS = ["terrier", "retriever", "shepherd", "toy", "hound"]
BUDGETS = ["low", "mid", "high"]
MONTH_DAY = r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

PRODUCTS = Contract(
    name="products",
    description="The catalogue: one row per product, replaced as a whole each day.",
    columns=[
        Column(name="item_id", type="int64", min=0),
        Column(name="title", type="string"),
        Column(name="description", type="string", nullable=True),
        Column(name="category", type="string", pattern=r"^[a-z0-9_]+(/[a-z0-9_]+)*$"),
        Column(name="species", type="string", allowed=SPECIES),
        Column(name="price", type="float64", min=0, max=100_000),
        Column(name="season_start", type="string", nullable=True, pattern=MONTH_DAY),
        Column(name="season_end", type="string", nullable=True, pattern=MONTH_DAY),
        Column(name="in_stock", type="bool"),
    ],
    key=["item_id"],
    drift=[DriftRule(column="price", kind="numeric", reference_partitions=1)],
)

USERS = Contract(
    name="users",
    description="Customers and the attributes they told the shop.",
    columns=[
        Column(name="user_id", type="int64", min=0),
        Column(name="dog_size", type="string", nullable=True, allowed=DOG_SIZES),
        Column(name="breed_group", type="string", nullable=True, allowed=BREED_GROUPS),
        Column(name="budget", type="string", nullable=True, allowed=BUDGETS),
        Column(name="signup_date", type="date"),
    ],
    key=["user_id"],
)

EVENTS = Contract(
    name="events",
    description="What customers did, one row per event, partitioned by UTC day.",
    columns=[
        Column(name="event_id", type="string"),
        Column(name="user_id", type="int64", min=0),
        Column(name="item_id", type="int64", min=0),
        Column(name="event_type", type="string", allowed=EVENT_TYPES),
        Column(name="ts", type="timestamp"),
        Column(name="session_id", type="string"),
        Column(name="request_id", type="string", nullable=True),
        Column(name="date", type="date"),
    ],
    key=["event_id"],
    foreign_keys=[
        ForeignKey(column="item_id", table="products", ref_column="item_id"),
        ForeignKey(column="user_id", table="users", ref_column="user_id"),
    ],
    partition_by="date",
    freshness_hours=6.0,
    # weekends run ~25% below weekdays; a 35% floor keeps them in band, half a day is not
    volume=VolumeRule(min_relative_width=0.35),
    drift=[DriftRule(column="event_type", kind="categorical")],
    max_rejected_share=0.001,
)


TRENDS = Contract(
    name="trends",
    description=(
        "The external trends feed: social-media mentions per day, per category and per "
        "product (key: the category path or the product id)."
    ),
    columns=[
        Column(name="date", type="date"),
        Column(name="kind", type="string", allowed=["product", "category"]),
        Column(name="key", type="string"),
        Column(name="category", type="string", pattern=r"^[a-z0-9_]+(/[a-z0-9_]+)*$"),
        Column(name="mentions", type="int64", min=0),
    ],
    key=["date", "kind", "key"],
    partition_by="date",
    freshness_hours=12.0,
    max_rejected_share=0.01,
)

K9S_CONTRACTS = {c.name: c for c in (PRODUCTS, USERS, EVENTS, TRENDS)}
