"""Gate logic on small synthetic per-user metric arrays."""

from __future__ import annotations

import numpy as np
import pytest

from kibble.errors import UsageError
from kibble.registry.gates import GatePolicy, GateReport, evaluate_gates, paired_bootstrap


def _metrics(values: np.ndarray) -> dict[str, float]:
    return {f"u{i}": float(v) for i, v in enumerate(values)}


RNG = np.random.default_rng(7)
BASE = RNG.uniform(0.1, 0.5, size=200)


def test_clear_improvement_passes_baseline_gate() -> None:
    report = evaluate_gates(_metrics(BASE + 0.05), _metrics(BASE))
    assert report.passed
    assert report.checks[0].name == "beats_baseline"
    assert report.checks[0].measured > 0


def test_noise_only_fails_baseline_gate() -> None:
    noise = RNG.normal(0, 0.05, size=BASE.size)
    report = evaluate_gates(_metrics(BASE + noise - noise.mean()), _metrics(BASE))
    assert not report.passed
    assert "interval" in report.checks[0].sentence


def test_users_are_aligned_by_id_not_position() -> None:
    cand = _metrics(BASE + 0.05)
    shuffled = dict(reversed(list(_metrics(BASE).items())))
    mean, low, high = paired_bootstrap(cand, shuffled, GatePolicy())
    assert mean == pytest.approx(0.05)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.05)


def test_champion_tolerance() -> None:
    champ = _metrics(BASE + 0.10)
    report = evaluate_gates(_metrics(BASE + 0.05), _metrics(BASE), champion=champ)
    assert not report.passed
    assert [c.passed for c in report.checks] == [True, False]
    loose = GatePolicy(champion_tolerance=0.06)
    assert evaluate_gates(_metrics(BASE + 0.05), _metrics(BASE), loose, champion=champ).passed


def test_slice_fairness_flags_hurt_slice() -> None:
    cand = BASE + 0.05
    cand[:20] -= 0.2
    slices = {f"u{i}": ("new" if i < 20 else "old") for i in range(BASE.size)}
    report = evaluate_gates(_metrics(cand), _metrics(BASE), slices=slices)
    by_name = {c.name: c for c in report.checks}
    assert not by_name["slice:new"].passed
    assert by_name["slice:old"].passed
    assert not report.passed


def test_sanity_rejects_identical_lists_and_collapsed_coverage() -> None:
    same = {f"u{i}": ["a", "b", "c"] for i in range(50)}
    report = evaluate_gates(
        _metrics(BASE + 0.05), _metrics(BASE), recommendations=same, reference_coverage=100
    )
    by_name = {c.name: c for c in report.checks}
    assert not by_name["diversity"].passed
    assert not by_name["coverage"].passed
    varied = {f"u{i}": [f"i{i}", f"i{i + 1}"] for i in range(50)}
    ok = evaluate_gates(
        _metrics(BASE + 0.05), _metrics(BASE), recommendations=varied, reference_coverage=60
    )
    assert ok.passed


def test_report_round_trips_as_json() -> None:
    report = evaluate_gates(_metrics(BASE + 0.05), _metrics(BASE))
    again = GateReport.model_validate_json(report.model_dump_json())
    assert again == report


def test_no_common_users_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        evaluate_gates({"a": 1.0}, {"b": 0.0})
