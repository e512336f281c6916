"""The scheduler's probe answers: ready after a first pass, dead when passes stop."""

from __future__ import annotations

import httpx

from kibble.pipelines.health import LoopHealth
from tests.processes import free_port


def test_ready_after_a_pass_and_dead_when_passes_stop() -> None:
    health = LoopHealth(stale_after_s=3600)
    assert health.verdict("/readyz")[0] == 503
    assert health.verdict("/healthz")[0] == 200  # starting up is not dead
    health.beat()
    assert health.verdict("/readyz") == (200, {"ready": True})
    health.last_pass = health.started - 7200  # no pass finished for two hours
    status, body = health.verdict("/healthz")
    assert status == 503 and body["live"] is False
    assert health.verdict("/other")[0] == 404


def test_probes_are_served_over_http() -> None:
    health, port = LoopHealth(stale_after_s=60), free_port()
    health.serve("127.0.0.1", port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
        health.beat()
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").json() == {"ready": True}
    finally:
        health.stop()
