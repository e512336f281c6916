"""Safety probe: run the candidate in a separate process and hit it with hostile requests.

The worker (``kibble.registry.probe_worker``) loads the blob by digest; a crash there cannot
take the registry down. Checks: no crash, exactly k unique valid items, clear errors for bad
requests, p99 latency under the serving SLA, resident memory under a limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kibble.context import Context
from kibble.registry.gates import Check, GateReport


class _Worker:
    def __init__(self, context: Context, digest: str, allow: Sequence[str]) -> None:
        s = context.settings
        cmd = [sys.executable, "-m", "kibble.registry.probe_worker", "--home", str(s.home)]
        cmd += ["--project", context.project, "--digest", digest]
        cmd += ["--database-url", str(s.database_url)]
        for name in allow:
            cmd += ["--allow", name]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.ready = self._read() == {"ready": True}

    def _read(self) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def ask(self, request: str) -> dict[str, Any] | None:
        """Send one raw line; None means the worker died."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(request + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        return self._read()

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err[-500:]


def _check(name: str, measured: float, threshold: float, ok: bool, text: str) -> Check:
    return Check(name=name, measured=measured, threshold=threshold, passed=ok, sentence=text)


def run_probe(
    context: Context,
    digest: str,
    *,
    known_users: Sequence[str],
    valid_items: set[str],
    allow: Sequence[str] = (),
    load_requests: int = 200,
    rss_limit_mb: float = 2048.0,
) -> GateReport:
    """Probe the model blob ``digest``; ``valid_items`` are the in-stock, in-season ids."""
    worker = _Worker(context, digest, allow)
    if not worker.ready:
        err = worker.close()
        return GateReport.of([_check("loads", 0, 1, False, f"worker failed to load: {err}")])
    checks: list[Check] = []
    users = [*known_users[:3], "never-seen-user", ""]
    bad_lists: list[str] = []
    for user in users:
        for k in (0, 1, 10, 1000):
            answer = worker.ask(json.dumps({"user_id": user, "k": k}))
            if answer is None:
                err = worker.close()
                return GateReport.of(
                    [_check("no_crash", 0, 1, False, f"crashed on user={user!r} k={k}: {err}")]
                )
            items = answer.get("items", [])
            want = min(k, len(valid_items))
            if len(items) != want or len(set(items)) != len(items) or set(items) - valid_items:
                bad_lists.append(f"user={user!r} k={k}")
    checks.append(_check("no_crash", 1, 1, True, "the worker survived every probe request."))
    checks.append(
        _check(
            "exact_k_unique_valid",
            len(bad_lists),
            0,
            not bad_lists,
            "every answer had exactly k unique valid items."
            if not bad_lists
            else f"wrong lists for {', '.join(bad_lists[:5])}.",
        )
    )
    malformed = ["not json", "{}", '{"user_id": 3, "k": 1}', '{"user_id": "a", "k": -1}']
    answers = [worker.ask(m) for m in malformed]
    clear = sum(1 for a in answers if a is not None and "error" in a)
    checks.append(
        _check(
            "malformed_rejected",
            clear,
            len(malformed),
            clear == len(malformed),
            f"{clear} of {len(malformed)} malformed requests got a clear error.",
        )
    )
    sla = context.settings.serving.latency_sla_ms
    lat = []
    for i in range(load_requests):
        t = time.perf_counter()
        worker.ask(json.dumps({"user_id": known_users[i % len(known_users)], "k": 10}))
        lat.append((time.perf_counter() - t) * 1000)
    p99 = float(np.percentile(lat, 99))
    checks.append(
        _check(
            "p99_latency_ms",
            p99,
            sla,
            p99 < sla,
            f"p99 latency {p99:.1f} ms over {load_requests} requests (SLA {sla} ms).",
        )
    )
    rss = worker.rss_mb()
    checks.append(
        _check(
            "rss_mb",
            rss,
            rss_limit_mb,
            rss < rss_limit_mb,
            f"worker resident memory {rss:.0f} MB (limit {rss_limit_mb:.0f} MB).",
        )
    )
    worker.close()
    return GateReport.of(checks)
