"""MLflow round trip with the real MLflow: an exported version loads with
`mlflow.pyfunc.load_model` and `mlflow models predict` and recommends what kibble does;
`kibble models import` registers such a folder; bad input changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.models import Model

from kibble.cli.main import main
from kibble.config import load_settings
from kibble.context import Context
from kibble.recsys.base import load_model
from kibble.registry.mlflow_flavor import export_version
from kibble.store.models import ModelVersion
from tests.serving.helpers import USERS, register_versions

pytestmark = pytest.mark.slow


def kibble(capsys: pytest.CaptureFixture[str], *args: str, home: Path) -> tuple[int, str, str]:
    """The CLI in-process through its real entry point: exit code, stdout, stderr."""
    capsys.readouterr()
    code = 0
    try:
        main(["--home", str(home), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = Path(tmp_path_factory.mktemp("mlflow")) / "home"
    context = Context.open(load_settings({"home": home}, environ={}))
    register_versions(context)
    context.close()
    return home


@pytest.fixture(scope="module")
def exported(home: Path) -> Path:
    context = Context.open(load_settings({"home": home}, environ={}))
    out = export_version(context, "recs", 2, home.parent / "recs-2")
    context.close()
    return out


@pytest.fixture
def context(home: Path) -> Iterator[Context]:
    ctx = Context.open(load_settings({"home": home}, environ={}))
    yield ctx
    ctx.close()


def _kibble_lists(context: Context, users: list[str], k: int) -> dict[str, list[str]]:
    with context.store.session() as session:
        row = session.query(ModelVersion).filter_by(version=2).one()
        digest = row.artifact_digest
    recs = load_model(context.load_artifact(digest)).recommend_batch(users, k)
    return {u: [r.item_id for r in recs[u]] for u in users}


def test_pyfunc_predicts_what_kibble_recommends(exported: Path, context: Context) -> None:
    users = [*USERS[:8], "someone-new"]
    loaded = mlflow.pyfunc.load_model(str(exported))
    got = loaded.predict(pd.DataFrame({"user_id": users}), params={"k": 5})
    assert list(got.columns) == ["user_id", "rank", "item_id", "score"]
    lists = {u: list(rows.sort_values("rank")["item_id"]) for u, rows in got.groupby("user_id")}
    assert lists == _kibble_lists(context, users, 5)
    assert loaded.metadata.get_input_schema().input_names() == ["user_id"]
    assert loaded.metadata.get_params_schema().params[0].name == "k"
    assert loaded.metadata.model_uuid and loaded.metadata.mlflow_version
    example = Model.load(str(exported)).load_input_example(str(exported))
    assert list(example["user_id"])  # type: ignore[index]


def test_mlflow_models_predict_with_the_local_env_manager(exported: Path) -> None:
    out = exported.parent / "predictions.json"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "models",
            "predict",
            "-m",
            str(exported),
            "-i",
            str(exported / "serving_input_example.json"),
            "-t",
            "json",
            "-o",
            str(out),
            "--env-manager",
            "local",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": (exported.parent / "mlruns").as_uri()},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    predictions = json.loads(out.read_text())["predictions"]
    assert {row["user_id"] for row in predictions} == {"a-known-user-id", "a-new-visitor"}
    assert len(predictions) == 2 * 10


def test_import_registers_an_export_as_a_new_version(
    exported: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("models", "import", str(exported), "--name", "copied", "--json")
    code, stdout, stderr = kibble(capsys, *args, home=home)
    assert code == 0, stderr
    out = json.loads(stdout)
    assert (out["name"], out["version"], out["flavor"]) == ("copied", 1, "item_knn")
    mlmodel = (exported / "MLmodel").read_text()
    assert out["digest"] in mlmodel  # the same bytes: content-addressed, same digest
    lineage = (home / "openlineage" / "events.jsonl").read_text().splitlines()
    event = json.loads(lineage[-1])
    assert event["job"]["name"] == "registry.import.copied"
    assert event["outputs"][0]["facets"]["version"]["datasetVersion"] == out["digest"]


def test_bad_export_and_import_change_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = kibble(capsys, "models", "list", "--json", home=home)
    code, _, err = kibble(capsys, "models", "export", "recs:9", str(tmp_path / "x"), home=home)
    assert code != 0 and "no version 9" in err
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    code, _, err = kibble(capsys, "models", "import", str(plain), home=home)
    assert code == 2 and "not an MLflow model" in err
    foreign = tmp_path / "sklearn"
    foreign.mkdir()
    (foreign / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    data: model.pkl\n"
    )
    code, _, err = kibble(capsys, "models", "import", str(foreign), home=home)
    assert code == 2 and "never does" in " ".join(err.split())
    assert kibble(capsys, "models", "list", "--json", home=home) == before
