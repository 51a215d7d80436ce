"""The lock each PGL5xx rule names is the lock PostgreSQL takes.

Each lock rule declares, as class attributes, the strongest table lock its statement takes
(`lock`, in PostgreSQL's words: "SHARE", "ACCESS EXCLUSIVE"), optionally the lock on the index
it rebuilds (`index_lock`), and how long it is held (`lock_held`: "instant", "scan", "build",
or "rewrite"). For every INVALID example, the example's earlier migrations run on a real
PostgreSQL 18, then the example's statements run inside a transaction that reads `pg_locks`
for its own backend before rolling back: the strongest mode held on a table must be the
declared one, and the table's `relfilenode` must change exactly when the rule says the table is
rewritten.

Statements that cannot run inside a transaction block (the CONCURRENTLY forms, PGL504's
subject) are exempt from the `pg_locks` check, since there is no transaction to read the locks
from before they finish: their rule declares `lock = None`, and this test checks instead that
PostgreSQL rejects them where the rule says they fail.
"""

from __future__ import annotations

import re
import pytest

from pglint.kit.locks import LOCK_MODES, pg_locks_mode
from pglint.kit.rewrites import FAST_DEFAULT_SINCE
from pglint.registry import all_rules
from pglint.kit.example_projects import LIVE_MIGRATIONS
from pglint.rule import Example, Rule
from tests.examples import make_project

LOCK_RULES = [rule for rule in all_rules() if rule.code.startswith("PGL5")]
MODE_NAMES = {pg_locks_mode(mode): mode for mode in LOCK_MODES}
HELD = {"instant", "scan", "build", "rewrite"}
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK)\b",
                                 re.IGNORECASE | re.MULTILINE)
# Statements the transaction below cannot hold: VACUUM refuses to run in a transaction block,
# and SET TABLESPACE needs a tablespace, which an example's migrations cannot create (it needs
# a directory on the server). test_rewrites_change_the_table_file runs both. A dropped table's
# lock cannot be read back: its pg_class row is gone inside the transaction.
OUTSIDE_THE_TEST_TRANSACTION = re.compile(
    r"^\s*VACUUM\b|\bSET\s+TABLESPACE\b|^\s*DROP\s+TABLE\b", re.IGNORECASE | re.MULTILINE)

# Read in the transaction, after the example's statements: every relation of the example's
# schema that this backend holds a lock on, with its kind and its storage file.
_LOCKS = """
SELECT 'lock', c.relname, c.relkind, l.mode, c.relfilenode
FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE l.pid = pg_backend_pid() AND s.nspname NOT IN ('pg_catalog', 'information_schema')
  AND s.nspname NOT LIKE 'pg_toast%';
"""
_FILES = """
SELECT '{tag}', c.relname, c.relfilenode FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND s.nspname NOT IN ('pg_catalog', 'information_schema');
"""


def _checked_examples(rule: type[Rule]) -> list[Example]:
    """The INVALID examples whose statements can run inside a test transaction (those written
    for an older `--target-version` included: the statement and its lock are the same)."""
    return [e for e in rule.INVALID if e.kind == "migration"
            and not TRANSACTION_CONTROL.search(e.sql)
            and not OUTSIDE_THE_TEST_TRANSACTION.search(e.sql)]


def _rows(output: str, tag: str) -> list[list[str]]:
    return [line.split("|")[1:] for line in output.splitlines() if line.startswith(tag + "|")]


def _strongest(modes: list[str]) -> str:
    return max((MODE_NAMES[m] for m in modes), key=LOCK_MODES.index)


@pytest.mark.parametrize("rule", LOCK_RULES, ids=lambda rule: rule.code)
def test_lock_rule_declares_its_lock(rule):
    assert hasattr(rule, "lock"), f"{rule.code} declares no `lock`"
    assert rule.roles == frozenset({"migration"}) and rule.judges_applied_migrations is False
    if rule.lock is None:
        return
    assert rule.lock in LOCK_MODES, rule.lock
    assert rule.lock_held in HELD, rule.lock_held
    doc = " ".join(rule.doc().split())  # a mode name may wrap across lines
    assert rule.lock in doc, f"{rule.code}'s documentation does not name {rule.lock}"
    assert _checked_examples(rule), f"{rule.code} has no INVALID example to run in a transaction"


