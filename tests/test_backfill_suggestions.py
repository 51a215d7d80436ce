"""PGL202's batch loop is SQL a user copies: it runs on PostgreSQL as written, batches on the
key the catalog knows (a uuid too: there is no min(uuid)), invents no key, and says where it
must run when the migration's runner wraps the file in a transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings


def _suggestion(root: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    settings = parse_settings({"select": ["PGL202"]}).with_overrides(root=root)
    [finding] = engine.lint([root], settings).findings
    return finding.fix.suggestion


@pytest.mark.parametrize("key_type,default", [
    ("bigint", "g"), ("uuid", "gen_random_uuid()"), ("text", "'k' || g"),
])
def test_the_batch_loop_runs_and_backfills_every_row(key_type, default, tmp_path, postgres):
    table = (f"CREATE TABLE items (id {key_type} PRIMARY KEY, flag boolean);\n"
             f"INSERT INTO items SELECT {default} FROM generate_series(1, 2500) g;\n")
    loop = _suggestion(tmp_path, {
        "migrations/V1__items.sql": table,
        "migrations/V2__backfill.sql": "UPDATE items SET flag = true WHERE flag IS NULL;\n"})
    assert "min(" not in loop and "COMMIT;" in loop
    with postgres.database() as database:
        for script in (table, loop):
            result = postgres.psql(database, script)
            assert result.returncode == 0, result.stderr + "\n" + loop
        left = postgres.psql(database, "DO $$ BEGIN IF EXISTS (SELECT FROM items WHERE flag IS "
                                       "NULL) THEN RAISE EXCEPTION 'rows left'; END IF; END $$;")
    assert left.returncode == 0, left.stderr


def test_no_key_no_loop(tmp_path):
    loop = _suggestion(tmp_path, {
        "migrations/V1__log.sql": "CREATE TABLE log (at timestamptz, line text);\n",
        "migrations/V2__backfill.sql": "UPDATE log SET line = '' WHERE line IS NULL;\n"})
    assert "DO $$" not in loop and "no single-column primary or unique key" in loop


def test_a_runner_that_wraps_the_file_sends_the_loop_out_of_the_migration(tmp_path):
    loop = _suggestion(tmp_path, {
        "db/migrations/20240101000000_items.sql":
            "-- migrate:up\nCREATE TABLE items (id bigint PRIMARY KEY, flag boolean);\n",
        "db/migrations/20240102000000_backfill.sql":
            "-- migrate:up\nUPDATE items SET flag = true WHERE flag IS NULL;\n"})
    assert loop.startswith("-- This migration's runner wraps the file in one transaction"), loop


def test_a_backfill_in_an_alembic_string_keeps_its_condition(tmp_path, postgres):
    # Implicitly joined string literals and `IS DISTINCT FROM` (no FROM clause): the loop
    # writes the condition whole, and it runs.
    loop = _suggestion(tmp_path, {
        "migrations/versions/a1_items.py": (
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            "revision = \"a1\"\ndown_revision = None\n\n\ndef upgrade():\n"
            "    op.create_table(\"items\", sa.Column(\"id\", sa.Integer(), primary_key=True),\n"
            "                    sa.Column(\"flag\", sa.Boolean()))\n"),
        "migrations/versions/b2_fill.py": (
            "from alembic import op\n\nrevision = \"b2\"\ndown_revision = \"a1\"\n\n\n"
            "def upgrade():\n    op.execute(\n        \"UPDATE items SET flag = false \"\n"
            "        \"WHERE flag IS DISTINCT FROM true\"\n    )\n")})
    assert "AND (flag IS DISTINCT FROM true)" in loop and "\nFROM true" not in loop, loop
    table = ("CREATE TABLE items (id integer PRIMARY KEY, flag boolean);\n"
             "INSERT INTO items SELECT g, NULL FROM generate_series(1, 1500) g;\n")
    with postgres.database() as database:
        for script in (table, loop):
            result = postgres.psql(database, script)
            assert result.returncode == 0, result.stderr + "\n" + loop
