"""Train tiny real models and register them as versions, for serving tests."""

from __future__ import annotations

import numpy as np

from kibble.context import Context
from kibble.recsys.base import create_model, save_model
from kibble.recsys.interactions import Interactions
from kibble.store.models import ModelVersion, RegisteredModel

USERS = [f"u{i}" for i in range(40)]
ITEMS = [f"i{j}" for j in range(30)]


def register_versions(
    context: Context, name: str = "recs", flavors: tuple[str, ...] = ("popularity", "item_knn")
) -> list[str]:
    """One version per flavor, trained on the same small random history."""
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(USERS), 400)
    cols = rng.integers(0, len(ITEMS), 400)
    inter = Interactions.from_arrays(USERS, ITEMS, rows, cols, np.ones(400, dtype=np.float32))
    labels = []
    with context.store.session() as session:
        model = RegisteredModel(project_id=context.project_id, name=name)
        session.add(model)
        session.flush()
        model_id = model.id
    for version, flavor in enumerate(flavors, start=1):
        blob = save_model(create_model(flavor).fit(inter))
        ref = context.save_artifact(
            blob, "application/x-kibble-model+npz", name=f"{name}-{version}"
        )
        with context.store.session() as session:
            session.add(
                ModelVersion(
                    project_id=context.project_id,
                    model_id=model_id,
                    version=version,
                    artifact_digest=ref.digest,
                    flavor=flavor,
                )
            )
        labels.append(f"{name}:{version}")
    return labels
