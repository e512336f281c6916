"""High availability: two real `kibble serve` processes on one real PostgreSQL database.

They pick up a registry promotion, take feedback exactly once each (even the same batch
at once on both), and when one is killed with SIGKILL under load, every acknowledged
event is in the database and the other keeps answering.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kibble.config import load_settings
from kibble.context import Context
from kibble.store.models import FeedbackEvent
from tests.postgres_server import PostgresServer
from tests.serving.helpers import (
    free_port,
    launch_server,
    set_alias,
    three_versions,
    wait_for,
    wait_ready,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Cluster:
    context: Context
    urls: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


@pytest.fixture
def cluster(postgres: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    home = tmp_path / "home"
    url = postgres.create_database()
    context = Context.open(load_settings({"home": home, "database_url": url}, environ={}))
    three_versions(context)  # baseline recs:1, champion recs:2, challenger recs:3
    ports = [free_port(), free_port()]
    env = {"KIBBLE_DATABASE_URL": url, "KIBBLE_SERVING__PUBLIC_FEEDBACK": "true"}
    procs = [launch_server(home, p, env, ["--poll", "0.2"]) for p in ports]
    try:
        for proc, port in zip(procs, ports, strict=True):
            wait_ready(proc, port)
        yield Cluster(context, [f"http://127.0.0.1:{p}" for p in ports], procs)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        context.close()


def events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{prefix}{i}", "user_id": f"u{i}", "item_id": "i1", "event_type": "click"}
        for i in range(n)
    ]


def stored_ids(context: Context) -> list[str]:
    with context.store.session() as session:
        return list(
            session.scalars(
                sa.select(FeedbackEvent.event_id).where(
                    FeedbackEvent.project_id == context.project_id
                )
            )
        )


def post(url: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/feedback", json={"events": batch}, timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_replicas_agree_dedupe_and_survive_sigkill(cluster: Cluster) -> None:
    a, b = cluster.urls
    # (a) a promotion through the registry reaches both replicas
    assert {httpx.get(f"{u}/readyz").json()["champion"] for u in (a, b)} == {"recs:2"}
    set_alias(cluster.context, "champion", "recs:3")

    def both_promoted() -> bool:
        return all(httpx.get(f"{u}/readyz").json()["champion"] == "recs:3" for u in (a, b))

    wait_for(both_promoted, timeout_s=15, what="both replicas to serve recs:3")
    for u in (a, b):
        answers = [
            httpx.get(f"{u}/v1/recommendations", params={"user_id": f"x{i}"}).json()
            for i in range(20)
        ]
        assert {x["arm"] for x in answers if not x["holdout"]} == {"recs:3"}

    # (b) feedback through either replica lands exactly once, even sent to both at once
    first, second, both = events("a", 20), events("b", 20), events("c", 50)
    assert post(a, first)["new"] == 20 and post(b, second)["new"] == 20
    assert post(b, first)["new"] == 0 and post(a, second)["new"] == 0
    with ThreadPoolExecutor(2) as pool:
        raced = list(pool.map(lambda u: post(u, both), (a, b)))
    assert sum(r["new"] for r in raced) == 50
    ids = stored_ids(cluster.context)
    assert len(ids) == len(set(ids)) == 90

    # (c) kill -9 one replica under steady load: no acknowledged event lost, b keeps serving
    acked: list[str] = []
    results: dict[str, list[tuple[bool, bool]]] = {a: [], b: []}  # (ok, after the kill)
    killed = threading.Event()
    stop = threading.Event()

    def load() -> None:
        n = 0
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                for url in (a, b):
                    batch = events(f"load{n}-", 3)
                    n += 1
                    after = killed.is_set()
                    try:
                        r = client.post(f"{url}/v1/feedback", json={"events": batch})
                        ok = r.status_code == 200
                        if ok:
                            acked.extend(e["event_id"] for e in batch)
                        rec = client.get(f"{url}/v1/recommendations", params={"user_id": "u1"})
                        ok = ok and rec.status_code == 200
                    except httpx.TransportError:
                        ok = False
                    results[url].append((ok, after))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        wait_for(lambda: len(results[a]) >= 20, what="load on both replicas")
        os.kill(cluster.procs[0].pid, signal.SIGKILL)
        killed.set()
        wait_for(
            lambda: sum(1 for _, after in results[b] if after) >= 30,
            what="requests to the surviving replica after the kill",
        )
    finally:
        stop.set()
        worker.join(timeout=30)
    assert cluster.procs[0].wait(timeout=10) == -signal.SIGKILL
    assert all(ok for ok, _ in results[b])  # the survivor never failed a request
    assert not all(ok for ok, after in results[a] if after)  # the killed one really went
    stored = set(stored_ids(cluster.context))
    assert acked and set(acked) <= stored