@pytest.mark.parametrize(
    "rule,index,example",
    [pytest.param(rule, i, example, id=f"{rule.code}-invalid-{rule.INVALID.index(example)}")
     for rule in LOCK_RULES if getattr(rule, "lock", None)
     for i, example in enumerate(_checked_examples(rule))])
def test_postgres_takes_the_lock_the_rule_names(rule, index, example, postgres, tmp_path):
    # The rule fires on it and its message names the lock.
    project = make_project(tmp_path, rule, example)
    findings = project.lint(rule.code)
    assert findings and all(rule.lock in f.message for f in findings), findings
    with postgres.database() as database:
        for script in project.migrations():
            setup = postgres.psql(database, script)
            assert setup.returncode == 0, setup.stderr
        # Not UTC, as a production session need not be: timestamp to timestamptz rewrites.
        script = ("SET TimeZone = 'America/New_York';\n" + _FILES.format(tag="before")
                  + f"BEGIN;\n{example.sql}\n;\n{_LOCKS}"
                  + _FILES.format(tag="after") + "ROLLBACK;\n")
        result = postgres.psql(database, script, "-A", "-t")
        assert result.returncode == 0, f"{result.stderr}\n--- script ---\n{script}"
    locks = _rows(result.stdout, "lock")
    table_modes = [mode for _, kind, mode, _ in locks if kind in ("r", "p")]
    assert table_modes, f"no table lock seen:\n{result.stdout}"
    assert _strongest(table_modes) == rule.lock, locks
    index_lock = getattr(rule, "index_lock", None)
    if index_lock is not None:
        index_modes = [mode for _, kind, mode, _ in locks if kind in ("i", "I")]
        assert index_modes and _strongest(index_modes) == index_lock, locks
    # Files before the transaction, then inside it: a rewrite gives the table a new one.
    before = dict(_rows(result.stdout, "before"))
    after = dict(_rows(result.stdout, "after"))
    assert before, result.stdout
    changed = {name for name, old in before.items() if after.get(name, old) != old}
    if rule.lock_held == "rewrite" and (example.target_version or 99) < FAST_DEFAULT_SINCE:
        # Written for a server that rewrote for any default: this one stores it once.
        assert not changed, changed
    elif rule.lock_held == "rewrite":
        assert changed, f"{rule.code} says it rewrites the table, but no relfilenode changed"
    else:
        assert not changed, f"{rule.code} says it does not rewrite, but {changed} were rewritten"


CONCURRENT_REFUSED = re.compile(r"CONCURRENT(LY)? cannot (run inside a transaction block|be "
                                r"executed from a function)")


@pytest.mark.parametrize(
    "rule,example",
    [pytest.param(rule, example, id=f"{rule.code}-invalid-{i}")
     for rule in LOCK_RULES if getattr(rule, "lock", "") is None
     # SQL the server can be sent as is (a Python migration's recipe: compiled below).
     for i, example in enumerate(rule.INVALID) if example.kind != "python"])
def test_postgres_refuses_what_an_unlocked_rule_reports(rule, example, postgres, tmp_path):
    # The exempt rule's INVALID examples fail on PostgreSQL with the error it predicts, sent
    # as their runner sends them: goose and sql-migrate wrap a file in one transaction.
    project = make_project(tmp_path, rule, example)
    assert project.lint(rule.code)
    wrapped = ("--single-transaction",) if "-- +goose Up" in example.sql or \
        "-- +migrate Up" in example.sql else ()
    with postgres.database() as database:
        for script in project.migrations():
            assert postgres.psql(database, script).returncode == 0
        result = postgres.psql(database, example.sql, *wrapped)
    assert result.returncode != 0 and CONCURRENT_REFUSED.search(result.stderr), result.stderr



