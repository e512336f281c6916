"""Tuning trials and trainings on a real local Ray cluster give what a local run gives.

One Ray driver connection for the module (``ray_driver``), so its workers start once;
the cluster itself is the session's ``ray_cluster``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kibble.context import Context
from kibble.recsys.remote import RemoteCallError, RemoteCalls, train_on
from kibble.recsys.tuning_service import tune
from tests.recsys.conftest import Shop
from tests.recsys.remote_probe import fail, pid, task_name

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_driver(ray_cluster: str) -> Iterator[str]:
    import ray

    ray.init(
        address=ray_cluster,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    yield ray_cluster
    ray.shutdown()


def test_calls_run_in_ray_workers_and_report_their_errors(
    context: Context, ray_driver: str
) -> None:
    with RemoteCalls(context, "ray", ray_address=ray_driver, jobs=2) as calls:
        assert calls.submit(pid, {}, {}).result().value != os.getpid()
        with pytest.raises(RemoteCallError, match="ValueError: planted"):
            calls.submit(fail, {}, {"message": "planted"}).result()
        named = calls.submit(task_name, {}, {}, name="recsys.tune.als.trial-3")
        assert named.result().value == "recsys.tune.als.trial-3"
        assert calls.submit(task_name, {}, {}).result().value == "task_name"


def test_tuning_on_ray_matches_the_local_search(
    context: Context, ray_driver: str, shop: Shop
) -> None:
    options: dict[str, Any] = {
        "model": "als",
        "n_trials": 4,
        "n_jobs": 2,
        "seed": 3,
        "items": shop.catalog,
    }
    here = tune(context, shop.interactions, executor="local", **options)
    there = tune(context, shop.interactions, executor="ray", ray_address=ray_driver, **options)
    trials = [{"params": t["params"], "value": t["value"]} for t in here["trials"]]
    assert [{"params": t["params"], "value": t["value"]} for t in there["trials"]] == trials
    assert len({t["value"] for t in trials}) > 1  # the trials really differ
    for key in ("best_params", "best_value", "test_value", "baseline_test"):
        assert there[key] == here[key], key


def test_training_on_ray_gives_the_same_model(
    context: Context, ray_driver: str, shop: Shop
) -> None:
    options: dict[str, Any] = {
        "model": "hybrid",
        "params": {"cf": "als", "cf_params": {"factors": 16, "iterations": 5}},
        "items": shop.catalog,
    }
    here = train_on(context, shop.interactions, **options)
    there = train_on(context, shop.interactions, executor="ray", ray_address=ray_driver, **options)
    assert "remote" in there.seconds and "remote" not in here.seconds  # it did go out
    users = [*shop.interactions.user_ids[:20], "nobody"]
    assert [[r.item_id for r in there.model.recommend(u, 10)] for u in users] == [
        [r.item_id for r in here.model.recommend(u, 10)] for u in users
    ]
    assert there.blob == here.blob  # byte for byte: the same content-addressed artifact
