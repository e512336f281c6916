"""The daily gate step's choice among passers: the largest lift over a shared reference."""

from __future__ import annotations

from kibble.registry.gates import Check
from kibble.steps.models import _lift


def check(name: str, measured: float) -> Check:
    return Check(name=name, measured=measured, threshold=0.0, passed=True, sentence="")


def test_passers_rank_by_their_lift_over_the_baseline_first() -> None:
    checks = [check("not_worse_than_champion", 0.3), check("beats_baseline", 0.01)]
    assert _lift(checks) == 0.01


def test_without_a_baseline_check_the_champion_lift_ranks_them() -> None:
    # a policy that does not ask to beat the baseline: ranking by name ("als" first)
    # would ignore that the hybrid is measurably better than the champion
    als = [check("probe:no_crash", 1.0), check("not_worse_than_champion", -0.02)]
    hybrid = [check("probe:no_crash", 1.0), check("not_worse_than_champion", 0.01)]
    ranked = sorted([("als", als), ("hybrid", hybrid)], key=lambda c: -_lift(c[1]))
    assert [name for name, _ in ranked] == ["hybrid", "als"]
    assert _lift([check("coverage", 0.9)]) == 0.0
