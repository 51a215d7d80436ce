"""One decision of "does this code run once?", from the file's role."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pglint import engine
from pglint.config import parse_settings
from pglint.kit.roles import may_run_elsewhere, runs_once
from pglint.registry import catalog
from pglint.roles import ROLES

LOST_UPDATE = ("from django.db import models\n\n\nclass Page(models.Model):\n"
               "    views = models.IntegerField(default=0)\n\n"
               "    def record_view(self):\n        self.views += 1\n        self.save()\n")


@pytest.mark.parametrize("role", ROLES)
def test_only_application_code_and_load_tests_run_repeatedly(role):
    assert runs_once(SimpleNamespace(role=role)) is (role not in ("application", "load-test"))


def _codes(root: Path, rel: str, text: str, code: str = "PGL206") -> list[str]:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    settings = parse_settings({"select": [code]}, catalog=catalog()).with_overrides(root=root)
    return [f.code for f in engine.lint([root], settings).findings]


@pytest.mark.parametrize(("rel", "reported"), [
    ("shop/models.py", True),
    ("shop/migrations/helpers.py", False),  # runs with the migrations
    ("shop/seeders/pages.py", False),  # seed data
    ("shop/fixtures.py", False),
    ("storage/schema/main/delta/69/01_pages.py", False),  # a schema delta's Python step
    ("shop/delta/pages.py", True),  # a folder named delta, not schema deltas
])
def test_a_race_is_reported_only_where_the_code_runs_repeatedly(tmp_path, rel, reported):
    assert (_codes(tmp_path, rel, LOST_UPDATE) == ["PGL206"]) is reported


@pytest.mark.parametrize(("rel", "reported"), [
    ("shop/db.py", True),
    ("shop/tests/test_db.py", False),
    ("shop/conftest.py", False),
    ("shop/db_test.py", False),
])
def test_client_timeouts_are_judged_where_the_role_says(tmp_path, rel, reported):
    # PGL304 keeps no list of test folders of its own: test files have the test role.
    connect = 'import psycopg\n\nconn = psycopg.connect("postgresql://app@db/shop")\n'
    assert (_codes(tmp_path, rel, connect, "PGL304") == ["PGL304"]) is reported


@pytest.mark.parametrize("path, elsewhere", [
    ("synapse/storage/schema/main/delta/28/public_rooms_index.sql", True),
    ("persistence/sql/migrations/20230512112801000001_refresh_index.up.sql", True),
    ("persistence/sql/migrations/20190400000005000000_oauth2.postgres.up.sql", False),
    ("synapse/storage/schema/main/delta/54/stats.sql.postgres", False),
    ("assets/migrations/postgres/002_add_version.sql", False),
    ("db/postgresql/V2__index.sql", False),
    ("db/pg/V2__index.sql", False),
    ("pgmq-extension/sql/pgmq--0.14.3--0.15.0.sql", True),  # `pgmq` is no PostgreSQL marker
])
def test_sql_may_run_elsewhere_unless_its_path_says_postgresql(path, elsewhere):
    def ctx(other: bool):
        return SimpleNamespace(model=SimpleNamespace(other_backends=other),
                               file=SimpleNamespace(path=Path(path)))

    assert may_run_elsewhere(ctx(True)) is elsewhere
    # A project that shows no other database runs every file on PostgreSQL.
    assert may_run_elsewhere(ctx(False)) is False
