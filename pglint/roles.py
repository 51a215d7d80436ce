"""What each file is to the project: its role, decided once when the file is found and read.

A file's kind says how it is parsed and replayed (migration, sql, pgbench, python); its role says
what its statements are evidence of and which rules judge it. A `CREATE INDEX` in a migration
about to run is a lock to take in production; the same statement in a down migration, a pg_dump
schema, a test's setup file or a one-off repair script is not. Each rule declares the roles it
judges (`Rule.roles`); workload evidence comes only from run-time code.

The role is decided from the path, then from the text (a pg_dump header, a goose section, a
sqlc query name); `[tool.pglint.roles]` (glob -> role) overrides both. `pglint check
--show-files` prints each file's role and why it was given.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from pglint.sql.lexer import SQL_COMMENT

MIGRATION = "migration"  # an up migration: replayed into the catalog, lock rules apply
DOWN_MIGRATION = "down-migration"  # undoes a migration: linted for syntax only, never evidence
SCHEMA_DUMP = "schema-dump"  # pg_dump output, Rails structure.sql: the catalog, not workload
TEST = "test"  # tests, fixtures, seed and test data: no run-time findings, never evidence
SCRIPT = "script"  # one-off and maintenance scripts: judged as a one-off run
APPLICATION = "application"  # run-time SQL and Python: workload evidence, run-time rules
LOAD_TEST = "load-test"  # pgbench scripts: judged as load tests, never workload evidence
OTHER_DIALECT = "other-dialect"  # SQLite, MySQL, ...: not read at all

ROLES = (MIGRATION, DOWN_MIGRATION, SCHEMA_DUMP, TEST, SCRIPT, APPLICATION, LOAD_TEST,
         OTHER_DIALECT)
# What a rule judges unless it says otherwise: code that runs against production.
RUN_TIME_ROLES = frozenset({MIGRATION, APPLICATION, LOAD_TEST})
# Roles whose files are parsed and linted at all (an other dialect is only listed).
LINTED_ROLES = frozenset(ROLES) - {OTHER_DIALECT}

OTHER_DIALECT_NAMES = {"sqlite", "sqlite3", "mysql", "mariadb", "cockroach", "cockroachdb", "crdb",
                   "clickhouse", "mssql", "sqlserver", "tsql", "oracle", "spanner", "duckdb",
                   "snowflake", "bigquery", "redshift", "h2", "hsqldb", "derby", "db2",
                   "dolt", "tidb",  # MySQL-compatible servers
                   "sqlanywhere", "sybase", "firebird", "informix", "teradata", "vertica",
                   "hana", "exasol", "singlestore", "memsql",
                   # query engines over files, and EDB's Oracle-compatible server
                   "trino", "presto", "athena", "hive", "spark", "databricks", "ppas"}
_TEST_DIRS = {"test", "tests", "__tests__", "testdata", "test_data", "testing", "spec", "specs",
              "fixtures", "fixture", "seeds", "seed", "seeders", "seeding", "testhelpers", "testutil", "testutils",
              "e2e", "integration_tests", "conftest",
              # Examples and docs show SQL; nothing runs it in production.
              "examples", "example", "samples", "sample", "demo", "demos", "docs", "doc"}
# Anywhere in the path, only the unambiguous ones (not `oracle_sync.sql`).
_GLUED_DIALECT = re.compile(r"sqlite|mysql|mariadb|cockroach|clickhouse|mssql|sqlserver|duckdb")
_SCRIPT_DIRS = {"script", "scripts", "bin", "admin", "maintenance", "oneoff", "one-off",
                "one_off", "fixes", "adhoc", "ad-hoc", "ad_hoc",
                "data-migrations", "data_migrations"}  # SQL run by hand once, between releases
_TEST_FILE = re.compile(r"(?:^tests?[_.-]|^syntax_test_|_tests?\.\w+$|^conftest\.py$|test.?data|^seeds?[._-])",
                        re.IGNORECASE)
# Python modules of seed data and fixtures (only Python: `..._seed.sql` may be a migration that
# updates seed data in production).
_PYTHON_TEST_FILE = re.compile(r"^seed(?:ers?|ing)\.py$|_seeds?\.py$|^fixtures?\.py$",
                               re.IGNORECASE)
# Folders whose Python runs with the migrations: the migrations themselves (recognised by their
# text when read, pglint.loading) and the modules beside them (helpers, Alembic's env.py).
MIGRATION_CODE_DIRS = {"migrations", "migration", "alembic"}
# Python load tests (locust and the like), which live beside or inside tests.
_LOAD_TEST_FILE = re.compile(r"^locustfile.*\.py$|load.*test.*\.py$|^bench.*\.py$", re.IGNORECASE)
_LOAD_TEST_DIRS = {"loadtest", "loadtests", "load_test", "load_tests", "load-tests", "locust"}
_WORDS = re.compile(r"[a-z0-9]+")

# Text markers, read from the start of the file (dumps and tool headers come first).
_PG_DUMP = re.compile(r"^--\s*PostgreSQL database dump\b", re.MULTILINE)
_DUMP_PREAMBLE = re.compile(
    r"^SET\s+statement_timeout\s*=\s*0\s*;.*?^SELECT\s+pg_catalog\.set_config\(\s*'search_path'",
    re.MULTILINE | re.DOTALL | re.IGNORECASE)
_SQLC_QUERY = re.compile(r"^--\s*name:\s*\w+\s*:(?:one|many|exec|execrows|execresult|execlastid|"
                         r"copyfrom|batchexec|batchmany|batchone)\b", re.MULTILINE)
# A table created for good (not a session's TEMP table): outside migrations, the mark of a
# schema definition (an install schema, sqlc's schema, an extension's install script).
_CREATE_TABLE = re.compile(r"^[ \t]*CREATE[ \t]+(?:UNLOGGED[ \t]+)?TABLE\b",
                           re.MULTILINE | re.IGNORECASE)
_GOOSE_UP = re.compile(r"^--\s*\+goose\s+up\b", re.MULTILINE | re.IGNORECASE)
_DBMATE_UP = re.compile(r"^--\s*migrate:up\b", re.MULTILINE)
_SQL_MIGRATE_UP = re.compile(r"^--\s*\+migrate\s+up\b", re.MULTILINE | re.IGNORECASE)
_LIQUIBASE = re.compile(r"^--\s*liquibase\s+formatted\s+sql\b", re.MULTILINE | re.IGNORECASE)
# A migration its runner replaces with `SELECT 1;` (supabase/storage's postgres-migrations
# runner, for migrations withdrawn after they ran): history, and no evidence of what runs now.
_RUNNER_SKIPS = re.compile(r"^--[ \t]*postgres-migrations[ \t]+ignore\b", re.MULTILINE)
# What PostgreSQL has no form of: MySQL's table options, character sets and `*.*` grants,
# `CREATE DATABASE IF NOT EXISTS`, SQLite's pragmas and conflict clauses, `ALTER TABLE t MODIFY`.
_MYSQL_SYNTAX = re.compile(r"\bENGINE\s*=\s*(?:InnoDB|MyISAM|MEMORY)\b|\bAUTO_INCREMENT\b|"
                           r"\bAUTOINCREMENT\b|\bPRAGMA\s+\w+|\butf8mb[34]\b|\bON\s+\*\.\*|"
                           r"\bCREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\b|"
                           r"\b(?:TINY|SMALL|MEDIUM|BIG)?INT(?:EGER)?(?:\(\d+\))?\s+UNSIGNED\b|"
                           # SQLite's conflict clauses and trigger RAISE, MySQL's REPLACE
                           r"\bINSERT\s+OR\s+(?:IGNORE|REPLACE|ABORT|FAIL|ROLLBACK)\b|"
                           r"\bREPLACE\s+INTO\b|\bWITHOUT\s+ROWID\b|"
                           r"\bRAISE\s*\(\s*(?:ABORT|IGNORE|FAIL|ROLLBACK)\b|"
                           # MySQL's and Oracle's way of changing a column
                           r"\bALTER\s+TABLE\s+\S+\s+MODIFY\b|"
                           # MySQL's index hints, SQLite's STRICT tables
                           r"\b(?:USE|FORCE|IGNORE)\s+INDEX\s*\(|\)\s*(?:WITHOUT\s+ROWID\s*,\s*)?STRICT\s*;",
                           re.IGNORECASE)
# Backtick-quoted names (MySQL, SQLite, BigQuery, Spark): PostgreSQL quotes names with `"`.
_BACKTICK_NAME = re.compile(r"\b(?:FROM|JOIN|INTO|TABLE|UPDATE|MERGE|EXISTS|VIEW|ON|BY)\s+`[^`\n]+`",
                            re.IGNORECASE)
# SQL Server's temporary tables and existence tests (also OHDSI's SqlRender templates), and
# Trino's, Spark's and SQL Server's TRY_CAST: not PostgreSQL.
_OTHER_ENGINE_SYNTAX = re.compile(
    r"\b(?:INTO|FROM|JOIN|TABLE|UPDATE|EXISTS)\s+#\w|\bIF\s+OBJECT_ID\s*\(|\bTRY_CAST\s*\(",
    re.IGNORECASE)
# ClickHouse's table engines, types and mutations: an analytics store beside PostgreSQL, not
# a database the same migrations also run on.
_CLICKHOUSE_SYNTAX = re.compile(r"\bENGINE\s*=\s*[A-Za-z]\w*|\bLowCardinality\s*\(|"
                                # typed query parameters: `{since:DateTime}`
                                r"\{\w+:\s*[A-Z]\w*(?:\([^)]*\))?\}|"
                                r"\bALTER\s+TABLE\s+\S+\s+(?:ON\s+CLUSTER\s+\S+\s+)?"
                                r"(?:DELETE|UPDATE\s+\w+\s*=[^;]*?)\s+WHERE\b", re.IGNORECASE)
# Redshift's late-binding views, distribution and sort keys, column encodings.
_REDSHIFT_SYNTAX = re.compile(r"\bWITH\s+NO\s+SCHEMA\s+BINDING\b|\b(?:DISTKEY|SORTKEY)\s*\(|"
                              r"\bDISTSTYLE\s+(?:ALL|EVEN|KEY|AUTO)\b|\bENCODE\s+(?:ZSTD|LZO|AZ64|"
                              r"RAW|BYTEDICT|DELTA32K|DELTA|RUNLENGTH|MOSTLY(?:8|16|32)|TEXT255|"
                              r"TEXT32K)\b", re.IGNORECASE)
# ClickHouse's column types, written as ClickHouse spells them (PostgreSQL has none of these
# names): `name String`, `score Float32`, `tags Array(String)`.
# (A column of a list, ending in `,`: not a line of COPY data, `key\tInt64`.)
_CLICKHOUSE_TYPES = re.compile(r"(?m)^[ \t]*\w+[ \t]+(?:String|U?Int(?:8|16|32|64|128|256)|"
                               r"Float(?:32|64)|DateTime64)\b[^\n,]*,|"
                               r"\b(?:Array|Nullable)\((?:String|U?Int\d+|"
                               r"Float\d+|DateTime|Date|UUID)\b")
# Each with what `--show-files` says of a file that holds it.
_OTHER_SYNTAX = ((_MYSQL_SYNTAX, "MySQL, SQLite or Oracle syntax"),
                 (_BACKTICK_NAME, "backtick-quoted names (MySQL, SQLite, BigQuery)"),
                 (_OTHER_ENGINE_SYNTAX, "SQL Server or Trino syntax"),
                 (_CLICKHOUSE_SYNTAX, "ClickHouse syntax"),
                 (_CLICKHOUSE_TYPES, "ClickHouse column types"),
                 (_REDSHIFT_SYNTAX, "Redshift syntax"))
# Stores that sit beside PostgreSQL for analytics: their files show no second backend.
ANALYTICS_DIALECTS = re.compile(r"clickhouse|bigquery|snowflake|redshift|duckdb|spanner",
                                re.IGNORECASE)


@dataclass(frozen=True)
class RoleDecision:
    """A file's role and the reason shown by `--show-files`."""

    role: str
    reason: str
    configured: bool = False  # set by [tool.pglint.roles]: the text never overrides it
    # Found in a project whose migrations build the schema (pglint.discover): a file outside
    # them that creates tables is a copy of that schema, not the schema itself.
    beside_migrations: bool = False


