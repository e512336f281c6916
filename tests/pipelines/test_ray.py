"""The Ray executor against a real local Ray cluster (ray start --head on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kibble.context import Context
from kibble.pipelines import run_pipeline
from kibble.store.repositories.pipelines import RunRecords
from tests.pipelines.flows import on_ray

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    port = free_port()
    temp = tempfile.mkdtemp(prefix="kray")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = str(Path(sys.executable).parent / "ray")
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "1",
            "--include-dashboard",
            "false",
            "--temp-dir",
            temp,
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert head.poll() is None, "ray start exited early"
        time.sleep(0.2)
    else:
        raise AssertionError("the Ray head did not come up in 60 s")
    try:
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.slow
def test_steps_run_as_ray_tasks(context: Context, ray_cluster: str) -> None:
    result = run_pipeline(
        on_ray, {"n": 4}, context=context, executor="ray", ray_address=ray_cluster
    )
    assert result.status == "succeeded", result.error
    where = result.output("ray_where")
    assert where["values"] == [0, 1, 4, 9]
    assert where["pid"] != os.getpid()  # it ran in a Ray worker, not here
    with context.store.session() as session:
        steps = RunRecords(session, context.project_id).steps(result.run_id)
    assert {s.status for s in steps} == {"succeeded"}
