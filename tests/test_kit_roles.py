"""One decision of "does this code run once?", from the file's role."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from pglint import engine
from pglint.config import parse_settings
from pglint.kit.roles import runs_once
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
