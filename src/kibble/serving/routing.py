"""Pure routing: which arm serves a user, and with what probability (no I/O).

Assignment is sticky: a user's bucket comes from a keyed hash, so every replica
agrees without shared state. The probability returned with each decision is the
propensity that off-policy estimators (IPS/SNIPS) need later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from kibble.errors import UsageError

Policy = Literal["canary", "gradual", "ab", "shadow", "bandit"]
POLICIES: tuple[str, ...] = ("canary", "gradual", "ab", "shadow", "bandit")
BUCKETS = 10_000
DEFAULT_GRADUAL_STEPS: tuple[float, ...] = (0.05, 0.25, 0.50, 1.0)
DEFAULT_HOLDOUT = 0.05
"""Traffic the baseline keeps in every rollout, to measure lift (a factory may declare it)."""
HOLDOUT_ARM = "baseline"


def bucket(user_id: str, salt: str, buckets: int = BUCKETS) -> int:
    """Stable bucket in ``[0, buckets)`` for a user under a salt (deployment name)."""
    digest = hashlib.blake2b(f"{salt}:{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % buckets


def unit(user_id: str, salt: str) -> float:
    """Stable position of a user in ``[0, 1)``."""
    return bucket(user_id, salt) / BUCKETS


@dataclass(frozen=True)
class Guardrails:
    """A rollout's limits and objective: error rate, p99 vs SLA, CTR margin, samples, alpha.

    Here, not in ``rollouts``, because serving is configured with them and must not
    import the rollout controller that judges by them."""

    max_error_rate: float = 0.01
    sla_p99_ms: float = 50.0
    ctr_margin: float = 0.005
    min_impressions: int = 1000
    alpha: float = 0.05
    min_requests: int = 20  # guardrails judge an arm only after this many answers


@dataclass(frozen=True)
class Decision:
    """The arm that answers, its assignment probability, and an optional shadow arm."""

    arm: str
    probability: float
    shadow: str | None = None
    holdout: bool = False


@dataclass(frozen=True)
class ArmStats:
    """Reward counts of one arm, the bandit's posterior input."""

    successes: int = 0
    trials: int = 0


@dataclass(frozen=True)
class RoutingSpec:
    """A deployment's routing: policy, arm shares and the always-on holdout.

    ``weights`` are the shares for ``ab`` (arm -> weight); ``challenger_share`` drives
    ``canary``/``gradual``; ``dropped`` arms (guardrail breaches) never get traffic.
    """

    policy: str
    champion: str
    challenger: str | None = None
    baseline: str | None = None
    challenger_share: float = 0.05
    weights: Mapping[str, float] = field(default_factory=dict)
    holdout_share: float = DEFAULT_HOLDOUT
    floor: float = 0.05
    dropped: frozenset[str] = frozenset()
    salt: str = "default"

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise UsageError(
                f"unknown routing policy {self.policy!r}",
                hint=f"use one of: {', '.join(POLICIES)}",
            )
        for name, share in (
            ("challenger_share", self.challenger_share),
            ("holdout_share", self.holdout_share),
            ("floor", self.floor),
        ):
            if not 0.0 <= share <= 1.0:
                raise UsageError(f"{name} must be in [0, 1], got {share}", hint="use a fraction")
        if any(w < 0 for w in self.weights.values()):
            raise UsageError("A/B weights must be non-negative", hint="e.g. {'a': 1, 'b': 1}")


def _split(shares: Sequence[tuple[str, float]], u: float) -> tuple[str, float]:
    """Pick the arm whose cumulative share interval contains ``u``."""
    total = sum(s for _, s in shares)
    if total <= 0:
        raise UsageError("routing has no arm with traffic", hint="give at least one arm a share")
    acc = 0.0
    for arm, share in shares:
        acc += share / total
        if u < acc:
            return arm, share / total
    arm, share = [(a, s) for a, s in shares if s > 0][-1]
    return arm, share / total


def thompson_shares(
    stats: Mapping[str, ArmStats],
    floor: float,
    draws: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Share of traffic per arm: P(arm is best) under Beta(1+s, 1+f), with a floor.

    Computing shares (not a single draw per request) keeps routing deterministic per
    user and gives each decision an exact propensity.
    """
    arms = sorted(stats)
    if not arms:
        raise UsageError("bandit needs at least one arm", hint="add arms to the deployment")
    if floor * len(arms) > 1.0:
        raise UsageError(
            f"floor {floor} x {len(arms)} arms exceeds 100%", hint="lower the floor share"
        )
    key = tuple((a, stats[a].successes, stats[a].trials) for a in arms)
    return dict(_thompson(key, floor, draws, seed))


@lru_cache(maxsize=256)
def _thompson(
    key: tuple[tuple[str, int, int], ...], floor: float, draws: int, seed: int
) -> tuple[tuple[str, float], ...]:
    """Cached so the hot path pays for the simulation once per stats refresh."""
    rng = np.random.default_rng(seed)
    samples = np.stack([rng.beta(1 + s, 1 + max(t - s, 0), draws) for _, s, t in key])
    wins = np.bincount(samples.argmax(axis=0), minlength=len(key)) / draws
    shares = floor + (1.0 - floor * len(key)) * wins
    return tuple((a, float(v)) for (a, _, _), v in zip(key, shares, strict=True))


def route(
    spec: RoutingSpec,
    user_id: str,
    bandit_stats: Mapping[str, ArmStats] | None = None,
) -> Decision:
    """Decide the arm for one user. Pure and deterministic for a given spec and stats."""
    u_hold = unit(user_id, f"{spec.salt}:holdout")
    if spec.baseline is not None and spec.holdout_share > 0 and u_hold < spec.holdout_share:
        return Decision(arm=spec.baseline, probability=spec.holdout_share, holdout=True)
    live = 1.0 - (spec.holdout_share if spec.baseline is not None else 0.0)
    u = unit(user_id, spec.salt)
    challenger = None if spec.challenger in spec.dropped else spec.challenger
    if spec.policy in ("canary", "gradual"):
        if challenger is None:
            return Decision(spec.champion, live)
        share = spec.challenger_share
        arm, p = _split([(challenger, share), (spec.champion, 1.0 - share)], u)
        return Decision(arm, p * live)
    if spec.policy == "shadow":
        return Decision(spec.champion, live, shadow=challenger)
    if spec.policy == "ab":
        weights = spec.weights or {spec.champion: 1.0, **({challenger: 1.0} if challenger else {})}
        shares = [(a, w) for a, w in sorted(weights.items()) if a not in spec.dropped]
        arm, p = _split(shares, u)
        return Decision(arm, p * live)
    stats = {a: s for a, s in (bandit_stats or {}).items() if a not in spec.dropped}
    if not stats:
        stats = {spec.champion: ArmStats()}
    bshares = thompson_shares(stats, spec.floor if len(stats) > 1 else 0.0)
    arm, p = _split(sorted(bshares.items()), u)
    return Decision(arm, p * live)


def expected_shares(
    spec: RoutingSpec, bandit_stats: Mapping[str, ArmStats] | None = None
) -> dict[str, float]:
    """Arm -> share of live answers (sums to 1): what ``route`` does to all users
    together, holdout included, for the deployment record and the dashboard. A shadow
    arm answers nobody: share 0."""
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
