from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench.harness import Bench, peer_python, peer_versions


def test_report_ends_with_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    bench = Bench("demo")
    bench.figure("ours_s", 2.0)
    bench.figure("baseline_s", 1.0)
    ratio = bench.ratio("ours_vs_baseline", 2.0, 1.0)
    bench.target("ratio_under_3x", "ours within 3x of baseline", ratio < 3)
    bench.report()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    data = json.loads(last)
    env = data.pop("env")
    assert data == {
        "bench": "demo",
        "figures": {"ours_s": 2.0, "baseline_s": 1.0},
        "ratios": {"ours_vs_baseline": 2.0},
        "targets": {"ratio_under_3x": "ours within 3x of baseline"},
        "met": {"ratio_under_3x": True},
        "units": {"ours_s": "s", "baseline_s": "s"},
    }
    assert set(env["loadavg_1m"]) == {"start", "end"}
    assert env["versions"]["kibble"] != "not installed"


def test_report_records_the_result_file_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIBBLE_BENCH_RESULTS", str(tmp_path))
    bench = Bench("recorded")
    bench.figure("x_s", 1.5)
    bench.uses_peers(sys.executable, "pytest")
    bench.report()
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((tmp_path / "recorded.json").read_text()) == printed
    assert printed["env"]["peers"] == {"pytest": pytest.__version__}


def test_a_missing_peer_fails_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="no-such-peer-package"):
        peer_versions(sys.executable, ["no-such-peer-package"])
    monkeypatch.setattr("bench.harness.PEERS_PYTHON", "/nonexistent/bin/python")
    with pytest.raises(SystemExit, match="make bench"):
        peer_python("prefect")


def test_publish_renders_each_recorded_bench(tmp_path: Path) -> None:
    from bench.publish import render

    bench = Bench("pipeline_overhead")
    bench.figure("chain200_per_step_ms", 3.2, "ms")
    bench.ratio("metaflow_over_kibble_per_step", 320.0, 3.2)
    bench.ratio("sustained_vs_broken_peer", 300.0, 0.0)
    bench.target("per_step", "in-process step overhead < 5 ms on SQLite", False)
    (tmp_path / "pipeline_overhead.json").write_text(json.dumps(bench.payload()))
    page = render(tmp_path)
    assert "| figure | chain200_per_step_ms | 3.2 ms | |" in page
    assert "| ratio | metaflow_over_kibble_per_step | 100.000x | |" in page
    assert "| ratio | sustained_vs_broken_peer | n/a | peer at 0 |" in page
    assert "| target | per_step | **missed** |" in page
    assert "`bench/drift.py`" in page  # not recorded in tmp_path, so listed as missing
