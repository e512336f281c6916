"""What to simulate: sizes, dates, seed and the faults to inject (one flag each)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from kibble.errors import UsageError

SCENARIOS = {
    "late_partition": "the day's events arrive late (written to late/ until delivered)",
    "half_volume": "the day has about half the usual events",
    "corrupted_day": "unknown product ids and broken types in the day's events",
    "latency_incident": "serving is slow that day: users abandon before clicking",
    "cats_launch": "cat products and cat owners appear that day (a new species)",
    "seasonal_peak": "a seasonal peak: double traffic, seasonal items in demand",
}
FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class SimConfig:
    """A simulation; the same config and seed always give the same shop and events."""

    products: int = 100_000
    users: int = 20_000
    days: int = 14
    start: date = date(2026, 12, 1)
    seed: int = 42
    events_format: str = "parquet"
    sessions_per_user: float = 0.12
    scenarios: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.products < 50 or self.users < 10 or self.days < 1:
            raise UsageError(
                "the simulation is too small",
                hint="use at least 50 products, 10 users and 1 day",
            )
        if self.events_format not in FORMATS:
            raise UsageError(
                f"unknown events format {self.events_format!r}",
                hint=f"use one of: {', '.join(FORMATS)}",
            )
        for name, day in self.scenarios.items():
            if name not in SCENARIOS:
                raise UsageError(
                    f"unknown scenario {name!r}", hint=f"use one of: {', '.join(SCENARIOS)}"
                )
            if not 0 <= day < self.days:
                raise UsageError(
                    f"scenario {name} is on day {day}, outside the {self.days} simulated days",
                    hint=f"write NAME:DAY with DAY between 0 and {self.days - 1}",
                )

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def scenario_on(self, name: str, index: int) -> bool:
        return self.scenarios.get(name) == index

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["start"] = self.start.isoformat()
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> SimConfig:
        data = json.loads(text)
        data["start"] = date.fromisoformat(data["start"])
        return cls(**data)


def parse_scenarios(values: list[str], days: int) -> dict[str, int]:
    """``name`` or ``name:day`` (day 0-based; default: the day before the last)."""
    out: dict[str, int] = {}
    for value in values:
        name, _, day = value.partition(":")
        name = name.strip().replace("-", "_")
        try:
            out[name] = int(day) if day else max(0, days - 2)
        except ValueError as exc:
            raise UsageError(
                f"bad scenario {value!r}", hint="write NAME or NAME:DAY, e.g. corrupted_day:2"
            ) from exc
    return out
