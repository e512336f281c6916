"""Alert rules come from the applied factory: apply changes what fires, rollback restores it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import UsageError
from kibble.factory import AlertRule, service
from kibble.monitoring import (
    Point,
    evaluate_rules_in_force,
    list_alerts,
    record_metrics,
    rules_in_force,
)
from tests.factory.test_validate import make


@pytest.fixture
def ctx(backend_settings: Settings) -> Iterator[Context]:
    context = Context.open(backend_settings, project="k9s", actor="ana")
    yield context
    context.close()


def ctr_drop(threshold: float) -> list[AlertRule]:
    return [
        AlertRule(
            name="CTR drop", metric="model.ctr", condition="<", threshold=threshold, window="1d"
        )
    ]


def evaluate(ctx: Context) -> dict[str, str]:
    """Evaluate the rules in force: rule name -> what happened to its alert."""
    done = evaluate_rules_in_force(ctx, notifiers=[])
    actions = {r.rule.name: o.action if o else "none" for r, o in done.results}
    return actions | {o.alert["evidence"]["rule"]: "retired" for o in done.retired}


def test_apply_and_rollback_change_what_fires(ctx: Context) -> None:
    assert rules_in_force(ctx)[1] == "built-in defaults"
    now = datetime.now(UTC)
    labels = {"deployment": "home", "arm": "rec:1"}
    record_metrics(ctx, [Point("model.ctr", 0.03, now - timedelta(hours=2), now, labels)])

    service.apply(ctx, make(alerts=ctr_drop(0.05)))  # version 1: 3% CTR is too low
    rules, source = rules_in_force(ctx)
    assert source == "factory version 1" and [r.name for r in rules] == ["ctr-drop"]
    assert evaluate(ctx) == {"ctr-drop": "raised"}
    [alert] = list_alerts(ctx)
    assert alert["kind"] == "ctr_drop" and alert["fingerprint"].startswith("ctr-drop|")
    assert alert["evidence"]["value"] == 0.03 and alert["evidence"]["labels"] == labels
    assert "factory version 1" in alert["evidence"]["description"]
    assert alert["evidence"]["rules_from"] == "factory version 1"

    service.apply(ctx, make(alerts=ctr_drop(0.02)))  # version 2: 3% is fine now
    assert evaluate(ctx) == {"ctr-drop": "resolved"}
    assert list_alerts(ctx) == []

    service.rollback(ctx, 1)  # version 3 = version 1's rules: it fires again
    assert rules_in_force(ctx)[1] == "factory version 3"
    assert evaluate(ctx) == {"ctr-drop": "raised"}
    assert [a["kind"] for a in list_alerts(ctx)] == ["ctr_drop"]

    # A definition without the rule: its open alert does not outlive it.
    latency = AlertRule(name="p99", metric="system.latency_p99_ms", condition=">", threshold=50)
    service.apply(ctx, make(alerts=[latency]))
    assert evaluate(ctx) == {"ctr-drop": "retired"}
    assert list_alerts(ctx) == []
    idle = evaluate_rules_in_force(ctx, notifiers=[]).idle_notes()
    assert idle == [
        "rule p99: no system.latency_p99_ms points in its 1d window "
        "(`kibble monitor` lists the recorded metrics)"
    ]


def test_a_rule_the_evaluator_cannot_run_refuses_the_apply(ctx: Context) -> None:
    bad = [AlertRule(name="!!!", metric="model.ctr", condition="<", threshold=0.1)]
    with pytest.raises(UsageError, match="alert rule #1"):
        service.apply(ctx, make(alerts=bad))
    assert service.history(ctx) == []
    same = [
        AlertRule(name=n, metric="model.ctr", condition="<", threshold=0.1)
        for n in ("ctr drop", "ctr-drop")
    ]
    with pytest.raises(UsageError, match="unique: ctr-drop"):
        service.apply(ctx, make(alerts=same))
