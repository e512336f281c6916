"""Shadow traffic: the challenger answers a copy of live requests, off the request path.

The live response is built and returned before the shadow copy runs; a bounded queue
drops copies rather than slow the live path, and every shadow failure is caught and
logged as a row (``shadow_of`` = the live request), never raised.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from kibble.recsys.base import RecContext, Recommender
from kibble.serving.metrics import Metrics
from kibble.serving.requestlog import RequestLog

log = logging.getLogger(__name__)


class ShadowRunner:
    def __init__(
        self, requests: RequestLog, metrics: Metrics, deployment: str, max_pending: int = 64
    ) -> None:
        self.requests = requests
        self.metrics = metrics
        self.deployment = deployment
        self._slots = threading.BoundedSemaphore(max_pending)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kibble-shadow")

    def submit(
        self,
        model: Recommender,
        arm: str,
        live: dict[str, Any],
        k: int,
        context: RecContext,
    ) -> bool:
        """Queue a shadow answer for the live response ``live``; False if the queue is full."""
        if not self._slots.acquire(blocking=False):
            self.metrics.shadow_dropped.inc()
            return False
        try:
            self._pool.submit(self._run, model, arm, live, k, context)
        except RuntimeError:  # shutting down
            self._slots.release()
            return False
        return True

    def _run(
        self, model: Recommender, arm: str, live: dict[str, Any], k: int, context: RecContext
    ) -> None:
        try:
            start = time.perf_counter()
            items: list[dict[str, Any]] = []
            error = None
            try:
                recs = model.recommend(live["user_id"], k, context=context, explain=False)
                items = [{"item_id": r.item_id, "score": r.score} for r in recs]
            except Exception as exc:  # the shadow arm's failure is data, not an outage
                error = f"{type(exc).__name__}: {exc}"[:256]
                self.metrics.arm_errors.labels(arm).inc()
            elapsed = time.perf_counter() - start
            shown = {i["item_id"] for i in live["items"]}
            overlap = len(shown & {i["item_id"] for i in items}) / len(shown) if shown else 0.0
            self.metrics.shadow_latency.labels(arm).observe(elapsed)
            if error is None:
                self.metrics.shadow_overlap.labels(arm).observe(overlap)
            self.requests.put(
                {
                    "request_id": f"{live['request_id']}:shadow",
                    "deployment": self.deployment,
                    "user_id": live["user_id"],
                    "arm": arm,
                    "model_version": arm,
                    "probability": 1.0,
                    "items": items,
                    "ts": datetime.now(UTC),
                    "latency_ms": elapsed * 1000,
                    "error": error,
                    "shadow_of": live["request_id"],
                }
            )
        except Exception:
            log.exception("shadow copy failed")
        finally:
            self._slots.release()

    def drain(self) -> None:
        """Wait for queued copies (tests and shutdown); new ones are still accepted."""
        self._pool.submit(lambda: None).result()

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
