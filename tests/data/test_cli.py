from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.cli.test_cli import kibble
from tests.data.helpers import events, products


@pytest.mark.slow
def test_ingest_check_and_tables_commands(home: Path, tmp_path: Path) -> None:
    catalogue = tmp_path / "products.parquet"
    products(20).write_parquet(catalogue)
    day = tmp_path / "events.jsonl"
    events(date(2026, 11, 5), 30, items=25).write_ndjson(day)
    loaded = kibble(
        "ingest", str(catalogue), "--table", "products", "--mode", "replace", "--json", home=home
    )
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["rows_written"] == 20
    first = json.loads(kibble("ingest", str(day), "-t", "events", "--json", home=home).stdout)
    again = json.loads(kibble("ingest", str(day), "-t", "events", "--json", home=home).stdout)
    assert (first["rows_written"], again["rows_written"], again["rows_duplicate"]) == (30, 0, 30)

    check = kibble("check", "events", "--json", home=home)
    assert check.returncode == 1
    report = json.loads(check.stdout)
    assert report["passed"] is False
    assert any("unknown products ids" in r for r in report["reasons"])
    assert "unknown products ids" in check.stderr

    listing = json.loads(kibble("tables", "list", "--json", home=home).stdout)
    assert {t["name"]: t["rows"] for t in listing} == {"events": 30, "products": 20}
    show = json.loads(kibble("tables", "show", "events", "--json", home=home).stdout)
    assert show["versions"][0]["rows"] == 30
    assert [load["written"] for load in show["loads"]] == [0, 30]
    assert {c["name"] for c in show["checks"]} >= {"schema", "foreign_key:item_id"}
    history = json.loads(kibble("tables", "history", "events", "--json", home=home).stdout)
    assert history[0]["load_id"] == first["load_id"]
    human = kibble("tables", "show", "events", home=home)
    assert human.returncode == 0 and "event_type" in human.stdout


def test_ingest_refuses_loopback_url(home: Path) -> None:
    result = kibble("ingest", "http://127.0.0.1:9/x.json", "-t", "events", home=home)
    assert result.returncode == 2
    assert "internal address" in result.stderr
