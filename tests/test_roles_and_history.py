"""File roles (what each file is to the project) and history (which migrations have run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pglint.roles import role_from_path, role_from_text
from tests.test_cli import run
from tests.test_scope import _git

# The project migrates a live database: its first migration bounds its lock waits.
ORDERS = "SET lock_timeout = '5s';\nCREATE TABLE orders (id bigint PRIMARY KEY, status text);\n"
ADD_NOTE = "ALTER TABLE orders ADD COLUMN note text;\n"
ADD_INDEX = "CREATE INDEX orders_status_idx ON orders (status);\n"


@pytest.mark.parametrize(("rel", "kind", "role"), [
    ("migrations/V2__note.sql", "migration", "migration"),
    ("db/migrations/20200806205355_x/up.sql", "migration", "migration"),
    ("db/migrations/20200806205355_x/down.sql", "migration", "down-migration"),
    ("sql/revert/add-index.sql", "migration", "down-migration"),
    ("tests/fixtures/schema.sql", "sql", "test"),
    ("src/__tests__/reset-db.sql", "sql", "test"),
    ("database/seeds/static/academics.sql", "sql", "test"),
    ("sql/test-schema.sql", "sql", "test"),
    ("app/tests/test_views.py", "python", "test"),
    ("app/conftest.py", "python", "test"),
    ("app/views_test.py", "python", "test"),
    ("loadtests/locustfile.py", "python", "load-test"),
    ("scripts/fix_orders.sql", "sql", "script"),
    ("db/postgresql/data-migrations/populate-revenue-table.sql", "sql", "script"),
    ("bin/backfill.py", "python", "script"),
    ("db/structure.sql", "sql", "schema-dump"),
    ("synapse/storage/schema/main/full_schemas/72/full.sql.postgres", "sql", "schema-dump"),
    ("store/migration/sqlite/0.5/01.sql", "migration", "other-dialect"),
    ("riverdriver/riversqlite/migration/main/004.up.sql", "migration", "other-dialect"),
    ("db/clickhouse/migrations/01_init.sql", "migration", "other-dialect"),
    ("persistence/sql/migrations/1_init.mysql.up.sql", "migration", "other-dialect"),
    # A migration's name after its version describes the change: a dialect there is no sign
    # (river's PostgreSQL driver, a Prisma migration's folder); as a part after a dot it is.
    ("riverdriver/riverpgxv5/migration/main/007_notification_outbox_sqlite_jsonb_and_sql_cleanup"
     ".up.sql", "migration", "migration"),
    ("prisma/migrations/20250123000929_hive_demographics/migration.sql", "migration", "migration"),
    ("db/migrations/V7__import_from_mysql.sql", "migration", "migration"),
    ("persistence/sql/migrations/20220210000001000075_nid.sqlite.up.sql", "migration",
     "other-dialect"),
    ("riverdriver/riversqlite/migration/main/001_create_river_migration.up.sql", "migration",
     "other-dialect"),
    ("db/sqlite/0001_init.sql", "migration", "other-dialect"),
    ("development/dolt/init.sql", "sql", "other-dialect"),
    # An Alembic revision's name says what it changes: still a link of the chain.
    ("migrations/versions/46a278193a94_enable_millisecond_precision_in_mysql_.py", "python",
     "script"),
    ("alembic/versions/sqlite/0001_init.py", "python", "other-dialect"),
    ("koku/masu/database/trino_sql/aws/summary.sql", "sql", "other-dialect"),
    ("web/templates/dbms_jobs/ppas/16_plus/run_job.sql", "sql", "other-dialect"),
    # A pytest plugin package is test code.
    ("packages/pytest-simcore/src/pytest_simcore/postgres_service.py", "python", "test"),
    ("queries/orders.sql", "sql", "application"),
    ("examples/booktest/schema.sql", "sql", "test"),
    # A syntax highlighter's test file (Sublime syntax tests, vendored with their grammars).
    ("assets/syntaxes/Packages/SQL/syntax_test_sql.sql", "sql", "test"),
    ("sql/migrations.sql", "sql", "script"),
    ("sql/updates/2.14.2--2.15.0.sql", "migration", "migration"),
    ("app/models.py", "python", "application"),
    # Python that runs once: seeders, seed and fixture modules, and modules in a migrations
    # folder that are not migrations themselves (a Django or Alembic migration is recognised
    # by its text and becomes a migration when it is read).
    ("app/seeders/users.py", "python", "test"),
    ("app/seeding/users.py", "python", "test"),
    ("app/users_seeds.py", "python", "test"),
    ("app/seeder.py", "python", "test"),
    ("app/fixtures.py", "python", "test"),
    ("app/fixture.py", "python", "test"),
    # ... but a migration named after the seed data it updates is a migration.
    ("database/seed-updates/20220730120602_update_volunteer_seed.sql", "migration", "migration"),
    ("shop/migrations/0002_backfill.py", "python", "script"),
    ("shop/migrations/__init__.py", "python", "script"),
    ("alembic/versions/3f2a_add_index.py", "python", "script"),
    ("alembic/env.py", "python", "script"),
    # Django management commands are run by hand (sample data, imports, repairs): one-off; the
    # management package's other modules are not commands.
    ("taiga/projects/management/commands/sample_data.py", "python", "script"),
    ("app/management/base.py", "python", "application"),
    ("app/commands/ship.py", "python", "application"),
    ("app/api/versions.py", "python", "application"),
    ("app/migrate.py", "python", "application"),
])
def test_role_from_the_path(rel, kind, role):
    replay = not rel.endswith("down.sql") and "/revert/" not in rel
    assert role_from_path(rel, kind, replay).role == role


def test_configured_roles_win_over_the_path():
    decision = role_from_path("tests/sql/app_queries.sql", "sql",
                              configured=(("tests/sql/*.sql", "application"),))
    assert decision.role == "application" and "configured" in decision.reason
    # A configured role is not second-guessed by the text either.
    assert role_from_text(decision, "sql", "-- PostgreSQL database dump\n").role == "application"


@pytest.mark.parametrize(("text", "role"), [
    ("--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\n", "schema-dump"),
    ("SET statement_timeout = 0;\nSET lock_timeout = 0;\n"
     "SELECT pg_catalog.set_config('search_path', '', false);\n", "schema-dump"),
    ("-- name: GetUser :one\nSELECT * FROM users WHERE id = $1;\n", "application"),
    ("-- +goose Up\nCREATE TABLE t (id int);\n", "migration"),
    ("-- migrate:up\nCREATE TABLE t (id int);\n", "migration"),
    ("CREATE TABLE t (id int AUTO_INCREMENT) ENGINE=InnoDB;\n", "other-dialect"),
    # A MySQL server's set-up (nautobot's `development/dolt-init.sql`): nothing PostgreSQL has.
    ("CREATE DATABASE IF NOT EXISTS app;\n", "other-dialect"),
    ("ALTER DATABASE app CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;\n", "other-dialect"),
    ("GRANT ALL PRIVILEGES ON *.* TO 'app'@'%';\n", "other-dialect"),
    ("GRANT SELECT ON ALL TABLES IN SCHEMA public TO app;\n", "application"),
    ("SELECT * FROM orders;\n", "application"),
    # SQLite's conflict clauses and trigger RAISE, ClickHouse's engines and types.
    ("INSERT OR IGNORE INTO tags (name) VALUES (?);\n", "other-dialect"),
    ("CREATE TRIGGER t BEFORE DELETE ON a BEGIN SELECT RAISE(ABORT, 'no'); END;\n",
     "other-dialect"),
    ("CREATE TABLE e (kind LowCardinality(String)) ENGINE = MergeTree ORDER BY kind;\n",
     "other-dialect"),
    ("ALTER TABLE events_month\nDELETE WHERE version < 4;\n", "other-dialect"),
    # Backtick-quoted names: BigQuery's `project.dataset.table`, MySQL's `name`.
    ("CREATE TABLE IF NOT EXISTS `proj.ds.transactions` (version INT64);\n", "other-dialect"),
    ("MERGE `proj.ds.items` AS t USING staging AS s ON t.id = s.id\n"
     "WHEN MATCHED THEN DELETE;\n", "other-dialect"),
    ("SELECT '`quoted`' FROM t; -- FROM `x`\n", "application"),
    # Oracle's and MySQL's MODIFY; ClickHouse's engines of every kind.
    ("alter table ACT_RU_TASK modify (NAME_ NVARCHAR2(255));\n", "other-dialect"),
    ("CREATE OR REPLACE TABLE d AS logs\nENGINE=Merge(currentDatabase(), '^x$');\n",
     "other-dialect"),
    # SQL Server's (and OHDSI SqlRender's) temp tables and tests, Trino's TRY_CAST, MySQL's
    # index hints, SQLite's STRICT tables.
    ("select person_id into #cohorts from @cdm.person;\n", "other-dialect"),
    ("IF OBJECT_ID('tempdb..#x', 'U') IS NOT NULL DROP TABLE #x;\n", "other-dialect"),
    ("SELECT try_cast(fhir_id AS BIGINT) FROM t;\n", "other-dialect"),
    ("SELECT * FROM icinga_downtimehistory USE INDEX (PRIMARY) WHERE id > 1;\n",
     "other-dialect"),
    ("CREATE TABLE users (id TEXT NOT NULL PRIMARY KEY) STRICT;\n", "other-dialect"),
    # ClickHouse's typed query parameters; a shell script that ends in `.sql`.
    ("SELECT * FROM pnos WHERE d > {since:DateTime} QUALIFY 1;\n", "other-dialect"),
    ("#!/bin/sh\npsql dataverse_db -f reference_data.sql\n", "other-dialect"),
    # ClickHouse's column types as ClickHouse spells them, with no ENGINE clause (trieve).
    ("CREATE TABLE IF NOT EXISTS x (\n    id UUID,\n    name String,\n    split Float32\n)\n"
     "ORDER BY (id);\n", "other-dialect"),
    ("ALTER TABLE events ADD COLUMN tags Array(String) DEFAULT [];\n", "other-dialect"),
    ("CREATE TABLE t (name string, n int8, f float8, a text[]);\n", "schema-dump"),
    # COPY data that holds such a word is data.
    ("COPY settings (key, kind) FROM stdin;\nmax_items\tInt64\nname\tString\n\\.\n",
     "application"),
    # Redshift: a late-binding view (openalex), distribution and sort keys.
    ("CREATE VIEW v AS SELECT id FROM mid.work\nWITH NO SCHEMA BINDING;\n", "other-dialect"),
    ("CREATE TABLE w (id bigint ENCODE az64) DISTKEY (id) SORTKEY (id);\n", "other-dialect"),
    # Words in a comment are not syntax (civitai's "-- Add autoincrement id column").
    ("-- Add autoincrement id column\nALTER TABLE t ADD COLUMN id serial;\n", "application"),
    ("INSERT INTO tags (name) VALUES ($1) ON CONFLICT DO NOTHING;\n", "application"),
    ("ALTER TABLE tags ADD COLUMN note text;\nDELETE FROM tags WHERE id = 1;\n", "application"),
    # SQL outside migrations that creates tables is a schema: an install schema, sqlc's schema.
    ("CREATE TABLE t (id int);\nCREATE INDEX t_id ON t (id);\n", "schema-dump"),
    ("  create unlogged table t (id int);\n", "schema-dump"),
    # A session's scratch table is the application's own business.
    ("CREATE TEMP TABLE scratch (id int);\nINSERT INTO scratch SELECT 1;\n", "application"),
])
def test_role_from_the_text(text, role):
    assert role_from_text(role_from_path("sql/x.sql", "sql"), "sql", text).role == role


def _clone_with_history(tmp_path: Path) -> Path:
    """A clone whose upstream holds V1 and V2 (applied), with a new V3 and non-migrations."""
    upstream = tmp_path / "upstream"
    (upstream / "migrations").mkdir(parents=True)
    # The lock rules are off by default: the project turns them on.
    (upstream / "pglint.toml").write_text('extend-select = ["PGL301", "PGL501"]\n'
                                          'size-evidence = false\n')
    (upstream / "migrations" / "V1__orders.sql").write_text(ORDERS)
    (upstream / "migrations" / "V2__note.sql").write_text(ADD_NOTE)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", ".")
    _git(upstream, "commit", "-q", "-m", "applied")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(upstream), str(clone))
    (clone / "migrations" / "V3__index.sql").write_text(ADD_INDEX)
    for folder, name in (("tests", "seed.sql"), ("db", "structure.sql")):
        (clone / folder).mkdir()
        (clone / folder / name).write_text(ADD_NOTE + ADD_INDEX)
    (clone / "migrations" / "V3__index.down.sql").write_text("DROP INDEX orders_status_idx;\n")
    return clone


def _codes_by_file(stdout: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for line in stdout.splitlines():
        if ": PGL" in line:
            path, rest = line.split(":", 1)
            found.setdefault(path, set()).add(rest.split(": ", 1)[1].split()[0])
    return found


def test_applied_migrations_get_no_lock_findings_by_default(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=clone)
    found = _codes_by_file(result.stdout)
    # Only the new migration is judged for locks; the applied one, the down migration, the
    # seed file and the dump are not.
    assert set(found) == {"migrations/V3__index.sql"}, result.stdout
    assert {"PGL301", "PGL501"} <= found["migrations/V3__index.sql"]
    every = run("check", "--no-cache", "--output-format", "concise", "--all-migrations", ".",
                cwd=clone)
    assert "PGL301" in _codes_by_file(every.stdout).get("migrations/V2__note.sql", set())


def test_show_files_says_what_each_file_is_and_why(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    shown = run("check", "--show-files", ".", cwd=clone)
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split("  ", 1) for line in shown.stdout.splitlines())
    assert lines["migrations/V2__note.sql"].startswith("migration (migration layout; applied:")
    assert "new: changed since the merge base" in lines["migrations/V3__index.sql"]
    assert lines["migrations/V3__index.down.sql"].startswith("down-migration")
    assert lines["tests/seed.sql"].startswith("test (in tests/)")
    assert lines["db/structure.sql"].startswith("schema-dump")


def test_fix_never_edits_an_applied_migration(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    applied = (clone / "migrations" / "V2__note.sql").read_bytes()
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=clone)
    assert result.returncode in (0, 1), result.stderr
    assert (clone / "migrations" / "V2__note.sql").read_bytes() == applied
    assert (clone / "migrations" / "V3__index.sql").read_text() != ADD_INDEX  # the new one is


def test_applied_migrations_from_the_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    (tmp_path / "migrations").mkdir()
    for name, sql in (("V1__orders.sql", ORDERS), ("V2__note.sql", ADD_NOTE),
                      ("V3__index.sql", ADD_INDEX)):
        (tmp_path / "migrations" / name).write_text(sql)
    (tmp_path / "pglint.toml").write_text('applied-migrations = "V2__*"\n'
                                          'extend-select = ["PGL301", "PGL501"]\n'
                                          'size-evidence = false\n')
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert set(_codes_by_file(result.stdout)) == {"migrations/V3__index.sql"}, result.stdout
    shown = run("check", "--show-files", ".", cwd=tmp_path)
    assert "applied: applied-migrations = 'V2__*'" in shown.stdout


ALEMBIC = """from alembic import op

