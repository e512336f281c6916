"""A serving app over two small real model versions, for the serving tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.serving.app import create_app
from tests.serving.helpers import register_versions


@pytest.fixture
def client(context: Context) -> Iterator[TestClient]:
    register_versions(context)
    with TestClient(create_app(context, "default", "recs", poll_s=0.2)) as c:
        yield c
