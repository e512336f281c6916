"""What a running step can tell kibble: log lines and the table versions it read.

Works the same in-process, in a process pool and on Ray: the worker collects these
and hands them back with the step's result.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_current: contextvars.ContextVar[StepScope | None] = contextvars.ContextVar(
    "kibble_step", default=None
)


@dataclass
class StepScope:
    logs: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    """The run this step belongs to: run_id, step, project and the settings that open its
    store (plain data, so it crosses to process and Ray workers)."""
    context: Any = None
    """The runner's own Context when the step runs in its process (no second store)."""


def current() -> StepScope | None:
    return _current.get()


def enter(
    run: dict[str, Any] | None = None, context: Any = None
) -> tuple[StepScope, contextvars.Token[StepScope | None]]:
    scope = StepScope(run=dict(run or {}), context=context)
    return scope, _current.set(scope)


def leave(token: contextvars.Token[StepScope | None]) -> None:
    _current.reset(token)


def log(message: str, level: str = "INFO") -> None:
    """Record a line in the run's logs (``kibble runs logs RUN``); printed nowhere else."""
    scope = _current.get()
    if scope is not None:
        scope.logs.append(
            {"level": level.upper(), "message": message, "at": datetime.now(UTC).isoformat()}
        )


def record_read(table: str, version: int | None) -> None:
    """Declare that this step read ``table`` at ``version`` (it joins the lineage)."""
    scope = _current.get()
    if scope is not None:
        scope.reads.append({"table": table, "version": version})


class ScopeHandler(logging.Handler):
    """Copies log records emitted inside a step into that step's logs."""

    def emit(self, record: logging.LogRecord) -> None:
        scope = _current.get()
        if scope is not None:
            log(self.format(record) if self.formatter else record.getMessage(), record.levelname)


_handler = ScopeHandler(level=logging.INFO)


def install_log_capture() -> None:
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
