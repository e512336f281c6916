"""Liveness and readiness of the scheduler loop over HTTP, for Kubernetes probes.

The scheduler has no web app; this is a stdlib server on a thread. ``/readyz`` answers
200 once a pass has finished; ``/healthz`` answers 200 while passes keep finishing (a
loop stuck longer than ``stale_after_s`` is reported dead, so the kubelet restarts it).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopHealth:
    """Records each finished pass; serves the verdict on ``/healthz`` and ``/readyz``."""

    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self.started = time.monotonic()
        self.last_pass: float | None = None
        self._server: ThreadingHTTPServer | None = None

    def beat(self) -> None:
        self.last_pass = time.monotonic()

    def verdict(self, path: str) -> tuple[int, dict[str, object]]:
        now = time.monotonic()
        if path == "/readyz":
            ready = self.last_pass is not None
            return (200 if ready else 503), {"ready": ready}
        if path == "/healthz":
            since = now - (self.last_pass if self.last_pass is not None else self.started)
            live = since <= self.stale_after_s
            return (200 if live else 503), {"live": live, "seconds_since_pass": round(since, 1)}
        return 404, {"error": f"no route {path}; use /healthz or /readyz"}

    def serve(self, host: str, port: int) -> None:
        """Answer probes on ``host:port`` from a daemon thread until ``stop``."""
        health = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = health.verdict(self.path.split("?", 1)[0])
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would drown the scheduler's own log

        self._server = ThreadingHTTPServer((host, port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="probes").start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