def _shown_suggestions() -> list:
    """(rule, example, finding's suggestion) for every display-only fix of an INVALID example
    that is complete SQL (no `<placeholder>` or `(...)` for the user to fill in)."""
    import tempfile
    from pathlib import Path

    cases = []
    for rule in LOCK_RULES:
        for i, example in enumerate(rule.INVALID):
            if example.kind == "python":
                continue  # a Python recipe: test_shown_python_recipes_compile
            with tempfile.TemporaryDirectory() as root:
                for finding in make_project(Path(root), rule, example).lint(rule.code):
                    fix = finding.fix
                    if fix is None or fix.applicable or "<" in fix.suggestion \
                            or "(...)" in fix.suggestion:
                        continue
                    cases.append(pytest.param(rule, example, fix.suggestion,
                                              id=f"{rule.code}-invalid-{i}"))
    return cases


@pytest.mark.parametrize("rule,example,suggestion", _shown_suggestions())
def test_shown_recipes_run_on_postgres(rule, example, suggestion, postgres, tmp_path):
    # A display-only recipe is SQL the user copies: it must run as written (outside any
    # transaction block, as it says) on the schema it was written for.
    project = make_project(tmp_path, rule, example)
    postgres.run(*project.migrations(), suggestion)


def _python_suggestions() -> list:
    """(rule, suggestion) for every display-only fix of an INVALID Python example."""
    import tempfile
    from pathlib import Path

    cases = []
    for rule in LOCK_RULES:
        for i, example in enumerate(rule.INVALID):
            if example.kind != "python":
                continue
            with tempfile.TemporaryDirectory() as root:
                for finding in make_project(Path(root), rule, example).lint(rule.code):
                    if finding.fix is not None and not finding.fix.applicable:
                        cases.append(pytest.param(rule, finding.fix.suggestion,
                                                  id=f"{rule.code}-invalid-{i}"))
    return cases


@pytest.mark.parametrize("rule,suggestion", _python_suggestions())
def test_shown_python_recipes_compile(rule, suggestion):
    # The ORM recipe shown for a Django or Alembic operation is Python the user copies into
    # the migration: with its placeholders filled in, it must be valid Python.
    import ast

    filled = suggestion.replace("<value>", "0").rstrip().rstrip(",")
    ast.parse(filled)


_SCHEMA = ("CREATE TABLE customers (customer_id bigint PRIMARY KEY);\n"
           "CREATE TABLE orders (order_id bigint PRIMARY KEY, note text, customer_id bigint);\n"
           "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
           "$$ BEGIN RETURN NEW; END $$;\n"
           "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW "
           "EXECUTE FUNCTION touch();\n")


@pytest.mark.parametrize("sql,exclusive", [
    ("ALTER TABLE orders ADD COLUMN status text", True),
    ("ALTER TABLE orders RENAME COLUMN note TO remark", True),
    ("TRUNCATE orders", True),
    ("CLUSTER orders USING orders_pkey", True),
    ("LOCK TABLE orders", True),
    ("DROP TRIGGER orders_touch ON orders", True),
    ("DROP TRIGGER orders_touch ON public.orders", True),
    ("CREATE TRIGGER orders_touch2 BEFORE INSERT ON orders FOR EACH ROW "
     "EXECUTE FUNCTION touch()", False),
    ("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) "
     "REFERENCES customers", False),
    ("ALTER TABLE orders ALTER COLUMN note SET STATISTICS 500", False),
])
def test_what_the_kit_calls_access_exclusive_is_access_exclusive(sql, exclusive, postgres):
    # kit.locks.takes_access_exclusive decides which statements make a later (or earlier)
    # lock moot: it must agree with the lock PostgreSQL takes on `orders`.
    from pglint.kit.locks import takes_access_exclusive
    from pglint.sql.parse import parse_sql

    statement = parse_sql(sql + ";\n").statements[0]
    assert takes_access_exclusive(statement, "orders") is exclusive
    with postgres.database() as database:
        assert postgres.psql(database, _SCHEMA).returncode == 0
        result = postgres.psql(database, f"BEGIN;\n{sql};\n{_LOCKS}ROLLBACK;\n", "-A", "-t")
    assert result.returncode == 0, result.stderr
    modes = [mode for name, _, mode, _ in _rows(result.stdout, "lock") if name == "orders"]
    assert modes, result.stdout
    assert (_strongest(modes) == "ACCESS EXCLUSIVE") is exclusive, modes


