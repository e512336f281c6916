"""Lineage from a model back to table versions and parameters, and forward."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.lineage import downstream, upstream
from kibble.pipelines import Pipeline, record_read, step
from kibble.store.models import ModelVersion, RegisteredModel
from kibble.store.repositories.serving import Feedback, ServedRequests
from tests.pipelines.test_caching import add_table_version


@step(tables=["events"])
def features(window: int = 7) -> list[float]:
    record_read("products", 3)
    return [float(window)] * 3


@step
def model(features: list[float], factors: int = 16) -> dict[str, object]:
    return {"weights": features, "factors": factors}


trainer = Pipeline("trainer", [features, model])


def register(ctx: Context, digest: str, run_id: str) -> None:
    with ctx.store.session() as session:
        registered = RegisteredModel(project_id=ctx.project_id, name="recs")
        session.add(registered)
        session.flush()
        session.add(
            ModelVersion(
                project_id=ctx.project_id,
                model_id=registered.id,
                version=1,
                artifact_digest=digest,
                run_id=run_id,
                flavor="json",
            )
        )


def test_model_lineage_shows_table_versions_and_params(context: Context) -> None:
    add_table_version(context, "events", 7)
    result = trainer.run({"window": 14, "factors": 32}, context=context)
    assert result.status == "succeeded"
    register(context, result.outputs["model"]["digest"], result.run_id)

    tree = upstream(context, "recs")
    assert tree["kind"] == "model" and tree["version"] == 1
    made = tree["made_by"]
    assert made["run_id"] == result.run_id and made["step"] == "model"
    assert made["params"] == {"window": 14, "factors": 32}
    assert made["step_params"] == {"factors": 32}
    assert "git_commit" in made["code_version"]
    (feature_node,) = made["inputs"]
    assert feature_node["argument"] == "features"
    inputs = feature_node["made_by"]["inputs"]
    assert {"kind": "table", "name": "events", "version": 7} in inputs
    assert {"kind": "table", "name": "products", "version": 3} in inputs
    assert upstream(context, "model:recs:1")["digest"] == tree["digest"]
    json.dumps(tree)  # the CLI prints it as JSON


def test_downstream_from_an_artifact(context: Context) -> None:
    result = trainer.run(context=context)
    tree = downstream(context, result.outputs["features"]["digest"])
    (use,) = tree["used_by"]
    assert use["step"] == "model"
    assert use["outputs"][0]["digest"] == result.outputs["model"]["digest"]


def test_unknown_target(context: Context) -> None:
    with pytest.raises(NotFoundError, match="neither"):
        upstream(context, "no-such-model")


def test_a_served_request_traces_back_to_its_data(context: Context) -> None:
    add_table_version(context, "events", 7)
    result = trainer.run(context=context)
    register(context, result.outputs["model"]["digest"], result.run_id)
    now = datetime.now(UTC)
    with context.store.session() as session:
        ServedRequests(session, context.project_id).add_many(
            [
                {
                    "request_id": request_id,
                    "deployment": "shop",
                    "user_id": "u1",
                    "arm": label,
                    "model_version": label,
                    "probability": 0.95,
                    "items": [{"item_id": "i3", "score": 0.5, "reasons": ["because of i1"]}],
                    "ts": now,
                }
                for request_id, label in (("r1", "recs:1"), ("r2", "a-notebook"))
            ]
        )
        Feedback(session, context.project_id).add(
            [{"event_id": "e1", "user_id": "u1", "item_id": "i3", "event_type": "click",
              "ts": now, "request_id": "r1"}]
        )  # fmt: skip
    tree = upstream(context, "request:r1")
    assert (tree["kind"], tree["model"], tree["version"]) == ("model", "recs", 1)
    assert tree["made_by"]["run_id"] == result.run_id  # and on to the tables, as above
    served = tree["request"]
    assert served["items"][0]["reasons"] == ["because of i1"]
    assert [(f["event_type"], f["item_id"]) for f in served["feedback"]] == [("click", "i3")]
    with pytest.raises(NotFoundError, match="not a registered model version"):
        upstream(context, "request:r2")
    with pytest.raises(NotFoundError, match="no served request"):
        upstream(context, "request:r3")