def _words(part: str) -> set[str]:
    return set(_WORDS.findall(part.lower()))


# A versioned migration's name: its version, then its description up to the first dot.
_VERSIONED_NAME = re.compile(r"^(v?\d+(?:[._]\d+)*)(?:__|_|-)[^.]*")


def _without_description(part: str) -> str:
    """A migration's file or folder name without the words that describe the change:
    `007_outbox_sqlite_cleanup.up.sql` -> `007.up.sql`; other names unchanged."""
    return _VERSIONED_NAME.sub(r"\1", part, count=1)


def role_from_path(rel: str, kind: str, replay: bool = True,
                   configured: tuple[tuple[str, str], ...] = ()) -> RoleDecision:
    """The role of a file from its path relative to the project root and what discovery made
    of it (its kind; `replay` False for a down or undo migration); the configured globs
    (`[tool.pglint.roles]`) win."""
    posix = rel.replace("\\", "/")
    for pattern, role in configured:
        if fnmatch.fnmatch(posix, pattern) or ("/" not in pattern
                                               and fnmatch.fnmatch(posix.rsplit("/", 1)[-1],
                                                                   pattern)):
            return RoleDecision(role, f"configured: {pattern}", configured=True)
    parts = posix.lower().split("/")
    folders, name = parts[:-1], parts[-1]
    # A migration's name after its version says what it changes, not for which database
    # (river's `007_notification_outbox_sqlite_jsonb_and_sql_cleanup.up.sql` is PostgreSQL's,
    # civitai's `20250123000929_hive_demographics/`); a dialect as a part of its own after a
    # dot (`..._nid.sqlite.up.sql`) still counts.
    dialect_parts = [_without_description(p) for p in parts] if kind == "migration" else parts
    for words in map(_words, dialect_parts[:-1]):
        dialect = words & OTHER_DIALECT_NAMES
        if dialect:
            return RoleDecision(OTHER_DIALECT, f"{sorted(dialect)[0]} in the path")
    # Run together with other words too: `riversqlite/`, `schema_sqlite3.sql`, `initmysql.sql`.
    # Not the name of a Python migration: it says what the revision changes
    # (`enable_millisecond_precision_in_mysql`), and the revision is a link of the chain
    # whatever database runs it.
    migration_dirs = [p for p in folders if p in MIGRATION_CODE_DIRS]
    python_migration = kind == "python" and bool(migration_dirs)
    glued = _GLUED_DIALECT.search("/".join(folders) if python_migration
                                  else "/".join(dialect_parts))
    if glued:
        return RoleDecision(OTHER_DIALECT, f"{glued.group()} in the path")
    if kind == "python" and (_LOAD_TEST_FILE.search(name) or any(p in _LOAD_TEST_DIRS
                                                                  for p in folders)):
        return RoleDecision(LOAD_TEST, "a load test's name")
    tests = [p for p in folders if p in _TEST_DIRS or p.startswith(("pytest_", "pytest-"))]
    if tests:
        return RoleDecision(TEST, f"in {tests[0]}/")
    if _TEST_FILE.search(name) or (kind == "python" and _PYTHON_TEST_FILE.search(name)):
        return RoleDecision(TEST, "a test or seed file name")
    migration_code = migration_dirs or [
        # Synapse-style schema deltas: `schema/main/delta/69/01as_txn_seq.py` beside the SQL.
        f"{p}/{folders[i + 1]}" for i, p in enumerate(folders[:-1])
        if p in ("delta", "deltas") and folders[i + 1].isdigit()]
    if kind == "python" and migration_code:
        return RoleDecision(SCRIPT, f"in {migration_code[0]}/: runs with the migrations")
    if kind == "python" and any(p == "management" and folders[i + 1] == "commands"
                                for i, p in enumerate(folders[:-1])):
        # Django's `manage.py <command>`: run by hand, once (sample data, imports, repairs).
        return RoleDecision(SCRIPT, "a Django management command")
    if kind == "migration":
        return RoleDecision(MIGRATION, "migration layout") if replay else \
            RoleDecision(DOWN_MIGRATION, "down or undo migration layout")
    if kind == "pgbench":
        return RoleDecision(LOAD_TEST, "pgbench script")
    scripts = [p for p in folders if p in _SCRIPT_DIRS]
    if scripts:
        return RoleDecision(SCRIPT, f"in {scripts[0]}/")
    if name == "structure.sql":
        return RoleDecision(SCHEMA_DUMP, "Rails structure.sql")
    if "full_schemas" in folders:
        # The whole schema at one version, for new databases (Synapse): the catalog, not workload.
        return RoleDecision(SCHEMA_DUMP, "a full schema snapshot")
    if name in ("migrations.sql", "migration.sql"):
        # A file collecting migrations run by hand (liberapay's archive): one-off, not run time.
        return RoleDecision(SCRIPT, "a file of migrations run by hand")
    return RoleDecision(APPLICATION, "application code" if kind == "python"
                        else "SQL outside migrations")


