"""Lock findings need a project whose migrations run against a live database: some migration
builds an index CONCURRENTLY, adds a constraint NOT VALID, bounds its lock waits
(pglint.model.online, `lock-evidence = "auto"`)."""

from __future__ import annotations

import pytest

from pglint import engine
from pglint.config import find_config, load_settings
from pglint.model.online import online_change, online_index_table
from pglint.registry import all_rules, catalog
from pglint.sql.parse import parse_sql


@pytest.mark.parametrize("sql, shown", [
    ("CREATE INDEX CONCURRENTLY i ON t (a);", "CREATE INDEX CONCURRENTLY"),
    ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);", "CREATE INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY i;", "DROP INDEX CONCURRENTLY"),
    ("REINDEX INDEX CONCURRENTLY i;", "REINDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY) TABLE t;", "REINDEX CONCURRENTLY"),
    ("ALTER TABLE t ADD CONSTRAINT c FOREIGN KEY (a) REFERENCES u NOT VALID;",
     "ADD CONSTRAINT ... NOT VALID"),
    ("ALTER TABLE t VALIDATE CONSTRAINT c;", "VALIDATE CONSTRAINT"),
    ("ALTER TABLE p DETACH PARTITION q CONCURRENTLY;", "DETACH PARTITION CONCURRENTLY"),
    ("SET lock_timeout = '5s';", "SET lock_timeout"),
    ("SET LOCAL lock_timeout = 5000;", "SET lock_timeout"),
    ("SET statement_timeout TO '15min';", "SET statement_timeout"),
    # What every migration of any project may hold shows nothing.
    ("CREATE INDEX i ON t (a);", ""),
    ("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);", ""),
    ("DROP INDEX i;", ""),
    ("ALTER TABLE p DETACH PARTITION q;", ""),
    # pg_dump's preamble, and a bound switched off, are no bound.
    ("SET statement_timeout = 0;", ""),
    ("SET lock_timeout = '0';", ""),
    ("SET lock_timeout = '0ms';", ""),
    ("SET lock_timeout TO DEFAULT;", ""),
    ("RESET lock_timeout;", ""),
    ("SET work_mem = '64MB';", ""),
])
def test_what_a_statement_shows_of_migrating_a_live_database(sql: str, shown: str) -> None:
    [stmt] = parse_sql(sql).statements
    assert online_change(stmt.kind, stmt.body) == shown


ORDERS = "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text);\n"
NEW_INDEX = "CREATE INDEX orders_status_idx ON orders (status);\n"


def _lint(root, files: dict[str, str], evidence: str = "") -> list[tuple[str, str]]:
    # Size is another question (test_size_evidence below): every table counts as big here.
    config = 'select = ["PGL301", "PGL501"]\nsize-evidence = false\n' + (
        f'lock-evidence = "{evidence}"\n' if evidence else "")
    for name, text in {**files, "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
                       "pglint.toml": config}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settings = load_settings(find_config(root), catalog()).with_overrides(root=root)
    return sorted((f.path.rsplit("/", 1)[-1], f.code)
                  for f in engine.lint([root], settings).findings)


def test_a_project_that_never_migrates_a_live_database_gets_no_lock_finding(tmp_path):
    files = {"migrations/V1__orders.sql": ORDERS, "migrations/V2__index.sql": NEW_INDEX}
    assert _lint(tmp_path / "a", files) == []
    # The user who knows better says so.
    assert _lint(tmp_path / "b", files, "traffic") == [
        ("V2__index.sql", "PGL301"), ("V2__index.sql", "PGL501")]


@pytest.mark.parametrize("evidence", [
    {"migrations/V1__orders.sql": ORDERS + "CREATE INDEX CONCURRENTLY orders_id_idx ON orders "
                                           "(order_id, status);\n"},
    {"migrations/V0__timeouts.sql": "SET lock_timeout = '3s';\n"},
    # The new migration itself may be the evidence: its author thought of live traffic.
    {"migrations/V3__checked.sql": "ALTER TABLE orders ADD CONSTRAINT orders_status_check "
                                   "CHECK (status <> '') NOT VALID;\n"},
    # An Alembic env.py that bounds every revision's lock waits.
    {"alembic/env.py": "from alembic import context\nfrom sqlalchemy import text\n\n\n"
                       "def run_migrations_online(connection):\n"
                       "    connection.execute(text(\"SET lock_timeout = 4000\"))\n"
                       "    context.run_migrations()\n"},
    # A Django migration built concurrently (the SQL its operation sends).
    {"shop/migrations/0001_initial.py": "", "shop/migrations/__init__.py": "",
     "shop/migrations/0002_index.py": (
         "from django.contrib.postgres.operations import AddIndexConcurrently\n"
         "from django.db import migrations, models\n\n\n"
         "class Migration(migrations.Migration):\n    atomic = False\n"
         "    dependencies = [(\"shop\", \"0001_initial\")]\n"
         "    operations = [AddIndexConcurrently(\"order\", models.Index(fields=[\"code\"], "
         "name=\"shop_order_code_idx\"))]\n")},
])
def test_a_migration_showing_it_runs_live_is_the_evidence(tmp_path, evidence):
    files = {"migrations/V1__orders.sql": ORDERS, "migrations/V2__index.sql": NEW_INDEX}
    found = _lint(tmp_path, {**files, **{k: files.get(k, "") + v for k, v in evidence.items()}})
    assert ("V2__index.sql", "PGL501") in found


