"""MLflow python_function loader for exported kibble models: loads the npz blob, no pickle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kibble.recsys.base import Recommender, load_model

BLOB = "model.npz"


def _load_pyfunc(path: str) -> Recommender:
    """Entry point MLflow calls with the model's data path (``data: model.npz``)."""
    p = Path(path)
    return load_model((p / BLOB if p.is_dir() else p).read_bytes())


def mlmodel_text(model_name: str, version: int, flavor: str, digest: str) -> str:
    """The MLmodel YAML (written by hand: keys are flat strings, mlflow need not be installed)."""
    lines: list[Any] = [
        "artifact_path: model",
        "flavors:",
        "  python_function:",
        "    loader_module: kibble.registry.mlflow_flavor",
        f"    data: {BLOB}",
        "    env:",
        "      pip: requirements.txt",
        "  kibble:",
        f"    model_name: {model_name}",
        f"    version: {version}",
        f"    flavor: {flavor}",
        f"    artifact_digest: '{digest}'",
    ]
    return "\n".join(lines) + "\n"
