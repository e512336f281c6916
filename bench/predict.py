"""Single-row predict: ``kibble serve`` vs a bare FastAPI endpoint calling the same model.

A scikit-learn gradient-boosting classifier (a one-hot pipeline in front), logged with
``kibble.log_model`` and served by ``kibble serve`` at ``POST /v1/models/NAME/predict``
(signature check, routing, signed request id, request log, metrics). The peer is a bare
FastAPI app loading the same skops file, taking the same JSON rows and answering the
same prediction and score, and doing nothing else. Both run one native thread
(``OMP_NUM_THREADS=1``; kibble sets that per request thread by itself). One client
sends single-row requests one after the other, alternating servers round by round so
load on the host hits both alike.
Prints p50/p99 per server and the ratio kibble / bare (target: p50 within 1.5x).
Run: ``.venv/bin/python bench/predict.py [--quick]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.harness import Bench
from bench.serving import free_port, wait_ready

TARGET = 1.5
FEATURES = ["pages", "visits", "country"]


def visitors(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pages = rng.gamma(2.0, 3.0, n)
    visits = rng.integers(1, 20, n).astype(np.int64)
    country = rng.choice(["de", "fr", "nl"], n)
    logit = 0.25 * pages + 0.1 * visits - 3 + (country == "de") * 0.8
    bought = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pd.DataFrame({"pages": pages, "visits": visits, "country": country, "bought": bought})


def train(home: Path) -> Path:
    """Fit, log and promote the model; write its skops file for the peer."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import kibble
    from kibble.config import load_settings
    from kibble.models.log import load_logged

    frame = visitors(5000, 0)
    encode = ColumnTransformer(
        [("country", OneHotEncoder(handle_unknown="ignore"), ["country"])], remainder="passthrough"
    )
    model = make_pipeline(encode, HistGradientBoostingClassifier(max_iter=100, random_state=0))
    model.fit(frame[FEATURES], frame["bought"])
    context = kibble.Context.open(load_settings({"home": str(home)}, environ={}))
    version = kibble.log_model(model, "buyers", training_frame=frame[FEATURES], context=context)
    kibble.promote_model(context, "buyers", version["version"], reason="bench")
    bundle = load_logged(context, version["digest"])
    import skops.io as sio

    path = home / "buyers.skops"
    path.write_bytes(sio.dumps(bundle.model))
    context.close()
    return path


def bare_app(path: str) -> Any:
    """The peer: the same model and the same JSON, nothing else."""
    import skops.io as sio
    from fastapi import FastAPI
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    data = Path(path).read_bytes()
    model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    app = FastAPI()

    @app.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame(body["inputs"], columns=FEATURES)
        labels = model.predict(frame).tolist()
        scores = model.predict_proba(frame)[:, -1].tolist()
        return {
            "predictions": [
                {"prediction": p, "score": s} for p, s in zip(labels, scores, strict=True)
            ]
        }

    return app


def sequential(client: httpx.Client, url: str, rows: list[dict[str, Any]]) -> list[float]:
    out = []
    for row in rows:
        start = time.perf_counter()
        answer = client.post(url, json={"inputs": [row]})
        out.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    return out


def main() -> None:
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    rounds, per_round = (4, 50) if "--quick" in sys.argv else (10, 200)
    bench = Bench("predict")
    home = Path(tempfile.mkdtemp(prefix="kibble-bench-predict-"))
    with bench.timed("train_and_log"):
        skops_file = train(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    env["OMP_NUM_THREADS"] = "1"  # both servers: row-at-a-time, one native thread
    root = str(Path(__file__).parent.parent)
    ports = {"kibble": free_port(), "bare": free_port()}
    serve = [sys.executable, "-m", "kibble", "--home", str(home), "serve", "--model", "buyers"]
    procs = {
        "kibble": subprocess.Popen([*serve, "--port", str(ports["kibble"])], env=env),
        "bare": subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import uvicorn,sys; sys.path.insert(0,{root!r});"
                f"from bench.predict import bare_app; uvicorn.run(bare_app({str(skops_file)!r}),"
                f"port={ports['bare']}, log_level='warning')",
            ],
            env=env,
        ),
    }
    urls = {
        "kibble": f"http://127.0.0.1:{ports['kibble']}/v1/models/buyers/predict",
        "bare": f"http://127.0.0.1:{ports['bare']}/predict",
    }
    rows = visitors(per_round, 1)[FEATURES].to_dict("records")
    latencies: dict[str, list[float]] = {"kibble": [], "bare": []}
    try:
        wait_ready(f"http://127.0.0.1:{ports['kibble']}/readyz", procs["kibble"])
        wait_ready(f"http://127.0.0.1:{ports['bare']}/docs", procs["bare"])
        with httpx.Client(timeout=30) as client:
            for url in urls.values():  # unmeasured warm-up
                sequential(client, url, rows[:20])
            for i in range(rounds):
                order = ("kibble", "bare") if i % 2 == 0 else ("bare", "kibble")
                for name in order:
                    latencies[name] += sequential(client, urls[name], rows)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=30)
    p50 = {}
    for name, values in latencies.items():
        p50[name] = bench.figure(f"{name}_p50_ms", float(np.percentile(values, 50)), "ms")
        bench.figure(f"{name}_p99_ms", float(np.percentile(values, 99)), "ms")
    ratio = bench.ratio("kibble_vs_bare_p50", p50["kibble"], p50["bare"])
    bench.ratio(
        "kibble_vs_bare_p99",
        float(np.percentile(latencies["kibble"], 99)),
        float(np.percentile(latencies["bare"], 99)),
    )
    bench.target("p50_within_1.5x", f"kibble p50 <= {TARGET}x the bare endpoint's", ratio <= TARGET)
    bench.report({"requests_per_server": rounds * per_round})


if __name__ == "__main__":
    main()