# PGL508's examples, on tables that hold rows: the rule's rewrites give the table a new file
# (`pg_class.relfilenode`), and the changes it leaves alone keep the old one.
_ROWS = ("INSERT INTO orders (order_id, status, total, quantity, placed_at, client_net, note)\n"
         "SELECT g, 'new', g * 1.5, g, now(), '10.0.0.0/8', 'note ' || g\n"
         "FROM generate_series(1, 5) g;\n"
         "INSERT INTO carts SELECT generate_series(1, 5);\n")
_TABLESPACE = "fast_disk"  # the one PGL508's SET TABLESPACE example moves the table to


def _rewrite_cases() -> list:
    from pglint.registry import rule_by_code

    rule = rule_by_code("PGL508")
    # (A Python example is a Django or Alembic operation: what it sends is the SQL of an SQL
    # example, and tests/test_orm_operations.py checks what it sends.)
    cases = [pytest.param(rule, e, True, id=f"PGL508-invalid-{i}")
             for i, e in enumerate(rule.INVALID)
             # Written for PostgreSQL 10, which wrote any default into every row; 18 does not.
             if not (e.target_version and e.target_version < FAST_DEFAULT_SINCE)
             and e.kind != "python"]
    # A VALID example silenced by a size hint still rewrites: the hint says it is cheap, not
    # that it is free (test_a_size_hint_silences_only_small_tables).
    cases += [pytest.param(rule, e, False, id=f"PGL508-valid-{i}")
              for i, e in enumerate(rule.VALID)
              if e.context and e.kind != "python" and "tables" not in e.config]
    return cases


@pytest.mark.parametrize("rule,example,rewrites", _rewrite_cases())
def test_rewrites_change_the_table_file(rule, example, rewrites, postgres, tmp_path):
    project = make_project(tmp_path, rule, example)
    assert bool(project.lint(rule.code)) is rewrites
    # A tablespace inside the server's own folder: tests cannot make a directory it owns.
    postgres.psql("postgres", "SET allow_in_place_tablespaces = true;\n"
                              f"CREATE TABLESPACE {_TABLESPACE} LOCATION '';\n")
    with postgres.database() as database:
        for script in project.migrations():
            assert postgres.psql(database, script).returncode == 0
        assert postgres.psql(database, _ROWS).returncode == 0
        # Not in a transaction block (VACUUM FULL refuses one), not in UTC (as production).
        script = ("SET TimeZone = 'America/New_York';\n" + _FILES.format(tag="before")
                  + example.sql + _FILES.format(tag="after"))
        result = postgres.psql(database, script, "-A", "-t")
    assert result.returncode == 0, f"{result.stderr}\n--- script ---\n{script}"
    before = dict(_rows(result.stdout, "before"))
    after = dict(_rows(result.stdout, "after"))
    changed = {name for name, old in before.items() if after.get(name, old) != old}
    assert bool(changed) is rewrites, (changed, example.sql)


@pytest.mark.parametrize("zone,rewrites", [("UTC", False), ("America/New_York", True)])
def test_timestamp_to_timestamptz_is_free_only_in_utc(zone, rewrites, postgres):
    # Why PGL508 counts it as a rewrite: a migration cannot know its session's TimeZone.
    with postgres.database() as database:
        result = postgres.psql(database, (
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, placed_at timestamp);\n"
            "INSERT INTO orders SELECT g, now() FROM generate_series(1, 5) g;\n"
            f"SET TimeZone = '{zone}';\n" + _FILES.format(tag="before")
            + "ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamptz;\n"
            + _FILES.format(tag="after")), "-A", "-t")
    assert result.returncode == 0, result.stderr
    assert (_rows(result.stdout, "before") != _rows(result.stdout, "after")) is rewrites


def _not_null_cases() -> list:
    from pglint.registry import rule_by_code

    rule = rule_by_code("PGL509")
    return [pytest.param(rule, e, id=f"PGL509-invalid-{i}") for i, e in enumerate(rule.INVALID)
            if e.kind != "python"]  # an operation sends the SQL of an SQL example


