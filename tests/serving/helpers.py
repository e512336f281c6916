"""Train tiny real models and register them as versions, for serving tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import numpy as np

from kibble.auth.service import issue_token
from kibble.context import Context
from kibble.recsys.base import create_model, save_model
from kibble.recsys.interactions import Interactions
from kibble.store.models import ModelVersion, RegisteredModel
from kibble.store.repositories.auth import Members
from kibble.store.repositories.registry import Registry
from tests.processes import free_port as free_port  # re-exported for the serving tests
from tests.processes import wait_for as wait_for

USERS = [f"u{i}" for i in range(40)]
ITEMS = [f"i{j}" for j in range(30)]


def serving_headers(context: Context, role: str = "editor") -> dict[str, str]:
    """A storefront's credential: a token narrowed to ``serving.write`` (POST feedback)."""
    with context.store.session() as session:
        Members(session, context.project_id).set(f"shop-{role}", role, added_by="test")
        issued = issue_token(
            session, context.project_id, f"shop-{role}", created_by="test", scopes=["serving.write"]
        )
    return {"Authorization": f"Bearer {issued.value}"}


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


def set_alias(context: Context, alias: str, label: str) -> None:
    """Point a registry alias at ``name:version`` (the path `kibble models promote` takes)."""
    name, _, version = label.rpartition(":")
    with context.store.session() as session:
        Registry(session, context.project_id).move_alias(
            name, alias, int(version), actor="test", reason="test setup"
        )


def three_versions(context: Context) -> list[str]:
    """baseline recs:1, champion recs:2 and a fresh recs:3 to roll out, as aliases."""
    labels = register_versions(context, flavors=("popularity", "item_knn", "item_knn"))
    set_alias(context, "baseline", labels[0])
    set_alias(context, "champion", labels[1])
    set_alias(context, "challenger", labels[2])
    return labels


def launch_server(
    home: Path, port: int, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """Start a real `kibble serve` process (not waiting); ``env`` adds KIBBLE_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    command = [sys.executable, "-m", "kibble", "--home", str(home), "serve", "--model", "recs"]
    return subprocess.Popen(
        [*command, "--port", str(port), *args],
        env={**clean, **(env or {})},
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_ready(proc: subprocess.Popen[bytes], port: int, timeout_s: float = 60) -> None:
    """Poll /readyz until 200; fail with the server's stderr if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server died")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server not ready within {timeout_s} s")


def start_server(
    home: Path, port: int, env: Mapping[str, str] | None = None, args: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    proc = launch_server(home, port, env, args)
    wait_ready(proc, port)
    return proc
