"""The request-log writer process: batches in on stdin, acknowledgements out on stdout.

``kibble serve`` runs this beside itself (``python -m kibble.serving.logwriter``) so
that building, encoding and committing the INSERTs spends this process's CPU and GIL,
never the request loop's. One line each way:

- in: a JSON header ``{"database_url": ..., "project_id": ...}``, then ``SEQ ROWS`` per
  batch (``ROWS`` a JSON array of served-request rows, ``ts`` as ISO 8601);
- out: ``SEQ DROPPED`` once the batch is committed (``DROPPED`` rows the store refused).

Every line already waiting in the pipe is committed in one transaction, so a writer
that fell behind catches up in few commits. It ends after the last batch when stdin
closes, so the server's exit (even ``kill -9``) ends it too, but only once it has
committed every batch the pipe still held (acknowledgements to a dead server are
skipped, not fatal). A store that cannot be reached ends it with an error; the server restarts
it and resends what was not acknowledged (rows already stored are skipped).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from kibble.store.engine import create_engine
from kibble.store.repositories.serving import ServedRequests
from kibble.store.store import Store

# The writer yields the CPU to the request loop on a busy machine; it only has to keep up.
NICE = 5
READ_BYTES = 1 << 20
MAX_GROUP_BYTES = 8 << 20  # one transaction's worth of lines, at most


def decode(payload: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(payload)
    for row in rows:
        row["ts"] = datetime.fromisoformat(row["ts"])
    return rows


def write(store: Store, project_id: str, rows: list[dict[str, Any]]) -> int:
    """Commit ``rows``; the number the store refused (each reported on stderr)."""
    try:
        with store.session() as session:
            ServedRequests(session, project_id).add_many(rows, skip_existing=True)
        return 0
    except (sa.exc.IntegrityError, sa.exc.DataError):
        pass  # one bad row must not cost its batch: retry them one at a time
    dropped = 0
    for row in rows:
        try:
            with store.session() as session:
                ServedRequests(session, project_id).add_many([row], skip_existing=True)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            dropped += 1
            print(f"request log: row {row.get('request_id')!r} refused: {exc}", file=sys.stderr)
    return dropped


def line_groups(fd: int) -> Iterator[list[bytes]]:
    """Complete lines from ``fd``, grouped as they are available: block for the first,
    then take whatever else is already in the pipe. Ends at EOF."""
    pending = b""
    while True:
        chunk = os.read(fd, READ_BYTES)
        if not chunk:
            if pending.strip():  # a server killed mid-write: half a line, not JSON
                print(f"request log: {len(pending)} bytes of a cut batch lost", file=sys.stderr)
            return
        pending += chunk
        while len(pending) < MAX_GROUP_BYTES and select.select([fd], [], [], 0)[0]:
            more = os.read(fd, READ_BYTES)
            if not more:
                break  # EOF: the next read says so
            pending += more
        *lines, pending = pending.split(b"\n")
        if lines:
            yield lines


def commit_group(store: Store, project_id: str, lines: list[bytes]) -> list[tuple[int, int]]:
    """Commit every batch in ``lines`` (one transaction when all go in); (seq, dropped)."""
    batches = []
    for line in lines:
        seq, _, payload = line.partition(b" ")
        batches.append((int(seq), decode(payload)))
    try:
        with store.session() as session:
            rows = [row for _, batch in batches for row in batch]
            ServedRequests(session, project_id).add_many(rows, skip_existing=True)
        return [(seq, 0) for seq, _ in batches]
    except (sa.exc.IntegrityError, sa.exc.DataError):
        return [(seq, write(store, project_id, batch)) for seq, batch in batches]


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the server stops us via EOF
    os.nice(NICE)
    acks = os.dup(1)  # the protocol's own handle; anything else
    os.dup2(2, 1)  # printed to stdout (a library's warning) goes to stderr instead
    groups = line_groups(sys.stdin.fileno())
    first = next(groups, [b"{}"])
    header = orjson.loads(first[0])
    store = Store(create_engine(header["database_url"]))
    try:
        _commit_and_ack(store, header["project_id"], first[1:], acks)
        for lines in groups:
            _commit_and_ack(store, header["project_id"], lines, acks)
    finally:
        store.close()
    return 0


def _commit_and_ack(store: Store, project_id: str, lines: list[bytes], out: int) -> None:
    lines = [line for line in lines if line.strip()]
    if not lines:
        return
    acks = b"".join(b"%d %d\n" % ack for ack in commit_group(store, project_id, lines))
    with contextlib.suppress(BrokenPipeError):  # a server killed: commit on until EOF
        os.write(out, acks)  # a few bytes: written whole


if __name__ == "__main__":
    sys.exit(main())