@pytest.mark.parametrize("rule,example", _not_null_cases())
def test_not_null_column_without_default_fails_once_the_table_has_rows(rule, example, postgres,
                                                                        tmp_path):
    # PGL509's claim: the statement passes on the empty table of a test database and fails on
    # a table with one row.
    project = make_project(tmp_path, rule, example)
    assert project.lint(rule.code)
    with postgres.database() as database:
        for script in project.migrations():
            assert postgres.psql(database, script).returncode == 0
        empty = postgres.psql(database, f"BEGIN;\n{example.sql}ROLLBACK;\n")
        assert empty.returncode == 0, empty.stderr
        assert postgres.psql(database, "INSERT INTO orders VALUES (1, 'new');").returncode == 0
        filled = postgres.psql(database, example.sql)
    assert filled.returncode != 0 and "contains null values" in filled.stderr, filled.stderr


def _rewrite_examples() -> list:
    from pglint.registry import rule_by_code

    rule = rule_by_code("PGL508")
    return [pytest.param(rule, e, id=f"PGL508-invalid-{i}") for i, e in enumerate(rule.INVALID)]


@pytest.mark.parametrize("rule,example", _rewrite_examples())
def test_missing_lock_timeout_covers_every_rewrite(rule, example, tmp_path):
    # A rewrite queues for ACCESS EXCLUSIVE like any other strong lock: PGL301 must see every
    # form PGL508 reports (SET TABLESPACE, SET LOGGED, VACUUM FULL and CLUSTER included).
    import dataclasses

    both = dataclasses.replace(example, config={**example.config,
                                                "select": ["PGL301", rule.code]})
    project = make_project(tmp_path, rule, both)
    assert project.lint(rule.code)
    assert project.lint("PGL301"), example.sql


@pytest.mark.parametrize("code, added", [
    ("PGL510", ("ADD CONSTRAINT uq_a UNIQUE (a)", "ADD CONSTRAINT \"Uq B\" UNIQUE (b)")),
    ("PGL506", ("ADD CONSTRAINT ck_a CHECK (a > 0)", "ADD CONSTRAINT ck_b CHECK (b > 0)")),
])
def test_each_constraint_of_a_statement_has_its_own_finding_at_its_name(tmp_path, code, added):
    """A statement adding two constraints gets two findings, each at its own `CONSTRAINT name`
    (not two identical findings at the statement's start)."""
    from pglint import engine

    rule = next(r for r in all_rules() if r.code == code)
    example = Example("ALTER TABLE t\n    " + ",\n    ".join(added) + ";\n", context={
        **LIVE_MIGRATIONS,
        "migrations/V1__t.sql": "CREATE TABLE t (id bigint PRIMARY KEY, a int, b int);\n"},
        config={"size-evidence": False})  # `t` counts as big
    project = make_project(tmp_path, rule, example)
    findings = sorted(engine.lint([project.root], project.settings).findings,
                      key=lambda f: f.row)
    assert [(f.code, f.row, f.column) for f in findings] == [(code, 2, 9), (code, 3, 9)]
    if code == "PGL510":
        assert "`ADD CONSTRAINT uq_a UNIQUE`" in findings[0].message
        assert '`ADD CONSTRAINT "Uq B" UNIQUE`' in findings[1].message


def test_a_new_tables_foreign_key_locks_the_referenced_table_against_writes(postgres):
    # PGL301 says the writes on `customers` queue behind such a CREATE TABLE: PostgreSQL takes
    # SHARE ROW EXCLUSIVE on it, which conflicts with writes (ROW EXCLUSIVE), not with reads.
    with postgres.database() as database:
        assert postgres.psql(database, _SCHEMA).returncode == 0
        result = postgres.psql(database, "BEGIN;\nCREATE TABLE invoices (invoice_id bigint "
                               "PRIMARY KEY, customer_id bigint REFERENCES customers);\n"
                               f"{_LOCKS}ROLLBACK;\n", "-A", "-t")
    assert result.returncode == 0, result.stderr
    modes = [mode for name, _, mode, _ in _rows(result.stdout, "lock") if name == "customers"]
    assert _strongest(modes) == "SHARE ROW EXCLUSIVE", modes


@pytest.mark.parametrize("code", ["PGL501", "PGL503", "PGL505", "PGL506", "PGL507", "PGL508",
                                  "PGL510"])
