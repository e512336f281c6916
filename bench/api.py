"""Control-plane API latency: an authenticated, audited, hardened call against a bare
FastAPI route over the same uvicorn and the same SQLite store.

Baseline: a plain FastAPI app that runs the same runs query with no auth, no middleware.
The ratio is the price of safety per request (token lookup, role check, Host/body
checks, security headers; mutating calls also pay for the audit row).
"""

from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Bench
from kibble.api import create_app
from kibble.auth import bootstrap_admin
from kibble.config import load_settings
from kibble.context import Context
from kibble.store.models import Run

REQUESTS = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: Any) -> tuple[uvicorn.Server, str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def latencies(client: httpx.Client, method: str, path: str, **kwargs: Any) -> list[float]:
    out = []
    for i in range(REQUESTS):
        start = time.perf_counter()
        response = client.request(method, path.format(i=i), **kwargs)
        out.append(time.perf_counter() - start)
        assert response.status_code < 300, response.text
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    bench = Bench("api")
    home = Path(tempfile.mkdtemp()) / "home"
    settings = load_settings({"home": home}, environ={})
    ctx = Context.open(settings, project="k9s")
    with ctx.store.session() as s:
        token = bootstrap_admin(s, ctx.project_id, "alice", actor="bench").value
        s.add_all(Run(project_id=ctx.project_id, pipeline=f"p{i % 7}") for i in range(200))

    plain = FastAPI()

    @plain.get("/runs")
    def runs() -> list[dict[str, Any]]:
        with ctx.store.session() as s:
            rows = s.scalars(
                sa.select(Run).where(Run.project_id == ctx.project_id).limit(100)
            ).all()
            return [{c.key: getattr(r, c.key) for c in Run.__table__.columns} for r in rows]

    ours_server, ours_url = serve(create_app(settings, store=ctx.store))
    base_server, base_url = serve(plain)
    auth = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=ours_url, headers=auth) as ours,
        httpx.Client(base_url=base_url) as base,
    ):
        latencies(ours, "GET", "/api/v1/projects/k9s/runs")  # warm up
        latencies(base, "GET", "/runs")
        read = latencies(ours, "GET", "/api/v1/projects/k9s/runs")
        plain_read = latencies(base, "GET", "/runs")
        write = latencies(
            ours, "PUT", "/api/v1/projects/k9s/members/user-{i}", json={"role": "viewer"}
        )
    for name, values in (
        ("kibble_list_runs", read),
        ("fastapi_plain_list_runs", plain_read),
        ("kibble_put_member_audited", write),
    ):
        bench.figure(f"{name}_p50", p(values, 50), "ms")
        bench.figure(f"{name}_p99", p(values, 99), "ms")
    bench.ratio("list_p50_vs_plain_fastapi", p(read, 50), p(plain_read, 50))
    bench.target("list_p50_under_25ms", "authenticated list p50 < 25 ms", p(read, 50) < 25)
    bench.target("write_p99_under_100ms", "audited write p99 < 100 ms", p(write, 99) < 100)
    ours_server.should_exit = base_server.should_exit = True
    bench.report({"requests_per_case": REQUESTS})
    ctx.close()


if __name__ == "__main__":
    main()
