"""Serving latency/throughput: kibble serve vs a bare FastAPI numpy top-k endpoint.

100k items x 64 factors ALS, open-loop load (fixed rate, latency from the scheduled
send time) from another process; a promotion and a rollback happen during one run.
Run: ``.venv/bin/python bench/serving.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Bench

N_ITEMS, N_USERS, FACTORS = 100_000, 20_000, 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_app(npz: str) -> Any:
    """The side-by-side baseline: exact numpy top-k, nothing else."""
    from fastapi import FastAPI

    data = np.load(npz)
    users, items = data["user_factors"], data["item_factors"]
    app = FastAPI()

    @app.get("/v1/recommendations")
    def rec(user_id: str, k: int = 10) -> dict[str, Any]:
        row = int(user_id[1:]) % len(users)
        scores = items @ users[row]
        top = np.argpartition(-scores, k)[:k]
        top = top[np.argsort(-scores[top])]
        return {"items": [{"item_id": f"i{i}", "score": float(scores[i])} for i in top]}

    return app


def load(url: str, rate: float, seconds: float, out: Any) -> None:
    """Open-loop generator: request i is due at t0 + i/rate whatever came back before."""

    async def run() -> tuple[list[float], int]:
        lat: list[float] = []
        failed = 0
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def one(i: int, due: float) -> None:
                nonlocal failed
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                try:
                    r = await client.get(url, params={"user_id": f"u{i % N_USERS}", "k": 10})
                    if r.status_code != 200:
                        failed += 1
                except httpx.HTTPError:
                    failed += 1
                lat.append(time.perf_counter() - due)

            t0 = time.perf_counter() + 0.2
            n = int(rate * seconds)
            await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
        return lat, failed

    lat, failed = asyncio.run(run())
    out.put((lat, failed))


def measure(url: str, rate: float, seconds: float) -> tuple[float, float, int]:
    q: Any = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=load, args=(url, rate, seconds, q))
    p.start()
    lat, failed = q.get()
    p.join()
    arr = np.array(lat) * 1000
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99)), failed


def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready")


def build(home: Path) -> str:
    """Train two ALS versions on synthetic data and register them; save factors for bare."""
    from kibble.config import load_settings
    from kibble.context import Context
    from kibble.recsys.base import create_model, save_model
    from kibble.recsys.interactions import Interactions
    from kibble.store.models import ModelVersion, RegisteredModel

    rng = np.random.default_rng(0)
    n = 400_000
    rows = rng.integers(0, N_USERS, n)
    cols = (rng.zipf(1.3, n) - 1) % N_ITEMS
    inter = Interactions.from_arrays(
        [f"u{i}" for i in range(N_USERS)],
        [f"i{j}" for j in range(N_ITEMS)],
        rows,
        cols,
        np.ones(n, np.float32),
    )
    ctx = Context.open(load_settings({"home": home}, environ={}))
    with ctx.store.session() as s:
        reg = RegisteredModel(project_id=ctx.project_id, name="recs")
        s.add(reg)
        s.flush()
        model_id = reg.id
    npz = str(home / "factors.npz")
    for version in (1, 2):
        model = create_model("als", factors=FACTORS, iterations=2, random_state=version)
        model.fit(inter)
        ref = ctx.save_artifact(save_model(model), "application/x-kibble-model+npz")
        with ctx.store.session() as s:
            s.add(
                ModelVersion(
                    project_id=ctx.project_id,
                    model_id=model_id,
                    version=version,
                    artifact_digest=ref.digest,
                    flavor="als",
                )
            )
        if version == 2:
            np.savez(npz, user_factors=model.user_factors, item_factors=model.item_factors)  # type: ignore[attr-defined]
    ctx.close()
    return npz


def main() -> None:
    quick = "--quick" in sys.argv
    seconds = 3.0 if quick else 8.0
    bench = Bench("serving")
    home = Path(tempfile.mkdtemp(prefix="kibble-bench-serving-"))
    with bench.timed("build_models"):
        npz = build(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    kp, bp = free_port(), free_port()
    kib = subprocess.Popen(
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
            str(kp),
        ],
        env=env,
    )
    bare = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import uvicorn,sys; sys.path.insert(0,{str(Path(__file__).parent.parent)!r});"
            f"from bench.serving import bare_app; uvicorn.run(bare_app({npz!r}),"
            f"port={bp}, log_level='warning')",
        ],
        env=env,
    )
    results: dict[str, Any] = {}
    try:
        wait_ready(f"http://127.0.0.1:{kp}/readyz", kib)
        wait_ready(f"http://127.0.0.1:{bp}/docs", bare)
        urls = {
            "kibble": f"http://127.0.0.1:{kp}/v1/recommendations",
            "bare": f"http://127.0.0.1:{bp}/v1/recommendations",
        }
        sustained: dict[str, float] = {"kibble": 0.0, "bare": 0.0}
        for rate in (100, 300, 1000):
            for name, url in urls.items():
                p50, p99, failed = measure(url, rate, seconds)
                results[f"{name}@{rate}"] = {"p50_ms": p50, "p99_ms": p99, "failed": failed}
                bench.figure(f"{name}_p50_ms@{rate}rps", p50, "ms")
                bench.figure(f"{name}_p99_ms@{rate}rps", p99, "ms")
                if p99 < 50 and failed == 0:
                    sustained[name] = max(sustained[name], rate)
        for name, value in sustained.items():
            bench.figure(f"{name}_max_rps_p99_under_50ms", value, "rps")
        bench.ratio("sustained_kibble_vs_bare", sustained["kibble"], sustained["bare"])
        # promotion + rollback while 300 rps flow
        from kibble.config import load_settings
        from kibble.context import Context
        from kibble.rollouts import service

        ctx = Context.open(load_settings({"home": home}, environ={}))
        q: Any = mp.get_context("spawn").Queue()
        p = mp.get_context("spawn").Process(target=load, args=(urls["kibble"], 300, 6.0, q))
        p.start()
        time.sleep(1.5)
        service.start(ctx, "default", "recs", "recs:1", policy="canary")
        time.sleep(1.5)
        service.finish(ctx, "default", "abort", "bench rollback")
        time.sleep(1.0)
        service.start(ctx, "default", "recs", "recs:1", policy="canary")
        service.finish(ctx, "default", "promote", "bench promotion")
        _, failed = q.get()
        p.join()
        ctx.close()
        bench.figure("failed_during_promotion_and_rollback", failed, "requests")
        k300 = results["kibble@300"]["p99_ms"]
        bench.target("p99_300", "kibble p99 < 20 ms at 300 rps", k300 < 20)
        bench.target(
            "throughput_2x",
            "kibble sustainable >= 2x bare",
            sustained["kibble"] >= 2 * sustained["bare"] > 0,
        )
        bench.target("zero_failures", "0 failed requests during promotion+rollback", failed == 0)
    finally:
        kib.terminate()
        bare.terminate()
        kib.wait(10)
        bare.wait(10)
    bench.report({"results": results})


if __name__ == "__main__":
    main()
