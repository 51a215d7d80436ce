"""The lock-safety rules on whole migrations, as a project meets them: one new migration holding
every dangerous schema change, each on a table an applied migration created, gets a finding for
each statement; the same changes written with each rule's safe recipe get none; and both files
get none when the tables are created in the same change (by the same file, or by another
migration that has not run either), but for `CONCURRENTLY` inside a transaction block, which
fails on any table."""

from __future__ import annotations

import re

import pytest

from tests.test_cli import run

TABLES = """\
CREATE TABLE parents (id bigint PRIMARY KEY);
CREATE TABLE t_index (id bigint PRIMARY KEY, a int);
CREATE TABLE t_dropidx (id bigint PRIMARY KEY, a int);
CREATE INDEX t_dropidx_a_idx ON t_dropidx (a);
CREATE TABLE t_reindex (id bigint PRIMARY KEY, a int);
CREATE INDEX t_reindex_a_idx ON t_reindex (a);
CREATE TABLE t_txn (id bigint PRIMARY KEY, a int);
CREATE TABLE t_fk (id bigint PRIMARY KEY, parent_id bigint);
CREATE TABLE t_check (id bigint PRIMARY KEY, a int);
CREATE TABLE t_notnull (id bigint PRIMARY KEY, a int);
CREATE TABLE t_unique (id bigint PRIMARY KEY, a int);
CREATE TABLE t_type (id bigint PRIMARY KEY, a int, label varchar(20));
CREATE TABLE t_volatile (id bigint PRIMARY KEY, a int);
CREATE TABLE t_generated (id bigint PRIMARY KEY, a int);
CREATE TABLE t_tablespace (id bigint PRIMARY KEY, a int);
CREATE TABLE t_logged (id bigint PRIMARY KEY, a int);
CREATE TABLE t_vacuum (id bigint PRIMARY KEY, a int);
CREATE TABLE t_cluster (id bigint PRIMARY KEY, a int);
CREATE INDEX t_cluster_a_idx ON t_cluster (a);
CREATE TABLE t_addnotnull (id bigint PRIMARY KEY, a int);
CREATE TABLE t_dropcol (id bigint PRIMARY KEY, a int, legacy int);
CREATE TABLE t_renamecol (id bigint PRIMARY KEY, a int, old_name int);
CREATE TABLE t_droptable (id bigint PRIMARY KEY, a int);
CREATE TABLE t_renametable (id bigint PRIMARY KEY, a int);
"""

# Each dangerous statement, one per line, and the rule that must report it.
DANGEROUS = (
    # A new table's foreign key locks the existing `parents` against writes: PGL301 asks for
    # a lock_timeout (it reports the file's first such statement).
    ("CREATE TABLE t_child (id bigint PRIMARY KEY,"
     " parent_id bigint REFERENCES parents (id));", "PGL301"),
    ("CREATE INDEX t_index_a_idx ON t_index (a);", "PGL501"),
    ("DROP INDEX t_dropidx_a_idx;", "PGL502"),
    ("REINDEX INDEX t_reindex_a_idx;", "PGL503"),
    ("BEGIN;", None),
    ("CREATE INDEX CONCURRENTLY t_txn_a_idx ON t_txn (a);", "PGL504"),
    ("COMMIT;", None),
    ("ALTER TABLE t_fk ADD CONSTRAINT t_fk_parent_fk"
     " FOREIGN KEY (parent_id) REFERENCES parents (id);", "PGL505"),
    ("ALTER TABLE t_check ADD CONSTRAINT t_check_a_positive CHECK (a > 0);", "PGL506"),
    ("ALTER TABLE t_notnull ALTER COLUMN a SET NOT NULL;", "PGL507"),
    ("ALTER TABLE t_unique ADD CONSTRAINT t_unique_a_key UNIQUE (a);", "PGL510"),
    ("ALTER TABLE t_type ALTER COLUMN a TYPE bigint;", "PGL508"),
    ("ALTER TABLE t_volatile ADD COLUMN token uuid DEFAULT gen_random_uuid();", "PGL508"),
    ("ALTER TABLE t_generated ADD COLUMN doubled int GENERATED ALWAYS AS (a * 2) STORED;",
     "PGL508"),
    ("ALTER TABLE t_tablespace SET TABLESPACE pg_default;", "PGL508"),
    ("ALTER TABLE t_logged SET UNLOGGED;", "PGL508"),
    ("VACUUM FULL t_vacuum;", "PGL508"),
    ("CLUSTER t_cluster USING t_cluster_a_idx;", "PGL508"),
    ("ALTER TABLE t_addnotnull ADD COLUMN b int NOT NULL;", "PGL509"),
    ("ALTER TABLE t_dropcol DROP COLUMN legacy;", "PGL511"),
    ("ALTER TABLE t_renamecol RENAME COLUMN old_name TO new_name;", "PGL511"),
    ("DROP TABLE t_droptable;", "PGL511"),
    ("ALTER TABLE t_renametable RENAME TO t_renamed;", "PGL511"),
)