revision = "{rev}"
down_revision = {down}


def upgrade():
    op.execute("{sql}")
"""


def test_applied_migrations_follow_the_alembic_revision_chain(tmp_path, monkeypatch):
    # File names out of apply order: the chain (a -> b -> c) decides, not the names.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    versions = tmp_path / "alembic" / "versions"
    versions.mkdir(parents=True)
    for name, rev, down in (("3_base.py", "a", "None"), ("1_second.py", "b", '"a"'),
                            ("2_third.py", "c", '("b",)')):
        sql = ORDERS.strip().replace("\n", " ") if rev == "a" else \
            f"CREATE INDEX ix_{rev} ON orders (status)"
        (versions / name).write_text(ALEMBIC.format(rev=rev, down=down, sql=sql))
    (tmp_path / "pglint.toml").write_text(
        'applied-migrations = ["1_second.py"]\nextend-select = ["PGL501"]\n'
        'size-evidence = false\n')
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert set(_codes_by_file(result.stdout)) == {"alembic/versions/2_third.py"}, result.stdout
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert "applied: applied-migrations = '1_second.py'" in shown  # the base too
    assert shown.count("applied: applied-migrations") == 2, shown


def test_applied_migrations_are_one_glob_per_stream(tmp_path, monkeypatch):
    # One glob for the SQL migrations, one for a Django app's: each cuts its own stream.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    (tmp_path / "migrations").mkdir()
    for name, sql in (("V1__orders.sql", ORDERS), ("V2__index.sql", ADD_INDEX),
                      ("V3__index.sql", ADD_INDEX.replace("orders_status", "orders_s2"))):
        (tmp_path / "migrations" / name).write_text(sql)
    app = tmp_path / "shop" / "migrations"
    app.mkdir(parents=True)
    for name in ("0001_initial.py", "0002_index.py", "0003_index.py"):
        (app / name).write_text(
            "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
            "    operations = [migrations.RunSQL('CREATE INDEX ix_%s ON orders (status)')]\n"
            % name[:4])
    (tmp_path / "pglint.toml").write_text(
        'applied-migrations = ["V2__*", "shop/migrations/0002_*"]\n'
        'extend-select = ["PGL501"]\nsize-evidence = false\n')
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert set(_codes_by_file(result.stdout)) == {
        "migrations/V3__index.sql", "shop/migrations/0003_index.py"}, result.stdout


def test_applied_migrations_must_be_names(tmp_path):
    (tmp_path / "pglint.toml").write_text("applied-migrations = [1]\n")
    result = run("check", ".", cwd=tmp_path)
    assert result.returncode == 2 and "applied-migrations" in result.stderr


def test_pre_commit_names_the_new_migrations(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    (clone / "migrations" / "V2__note.sql").write_text(ADD_NOTE + ADD_INDEX)  # edited history
    result = run("check", "--no-cache", "--output-format", "concise", "--project",
                 "migrations/V3__index.sql", cwd=clone)
    assert set(_codes_by_file(result.stdout)) == {"migrations/V3__index.sql"}, result.stdout


def test_diff_base_decides_which_migrations_are_new(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    head = _git(clone, "rev-parse", "HEAD").strip()
    (clone / "migrations" / "V2__note.sql").write_text(ADD_INDEX)  # history rewritten
    result = run("check", "--no-cache", "--output-format", "concise", "--diff-base", head,
                 cwd=clone)
    found = _codes_by_file(result.stdout)
    assert "migrations/V2__note.sql" in found  # changed since the base: new again
    assert "migrations/V1__orders.sql" not in found


def test_no_git_means_every_migration_is_new(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__orders.sql").write_text(ORDERS)
    (tmp_path / "migrations" / "V2__note.sql").write_text(ADD_NOTE)
    result = run("check", "--no-cache", "--output-format", "concise", "--extend-select",
                 "PGL301", ".", cwd=tmp_path)
    assert "PGL301" in _codes_by_file(result.stdout).get("migrations/V2__note.sql", set())


def test_a_schema_beside_migrations_is_a_copy_and_alone_it_is_the_schema(tmp_path):
    """An install schema repeats what the migrations build: it is linted, not replayed (else
    every table would look older than the migration that creates it). Without migrations the
    same file is the schema, and the queries are judged against it."""
    (tmp_path / "migrations").mkdir()
    (tmp_path / "pglint.toml").write_text('select = ["PGL501"]\nlock-evidence = "exists"\n'
                                          'size-evidence = false\n')
    (tmp_path / "migrations" / "V1__orders.sql").write_text(ORDERS)
    (tmp_path / "migrations" / "V2__index.sql").write_text(ADD_INDEX)
    (tmp_path / "schema.sql").write_text(ORDERS + ADD_INDEX)
    shown = run("check", "--show-files", ".", cwd=tmp_path)
    lines = dict(line.split("  ", 1) for line in shown.stdout.splitlines())
    assert lines["schema.sql"].startswith("script (creates tables beside the migrations"), \
        shown.stdout
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    # The index build on the table V1 made is judged; the copy is not (a dump takes no locks).
    assert set(_codes_by_file(result.stdout)) == {"migrations/V2__index.sql"}, result.stdout

    alone = tmp_path / "alone"
    (alone / "queries").mkdir(parents=True)
    (alone / "schema.sql").write_text(ORDERS)
    (alone / "queries" / "orders.sql").write_text("SELECT * FROM orders;\n")
    shown = run("check", "--show-files", ".", cwd=alone)
    assert "schema.sql  schema-dump (creates tables outside migrations: the schema)" in \
        shown.stdout, shown.stdout


def test_other_dialects_are_not_read(tmp_path):
    (tmp_path / "migrations" / "sqlite").mkdir(parents=True)
    (tmp_path / "migrations" / "sqlite" / "V1__init.sql").write_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT) WITHOUT ROWID;\n")
    result = run("check", "--no-cache", "--extend-select", "PGL901", "--output-format", "concise",
                 ".", cwd=tmp_path)
    assert result.returncode == 0 and "PGL901" not in result.stdout, result.stdout
    shown = run("check", "--show-files", ".", cwd=tmp_path)
    assert "other-dialect (sqlite in the path)" in shown.stdout


def test_a_file_named_for_another_database_beside_its_postgres_twin(tmp_path):
    # camunda's `upgrade/` and `create/` folders: one script per database, named for it.
    for rel in ("upgrade/oracle_engine_7.5_to_7.6.sql", "upgrade/postgres_engine_7.5_to_7.6.sql",
                "create/activiti.db2.create.engine.sql", "create/activiti.postgres.create.engine.sql",
                "migrations/V3__remove_oracle_column_default.sql"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("alter table ACT_RU_TASK modify NAME_ null;\n"
                                    if "postgres" not in rel else "SELECT 1;\n")
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    for rel in ("upgrade/oracle_engine_7.5_to_7.6.sql", "create/activiti.db2.create.engine.sql"):
        assert f"{rel}  other-dialect (" in shown and "beside its PostgreSQL twin" in shown, shown
    # No twin: the name alone is no evidence (the file is other-dialect by its MODIFY only).
    assert "V3__remove_oracle_column_default.sql  other-dialect (MySQL, SQLite or Oracle syntax)" \
        in shown, shown


def test_a_migration_named_for_another_database_beside_the_same_without_it(tmp_path):
    # The word in a migration's description is no sign by itself (`0003_add_sqlite_support`),
    # but beside the same name without it, the plain file is PostgreSQL's and this one not.
    for rel in ("migrations/0001_init.sql", "migrations/0001_init_sqlite.sql",
                "migrations/000002_users.up.sql", "migrations/000002_users_mysql.up.sql",
                "migrations/0003_add_sqlite_support.sql"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("SELECT 1;\n")
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert ("migrations/0001_init_sqlite.sql  other-dialect (sqlite in the name, beside the "
            "same file without it)") in shown, shown
    assert "migrations/000002_users_mysql.up.sql  other-dialect (mysql in the name" in shown
    for rel in ("0001_init.sql", "000002_users.up.sql", "0003_add_sqlite_support.sql"):
        assert f"migrations/{rel}  migration" in shown, shown


def test_a_folder_beside_its_postgres_twin_is_another_database(tmp_path):
    # rauthy: `migrations/hiqlite/` (SQLite) beside `migrations/postgres/`, the same names.
    for folder in ("hiqlite", "postgres"):
        (tmp_path / "migrations" / folder).mkdir(parents=True)
        (tmp_path / "migrations" / folder / "1_init.sql").write_text("SELECT 1;\n")
    (tmp_path / "migrations" / "hiqlite" / "2_only_here.sql").write_text("SELECT 2;\n")
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert "migrations/hiqlite/1_init.sql  other-dialect (hiqlite/ beside a postgres/" in shown
    assert "migrations/postgres/1_init.sql  migration" in shown
    assert "migrations/hiqlite/2_only_here.sql  migration" in shown, shown


@pytest.mark.parametrize(("other", "postgres", "reason"), [
    # ranger: one folder per database, each with the same `patches/` below it.
    ("db/sqlanywhere/patches/066-add-table.sql", "db/postgres/patches/066-add-table.sql",
     "sqlanywhere in the path"),
    ("db/h3/patches/066-add-table.sql", "db/postgres/patches/066-add-table.sql",
     "h3/ beside a postgres/ folder of the same files"),
    # mCaptcha: a crate per database, named alike.
    ("db/db-sqlx-maria/migrations/1_users.sql", "db/db-sqlx-postgres/migrations/1_users.sql",
     "db-sqlx-maria/ beside db-sqlx-postgres/, a folder of the same files"),
])
def test_a_folder_above_a_file_beside_its_postgres_twin_is_another_database(
        tmp_path, other, postgres, reason):
    for rel in (other, postgres):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("SELECT 1;\n")
    (tmp_path / "db" / "shared").mkdir()
    (tmp_path / "db" / "shared" / "1_users.sql").write_text("SELECT 1;\n")
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert f"{other}  other-dialect ({reason})" in shown, shown
    assert f"{postgres}  other-dialect" not in shown
    assert "db/shared/1_users.sql  other-dialect" not in shown, shown


def test_a_pg_regress_input_is_a_test(tmp_path):
    # Its errors are what the test expects (`expected/expr.out` records them).
    (tmp_path / "regress" / "sql").mkdir(parents=True)
    (tmp_path / "regress" / "expected").mkdir()
    (tmp_path / "regress" / "sql" / "expr.sql").write_text("SELECT [1;\n")
    (tmp_path / "regress" / "expected" / "expr.out").write_text("ERROR:  syntax error\n")
    (tmp_path / "regress" / "sql" / "other.sql").write_text("SELECT 1;\n")
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert "regress/sql/expr.sql  test (a pg_regress input (expected/expr.out))" in shown
    assert "regress/sql/other.sql  test" not in shown, shown


def test_prisma_migrations_of_another_provider_are_another_dialect(tmp_path):
    # Prisma records its datasource's provider beside the migrations it generated for it.
    for app, provider in (("web", "mysql"), ("api", "postgresql")):
        folder = tmp_path / app / "prisma" / "migrations"
        (folder / "20240101000000_init").mkdir(parents=True)
        (folder / "20240101000000_init" / "migration.sql").write_text(
            "CREATE TABLE `User` (`id` INTEGER NOT NULL AUTO_INCREMENT, PRIMARY KEY (`id`));\n"
            if provider == "mysql" else 'CREATE TABLE "User" ("id" SERIAL PRIMARY KEY);\n')
        (folder / "migration_lock.toml").write_text(
            "# Please do not edit this file manually\n"
            f'provider = "{provider}"\n')
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert ("web/prisma/migrations/20240101000000_init/migration.sql  other-dialect "
            "(Prisma's migration_lock.toml: provider = \"mysql\")") in shown, shown
    assert "api/prisma/migrations/20240101000000_init/migration.sql  migration" in shown
    result = run("check", "--no-cache", "--select", "ALL", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout  # the MySQL file is not read as PostgreSQL


def test_syntax_errors_a_file_reports(tmp_path):
    # PostgreSQL stops at a file's first error: one finding, saying how many more fail.
    # (Syntax errors in application SQL are reported when PGL901 is chosen.)
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL901"]\n')
    (tmp_path / "two.sql").write_text("SELEC 1;\nSELECT 2;\nSELECT 3;\nSELEC 4;\n")
    # Most statements failing: another database's SQL or a template, not mistakes.
    (tmp_path / "tsql.sql").write_text("SELEC 1;\nSELEC 2;\nSELEC 3;\nSELECT 4;\n")
    # A PL/pgSQL body other code includes in a function (omnigres' catalog).
    (tmp_path / "catalog.sql").write_text(
        "if current_setting('omni.x', true) = 'on' then\n  create view v as select 1;\n"
        "else\n  create view v as select 2;\nend if;\n")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    lines = [line for line in result.stdout.splitlines() if "PGL901" in line]
    assert lines == ['two.sql:1:1: PGL901 syntax error at or near "SELEC" (and 1 more '
                     "statement PostgreSQL cannot parse)"], result.stdout
    shown = run("check", "--show-files", ".", cwd=tmp_path).stdout
    assert "3 of 4 statements do not parse as PostgreSQL" in shown
    assert "a PL/pgSQL body that other code includes" in shown


def test_a_templates_control_statements_hide_its_syntax_errors(tmp_path):
    # Nominatim's Jinja SQL keeps both branches of `{% if %}` in the text; a plain file with
    # the same mistake is still reported.
    body = ("{% if debug %}\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n"
            "{% else %}\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 2 $$ LANGUAGE sql;\n"
            "{% endif %}\nSELEC 1;\n")
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL901"]\n')
    (tmp_path / "functions.sql").write_text(body)
    (tmp_path / "plain.sql").write_text("SELEC 1;\n")
    # A Go template's branch for MySQL (focalboard), the C preprocessor's include (citus).
    (tmp_path / "go.sql").write_text("{{if .mysql}}\nSET @n = NULL;\n{{end}}\nSELECT 1;\n")
    (tmp_path / "cpp.sql").write_text('#include "udfs/f/9.2-2.sql"\nSELECT 1;\n')
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert "plain.sql:1:1: PGL901" in result.stdout and "functions.sql" not in result.stdout
    assert "go.sql" not in result.stdout and "cpp.sql" not in result.stdout, result.stdout


def test_an_unknown_configured_role_is_a_clear_error(tmp_path):
    (tmp_path / "pglint.toml").write_text('[roles]\n"db/*.sql" = "seed"\n')
    (tmp_path / "q.sql").write_text("SELECT 1;\n")
    result = run("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2 and "unknown role 'seed'" in result.stderr
    assert "Traceback" not in result.stderr


def test_versioned_folders_order_migrations_and_postgres_variants_win(tmp_path):
    from pglint.config import Settings
    from pglint.discover import discover

    for rel in ("migration/0.22/03__tag.sql", "migration/0.31/02__user.sql",
                "migration/0.3/05__init.sql",
                "migrations/20220210000001_nid.up.sql",
                "migrations/20220210000001_nid.postgres.autocommit.up.sql",
                "migrations/20241609000001_flow.autocommit.up.sql",
                "migrations/20241609000001_flow.postgres.up.sql"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("SELECT 1;\n")
    found, errors = discover([tmp_path], Settings(root=tmp_path))
    assert not errors
    ordered = [c.rel for c in found if c.rel.startswith("migration/")]
    assert ordered == ["migration/0.3/05__init.sql", "migration/0.22/03__tag.sql",
                       "migration/0.31/02__user.sql"]
    roles = {c.rel: c.role.role for c in found}
    assert roles["migrations/20220210000001_nid.up.sql"] == "other-dialect"
    assert roles["migrations/20220210000001_nid.postgres.autocommit.up.sql"] == "migration"
    assert roles["migrations/20241609000001_flow.autocommit.up.sql"] == "other-dialect"
    assert roles["migrations/20241609000001_flow.postgres.up.sql"] == "migration"


def test_schema_deltas_are_migrations_in_the_order_of_their_folders(tmp_path):
    from pglint.config import Settings
    from pglint.discover import discover

    for rel in ("schema/main/delta/54/renewal.sql", "schema/main/delta/9/add_index.sql",
                "schema/main/delta/54/account.sql.postgres"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("SELECT 1;\n")
    found, errors = discover([tmp_path], Settings(root=tmp_path))
    assert not errors
    assert [(c.rel, c.role.role) for c in found] == [
        ("schema/main/delta/9/add_index.sql", "migration"),
        ("schema/main/delta/54/account.sql.postgres", "migration"),
        ("schema/main/delta/54/renewal.sql", "migration")]


def test_all_migrations_in_the_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone = _clone_with_history(tmp_path)
    (clone / "pglint.toml").write_text('extend-select = ["PGL301", "PGL501"]\nsize-evidence = false\n'
                                       'all-migrations = true\n')
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=clone)
    assert "PGL301" in _codes_by_file(result.stdout).get("migrations/V2__note.sql", set())
    (clone / "pglint.toml").write_text('all-migrations = "yes"\n')
    bad = run("check", "--no-cache", ".", cwd=clone)
    assert bad.returncode == 2 and "`all-migrations` must be true or false" in bad.stderr


def _revision(revision: str, down: str, body: str) -> str:
    return (f'"""r"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            f'revision = "{revision}"\ndown_revision = {down}\n\n\n'
            f"def upgrade():\n{body}\n")


