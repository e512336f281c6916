"""The rollout controller inside ``kibble serve``: every replica ticks, one decides.

Each tick runs ``rollouts.service.step``, which row-locks the rollout in the store, so
several replicas never take the same decision twice; after a decision this replica
refreshes its snapshot at once instead of waiting for its next poll.
"""

from __future__ import annotations

import logging
import threading

from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.rollouts import service
from kibble.rollouts.controller import Guardrails
from kibble.serving.metrics import Metrics
from kibble.serving.state import ModelHolder

log = logging.getLogger(__name__)


class ControllerLoop:
    def __init__(
        self,
        context: Context,
        holder: ModelHolder,
        metrics: Metrics,
        interval_s: float,
        rails: Guardrails | None = None,
    ) -> None:
        self.context = context
        self.holder = holder
        self.metrics = metrics
        self.interval_s = interval_s
        self.rails = rails
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kibble-rollout", daemon=True)

    def tick(self) -> str | None:
        """One controller step if this deployment has an active rollout; its action."""
        snap = self.holder.current
        if snap is None or snap.spec.challenger is None:
            return None
        try:
            out = service.step(self.context, self.holder.deployment, self.rails)
        except NotFoundError:  # finished elsewhere since our last poll
            self.holder.refresh()
            return None
        action = str(out["action"])
        self.metrics.controller.labels(action).inc()
        if action not in ("hold", "skipped"):
            log.warning("rollout %s: %s", action, "; ".join(out["reasons"]))
            self.holder.refresh()
        return action

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # a store hiccup must not stop serving; retry next tick
                log.exception("rollout controller step failed")

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