@pytest.mark.parametrize("where", [
    "migrations/V2__index.down.sql",  # a down migration runs when asked, never as evidence
    "db/schema.sql",  # a dump holds what production has, not how it got there
    "tests/fixtures/setup.sql",
])
def test_files_that_are_not_up_migrations_are_no_evidence(tmp_path, where):
    text = "CREATE INDEX CONCURRENTLY orders_id_idx ON orders (order_id);\n"
    if where == "db/schema.sql":
        text = "-- PostgreSQL database dump\n\nSET statement_timeout = '5s';\n" + text
    files = {"migrations/V1__orders.sql": ORDERS, "migrations/V2__index.sql": NEW_INDEX,
             where: text}
    assert _lint(tmp_path, files) == []


def test_a_statement_that_fails_on_existing_rows_needs_no_live_database(tmp_path):
    # `ADD COLUMN ... NOT NULL` without a default fails on the first row of a used table,
    # before or beside live traffic alike.
    files = {"migrations/V1__orders.sql": ORDERS,
             "migrations/V2__code.sql": "ALTER TABLE orders ADD COLUMN code text NOT NULL;\n",
             "pglint.toml": 'select = ["PGL509"]\n',
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    settings = load_settings(find_config(tmp_path), catalog()).with_overrides(root=tmp_path)
    assert [f.code for f in engine.lint([tmp_path], settings).findings] == ["PGL509"]


@pytest.mark.parametrize("sql, table", [
    ("CREATE INDEX CONCURRENTLY i ON t (a);", "t"),
    ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON app.t (a);", "app.t"),
    ("REINDEX TABLE CONCURRENTLY t;", "t"),
    ("REINDEX (CONCURRENTLY) TABLE t;", "t"),
    # An index's table is not in the statement; a plain build is no evidence.
    ("REINDEX INDEX CONCURRENTLY i;", None),
    ("CREATE INDEX i ON t (a);", None),
    ("DROP INDEX CONCURRENTLY i;", None),
])
def test_the_table_a_statement_indexes_concurrently(sql: str, table: str | None) -> None:
    [stmt] = parse_sql(sql).statements
    assert online_index_table(stmt.kind, stmt.body) == table


def _pgl501(root, files: dict[str, str], config: str = "") -> list[str]:
    """PGL501's messages on a project that migrates a live database and reads `orders`."""
    for name, text in {"migrations/V0__timeouts.sql": "SET lock_timeout = '3s';\n",
                       "migrations/V1__orders.sql": ORDERS,
                       "migrations/V5__index.sql": NEW_INDEX,
                       "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
                       "pglint.toml": 'select = ["PGL501"]\n' + config, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settings = load_settings(find_config(root), catalog()).with_overrides(root=root)
    return [f.message for f in engine.lint([root], settings).findings]


_ALEMBIC_ONLINE = (
    "from alembic import op\n\nrevision = \"b2\"\ndown_revision = None\n\n\n"
    "def upgrade():\n    with op.get_context().autocommit_block():\n"
    "        op.create_index(\"orders_code_idx\", \"orders\", [\"order_id\", \"status\"],\n"
    "                        postgresql_concurrently=True)\n")


@pytest.mark.parametrize("evidence, cited", [
    ({"migrations/V3__more.sql": "CREATE INDEX CONCURRENTLY orders_more_idx ON orders "
                                 "(status, order_id);\n"}, "migrations/V3__more.sql:1"),
    # Under a name the table had before a rename, and schema-qualified.
    ({"migrations/V1__orders.sql": ORDERS.replace("orders", "purchases") +
      "CREATE INDEX CONCURRENTLY purchases_idx ON public.purchases (status);\n"
      "ALTER TABLE purchases RENAME TO orders;\n"}, "migrations/V1__orders.sql:2"),
    ({"migrations/V4__reindex.sql": "REINDEX TABLE CONCURRENTLY orders;\n"},
     "migrations/V4__reindex.sql:1"),
    # Alembic's create_index(postgresql_concurrently=True), in a project of SQL migrations
    # and Alembic revisions alike.
    ({"alembic/versions/b2_orders_code.py": _ALEMBIC_ONLINE},
     "alembic/versions/b2_orders_code.py:9"),
])
def test_size_evidence_is_the_projects_own_concurrent_build(tmp_path, evidence, cited):
    [message] = _pgl501(tmp_path, evidence)
    # The path as shown from the working directory (here, absolute).
    assert "; the project builds indexes on it concurrently elsewhere (" in message
    assert message.endswith(f"/{cited})")


def test_without_size_evidence_an_index_build_is_not_reported(tmp_path):
    assert _pgl501(tmp_path / "none", {}) == []
    # A down migration's concurrent build, or one on another table, says nothing of `orders`.
    assert _pgl501(tmp_path / "down", {
        "migrations/V7__more.down.sql": "CREATE INDEX CONCURRENTLY o_idx ON orders (status);\n",
        "migrations/V8__carts.sql": "CREATE TABLE carts (id bigint);\n"
                                    "CREATE INDEX CONCURRENTLY carts_idx ON carts (id);\n"}) == []
    # The hints: a big table is reported, with its size; a small one is not.
    [big] = _pgl501(tmp_path / "big", {}, "[tables]\norders = { rows = 20_000_000 }\n")
    assert "`orders` (20,000,000 rows, per [tool.pglint.tables])" in big
    assert _pgl501(tmp_path / "small", {}, "[tables]\norders = { rows = 300 }\n") == []
    # `size-evidence = false`: every table the lock evidence allows.
    assert len(_pgl501(tmp_path / "off", {}, "size-evidence = false\n")) == 1


def test_the_message_names_the_table_as_the_migration_does(tmp_path):
    # A later migration renames `orders`: the build is reported on `orders`, as written.
    [message] = _pgl501(tmp_path, {
        "migrations/V3__more.sql": "CREATE INDEX CONCURRENTLY orders_more_idx ON orders "
                                   "(status, order_id);\n",
        "migrations/V9__rename.sql": "ALTER TABLE orders RENAME TO purchases;\n",
        "queries/orders.sql": "SELECT * FROM purchases WHERE status = $1;\n"})
    assert message.startswith("`CREATE INDEX` on `orders` without `CONCURRENTLY`")
    assert "purchases" not in message


@pytest.mark.parametrize("code", ["PGL505", "PGL506", "PGL507", "PGL508", "PGL510"])
def test_the_rules_whose_lock_lasts_as_long_as_the_table_is_big_need_size_evidence(
        tmp_path, code):
    """The scan, rewrite and unique-build rules, like PGL501, report only a table something
    says is big: the project's own concurrent build on it, or a hint."""
    import dataclasses

    from pglint.kit.example_projects import ORDERS_ONLINE
    from tests.examples import make_project

    rule = next(r for r in all_rules() if r.code == code)
    # The rule's first SQL example that relies on the concurrent build for its evidence.
    example = next(e for e in rule.INVALID if e.kind == "migration" and not e.config
                   and set(ORDERS_ONLINE) <= set(e.context))
    assert make_project(tmp_path / "online", rule, example).lint(code)
    bare = {k: v for k, v in example.context.items() if k not in ORDERS_ONLINE}
    for name, config, found in (("none", {}, False),
                                ("big", {"tables": {"orders": {"rows": 20_000_000}}}, True),
                                ("small", {"tables": {"orders": {"rows": 300}}}, False),
                                ("off", {"size-evidence": False}, True)):
        case = dataclasses.replace(example, context=bare, config=config)
        assert bool(make_project(tmp_path / name, rule, case).lint(code)) is found, name


def test_a_build_followed_by_more_of_its_transaction_says_the_lock_lasts_to_its_end(tmp_path):
    # A file the runner wraps in one transaction: the SHARE lock of the first build is held
    # through the second (judged round 13: Hydra's readers counted only the build).
    from tests.examples import lint_files

    files = {"migrations/V1__orders.sql":
             "CREATE TABLE orders (order_id bigint PRIMARY KEY, a int, b int);\n",
             "migrations/V2__online.sql": "CREATE INDEX CONCURRENTLY orders_ab ON orders (a, b);\n",
             "queries/orders.sql": "SELECT * FROM orders WHERE a = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    builds = "CREATE INDEX orders_a ON orders (a);\nCREATE INDEX orders_b ON orders (b);\n"
    wrapped = lint_files(tmp_path / "flyway", {**files, "migrations/V3__two.sql": builds})
    messages = sorted((f.row, f.message) for f in wrapped if f.path.endswith("V3__two.sql"))
    assert [row for row, _ in messages] == [1, 2]
    assert "and on to the end of its transaction (1 more statement): " in messages[0][1]
    assert "waits until then" in messages[0][1]
    assert "waits until it ends" in messages[1][1]  # the last statement: the build is all
    # A file run statement by statement (no runner known to wrap it): each lock ends with it.
    plain = {name.replace("V1__", "001_").replace("V2__", "002_"): text
             for name, text in files.items()}
    script = [f for f in lint_files(tmp_path / "psql", {**plain, "migrations/003_two.sql":
                                                        builds})
              if f.path.endswith("003_two.sql")]
    assert len(script) == 2 and all("transaction" not in f.message for f in script), script
