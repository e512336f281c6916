"""Batch the served-request log off the hot path: a queue drained by one writer thread.

The writer shares the interpreter with the request loop, so its CPU is latency: rows
go in as one multi-row INSERT (``ServedRequests.add_many``).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from kibble.context import Context
from kibble.store.repositories.serving import ServedRequests

log = logging.getLogger(__name__)


class RequestLog:
    def __init__(self, context: Context, flush_s: float = 0.5) -> None:
        self.context = context
        self.flush_s = flush_s
        self._queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kibble-request-log", daemon=True)

    def put(self, row: dict[str, Any]) -> None:
        self._queue.put(row)

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> int:
        rows: list[dict[str, Any]] = []
        while True:
            try:
                rows.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if rows:
            with self.context.store.session() as session:
                ServedRequests(session, self.context.project_id).add_many(rows)
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:
                log.exception("writing the request log failed; rows dropped")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
