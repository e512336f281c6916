"""The loop as a user runs it, from outside, in a fresh home, with no demo code:

simulate a shop -> `kibble k9s init` -> edit the factory -> `kibble apply` -> the factory's
daily pipeline day by day (`kibble run --schedule`), a late day held then resumed by
`kibble runs recheck` -> versions registered with gate reports that include the probe ->
a crashing candidate refused by `kibble models gate` -> `kibble serve` with traffic and
clicks -> the rollout controller decides the declared canary.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
KIBBLE = [sys.executable, "-m", "kibble"]
EDIT = """
from kibble import GatePolicy, RolloutPolicy

# On a tiny shop nothing beats recency-weighted popularity; let a candidate through when
# it does not trail the champion badly, and judge each canary step on 50 answers, so
# this walk-through reaches a decision in a few hundred requests.
lenient = GatePolicy(primary_metric="ndcg@10", beat_baseline=False, champion_tolerance=1.0)
canary = RolloutPolicy(model="k9s-recs", strategy="canary", steps=[10, 50, 100], min_samples=50)
factory = factory.model_copy(
    update={"models": {"k9s-recs": lenient}, "deployments": {"k9s": canary}}
)
"""


class User:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "KIBBLE_HOME": str(cwd / "home")}

    def run(self, *args: str, code: int = 0) -> str:
        done = subprocess.run(
            [*KIBBLE, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == code, f"kibble {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self.run(*args, "--json", code=code))


@pytest.mark.slow
def test_the_loop_from_outside(tmp_path: Path) -> None:
    user = User(tmp_path)
    user.run(
        "k9s", "simulate", "--out", "shop", "--days", "4", "--products", "300", "--users",
        "800", "--scenario", "late_partition:2",
    )  # fmt: skip
    user.run("k9s", "init", "--shop", "shop")
    with (tmp_path / "factory.py").open("a") as f:
        f.write(EDIT)
    user.run("apply")
    for day in ("2026-12-01", "2026-12-02"):
        user.run("run", "--schedule", "k9s_daily", "-P", f"day={day}")
    held = user.json("run", "--schedule", "k9s_daily", "-P", "day=2026-12-03", code=3)
    assert held["status"] == "held" and "data_late" in held["held_reasons"][0]
    user.run("k9s", "deliver", "--out", "shop")
    rechecked = user.json("runs", "recheck")
    assert rechecked == [{"run_id": held["run_id"], "status": "succeeded"}]

    model = user.json("models", "show", "k9s-recs")
    gated = [v for v in model["versions"] if v["gate"] is not None]
    assert len(gated) >= 2
    for version in gated:
        names = {c["name"] for c in version["gate"]["checks"]}
        assert {"probe:no_crash", "probe:p99_latency_ms", "coverage"} <= names, names
    assert model["aliases"]["champion"] == 1 and model["aliases"]["challenger"] is not None

    (tmp_path / "crash.json").write_text(
        '{"class": "tests.registry.bad_models:CrashOnUnknownUser"}'
    )
    made = user.json("models", "register", "k9s-recs", "--artifact", "crash.json")
    report = user.json(
        "models", "gate", "k9s-recs", str(made["version"]),
        "--allow-class", "tests.registry.bad_models:CrashOnUnknownUser", code=1,
    )  # fmt: skip
    crash = next(c for c in report["checks"] if c["name"] == "probe:no_crash")
    assert not crash["passed"] and "crashed" in crash["sentence"]

    status = user.json("rollout", "status", "--deployment", "k9s")
    assert status["policy"] == "canary", status
    _serve_until_decided(user)

    # the factory's monitor over what was served: per-arm model metrics, system metrics
    monitored = user.json("run", "--schedule", "k9s_monitor")
    assert monitored["status"] == "succeeded", monitored
    series = {row["name"] for row in user.json("monitor", "--deployment", "k9s", "--since", "1d")}
    assert {"model.ctr", "system.latency_p99_ms"} <= series, series


def _serve_until_decided(user: User) -> None:
    port = free_port()
    # a public storefront: the server's signed request ids are the proof of a click
    env = {**user.env, "KIBBLE_SERVING__PUBLIC_FEEDBACK": "true"}
    server = subprocess.Popen(
        [*KIBBLE, "serve", "--model", "k9s-recs", "--deployment", "k9s", "--port", str(port),
         "--controller-interval", "0.2", "--poll", "0.2"],
        cwd=user.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            wait_for(lambda: _ready(http), 60, "kibble serve ready")
            decided = wait_for(lambda: _traffic(http, user), 240, "the controller's decision")
        assert decided in ("promoted", "rolled_back")
    finally:
        server.terminate()
        server.wait(timeout=30)


def _ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def _traffic(http: httpx.Client, user: User) -> str | None:
    """One burst of customers, a click on every fifth answer, then the rollout's state."""
    events = []
    for i in range(200):
        answer = http.get("/v1/recommendations", params={"user_id": f"{i % 800}", "k": 10})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if i % 5 == 0 and body["items"]:
            events.append(
                {
                    "event_id": f"{body['request_id']}:click",
                    "user_id": f"{i % 800}",
                    "item_id": body["items"][0]["item_id"],
                    "event_type": "click",
                    "request_id": body["request_id"],
                }
            )
    assert http.post("/v1/feedback", json={"events": events}).status_code == 200
    status = user.json("rollout", "status", "--deployment", "k9s")
    found = status.get("status")
    return found if found in ("promoted", "rolled_back") else None
