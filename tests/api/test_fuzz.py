"""Property-based fuzzing of the real app from its own /openapi.json: with a valid admin
token, no generated request may produce a 5xx, and each status a route answers is one its
OpenAPI entry documents. Bounded: 30 examples per operation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.world import build_world

EXAMPLES = 30


@pytest.mark.slow
def test_no_generated_request_makes_the_server_fail(tmp_path: Path) -> None:
    world = build_world(tmp_path / "home")
    schema = schemathesis.openapi.from_asgi("/openapi.json", world.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    calls: dict[str, int] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            if case.path_parameters and "project" in case.path_parameters:
                case.path_parameters["project"] = "k9s"  # reach past the tenant check
            response = case.call(headers=world.auth("admin"))
            label = case.operation.label
            calls[label] = calls.get(label, 0) + 1
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.text[:300],
            )
            if response.status_code >= 400:
                assert "error" in response.json(), response.text[:300]
            documented = case.operation.definition.raw["responses"]
            assert str(response.status_code) in documented, (label, response.status_code)

        check()
    assert len(calls) == len(operations)
    assert sum(calls.values()) >= len(operations) * 5
    assert world.app.openapi()["paths"]  # and the spec itself is served
    world.other.close()
    world.context.close()
