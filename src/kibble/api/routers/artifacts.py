"""Artifacts: metadata, download by digest, upload (pickle refused, storage quota applied).

Downloads are sent as ``application/octet-stream`` attachments whatever their recorded
media type, so an uploaded HTML or SVG file can never run as a page on this origin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from kibble.api import reads
from kibble.api.deps import ProjectScope, action
from kibble.api.hardening import BODY_KEY
from kibble.api.idempotency import idempotent
from kibble.api.reads import as_dict
from kibble.api.routers.common import Digest, Limit, Offset
from kibble.artifacts import check_digest
from kibble.artifacts.formats import check_upload
from kibble.auth import enforce
from kibble.errors import UsageError

router = APIRouter(tags=["artifacts"])
UPLOAD_SPEC = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get("/artifacts", openapi_extra=action("artifacts.read"))
def list_artifacts(s: ProjectScope, limit: Limit = 100, offset: Offset = 0) -> list[dict[str, Any]]:
    with s.session() as session:
        return [as_dict(a) for a in reads.artifacts(session, s.project_id, limit, offset)]


@router.get("/artifacts/{digest}", openapi_extra=action("artifacts.read"))
def show_artifact(s: ProjectScope, digest: Digest) -> dict[str, Any]:
    check_digest(digest)
    return as_dict(s.context.artifact_record(digest))


@router.get(
    "/artifacts/{digest}/content",
    openapi_extra=action("artifacts.read"),
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(s: ProjectScope, digest: Digest) -> Response:
    """The artifact's bytes, verified against the digest."""
    check_digest(digest)
    record = s.context.artifact_record(digest)
    data = s.context.load_artifact(digest)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{digest.split(":", 1)[1]}"',
            "X-Kibble-Media-Type": record.media_type,
        },
    )


@router.post(
    "/artifacts",
    status_code=201,
    openapi_extra={**action("artifacts.write"), **UPLOAD_SPEC},
)
def upload_artifact(
    s: ProjectScope, request: Request, name: Annotated[str, Query(max_length=256)] = ""
) -> JSONResponse:
    """Store the request body as an artifact; its Content-Type is recorded as the media type.

    Taken only when the safe loader of that type reads it: .npz/.npy (no pickle),
    Parquet or JSON; anything else is refused (400)."""
    data: bytes = request.scope.get(BODY_KEY, b"")
    media_type = request.headers.get("content-type", "application/octet-stream")[:128]
    if not data:
        raise UsageError("the upload is empty", hint="send the artifact's bytes as the body")
    check_upload(data, media_type)

    def work() -> dict[str, Any]:
        with s.session() as session:
            enforce(
                session,
                s.project_id,
                s.state.artifacts,
                s.principal.project,
                storage_bytes=len(data),
            )
        ref = s.context.save_artifact(data, media_type, name=name)
        return as_dict(s.context.artifact_record(ref.digest))

    return idempotent(s, request, work, status_code=201)
