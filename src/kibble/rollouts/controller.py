"""The rollout controller's decision: a pure function of stored state and metrics.

Level-triggered: the same state and metrics always give the same decision, so
running the controller twice (or after a restart) changes nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kibble.rollouts.analysis import msprt_p_value, two_proportion_test
from kibble.serving.routing import DEFAULT_GRADUAL_STEPS, Guardrails

Action = Literal["advance", "hold", "rollback", "promote"]


@dataclass(frozen=True)
class ArmMetrics:
    """What the controller sees of one arm since the current step began."""

    requests: int
    errors: int
    p99_ms: float
    impressions: int
    clicks: int
    p95_ms: float = 0.0


def summarize(
    observations: Iterable[tuple[str, float | None, bool, bool]], clicks: Mapping[str, int]
) -> dict[str, ArmMetrics]:
    """Per-arm metrics from request-log rows ``(arm, latency_ms, failed, shadow)``.

    Errors and latency count every answer an arm computed (shadow copies included, so a
    shadowed challenger is judged too); impressions count only the lists users saw.
    """
    seen: dict[str, tuple[list[float], list[int]]] = {}
    for arm, latency, failed, shadow in observations:
        lat, counts = seen.setdefault(arm, ([], [0, 0, 0]))
        counts[0] += 1
        counts[1] += int(failed)
        counts[2] += int(not shadow and not failed)
        if latency is not None:
            lat.append(latency)
    out = {}
    for arm, (lat, (n, errors, shown)) in seen.items():
        p95, p99 = (float(v) for v in np.percentile(lat, [95, 99])) if lat else (0.0, 0.0)
        out[arm] = ArmMetrics(n, errors, p99, shown, min(clicks.get(arm, 0), shown), p95)
    return out


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
    numbers.update(
        error_rate=err,
        p95_ms=challenger.p95_ms,
        p99_ms=challenger.p99_ms,
        requests=float(challenger.requests),
    )
    judged = challenger.requests >= rails.min_requests
    if judged and err > rails.max_error_rate:
        reasons.append(f"error rate {err:.4f} > {rails.max_error_rate}")
    if judged and challenger.p99_ms > rails.sla_p99_ms:
        reasons.append(f"p99 {challenger.p99_ms:.1f} ms > SLA {rails.sla_p99_ms} ms")
    if reasons:
        return Verdict(
            "rollback",
            RolloutState(state.step, state.steps, "rolled_back"),
            tuple(reasons),
            numbers,
        )
    if numbers["challenger_share"] >= 1.0:
        # All live traffic is on the challenger: no control arm to compare with here
        # (the holdout keeps measuring lift); enough healthy answers complete it.
        if challenger.impressions < rails.min_impressions:
            return Verdict(
                "hold",
                state,
                (f"need {rails.min_impressions} impressions (have {challenger.impressions})",),
                numbers,
            )
        return _forward(state, numbers)
    ctr_c = champion.clicks / champion.impressions if champion.impressions else 0.0
    ctr_x = challenger.clicks / challenger.impressions if challenger.impressions else 0.0
    numbers.update(
        ctr_champion=ctr_c,
        ctr_challenger=ctr_x,
        impressions_champion=float(champion.impressions),
        impressions_challenger=float(challenger.impressions),
    )
    if champion.impressions and challenger.impressions:
        lift = two_proportion_test(
            min(champion.clicks, champion.impressions),
            champion.impressions,
            min(challenger.clicks, challenger.impressions),
            challenger.impressions,
        )
        numbers.update(lift=lift.lift, lift_ci_low=lift.ci_low, lift_ci_high=lift.ci_high)
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
    return _forward(state, numbers)


def _forward(state: RolloutState, numbers: dict[str, float]) -> Verdict:
    """A healthy step: advance to the next share, or promote after the last one."""
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