def test_a_merge_revision_links_the_alembic_chain(tmp_path):
    # File names sort the rename and the index before the table they act on; only the chain,
    # through a merge revision with an empty upgrade(), puts them after it.
    versions = tmp_path / "alembic" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "alembic" / "env.py").write_text("from alembic import context\n")
    files = {
        "9a_initial.py": _revision("a1", "None", '    op.execute("SET lock_timeout = 5000")\n'
                                   '    op.create_table("packages", '
                                   'sa.Column("id", sa.BigInteger()))'),
        "5b_other.py": _revision("b1", '"a1"', '    op.create_table("other", '
                                 'sa.Column("id", sa.BigInteger()))'),
        "5c_third.py": _revision("b2", '"a1"', '    op.create_table("third", '
                                 'sa.Column("id", sa.BigInteger()))'),
        "0m_merge.py": '"""merge"""\nrevision = "m"\ndown_revision = ("b1", "b2")\n\n\n'
                       "def upgrade():\n    pass\n",
        "0c_rename.py": _revision("c", '"m"', '    op.rename_table("packages", "projects")'),
        "0d_index.py": _revision("d", '"c"', '    op.create_index("projects_id_idx", '
                                 '"projects", ["id"])'),
    }
    for name, text in files.items():
        (versions / name).write_text(text)
    (tmp_path / "queries.sql").write_text("SELECT id FROM projects;\n")
    (tmp_path / "pglint.toml").write_text("size-evidence = false\n")  # every table is big
    shown = run("check", "--no-cache", "--show-files", ".", cwd=tmp_path)
    assert "alembic/versions/0m_merge.py  migration (Alembic revision" in shown.stdout, \
        shown.stdout
    result = run("check", "--no-cache", "--select", "PGL501", "--output-format", "concise",
                 ".", cwd=tmp_path)
    assert result.stdout.startswith(
        "alembic/versions/0d_index.py:10:5: PGL501 `CREATE INDEX` on `projects`"), result.stdout