# The same changes, each written the way its rule's help says; the drops and renames come after
# the application stopped naming what they remove (APP_AFTER).
SAFE = """\
SET lock_timeout = '2s';
CREATE TABLE t_child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parents (id));
CREATE INDEX CONCURRENTLY t_index_a_idx ON t_index (a);
DROP INDEX CONCURRENTLY t_dropidx_a_idx;
REINDEX INDEX CONCURRENTLY t_reindex_a_idx;
CREATE INDEX CONCURRENTLY t_txn_a_idx ON t_txn (a);
ALTER TABLE t_fk ADD CONSTRAINT t_fk_parent_fk
    FOREIGN KEY (parent_id) REFERENCES parents (id) NOT VALID;
ALTER TABLE t_fk VALIDATE CONSTRAINT t_fk_parent_fk;
ALTER TABLE t_check ADD CONSTRAINT t_check_a_positive CHECK (a > 0) NOT VALID;
ALTER TABLE t_check VALIDATE CONSTRAINT t_check_a_positive;
ALTER TABLE t_notnull ADD CONSTRAINT t_notnull_a_not_null CHECK (a IS NOT NULL) NOT VALID;
ALTER TABLE t_notnull VALIDATE CONSTRAINT t_notnull_a_not_null;
ALTER TABLE t_notnull ALTER COLUMN a SET NOT NULL;
ALTER TABLE t_notnull DROP CONSTRAINT t_notnull_a_not_null;
CREATE UNIQUE INDEX CONCURRENTLY t_unique_a_key ON t_unique (a);
ALTER TABLE t_unique ADD CONSTRAINT t_unique_a_key UNIQUE USING INDEX t_unique_a_key;
ALTER TABLE t_type ALTER COLUMN label TYPE text;
ALTER TABLE t_type ADD COLUMN a_big bigint;
ALTER TABLE t_volatile ADD COLUMN token uuid;
ALTER TABLE t_volatile ALTER COLUMN token SET DEFAULT gen_random_uuid();
ALTER TABLE t_generated ADD COLUMN doubled int GENERATED ALWAYS AS (a * 2) VIRTUAL;
VACUUM t_vacuum;
ALTER TABLE t_addnotnull ADD COLUMN b int NOT NULL DEFAULT 0;
ALTER TABLE t_dropcol DROP COLUMN legacy;
ALTER TABLE t_renamecol RENAME COLUMN old_name TO new_name;
DROP TABLE t_droptable;
ALTER TABLE t_renametable RENAME TO t_renamed;
"""

# The application reads every table (lock findings need run-time use: `lock-evidence`);
# before the change it still names what the change drops or renames, after it no longer does.
_READ = ("parents", "t_index", "t_dropidx", "t_reindex", "t_txn", "t_fk", "t_check",
         "t_notnull", "t_unique", "t_type", "t_volatile", "t_generated", "t_tablespace",
         "t_logged", "t_vacuum", "t_cluster", "t_addnotnull")
_READS = "".join(f"SELECT id FROM {table} WHERE id = $1;\n" for table in _READ)
APP_BEFORE = _READS + """\
SELECT legacy FROM t_dropcol WHERE id = $1;
SELECT old_name FROM t_renamecol WHERE id = $1;
SELECT a FROM t_droptable WHERE id = $1;
SELECT a FROM t_renametable WHERE id = $1;
"""
APP_AFTER = _READS + """\
SELECT a FROM t_dropcol WHERE id = $1;
SELECT new_name FROM t_renamecol WHERE id = $1;
SELECT a FROM t_renamed WHERE id = $1;
"""

