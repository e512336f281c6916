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


def dataset_id(url: str) -> tuple[str, str]:
    """(namespace, name) of a location per the OpenLineage naming spec: ``s3://bucket``
    and the object key for S3, ``file`` and the absolute path for local files."""
    if url.startswith("s3://"):
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return f"s3://{bucket}", key
    if "://" in url and not url.startswith("file://"):
        scheme, rest = url.split("://", 1)
        authority, _, path = rest.partition("/")
        return f"{scheme}://{authority}", path
    return "file", str(Path(url.removeprefix("file://")).resolve())


class LineageEmitter:
    """Sends run events; datasets are named where they are stored (tables under the
    lake, artifacts as content-addressed blobs) with their version (Delta version or
    digest) and, when known, their schema."""

    def __init__(self, settings: Settings, project: str) -> None:
        self.namespace = f"kibble/{project}"
        self.tables_root = f"{settings.lake_url.rstrip('/')}/{project}"
        self.blobs_root = f"{settings.artifact_url.rstrip('/')}/{project}/blobs/sha256"
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
        """A step's event; its parent is the pipeline run (see ``emit_run``)."""
        self.emit_job(
            state,
            run_uuid=step_run_uuid(run_id, step),
            job=f"{pipeline}.{step}",
            parent=(step_run_uuid(run_id, ""), pipeline),
            inputs=inputs,
            outputs=outputs,
            error=error,
        )

    def emit_run(self, state: str, *, run_id: str, pipeline: str, error: str | None = None) -> None:
        """The pipeline run's own event: the parent job its steps point to."""
        self.emit_job(state, run_uuid=step_run_uuid(run_id, ""), job=pipeline, error=error)

    def emit_job(
        self,
        state: str,
        *,
        run_uuid: str,
        job: str,
        parent: tuple[str, str] | None = None,
        inputs: Sequence[dict[str, Any]] = (),
        outputs: Sequence[dict[str, Any]] = (),
        error: str | None = None,
    ) -> None:
        """Any job's event (ingest, training, a step); ``parent`` is (run uuid, job)."""
        from openlineage.client.event_v2 import (
            InputDataset,
            Job,
            OutputDataset,
            Run,
            RunEvent,
            RunState,
        )
        from openlineage.client.generated import error_message_run, parent_run

        facets: dict[str, Any] = {}
        if parent is not None:
            facets["parent"] = parent_run.ParentRunFacet(
                run=parent_run.Run(runId=parent[0]),
                job=parent_run.Job(namespace=self.namespace, name=parent[1]),
            )
        if error:
            facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=error[:2000], programmingLanguage="PYTHON"
            )
        event = RunEvent(
            eventType=RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_uuid, facets=facets),
            job=Job(namespace=self.namespace, name=job),
            producer=PRODUCER,
            inputs=[
                InputDataset(**self._dataset(item), inputFacets=self._assertions(item))
                for item in inputs
            ],
            outputs=[OutputDataset(**self._dataset(item)) for item in outputs],
        )
        try:
            self.client.emit(event)
        except Exception as exc:  # lineage must never break a run
            log.warning("could not emit OpenLineage event: %s", exc)

    def _dataset(self, item: dict[str, Any]) -> dict[str, Any]:
        """(namespace, name, facets) of a table, an artifact or a source location."""
        from openlineage.client.generated import dataset_version_dataset, schema_dataset

        facets: dict[str, Any] = {}
        if item.get("kind") == "table":
            namespace, name = dataset_id(f"{self.tables_root}/{item['name']}")
            version = item.get("version")
        elif "digest" in item:
            digest = str(item["digest"])
            hexdigest = digest.removeprefix("sha256:")
            namespace, name = dataset_id(f"{self.blobs_root}/{hexdigest[:2]}/{hexdigest}")
            version = digest
        else:
            namespace, name = dataset_id(str(item["url"]))
            version = None
        if version is not None:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(version)
            )
        if item.get("schema"):
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name=str(n), type=str(t))
                    for n, t in item["schema"]
                ]
            )
        return {"namespace": namespace, "name": name, "facets": facets}

    @staticmethod
    def _assertions(item: dict[str, Any]) -> dict[str, Any]:
        """Check results on an input as the spec's dataQualityAssertions facet."""
        from openlineage.client.generated import data_quality_assertions_dataset as dq

        if not item.get("assertions"):
            return {}
        return {
            "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(
                assertions=[
                    dq.Assertion(assertion=str(name), success=bool(ok))
                    for name, ok in item["assertions"]
                ]
            )
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):  # best effort on shutdown
            self.client.close(timeout=5.0)


def emit_finished(
    settings: Settings,
    project: str,
    *,
    job: str,
    run_key: str,
    state: str = "COMPLETE",
    inputs: Sequence[dict[str, Any]] = (),
    outputs: Sequence[dict[str, Any]] = (),
    error: str | None = None,
) -> None:
    """One event for a job recorded once it is over (a training, a check report): the
    spec allows a run to be reported by its final event alone."""
    emitter = LineageEmitter(settings, project)
    try:
        emitter.emit_job(
            state,
            run_uuid=step_run_uuid(run_key, job),
            job=job,
            inputs=inputs,
            outputs=outputs,
            error=error,
        )
    finally:
        emitter.close()
