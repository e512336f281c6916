"""The live model pointer: load and warm new versions beside the old, then swap atomically.

Requests read ``holder.current`` once and keep that snapshot, so in-flight requests
finish on the version they started with while a swap happens.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import dataclass, field

from kibble.context import Context
from kibble.data.tables import Tables
from kibble.recsys.base import Recommender, load_model
from kibble.recsys.catalog import ItemCatalog
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


def settle_heap(full: bool) -> None:
    """Move what is alive now (the loaded models, the app) out of the collector's sight.

    A full collection walks every tracked object; with models and the app loaded that
    took ~100 ms, all of it holding the GIL, so it set the p99 of every request that
    arrived meanwhile. Frozen objects are still freed by reference counting when a
    snapshot is dropped (models hold no reference cycles). ``full`` collects first (at
    startup, before traffic) so garbage is not frozen with them.
    """
    if full:
        gc.collect()
    gc.freeze()


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
        self._catalog_version: int | None = None

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
                self._follow_catalog(old.models, loaded=False)
                return False
            models: dict[str, Recommender] = {}
            for label, ref in refs.items():
                same = old is not None and old.refs.get(label) == ref and label in old.models
                models[label] = old.models[label] if same and old else self._load(ref)
            self._follow_catalog(models, loaded=True)
            version = (old.version + 1) if old else 1
            self.current = Snapshot(spec, models, version, refs, stats)  # the atomic switch
            log.info("serving snapshot %d: %s", version, sorted(models))
            settle_heap(full=old is None)
            return True

    def _follow_catalog(self, models: dict[str, Recommender], *, loaded: bool) -> None:
        """Stock, seasons, species and categories from the latest products table
        (``serving.catalog_table``), applied to every served model without retraining
        when the table gets a new version or a model is loaded. A table that cannot be
        read is logged and the models keep what they had."""
        table = self.context.settings.serving.catalog_table
        if not table:
            return
        try:
            tables = Tables(self.context)
            version = tables.lake.version(table) if tables.lake.exists(table) else None
            if version is None or (version == self._catalog_version and not loaded):
                return
            self._catalog_version = version  # tried once per version, even if it fails
            items = ItemCatalog.from_table(tables.polars(table))
            for model in models.values():
                model.use_catalog(items)
        except Exception:
            log.exception("the catalogue table %r could not be applied", table)
            return
        log.info("serving follows %s version %d (%d items)", table, version, len(items))

    def _load(self, ref: VersionRef) -> Recommender:
        model = load_model(self.context.load_artifact(ref.digest))
        # Index and filter caches are built here, beside the serving version, never on
        # a request; then one unknown and one known user warm every path before traffic.
        model.prepare_serving()
        model.recommend("__warmup__", 10, explain=False)
        if model.user_ids:
            model.recommend(model.user_ids[0], 10, explain=True)
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
