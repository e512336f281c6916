"""The request-log writer process: batches in on stdin, acknowledgements out on stdout.

``kibble serve`` runs this beside itself (``python -m kibble.serving.logwriter``) so
that building, encoding and committing the INSERTs spends this process's CPU and GIL,
never the request loop's. One line each way:

- in: a JSON header ``{"database_url": ..., "project_id": ...}``, then ``SEQ ROWS`` per
  batch (``ROWS`` a JSON array of served-request rows, ``ts`` as ISO 8601);
- out: ``SEQ DROPPED`` once the batch is committed (``DROPPED`` rows the store refused).

It ends after the last batch when stdin closes, so the server's exit (even ``kill -9``)
ends it too. A store that cannot be reached ends it with an error; the server restarts
it and resends what was not acknowledged (rows already stored are skipped).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from kibble.store.engine import create_engine
from kibble.store.repositories.serving import ServedRequests
from kibble.store.store import Store

# The writer yields the CPU to the request loop on a busy machine; it only has to keep up.
NICE = 5


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


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the server stops us via EOF
    os.nice(NICE)
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")  # the protocol's own handle; anything else
    os.dup2(2, 1)  # printed to stdout (a library's warning) goes to stderr instead
    header = orjson.loads(stdin.readline() or b"{}")
    store = Store(create_engine(header["database_url"]))
    try:
        for line in stdin:
            seq, _, payload = line.partition(b" ")
            dropped = write(store, header["project_id"], decode(payload))
            stdout.write(b"%d %d\n" % (int(seq), dropped))
            stdout.flush()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