def test_a_size_hint_silences_only_small_tables(code, tmp_path):
    # Each rule whose lock lasts as long as the table is big: its INVALID example with the
    # large hint, re-hinted. Below `small-table-rows` it is silent; at the threshold it reports
    # and names the size; `small-table-rows = 0` turns the exemption off.
    import dataclasses

    from pglint.registry import rule_by_code

    rule = rule_by_code(code)
    large = next(e for e in rule.INVALID if "orders" in e.config.get("tables", {}))

    def lint(rows: int, **options) -> list:
        example = dataclasses.replace(
            large, config={"tables": {"orders": {"rows": rows}}, **options})
        root = tmp_path / f"{rows}-{options.get('small-table-rows', 'default')}"
        root.mkdir()
        return make_project(root, rule, example).lint(code)

    assert lint(9_999) == []
    assert lint(0) == []
    found = lint(10_000)
    assert found and all("`orders` (10,000 rows, per [tool.pglint.tables])" in f.message
                         for f in found), found
    assert lint(50, **{"small-table-rows": 0})
    assert lint(50, **{"small-table-rows": 40})
    big = lint(50_000_000)
    assert big and "(50,000,000 rows, per [tool.pglint.tables])" in big[0].message


def test_a_second_drop_index_on_a_table_already_locked_has_no_finding(tmp_path):
    """The first plain `DROP INDEX` of a transaction holds ACCESS EXCLUSIVE on its table until
    the end: dropping another index of that table after it makes nobody wait again (judged
    round 5: warehouse's and hydra's second drops). A drop on another table still counts."""
    from pglint import engine

    rule = next(r for r in all_rules() if r.code == "PGL502")
    schema = ("CREATE TABLE t (id bigint PRIMARY KEY, a int, b int);\n"
              "CREATE TABLE u (id bigint PRIMARY KEY, c int);\n"
              "CREATE INDEX t_a_idx ON t (a);\nCREATE INDEX t_b_idx ON t (b);\n"
              "CREATE INDEX u_c_idx ON u (c);\n")
    example = Example("DROP INDEX t_a_idx;\nDROP INDEX t_b_idx;\nDROP INDEX u_c_idx;\n",
                      context={**LIVE_MIGRATIONS, "migrations/V1__t.sql": schema,
                               "queries/app.sql": "SELECT * FROM t, u;\n"})
    project = make_project(tmp_path, rule, example)
    findings = engine.lint([project.root], project.settings).findings
    assert sorted((f.code, f.row) for f in findings if f.path.endswith(project.main.name)) == [
        ("PGL502", 1), ("PGL502", 3)]


def test_a_table_made_earlier_in_the_file_is_new_under_its_next_name(tmp_path):
    """Swap in a rebuilt table (CREATE new, copy, DROP old, RENAME new): the index built on it
    afterwards blocks nobody, the table being the script's own (judged round 5b: a Synapse
    delta)."""
    from pglint import engine

    rule = next(r for r in all_rules() if r.code == "PGL501")
    swap = ("CREATE TABLE t_new (id bigint PRIMARY KEY, a int);\n"
            "INSERT INTO t_new SELECT id, a FROM t;\nDROP TABLE t;\n"
            "ALTER TABLE t_new RENAME TO t;\nCREATE INDEX t_a_idx ON t (a);\n")
    table = "CREATE TABLE t (id bigint PRIMARY KEY, a int);\n"
    example = Example(swap, context={
        **LIVE_MIGRATIONS, "migrations/V1__t.sql": table,
        # A later migration makes the table again: the catalog's last word on it is elsewhere.
        "migrations/V999__again.sql": "DROP TABLE t;\n" + table,
        "queries/app.sql": "SELECT * FROM t;\n"},
        config={"size-evidence": False})  # `t` counts as big
    project = make_project(tmp_path / "swap", rule, example)
    assert engine.lint([project.root], project.settings).findings == []
    # Without the swap, the same index build on the applied table is reported.
    plain = Example("CREATE INDEX t_a_idx ON t (a);\n", context=example.context,
                    config=example.config)
    project = make_project(tmp_path / "plain", rule, plain)
    assert [f.code for f in engine.lint([project.root], project.settings).findings] == ["PGL501"]


def _pgl501_on(tmp_path, sql: str):
    """PGL501's one finding on `sql` as a new migration of its examples' project (`orders`
    built concurrently elsewhere), with the project and the example."""
    from pglint.rules.locks import pgl501_non_concurrent_index_build as pgl501

    rule = next(r for r in LOCK_RULES if r.code == "PGL501")
    example = Example(sql, context=pgl501._CONTEXT)
    project = make_project(tmp_path, rule, example)
    [finding] = project.lint("PGL501")
    return project, example, finding