DANGEROUS_SQL = "".join(statement + "\n" for statement, _code in DANGEROUS)
_FINDING = re.compile(r"^db/migrations/(\S+?):(\d+):\d+: (PGL\d+)", re.MULTILINE)


@pytest.fixture(autouse=True)
def _history_from_the_configuration(monkeypatch):
    # Which migrations have run is the point here: `applied-migrations` decides, not the
    # suite's judge-everything-as-new default.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)


def _findings(root) -> tuple[set[tuple[str, int, str]], str]:
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=root)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    found = {(name, int(line), code) for name, line, code in _FINDING.findall(result.stdout)}
    return found, result.stdout


def _project(root, files: dict[str, str], app: str, applied: str | None,
             evidence: str | None = None) -> None:
    # Every table counts as big: how big a table is, is a question of its own
    # (tests/test_online_migrations.py).
    config = 'select = ["PGL5", "PGL301"]\nsize-evidence = false\n'
    if evidence:
        config += f'lock-evidence = "{evidence}"\n'
    if applied:
        config += f'applied-migrations = ["{applied}"]\n'
    (root / "pglint.toml").write_text(config)
    (root / "db" / "migrations").mkdir(parents=True)
    for name, text in files.items():
        (root / "db" / "migrations" / name).write_text(text)
    (root / "queries").mkdir()
    (root / "queries" / "app.sql").write_text(app)


def test_each_dangerous_statement_on_an_applied_table_has_its_finding(tmp_path):
    _project(tmp_path, {"001_tables.sql": TABLES, "002_change.sql": DANGEROUS_SQL},
             APP_BEFORE, applied="001_*")
    found, out = _findings(tmp_path)
    expected = {("002_change.sql", line, code)
                for line, (_statement, code) in enumerate(DANGEROUS, start=1) if code}
    assert found == expected, out


def test_the_safe_recipes_have_no_finding(tmp_path):
    _project(tmp_path, {"001_tables.sql": TABLES, "002_change.sql": SAFE}, APP_AFTER,
             applied="001_*")
    found, out = _findings(tmp_path)
    assert found == set(), out


def _errors(name: str, change: str, first_line: int) -> set[tuple[str, int, str]]:
    """What stays reported on any table: `CONCURRENTLY` inside a transaction block is an
    error (25001) whoever uses the table, so PGL504 keeps its finding."""
    if change is not DANGEROUS_SQL:
        return set()
    line = next(i for i, (_s, code) in enumerate(DANGEROUS, start=first_line) if code == "PGL504")
    return {(name, line, "PGL504")}


@pytest.mark.parametrize("change", [DANGEROUS_SQL, SAFE], ids=["dangerous", "safe"])
def test_tables_created_by_a_migration_of_the_same_change_are_left_alone(tmp_path, change):
    # 000 has run; 001, which creates the tables, has not: nobody uses them yet.
    _project(tmp_path, {"000_settings.sql": "CREATE TABLE settings (k text PRIMARY KEY);\n",
                        "001_tables.sql": TABLES, "002_change.sql": change},
             APP_BEFORE, applied="000_*")
    found, out = _findings(tmp_path)
    assert found == _errors("002_change.sql", change, 1), out


@pytest.mark.parametrize("change", [DANGEROUS_SQL, SAFE], ids=["dangerous", "safe"])
def test_tables_created_earlier_in_the_same_file_are_left_alone(tmp_path, change):
    _project(tmp_path, {"000_settings.sql": "CREATE TABLE settings (k text PRIMARY KEY);\n",
                        "001_change.sql": TABLES + change},
             APP_BEFORE, applied="000_*")
    found, out = _findings(tmp_path)
    assert found == _errors("001_change.sql", change, TABLES.count("\n") + 1), out


