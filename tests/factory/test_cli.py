"""The git -> CI -> apply path as a team runs it: real git repo, real CLI subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "team-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "ana@k9s.example")
    git(repo, "config", "user.name", "Ana")
    return repo


def run(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "kibble"), "--home", str(home), *args],
        capture_output=True,
        text=True,
        cwd=repo,
        timeout=120,
    )


def test_init_validate_plan_apply_history_rollback(repo: Path, home: Path) -> None:
    assert run(repo, home, "init").returncode == 0
    assert (repo / "factory.py").exists() and (repo / "ci" / "factory-workflow.yml").exists()
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "K9s factory")

    valid = run(repo, home, "validate", "--json")
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["ok"] is True

    plan = json.loads(run(repo, home, "plan", "--json").stdout)
    assert plan["current_version"] is None and len(plan["changes"]) > 10

    applied = json.loads(run(repo, home, "apply", "--json").stdout)
    assert applied["version"] == 1 and applied["created"] is True
    assert applied["git"]["author"] == "Ana <ana@k9s.example>"
    assert applied["git"]["message"] == "K9s factory"
    assert applied["git"]["dirty"] is False
    again = json.loads(run(repo, home, "apply", "--json").stdout)
    assert again == {**applied, "created": False}

    text = (repo / "factory.py").read_text().replace('"30 2 * * *"', '"0 3 * * *"')
    (repo / "factory.py").write_text(text)
    plan = run(repo, home, "plan")
    assert '~ pipelines.daily.schedule: "30 2 * * *" -> "0 3 * * *"' in plan.stdout
    assert "pipelines    -> schedules and triggers  1 declared; ~daily" in plan.stdout
    assert "deployments  -> rollout policies        1 declared; no change" in plan.stdout
    assert json.loads(run(repo, home, "apply", "--json").stdout)["git"]["dirty"] is True

    history = json.loads(run(repo, home, "factory", "history", "--json").stdout)
    assert [v["version"] for v in history] == [2, 1]
    back = json.loads(run(repo, home, "factory", "rollback", "1", "--json").stdout)
    assert back["version"] == 3
    shown = json.loads(run(repo, home, "factory", "show", "--json").stdout)
    assert shown["spec"]["pipelines"]["daily"]["schedule"] == "30 2 * * *"
    # the schedules the scheduler fires are the restored definition's
    listed = json.loads(run(repo, home, "--project", "k9s", "schedules", "list", "--json").stdout)
    when = {s["name"]: s["when"] for s in listed}
    assert when == {"daily": "30 2 * * *", "daily-on-events": "new version of events"}


def test_validate_fails_a_ci_job_on_errors(repo: Path, home: Path) -> None:
    run(repo, home, "init")
    broken = (repo / "factory.py").read_text().replace('triggers=["events"]', 'triggers=["clicks"]')
    (repo / "factory.py").write_text(broken)
    result = run(repo, home, "validate")
    assert result.returncode == 1
    assert "triggers on 'clicks', which is not declared" in result.stdout


def test_dry_run_touches_no_production_state(repo: Path, home: Path) -> None:
    (repo / "mypipes.py").write_text(
        "from pathlib import Path\n"
        "from kibble import Pipeline, step\n"
        "@step\n"
        "def rows(k: int = 1) -> int:\n"
        "    return k\n"
        "class Pipe(Pipeline):\n"
        "    def dry_run(self, settings, project, params):\n"
        "        Path(settings.home, 'touched').write_text(project)\n"
        "        assert params == {'k': 5}\n"
        "pipe = Pipe('good', [rows])\n"
        "class Broken(Pipeline):\n"
        "    def dry_run(self, settings, project, params):\n"
        "        raise RuntimeError('sample has no rows')\n"
        "broken = Broken('bad', [rows])\n"
    )
    (repo / "factory.py").write_text(
        "from kibble.factory import Factory, PipelineSpec\n"
        "factory = Factory(project='k9s', pipelines={\n"
        "  'good': PipelineSpec(entrypoint='mypipes:pipe', schedule='0 2 * * *',\n"
        "                       params={'k': 5}),\n"
        "  'bad': PipelineSpec(entrypoint='mypipes:broken', schedule='0 2 * * *'),\n"
        "  'gone': PipelineSpec(entrypoint='nowhere:pipe', schedule='0 2 * * *')})\n"
    )
    result = run(repo, home, "validate", "--dry-run", "--json")
    findings = json.loads(result.stdout)["findings"]
    assert result.returncode == 1
    by_path = {f["path"]: f["message"] for f in findings}
    assert "sample has no rows" in by_path["pipelines.bad"]
    assert "cannot import nowhere:pipe" in by_path["pipelines.gone.entrypoint"]
    assert not [p for p in by_path if p.startswith("pipelines.good")]
    assert not home.exists() or not (home / "touched").exists()
