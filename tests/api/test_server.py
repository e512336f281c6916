"""The real thing: `kibble admin init` and `kibble api` as subprocesses, uvicorn on a free
port, ``kibble.Client`` and raw sockets against it, and the CLI in remote mode."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

import kibble
from kibble.artifacts.formats import arrays_to_bytes
from kibble.errors import NotFoundError, PermissionDeniedError, UsageError
from tests.api.procs import env_for, kibble_cli
from tests.processes import free_port

pytestmark = pytest.mark.slow


def raw_get(port: int, target: bytes) -> bytes:
    """Send a request line exactly as given (no client-side normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    home = Path(tmp_path_factory.mktemp("server")) / "home"
    init = kibble_cli(home, "admin", "init", "--project", "k9s", "--user", "alice", "--json")
    assert init.returncode == 0, init.stderr
    token = json.loads(init.stdout)["token"]
    again = kibble_cli(home, "admin", "init", "--project", "k9s", "--user", "mallory")
    assert again.returncode == 1 and "already has 1 admin" in again.stderr
    assert "kb_" not in again.stdout + again.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kibble", "--home", str(home), "api", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env_for(home),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "the API did not come up within 60 s"
        time.sleep(0.1)
    yield url, token, home
    process.terminate()
    process.wait(timeout=30)


def test_client_round_trip(server: tuple[str, str, Path]) -> None:
    url, token, _ = server
    with kibble.Client(url, token) as client:
        assert client.whoami()["role"] == "admin"
        assert client.project == "k9s"
        weights = arrays_to_bytes({"w": np.arange(3.0)})
        uploaded = client.upload_artifact(weights, "application/x-npz", name="w")
        assert client.download_artifact(uploaded["digest"]) == weights
        assert [a["digest"] for a in client.artifacts()] == [uploaded["digest"]]
        assert client.runs() == [] and client.alerts() == [] and client.models() == []
        client.set_member("vera", "viewer")
        created = client.create_token("vera", name="notebook", idempotency_key="nb-1")
        assert client.create_token("vera", name="notebook", idempotency_key="nb-1")["token"] is None
        with pytest.raises(NotFoundError):
            client.run("does-not-exist")
        with pytest.raises(UsageError):
            client.run("..")
    with kibble.Client(url, created["token"]) as viewer:
        assert viewer.datasets() == []
        with pytest.raises(PermissionDeniedError, match="admin"):
            viewer.tokens()


@pytest.mark.parametrize(
    "target",
    [
        b"/api/v1/projects/k9s/artifacts/../../../../etc/passwd",
        b"/api/v1/projects/k9s/../../../etc/passwd",
        b"/../../../../etc/passwd",
        b"/api/v1/projects/k9s/artifacts/..%2f..%2f..%2fetc%2fpasswd/content",
        b"/api/v1/projects/k9s/artifacts/%252e%252e%252fetc%252fpasswd/content",
        b"/api/v1/projects/k9s/artifacts/..\\..\\..\\etc\\passwd/content",
        b"/api/v1/projects/k9s/artifacts/x%00y/content",
        b"/api/v1/projects/k9s/datasets/a;b#c",
        b"/api/v1/projects/" + b"a" * 8000,
    ],
)
def test_raw_traversal_requests_over_a_real_socket(
    server: tuple[str, str, Path], target: bytes
) -> None:
    url, _, _ = server
    port = int(url.rsplit(":", 1)[1])
    reply = raw_get(port, target)
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:200]
    assert b"root:" not in reply
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def test_cli_talks_to_the_api_or_the_store_with_the_same_results(
    server: tuple[str, str, Path],
) -> None:
    url, token, home = server
    remote = kibble_cli(home, "tokens", "list", "--json", KIBBLE_API_URL=url, KIBBLE_TOKEN=token)
    local = kibble_cli(home, "-p", "k9s", "tokens", "list", "--json")
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    assert {t["id"] for t in json.loads(remote.stdout)} == {
        t["id"] for t in json.loads(local.stdout)
    }
    assert "token_hash" not in remote.stdout + local.stdout
    audit = kibble_cli(home, "audit", "list", "--json", KIBBLE_API_URL=url, KIBBLE_TOKEN=token)
    actions = [e["action"] for e in json.loads(audit.stdout)]
    assert "admin.init" in actions and "tokens.write" in actions
    bad = kibble_cli(home, "tokens", "list", KIBBLE_API_URL=url, KIBBLE_TOKEN="kb_" + "x" * 43)
    assert bad.returncode == 1 and "not recognised" in bad.stderr


def test_concurrent_retries_with_one_key_create_one_token(server: tuple[str, str, Path]) -> None:
    url, token, _ = server
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "burst-1"}
    body = {"user": "alice", "name": "burst"}

    def attempt(_: int) -> int:
        response = httpx.post(f"{url}/api/v1/projects/k9s/tokens", json=body, headers=headers)
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(8)))
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    with kibble.Client(url, token) as client:
        assert [t["name"] for t in client.tokens()].count("burst") == 1
