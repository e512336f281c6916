"""Acknowledged feedback survives kill -9 of a real `kibble serve` process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kibble.config import Settings
from kibble.context import Context
from kibble.serving.feedback import export_feedback
from tests.processes import alive
from tests.serving.helpers import free_port, register_versions, start_server, wait_for

PUBLIC = {"KIBBLE_SERVING__PUBLIC_FEEDBACK": "true"}  # a storefront's browsers post feedback


@pytest.fixture
def served_home(settings: Settings) -> Iterator[Path]:
    ctx = Context.open(settings)
    register_versions(ctx)
    ctx.close()
    yield settings.home


@pytest.mark.slow
def test_acked_feedback_survives_sigkill(served_home: Path, settings: Settings) -> None:
    port = free_port()
    proc = start_server(served_home, port, PUBLIC)
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
    proc = start_server(served_home, port, PUBLIC)
    try:
        again = httpx.post(f"http://127.0.0.1:{port}/v1/feedback", json={"events": events})
        # found after restart: idempotent
        assert again.json() == {"accepted": 50, "new": 0, "attributed": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_helper_processes_end_with_a_killed_server(served_home: Path) -> None:
    """The request-log writer and the controller's worker never outlive ``kill -9``."""
    proc = start_server(served_home, free_port())
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) >= 2  # the log writer and the controller's worker at least
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    wait_for(
        lambda: not any(alive(int(pid)) for pid in children),
        what="the server's helper processes to exit",
    )
