"""The rollout controller's decision: a pure function of stored state and metrics.

Level-triggered: the same state and metrics always give the same decision, so
running the controller twice (or after a restart) changes nothing extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from kibble.rollouts.analysis import msprt_p_value
from kibble.serving.routing import DEFAULT_GRADUAL_STEPS

Action = Literal["advance", "hold", "rollback", "promote"]


@dataclass(frozen=True)
class ArmMetrics:
    """What the controller sees of one arm since the current step began."""

    requests: int
    errors: int
    p99_ms: float
    impressions: int
    clicks: int


@dataclass(frozen=True)
class Guardrails:
    """Limits and the objective: error rate, p99 vs SLA, CTR margin, samples, alpha."""

    max_error_rate: float = 0.01
    sla_p99_ms: float = 50.0
    ctr_margin: float = 0.005
    min_impressions: int = 1000
    alpha: float = 0.05


@dataclass(frozen=True)
class RolloutState:
    """Stored state: step index into ``steps`` and whether the rollout is still active."""

    step: int = 0
    steps: Sequence[float] = DEFAULT_GRADUAL_STEPS
    status: Literal["active", "promoted", "rolled_back"] = "active"


@dataclass(frozen=True)
class Verdict:
    """A decision, the state it leads to, the reasons and the numbers behind it."""

    action: Action
    next_state: RolloutState
    reasons: tuple[str, ...]
    numbers: dict[str, float] = field(default_factory=dict)


def decide(
    state: RolloutState, champion: ArmMetrics, challenger: ArmMetrics, rails: Guardrails
) -> Verdict:
    """Advance, hold, roll back or promote a challenger from one observation."""
    numbers: dict[str, float] = {
        "challenger_share": float(state.steps[min(state.step, len(state.steps) - 1)]),
    }
    if state.status != "active":
        return Verdict("hold", state, (f"rollout already {state.status}",), numbers)
    reasons: list[str] = []
    err = challenger.errors / challenger.requests if challenger.requests else 0.0
    numbers.update(error_rate=err, p99_ms=challenger.p99_ms)
    if err > rails.max_error_rate:
        reasons.append(f"error rate {err:.4f} > {rails.max_error_rate}")
    if challenger.requests and challenger.p99_ms > rails.sla_p99_ms:
        reasons.append(f"p99 {challenger.p99_ms:.1f} ms > SLA {rails.sla_p99_ms} ms")
    if reasons:
        return Verdict(
            "rollback",
            RolloutState(state.step, state.steps, "rolled_back"),
            tuple(reasons),
            numbers,
        )
    ctr_c = champion.clicks / champion.impressions if champion.impressions else 0.0
    ctr_x = challenger.clicks / challenger.impressions if challenger.impressions else 0.0
    numbers.update(ctr_champion=ctr_c, ctr_challenger=ctr_x)
    if min(champion.impressions, challenger.impressions) < rails.min_impressions:
        return Verdict(
            "hold",
            state,
            (
                f"need {rails.min_impressions} impressions per arm "
                f"(have {champion.impressions}/{challenger.impressions})",
            ),
            numbers,
        )
    # Non-inferiority: shift the challenger by the margin, then ask if it is worse.
    shifted = min(
        challenger.impressions, round(challenger.clicks + rails.ctr_margin * challenger.impressions)
    )
    p_worse = msprt_p_value(champion.clicks, champion.impressions, shifted, challenger.impressions)
    numbers["p_value"] = p_worse
    if ctr_x + rails.ctr_margin < ctr_c and p_worse < rails.alpha:
        return Verdict(
            "rollback",
            RolloutState(state.step, state.steps, "rolled_back"),
            (f"CTR {ctr_x:.4f} worse than champion {ctr_c:.4f} beyond margin",),
            numbers,
        )
    if state.step + 1 >= len(state.steps):
        return Verdict(
            "promote",
            RolloutState(state.step, state.steps, "promoted"),
            ("final step healthy",),
            numbers,
        )
    return Verdict(
        "advance",
        RolloutState(state.step + 1, state.steps, "active"),
        (f"step {state.step} healthy",),
        numbers,
    )
