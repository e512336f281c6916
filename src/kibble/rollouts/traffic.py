"""Expected traffic share per arm of a routing spec: the router's split, as numbers.

``route`` decides one user at a time; this says what all users together see, so the
deployment record and the dashboard show the split the routers actually apply,
the always-on holdout included. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from kibble.serving.routing import ArmStats, RoutingSpec, thompson_shares


def expected_shares(
    spec: RoutingSpec, bandit_stats: Mapping[str, ArmStats] | None = None
) -> dict[str, float]:
    """Arm -> share of live answers (sums to 1). A shadow arm answers nobody: share 0."""
    shares: dict[str, float] = {}

    def give(arm: str, share: float) -> None:
        shares[arm] = shares.get(arm, 0.0) + share

    holdout = spec.holdout_share if spec.baseline is not None else 0.0
    if holdout > 0 and spec.baseline is not None:
        give(spec.baseline, holdout)
    live = 1.0 - holdout
    challenger = None if spec.challenger in spec.dropped else spec.challenger
    if spec.policy in ("canary", "gradual") and challenger is not None:
        give(challenger, live * spec.challenger_share)
        give(spec.champion, live * (1.0 - spec.challenger_share))
    elif spec.policy == "ab":
        weights = spec.weights or {spec.champion: 1.0, **({challenger: 1.0} if challenger else {})}
        kept = {a: w for a, w in weights.items() if a not in spec.dropped}
        total = sum(kept.values())
        for arm, weight in sorted(kept.items()):
            give(arm, live * weight / total)
    elif spec.policy == "bandit":
        stats = {a: s for a, s in (bandit_stats or {}).items() if a not in spec.dropped}
        stats = stats or {spec.champion: ArmStats()}
        for arm, share in thompson_shares(stats, spec.floor if len(stats) > 1 else 0.0).items():
            give(arm, live * share)
    else:  # canary without a challenger, or shadow: the champion answers every live user
        give(spec.champion, live)
        if spec.policy == "shadow" and challenger is not None:
            give(challenger, 0.0)
    return shares
