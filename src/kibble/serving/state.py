"""The live model pointer: load and warm new versions beside the old, then swap atomically.

Requests read ``holder.current`` once and keep that snapshot, so in-flight requests
finish on the version they started with while a swap happens.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from kibble.context import Context
from kibble.recsys.base import Recommender, load_model
from kibble.serving.pointers import VersionRef, routing_for
from kibble.serving.routing import ArmStats, RoutingSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """Routing spec plus the loaded models for its arms; never mutated after creation.

    ``bandit`` holds each arm's reward counts for Thompson sampling (empty otherwise).
    """

    spec: RoutingSpec
    models: dict[str, Recommender]
    version: int = 0
    refs: dict[str, VersionRef] = field(default_factory=dict)
    bandit: dict[str, ArmStats] = field(default_factory=dict)

    @property
    def champion(self) -> str:
        return self.spec.champion


class ModelHolder:
    """Keeps the current snapshot and refreshes it from the store."""

    def __init__(self, context: Context, deployment: str, model_name: str) -> None:
        self.context = context
        self.deployment = deployment
        self.model_name = model_name
        self.current: Snapshot | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Re-read the store; load/warm any new version; swap. True when something changed."""
        with self._lock:
            with self.context.store.session() as session:
                spec, refs, stats = routing_for(
                    session, self.context.project_id, self.deployment, self.model_name
                )
            old = self.current
            if old is not None and old.spec == spec and old.refs == refs:
                if old.bandit != stats:  # new rewards only: same models, new shares
                    self.current = Snapshot(spec, old.models, old.version, refs, stats)
                return False
            models: dict[str, Recommender] = {}
            for label, ref in refs.items():
                same = old is not None and old.refs.get(label) == ref and label in old.models
                models[label] = old.models[label] if same and old else self._load(ref)
            version = (old.version + 1) if old else 1
            self.current = Snapshot(spec, models, version, refs, stats)  # the atomic switch
            log.info("serving snapshot %d: %s", version, sorted(models))
            return True

    def _load(self, ref: VersionRef) -> Recommender:
        model = load_model(self.context.load_artifact(ref.digest))
        model.recommend("__warmup__", 10, explain=False)  # warm caches before traffic
        return model

    def start(self, interval_s: float = 1.0) -> None:
        """Poll the store so several replicas converge on the same pointers."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # keep serving the old snapshot; log and retry
                    log.exception("refreshing the serving snapshot failed")

        self._thread = threading.Thread(target=loop, name="kibble-model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
