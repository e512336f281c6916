"""Delta tables on S3-compatible object storage, against a real local (moto) server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import boto3
import pytest

from kibble.checks.runner import run_checks
from kibble.config import load_settings
from kibble.context import Context
from kibble.data.ingest import ingest
from kibble.data.lake import Lake
from kibble.data.tables import Tables
from kibble.errors import NotFoundError, UnsafeInputError, UsageError
from tests.data.helpers import events, products
from tests.s3_server import S3Server

DAY = date(2026, 11, 1)


@pytest.fixture
def bucket(s3_env: S3Server) -> str:
    return s3_env.create_bucket()


@pytest.fixture
def s3_context(s3_env: S3Server, bucket: str, home: Path) -> Iterator[Context]:
    settings = load_settings(
        {
            "home": home,
            "lake_url": f"s3://{bucket}/lake",
            "storage.endpoint_url": s3_env.endpoint_url,
            "storage.allow_http": True,
        },
        environ={},
    )
    ctx = Context.open(settings, project="k9s")
    yield ctx
    ctx.close()


def _keys(s3: S3Server, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def test_ingest_time_travel_and_idempotence_on_s3(
    s3_context: Context, s3_env: S3Server, bucket: str
) -> None:
    tables = Tables(s3_context)
    assert tables.lake.uri("events") == f"s3://{bucket}/lake/k9s/events"
    ingest(s3_context, products(20), "products", mode="replace")
    first = ingest(s3_context, events(DAY, 30), "events")
    second = ingest(s3_context, events(date(2026, 11, 2), 12), "events")
    again = ingest(s3_context, events(DAY, 30), "events")
    assert (first.rows_written, second.rows_written) == (30, 12)
    assert (again.rows_written, again.rows_duplicate) == (0, 30)
    assert again.table_version == second.table_version
    assert tables.read("events").num_rows == 42
    assert tables.read("events", version=first.table_version).num_rows == 30
    replaced = ingest(
        s3_context, events(DAY, 5, prefix="r"), "events", mode="replace-partition", partition=DAY
    )
    assert tables.read("events").num_rows == 17
    assert replaced.table_version is not None
    assert tables.read("events", version=replaced.table_version - 1).num_rows == 42
    report = run_checks(s3_context, "events", partition=str(DAY), skip=("freshness",))
    assert report.passed, report.reasons
    assert tables.lake.partition_counts("events", "date").get_column("len").to_list() == [5, 12]
    keys = _keys(s3_env, bucket)
    assert any(k.startswith("lake/k9s/events/_delta_log/") for k in keys)
    assert all(k.startswith(("lake/k9s/events/", "lake/k9s/products/")) for k in keys), keys


def test_escape_attempts_are_refused_on_s3(
    s3_context: Context, s3_env: S3Server, bucket: str
) -> None:
    ingest(s3_context, products(5), "products", mode="replace")
    for name in ("../k9s/products", "..", "products/../../x", "%2e%2e", "a/b"):
        with pytest.raises(UsageError):
            ingest(s3_context, products(1), name, mode="replace")
    root = f"s3://{bucket}/lake"
    options = s3_context.settings.storage.delta_options(root)
    for project in ("..", "../k9s", "k9s/products"):
        with pytest.raises((UsageError, UnsafeInputError)):
            Lake(root, project, options)
    other = Lake(root, "other", options)
    assert not other.exists("products")
    with pytest.raises(NotFoundError):
        other.read("products")
    assert all(k.startswith("lake/k9s/products/") for k in _keys(s3_env, bucket))