def test_new_files_are_told_by_their_real_path_through_symlinks(tmp_path):
    """A file named through a symlinked folder, or a symlink to a file, is the file its real
    path is (history compares real paths, each folder resolved once)."""
    import os

    from pglint.history import _real_path

    real = tmp_path / "real" / "migrations"
    real.mkdir(parents=True)
    (real / "V1__a.sql").write_text("SELECT 1;\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (real / "V2__b.sql").symlink_to(real / "V1__a.sql")
    folders: dict[str, str] = {}
    for path in (tmp_path / "link" / "migrations" / "V1__a.sql", real / "V1__a.sql",
                 real / "V2__b.sql", tmp_path / "link" / "migrations" / "V2__b.sql",
                 Path(os.path.relpath(real / "V1__a.sql")), real / "missing.sql"):
        assert _real_path(path, folders) == os.path.realpath(path)


def test_sql_that_sqlc_reads_for_another_engine_is_another_dialect(tmp_path):
    (tmp_path / "sqlc.yaml").write_text(
        'version: "2"\nsql:\n'
        '  - engine: "sqlite"\n    schema: "db/sqlite/schema.sql"\n    queries: "db/queries/"\n'
        '  - schema:\n      - "db/pg/schema.sql"\n    queries: ["db/pg/queries.sql"]\n'
        '    engine: postgresql\n')
    for rel, text in (("db/sqlite/schema.sql", "CREATE TABLE tags (id integer);\n"),
                      ("db/queries/tags.sql", "-- name: GetTag :one\n"
                                              "SELECT * FROM tags WHERE id = ?;\n"),
                      ("db/pg/schema.sql", "CREATE TABLE tags (id bigint);\n"),
                      ("db/pg/queries.sql", "-- name: GetTag :one\n"
                                            "SELECT * FROM tags WHERE id = $1;\n")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    shown = run("check", "--show-files", ".", cwd=tmp_path)
    lines = dict(line.split("  ", 1) for line in shown.stdout.splitlines())
    assert lines["db/queries/tags.sql"] == \
        "other-dialect (sqlc.yaml reads it for engine sqlite)"
    assert lines["db/sqlite/schema.sql"].startswith("other-dialect")
    assert lines["db/pg/queries.sql"].startswith("application")
    assert lines["db/pg/schema.sql"].startswith("schema-dump")
    # The `?` placeholder is SQLite's, not a syntax error; named alone, below the config too.
    for args in ((".",), ("db/queries",), ("db/queries/tags.sql",)):
        result = run("check", "--no-cache", "--extend-select", "PGL901", *args, cwd=tmp_path)
        assert result.returncode == 0 and "PGL901" not in result.stdout, (args, result.stdout)


def test_sqlc_configurations_of_both_versions_are_read():
    from pglint.sqlc_config import other_engine_paths

    v1 = ('{"version": "1", "packages": [{"name": "db", "engine": "mysql", '
          '"schema": ["s1.sql", "s2.sql"], "queries": "q/"}, '
          '{"engine": "postgresql", "schema": "pg.sql", "queries": "pgq/"}]}')
    assert other_engine_paths("/p/sqlc.json", v1) == [
        ("/p/s1.sql", "mysql"), ("/p/s2.sql", "mysql"), ("/p/q", "mysql")]
    v2 = ('version: "2"\nsql:\n- schema:\n  - "a.sql"   # the schema\n  - b.sql\n'
          "  queries: 'q'\n  engine: sqlite\n  gen:\n    go:\n      out: x\n")
    assert other_engine_paths("/p/sqlc.yaml", v2) == [
        ("/p/a.sql", "sqlite"), ("/p/b.sql", "sqlite"), ("/p/q", "sqlite")]
    assert other_engine_paths("/p/sqlc.json", "{not json") == []


def test_a_down_migration_written_to_refuse_a_rollback_gets_no_syntax_error(tmp_path):
    # graph-node's `raise 'This migration is irreversible';`: it fails either way.
    folder = tmp_path / "migrations" / "2022-10-13-000000_track"
    folder.mkdir(parents=True)
    (folder / "up.sql").write_text("CREATE TABLE t (id int);\n")
    (folder / "down.sql").write_text("raise 'This migration is irreversible';\n")
    chosen = ("check", "--no-cache", "--extend-select", "PGL901", ".")
    assert run(*chosen, cwd=tmp_path).returncode == 0
    (folder / "down.sql").write_text("ALTER TABLE t DROP IF EXISTS COLUMN id;\n")
    assert "PGL901" in run(*chosen, cwd=tmp_path).stdout
