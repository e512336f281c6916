"""The controller's decision function: guardrails, objective, idempotence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kibble.rollouts.controller import ArmMetrics, RolloutState, decide
from kibble.serving.routing import Guardrails

RAILS = Guardrails(max_error_rate=0.01, sla_p99_ms=50, ctr_margin=0.005, min_impressions=1000)
GOOD = ArmMetrics(requests=5000, errors=0, p99_ms=12, impressions=5000, clicks=500)


def test_healthy_steps_advance_then_promote() -> None:
    state = RolloutState()
    actions = []
    while state.status == "active":
        v = decide(state, GOOD, GOOD, RAILS)
        actions.append(v.action)
        state = v.next_state
    assert actions == ["advance", "advance", "advance", "promote"]
    assert state.status == "promoted"


def test_error_rate_and_latency_breaches_roll_back_with_numbers() -> None:
    bad = ArmMetrics(requests=1000, errors=50, p99_ms=80, impressions=1000, clicks=100)
    v = decide(RolloutState(step=1), GOOD, bad, RAILS)
    assert v.action == "rollback" and v.next_state.status == "rolled_back"
    assert any("error rate" in r for r in v.reasons) and any("p99" in r for r in v.reasons)
    assert v.numbers["error_rate"] == 0.05


def test_too_few_samples_holds() -> None:
    few = ArmMetrics(requests=100, errors=0, p99_ms=10, impressions=100, clicks=10)
    v = decide(RolloutState(), GOOD, few, RAILS)
    assert v.action == "hold" and v.next_state == RolloutState()


def test_clearly_worse_ctr_rolls_back_but_within_margin_advances() -> None:
    worse = ArmMetrics(requests=20_000, errors=0, p99_ms=10, impressions=20_000, clicks=1400)
    champ = ArmMetrics(requests=20_000, errors=0, p99_ms=10, impressions=20_000, clicks=2000)
    assert decide(RolloutState(), champ, worse, RAILS).action == "rollback"
    close = ArmMetrics(requests=20_000, errors=0, p99_ms=10, impressions=20_000, clicks=1950)
    assert decide(RolloutState(), champ, close, RAILS).action == "advance"


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(0, 5000),
    st.integers(0, 100),
    st.floats(1, 100),
    st.integers(0, 5000),
)
def test_decide_is_deterministic_and_terminal_states_are_fixed_points(
    step: int, req: int, errs: int, p99: float, clicks: int
) -> None:
    m = ArmMetrics(req, min(errs, req), p99, 5000, clicks)
    state = RolloutState(step=step)
    assert decide(state, GOOD, m, RAILS) == decide(state, GOOD, m, RAILS)
    after = decide(state, GOOD, m, RAILS).next_state
    if after.status != "active":
        again = decide(after, GOOD, m, RAILS)
        assert again.action == "hold" and again.next_state == after
