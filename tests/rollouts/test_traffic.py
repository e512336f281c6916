"""expected_shares agrees with what ``route`` does to a large population of users."""

from __future__ import annotations

from collections import Counter

import pytest

from kibble.rollouts.traffic import expected_shares
from kibble.serving.routing import ArmStats, RoutingSpec, route

USERS = [f"user-{i}" for i in range(20_000)]
BANDIT = {"m:1": ArmStats(50, 1000), "m:2": ArmStats(120, 1000)}


def _observed(spec: RoutingSpec) -> dict[str, float]:
    counts = Counter(route(spec, u, BANDIT).arm for u in USERS)
    return {arm: n / len(USERS) for arm, n in counts.items()}


@pytest.mark.parametrize(
    "spec",
    [
        RoutingSpec("canary", "m:2", baseline="m:1", salt="d"),
        RoutingSpec("gradual", "m:2", "m:3", "m:1", challenger_share=0.25, salt="d"),
        RoutingSpec("gradual", "m:2", "m:3", "m:1", dropped=frozenset({"m:3"}), salt="d"),
        RoutingSpec("ab", "m:2", "m:3", "m:1", weights={"m:2": 3, "m:3": 1}, salt="d"),
        RoutingSpec("ab", "m:2", "m:3", None, salt="d"),
        RoutingSpec("bandit", "m:1", "m:2", "m:1", salt="d"),
        RoutingSpec("shadow", "m:2", "m:3", "m:1", salt="d"),
    ],
    ids=["canary", "gradual", "dropped", "ab-weights", "ab-no-holdout", "bandit", "shadow"],
)
def test_expected_shares_match_routed_users(spec: RoutingSpec) -> None:
    expected = expected_shares(spec, BANDIT)
    assert sum(expected.values()) == pytest.approx(1.0)
    observed = _observed(spec)
    for arm in set(expected) | set(observed):
        assert observed.get(arm, 0.0) == pytest.approx(expected.get(arm, 0.0), abs=0.015), arm


def test_shadow_arm_is_listed_with_no_share() -> None:
    shares = expected_shares(RoutingSpec("shadow", "m:2", "m:3", "m:1"))
    assert shares == {"m:1": pytest.approx(0.05), "m:2": pytest.approx(0.95), "m:3": 0.0}


def test_baseline_that_is_also_champion_adds_up() -> None:
    assert expected_shares(RoutingSpec("canary", "m:1", baseline="m:1")) == {
        "m:1": pytest.approx(1.0)
    }
