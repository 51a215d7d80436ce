"""PGL308: the statements whose lock lasts as long as the table is big, and what decides how
long that may be.

The lock rules each report one kind of long statement. Where one has a form that takes no long
strong lock (CONCURRENTLY, NOT VALID, batches), that form is the remedy and PGL308 leaves the
statement to its rule; a rewrite has none, and PGL308 asks for a statement_timeout before it.
Its premise is checked on a real PostgreSQL: `lock_timeout` does not stop a statement that
holds its lock for a long time, `statement_timeout` does.
"""

from __future__ import annotations

import dataclasses

import pytest

from pglint.kit.example_projects import LIVE_MIGRATIONS
from pglint.registry import rule_by_code
from pglint.rule import Example
from tests.examples import make_project

# The lock rules whose statements hold their lock for as long as the table is big: those with
# no online form (a rewrite), and those whose online form their own rule asks for.
REWRITE_RULES = ("PGL508",)
ONLINE_FORM_RULES = ("PGL501", "PGL503", "PGL505", "PGL506", "PGL507", "PGL510")


def _cases(codes: tuple[str, ...]) -> list:
    return [pytest.param(code, example, id=f"{code}-invalid-{i}")
            for code in codes
            for i, example in enumerate(rule_by_code(code).INVALID)
            if example.kind == "migration"]


@pytest.mark.parametrize("code,example", _cases(ONLINE_FORM_RULES))
def test_a_statement_with_an_online_form_is_left_to_its_rule(code, example, tmp_path):
    # The reviewer wants CONCURRENTLY or NOT VALID, which the rule asks for; a timeout would
    # still let the lock block for as long as it allows. Only a lock an earlier statement of
    # the transaction already holds, which no online form can release, is PGL308's.
    both = dataclasses.replace(example, config={**example.config, "select": [code, "PGL308"]})
    project = make_project(tmp_path / "bare", rule_by_code(code), both)
    assert project.lint(code)
    assert all("that an earlier statement of its transaction took" in f.message
               for f in project.lint("PGL308")), example.sql


@pytest.mark.parametrize("code,example", _cases(REWRITE_RULES))
def test_every_long_statement_a_lock_rule_reports_needs_a_statement_timeout(code, example,
                                                                            tmp_path):
    rule, pgl308 = rule_by_code(code), rule_by_code("PGL308")
    both = dataclasses.replace(example, config={**example.config, "select": [code, "PGL308"]})
    project = make_project(tmp_path / "bare", rule, both)
    assert project.lint(code)
    assert project.lint("PGL308"), example.sql
    # Any value set before it is a decision, 0 included; one after it is not.
    for setting in ("SET statement_timeout = '30min';\n", "SET statement_timeout = 0;\n"):
        decided = dataclasses.replace(both, sql=_after_markers(example.sql, setting))
        assert make_project(tmp_path / str(len(setting)), pgl308, decided).lint("PGL308") == []
    late = dataclasses.replace(both, sql=example.sql + "SET statement_timeout = '30min';\n")
    assert make_project(tmp_path / "late", pgl308, late).lint("PGL308")


def _after_markers(sql: str, setting: str) -> str:
    """`setting` at the top of the script, after its runner's marker comment if it has one."""
    first, _, rest = sql.partition("\n")
    return f"{first}\n{setting}{rest}" if first.startswith("-- +goose") else setting + sql


def test_a_role_level_timeout_is_named_in_the_help(tmp_path):
    # A role default meant for the application would cancel the migration halfway: the help
    # says the value the project's SQL sets.
    rule = rule_by_code("PGL308")
    schema = "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text, n int);\n"
    example = Example("ALTER TABLE orders ALTER COLUMN n TYPE bigint;\n", context={
        **LIVE_MIGRATIONS,
        "migrations/V1__init.sql": schema + "ALTER ROLE CURRENT_USER SET statement_timeout "
                                            "= '5s';\n"})
    found = make_project(tmp_path, rule, example).lint("PGL308")
    assert len(found) == 1
    assert "`statement_timeout = '5s'` for a role or database" in found[0].help


def test_one_finding_per_file_counts_the_others(tmp_path):
    rule = rule_by_code("PGL308")
    schema = "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text, n int);\n"
    # The index build is PGL501's; the rewrite is the first, and the backfill after it keeps
    # the rewrite's ACCESS EXCLUSIVE.
    example = Example("CREATE INDEX orders_status_idx ON orders (status);\n"
                      "ALTER TABLE orders ALTER COLUMN n TYPE bigint;\n"
                      "ALTER TABLE orders SET UNLOGGED;\n"
                      "UPDATE orders SET status = 'x';\n",
                      context={**LIVE_MIGRATIONS, "migrations/V1__init.sql": schema})
    found = make_project(tmp_path, rule, example).lint("PGL308")
    assert [(f.row, "covers the file's 2 later long statements" in f.help)
            for f in found] == [(2, True)]


