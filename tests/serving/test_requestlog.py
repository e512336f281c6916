"""The request log's writer process: rows land, a crashed writer is reported and restarted
without losing or doubling rows, and shutdown writes what was still queued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.serving.app import create_app
from kibble.serving.metrics import Metrics
from kibble.serving.requestlog import RequestLog
from kibble.store.repositories.serving import ServedRequests


def row(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "deployment": "default",
        "user_id": "u1",
        "arm": "recs:1",
        "model_version": "recs:1",
        "probability": 0.95,
        "items": [{"item_id": "i1", "score": 1.5, "reasons": ["popular now"]}],
        "ts": datetime.now(UTC),
        "latency_ms": 1.25,
    }


def stored(context: Context) -> list[str]:
    since = datetime(2000, 1, 1, tzinfo=UTC)
    with context.store.session() as session:
        return sorted(
            r.request_id for r in ServedRequests(session, context.project_id).since(since)
        )


@pytest.fixture
def backend(backend_settings: Settings) -> Iterator[Context]:
    ctx = Context.open(backend_settings)
    yield ctx
    ctx.close()


@pytest.fixture
def started(backend: Context) -> Iterator[tuple[RequestLog, Metrics]]:
    metrics = Metrics()
    log = RequestLog(backend, flush_s=60, metrics=metrics)  # only explicit flushes send
    log.start()
    yield log, metrics
    log.stop()


def test_flush_waits_until_the_rows_are_committed(
    backend: Context, started: tuple[RequestLog, Metrics]
) -> None:
    log, _ = started
    for i in range(5):
        log.put(row(f"r{i}"))
    assert log.flush() == 5
    assert stored(backend) == [f"r{i}" for i in range(5)]
    with backend.store.session() as session:
        first = ServedRequests(session, backend.project_id).get("r0")
        assert first.items == row("r0")["items"] and first.latency_ms == 1.25


def test_a_killed_writer_is_reported_restarted_and_loses_nothing(
    backend: Context, started: tuple[RequestLog, Metrics]
) -> None:
    log, metrics = started
    log.put(row("before"))
    log.flush()
    first = log._proc
    assert first is not None
    first.kill()
    first.wait()
    log.put(row("after"))  # sent to the dead writer, kept until acknowledged
    log.flush()
    assert log.restarts == 1 and log._proc is not first
    assert metrics.registry.get_sample_value("kibble_request_log_restarts_total") == 1
    assert stored(backend) == ["after", "before"]
    assert log.dropped == 0


def test_a_batch_resent_after_its_commit_is_stored_once(backend: Context) -> None:
    with backend.store.session() as session:
        ServedRequests(session, backend.project_id).add_many([row("r1")], skip_existing=True)
    with backend.store.session() as session:
        rows = ServedRequests(session, backend.project_id)
        rows.add_many([row("r1"), row("r2")], skip_existing=True)
    assert stored(backend) == ["r1", "r2"]


def test_stop_writes_what_was_queued(context: Context) -> None:
    log = RequestLog(context, flush_s=60)
    log.start()
    for i in range(3):
        log.put(row(f"q{i}"))
    log.stop()
    assert stored(context) == ["q0", "q1", "q2"]
    assert log._proc is not None and log._proc.returncode == 0


def test_rows_the_store_refuses_are_counted_and_the_rest_kept(
    backend: Context, started: tuple[RequestLog, Metrics]
) -> None:
    log, metrics = started
    log.put(row("ok1"))
    log.put({**row("bad"), "user_id": None})  # NOT NULL on every backend
    log.put(row("ok2"))
    log.flush()
    assert stored(backend) == ["ok1", "ok2"]
    assert log.dropped == 1
    assert metrics.registry.get_sample_value("kibble_request_log_dropped_total") == 1


def test_a_server_that_fails_to_start_stops_its_writer(context: Context) -> None:
    app = create_app(context, "default", "no-such-model")
    with pytest.raises(NotFoundError), TestClient(app):
        pass
    writer = app.state.requests._proc
    assert writer is not None and writer.poll() == 0


def test_the_writer_commits_what_a_killed_server_had_piped(backend: Context) -> None:
    """The server is gone (its end of the acknowledgements is closed): the writer still
    commits every batch left in its pipe, then ends cleanly at EOF."""
    import subprocess

    import orjson

    from kibble.serving.requestlog import WRITER

    writer = subprocess.Popen(WRITER, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdout.close()  # the dead server's reading end
    url = backend.store.engine.url.render_as_string(hide_password=False)
    lines = [orjson.dumps({"database_url": url, "project_id": backend.project_id})]
    lines += [b"%d %s" % (n, orjson.dumps([row(f"k{n}a"), row(f"k{n}b")])) for n in range(3)]
    writer.stdin.write(b"\n".join(lines) + b"\n" + b'9 [{"request_id": "cut')  # cut mid-line
    writer.stdin.close()
    assert writer.wait(timeout=60) == 0
    assert stored(backend) == sorted(f"k{n}{x}" for n in range(3) for x in "ab")
