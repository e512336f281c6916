from __future__ import annotations

import pytest

from kibble.errors import UsageError
from kibble.pipelines import Hold, Pipeline, hold, step
from tests.pipelines.flows import basic


def test_dag_is_inferred_from_argument_names() -> None:
    assert basic.deps == {"numbers": [], "doubled": ["numbers"], "total": ["doubled", "numbers"]}
    assert basic.order == ["numbers", "doubled", "total"]


def test_params_are_typed_defaulted_and_validated() -> None:
    assert basic.validate_params({}) == {"n": 4}
    assert basic.validate_params({"n": "7"}) == {"n": 7}
    with pytest.raises(UsageError, match="parameter n"):
        basic.validate_params({"n": "many"})
    with pytest.raises(UsageError, match="valid parameters: n"):
        basic.validate_params({"unknown": 1})


def test_required_param_is_reported() -> None:
    @step
    def needs(day: str) -> str:
        return day

    with pytest.raises(UsageError, match="parameter day"):
        Pipeline("needs", [needs]).validate_params({})


def test_duplicate_step_names_and_non_steps_are_refused() -> None:
    @step
    def one() -> int:
        return 1

    with pytest.raises(UsageError, match="two steps"):
        Pipeline("dup", [one, one])
    with pytest.raises(UsageError, match="not a step"):
        Pipeline("bad", [print])  # type: ignore[list-item]


def test_hold_needs_reasons() -> None:
    assert hold("late", "small").reasons == ["late", "small"]
    with pytest.raises(UsageError):
        Hold([])
