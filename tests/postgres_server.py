"""A throwaway PostgreSQL server from the binaries on the machine (initdb, pg_ctl).

Not a mock: the real server, on 127.0.0.1 with a random port, trust auth, a temp folder.
As root (CI), the server runs as ``nobody`` because postgres refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

from tests.processes import free_port


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if candidates:
        return candidates[-1]
    raise RuntimeError(
        f"PostgreSQL binary {name!r} not found; install the postgresql server package"
    )


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kibble-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_root:
            command = ["runuser", "-u", "nobody", "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self) -> PostgresServer:
        if self._as_root:
            shutil.chown(self.root, "nobody")
            self.root.chmod(0o700)
        self._run(
            _binary("initdb"), "-D", str(self.data), "-U", "kibble", "--auth=trust", "-E", "UTF8"
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            _binary("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "log"),
            "-w",
            "start",
        )
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://kibble@127.0.0.1:{self.port}/postgres"

    def create_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return f"postgresql+psycopg://kibble@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
