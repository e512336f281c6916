"""The served-request log, written by a separate process so the request loop never waits.

A request only appends its row to a deque. Every ``flush_s`` a sender thread encodes
the queued rows as one JSON line (orjson, microseconds) and pipes it to the writer
process (``serving.logwriter``), which does the SQL. A batch is kept until the writer
acknowledges its commit; a writer that exits is reported (log and
``kibble_request_log_restarts``), restarted and sent every unacknowledged batch again.
``flush`` waits until everything queued before it is committed, so a request can be
explained as soon as it was answered; ``stop`` flushes before the writer is closed.

The bound, chosen over a write per request (a syscall and a GIL hand-off on the hot
path): a ``kill -9`` of the server loses the rows still in the deque, at most the last
``flush_s`` of answers (``kibble_request_log_queued`` shows how many at any moment).
Rows already piped are committed by the writer, which outlives the server until EOF.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections import deque
from typing import IO, Any

import orjson

from kibble.context import Context
from kibble.errors import StoreError, UsageError
from kibble.serving.metrics import Metrics

log = logging.getLogger(__name__)

WRITER = [sys.executable, "-m", "kibble.serving.logwriter"]


class RequestLog:
    def __init__(
        self,
        context: Context,
        flush_s: float = 0.1,
        metrics: Metrics | None = None,
        max_unacked_rows: int = 200_000,
    ) -> None:
        self.context = context
        self.flush_s = flush_s
        self.metrics = metrics
        self.max_unacked_rows = max_unacked_rows
        self.restarts = 0  # writer processes that exited and were restarted
        self.dropped = 0  # rows given up on (reported when it happens)
        self._rows: deque[dict[str, Any]] = deque()
        self._send_lock = threading.Lock()  # one batch on the pipe at a time, in seq order
        self._acks = threading.Condition()  # guards _unacked, _unacked_rows
        self._unacked: dict[int, tuple[bytes, int]] = {}  # seq -> (line, rows)
        self._unacked_rows = 0
        self._seq = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = False
        self._stop_ticks = threading.Event()
        self._sender = threading.Thread(target=self._tick, name="kibble-request-log", daemon=True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="kibble-request-log-writer", daemon=True
        )
        if metrics is not None:
            metrics.request_log_queued.set_function(lambda: len(self._rows))

    def put(self, row: dict[str, Any]) -> None:
        self._rows.append(row)

    def start(self) -> None:
        url = self.context.store.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise UsageError(
                "serving needs a database another process can open, not in-memory SQLite",
                hint="set database_url to a SQLite file or PostgreSQL",
            )
        self._proc = self._spawn()
        self._supervisor.start()
        self._sender.start()

    def flush(self, timeout_s: float = 30.0) -> int:
        """Send what is queued and wait until the writer committed it; rows sent."""
        if self._proc is None:
            raise UsageError("the request log is not started", hint="call start() first")
        seq, rows = self._send_pending(timeout_s)
        with self._acks:
            done = self._acks.wait_for(lambda: min(self._unacked, default=seq + 1) > seq, timeout_s)
        if not done:
            raise StoreError(
                f"the request-log writer has not committed its rows within {timeout_s:.0f} s",
                hint="check the server log for writer errors and that the store is reachable",
            )
        return rows

    def stop(self) -> None:
        self._stop_ticks.set()
        if self._sender.is_alive():
            self._sender.join(timeout=5)
        if self._proc is None:
            return
        try:
            self.flush(timeout_s=10)
        except StoreError:
            log.error("request log: %d rows not committed at shutdown", self._unacked_rows)
        self._stopping = True  # from here on an exiting writer is not restarted
        if not self._send_lock.acquire(timeout=10):  # a sender stuck on a hung writer
            self._proc.kill()  # frees it (broken pipe)
            self._send_lock.acquire()
        try:
            proc = self._proc
            _close(proc.stdin)
        finally:
            self._send_lock.release()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        self._supervisor.join(timeout=10)

    # -- internals ------------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        """A writer process, given the store on stdin (no credentials on its command line)."""
        proc = subprocess.Popen(WRITER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        header = {
            "database_url": self.context.store.engine.url.render_as_string(hide_password=False),
            "project_id": self.context.project_id,
        }
        _write(proc, orjson.dumps(header) + b"\n")
        return proc

    def _send_pending(self, timeout_s: float = -1) -> tuple[int, int]:
        """Pipe the queued rows as one batch; (the newest seq sent, rows in this batch)."""
        if not self._send_lock.acquire(timeout=timeout_s):
            raise StoreError(
                "the request-log writer is not reading its input",
                hint="check the server log for writer errors and that the store is reachable",
            )
        try:
            n = len(self._rows)
            if n == 0:
                return self._seq, 0
            line = self._encode([self._rows.popleft() for _ in range(n)])
            self._seq += 1
            with self._acks:
                self._unacked[self._seq] = (line, n)
                self._unacked_rows += n
                self._trim()
            if self._proc is not None:
                _write(self._proc, b"%d %s\n" % (self._seq, line))  # a dead one: resent later
            return self._seq, n
        finally:
            self._send_lock.release()

    def _encode(self, rows: list[dict[str, Any]]) -> bytes:
        try:
            return orjson.dumps(rows, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError:  # find the row that is not JSON; keep the others
            parts = []
            for row in rows:
                try:
                    parts.append(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY))
                except TypeError as exc:
                    self._drop(1, f"row {row.get('request_id')!r} is not JSON ({exc})")
            return b"[" + b",".join(parts) + b"]"

    def _trim(self) -> None:
        """Bound memory while the writer is down: give up the oldest batches, loudly."""
        while self._unacked_rows > self.max_unacked_rows and len(self._unacked) > 1:
            _, n = self._unacked.pop(min(self._unacked))
            self._unacked_rows -= n
            self._drop(n, "the writer is too far behind")

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        if self.metrics is not None:
            self.metrics.request_log_dropped.inc(n)
        log.error("request log: %d rows dropped: %s", n, why)

    def _ack(self, line: bytes) -> None:
        try:
            seq, refused = (int(part) for part in line.split())
        except ValueError:
            log.warning("request-log writer said %r; expected 'SEQ DROPPED'", line[:200])
            return
        with self._acks:
            _, n = self._unacked.pop(seq, (b"", 0))
            self._unacked_rows -= n
            self._acks.notify_all()
        if refused:
            self._drop(refused, "refused by the store (see the writer's error above)")

    def _supervise(self) -> None:
        """Read acknowledgements; when the writer exits unasked, report and restart it."""
        backoff = 0.5
        while True:
            proc = self._proc
            assert proc is not None and proc.stdout is not None
            started = time.monotonic()
            for line in proc.stdout:
                self._ack(line)
            code = proc.wait()
            if self._stopping:
                if code != 0:
                    log.error("request-log writer exited with %s at shutdown", code)
                return
            self.restarts += 1
            if self.metrics is not None:
                self.metrics.request_log_restarts.inc()
            log.error(
                "request-log writer exited with %s; restarting it and resending %d rows",
                code,
                self._unacked_rows,
            )
            if time.monotonic() - started > 30:  # it had been working: not a crash loop
                backoff = 0.5
            if self._stop_ticks.wait(backoff) and self._stopping:
                return
            backoff = min(backoff * 2, 10.0)
            with self._send_lock:
                if self._stopping:
                    return
                try:
                    self._proc = self._spawn()
                except OSError:  # e.g. out of processes: keep the old one, it reads as EOF
                    log.exception("starting the request-log writer failed; retrying")
                    continue
                with self._acks:
                    batches = sorted(self._unacked.items())
                for seq, (line, _) in batches:
                    _write(self._proc, b"%d %s\n" % (seq, line))

    def _tick(self) -> None:
        while not self._stop_ticks.wait(self.flush_s):
            try:
                self._send_pending()
            except Exception:  # never stop logging over one bad batch
                log.exception("sending the request log failed")


def _write(proc: subprocess.Popen[bytes], data: bytes) -> None:
    """Write to the writer's stdin; a dead writer is the supervisor's to handle."""
    try:
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.flush()
    except (OSError, ValueError):
        pass


def _close(stream: IO[bytes] | None) -> None:
    try:
        if stream is not None:
            stream.close()
    except OSError:
        pass
