"""The store's suite: runs unchanged on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from kibble.config import Settings
from kibble.errors import NotFoundError, UsageError
from kibble.store import Store, migrate
from kibble.store.models import Artifact, Project, Run, StepRun
from kibble.store.repositories import ArtifactRecords, AuditLog, Projects


@pytest.fixture
def store(backend_settings: Settings) -> Store:
    s = Store.open(backend_settings)
    yield s
    s.close()


def test_open_migrates_to_head(store: Store) -> None:
    assert migrate.is_up_to_date(store.engine)
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"projects", "runs", "artifacts", "model_versions", "audit_events"} <= tables


def test_upgrade_twice_is_a_noop(store: Store) -> None:
    assert store.upgrade() == []


def test_concurrent_upgrades_leave_one_schema(backend_settings: Settings) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store.open(backend_settings).close()
        except BaseException as exc:  # pragma: no cover - the assertion reports it
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = Store.open(backend_settings, migrate_schema=False)
    assert migrate.is_up_to_date(check.engine)
    check.close()


def test_project_ensure_is_idempotent(store: Store) -> None:
    with store.session() as s:
        first = Projects(s).ensure("k9s").id
    with store.session() as s:
        assert Projects(s).ensure("k9s").id == first
        assert [p.name for p in Projects(s).list()] == ["k9s"]


def test_project_names_are_validated(store: Store) -> None:
    with store.session() as s, pytest.raises(UsageError, match="not allowed"):
        Projects(s).ensure("../etc")


def test_missing_project_says_how_to_create(store: Store) -> None:
    with store.session() as s, pytest.raises(NotFoundError, match="kibble projects create"):
        Projects(s).get("nope")


def test_artifact_records_are_project_scoped(store: Store) -> None:
    with store.session() as s:
        a = Projects(s).ensure("a").id
        b = Projects(s).ensure("b").id
        ArtifactRecords(s, a).record("sha256:" + "0" * 64, media_type="x", size=1)
        ArtifactRecords(s, a).record("sha256:" + "0" * 64, media_type="x", size=1)
    with store.session() as s:
        assert len(ArtifactRecords(s, a).list()) == 1
        assert ArtifactRecords(s, b).list() == []
        with pytest.raises(NotFoundError):
            ArtifactRecords(s, b).get("sha256:" + "0" * 64)


def test_datetimes_come_back_utc_aware(store: Store) -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with store.session() as s:
        pid = Projects(s).ensure("p").id
        run = Run(project_id=pid, pipeline="daily", started_at=started, params={"k": 10})
        s.add(run)
        s.flush()
        run_id = run.id
    with store.session() as s:
        loaded = s.get(Run, run_id)
        assert loaded is not None
        assert loaded.started_at == started
        assert loaded.started_at.tzinfo is not None
        assert loaded.params == {"k": 10}


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), store.session() as s:
        pid = Projects(s).ensure("p").id
        s.add(Run(project_id=pid, pipeline="x", started_at=datetime(2026, 1, 1)))
        s.flush()


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError), store.session() as s:
        s.add(StepRun(project_id="missing", run_id="missing", name="x"))
        s.flush()


def test_deleting_a_project_cascades(store: Store) -> None:
    with store.session() as s:
        pid = Projects(s).ensure("gone").id
        s.add(Artifact(project_id=pid, digest="sha256:" + "1" * 64, media_type="x", size=1))
    with store.session() as s:
        s.execute(sa.delete(Project).where(Project.id == pid))
    with store.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 0


def test_audit_log_lists_newest_first(store: Store) -> None:
    with store.session() as s:
        pid = Projects(s).ensure("p").id
        log = AuditLog(s, pid)
        log.write(actor="ana", action="model.promote", target="als:3")
        log.write(actor="bo", action="model.rollback", target="als:2")
    with store.session() as s:
        events = AuditLog(s, pid).list()
        assert len(events) == 2
        assert {e.actor for e in events} == {"ana", "bo"}
        assert [e.action for e in AuditLog(s, pid).list(action="model.promote")] == [
            "model.promote"
        ]


def test_session_rolls_back_on_error(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as s:
        Projects(s).ensure("rolled")
        raise RuntimeError("boom")
    with store.session() as s:
        assert [p.name for p in Projects(s).list()] == []


def test_sqlite_pragmas(settings: Settings) -> None:
    store = Store.open(settings)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()


def test_models_match_migrations(store: Store) -> None:
    """Every model change comes with a migration: autogenerate finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from kibble.store.models import Base

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
