"""Acknowledged feedback survives kill -9 of a real `kibble serve` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.serving.feedback import export_feedback
from tests.serving.helpers import register_versions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kibble",
            "--home",
            str(home),
            "serve",
            "--model",
            "recs",
            "--port",
            str(port),
        ],
        env=env,
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "server died")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("server not ready within 60 s")


@pytest.fixture
def served_home(settings: Settings) -> Iterator[Path]:
    ctx = Context.open(settings)
    register_versions(ctx)
    ctx.close()
    yield settings.home


@pytest.mark.slow
def test_acked_feedback_survives_sigkill(served_home: Path, settings: Settings) -> None:
    port = free_port()
    proc = start_server(served_home, port)
    events = [
        {"event_id": f"k{i}", "user_id": "u1", "item_id": "i1", "event_type": "click"}
        for i in range(50)
    ]
    try:
        r = httpx.post(f"http://127.0.0.1:{port}/v1/feedback", json={"events": events}, timeout=10)
        assert r.status_code == 200
        os.kill(proc.pid, signal.SIGKILL)  # right after the ack
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    ctx = Context.open(settings)
    try:
        assert sorted(export_feedback(ctx).column("event_id").to_pylist()) == sorted(
            e["event_id"] for e in events
        )
    finally:
        ctx.close()
    proc = start_server(served_home, port)
    try:
        again = httpx.post(f"http://127.0.0.1:{port}/v1/feedback", json={"events": events})
        assert again.json() == {"accepted": 50, "new": 0}  # found after restart: idempotent
    finally:
        proc.terminate()
        proc.wait(timeout=10)