def test_tables_the_application_never_names_are_left_alone(tmp_path):
    # pglint reads the application: a table it never names has no traffic to block.
    app = "".join(line + "\n" for line in APP_BEFORE.splitlines() if "t_index " not in line
                  and "t_type " not in line)
    _project(tmp_path, {"001_tables.sql": TABLES, "002_change.sql": DANGEROUS_SQL}, app,
             applied="001_*")
    found, out = _findings(tmp_path)
    lines = {line for line, (statement, _c) in enumerate(DANGEROUS, start=1)
             if " t_index " in statement or " t_type " in statement}
    assert len(lines) == 2 and not {f for f in found if f[1] in lines}, out
    assert len(found) == len([c for _s, c in DANGEROUS if c]) - 2, out


@pytest.mark.parametrize("app", ["", None], ids=["lock-evidence-exists", "no-application-code"])
def test_without_use_evidence_every_applied_table_counts(tmp_path, app):
    # `lock-evidence = "exists"` judges every table an applied migration created (squawk's
    # view); so does the default when pglint reads no run-time code at all (then PGL511,
    # which is about the application's own statements, has nothing to report).
    _project(tmp_path, {"001_tables.sql": TABLES, "002_change.sql": DANGEROUS_SQL},
             APP_BEFORE if app == "" else "", applied="001_*",
             evidence="exists" if app == "" else None)
    if app is None:
        (tmp_path / "queries" / "app.sql").unlink()
    found, out = _findings(tmp_path)
    expected = {("002_change.sql", line, code)
                for line, (_statement, code) in enumerate(DANGEROUS, start=1)
                if code and (app == "" or code != "PGL511")}
    assert found == expected, out


def test_use_evidence_meets_schema_qualified_and_renamed_tables(tmp_path):
    # The application's `users` is the migrations' `app.users` (its search_path); `packages`,
    # renamed `projects` by a later migration, is what the application reads today.
    _project(tmp_path, {
        "001_tables.sql": "CREATE SCHEMA app;\nCREATE TABLE app.users (id bigint, email text);\n"
                          "CREATE TABLE packages (id bigint, name text);\n",
        "002_indexes.sql": "CREATE INDEX users_email_idx ON app.users (email);\n"
                           "CREATE INDEX packages_name_idx ON packages (name);\n",
        "003_rename.sql": "SET lock_timeout = '2s';\nALTER TABLE packages RENAME TO projects;\n"},
        "SELECT id FROM users WHERE email = $1;\nSELECT id FROM projects WHERE name = $1;\n",
        applied="001_*")
    found, out = _findings(tmp_path)
    assert {(name, line, code) for name, line, code in found if code == "PGL501"} == {
        ("002_indexes.sql", 1, "PGL501"), ("002_indexes.sql", 2, "PGL501")}, out


def test_quoted_names_and_tables_a_schema_dump_also_defines_are_existing(tmp_path):
    # A quoted name keeps its case ("Orders"); a pg_dump snapshot beside the migrations shows
    # what production has, so the table it also defines is not a new one.
    dump = ("-- PostgreSQL database dump\n\nSET statement_timeout = 0;\n\n"
            "CREATE TABLE public.events (id bigint NOT NULL, kind text);\n")
    _project(tmp_path, {
        "001_tables.sql": "SET lock_timeout = '5s';\n"
                          'CREATE TABLE "Orders" (id bigint PRIMARY KEY, status text);\n'
                          "CREATE TABLE events (id bigint, kind text);\n",
        "002_indexes.sql": 'CREATE INDEX orders_status_idx ON "Orders" (status);\n'
                           "CREATE INDEX events_kind_idx ON events (kind);\n"},
        'SELECT id FROM "Orders" WHERE status = $1;\nSELECT id FROM events;\n',
        applied="001_*")
    (tmp_path / "db" / "schema.sql").write_text(dump)
    found, out = _findings(tmp_path)
    assert {(name, line, code) for name, line, code in found if code == "PGL501"} == {
        ("002_indexes.sql", 1, "PGL501"), ("002_indexes.sql", 2, "PGL501")}, out


