"""Shared fixtures: a fresh home per test, and the store on SQLite and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kibble.config import Settings, load_settings
from kibble.context import Context
from tests.postgres_server import PostgresServer
from tests.ray_server import RayServer
from tests.s3_server import S3Server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (moto server mode) on 127.0.0.1."""
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The address of a real local Ray cluster (2 CPUs), started once per session."""
    server = RayServer(num_cpus=2).start()
    yield server.address
    server.stop()


@pytest.fixture
def s3_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server with AWS_* credentials set for this test."""
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    return s3


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def settings(home: Path) -> Settings:
    return load_settings({"home": home}, environ={})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, home: Path) -> str:
    """A fresh database URL on each backend: the store's suite runs unchanged on both."""
    if request.param == "sqlite":
        return f"sqlite:///{home / 'kibble.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def backend_settings(home: Path, database_url: str) -> Settings:
    return load_settings({"home": home, "database_url": database_url}, environ={})


@pytest.fixture
def context(settings: Settings) -> Iterator[Context]:
    ctx = Context.open(settings)
    yield ctx
    ctx.close()
