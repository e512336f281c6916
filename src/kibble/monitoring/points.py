"""The unit of monitoring data: one metric value over one time window, with labels."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kibble.errors import UsageError


@dataclass(frozen=True)
class Point:
    """``name`` like ``model.ctr``; labels like ``{"deployment": "home", "arm": "b"}``."""

    name: str
    value: float
    window_start: datetime
    window_end: datetime
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 128:
            raise UsageError(
                f"metric name {self.name!r} must be 1-128 characters",
                hint="use dotted names like model.ctr",
            )
        if not math.isfinite(self.value):
            raise UsageError(
                f"metric {self.name} has a non-finite value ({self.value})",
                hint="skip windows with no data instead of recording NaN or infinity",
            )
        if self.window_start.tzinfo is None or self.window_end.tzinfo is None:
            raise UsageError(
                f"metric {self.name} has a naive window time",
                hint="use timezone-aware UTC datetimes, e.g. datetime.now(UTC)",
            )
        if self.window_end <= self.window_start:
            raise UsageError(
                f"metric {self.name} window ends before it starts",
                hint="window_end must be after window_start",
            )
        if len(self.labels_key) > 512:
            raise UsageError(
                f"metric {self.name} labels are too long ({len(self.labels_key)} characters)",
                hint="keep labels short (deployment, arm, feature); at most 512 characters",
            )

    @property
    def labels_key(self) -> str:
        return labels_key(self.labels)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "labels": dict(self.labels),
        }


def labels_key(labels: dict[str, str]) -> str:
    """Canonical text of a label set: the same labels always give the same key."""
    return json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True)


def matches(labels: dict[str, str], wanted: dict[str, str] | None) -> bool:
    """True when every wanted label is present with the same value."""
    return not wanted or all(labels.get(k) == str(v) for k, v in wanted.items())


def day_window(day: datetime) -> tuple[datetime, datetime]:
    start = day.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_duration(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"``, ``"2w"`` as a timedelta."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:]) if text else None
    try:
        amount = float(text[:-1])
    except ValueError:
        amount = -1.0
    if unit is None or amount <= 0:
        raise UsageError(
            f"cannot read the duration {text!r}",
            hint="use a number and a unit: 30m, 12h, 7d or 2w",
        )
    return unit * amount
