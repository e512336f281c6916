"""Served-request log across kill -9: how many answered requests reach the store.

Each trial starts a real ``kibble serve`` on a tiny model, sends requests from a client
thread and kills the server with SIGKILL after a random 0.5-2 s; then waits until the
log writer has committed what the pipe held and exited, and counts the answered request
ids that are logged. The documented bound is the rows still in the server's memory: the
answers since the sender thread last piped the queue, ``flush_s`` (0.1 s) on a machine
with CPU to spare, longer when the machine is starved. There is no peer to compare
with; the figures are the rows lost and the worst window they amount to, in seconds of
traffic (lost / request rate), against the 0.1 s a quiet machine would show.
Run: ``.venv/bin/python bench/requestlog_loss.py [--trials N]``.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from bench.harness import Bench

FLUSH_S = 0.1  # RequestLog's default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(home: Path) -> None:
    from kibble.config import load_settings
    from kibble.context import Context
    from kibble.recsys.base import create_model, save_model
    from kibble.recsys.interactions import Interactions
    from kibble.store.models import ModelVersion, RegisteredModel

    rng = np.random.default_rng(0)
    users, items = [f"u{i}" for i in range(200)], [f"i{j}" for j in range(100)]
    rows, cols = rng.integers(0, 200, 2000), rng.integers(0, 100, 2000)
    inter = Interactions.from_arrays(users, items, rows, cols, np.ones(2000, dtype=np.float32))
    context = Context.open(load_settings({"home": home}, environ={}))
    ref = context.save_artifact(
        save_model(create_model("popularity").fit(inter)), "application/x-npz", name="recs-1"
    )
    with context.store.session() as session:
        model = RegisteredModel(project_id=context.project_id, name="recs")
        session.add(model)
        session.flush()
        session.add(
            ModelVersion(
                project_id=context.project_id,
                model_id=model.id,
                version=1,
                artifact_digest=ref.digest,
                flavor="popularity",
            )
        )
    context.close()


def logged(home: Path, ids: list[str]) -> int:
    import sqlalchemy as sa

    from kibble.config import load_settings
    from kibble.context import Context
    from kibble.store.models import ServedRequest

    context = Context.open(load_settings({"home": home}, environ={}))
    with context.store.session() as session:
        stored = set(session.scalars(sa.select(ServedRequest.request_id)))
    context.close()
    return sum(i in stored for i in ids)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def trial(home: Path, seed: int) -> tuple[int, int, float]:
    """(answered, logged, requests per second) of one kill -9."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    command = [sys.executable, "-m", "kibble", "--home", str(home), "serve", "--model", "recs"]
    proc = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit("kibble serve did not start")
        time.sleep(0.1)
    helpers = children(proc.pid)
    answered: list[str] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=5) as c:
            i = 0
            while not stop.is_set():
                try:
                    r = c.get(f"{url}/v1/recommendations", params={"user_id": f"u{i % 300}"})
                except httpx.TransportError:
                    return
                if r.status_code == 200:
                    answered.append(r.json()["request_id"])
                i += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(random.Random(seed).uniform(0.5, 2.0))
    os.kill(proc.pid, signal.SIGKILL)
    elapsed = time.monotonic() - start
    stop.set()
    for t in threads:
        t.join()
    proc.wait()
    while any(alive(pid) for pid in helpers):  # the writer commits the pipe, then exits
        time.sleep(0.05)
    return len(answered), logged(home, answered), len(answered) / elapsed


def main() -> None:
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    trials = int(sys.argv[sys.argv.index("--trials") + 1]) if "--trials" in sys.argv else 5
    bench = Bench("requestlog_loss")
    home = Path(tempfile.mkdtemp(prefix="kibble-bench-requestlog-"))
    build(home)
    total_answered = total_logged = 0
    worst_window = 0.0
    for n in range(trials):
        answered, stored, rate = trial(home, n)
        lost = answered - stored
        bound = rate * FLUSH_S
        print(
            f"trial {n}: answered {answered}, logged {stored}, lost {lost} "
            f"(bound ~{bound:.0f} at {rate:.0f} req/s)",
            file=sys.stderr,
        )
        total_answered += answered
        total_logged += stored
        worst_window = max(worst_window, lost / rate if rate else 0.0)
    bench.figure("answered", total_answered, "requests")
    bench.figure("logged", total_logged, "requests")
    bench.figure("lost", total_answered - total_logged, "requests")
    bench.figure("worst_window_lost", worst_window, "s of traffic")
    bench.figure("load_average_1m", os.getloadavg()[0], "")
    bench.ratio("worst_window_vs_flush_s", worst_window, FLUSH_S)
    bench.report()


if __name__ == "__main__":
    main()
