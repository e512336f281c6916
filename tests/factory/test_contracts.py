"""Declared tables as the lake's contracts: the mapping, and which contract wins where.
Real store, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.data.contracts import EVENTS, ForeignKey, VolumeRule
from kibble.data.ingest import ingest
from kibble.data.tables import Tables
from kibble.errors import ConflictError, NotFoundError
from kibble.factory import ColumnSpec, Factory, TableSpec, service
from kibble.factory.contracts import table_contract

EVENTS_SPEC = TableSpec(
    columns=[
        ColumnSpec(name="event_id", type="string", nullable=False),
        ColumnSpec(name="item_id", type="int64", min=0),
        ColumnSpec(name="kind", type="string", allowed=["view", "click"]),
        ColumnSpec(name="date", type="date", nullable=False),
    ],
    key=["event_id"],
    partition_by="date",
    foreign_keys={"item_id": "products.item_id"},
    freshness_deadline="06:30",
    volume_tolerance=0.35,
)
PRODUCTS_SPEC = TableSpec(columns=[ColumnSpec(name="item_id", type="int64")], key=["item_id"])
TRENDS_SPEC = TableSpec(columns=[ColumnSpec(name="term", type="string")], key=["term"])


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings, project="k9s", actor="ana")
    yield context
    context.close()


def test_every_table_field_maps_onto_the_contract() -> None:
    contract = table_contract("events", EVENTS_SPEC)
    assert contract.column_names == ["event_id", "item_id", "kind", "date"]
    assert not contract.column("event_id").nullable and contract.column("item_id").nullable
    assert contract.column("item_id").min == 0
    assert contract.column("kind").allowed == ["view", "click"]
    assert (contract.key, contract.partition_by) == (["event_id"], "date")
    assert contract.foreign_keys == [
        ForeignKey(column="item_id", table="products", ref_column="item_id")
    ]
    assert contract.freshness_hours == 6.5
    assert contract.volume == VolumeRule(min_relative_width=0.35)
    unpartitioned = table_contract("products", PRODUCTS_SPEC)
    assert unpartitioned.volume is None and unpartitioned.freshness_hours is None


def test_a_declared_builtin_name_overrides_it_in_its_project_only(
    ctx: Context, backend_settings: Settings
) -> None:
    tables = {"events": EVENTS_SPEC, "products": PRODUCTS_SPEC, "trends": TRENDS_SPEC}
    factory = Factory(project="k9s", tables=tables)
    service.apply(ctx, factory)
    assert Tables(ctx).contract("events") == table_contract("events", EVENTS_SPEC)
    other = Context.open(backend_settings, project="other")
    try:
        assert Tables(other).contract("events") == EVENTS
        with pytest.raises(NotFoundError, match="no contract"):
            Tables(other).contract("trends")
    finally:
        other.close()
    # dropped from the definition: the built-in comes back, a user table has none
    service.apply(ctx, Factory(project="k9s"))
    assert Tables(ctx).contract("events") == EVENTS
    with pytest.raises(NotFoundError, match="declare it under tables="):
        Tables(ctx).contract("trends")
    service.rollback(ctx, 1)
    assert Tables(ctx).contract("trends") == table_contract("trends", TRENDS_SPEC)
    assert Tables(ctx).contract("events") == table_contract("events", EVENTS_SPEC)


def test_a_contract_that_breaks_stored_data_needs_allow(ctx: Context) -> None:
    service.apply(ctx, Factory(project="k9s", tables={"trends": TRENDS_SPEC}))
    ingest(ctx, pl.DataFrame({"term": ["collars"]}), "trends")
    retyped = TableSpec(columns=[ColumnSpec(name="term", type="int64")], key=["term"])
    breaking = Factory(project="k9s", tables={"trends": retyped})
    assert service.plan(ctx, breaking).needs_allow["breaking-contract"] == [
        "error: tables.trends.columns.term: changes type string -> int64"
    ]
    with pytest.raises(ConflictError, match="--allow breaking-contract"):
        service.apply(ctx, breaking)
    assert Tables(ctx).contract("trends") == table_contract("trends", TRENDS_SPEC)
    version, _ = service.apply(ctx, breaking, allow={"breaking-contract"})
    assert version.version == 2 and Tables(ctx).contract("trends").column("term").type == "int64"