def _migrate(postgres, database, project) -> None:
    for script in project.migrations():
        assert postgres.psql(database, script).returncode == 0


def test_a_build_after_a_drop_runs_under_the_drops_access_exclusive_lock(postgres, tmp_path):
    """PGL501 on a rebuild (DROP INDEX, then CREATE INDEX, in one transaction) names the lock
    the drop took, not the build's own SHARE: PostgreSQL holds ACCESS EXCLUSIVE on the table."""
    from pglint.rules.locks.pgl501_non_concurrent_index_build import REBUILD

    project, example, finding = _pgl501_on(tmp_path, REBUILD)
    assert "runs under the ACCESS EXCLUSIVE lock the `DROP INDEX` at line 1 took" in \
        finding.message
    assert "DROP INDEX CONCURRENTLY orders_created_at_idx;" in finding.fix.suggestion
    with postgres.database() as database:
        _migrate(postgres, database, project)
        result = postgres.psql(database, f"BEGIN;\n{example.sql}{_LOCKS}ROLLBACK;\n",
                               "-A", "-t")
        assert result.returncode == 0, result.stderr
    modes = [mode for name, kind, mode, _ in _rows(result.stdout, "lock") if name == "orders"]
    assert _strongest(modes) == "ACCESS EXCLUSIVE", modes
    # The suggested order runs: the new index built concurrently, the old one dropped so.
    with postgres.database() as database:
        _migrate(postgres, database, project)
        for statement in finding.fix.suggestion.split(";\n"):
            done = postgres.psql(database, statement.strip().rstrip(";") + ";\n")
            assert done.returncode == 0, (statement, done.stderr)


def test_a_build_replacing_several_dropped_indexes_drops_each_after_it(postgres, tmp_path):
    """Two indexes dropped and one built in their place, in one transaction: the recipe builds
    the new index concurrently, then drops both old ones concurrently, each statement alone
    (a runner that sends a file as one query string would run two as one transaction)."""
    from pglint.rules.locks import pgl501_non_concurrent_index_build as pgl501

    rule = next(r for r in LOCK_RULES if r.code == "PGL501")
    example = Example("DROP INDEX orders_status_idx;\nDROP INDEX orders_created_at_idx;\n"
                      "CREATE INDEX orders_status_created_idx ON orders (status, created_at);\n",
                      context={**pgl501._CONTEXT, "migrations/V2__status.sql":
                               "CREATE INDEX orders_status_idx ON orders (status);\n"})
    project = make_project(tmp_path, rule, example)
    [finding] = project.lint("PGL501")
    suggestion = finding.fix.suggestion
    assert suggestion.startswith("-- each statement in a migration of its own")
    assert suggestion.splitlines()[1:] == [
        "CREATE INDEX CONCURRENTLY orders_status_created_idx ON orders (status, created_at);",
        "DROP INDEX CONCURRENTLY orders_status_idx;",
        "DROP INDEX CONCURRENTLY orders_created_at_idx;"]
    with postgres.database() as database:
        _migrate(postgres, database, project)
        for statement in suggestion.split(";\n"):
            done = postgres.psql(database, statement.strip().rstrip(";") + ";\n")
            assert done.returncode == 0, (statement, done.stderr)
        left = postgres.psql(database, "SELECT 'idx', indexrelid::regclass FROM pg_index "
                             "WHERE indrelid = 'orders'::regclass AND NOT indisprimary "
                             "ORDER BY 2;\n", "-A", "-t")
    assert _rows(left.stdout, "idx") == [["orders_status_created_idx"]]


