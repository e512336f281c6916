"""A scikit-learn classifier trained in a plain script goes register -> gate -> canary ->
promote -> monitored through kibble, with no kibble code in the model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

import kibble
from kibble.context import Context
from kibble.models.monitor import monitor_model
from kibble.rollouts.service import finish
from kibble.serving.app import create_app
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import ServedRequests
from tests.models.odd_models import RaisesOnVisits
from tests.models.shapes import FEATURES, classifier, visitors, write_table
from tests.serving.helpers import serving_headers

POLICY = {"latency_sla_ms": 5000, "champion_tolerance": 0.05}  # the host's load is no verdict


@pytest.fixture
def held_out(context: Context) -> Any:
    held = visitors(400, seed=1)
    write_table(context, held)
    with context.store.session() as session:
        Registry(session, context.project_id).replace_gate_policies(
            {"buyers": POLICY, "odd": POLICY}, None
        )
    return held


def test_register_gate_canary_promote_monitor(context: Context, held_out: Any) -> None:
    train = visitors(600, seed=0)
    first = classifier(train.head(150))  # the script's first try, on a week of data
    v1 = kibble.log_model(
        first, "buyers", training_frame=train[FEATURES], label="bought", context=context
    )
    report = kibble.gate_model(context, "buyers", v1["version"], table="visitors")
    assert report.passed, [c.sentence for c in report.checks if not c.passed]
    names = {c.name for c in report.checks}
    assert {"probe:rows_predicted", "probe:missing_column_refused", "beats_baseline"} <= names
    kibble.promote_model(context, "buyers", 1, reason="first model")

    second = classifier(train)
    v2 = kibble.log_model(
        second, "buyers", training_frame=train[FEATURES], label="bought", context=context
    )
    report = kibble.gate_model(context, "buyers", 2, table="visitors", slice_by="country")
    assert report.passed, [c.sentence for c in report.checks if not c.passed]
    assert {"not_worse_than_champion", "slice:de"} <= {c.name for c in report.checks}
    kibble.start_rollout(context, "buyers-live", "buyers", policy="canary", steps=[0.5])

    app = create_app(context, "buyers-live", "buyers", poll_s=0.2)
    rows = held_out[FEATURES].to_dict("records")
    with TestClient(app, headers=serving_headers(context)) as client:
        answers = []
        for i, row in enumerate(rows[:120]):
            r = client.post("/v1/models/buyers/predict", json={"inputs": [row], "unit_id": f"u{i}"})
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert {a["arm"] for a in answers} == {"buyers:1", "buyers:2"}
        assert set(answers[0]["predictions"][0]) == {"prediction", "score"}

        missing = client.post("/v1/models/buyers/predict", json={"inputs": [{"pages": 1.0}]})
        assert missing.status_code == 400 and "'visits'" in missing.json()["message"]
        wrong = client.post(
            "/v1/models/buyers/predict", json={"inputs": [{**rows[0], "visits": "many"}]}
        )
        assert wrong.status_code == 400 and "column 'visits' must be int" in wrong.json()["message"]

        labels = [
            {"request_id": a["request_id"], "label": int(held_out["bought"][i])}
            for i, a in enumerate(answers)
        ]
        taken = client.post("/v1/models/buyers/labels", json={"labels": labels}).json()
        assert taken == {"accepted": 120, "new": 120, "attributed": 120}
        app.state.requests.flush()

    finish(context, "buyers-live", "promote", "canary held on live traffic")
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        assert reg.alias(reg.model("buyers"), "champion").version == v2["version"]  # type: ignore[union-attr]
        logged = ServedRequests(session, context.project_id).arms(
            "buyers-live", [labels[0]["request_id"]]
        )
    assert logged == {labels[0]["request_id"]: answers[0]["arm"]}

    health = monitor_model(context, "buyers-live", "buyers")
    for arm in ("buyers:1", "buyers:2"):
        assert health["arms"][arm]["labelled"] > 0
        assert 0.5 < health["arms"][arm]["quality"]["auc"] <= 1.0
    assert {f["feature"] for f in health["input_drift"]["features"]} == set(FEATURES)
    assert health["prediction_drift"]["current_rows"] == 120


def test_drifted_inputs_open_an_alert(context: Context, held_out: Any) -> None:
    train = visitors(600, seed=0)
    kibble.log_model(classifier(train), "buyers", training_frame=train[FEATURES], context=context)
    app = create_app(context, "shop", "buyers", poll_s=0.2)
    with TestClient(app) as client:
        for i in range(60):  # every visitor suddenly reads ten times the pages
            row = {"pages": 60.0 + i, "visits": 3, "country": "de"}
            assert (
                client.post("/v1/models/buyers/predict", json={"inputs": [row]}).status_code == 200
            )
        anonymous = client.post(
            "/v1/models/buyers/labels", json={"labels": [{"request_id": "r1", "label": 1}]}
        )
        assert anonymous.status_code == 401  # labels move rollouts: a serving.write token
        app.state.requests.flush()
    health = monitor_model(context, "shop", "buyers")
    assert "pages" in health["input_drift"]["drifted"]
    assert "input_drift" in health["alerts"]


def test_a_model_that_raises_on_some_rows_fails_the_probe_with_the_row(
    context: Context, held_out: Any
) -> None:
    trusted = [f"{RaisesOnVisits.__module__}.RaisesOnVisits"]
    v = kibble.log_model(
        RaisesOnVisits(),
        "odd",
        signature={"pages": "float", "visits": "int"},
        trusted=trusted,
        label="bought",
        context=context,
    )
    report = kibble.gate_model(context, "odd", v["version"], table="visitors")
    assert not report.passed
    failed = {c.name: c.sentence for c in report.checks if not c.passed}
    assert "'visits': 13" in failed["probe:rows_predicted"]
    assert "cannot score visits=13" in failed["probe:rows_predicted"]
