"""Write the simulated shop where ingestion expects real data.

Layout of ``out``::

    k9s.json                                   the config (rebuilds the same shop)
    shop.db                                    SQLite: products, users, orders
    landing/events/date=YYYY-MM-DD/events.EXT  one partition per day (csv/jsonl/parquet)
    late/events/date=...                       partitions held back by ``late_partition``
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from kibble.errors import NotFoundError, UsageError
from kibble.k9s.config import SimConfig
from kibble.k9s.events import corrupt, day_events
from kibble.k9s.shop import Shop

CONFIG_FILE = "k9s.json"


@dataclass
class DayResult:
    date: str
    events: int
    purchases: int
    path: str
    faults: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class SimulationResult:
    out: str
    database_url: str
    days: list[DayResult]
    products: int
    users: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": self.out,
            "database_url": self.database_url,
            "products": self.products,
            "users": self.users,
            "days": [d.to_dict() for d in self.days],
        }


def database_url(out: Path) -> str:
    return f"sqlite:///{(out / 'shop.db').resolve()}"


def partition_dir(out: Path, day: str, *, late: bool = False) -> Path:
    return out / ("late" if late else "landing") / "events" / f"date={day}"


def _write_frame(frame: pl.DataFrame, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        frame.write_parquet(path)
    elif fmt == "jsonl":
        frame.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")).write_ndjson(path)
    else:
        frame.with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")).write_csv(path)


def land(path: Path, day: date) -> None:
    """Date the file as landed the night after its day (02:00 UTC, never in the future),
    as an export would: `kibble ingest` reads a file's time as its arrival."""
    landed = datetime.combine(day + timedelta(days=1), time(2), UTC)
    stamp = min(landed, datetime.now(UTC)).timestamp()
    os.utime(path, (stamp, stamp))


def write_day(shop: Shop, out: Path, day: int, *, clean: bool = False) -> DayResult:
    """Write day ``day``'s events; ``clean=True`` re-delivers it without injected faults."""
    cfg = shop.config
    events = day_events(shop, day, clean=clean)
    faults = [name for name, d in cfg.scenarios.items() if d == day and not clean]
    if "corrupted_day" in faults:
        events = corrupt(events, cfg.seed + day)
    label = cfg.day(day).isoformat()
    late = "late_partition" in faults
    path = partition_dir(out, label, late=late) / f"events.{cfg.events_format}"
    if clean:
        shutil.rmtree(partition_dir(out, label, late=True), ignore_errors=True)
    _write_frame(events, path, cfg.events_format)
    if not (late or clean):
        land(path, cfg.day(day))
    purchases = events.filter(pl.col("event_type") == "purchase").height
    return DayResult(label, events.height, purchases, str(path), faults)


def deliver_late(out: Path) -> list[str]:
    """Move held-back partitions into the landing folder (the late data arrives)."""
    late = out / "late" / "events"
    moved = []
    for part in sorted(late.glob("date=*")) if late.exists() else []:
        target = out / "landing" / "events" / part.name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(part), str(target))
        for landed in target.iterdir():
            os.utime(landed)  # it arrives now, late: the file's time says so
        moved.append(part.name.removeprefix("date="))
    return moved


def write_database(shop: Shop, out: Path, day: int, orders: pl.DataFrame | None = None) -> str:
    """Replace products and users as of ``day``; append ``orders`` (purchases)."""
    url = database_url(out)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for name, frame in (
                ("products", shop.catalog.frame(day)),
                ("users", shop.users.frame(day)),
            ):
                _replace(conn, name, frame)
            if orders is not None and orders.height:
                _append(conn, "orders", orders)
    finally:
        engine.dispose()
    return url


def _table(name: str, frame: pl.DataFrame) -> sa.Table:
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "Int64": sa.BigInteger(),
        "Float64": sa.Float(),
        "Boolean": sa.Boolean(),
        "Date": sa.Date(),
    }
    columns = [
        sa.Column(c, types.get(str(t), sa.String()), nullable=True) for c, t in frame.schema.items()
    ]
    return sa.Table(name, sa.MetaData(), *columns)


def _replace(conn: sa.Connection, name: str, frame: pl.DataFrame) -> None:
    table = _table(name, frame)
    table.drop(conn, checkfirst=True)
    table.create(conn)
    conn.execute(table.insert(), frame.to_dicts())


def _append(conn: sa.Connection, name: str, frame: pl.DataFrame) -> None:
    table = _table(name, frame)
    table.create(conn, checkfirst=True)
    conn.execute(table.insert(), frame.to_dicts())


def orders_of(events: pl.DataFrame, shop: Shop) -> pl.DataFrame:
    buys = events.filter(pl.col("event_type") == "purchase")
    rows = shop.item_rows(buys["item_id"].cast(pl.Int64, strict=False).fill_null(0).to_numpy())
    price = [float(shop.catalog.price[r]) if r >= 0 else None for r in rows]
    return buys.select(
        pl.col("event_id").alias("order_id"),
        pl.col("user_id").cast(pl.Int64, strict=False),
        "item_id",
        pl.Series("price", price, dtype=pl.Float64).round(2),
        pl.col("ts").dt.replace_time_zone(None),
        "date",
    )


def save_config(config: SimConfig, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(config.to_json())


def load_shop(out: Path) -> Shop:
    """Rebuild the shop a simulation in ``out`` used (for responses or re-delivery)."""
    path = out / CONFIG_FILE
    if not path.exists():
        raise NotFoundError(
            f"no simulation in {out}", hint="run `kibble k9s simulate --out DIR` first"
        )
    try:
        config = SimConfig.from_json(path.read_text())
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(
            f"{path} is not a simulator config ({type(exc).__name__}: {exc})",
            hint="simulate again with `kibble k9s simulate --out DIR`",
        ) from exc
    return Shop.build(config)


def simulate(config: SimConfig, out: Path, *, progress: Any = None) -> SimulationResult:
    """Simulate every day of ``config`` into ``out``; ``progress(i)`` after each day."""
    shop = Shop.build(config)
    save_config(config, out)
    days = []
    all_orders = []
    for day in range(config.days):
        result = write_day(shop, out, day)
        days.append(result)
        all_orders.append(orders_of(day_events(shop, day), shop))
        if progress is not None:
            progress(day)
    url = write_database(shop, out, config.days - 1, pl.concat(all_orders))
    return SimulationResult(str(out), url, days, len(shop.catalog), len(shop.users))
