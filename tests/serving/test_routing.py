"""Routing: stickiness, shares, holdout, dropped arms, Thompson shares, propensities, and
the expected split that the deployment record shows."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kibble.errors import UsageError
from kibble.serving.routing import (
    ArmStats,
    RoutingSpec,
    bucket,
    expected_shares,
    route,
    thompson_shares,
)

USERS = [f"u{i}" for i in range(20_000)]


def shares(spec: RoutingSpec, stats: dict[str, ArmStats] | None = None) -> dict[str, float]:
    counts = Counter(route(spec, u, stats).arm for u in USERS)
    return {arm: n / len(USERS) for arm, n in counts.items()}


@given(st.text(min_size=1, max_size=30), st.text(max_size=10))
def test_bucket_is_stable_and_in_range(user: str, salt: str) -> None:
    b = bucket(user, salt)
    assert 0 <= b < 10_000
    assert bucket(user, salt) == b


def test_canary_shares_and_holdout() -> None:
    got = shares(RoutingSpec("canary", "v1", "v2", "v0", challenger_share=0.10))
    assert got["v0"] == pytest.approx(0.05, abs=0.01)
    assert got["v2"] == pytest.approx(0.95 * 0.10, abs=0.01)
    assert got["v1"] == pytest.approx(0.95 * 0.90, abs=0.015)


def test_assignment_is_sticky_across_share_growth() -> None:
    """Users on the challenger at 5% stay on it at 25% (monotone gradual rollout)."""
    small = RoutingSpec("gradual", "v1", "v2", challenger_share=0.05, holdout_share=0.0)
    big = RoutingSpec("gradual", "v1", "v2", challenger_share=0.25, holdout_share=0.0)
    early = {u for u in USERS if route(small, u).arm == "v2"}
    late = {u for u in USERS if route(big, u).arm == "v2"}
    assert early and early <= late


def test_holdout_users_are_always_baseline_whatever_the_policy() -> None:
    specs = [
        RoutingSpec(p, "v1", "v2", "v0", weights={"v1": 1, "v2": 1})
        for p in ("canary", "ab", "shadow", "bandit")
    ]
    held = {u for u in USERS if route(specs[0], u).holdout}
    for spec in specs[1:]:
        assert {u for u in USERS if route(spec, u).holdout} == held
    assert all(route(specs[0], u).arm == "v0" for u in held)


def test_probabilities_match_observed_shares() -> None:
    spec = RoutingSpec("ab", "a", baseline="base", weights={"a": 3, "b": 1})
    got = shares(spec)
    for u in USERS[:200]:
        d = route(spec, u)
        assert got[d.arm] == pytest.approx(d.probability, abs=0.015)


def test_shadow_serves_champion_and_mirrors_challenger() -> None:
    d = route(RoutingSpec("shadow", "v1", "v2", holdout_share=0.0), "u1")
    assert (d.arm, d.shadow, d.probability) == ("v1", "v2", 1.0)


def test_dropped_arm_gets_no_traffic() -> None:
    spec = RoutingSpec("canary", "v1", "v2", challenger_share=0.5, dropped=frozenset({"v2"}))
    assert "v2" not in shares(spec)
    ab = RoutingSpec("ab", "a", weights={"a": 1, "b": 1}, dropped=frozenset({"b"}))
    assert set(shares(ab)) == {"a"}


def test_thompson_prefers_the_better_arm_and_keeps_floors() -> None:
    s = thompson_shares(
        {"a": ArmStats(50, 1000), "b": ArmStats(90, 1000), "c": ArmStats(40, 1000)}, 0.05
    )
    assert sum(s.values()) == pytest.approx(1.0)
    assert s["b"] > 0.8
    assert min(s.values()) >= 0.05 - 1e-12


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=5),
    st.floats(0, 0.2),
)
def test_thompson_shares_are_a_distribution(pairs: list[tuple[int, int]], floor: float) -> None:
    stats = {f"arm{i}": ArmStats(min(s, t), t) for i, (s, t) in enumerate(pairs)}
    s = thompson_shares(stats, floor)
    assert sum(s.values()) == pytest.approx(1.0)
    assert all(v >= floor - 1e-12 for v in s.values())


def test_bandit_routing_and_guardrail_drop() -> None:
    stats = {"a": ArmStats(10, 1000), "b": ArmStats(100, 1000)}
    spec = RoutingSpec("bandit", "a", holdout_share=0.0, floor=0.1)
    assert shares(spec, stats)["b"] == pytest.approx(0.9, abs=0.02)
    dropped = RoutingSpec("bandit", "a", holdout_share=0.0, dropped=frozenset({"b"}))
    assert set(shares(dropped, stats)) == {"a"}


def test_invalid_specs_raise_usage_errors_with_hints() -> None:
    with pytest.raises(UsageError, match="unknown routing policy"):
        RoutingSpec("random", "v1")
    with pytest.raises(UsageError, match="challenger_share"):
        RoutingSpec("canary", "v1", "v2", challenger_share=1.5)
    with pytest.raises(UsageError, match="exceeds 100%"):
        thompson_shares({"a": ArmStats(), "b": ArmStats()}, 0.6)


BANDIT = {"m:1": ArmStats(50, 1000), "m:2": ArmStats(120, 1000)}


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
    observed = shares(spec, BANDIT)
    for arm in set(expected) | set(observed):
        assert observed.get(arm, 0.0) == pytest.approx(expected.get(arm, 0.0), abs=0.015), arm


def test_shadow_arm_is_listed_with_no_share() -> None:
    shares = expected_shares(RoutingSpec("shadow", "m:2", "m:3", "m:1"))
    assert shares == {"m:1": pytest.approx(0.05), "m:2": pytest.approx(0.95), "m:3": 0.0}


def test_baseline_that_is_also_champion_adds_up() -> None:
    assert expected_shares(RoutingSpec("canary", "m:1", baseline="m:1")) == {
        "m:1": pytest.approx(1.0)
    }
