"""Model versions as MLflow pyfunc folders, and back: no pickle either way.

``export_version`` writes what ``mlflow.pyfunc.load_model`` and ``mlflow models predict``
load: an MLmodel with signature, input example, environment files (MLflow's layout) and
the version's ``.npz`` blob. ``_load_pyfunc`` is the loader MLflow calls; its
``predict`` takes a DataFrame with a ``user_id`` column (params ``k``) and returns one
row per recommendation. ``import_version`` registers such a folder as a new version;
folders of other flavors are refused, because loading them would mean unpickling.
"""

from __future__ import annotations

import json
import platform
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from kibble import __version__
from kibble.context import Context
from kibble.core.names import validate_name
from kibble.errors import UsageError
from kibble.recsys.base import Recommender, load_model
from kibble.store.repositories.registry import Registry

BLOB = "model.npz"
LOADER = "kibble.registry.mlflow_flavor"
MEDIA_TYPE = "application/x-kibble-model+npz"
MLFLOW_VERSION = "3.17.2"  # the MLflow the format is tested against (pyproject, dev extra)
DEFAULT_K = 10
EXAMPLE_USERS = ["a-known-user-id", "a-new-visitor"]  # unknown ids get the model's fallback
INPUTS = [{"type": "string", "name": "user_id", "required": True}]
OUTPUTS = [
    {"type": "string", "name": "user_id", "required": True},
    {"type": "long", "name": "rank", "required": True},
    {"type": "string", "name": "item_id", "required": True},
    {"type": "double", "name": "score", "required": True},
]
PARAMS = [{"name": "k", "type": "long", "default": DEFAULT_K, "shape": None}]


class KibblePyfunc:
    """What ``mlflow.pyfunc.load_model`` wraps: the recommender behind ``predict``."""

    def __init__(self, model: Recommender) -> None:
        self.model = model

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        """One row per (user, rank): user_id, rank, item_id, score (a pandas DataFrame)."""
        users = [str(u) for u in (model_input["user_id"] if _has_column(model_input) else [])]
        if not users:
            raise UsageError(
                "predict needs a 'user_id' column", hint='e.g. pd.DataFrame({"user_id": ["u1"]})'
            )
        k = int((params or {}).get("k", DEFAULT_K))
        recs = self.model.recommend_batch(users, k)
        rows = [(u, rank, r.item_id, r.score) for u in users for rank, r in enumerate(recs[u], 1)]
        columns = ["user_id", "rank", "item_id", "score"]
        return pa.table(
            {name: [row[i] for row in rows] for i, name in enumerate(columns)}
        ).to_pandas()


def _has_column(model_input: Any) -> bool:
    try:
        return "user_id" in model_input
    except TypeError:
        return False


def _load_pyfunc(path: str) -> KibblePyfunc:
    """Entry point MLflow calls with the model's data path (``data: model.npz``)."""
    p = Path(path)
    return KibblePyfunc(load_model((p / BLOB if p.is_dir() else p).read_bytes()))


def mlmodel(name: str, version: int, flavor: str, digest: str, size: int) -> dict[str, Any]:
    """The MLmodel document in the shape MLflow writes it."""
    python = platform.python_version()
    return {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "loader_module": LOADER,
                "data": BLOB,
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "python_version": python,
            },
            "kibble": {
                "model_name": name,
                "version": version,
                "flavor": flavor,
                "artifact_digest": digest,
                "kibble_version": __version__,
            },
        },
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": size,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "signature": {
            "inputs": json.dumps(INPUTS),
            "outputs": json.dumps(OUTPUTS),
            "params": json.dumps(PARAMS),
        },
        "saved_input_example_info": {
            "artifact_path": "input_example.json",
            "type": "dataframe",
            "pandas_orient": "split",
            "serving_input_path": "serving_input_example.json",
        },
    }


