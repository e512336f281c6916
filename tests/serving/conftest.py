"""A serving app over two small real model versions, for the serving tests; the client
sends a storefront token (serving.write) with every request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kibble.context import Context
from kibble.serving.app import create_app
from tests.serving.helpers import register_versions, serving_headers


@pytest.fixture
def client(context: Context) -> Iterator[TestClient]:
    register_versions(context)
    app = create_app(context, "default", "recs", poll_s=0.2)
    with TestClient(app, headers=serving_headers(context)) as c:
        yield c
