from __future__ import annotations

import pytest

from kibble.factory import (
    AlertRule,
    ColumnSpec,
    Factory,
    GatePolicy,
    PipelineSpec,
    RolloutPolicy,
    SecretRef,
    SourceSpec,
    TableSpec,
)
from kibble.factory.diff import diff
from kibble.factory.validate import breaking_changes, removes_all_gates, validate


def make(**overrides: object) -> Factory:
    base: dict[str, object] = {
        "project": "k9s",
        "tables": {
            "products": TableSpec(
                columns=[ColumnSpec(name="item_id", type="string")], key=["item_id"]
            ),
            "events": TableSpec(
                columns=[
                    ColumnSpec(name="event_id", type="string"),
                    ColumnSpec(name="item_id", type="string"),
                    ColumnSpec(name="date", type="date"),
                ],
                key=["event_id"],
                partition_by="date",
                foreign_keys={"item_id": "products.item_id"},
            ),
        },
        "pipelines": {
            "daily": PipelineSpec(entrypoint="tests.pipelines.flows:basic", schedule="0 2 * * *")
        },
        "models": {"rec": GatePolicy()},
        "deployments": {"home": RolloutPolicy(model="rec")},
        "alerts": [AlertRule(name="ctr", metric="ctr", condition="<", threshold=0.01)],
    }
    base.update(overrides)
    return Factory(**base)  # type: ignore[arg-type]


def messages(factory: Factory) -> list[str]:
    return [str(f) for f in validate(factory) if f.level == "error"]


def test_a_good_definition_has_no_findings() -> None:
    assert validate(make()) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"pipelines": {"d": PipelineSpec(entrypoint="a:b", schedule="every day")}},
            "pipelines.d.schedule: 'every day' is not a cron expression",
        ),
        (
            {"pipelines": {"d": PipelineSpec(entrypoint="a:b", triggers=["clicks"])}},
            "pipelines.d.triggers: triggers on 'clicks', which is not declared",
        ),
        (
            {"deployments": {"home": RolloutPolicy(model="ghost")}},
            "deployments.home.model: deploys 'ghost'",
        ),
        (
            {"sources": {"s": SourceSpec(kind="files", table="orders", location="x")}},
            "sources.s.table: loads into 'orders'",
        ),
        (
            {"sources": {"s": SourceSpec(kind="sql", table="events", location="x")}},
            "sources.s.connection: an sql source needs connection=SecretRef",
        ),
        (
            {
                "sources": {
                    "s": SourceSpec(
                        kind="files",
                        table="events",
                        location="x",
                        connection=SecretRef(secret="KEY"),
                    )
                }
            },
            "sources.s.connection: a files source takes no connection",
        ),
        (
            {
                "sources": {
                    "s": SourceSpec(
                        kind="files", table="events", location="x", mapping={"Id": "evt"}
                    )
                }
            },
            "sources.s.mapping: maps onto 'evt', which is not a column of 'events'",
        ),
        (
            {"tables": {"Bad Name": TableSpec(columns=[])}},
            "tables.Bad Name: table names use 1-63 lowercase letters",
        ),
        (
            {
                "alerts": [
                    AlertRule(name="a", metric="m", condition=">", threshold=1, channels=["pager"])
                ]
            },
            "alerts[0].channels: channel 'pager' is not declared",
        ),
        (
            {"alerts": [AlertRule(name="a", metric="m", condition=">", threshold=1)] * 2},
            "two alert rules are named 'a'",
        ),
    ],
)
def test_broken_references_are_named(overrides: dict[str, object], expected: str) -> None:
    found = messages(make(**overrides))
    assert any(expected in m for m in found), found


def test_table_level_references() -> None:
    tables = {
        "events": TableSpec(
            columns=[ColumnSpec(name="item_id", type="string")],
            key=["event_id"],
            partition_by="day",
            foreign_keys={"item_id": "products.item_id", "sku": "catalog.sku"},
        ),
        "products": TableSpec(columns=[ColumnSpec(name="id", type="string")]),
    }
    found = messages(make(tables=tables, pipelines={}))
    joined = "\n".join(found)
    assert "key column 'event_id' is not a column of 'events'" in joined
    assert "'day' is not a column of 'events'" in joined
    assert "'products' has no column 'item_id'" in joined
    assert "'sku' is not a column of 'events'" in joined
    assert "refers to table 'catalog', which is not declared" in joined


def test_thresholds_out_of_range_are_rejected_by_the_model() -> None:
    with pytest.raises(ValueError, match="strictly ascending"):
        RolloutPolicy(model="rec", steps=[50, 25])
    with pytest.raises(ValueError):
        GatePolicy(confidence=1.5)
    with pytest.raises(ValueError):
        TableSpec(columns=[], freshness_deadline="25:00")


def test_secret_looking_values_warn() -> None:
    sources = {
        "db": SourceSpec(kind="sql", table="products", location="postgresql://u:hunter2@db/shop"),
        "ok": SourceSpec(
            kind="sql",
            table="products",
            location="products",
            connection=SecretRef(secret="SHOP_DB_URL"),
        ),
    }
    params = {"key": "AKIAABCDEFGHIJKLMNOP"}
    factory = make(
        sources=sources,
        pipelines={"d": PipelineSpec(entrypoint="a:b", schedule="0 2 * * *", params=params)},
    )
    warnings = [f for f in validate(factory) if f.level == "warning"]
    paths = {f.path for f in warnings}
    assert "sources.db.location" in paths
    assert "pipelines.d.params.key" in paths
    assert not any(p.startswith("sources.ok") for p in paths)


def test_removing_every_gate_is_flagged() -> None:
    no_gates = GatePolicy(beat_baseline=False, safety_probe=False, min_coverage_ratio=0)
    assert removes_all_gates(make(models={"rec": no_gates}))
    assert not removes_all_gates(make())


def test_breaking_contract_changes() -> None:
    factory = make()
    existing = {"events": {"event_id": "string", "item_id": "int64", "session": "string"}}
    found = [str(f) for f in breaking_changes(factory, existing)]
    assert any("changes type int64 -> string" in f for f in found)
    assert any("drops column 'session'" in f for f in found)
    strict = make(
        tables={
            "products": TableSpec(
                columns=[
                    ColumnSpec(name="item_id", type="string"),
                    ColumnSpec(name="brand", type="string", nullable=False),
                ]
            )
        },
        pipelines={},
    )
    assert any(
        "NOT NULL" in str(f) for f in breaking_changes(strict, {"products": {"item_id": "string"}})
    )


def test_diff_is_exact_and_by_name() -> None:
    old = make().canonical()
    new = make(
        alerts=[AlertRule(name="ctr", metric="ctr", condition="<", threshold=0.02)]
    ).canonical()
    changes = diff(old, new)
    assert [(c.kind, c.path, c.old, c.new) for c in changes] == [
        ("changed", "alerts.ctr.threshold", 0.01, 0.02)
    ]
    assert diff(old, old) == []
    added = diff(None, {"a": {"b": 1}})
    assert [c.render() for c in added] == ["+ a.b = 1"]
