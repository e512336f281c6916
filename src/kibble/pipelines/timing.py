"""Time decisions without I/O: retry backoff and which cron slot is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import croniter

from kibble.errors import UsageError


def backoff_delay(attempt: int, base: float, factor: float = 2.0, cap: float = 300.0) -> float:
    """Delay before retry number ``attempt`` (1 = first retry): base * factor**(attempt-1)."""
    if attempt < 1 or base <= 0:
        return 0.0
    return float(min(cap, base * factor ** (attempt - 1)))


def check_cron(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise UsageError(
            f"{expression!r} is not a valid cron expression",
            hint="use five fields, e.g. '0 2 * * *' for every day at 02:00 UTC",
        )
    return expression


def due_slot(expression: str, last_slot: datetime, now: datetime) -> datetime | None:
    """The latest slot in (last_slot, now], or None when nothing is due.

    After downtime several slots may have passed; only the latest is returned, so a
    missed schedule is caught up once, not once per missed slot.
    """
    # get_prev is strict; one second later makes a slot exactly at ``now`` count.
    start = now.astimezone(UTC) + timedelta(seconds=1)
    latest: datetime = croniter(expression, start).get_prev(datetime)
    if latest.tzinfo is None:
        latest = latest.replace(tzinfo=UTC)
    return latest if latest > last_slot else None


def next_slot(expression: str, after: datetime) -> datetime:
    nxt: datetime = croniter(expression, after.astimezone(UTC)).get_next(datetime)
    return nxt if nxt.tzinfo else nxt.replace(tzinfo=UTC)
