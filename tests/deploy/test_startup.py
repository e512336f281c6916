"""Every workload of each rendered overlay starts as written and answers its probes.

Each container runs as a local process with its exact args, the image's entrypoint and
environment (deploy/Containerfile), the ConfigMap and a test Secret holding the keys of
secrets.example.env, against real PostgreSQL and a real S3 server; emptyDir mounts become
temporary folders and container ports free ports. The kubelet's probes are replayed
(same path, Host header naming the pod by IP) until they answer 200.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kibble.config import load_settings
from kibble.context import Context
from tests.deploy.test_manifests import KUBERNETES, ROOT, by_kind, render
from tests.postgres_server import PostgresServer
from tests.processes import free_port, wait_for
from tests.s3_server import S3Server
from tests.serving.helpers import register_versions

START_BOUND_S = 120.0  # first start imports numpy, polars, fastapi... on a busy machine
POD_IP = "10.1.2.3"


def image() -> tuple[list[str], dict[str, str]]:
    """The final stage's ENTRYPOINT and ENV of deploy/Containerfile."""
    text = (ROOT / "deploy" / "Containerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1].replace("\\\n", " ")
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", final, re.M).group(1))  # type: ignore[union-attr]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", final, re.M):
        env.update(token.split("=", 1) for token in shlex.split(line))  # type: ignore[misc]
    return entrypoint, env


def operator_secret(s3: S3Server, database_url: str) -> dict[str, str]:
    """A value for every key the operator is told to provide, and no other."""
    example = (KUBERNETES / "secrets.example.env").read_text().splitlines()
    keys = {line.split("=", 1)[0] for line in example if "=" in line and line[0] != "#"}
    values = {
        "KIBBLE_DATABASE_URL": database_url,
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "KIBBLE_STORAGE__ENDPOINT_URL": s3.endpoint_url,
        "KIBBLE_STORAGE__ALLOW_HTTP": "true",
    }
    assert keys == set(values), "secrets.example.env and this test disagree on the keys"
    return values


class Workload:
    """One container of a pod, as a local process."""

    def __init__(self, container: dict[str, Any], env: dict[str, str], tmp: Path) -> None:
        entrypoint, image_env = image()
        mounts = {m["mountPath"]: tmp / m["name"] for m in container.get("volumeMounts", [])}
        for folder in mounts.values():
            folder.mkdir(parents=True, exist_ok=True)
        ports = container.get("ports", [])
        self.ports = {p["name"]: free_port() for p in ports}
        numbers = {str(p["containerPort"]): self.ports[p["name"]] for p in ports}
        self.args = [str(numbers.get(a, a)) for a in container["args"]]
        home = str(mounts.get("/var/lib/kibble", tmp / "home"))
        proc_env = {k: home if v == "/var/lib/kibble" else v for k, v in image_env.items()}
        proc_env |= {
            "PATH": os.environ["PATH"],
            "HOME": home,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            **env,
        }
        self.env = proc_env
        self.command = [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:]]
        self.container = container
        self.proc: subprocess.Popen[bytes] | None = None
        self.cwd = home

    def start(self) -> Workload:
        self.proc = subprocess.Popen(
            [*self.command, *self.args],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return self

    def run_to_completion(self) -> None:
        done = subprocess.run(
            [*self.command, *self.args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            timeout=START_BOUND_S,
        )
        assert done.returncode == 0, done.stderr.decode()

    def probe(self, kind: str) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"{self.args} exited {self.proc.returncode}: {stderr}")
        get = self.container[kind]["httpGet"]
        port = self.ports[get["port"]]
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}{get['path']}",
                headers={"Host": f"{POD_IP}:{port}"},
                timeout=2,
            )
        except httpx.TransportError:
            return False
        return response.status_code == 200

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture(params=["dev", "production"])
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def environment(overlay: str, postgres: PostgresServer, s3: S3Server) -> dict[str, str]:
    docs = render(overlay)
    config = next(iter(by_kind(docs, "ConfigMap").values()))["data"]
    for url in (config["KIBBLE_ARTIFACT_URL"], config["KIBBLE_LAKE_URL"]):
        _bucket(s3, url.removeprefix("s3://").split("/", 1)[0])
    return {**config, **operator_secret(s3, postgres.create_database())}


def _bucket(s3: S3Server, name: str) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    if name not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=name)


@pytest.fixture
def workloads() -> Iterator[list[Workload]]:
    started: list[Workload] = []
    yield started
    for workload in started:
        workload.stop()


@pytest.mark.slow
@pytest.mark.postgres
def test_every_workload_starts_and_answers_its_probes(
    overlay: str,
    environment: dict[str, str],
    workloads: list[Workload],
    tmp_path: Path,
    s3_env: S3Server,
) -> None:
    deployments = by_kind(render(overlay), "Deployment")
    assert by_kind(render(overlay), "Job") == {}, "plain kubectl apply ignores hooks: no Jobs"
    inits = {
        json.dumps(c, sort_keys=True): c
        for d in deployments.values()
        for c in d["spec"]["template"]["spec"].get("initContainers", [])
    }
    assert len(inits) == 1, "every Deployment runs the same migration first"
    for n, container in enumerate(inits.values()):
        Workload(container, environment, tmp_path / f"init{n}").run_to_completion()

    settings = load_settings({"home": tmp_path / "seed"}, environ=environment)
    context = Context.open(settings)
    register_versions(context, name=environment["KIBBLE_SERVING__MODEL"])
    context.close()

    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["initContainers"][0]["args"] == ["db", "upgrade"], name
        for container in pod["containers"]:
            workloads.append(Workload(container, environment, tmp_path / name).start())
    for workload in workloads:
        for kind in ("livenessProbe", "readinessProbe"):
            assert kind in workload.container, f"{workload.args} has no {kind}"
            answers = functools.partial(workload.probe, kind)
            wait_for(answers, START_BOUND_S, f"{workload.args} {kind}")


def test_serve_without_a_model_says_how_to_name_one(tmp_path: Path) -> None:
    entrypoint, _ = image()
    command = [str(Path(sys.executable).parent / entrypoint[0]), *entrypoint[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    done = subprocess.run(
        [*command, "--home", str(tmp_path), "serve"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "KIBBLE_SERVING__MODEL" in done.stderr
