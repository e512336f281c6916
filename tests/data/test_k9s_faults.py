"""The K9s contracts against what the shop simulator writes, and a failing gate per fault.

One small simulated week goes through the real path a pipeline takes: the catalogue and
customers from the shop's SQLite database, each day's landing folder into ``events``
(replacing its partition), then ``run_checks`` on each day with the simulated clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from kibble.checks.result import CheckReport
from kibble.checks.rules import deadline_of
from kibble.checks.runner import run_checks
from kibble.config import load_settings
from kibble.context import Context
from kibble.data.connectors import SourceOptions
from kibble.data.contracts import EVENTS, PRODUCTS, USERS
from kibble.data.contracts.k9s import BREED_GROUPS, BUDGETS, DOG_SIZES, SPECIES
from kibble.data.ingest import LoadResult, ingest
from kibble.data.tables import QUARANTINE_SUFFIX, Tables
from kibble.k9s import SimConfig
from kibble.k9s import catalog as sim_catalog
from kibble.k9s import users as sim_users
from kibble.k9s.events import day_events
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import deliver_late, load_shop, partition_dir, simulate, write_day

# Tue 1 Dec 2026 .. Tue 8 Dec: cats on Thursday, a corrupted Sunday, half of Monday,
# and Tuesday's partition held back
CONFIG = SimConfig(
    products=300,
    users=3000,
    days=8,
    scenarios={"cats_launch": 2, "corrupted_day": 5, "half_volume": 6, "late_partition": 7},
)
CLEAN_DAYS = (0, 1, 2, 3, 4)


@dataclass
class Week:
    out: Path
    context: Context

    def day(self, index: int) -> str:
        return CONFIG.day(index).isoformat()

    def clock(self, index: int, hours_after_deadline: float = 0.0) -> datetime:
        return deadline_of(CONFIG.day(index), EVENTS.freshness_hours or 0) + timedelta(
            hours=hours_after_deadline
        )

    def load(self, index: int, *, hours_after_deadline: float = -4.0) -> LoadResult:
        """Load a day's landing folder the way the daily pipeline does."""
        return ingest(
            self.context,
            str(partition_dir(self.out, self.day(index))),
            "events",
            partition=self.day(index),
            mode="replace-partition",
            arrived_at=self.clock(index, hours_after_deadline),
        )

    def check(self, index: int, **kwargs: object) -> CheckReport:
        now = kwargs.pop("now", self.clock(index, 1.0))
        return run_checks(self.context, "events", partition=self.day(index), now=now, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    root = tmp_path_factory.mktemp("k9s-week")
    out = root / "shop"
    simulate(CONFIG, out)
    context = Context.open(load_settings({"home": root / "home"}, environ={}), project="k9s")
    url = f"sqlite:///{out / 'shop.db'}"
    for table in ("products", "users"):
        loaded = ingest(context, url, table, mode="replace", options=SourceOptions(table=table))
        assert loaded.rows_rejected == 0, table
    week = Week(out, context)
    for index in range(CONFIG.days - 1):  # the last day is late: not in landing/ yet
        week.load(index)
    yield week
    context.close()


def test_contracts_declare_what_the_simulator_writes() -> None:
    shop = Shop.build(CONFIG)
    assert PRODUCTS.column_names == shop.catalog.frame().columns
    assert USERS.column_names == shop.users.frame().columns
    assert EVENTS.column_names == day_events(shop, 0).columns
    assert SPECIES == sim_catalog.SPECIES and "cat" in SPECIES
    assert (DOG_SIZES, BREED_GROUPS) == (sim_catalog.SIZES, sim_catalog.BREEDS)
    assert BUDGETS == sim_users.BUDGETS


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_of_a_day_conform(tmp_path: Path, context: Context, fmt: str) -> None:
    config = SimConfig(products=100, users=200, days=1, events_format=fmt)
    simulate(config, tmp_path / "shop")
    day = config.day(0).isoformat()
    loaded = ingest(context, str(partition_dir(tmp_path / "shop", day)), "events", partition=day)
    assert loaded.rows_rejected == 0 and loaded.rows_written == loaded.rows_read > 0


def test_catalogue_and_customers_pass_with_cats(week: Week) -> None:
    tables = Tables(week.context)
    species = tables.polars("products").get_column("species").unique().to_list()
    assert "cat" in species
    assert tables.polars("users").get_column("breed_group").null_count() == 0
    for table in ("products", "users"):
        report = run_checks(week.context, table)
        assert report.passed, report.reasons
    assert not tables.lake.exists("products" + QUARANTINE_SUFFIX)


def test_clean_days_pass_every_check(week: Week) -> None:
    for index in CLEAN_DAYS:
        report = week.check(index)
        assert report.passed, (index, report.reasons)
        assert "foreign_key:item_id" in {r.name for r in report.results}


def test_late_partition_fails_until_it_arrives(week: Week) -> None:
    late = 7
    report = week.check(late, now=week.clock(late, 2.0))
    assert not report.passed
    assert f"partition {week.day(late)} has not arrived" in " ".join(report.reasons)
    assert report.result("volume").status == "fail"
    assert deliver_late(week.out) == [week.day(late)]
    week.load(late, hours_after_deadline=5.0)
    arrived = week.check(late, now=week.clock(late, 6.0))
    assert arrived.result("freshness").status == "fail"
    assert "is late: it arrived 5.0 h after its deadline" in arrived.result("freshness").message
    assert arrived.result("volume").status == "pass"


def test_half_volume_fails(week: Week) -> None:
    report = week.check(6)
    assert [r.name for r in report.results if r.failed] == ["volume"]
    assert f"volume of events {week.day(6)} is too low" in report.reasons[0]


def test_corrupted_day_fails_then_a_clean_redelivery_passes(week: Week) -> None:
    bad = 5
    report = week.check(bad)
    failed = {r.name: r for r in report.results if r.failed}
    assert set(failed) == {"foreign_key:item_id", "rejected"}
    assert (
        "reference unknown products ids in item_id (e.g. 9000"
        in failed["foreign_key:item_id"].message
    )
    rejected = failed["rejected"]
    assert "were rejected into quarantine (user_id: not a valid int64" in rejected.message
    quarantine = Tables(week.context).polars("events" + QUARANTINE_SUFFIX)
    day_rows = quarantine.filter(pl.col("date") == week.day(bad))
    assert day_rows.height == rejected.observed["rejected"] > 0
    assert (day_rows.get_column("user_id") == "n/a").all()

    write_day(load_shop(week.out), week.out, bad, clean=True)  # the upstream fix
    week.load(bad)
    fixed = week.check(bad)
    assert fixed.passed, fixed.reasons
    assert fixed.result("volume").status == "pass"  # a Sunday, against weekdays and a Saturday
    quarantine = Tables(week.context).polars("events" + QUARANTINE_SUFFIX)
    assert quarantine.filter(pl.col("date") == week.day(bad)).height == 0
    history = Tables(week.context).lake.history("events" + QUARANTINE_SUFFIX)
    assert len(history) == 2  # the bad rows stay readable in the version before the fix
