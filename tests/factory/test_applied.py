"""`kibble apply` applies what it plans: a changed table contract, source or rollout policy
changes what ingest, check and the rollout controller do, and `kibble factory rollback`
brings the old behaviour back. Driven through the CLI in a fresh home, as a user would."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from kibble.cli.main import app
from kibble.config import load_settings
from kibble.context import Context
from kibble.serving.app import create_app
from tests.serving.helpers import register_versions, set_alias

PROJECT = "trendy"


def kibble(
    home: Path, *args: str, env: dict[str, str] | None = None, project: str = PROJECT
) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), "--project", project, *args], env=env)


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    result = kibble(home, *args, "--json", env=env)
    assert result.exit_code == 0, f"{result.output}\n{result.exception}"
    return json.loads(result.stdout)


def refused(result: Result) -> str:
    assert result.exit_code != 0
    return f"{result.exception} {result.output}"


def write_factory(repo: Path, *, kinds: list[str], body: str = "") -> Path:
    """A factory with a ``trends`` table whose ``kind`` column allows ``kinds``."""
    repo.mkdir(exist_ok=True)
    path = repo / "factory.py"
    path.write_text(
        "from kibble.factory import *\n"
        f"factory = Factory(project={PROJECT!r}, tables={{'trends': TableSpec(\n"
        "    columns=[ColumnSpec(name='term', type='string', nullable=False),\n"
        f"             ColumnSpec(name='kind', type='string', allowed={kinds!r}),\n"
        "             ColumnSpec(name='score', type='float64', min=0, max=1)],\n"
        f"    key=['term'])}}, {body})\n"
    )
    return path


def test_a_changed_contract_changes_ingest_and_check_and_rollback_restores_it(
    tmp_path: Path,
) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    data = tmp_path / "trends.csv"
    data.write_text("term,kind,score\ncollars,search,0.5\nleashes,video,0.7\n")
    load = ("ingest", str(data), "--table", "trends", "--mode", "replace")

    assert "has no contract" in refused(kibble(home, *load))  # not declared yet
    assert ok(home, "apply", str(write_factory(repo, kinds=["search"])))["version"] == 1
    first = ok(home, *load)
    assert (first["rows_written"], first["rows_rejected"]) == (1, 1)  # 'video' not allowed
    assert "rejected into quarantine" in refused(kibble(home, "check", "trends"))

    plan = ok(home, "plan", str(write_factory(repo, kinds=["search", "video"])))
    assert plan["kinds"]["tables"] == {
        "declared": 1,
        "added": [],
        "changed": ["trends"],
        "removed": [],
    }
    assert ok(home, "apply", str(repo / "factory.py"))["version"] == 2
    second = ok(home, *load)
    assert (second["rows_written"], second["rows_rejected"]) == (2, 0)
    assert ok(home, "check", "trends")["passed"] is True
    shown = ok(home, "tables", "show", "trends")["contract"]
    assert shown["columns"][1]["allowed"] == ["search", "video"]

    assert ok(home, "factory", "rollback", "1")["version"] == 3
    third = ok(home, *load)
    assert (third["rows_written"], third["rows_rejected"]) == (1, 1)
    assert "rejected into quarantine" in refused(kibble(home, "check", "trends"))

    # another project never sees this project's factory tables
    other = refused(kibble(home, *load, project="elsewhere"))
    assert "has no contract in project 'elsewhere'" in other


def test_declared_sources_load_with_their_mapping_and_secrets(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "2026-12-01.csv").write_text("Term,Kind,Score\ncollars,search,0.5\n")
    shop = tmp_path / "shop.db"
    with sqlite3.connect(shop) as db:
        db.execute("CREATE TABLE trend_feed (term TEXT, kind TEXT, score REAL)")
        db.execute("INSERT INTO trend_feed VALUES ('bowls', 'search', 0.1), ('beds', 'x', 0.2)")
    sources = (
        "sources={"
        "'landing': SourceSpec(kind='files', table='trends',"
        f" location={str(landing)!r} + '/{{partition}}.csv',"
        " mapping={'Term': 'term', 'Kind': 'kind', 'Score': 'score'}),"
        "'feed': SourceSpec(kind='sql', table='trends', location='trend_feed',"
        " connection=SecretRef(secret='TRENDS_DB'))}"
    )
    ok(home, "apply", str(write_factory(repo, kinds=["search"], body=sources)))

    assert "--partition" in refused(kibble(home, "ingest", "--source", "landing"))
    loaded = ok(home, "ingest", "--source", "landing", "--partition", "2026-12-01")
    assert (loaded["table"], loaded["rows_written"]) == ("trends", 1)

    assert "secret TRENDS_DB is not set" in refused(
        kibble(home, "ingest", "--source", "feed", env={"TRENDS_DB": ""})
    )
    fed = ok(home, "ingest", "--source", "feed", env={"TRENDS_DB": f"sqlite:///{shop}"})
    assert (fed["rows_written"], fed["rows_rejected"]) == (1, 1)
    assert "not declared" in refused(kibble(home, "ingest", "--source", "nowhere"))
    assert "either SOURCE" in refused(kibble(home, "ingest", "x.csv", "--source", "feed"))


def deployment(strategy: str, steps: list[int], min_samples: int) -> str:
    return (
        "models={'recs': GatePolicy()}, deployments={'d': RolloutPolicy("
        f"model='recs', strategy={strategy!r}, steps={steps!r}, min_samples={min_samples},"
        " p99_latency_ms=60000)}"
    )


def test_a_changed_rollout_policy_changes_start_and_the_controller(tmp_path: Path) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    context = Context.open(load_settings({"home": home}, environ={}), project=PROJECT)
    try:
        register_versions(context)  # recs:2 is champion, recs:1 the challenger
        set_alias(context, "challenger", "recs:1")
        strict = deployment("canary", [10, 100], 1000)
        ok(home, "apply", str(write_factory(repo, kinds=["a"], body=strict)))
        started = ok(home, "rollout", "start", "--deployment", "d")
        assert (started["challenger"], started["policy"], started["steps"]) == (
            "recs:1",
            "canary",
            [0.1, 1.0],
        )
        with TestClient(create_app(context, "d", "recs", controller_s=0)) as client:
            for i in range(120):
                answer = client.get("/v1/recommendations", params={"user_id": f"u{i}", "k": 2})
                assert answer.status_code == 200
        held = ok(home, "rollout", "step", "--deployment", "d")
        assert held["action"] == "hold" and "need 1000 impressions" in held["reasons"][0]

        # the same traffic, judged under the new policy's guardrails, advances
        loose = deployment("ab", [50, 100], 5)
        ok(home, "apply", str(write_factory(repo, kinds=["a"], body=loose)))
        assert ok(home, "rollout", "step", "--deployment", "d")["action"] == "advance"
        ok(home, "rollout", "abort", "--deployment", "d")
        restarted = ok(home, "rollout", "start", "--deployment", "d")
        assert (restarted["policy"], restarted["steps"]) == ("ab", [0.5, 1.0])
        ok(home, "rollout", "abort", "--deployment", "d")

        ok(home, "factory", "rollback", "1")
        back = ok(home, "rollout", "start", "recs:1", "--deployment", "d")
        assert (back["policy"], back["steps"]) == ("canary", [0.1, 1.0])
        again = ok(home, "rollout", "step", "--deployment", "d")
        assert again["action"] == "hold" and "need 1000" in again["reasons"][0]
        ok(home, "rollout", "abort", "--deployment", "d")

        given = ok(home, "rollout", "start", "recs", "--deployment", "d", "--policy", "gradual",
                   "--steps", "20,100")  # fmt: skip
        assert (given["policy"], given["steps"]) == ("gradual", [0.2, 1.0])
        assert "deploys 'recs'" in refused(
            kibble(home, "rollout", "start", "other:1", "--deployment", "d")
        )
    finally:
        context.close()


@pytest.mark.parametrize(
    ("entrypoint", "params", "expected"),
    [
        ("nowhere_at_all:daily", {}, "cannot import nowhere_at_all:daily: No module named"),
        ("tests.pipelines.flows:ghost", {}, "has no attribute 'ghost'"),
        ("tests.pipelines.flows:numbers", {}, "is a Step, not a Pipeline"),
        ("tests.pipelines.flows:basic", {"m": 3}, "m: no step of tests.pipelines.flows:basic"),
    ],
)
def test_a_pipeline_that_cannot_run_is_refused_and_nothing_changes(
    tmp_path: Path, entrypoint: str, params: dict[str, int], expected: str
) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    good = (
        "pipelines={'daily': PipelineSpec(entrypoint='tests.pipelines.flows:basic',"
        " schedule='0 2 * * *')}"
    )
    ok(home, "apply", str(write_factory(repo, kinds=["a"], body=good)))
    bad = write_factory(
        repo,
        kinds=["b"],
        body=f"pipelines={{'daily': PipelineSpec(entrypoint={entrypoint!r}, params={params!r},"
        " schedule='0 3 * * *')}",
    )
    invalid = kibble(home, "validate", str(bad), "--json")
    assert invalid.exit_code == 1
    assert expected in json.loads(invalid.stdout)["findings"][0]["message"]
    message = " ".join(refused(kibble(home, "apply", str(bad))).split())
    assert "the definition is invalid" in message and expected in message
    assert [v["version"] for v in ok(home, "factory", "history")] == [1]
    assert [s["when"] for s in ok(home, "schedules", "list")] == ["0 2 * * *"]
    assert ok(home, "tables", "show", "trends")["contract"]["columns"][1]["allowed"] == ["a"]
