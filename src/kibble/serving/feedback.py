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
from pydantic import TypeAdapter, ValidationError

from kibble.context import Context
from kibble.errors import UsageError
from kibble.serving.requestids import RequestIds
from kibble.serving.schemas import MAX_BATCH, FeedbackEvent, Text
from kibble.store.repositories.serving import FEEDBACK_FIELDS, Feedback, ServedRequests

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
_ARM = TypeAdapter(Text | None)


def validate(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check and normalise a batch (pure); raise one UsageError naming the bad event.

    The ``arm`` is kept as given: this is the trusted in-process intake. The HTTP route
    fills it from the request id (``attribute``), never from the client.
    """
    if not events:
        raise UsageError("empty feedback batch", hint="send at least one event")
    if len(events) > MAX_BATCH:
        raise UsageError(f"batch of {len(events)} events", hint=f"send at most {MAX_BATCH}")
    out = []
    for i, e in enumerate(events):
        try:
            event = FeedbackEvent.model_validate(e).model_dump()
            arm = _ARM.validate_python(e.get("arm"))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "event"
            raise UsageError(
                f"event {i}: {where}: {problem['msg']}", hint="see POST /v1/feedback in the docs"
            ) from None
        out.append({**event, "ts": event["ts"] or datetime.now(UTC), "arm": arm})
    return out


def attribute(
    context: Context, ids: RequestIds, deployment: str, events: Sequence[FeedbackEvent]
) -> list[dict[str, Any]]:
    """Events with ``arm`` filled by the server: from the signed request id, else from
    the stored request log (answers logged before ids were signed). Anything else is
    kept with no arm: unattributed, so no rollout or bandit statistic counts it."""
    rows = [e.model_dump() for e in events]
    unsigned = set()
    for row in rows:
        sealed = ids.verify(row["request_id"]) if row["request_id"] else None
        row["arm"] = sealed.arm if sealed else None
        if sealed is None and row["request_id"]:
            unsigned.add(row["request_id"])
    if unsigned:
        with context.store.session() as session:
            logged = ServedRequests(session, context.project_id).arms(deployment, unsigned)
        for row in rows:
            if row["arm"] is None and row["request_id"] in logged:
                row["arm"] = logged[row["request_id"]]
    return rows


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
