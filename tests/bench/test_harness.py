from __future__ import annotations

import json

import pytest

from bench.harness import Bench


def test_report_ends_with_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = Bench("demo")
    bench.figure("ours_s", 2.0)
    bench.figure("baseline_s", 1.0)
    ratio = bench.ratio("ours_vs_baseline", 2.0, 1.0)
    bench.target("ratio_under_3x", "ours within 3x of baseline", ratio < 3)
    bench.report()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    data = json.loads(last)
    assert data == {
        "bench": "demo",
        "figures": {"ours_s": 2.0, "baseline_s": 1.0},
        "ratios": {"ours_vs_baseline": 2.0},
        "targets": {"ratio_under_3x": "ours within 3x of baseline"},
        "met": {"ratio_under_3x": True},
    }
