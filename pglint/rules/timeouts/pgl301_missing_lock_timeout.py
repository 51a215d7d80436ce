"""PGL301 missing-lock-timeout."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import (DJANGO_ORDERS, LIVE_MIGRATIONS, alembic_revision,
                                         django_migration)
from pglint.kit.locks import LOCK_EVIDENCE, WEAK_ALTER_SUBCOMMANDS, added_constraints, in_use
from pglint.kit.orm_migrations import sql_call_before
from pglint.kit.python_edits import separate_sql_call_before
from pglint.kit.roles import may_run_elsewhere
from pglint.kit.timeouts import (LOCK_TIMEOUT, is_zero, runner_transaction_only,
                                 settings_in_force)
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ALTERED_OBJECTS = {"OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_MATVIEW"}
_RENAMED_OBJECTS = {"OBJECT_TABLE", "OBJECT_COLUMN", "OBJECT_TABCONSTRAINT", "OBJECT_MATVIEW"}
_SHARE_LOCK = 5  # LockStmt modes from SHARE up block writes or everything

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL);\n"
           "CREATE INDEX orders_status_idx ON orders (status);\n")
_ALEMBIC = ("from alembic import op\n\nrevision = \"b2\"\ndown_revision = None\n\n\n"
            "def upgrade():\n{}    op.execute(\"ALTER TABLE orders ADD COLUMN note text\")\n")
_CONTEXT = {**LIVE_MIGRATIONS, "migrations/V1__orders.sql": _ORDERS}
_CREATE_INDEX = "    op.create_index(\"orders_note_idx\", \"orders\", [\"status\", \"order_id\"])\n"
_ADD_INDEX = ("        migrations.AddIndex(\n"
              "            model_name=\"order\",\n"
              "            index=models.Index(fields=[\"created\"], name=\"app_order_created_idx\"),\n"
              "        ),\n")
_SET_LOCAL = "SET LOCAL lock_timeout = '5s'"
_SQLITE_TOO = "DATABASE_URL = \"sqlite:///dev.db\"  # tests and local runs\n"
_DJANGO_SQLITE_TOO = ("DATABASES = {\"default\": {\"ENGINE\": \"django.db.backends.sqlite3\","
                      " \"NAME\": \"dev.db\"}}\n")
_ENV = ("from alembic import context\nfrom sqlalchemy import engine_from_config, text\n\n\n"
        "def run_migrations_online():\n"
        "    engine = engine_from_config(context.config.get_section(\"alembic\"))\n"
        "    with engine.connect() as connection:\n"
        "        connection.execute(text(\"SET lock_timeout = 4000\"))\n"
        "        context.configure(connection=connection)\n"
        "        with context.begin_transaction():\n"
        "            context.run_migrations()\n\n\n"
        "run_migrations_online()\n")
_TRIGGER = ("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; "
            "END $$;\nCREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW "
            "EXECUTE FUNCTION touch();\n")


class MissingLockTimeout(Rule):
    """
    ## What it does
    Flags a migration that takes a strong lock on a table that already exists (`ALTER TABLE`,
    `CREATE INDEX` without `CONCURRENTLY`, `DROP TABLE`/`DROP INDEX`, `ADD CONSTRAINT`,
    `TRUNCATE`, `RENAME`, `VACUUM FULL`, `CLUSTER`, `REINDEX` without `CONCURRENTLY`,
    `CREATE TRIGGER`, `LOCK TABLE`) with no `SET lock_timeout` (or `SET LOCAL lock_timeout` in
    the same transaction block) in force before it. A table created earlier in the same script
    has no other users yet and does not count. The rule reports once per file, on the first such
    statement; the fix covers the rest of the file. Alembic and Django operations count by the
    SQL they send (`op.create_index`, `AddField`, ...), and a `SET lock_timeout` that the
    project's Alembic `env.py` runs on the connection counts for every revision, and a
    `lock_timeout` in the configuration's `runner-settings` (what a runner pglint cannot
    read, or the server, sets on every migration's session) for every migration.

    It stays silent on `ALTER TABLE` forms that take at most a SHARE UPDATE EXCLUSIVE lock
    (`SET (fillfactor = ...)`, `VALIDATE CONSTRAINT`, `SET STATISTICS`), on
    `CONCURRENTLY` index builds, and on index renames (SHARE UPDATE EXCLUSIVE since
    PostgreSQL 12).

    ## Why is this bad?
    Most `ALTER TABLE` forms need an ACCESS EXCLUSIVE lock. The statement must wait for every
    transaction that holds any lock on the table, such as a long report or a session idle in a
    transaction, and while it waits, every later query on the table queues behind it: one slow
    reader plus one migration stalls the whole application. `CREATE INDEX` takes a SHARE lock, so
    writes queue the same way. With `lock_timeout` the statement gives up instead (SQLSTATE
    55P03, `lock_not_available`), the migration fails fast and can be retried at a quieter
    moment.

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN note text;
    ```

    ## Use instead
    ```sql
    SET lock_timeout = '5s';
    ALTER TABLE orders ADD COLUMN note text;
    ```
    Inside an explicit transaction block, `SET LOCAL lock_timeout = '5s';` after `BEGIN`; in a
    file that its runner wraps in a transaction (goose, sql-migrate, dbmate, Flyway, Prisma,
    Diesel, golang-migrate, sqlx, the Supabase CLI, Django, Alembic), `SET LOCAL` too: the setting then ends with the
    migration's transaction instead of staying on a connection the runner borrowed from the
    application's pool.

    ## Fix safety
    Unsafe: a migration that used to wait for its lock may now fail with a lock timeout, which is
    the point, but the deploy must then retry it. pglint inserts
    `SET lock_timeout = '<lock-timeout>';` (setting `lock-timeout`, default `5s`) before the
    first locking statement; inside a `BEGIN ... COMMIT` block that holds every locking
    statement of the file it inserts `SET LOCAL` after the `BEGIN` instead, so the setting ends
    with the transaction, and `SET LOCAL` before the first locking statement of a file with no
    transaction control of its own whose runner wraps it in a transaction (known from the
    layout: goose, sql-migrate or dbmate markers, Flyway's `V<n>__`, `migration.sql`, `up.sql`,
    `.up.sql`, `supabase/migrations/`, Python migrations without `atomic = False` or an autocommit block).
    """

    code = "PGL301"
    name = "missing-lock-timeout"
    summary = "Migration takes a strong lock on an existing table without lock_timeout"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 6 of 9 findings of the pull-request view (round 6, no "
        "wrong one) but 10 of 22 across history (round 9: 9 of 11 on three projects, 1 of 11 "
        "on three that migrate before they serve or run their SQL on SQLite too): small "
        "tables and apps that migrate before they serve are not told apart. Turn it on "
        "where migrations run against a live database"
    )
    references = (
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT",
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES",
    )
    # squawk 2.x split require-timeout-settings in two: require-lock-timeout is this rule's,
    # require-statement-timeout none's (a statement_timeout is not required).
    squawk = ("require-timeout-settings", "require-lock-timeout")
    file_kinds = frozenset({"migration"})
    min_fix_version = 9  # lock_timeout exists since 9.3
    options = (LOCK_TIMEOUT, LOCK_EVIDENCE)
    # Locks are taken when a migration runs: never by one that has already run.
    roles = frozenset({MIGRATION})
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too

    VALID = (
        # Both tables are new: nothing waits on them.
        Example("CREATE TABLE carts (cart_id bigint PRIMARY KEY);\n"
                "CREATE TABLE cart_items (cart_id bigint REFERENCES carts,\n"
                "    parent_id bigint, FOREIGN KEY (parent_id) REFERENCES cart_items);\n"),
        Example("SET lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN note text;\n",
                context=_CONTEXT),
        # No migration of the project shows it runs against a live database (no CONCURRENTLY,
        # NOT VALID or lock_timeout anywhere): it migrates before it serves.
        Example("ALTER TABLE orders ADD COLUMN note text;\n",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # The runner wraps the file in a transaction: SET LOCAL lasts until its end.
        Example("SET LOCAL lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN note text;\n",
                context=_CONTEXT),
        # A table that a migration not yet run creates has no readers to block either.
        Example("ALTER TABLE orders ADD COLUMN note text;\n",
                context={**LIVE_MIGRATIONS,
                         "migrations/V0__settings.sql": "CREATE TABLE settings (k text);\n",
                         **_CONTEXT},
                config={"applied-migrations": "V0__*"}),
        # Nor does dropping its index, or renaming it, in a later migration of the same change.
        Example("DROP INDEX orders_status_idx;\nALTER TABLE orders RENAME TO purchases;\n",
                context={**LIVE_MIGRATIONS,
                         "migrations/V0__settings.sql": "CREATE TABLE settings (k text);\n",
                         "migrations/V1__init.sql": _ORDERS},
                config={"applied-migrations": "V0__*"}),
        # A table created in the same script has no readers to block.
        Example("CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n"
                "ALTER TABLE notes ADD COLUMN author text;\n"
                "CREATE INDEX notes_author_idx ON notes (author);\n"),
        Example("CREATE INDEX CONCURRENTLY orders_note_idx ON orders (status);\n",
                context=_CONTEXT),
        Example("BEGIN;\nSET LOCAL lock_timeout = '2s';\n"
                "ALTER TABLE orders ADD CONSTRAINT orders_status_check "
                "CHECK (status <> '') NOT VALID;\nCOMMIT;\n", context=_CONTEXT),
        # A timeout in fractional seconds is a timeout.
        Example("SET LOCAL lock_timeout = 1.5;\nALTER TABLE orders ADD COLUMN note text;\n",
                context=_CONTEXT),
        # SHARE UPDATE EXCLUSIVE only: queries are not blocked.
        Example("ALTER TABLE orders SET (fillfactor = 70);\n", context=_CONTEXT),
        Example("SELECT set_config('lock_timeout', '3s', false);\nTRUNCATE orders;\n",
                context=_CONTEXT),
        # Alembic operations: the index of a table the revision creates locks nobody; the
        # setting, sent first, covers the index build on an existing table.
        Example(alembic_revision(
            "    op.create_table(\"notes\", sa.Column(\"note_id\", sa.BigInteger(), "
            "primary_key=True))\n"
            "    op.create_index(\"notes_id_idx\", \"notes\", [\"note_id\"])\n"
            f"    op.execute(\"{_SET_LOCAL}\")\n" + _CREATE_INDEX,
            imports="import sqlalchemy as sa\n"), kind="python", context=_CONTEXT),
        # Django: a model created in the same migration, then its index.
        Example(django_migration(
            "        migrations.CreateModel(\n"
            "            name=\"Note\",\n"
            "            fields=[(\"id\", models.BigAutoField(primary_key=True)),\n"
            "                    (\"body\", models.TextField())],\n"
            "        ),\n"
            "        migrations.AddIndex(\n"
            "            model_name=\"note\",\n"
            "            index=models.Index(fields=[\"body\"], name=\"app_note_body_idx\"),\n"
            "        ),\n"), kind="python", context=DJANGO_ORDERS),
        # The project's Alembic env.py sets lock_timeout on the connection of every revision.
        Example(alembic_revision(_CREATE_INDEX), kind="python",
                context={**_CONTEXT, "alembic/env.py": _ENV}),
    )
    INVALID = (
        # The project runs its migrations on SQLite too, and this file's path does not say
        # PostgreSQL: `SET lock_timeout` would fail there, so it is shown, not applied.
        Example("ALTER TABLE orders ADD COLUMN note text;\n",
                context={**_CONTEXT, "migrations/sqlite/V1__orders.sql": _ORDERS}),
        # A foreign key to an existing table locks it (SHARE ROW EXCLUSIVE): its writes queue.
        Example("CREATE TABLE refunds (refund_id bigint PRIMARY KEY,\n"
                "    order_id bigint NOT NULL REFERENCES orders);\n",
                fixed="SET LOCAL lock_timeout = '5s';\n"
                      "CREATE TABLE refunds (refund_id bigint PRIMARY KEY,\n"
                      "    order_id bigint NOT NULL REFERENCES orders);\n",
                context=_CONTEXT),
        # Foreign keys to two existing tables lock both: the message names both.
        Example("CREATE TABLE refunds (refund_id bigint PRIMARY KEY,\n"
                "    order_id bigint NOT NULL REFERENCES orders,\n"
                "    customer_id bigint REFERENCES customers,\n"
                "    replaces bigint REFERENCES refunds);\n",
                fixed="SET LOCAL lock_timeout = '5s';\n"
                      "CREATE TABLE refunds (refund_id bigint PRIMARY KEY,\n"
                      "    order_id bigint NOT NULL REFERENCES orders,\n"
                      "    customer_id bigint REFERENCES customers,\n"
                      "    replaces bigint REFERENCES refunds);\n",
                context={**_CONTEXT, "migrations/V2__customers.sql":
                         "CREATE TABLE customers (customer_id bigint PRIMARY KEY);\n"}),
        # An Alembic revision: the setting gets an op.execute() of its own (asyncpg refuses two
        # commands in one string), SET LOCAL as Alembic runs the revision in a transaction.
        Example(_ALEMBIC.format(""), kind="python", context=_CONTEXT,
                fixed=_ALEMBIC.format("    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n")),
        Example("ALTER TABLE orders ADD COLUMN note text;\n",
                fixed="SET LOCAL lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN note text;\n",
                context=_CONTEXT),
        # The runner leaves the file outside a transaction: a session-level SET.
        Example("-- +goose NO TRANSACTION\nALTER TABLE orders ADD COLUMN note text;\n",
                fixed="-- +goose NO TRANSACTION\nSET lock_timeout = '5s';\n"
                      "ALTER TABLE orders ADD COLUMN note text;\n",
                context=_CONTEXT),
        # Dropping a trigger takes ACCESS EXCLUSIVE on its table.
        Example("DROP TRIGGER orders_touch ON orders;\n",
                fixed="SET LOCAL lock_timeout = '5s';\nDROP TRIGGER orders_touch ON orders;\n",
                context={**LIVE_MIGRATIONS, "migrations/V1__orders.sql": _ORDERS + _TRIGGER}),
        # Inside a transaction block: SET LOCAL, after BEGIN; one finding covers both statements.
        Example("BEGIN;\n  -- a comment stays with its statement\n"
                "  ALTER TABLE orders ADD COLUMN note text;\n"
                "  CREATE INDEX orders_note_idx ON orders (note);\nCOMMIT;\n",
                fixed="BEGIN;\n  -- a comment stays with its statement\n"
                      "  SET LOCAL lock_timeout = '5s';\n"
                      "  ALTER TABLE orders ADD COLUMN note text;\n"
                      "  CREATE INDEX orders_note_idx ON orders (note);\nCOMMIT;\n",
                context=_CONTEXT),
        # A timeout of zero is no timeout; the configured value is used.
        Example("SET lock_timeout = 0;\nDROP INDEX orders_status_idx;\n",
                fixed="SET lock_timeout = 0;\nSET LOCAL lock_timeout = '2s';\n"
                      "DROP INDEX orders_status_idx;\n",
                context=_CONTEXT, config={"lock-timeout": "2s"}),
        # Locking statements inside and after a block: a session-level SET before the block.
        Example("CREATE TABLE notes (id bigint PRIMARY KEY);\n"
                "BEGIN;\nALTER TABLE orders RENAME COLUMN status TO state;\nCOMMIT;\n"
                "VACUUM FULL orders;\n",
                fixed="CREATE TABLE notes (id bigint PRIMARY KEY);\n"
                      "SET lock_timeout = '5s';\nBEGIN;\n"
                      "ALTER TABLE orders RENAME COLUMN status TO state;\nCOMMIT;\n"
                      "VACUUM FULL orders;\n",
                context=_CONTEXT),
        # VACUUM FULL of every table locks tables it does not name: no use to look for.
        Example("VACUUM FULL;\n",
                fixed="SET LOCAL lock_timeout = '5s';\nVACUUM FULL;\n",
                context={**_CONTEXT, "queries/orders.sql": "SELECT order_id FROM orders;\n"}),
        # A DO block runs its statements once, in the migration.
        Example("DO $$\nBEGIN\n  LOCK TABLE orders IN SHARE MODE;\nEND $$;\n",
                fixed="SET LOCAL lock_timeout = '5s';\nDO $$\nBEGIN\n"
                      "  LOCK TABLE orders IN SHARE MODE;\nEND $$;\n",
                context=_CONTEXT),
        # Alembic's op.create_index builds an index on an existing table: the setting goes in
        # an op.execute() before it.
        Example(alembic_revision(_CREATE_INDEX), kind="python", context=_CONTEXT,
                fixed=alembic_revision(f"    op.execute(\"{_SET_LOCAL}\")\n" + _CREATE_INDEX)),
        # Django's AddIndex too: a RunSQL before it (reversible: its reverse does nothing).
        Example(django_migration(_ADD_INDEX), kind="python", context=DJANGO_ORDERS,
                fixed=django_migration(
                    f"        migrations.RunSQL(\"{_SET_LOCAL}\", migrations.RunSQL.noop),\n"
                    + _ADD_INDEX)),
        # The project runs on SQLite too, where SET is an error: asked of PostgreSQL only.
        Example(alembic_revision(_CREATE_INDEX), kind="python",
                context={**_CONTEXT, "app/config.py": _SQLITE_TOO},
                fixed=alembic_revision(
                    "    if op.get_context().dialect.name == \"postgresql\":\n"
                    f"        op.execute(\"{_SET_LOCAL}\")\n" + _CREATE_INDEX)),
        Example(django_migration(_ADD_INDEX), kind="python",
                context={**DJANGO_ORDERS, "app/settings.py": _DJANGO_SQLITE_TOO},
                fixed=django_migration(
                    "        migrations.RunPython(\n"
                    "            lambda apps, schema_editor: schema_editor.connection.vendor == "
                    "\"postgresql\"\n"
                    f"            and schema_editor.execute(\"{_SET_LOCAL}\"),\n"
                    "            migrations.RunPython.noop),\n" + _ADD_INDEX)),
    )

    def check_file(self, ctx: FileContext) -> Iterable[Finding]:
        uncovered: list[tuple[Statement, Statement, str, str]] = []
        also_locked: list[str] = []  # the other tables the first uncovered statement locks
        # Indexes built in this file, or on a table a migration not yet run creates.
        new_indexes: set[str] = set(ctx.model.indexes_on_new_tables())
        # Tables that migrations not yet run create: nobody reads or writes them yet.
        new_tables = ctx.model.tables_of_new_migrations()
        # In a file its runner wraps in one transaction, a top-level SET LOCAL lasts the file.
        wrapped = runner_transaction_only(ctx)
        for stmt, value in settings_in_force(ctx, "lock_timeout"):
            top = stmt.parent or stmt
            session = ctx.session(stmt)
            if stmt.kind == "IndexStmt" and stmt.body.get("idxname"):
                new_indexes.add(_qualify(stmt.body.get("relation"), stmt.body["idxname"]))
            target = _locked_table(stmt, session.created_tables | new_tables, new_indexes)
            if target is None or value is not None and not is_zero(value):
                continue
            # ("" for a statement that locks tables it does not name: `VACUUM FULL;`.)
            if target[0] and not in_use(ctx, _table_of(ctx, stmt, target[0])):
                continue
            if not uncovered and target[1] == "write":
                # (A referenced table's lock blocks writes only: named beside a table whose
                # lock blocks the same, not beside one whose every query queues.)
                created = session.created_tables | new_tables
                also_locked = [t for t in _referenced_tables(stmt, created)
                               if t != target[0] and in_use(ctx, _table_of(ctx, stmt, t))]
            uncovered.append((stmt, top, *target))
        if not uncovered:
            return
        stmt, top, table, blocked = uncovered[0]
        yield self._report(ctx, stmt, top, table, blocked, uncovered, wrapped, also_locked)

    def _report(self, ctx: FileContext, stmt: Statement, top: Statement, table: str,
                blocked: str, uncovered: list, wrapped: bool,
                also_locked: list[str]) -> Finding:
        timeout = ctx.settings.option("lock-timeout")
        literal = n.quote_literal(str(timeout))
        what = _describe(stmt)
        session = ctx.session(top)
        block = session.transaction_start if session.in_transaction else None
        # SET LOCAL only when every uncovered statement runs in this same block, or in the
        # transaction the runner wraps a file without transaction control in: then the setting
        # ends with it and never stays on a pooled connection the runner borrowed.
        local = block is not None and all(
            ctx.session(t).in_transaction and ctx.session(t).transaction_start is block
            for _, t, _, _ in uncovered) or (block is None and wrapped)
        if local:
            at = top.start
            setting = f"SET LOCAL lock_timeout = {literal};"
        else:
            at = block.start if block is not None else top.start
            setting = f"SET lock_timeout = {literal};"
        before = ctx.text[ctx.line_start(at):at]
        content = setting + ("\n" + before if not before.strip() else " ")
        if not table:
            on = "its tables"
        elif _locks_index(stmt):
            index = ctx.model.catalog.indexes.get(table)
            on = f"`{index.table}`" if index is not None else f"the table of `{table}`"
        else:
            on = f"`{table}`"
        if table and also_locked:
            # A foreign key locks the table it references too: writes to both queue.
            on = ", ".join(f"`{t}`" for t in [table, *also_locked[:-1]]) + \
                f" and `{also_locked[-1]}`"
        message = (f"{what} runs with no `lock_timeout`: while it waits for its lock, every later "
                   f"{blocked} on {on} queues behind it")
        more = len(uncovered) - 1
        help = (
            "A strong table lock (ACCESS EXCLUSIVE for most ALTER TABLE forms, SHARE for CREATE "
            "INDEX) must wait for every transaction that holds a conflicting lock on the table, "
            "such as a long report or a session idle in a transaction. While it waits, every "
            f"later {blocked} on the table queues behind it, so one slow transaction plus one "
            "migration stalls the application. With `lock_timeout` the statement gives up "
            "instead (SQLSTATE 55P03, lock_not_available): the migration fails fast and can be "
            "retried at a quieter moment. `statement_timeout` also counts lock waits, but it "
            "bounds the work itself too (a table rewrite, an index build)."
            + (f" The same setting covers the file's {more} later locking "
               f"statement{'s' if more > 1 else ''}." if more else ""))
        title = "Set `lock_timeout` before the first locking statement"
        if top.python_literal is not None and at == top.start:
            # SQL in a Python call: a call of its own, never two commands in one string.
            opening = top.python_literal[0] - len(top.python_literal[2])
            edit = separate_sql_call_before(ctx.text, ctx.line_start(opening), opening, setting,
                                            postgres_only=ctx.model.other_backends)
            fix = Fix(title, Applicability.UNSAFE, (edit,), suggestion=setting) \
                if edit is not None else Fix.display(title, setting)
        elif top.operation is not None:
            # `op.create_index(...)`, `AddIndex(...)`: the setting in the migration's own call.
            fix = sql_call_before(ctx, top, setting, title) if at == top.start \
                else Fix.display(title, setting)
        elif may_run_elsewhere(ctx):
            fix = Fix.display(title + ", where the runner talks to PostgreSQL", setting)
            help += (" The project runs its migrations on another database too (SQLite or "
                     "MySQL files), and nothing in this file's path says it is PostgreSQL's: "
                     "there `SET lock_timeout` is an error, so set it where the runner knows "
                     "it talks to PostgreSQL (a PostgreSQL-only variant of the file, or the "
                     "runner's connection).")
        else:
            fix = Fix(title, Applicability.UNSAFE, (Edit.insert(at, content),),
                      suggestion=setting)
        return self.finding(ctx, message, fix, help, node=stmt)


def _table_of(ctx: FileContext, stmt: Statement, name: str) -> str:
    """The table a statement locks when `name` is the index it names (DROP INDEX, REINDEX)."""
    if not _locks_index(stmt):
        return name
    catalog = ctx.model.catalog
    index = catalog.indexes.get(name) or catalog.dropped_indexes.get(name)
    return index.table if index is not None else name


def _qualify(rangevar: dict[str, Any] | None, name: str) -> str:
    schema = (rangevar or {}).get("schemaname")
    return f"{schema}.{name}".lower() if schema and schema != "public" else name.lower()


def _rangevars(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for item in items or ():
        if "RangeVar" in item:
            out.append(item["RangeVar"])
        elif "VacuumRelation" in item:
            out.append(item["VacuumRelation"].get("relation") or {})
    return out


def _first_existing(rangevars: list[dict[str, Any]], created: frozenset[str]) -> str | None:
    for rv in rangevars:
        name = n.relation_name(rv)
        if name and name not in created:
            return name
    return None


def _locked_table(stmt: Statement, created: frozenset[str],
                  new_indexes: set[str]) -> tuple[str, str] | None:
    """(table or index name, who queues behind the lock) for a strong lock on an existing table.

    The name is "" when the statement locks tables it does not name (`VACUUM FULL` alone).
    """
    body, kind = stmt.body, stmt.kind
    if kind == "AlterTableStmt":
        return _altered(body, created, new_indexes)
    if kind == "IndexStmt":
        if body.get("concurrent"):
            return None
        name = _first_existing([body.get("relation") or {}], created)
        return (name, "write") if name else None
    if kind == "DropStmt":
        return _dropped(body, created, new_indexes)
    if kind == "TruncateStmt":
        name = _first_existing(_rangevars(body.get("relations")), created)
        return (name, "query") if name else None
    if kind == "RenameStmt":
        if body.get("renameType") not in _RENAMED_OBJECTS:
            return None
        name = _first_existing([body.get("relation") or {}], created)
        return (name, "query") if name else None
    if kind == "VacuumStmt":
        if not body.get("is_vacuumcmd") or "full" not in n.def_elems(body.get("options")):
            return None
        rels = _rangevars(body.get("rels"))
        if not rels:
            return "", "query"
        name = _first_existing(rels, created)
        return (name, "query") if name else None
    if kind == "ClusterStmt":
        if not body.get("relation"):
            return "", "query"
        name = _first_existing([body["relation"]], created)
        return (name, "query") if name else None
    if kind == "ReindexStmt":
        return _reindexed(body, created, new_indexes)
    if kind == "LockStmt":
        mode = body.get("mode", 8)
        if mode < _SHARE_LOCK:
            return None
        name = _first_existing(_rangevars(body.get("relations")), created)
        # Up to EXCLUSIVE (7) plain SELECTs still run; ACCESS EXCLUSIVE (8) blocks them too.
        return (name, "write" if mode < 8 else "query") if name else None
    if kind == "CreateTrigStmt":
        name = _first_existing([body.get("relation") or {}], created)
        return (name, "write") if name else None
    if kind == "CreateStmt":
        # A foreign key to an existing table takes SHARE ROW EXCLUSIVE on it: writes queue.
        own = n.relation_name(body.get("relation"))
        name = _first_existing([rv for rv in _referenced(body) if n.relation_name(rv) != own],
                               created)
        return (name, "write") if name else None
    return None


def _referenced_tables(stmt: Statement, created: frozenset[str]) -> list[str]:
    """The existing tables a statement's foreign keys reference (a CREATE TABLE's, or those an
    ALTER TABLE adds), each once, in the order written: their lock is taken too."""
    if stmt.kind == "CreateStmt":
        # (not the new table itself: a self-reference locks nothing that exists)
        own = n.relation_name(stmt.body.get("relation"))
        rangevars = [rv for rv in _referenced(stmt.body) if n.relation_name(rv) != own]
    elif stmt.kind == "AlterTableStmt":
        rangevars = [c["pktable"] for c in added_constraints(stmt.body, "CONSTR_FOREIGN")
                     if c.get("pktable")]
    else:
        return []
    names = [n.relation_name(rv) for rv in rangevars]
    return list(dict.fromkeys(name for name in names if name and name not in created))


def _referenced(body: dict) -> list[dict]:
    """The tables a CREATE TABLE's foreign keys reference (table and column constraints)."""
    out = []
    for element in body.get("tableElts") or ():
        if "Constraint" in element:
            constraints = [element["Constraint"]]
        else:
            constraints = [c.get("Constraint") or {} for c in
                           (element.get("ColumnDef") or {}).get("constraints") or ()]
        out.extend(c["pktable"] for c in constraints
                   if c.get("contype") == "CONSTR_FOREIGN" and c.get("pktable"))
    return out


def _altered(body: dict, created: frozenset[str],
             new_indexes: set[str]) -> tuple[str, str] | None:
    """`_locked_table` of an ALTER TABLE (or ALTER INDEX, ...)."""
    objtype = body.get("objtype")
    if objtype not in _ALTERED_OBJECTS:
        return None
    commands = [c.get("AlterTableCmd", {}) for c in body.get("cmds") or ()]
    if commands and all(c.get("subtype") in WEAK_ALTER_SUBCOMMANDS for c in commands):
        return None
    name = n.relation_name(body.get("relation"))
    if not name or name in created or (objtype == "OBJECT_INDEX" and name in new_indexes):
        return None
    foreign_keys_only = commands and all(
        c.get("subtype") == "AT_AddConstraint"
        and (c.get("def") or {}).get("Constraint", {}).get("contype") == "CONSTR_FOREIGN"
        for c in commands)
    return name, "write" if foreign_keys_only else "query"


def _dropped(body: dict, created: frozenset[str],
             new_indexes: set[str]) -> tuple[str, str] | None:
    """`_locked_table` of a DROP TABLE, DROP INDEX or DROP TRIGGER."""
    if body.get("concurrent"):
        return None
    names = n.dropped_names(body)
    if body.get("removeType") == "OBJECT_TABLE":
        existing = [x for x in names if x and x not in created]
    elif body.get("removeType") == "OBJECT_TRIGGER":  # ON [schema.]table: ACCESS EXCLUSIVE
        tables = [x.rpartition(".")[0] for x in names]
        existing = [x for x in tables if x and x not in created]
    elif body.get("removeType") == "OBJECT_INDEX":
        existing = [x for x in names if x and x not in new_indexes]
    else:
        return None
    return (existing[0], "query") if existing else None


def _reindexed(body: dict, created: frozenset[str],
               new_indexes: set[str]) -> tuple[str, str] | None:
    """`_locked_table` of a REINDEX ("" for a schema, database or system)."""
    if "concurrently" in n.def_elems(body.get("params")):
        return None
    if body.get("kind") == "REINDEX_OBJECT_INDEX":
        name = n.relation_name(body.get("relation"))
        return (name, "query") if name and name not in new_indexes else None
    if body.get("kind") == "REINDEX_OBJECT_TABLE":
        # SHARE on the table blocks writes; ACCESS EXCLUSIVE on each index blocks the reads
        # (and the planning) that would use it.
        name = _first_existing([body.get("relation") or {}], created)
        return (name, "query") if name else None
    return "", "query"


def _locks_index(stmt: Statement) -> bool:
    body = stmt.body
    return (stmt.kind == "AlterTableStmt" and body.get("objtype") == "OBJECT_INDEX") or (
        stmt.kind == "DropStmt" and body.get("removeType") == "OBJECT_INDEX") or (
        stmt.kind == "ReindexStmt" and body.get("kind") == "REINDEX_OBJECT_INDEX")


_WHAT = {"AlterTableStmt": "ALTER", "IndexStmt": "CREATE INDEX", "DropStmt": "DROP",
         "TruncateStmt": "TRUNCATE", "RenameStmt": "ALTER ... RENAME", "VacuumStmt": "VACUUM FULL",
         "ClusterStmt": "CLUSTER", "ReindexStmt": "REINDEX", "LockStmt": "LOCK TABLE",
         "CreateTrigStmt": "CREATE TRIGGER", "CreateStmt": "CREATE TABLE"}


def _describe(stmt: Statement) -> str:
    what = _WHAT.get(stmt.kind, "This statement")
    if stmt.kind == "AlterTableStmt":
        what = {"OBJECT_INDEX": "ALTER INDEX", "OBJECT_MATVIEW": "ALTER MATERIALIZED VIEW"}.get(
            stmt.body.get("objtype"), "ALTER TABLE")
    elif stmt.kind == "DropStmt":
        what = {"OBJECT_TABLE": "DROP TABLE", "OBJECT_TRIGGER": "DROP TRIGGER"}.get(
            stmt.body.get("removeType"), "DROP INDEX")
    return f"`{what}`"
