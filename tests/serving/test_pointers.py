"""What the router reads from the store: the declared holdout of the applied factory."""

from __future__ import annotations

from kibble import Factory, GatePolicy, RolloutPolicy
from kibble.context import Context
from kibble.factory.service import apply, rollback
from kibble.rollouts import service
from kibble.serving.pointers import routing_for
from kibble.serving.routing import DEFAULT_HOLDOUT
from tests.serving.helpers import three_versions


def _holdouts(context: Context) -> float:
    with context.store.session() as session:
        spec, _, _ = routing_for(session, context.project_id, "shop", "recs")
        return spec.holdout_share


def test_the_router_keeps_the_declared_holdout_and_rollback_restores_it(
    context: Context,
) -> None:
    three_versions(context)
    assert _holdouts(context) == DEFAULT_HOLDOUT
    policy = RolloutPolicy(model="recs", strategy="canary", steps=[20, 100], holdout_share=0.2)
    gates = {"recs": GatePolicy()}
    apply(context, Factory(project=context.project, models=gates, deployments={"shop": policy}))
    assert _holdouts(context) == 0.2
    service.start(context, "shop", "recs", "recs:3")  # during a rollout too
    assert _holdouts(context) == 0.2
    apply(context, Factory(project=context.project, models=gates))
    assert _holdouts(context) == DEFAULT_HOLDOUT
    rollback(context, 1)
    assert _holdouts(context) == 0.2