def test_a_copy_of_an_index_the_migration_drops_is_a_rename(postgres, tmp_path):
    """PGL501 on a build whose index the same migration drops under another name suggests
    the rename, which runs and leaves the same index under the new name."""
    from pglint.rules.locks.pgl501_non_concurrent_index_build import RENAME_COPY

    project, example, finding = _pgl501_on(tmp_path, RENAME_COPY)
    assert "builds a copy of `orders_created_at_idx`, which this migration drops" in \
        finding.message
    rename = finding.fix.suggestion
    assert rename == "ALTER INDEX orders_created_at_idx RENAME TO orders_created_idx;"
    definition = ("SELECT 'def', indexrelid::regclass, "
                  "regexp_replace(pg_get_indexdef(indexrelid), ' \\w+ ON ', ' ON ') "
                  "FROM pg_index WHERE indrelid = 'orders'::regclass "
                  "AND NOT indisprimary ORDER BY 2;\n")
    results = []
    for script in (example.sql, rename + "\n"):
        with postgres.database() as database:
            _migrate(postgres, database, project)
            result = postgres.psql(database, script + definition, "-A", "-t")
            assert result.returncode == 0, result.stderr
            results.append(_rows(result.stdout, "def"))
    assert results[0] == results[1] == [["orders_created_idx",
                                         "CREATE INDEX ON public.orders USING btree "
                                         "(created_at)"]], results
    # Another definition (one more column) is no rename: the build is reported as a build.
    _, _, finding = _pgl501_on(tmp_path / "other",
                               RENAME_COPY.replace("(created_at)", "(created_at, order_id)"))
    assert "without `CONCURRENTLY` holds a SHARE lock" in finding.message


def test_pgl507s_recipe_keeps_the_statements_other_actions(postgres, tmp_path):
    """A `SET NOT NULL` beside other actions in one `ALTER TABLE` (Hatchet's `SET NOT NULL,
    SET DEFAULT 100`, judged round 12): the recipe runs the statement as written once the
    check proves the column, so the default is set too; in a goose file, which runs in one
    transaction, it says the validation goes in a migration of its own."""
    rule = next(r for r in LOCK_RULES if r.code == "PGL507")
    example = next(e for e in rule.INVALID if "SET DEFAULT" in e.sql)
    project = make_project(tmp_path, rule, example)
    [finding] = project.lint("PGL507")
    recipe = finding.fix.suggestion
    assert "SET DEFAULT 0" in recipe and "SET NOT NULL,\n" in recipe, recipe
    first, then = recipe.split("-- then, in a migration of its own", 1)
    then = "-- " + then  # the rest of the comment line
    with postgres.database() as database:
        for script in project.migrations():
            assert postgres.psql(database, script).returncode == 0
        # Rows that are all filled in, as SET NOT NULL requires.
        assert postgres.psql(database, "INSERT INTO orders VALUES (1, 'new', 7);").returncode == 0
        for step in (first, then):  # two migrations, two transactions
            result = postgres.psql(database, f"BEGIN;\n{step}\nCOMMIT;\n")
            assert result.returncode == 0, result.stderr
        result = postgres.psql(database, (
            "SELECT attnotnull, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = 'orders'::regclass AND a.attname = 'customer_id';\n"
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass "
            "AND contype = 'c';\n"), "-A", "-t")
    assert result.stdout.split() == ["t|0", "0"], result.stdout


@pytest.mark.parametrize(("upgrade", "virtual"), [
    # Split before and inside the expression.
    ('    op.execute("ALTER TABLE orders ADD COLUMN total_cents bigint "\n'
     '               "GENERATED ALWAYS AS ((total * 100)::bigint) STORED")\n', False),
    ('    op.execute("ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS "\n'
     '               "((total * 100)::bigint) STORED")\n', False),
])
def test_a_virtual_twin_is_cut_only_from_sql_written_whole(tmp_path, upgrade, virtual):
    # SQL split over string literals is not verbatim in the file: a twin cut from the file's
    # text at the tokens' places came out as `((totaVIRTUAL0)::bigint) STORED`.
    from pglint.kit.example_projects import alembic_revision
    from pglint.rule import Example
    from pglint.rules.locks.pgl508_table_rewrite import _CONTEXT

    rule = next(r for r in LOCK_RULES if r.code == "PGL508")
    example = Example(alembic_revision(upgrade), kind="python", context=_CONTEXT,
                      target_version=18)
    [finding] = make_project(tmp_path, rule, example).lint("PGL508")
    assert ("VIRTUAL" in finding.fix.suggestion) is virtual, finding.fix.suggestion
    assert "totaVIRTUAL" not in finding.fix.suggestion
