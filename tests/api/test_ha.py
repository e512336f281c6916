"""High availability of the control plane: two real `kibble api` processes on one real
PostgreSQL database behave as one.

A token made on one replica works on the other and its revocation there is refused here at
once; a promotion shows on both; the same idempotent write sent to both at the same time
lands once; one replica killed with SIGKILL under write load loses no acknowledged write,
and the other keeps answering.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import kibble
from kibble.config import load_settings
from kibble.context import Context
from kibble.errors import AuthenticationError, ConflictError, KibbleError
from kibble.store.repositories.registry import Registry
from tests.api.procs import env_for, kibble_cli
from tests.postgres_server import PostgresServer
from tests.processes import free_port, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Replicas:
    home: Path
    database_url: str
    token: str
    urls: list[str]
    procs: list[subprocess.Popen[bytes]]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def replicas(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """One pair for the module (starting it is most of the time); the kill test runs last."""
    home = tmp_path_factory.mktemp("ha") / "home"
    url = postgres.create_database()
    init = kibble_cli(
        home, "admin", "init", "--project", "k9s", "--user", "alice", "--json",
        KIBBLE_DATABASE_URL=url,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kibble", "--home", str(home), "api", "--port", str(port)],
            env=env_for(home, KIBBLE_DATABASE_URL=url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for proc, base in zip(procs, urls, strict=True):
            wait_for(lambda b=base, p=proc: _healthy(b) or p.poll() is not None, 60, "the API")
            assert proc.poll() is None, "a replica exited on start"
        yield Replicas(home, url, json.loads(init.stdout)["token"], urls, procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def test_tokens_promotions_and_idempotent_writes_are_shared(replicas: Replicas) -> None:
    a_url, b_url = replicas.urls
    with kibble.Client(a_url, replicas.token) as a, kibble.Client(b_url, replicas.token) as b:
        a.set_member("vera", "viewer")
        b.set_member("ci", "editor")
        made = a.create_token("vera", name="notebook")
        with kibble.Client(b_url, made["token"]) as vera_b:
            assert vera_b.whoami()["user"] == "vera"
        b.revoke_token(made["id"])
        with kibble.Client(a_url, made["token"]) as vera_a, pytest.raises(AuthenticationError):
            vera_a.whoami()  # no replica-local cache lets a revoked token through

        # the same idempotent write on both replicas at once: one token, not two (the
        # later one is told to retry while the first runs, then gets the first's result)
        def create(client: kibble.Client) -> dict[str, Any]:
            def attempt() -> dict[str, Any] | None:
                try:
                    return client.create_token("ci", idempotency_key="ci-1")
                except ConflictError:
                    return None

            return wait_for(attempt, 20, "the idempotent write")

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(create, [a, b]))
        assert len({r["id"] for r in results}) == 1
        assert [t["user"] for t in a.tokens()].count("ci") == 1

    # a promotion committed anywhere shows on both replicas on their next request
    context = Context.open(
        load_settings(
            {"home": replicas.home, "database_url": replicas.database_url, "project": "k9s"},
            environ={},
        )
    )
    try:
        with context.store.session() as session:
            registry = Registry(session, context.project_id)
            for digest in ("a" * 64, "b" * 64):
                registry.register_version("recs", f"sha256:{digest}", "als")
        promoted = kibble_cli(
            replicas.home, "models", "promote", "recs", "2", "--reason", "ha test",
            KIBBLE_DATABASE_URL=replicas.database_url, KIBBLE_PROJECT="k9s",
        )  # fmt: skip
        assert promoted.returncode == 0, promoted.stderr
    finally:
        context.close()
    for base in replicas.urls:
        with kibble.Client(base, replicas.token) as client:
            assert client.model("recs")["aliases"] == {"champion": 2}


def test_a_replica_killed_under_load_loses_no_acknowledged_write(replicas: Replicas) -> None:
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    b_answered_after_kill = threading.Event()
    killed = threading.Event()

    def writer(base: str, prefix: str) -> None:
        with kibble.Client(base, replicas.token) as client:
            i = 0
            while not stop.is_set():
                user = f"{prefix}{i}"
                i += 1
                try:
                    client.set_member(user, "viewer")
                except (KibbleError, httpx.HTTPError):
                    continue  # not acknowledged: it may or may not have landed
                with lock:
                    acknowledged.append(user)
                if killed.is_set() and base == replicas.urls[1]:
                    b_answered_after_kill.set()

    threads = [
        threading.Thread(target=writer, args=(base, f"w{n}-"), daemon=True)
        for n, base in enumerate(replicas.urls)
    ]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 20, 60, "writes on both replicas")
    os.kill(replicas.procs[0].pid, signal.SIGKILL)
    replicas.procs[0].wait(timeout=10)
    killed.set()
    wait_for(b_answered_after_kill.is_set, 30, "the surviving replica to keep writing")
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    with kibble.Client(replicas.urls[1], replicas.token) as survivor:
        members = {m["user"] for m in survivor.members()}
    with lock:
        assert set(acknowledged) <= members
        assert any(u.startswith("w0-") for u in acknowledged)
