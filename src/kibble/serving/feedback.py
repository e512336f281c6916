"""Feedback intake: validate a batch, commit it durably, export it for training.

Durable on ack: ``accept`` commits the store transaction before returning, so a 2xx
sent after it survives ``kill -9``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from kibble.context import Context
from kibble.errors import UsageError
from kibble.store.repositories.serving import FEEDBACK_FIELDS, Feedback

EVENT_TYPES = frozenset({"impression", "click", "add_to_cart", "purchase"})
MAX_BATCH = 1000
EVENTS_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event_type", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("session_id", pa.string()),
        ("request_id", pa.string()),
        ("arm", pa.string()),
    ]
)


def validate(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check and normalise a batch (pure); raise one UsageError naming the bad event."""
    if not events:
        raise UsageError("empty feedback batch", hint="send at least one event")
    if len(events) > MAX_BATCH:
        raise UsageError(f"batch of {len(events)} events", hint=f"send at most {MAX_BATCH}")
    out = []
    for i, e in enumerate(events):
        for key in ("event_id", "user_id", "item_id", "event_type"):
            if not isinstance(e.get(key), str) or not e[key] or len(e[key]) > 128:
                raise UsageError(
                    f"event {i}: {key} must be a non-empty string (<=128 chars)",
                    hint="see POST /v1/feedback in the docs",
                )
        if e["event_type"] not in EVENT_TYPES:
            raise UsageError(
                f"event {i}: unknown event_type {e['event_type']!r}",
                hint=f"use one of {sorted(EVENT_TYPES)}",
            )
        ts = e.get("ts")
        when = datetime.now(UTC) if ts is None else _parse_ts(ts, i)
        out.append({**{k: e.get(k) for k in FEEDBACK_FIELDS}, "ts": when})
    return out


def _parse_ts(ts: Any, i: int) -> datetime:
    try:
        when = datetime.fromisoformat(str(ts))
    except ValueError as exc:
        raise UsageError(f"event {i}: bad ts {ts!r}", hint="use ISO 8601 with a zone") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def accept(context: Context, events: Sequence[dict[str, Any]], attempts: int = 3) -> int:
    """Validate and commit a batch; returns how many events were new.

    Two replicas may take the same event at once: the loser's insert hits the unique
    (project, event_id) key and rolls back; the retry then sees the winner's rows and
    skips them, so each event lands exactly once and both callers get a 2xx.
    """
    rows = validate(events)
    for attempt in range(attempts):
        try:
            with context.store.session() as session:
                return Feedback(session, context.project_id).add(rows)
        except sa.exc.IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def export_feedback(context: Context, since: datetime | None = None) -> pa.Table:
    """Feedback events as an Arrow table with the ``events`` contract columns."""
    with context.store.session() as session:
        rows = Feedback(session, context.project_id).since(since)
        data = {f: [getattr(r, f) for r in rows] for f in FEEDBACK_FIELDS}
    return pa.table(data, schema=EVENTS_SCHEMA)
