"""OpenLineage run events (START, COMPLETE, FAIL, ABORT) for every step.

Events go to a JSON-lines file under the home folder by default, or to an HTTP
endpoint (Marquez, DataHub) when ``pipelines.openlineage_url`` is set. Emission never
fails a run: a broken endpoint is logged and the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kibble.config import Settings

log = logging.getLogger(__name__)
PRODUCER = "https://github.com/kibble-ml/kibble"
_RUN_NAMESPACE = uuid.UUID("5d1a4f0e-6f0e-4b9f-9a43-8d0f9b6c2a11")


def step_run_uuid(run_id: str, step: str) -> str:
    """A stable UUID per (run, step), so START and COMPLETE pair up across resumes."""
    return str(uuid.uuid5(_RUN_NAMESPACE, f"{run_id}/{step}"))


def events_file(settings: Settings) -> Path:
    return Path(
        settings.pipelines.openlineage_file or settings.home / "openlineage" / "events.jsonl"
    )


class LineageEmitter:
    def __init__(self, settings: Settings, project: str) -> None:
        self.namespace = f"kibble/{project}"
        self.artifact_namespace = f"kibble-artifacts/{project}"
        self.table_namespace = settings.lake_url
        if settings.pipelines.openlineage_url:
            transport: dict[str, Any] = {
                "type": "http",
                "url": settings.pipelines.openlineage_url,
                "timeout": 5.0,
            }
        else:
            path = events_file(settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            transport = {"type": "file", "log_file_path": str(path), "append": True}
        # imported here: the client costs half a second, and most commands emit nothing
        from openlineage.client import OpenLineageClient

        self.client = OpenLineageClient(config={"transport": transport})

    def emit(
        self,
        state: str,
        *,
        run_id: str,
        pipeline: str,
        step: str,
        inputs: Sequence[dict[str, Any]] = (),
        outputs: Sequence[dict[str, Any]] = (),
        error: str | None = None,
    ) -> None:
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.generated import error_message_run, parent_run

        facets: dict[str, Any] = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=step_run_uuid(run_id, "")),
                job=parent_run.Job(namespace=self.namespace, name=pipeline),
            )
        }
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error[:2000], programmingLanguage="PYTHON"
            )
        event = RunEvent(
            eventType=RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=step_run_uuid(run_id, step), facets=facets),
            job=Job(namespace=self.namespace, name=f"{pipeline}.{step}"),
            producer=PRODUCER,
            inputs=[InputDataset(*self._dataset(item)) for item in inputs],
            outputs=[OutputDataset(*self._dataset(item)) for item in outputs],
        )
        try:
            self.client.emit(event)
        except Exception as exc:  # lineage must never break a run
            log.warning("could not emit OpenLineage event: %s", exc)

    def _dataset(self, item: dict[str, Any]) -> tuple[str, str]:
        """(namespace, name) of a table or an artifact."""
        if item.get("kind") == "table":
            return self.table_namespace, str(item["name"])
        return self.artifact_namespace, str(item["digest"])

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort on shutdown
            self.client.close(timeout=5.0)
