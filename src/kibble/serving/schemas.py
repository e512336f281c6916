"""Request and response shapes of the serving routes: every field typed and bounded.

Limits match the store's columns (ids 128 characters, request ids 64), and text may not
hold control characters or lone surrogates (PostgreSQL refuses NUL; no encoder takes a
surrogate), so whatever passes here can be stored on either backend. Pure.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_K = 100
MAX_TEXT = 128
MAX_BATCH = 1000
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def is_clean(value: str) -> bool:
    """No control characters (NUL included) and no lone surrogates."""
    return all(c.isprintable() or unicodedata.category(c) not in ("Cc", "Cs") for c in value)


def _clean(value: str) -> str:
    if not is_clean(value):
        raise ValueError("must not contain control characters or lone surrogates")
    return value


def _utc(when: datetime) -> datetime:
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if not EARLIEST <= when < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y} and {LATEST:%Y}")
    return when.astimezone(UTC)


Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(_clean)]
RequestId = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_clean)]
Timestamp = Annotated[datetime, AfterValidator(_utc)]
EventType = Literal["impression", "click", "add_to_cart", "purchase"]


class RecRequest(BaseModel):
    user_id: Text
    k: int = Field(10, ge=1, le=MAX_K)
    item_id: Text | None = None
    category: Text | None = None
    species: Text | None = None
    exclude: list[Text] = Field(default_factory=list, max_length=1000)


class FeedbackEvent(BaseModel):
    """One reaction to an answer. Arm, version and propensity are the server's to fill
    from ``request_id``; any the client sends are ignored."""

    model_config = ConfigDict(extra="ignore")

    event_id: Text
    user_id: Text
    item_id: Text
    event_type: EventType
    ts: Timestamp | None = None
    session_id: Text | None = None
    request_id: RequestId | None = None


class FeedbackBatch(BaseModel):
    events: list[FeedbackEvent] = Field(min_length=1, max_length=MAX_BATCH)


class FeedbackAnswer(BaseModel):
    accepted: int
    new: int
    attributed: int = Field(description="events whose request id the server verified")


class ErrorBody(BaseModel):
    error: str
    message: str
    hint: str | None = None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {status: {"model": ErrorBody} for status in statuses}
