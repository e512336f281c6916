"""`kibble models` as a user runs it: a real subprocess against a real home folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.store.models import ModelVersion, RegisteredModel


def kibble(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    return subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=home.parent,
        timeout=120,
    )


@pytest.mark.slow
def test_promote_show_rollback_export(home: Path, settings: Settings, tmp_path: Path) -> None:
    ctx = Context.open(settings)
    digest = ctx.save_artifact(b"npz-bytes", "application/octet-stream").digest
    with ctx.store.session() as s:
        m = RegisteredModel(project_id=ctx.project_id, name="recs")
        s.add(m)
        s.flush()
        for v in (1, 2):
            s.add(
                ModelVersion(
                    project_id=ctx.project_id,
                    model_id=m.id,
                    version=v,
                    artifact_digest=digest,
                    flavor="popularity",
                )
            )
    ctx.close()
    for num in ("1", "2"):
        result = kibble("models", "promote", "recs", num, "--reason", "test", home=home)
        assert result.returncode == 0, result.stderr
    assert kibble("models", "rollback", "recs", home=home).returncode == 0
    shown = kibble("models", "show", "recs", "--json", home=home)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["aliases"]["champion"] == 1
    assert [h["to"] for h in data["history"]] == [1, 2, 1]
    assert data["policy"]["source"] == "default" and data["policy"]["champion_tolerance"] == 0.01
    listed = json.loads(kibble("models", "list", "--json", home=home).stdout)
    assert listed == [{"name": "recs", "latest": 2, "champion": 1}]
    bad = kibble("models", "promote", "recs", "1", "--alias", "king", "--reason", "x", home=home)
    assert bad.returncode != 0
    out = tmp_path / "export"
    done = kibble("models", "export", "recs:2", str(out), "--format", "mlflow", home=home)
    assert done.returncode == 0, done.stderr
    mlmodel = (out / "MLmodel").read_text()
    assert "loader_module: kibble.registry.mlflow_flavor" in mlmodel
    assert "python_function:" in mlmodel
    assert (out / "model.npz").read_bytes() == b"npz-bytes"
    assert (out / "requirements.txt").read_text().startswith("kibble==")
