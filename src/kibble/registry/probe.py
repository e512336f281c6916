"""Safety probe: run the candidate in a separate process and hit it with hostile requests.

The worker (``kibble.registry.probe_worker``) loads the blob by digest; a crash there cannot
take the registry down. Checks: no crash, exactly k unique valid items, context items (the
item on screen, the basket, unknown ids) never returned, clear errors for bad requests,
p99 latency under the SLA, resident memory under a limit.
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
    def __init__(
        self,
        context: Context,
        digest: str,
        allow: Sequence[str],
        module: str = "kibble.registry.probe_worker",
    ) -> None:
        s = context.settings
        cmd = [sys.executable, "-m", module, "--home", str(s.home)]
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


def latency_check(latencies_ms: Sequence[float], sla_ms: float, what: str = "p99") -> Check:
    """The probe's p99 over its load requests, against the policy's SLA."""
    p99 = float(np.percentile(latencies_ms, 99))
    return _check(
        "p99_latency_ms",
        p99,
        sla_ms,
        p99 < sla_ms,
        f"{what} latency {p99:.1f} ms over {len(latencies_ms)} requests (SLA {sla_ms} ms).",
    )


class _Crashed(Exception):
    """The worker died on a request; ``args[0]`` says which."""


UNKNOWN_ITEM = "probe-unknown-item"


def _items(worker: _Worker, request: dict[str, Any]) -> list[str]:
    answer = worker.ask(json.dumps(request))
    if answer is None:
        shown = ", ".join(f"{k}={v!r}" for k, v in request.items())
        raise _Crashed(f"crashed on {shown}: {worker.close()}")
    return [str(i) for i in answer.get("items", [])]


def _wrong(items: list[str], k: int, valid: set[str], hidden: set[str]) -> bool:
    """Exactly k unique valid items, none of them hidden by the context.

    When k reaches past half of what may be shown, fewer are fine (a model rightly leaves
    out what the user already bought), but not fewer than half of what may be shown."""
    available = len(valid - hidden)
    if 2 * k <= available:
        size_ok = len(items) == k
    else:
        size_ok = available // 2 <= len(items) <= min(k, available)
    return (
        not size_ok
        or len(set(items)) != len(items)
        or bool(set(items) - valid)
        or bool(set(items) & hidden)
    )


def _exact_k(worker: _Worker, known_users: Sequence[str], valid_items: set[str]) -> Check:
    bad: list[str] = []
    for user in [*known_users[:3], "never-seen-user", ""]:
        for k in (0, 1, 10, 1000):
            items = _items(worker, {"user_id": user, "k": k})
            if _wrong(items, k, valid_items, set()):
                bad.append(f"user={user!r} k={k}")
    return _check(
        "exact_k_unique_valid",
        len(bad),
        0,
        not bad,
        "every answer had k unique valid items (fewer only past half the catalogue)."
        if not bad
        else f"wrong lists for {', '.join(bad[:5])}.",
    )


def _context_items(worker: _Worker, known_users: Sequence[str], valid_items: set[str]) -> Check:
    """Items in the request's context (the item on screen, the basket) must not come back,
    unknown context ids must not break the model, and k must still be honoured."""
    bad: list[str] = []
    sent = 0
    for user in [*known_users[:2], "never-seen-user"]:
        top = [i for i in _items(worker, {"user_id": user, "k": 10}) if i in valid_items]
        shown = top[3] if len(top) > 3 else UNKNOWN_ITEM
        exclude = [*top[:3], UNKNOWN_ITEM]
        hidden = {shown, *exclude}
        for k in (1, 10, 1000):
            request = {"user_id": user, "k": k, "item_id": shown, "exclude": exclude}
            items = _items(worker, request)
            sent += 1
            if _wrong(items, k, valid_items, hidden):
                leaked = sorted(set(items) & hidden)
                bad.append(f"user={user!r} k={k}" + (f" returned {leaked}" if leaked else ""))
    items = _items(worker, {"user_id": "never-seen-user", "k": 10, "item_id": UNKNOWN_ITEM})
    sent += 1
    if _wrong(items, 10, valid_items, {UNKNOWN_ITEM}):
        bad.append("unknown item on screen")
    return _check(
        "context_items_excluded",
        len(bad),
        0,
        not bad,
        f"{sent} requests with context items: none came back and k was honoured."
        if not bad
        else f"context items mishandled for {'; '.join(bad[:5])}.",
    )


def run_probe(
    context: Context,
    digest: str,
    *,
    known_users: Sequence[str],
    valid_items: set[str],
    allow: Sequence[str] = (),
    load_requests: int = 200,
    rss_limit_mb: float = 2048.0,
    latency_sla_ms: float | None = None,
) -> GateReport:
    """Probe the model blob ``digest``; ``valid_items`` are the in-stock, in-season ids.

    ``latency_sla_ms`` is the model's gate policy's limit (default: the serving SLA)."""
    worker = _Worker(context, digest, allow)
    if not worker.ready:
        err = worker.close()
        return GateReport.of([_check("loads", 0, 1, False, f"worker failed to load: {err}")])
    try:
        exact = _exact_k(worker, known_users, valid_items)
        in_context = _context_items(worker, known_users, valid_items)
    except _Crashed as crash:
        return GateReport.of([_check("no_crash", 0, 1, False, str(crash))])
    checks = [
        _check("no_crash", 1, 1, True, "the worker survived every probe request."),
        exact,
        in_context,
    ]
    malformed = [
        "not json",
        "{}",
        '{"user_id": 3, "k": 1}',
        '{"user_id": "a", "k": -1}',
        '{"user_id": "a", "k": 1, "exclude": "i1"}',
    ]
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
    sla = latency_sla_ms or context.settings.serving.latency_sla_ms
    lat = []
    for i in range(load_requests):
        t = time.perf_counter()
        worker.ask(json.dumps({"user_id": known_users[i % len(known_users)], "k": 10}))
        lat.append((time.perf_counter() - t) * 1000)
    checks.append(latency_check(lat, sla))
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
