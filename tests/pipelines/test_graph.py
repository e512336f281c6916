from __future__ import annotations

import pytest

from kibble.errors import UsageError
from kibble.pipelines.graph import downstream, topological_levels


def test_levels_put_dependencies_first_and_group_independent_steps() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": []}
    assert topological_levels(deps) == [["a", "e"], ["b", "c"], ["d"]]


def test_cycle_is_named() -> None:
    with pytest.raises(UsageError, match="cycle"):
        topological_levels({"a": ["b"], "b": ["a"], "c": []})


def test_unknown_dependency_is_refused() -> None:
    with pytest.raises(UsageError, match="unknown step 'zzz'"):
        topological_levels({"a": ["zzz"]})


def test_downstream_closure() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": []}
    assert downstream(deps, ["b"]) == {"b", "c"}
