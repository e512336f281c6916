"""Artifacts on S3-compatible object storage, against a real local server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kibble.config import load_settings
from kibble.context import Context
from kibble.errors import IntegrityError, NotFoundError, UnsafeInputError
from tests.s3_server import S3Server


@pytest.fixture
def s3_context(s3_env: S3Server, home: Path) -> Context:
    bucket = s3_env.create_bucket()
    settings = load_settings(
        {
            "home": home,
            "artifact_url": f"s3://{bucket}/prod",
            "storage.endpoint_url": s3_env.endpoint_url,
            "storage.allow_http": True,
        },
        environ={},
    )
    ctx = Context.open(settings, project="k9s")
    yield ctx
    ctx.close()


def test_round_trip_on_object_storage(s3_context: Context) -> None:
    ref = s3_context.save_artifact(b"factors", "application/x-npz", name="als")
    assert s3_context.load_artifact(ref.digest) == b"factors"
    blob = s3_context.artifacts.local_path("k9s", ref.digest)
    assert blob.read_bytes() == b"factors"
    assert s3_context.artifacts.project_bytes("k9s") == len(b"factors")


def test_keys_live_under_the_project_prefix(s3_context: Context) -> None:
    ref = s3_context.save_artifact(b"abc", "text/plain")
    store = s3_context.artifacts
    keys = store.fs.find(store.root)
    hexpart = ref.digest.split(":", 1)[1]
    assert keys == [f"{store.root}/k9s/blobs/sha256/{hexpart[:2]}/{hexpart}"]


def test_other_projects_and_traversal_are_refused(s3_context: Context) -> None:
    ref = s3_context.save_artifact(b"mine", "text/plain")
    with pytest.raises(NotFoundError):
        s3_context.artifacts.get_bytes("other", ref.digest)
    with pytest.raises(UnsafeInputError):
        s3_context.artifacts.get_bytes("k9s", "sha256:../../prod/x")
    with pytest.raises(Exception, match="not allowed"):
        s3_context.artifacts.put_bytes("../prod", b"x", "text/plain")


def test_corruption_on_object_storage_is_detected(s3_context: Context) -> None:
    ref = s3_context.save_artifact(b"original", "text/plain")
    store = s3_context.artifacts
    hexpart = ref.digest.split(":", 1)[1]
    store.fs.pipe_file(f"{store.root}/k9s/blobs/sha256/{hexpart[:2]}/{hexpart}", b"tampered")
    with pytest.raises(IntegrityError):
        store.get_bytes("k9s", ref.digest)
