"""The Ray executor against a real local Ray cluster (``ray_cluster`` in tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from kibble.context import Context
from kibble.pipelines import run_pipeline
from kibble.store.repositories.pipelines import RunRecords
from tests.pipelines.flows import on_ray


@pytest.mark.ray
@pytest.mark.slow
def test_steps_run_as_ray_tasks(context: Context, ray_cluster: str) -> None:
    result = run_pipeline(
        on_ray, {"n": 4}, context=context, executor="ray", ray_address=ray_cluster
    )
    assert result.status == "succeeded", result.error
    where = result.output("ray_where")
    assert where["values"] == [0, 1, 4, 9]
    assert where["pid"] != os.getpid()  # it ran in a Ray worker, not here
    assert where["task"] == "on-ray.ray_where"  # named for the dashboard, not execute_task
    with context.store.session() as session:
        steps = RunRecords(session, context.project_id).steps(result.run_id)
    assert {s.status for s in steps} == {"succeeded"}