_SLOW = """
CREATE TABLE orders (order_id bigint PRIMARY KEY, quantity int);
INSERT INTO orders SELECT g, g FROM generate_series(1, 40) g;
-- A check that takes 25 ms a row: validating it scans for about a second.
CREATE FUNCTION slow_positive(n int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS
$$ BEGIN PERFORM pg_sleep(0.025); RETURN n > 0; END $$;
"""
_VALIDATE = ("ALTER TABLE orders ADD CONSTRAINT orders_quantity_check "
             "CHECK (slow_positive(quantity));\n")


@pytest.mark.parametrize("setting,cancelled", [
    ("SET lock_timeout = '100ms';", False),  # nothing waits for the lock: it does not apply
    ("SET statement_timeout = '100ms';", True),
])
def test_only_statement_timeout_bounds_how_long_a_lock_is_held(setting, cancelled, postgres):
    # The scan holds ACCESS EXCLUSIVE for its whole second: lock_timeout lets it, a
    # statement_timeout cancels it (SQLSTATE 57014), as PGL308 says.
    with postgres.database() as database:
        assert postgres.psql(database, _SLOW).returncode == 0
        result = postgres.psql(database, f"{setting}\n{_VALIDATE}")
    assert (result.returncode != 0) is cancelled, result.stderr
    if cancelled:
        assert "canceling statement due to statement timeout" in result.stderr


def test_whole_migrations_the_safe_recipes_need_no_statement_timeout(tmp_path, monkeypatch):
    # tests/test_lock_migrations.py's files, with PGL308 alone: the dangerous migration gets
    # one finding, on its first rewrite (line 12: the index builds and validations before it
    # are their own rules' business); the safe recipes hold no lock for long and get none;
    # tables a migration of the same change creates get none either.
    from tests import test_lock_migrations as whole

    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)  # the history decides

    def found(root, files, applied):
        root.mkdir()
        whole._project(root, files, whole.APP_BEFORE, applied=applied)
        (root / "pglint.toml").write_text(
            'select = ["PGL308"]\n' + (f'applied-migrations = ["{applied}"]\n'
                                       if applied else ""))
        return whole._findings(root)

    dangerous, out = found(tmp_path / "dangerous", {"001_tables.sql": whole.TABLES,
                                                    "002_change.sql": whole.DANGEROUS_SQL},
                           "001_*")
    assert dangerous == {("002_change.sql", 12, "PGL308")}, out
    safe, out = found(tmp_path / "safe", {"001_tables.sql": whole.TABLES,
                                          "002_change.sql": whole.SAFE}, "001_*")
    assert safe == set(), out
    new, out = found(tmp_path / "new", {
        "000_settings.sql": "CREATE TABLE settings (k text PRIMARY KEY);\n",
        "001_tables.sql": whole.TABLES, "002_change.sql": whole.DANGEROUS_SQL}, "000_*")
    assert new == set(), out


@pytest.mark.parametrize("context,decided", [
    ("env", True),  # Alembic's env.py, SET on the connection before run_migrations()
    ("env-local", False),  # SET LOCAL ends with its transaction: nothing for the migrations
    ("script", False),  # any other script beside the migrations sets its own session only
])
def test_the_runners_own_set_counts_for_every_migration(context, decided, tmp_path):
    from pglint.kit.example_projects import alembic_env

    env = alembic_env("statement_timeout = 60000", "lock_timeout = 4000")
    contexts = {
        "env": env,
        "env-local": {k: v.replace("SET ", "SET LOCAL ") for k, v in env.items()},
        "script": {"migrations/backfill_tool.py": env["migrations/env.py"]},
    }
    schema = {**LIVE_MIGRATIONS, "migrations/V1__init.sql":
              "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text, n int);\n"}
    revision = ("from alembic import op\n\nrevision = \"b2\"\ndown_revision = None\n\n\n"
                "def upgrade():\n"
                "    op.execute(\"ALTER TABLE orders ALTER COLUMN n TYPE bigint\")\n")
    for code in ("PGL301", "PGL308"):
        example = Example(revision, kind="python", context={**schema, **contexts[context]})
        found = make_project(tmp_path / f"{code}-{context}", rule_by_code(code),
                             example).lint(code)
        assert (found == []) is decided, (code, found)