# A down migration written to refuse a rollback ("This migration is irreversible").
_REFUSES_ROLLBACK = re.compile(r"\birreversible\b|\bnot\s+reversible\b|"
                               r"\bcannot\s+be\s+(?:reverted|undone|rolled\s+back)\b",
                               re.IGNORECASE)


def refuses_rollback(text: str) -> bool:
    """Whether a down migration says it exists to stop a rollback (graph-node's `raise 'This
    migration is irreversible'`): it fails whether or not it parses, so its syntax errors are
    not reported."""
    return bool(_REFUSES_ROLLBACK.search(text[:20_000]))


# Why such a migration counts as applied (`--show-files`).
SKIPPED_BY_RUNNER = "applied: its runner skips it (`-- postgres-migrations ignore`)"


def skipped_by_runner(text: str) -> bool:
    """Whether a migration says its runner does not run it any more (`-- postgres-migrations
    ignore`): databases that ran it keep what it made, new ones never run it. Judged as an
    applied migration, and no precedent for the others."""
    return bool(_RUNNER_SKIPS.search(text[:20_000]))


def role_from_text(decision: RoleDecision, kind: str, text: str) -> RoleDecision:
    """The role once the file's text is known (`kind` as the text settled it): a pgbench
    script, a dump, a sqlc query file or a file of another dialect is recognised by what it
    holds. A configured role is never changed."""
    if decision.configured or kind == "python":
        return decision
    if kind == "pgbench" and decision.role == APPLICATION:
        return RoleDecision(LOAD_TEST, "pgbench commands")
    head = text[:20_000]
    if decision.role in (APPLICATION, MIGRATION, SCRIPT) and (
            _PG_DUMP.search(head) or _DUMP_PREAMBLE.search(head)):
        return RoleDecision(SCHEMA_DUMP, "pg_dump header" if _PG_DUMP.search(head)
                            else "pg_dump preamble")
    code = SQL_COMMENT.sub(" ", head) if decision.role in (APPLICATION, MIGRATION, SCRIPT,
                                                           DOWN_MIGRATION) \
        else ""  # not "-- autoincrement id"
    if text.startswith("#!"):
        return RoleDecision(OTHER_DIALECT, "a program (`#!` on its first line), not SQL")
    for syntax, what in _OTHER_SYNTAX:
        if syntax.search(code):
            return RoleDecision(OTHER_DIALECT, what)
    if decision.role == APPLICATION:
        if _SQLC_QUERY.search(head):
            return RoleDecision(APPLICATION, "sqlc queries")
        for pattern, what in ((_GOOSE_UP, "goose"), (_DBMATE_UP, "dbmate"),
                              (_SQL_MIGRATE_UP, "sql-migrate"),
                              (_LIQUIBASE, "Liquibase")):
            if pattern.search(head):
                return RoleDecision(MIGRATION, f"{what} migration")
        if _CREATE_TABLE.search(text):
            # An install schema (`schema.sql`), sqlc's schema files, an extension's table
            # script: they build a database once; their statements are not the application's
            # workload. Beside migrations they repeat what the migrations build (replaying
            # both would make every table older than the migration that creates it): linted,
            # not replayed. Alone, they are the schema, replayed like a dump.
            if decision.beside_migrations:
                return RoleDecision(SCRIPT, "creates tables beside the migrations: a copy of "
                                            "the schema they build")
            return RoleDecision(SCHEMA_DUMP, "creates tables outside migrations: the schema")
    return decision


def parse_roles(table: object, where: str) -> tuple[tuple[str, str], ...]:
    """`[tool.pglint.roles]` as (glob, role) pairs; raises ValueError with a message naming
    what is wrong."""
    if not isinstance(table, dict):
        raise ValueError(f"`roles` must be a table of glob = role ({where})")
    pairs = []
    for glob, role in table.items():
        if role not in ROLES:
            raise ValueError(f"roles.{glob}: unknown role {role!r} (known: {', '.join(ROLES)}; "
                             f"in {where})")
        pairs.append((glob, role))
    return tuple(pairs)