def test_findings_name_a_table_as_the_migration_does_when_a_later_one_renames_it(tmp_path):
    # 002-007 change `packages`, one statement each; 008, a later migration, renames it
    # `projects`. Messages and the recipes' SQL, which run where those migrations do, say
    # `packages`.
    changes = ("CREATE INDEX packages_a_idx ON packages (a);",
               "ALTER TABLE packages ADD CONSTRAINT packages_a_check CHECK (a > 0);",
               "ALTER TABLE packages ALTER COLUMN a SET NOT NULL;",
               "ALTER TABLE packages ADD CONSTRAINT packages_a_key UNIQUE (a);",
               "ALTER TABLE packages ADD COLUMN b int NOT NULL;",
               "REINDEX TABLE packages;")
    files = {"001_tables.sql": "SET lock_timeout = '5s';\n"
                               "CREATE TABLE packages (id bigint PRIMARY KEY, a int);\n",
             **{f"00{i}_change.sql": sql + "\n" for i, sql in enumerate(changes, start=2)},
             "008_rename.sql": "ALTER TABLE packages RENAME TO projects;\n"}
    _project(tmp_path, files, "SELECT id FROM projects;\n", applied="001_*")
    result = run("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    import json

    findings = [f for f in json.loads(result.stdout) if "_change.sql" in f["filename"]]
    assert {f["code"] for f in findings} >= {"PGL501", "PGL503", "PGL506", "PGL507", "PGL509",
                                             "PGL510"}, result.stdout
    for finding in findings:
        fix = finding.get("fix") or {}
        shown = " ".join([finding["message"], fix.get("suggestion") or "",
                          *(e.get("content", "") for e in fix.get("edits") or ())])
        assert "projects" not in shown, finding
        if finding["code"] != "PGL301":
            assert "packages" in finding["message"], finding


@pytest.mark.parametrize(("path", "set_line"), [
    # The Supabase CLI sends a migration as one batch (one implicit transaction), sql-migrate
    # wraps a file in a transaction: the timeout must end with it.
    ("supabase/migrations/20260102000000_b.sql", "SET LOCAL lock_timeout = '5s';"),
    ("db/migrations/2_b.sql", "SET lock_timeout = '5s';"),
])
def test_a_lock_timeout_fix_is_local_where_the_runner_wraps_the_file(tmp_path, path, set_line):
    first = tmp_path / path.replace("20260102000000_b", "20260101000000_a").replace("2_b", "1_a")
    first.parent.mkdir(parents=True)
    first.write_text("CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n")
    (tmp_path / path).write_text("ALTER TABLE t ADD COLUMN n int;\n")
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL301"]\nlock-evidence = "exists"\n')
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / path).read_text() == f"{set_line}\nALTER TABLE t ADD COLUMN n int;\n"


def test_a_sql_migrate_file_gets_a_local_lock_timeout(tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.sql").write_text(
        "-- +migrate Up\nCREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n")
    (tmp_path / "migrations" / "2_b.sql").write_text(
        "-- +migrate Up\nALTER TABLE t ADD COLUMN n int;\n-- +migrate Down\n"
        "ALTER TABLE t DROP COLUMN n;\n")
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL301"]\nlock-evidence = "exists"\n')
    run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert (tmp_path / "migrations" / "2_b.sql").read_text() == (
        "-- +migrate Up\nSET LOCAL lock_timeout = '5s';\nALTER TABLE t ADD COLUMN n int;\n"
        "-- +migrate Down\nALTER TABLE t DROP COLUMN n;\n")


@pytest.mark.parametrize(("runner", "found"), [
    ("", True),
    # goalert's runner (Go) sets a lock_timeout on its connection; tildes' servers set one in
    # postgresql.conf: pglint reads neither, the configuration says so.
    ("runner-settings = { lock_timeout = 15000 }\n", False),
    ('runner-settings = { lock_timeout = "5s" }\n', False),
    ("runner-settings = { lock_timeout = 0 }\n", True),  # 0: no timeout
    ('runner-settings = { statement_timeout = "5s" }\n', True),  # another setting
])
def test_a_lock_timeout_the_runner_sets_counts_as_set(tmp_path, runner, found):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "1_a.sql").write_text(
        "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_i ON t (id);\n")
    (tmp_path / "migrations" / "2_b.sql").write_text("ALTER TABLE t ADD COLUMN n int;\n")
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL301"]\nlock-evidence = "exists"\n'
                                          + runner)
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert ("2_b.sql:1:1: PGL301" in result.stdout) is found, result.stdout + result.stderr
