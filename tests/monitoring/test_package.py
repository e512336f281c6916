from __future__ import annotations

import subprocess
import sys

import kibble.monitoring as monitoring


def test_public_names_resolve() -> None:
    assert monitoring.__all__ == sorted(monitoring._EXPORTS)
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None


def test_repository_imports_first_without_a_cycle() -> None:
    code = "import kibble.store.repositories.monitoring; import kibble.monitoring.alerts"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_sparkline_shape() -> None:
    from kibble.monitoring.sparkline import sparkline

    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▅▅▅"
    assert sparkline([1.0, float("nan"), 3.0]) == "▁ █"
    assert sparkline([]) == ""
    assert len(sparkline(list(range(100)), width=10)) == 10