def _environment(directory: Path, blob: bytes, users: list[str]) -> None:
    python = platform.python_version()
    requirement = f"kibble=={__version__}"
    (directory / BLOB).write_bytes(blob)
    (directory / "requirements.txt").write_text(f"{requirement}\n")
    (directory / "python_env.yaml").write_text(
        yaml.safe_dump(
            {
                "python": python,
                "build_dependencies": ["pip"],
                "dependencies": ["-r requirements.txt"],
            },
            sort_keys=False,
        )
    )
    (directory / "conda.yaml").write_text(
        yaml.safe_dump(
            {
                "channels": ["conda-forge"],
                "dependencies": [f"python={python}", "pip", {"pip": [requirement]}],
                "name": "mlflow-env",
            },
            sort_keys=False,
        )
    )
    example = {"columns": ["user_id"], "data": [[u] for u in users]}
    (directory / "input_example.json").write_text(json.dumps(example))
    serving = {"dataframe_split": example, "params": {"k": DEFAULT_K}}
    (directory / "serving_input_example.json").write_text(json.dumps(serving))


def export_version(context: Context, name: str, version: int, directory: Path) -> Path:
    """Write ``name:version`` as an MLflow pyfunc folder; nothing is written on error."""
    if directory.exists():
        raise UsageError(f"{directory} already exists", hint="choose a new folder")
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        row = reg.version(reg.model(name), version)
        digest, flavor = row.artifact_digest, row.flavor
    blob = context.load_artifact(digest)
    staging = directory.with_name(f".{directory.name}.partial-{uuid.uuid4().hex[:8]}")
    staging.mkdir(parents=True)
    try:
        _environment(staging, blob, EXAMPLE_USERS)
        size = sum(f.stat().st_size for f in staging.iterdir())
        document = mlmodel(name, version, flavor, digest, size)
        (staging / "MLmodel").write_text(yaml.safe_dump(document, sort_keys=False))
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


@dataclass(frozen=True)
class Imported:
    name: str
    version: int
    flavor: str
    digest: str


def _read_mlmodel(directory: Path) -> dict[str, Any]:
    path = directory / "MLmodel"
    if not path.is_file():
        raise UsageError(
            f"{directory} is not an MLflow model (no MLmodel file)",
            hint="point at the folder that holds MLmodel, e.g. one `kibble models export` wrote",
        )
    try:
        document = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}", hint="re-export the model") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise UsageError(f"{path} has no flavors", hint="re-export the model")
    return document


def import_version(context: Context, directory: Path, name: str | None = None) -> Imported:
    """Register the kibble pyfunc model in ``directory`` as the next version of ``name``
    (default: the name it was exported under). Everything is checked before anything
    is stored."""
    flavors = _read_mlmodel(directory)["flavors"]
    pyfunc = flavors.get("python_function")
    if not isinstance(pyfunc, dict) or pyfunc.get("loader_module") != LOADER:
        loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
        raise UsageError(
            f"{directory} is an MLflow model of loader {loader!r}, not kibble's",
            hint="kibble imports pyfunc models `kibble models export` wrote; others would "
            "need unpickling, which kibble never does",
        )
    data = directory / str(pyfunc.get("data", BLOB))
    if not data.is_file() or not data.resolve().is_relative_to(directory.resolve()):
        raise UsageError(f"{data} is missing", hint="copy the whole exported folder")
    blob = data.read_bytes()
    model = load_model(blob)  # a clear UsageError when these are not a kibble model's bytes
    meta = flavors.get("kibble") if isinstance(flavors.get("kibble"), dict) else {}
    target = validate_name(name or str(meta.get("model_name", "")), "model name")
    ref = context.save_artifact(blob, MEDIA_TYPE, name=f"{target}-import")
    with context.store.session() as session:
        row = Registry(session, context.project_id).register_version(
            target,
            ref.digest,
            model.name,
            params=dict(model.params),
            lineage={"imported_from": str(directory.resolve()), "mlflow": meta},
        )
        number = row.version
    context.audit("models.import", f"{target}:{number}")
    from kibble.lineage.openlineage import emit_finished

    emit_finished(
        context.settings,
        context.project,
        job=f"registry.import.{target}",
        run_key=f"{target}:{number}",
        inputs=[{"url": str(data)}],
        outputs=[{"digest": ref.digest}],
    )
    return Imported(target, number, model.name, ref.digest)
