"""PGL308 long-statement-without-statement-timeout."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.backfills import writes_whole_table
from pglint.kit.example_projects import LIVE_MIGRATIONS, alembic_env
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, SMALL_TABLE_ROWS, added_constraints,
                              existing_table, known_small, locked_earlier, runs_in_migration,
                              scans_for_not_null, shown_table, takes_access_exclusive)
from pglint.kit.rewrites import table_rewrites
from pglint.kit.timeouts import postgres_duration, runner_transaction_only, settings_in_force
from pglint.model.catalog import Table
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule, RuleOption
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

MIGRATION_STATEMENT_TIMEOUT = RuleOption(
    "migration-statement-timeout", str, "15min", check=postgres_duration,
    doc="the statement_timeout that PGL308's suggestion sets before a long statement: a "
        "PostgreSQL duration (30s, 15min, 1h), longer than the statement takes on the table")

_ORDERS = ("CREATE TABLE customers (customer_id bigint PRIMARY KEY);\n"
           "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text, quantity int,\n"
           "                     customer_id bigint);\n"
           "ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status <> '') "
           "NOT VALID;\n")
_CONTEXT = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS}
_INDEX = "CREATE INDEX orders_status_idx ON orders (status);\n"
_REWRITE = "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n"
_UNIQUE = {"CONSTR_UNIQUE": "UNIQUE", "CONSTR_PRIMARY": "PRIMARY KEY"}


@dataclass(frozen=True)
class _Long:
    """A statement that holds a lock for as long as its table is big."""

    table: str
    what: str  # "`CREATE INDEX` without `CONCURRENTLY`"
    lock: str  # a mode of kit.locks.BLOCKED_BY, or "" for the row locks of an UPDATE
    work: str  # "the build", "the rewrite"
    earlier: bool = False  # the lock is ACCESS EXCLUSIVE, taken earlier in the transaction
    # The statement has a form that takes no long strong lock, which a rule of its own asks
    # for (CONCURRENTLY: PGL501/PGL503/PGL510, NOT VALID: PGL505/PGL506/PGL507, batches:
    # PGL202): that change, not a timeout, is what a reviewer wants.
    online: bool = True


class LongStatementWithoutStatementTimeout(Rule):
    """
    ## What it does
    Flags, in a migration, a statement whose lock lasts as long as an existing table is big,
    with no `statement_timeout` set before it in the file: a table rewrite (PGL508's forms), an
    index build or rebuild without `CONCURRENTLY` (`CREATE INDEX`, `REINDEX`, `ADD UNIQUE`,
    `ADD PRIMARY KEY`, `ADD COLUMN ... UNIQUE`), a constraint validated in place (`ADD FOREIGN
    KEY` or `ADD CHECK` without `NOT VALID`, `SET NOT NULL` that no valid check proves), and
    an `UPDATE` of a whole table (no `WHERE`, or one that leaves most rows in). Any value
    counts as a decision, `0` included: `SET`, `SET LOCAL` (in a transaction block, or at the
    top of a file its runner wraps in one transaction), `set_config('statement_timeout',
    ...)`, or a `SET statement_timeout` that the migration runner makes on its connection
    (Alembic's `env.py`, or the configuration's `runner-settings`). The rule reports once per
    file, on the first such statement.

    A statement that has a form taking no long strong lock is left to the rule that asks for
    that form, whose remedy a reviewer wants rather than a timeout: `CREATE INDEX` and `REINDEX`
    without `CONCURRENTLY` (PGL501, PGL503), `ADD FOREIGN KEY`/`ADD CHECK` without `NOT VALID`
    and an unproved `SET NOT NULL` (PGL505-PGL507), a unique index built in place (PGL510), a
    whole-table `UPDATE` (PGL202). They are reported here only when an earlier statement of
    the same transaction already holds ACCESS EXCLUSIVE on the table, so that no online form
    can help and the long statement keeps every query waiting. Rewrites (PGL508's forms) have no
    online form and are always judged.

    It stays silent on `ALTER TABLE ... VALIDATE CONSTRAINT` (SHARE UPDATE EXCLUSIVE: reads and
    writes go on), on `CONCURRENTLY` builds, on constraints added `NOT VALID`, on tables
    created in the same file or by a migration that has not run, and on a table that
    `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default 10,000).

    ## Why is this bad?
    `lock_timeout` (PGL301) bounds the wait for a lock; `statement_timeout` bounds how long the
    statement runs, and so how long it holds the lock once granted. A rewrite holds ACCESS
    EXCLUSIVE, a plain index build SHARE, a validation in place ACCESS EXCLUSIVE or SHARE ROW
    EXCLUSIVE, a whole-table `UPDATE` a row lock on every row, each for a time that grows with
    the table; after an `ALTER TABLE` earlier in the same transaction (a column added, then
    indexed or backfilled) the lock held through the work is that statement's ACCESS
    EXCLUSIVE. Without a decision in the migration, the statement runs with whatever the
    session has: with a short role-level default (`ALTER ROLE app SET statement_timeout =
    '5s'`, meant for the application) it is cancelled halfway through on a large table and the
    migration fails, possibly after minutes of blocking; with none (0, the server's default)
    it holds its lock for as long as the work takes, with nothing to stop it.

    ## Example
    ```sql
    SET lock_timeout = '5s';
    ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;
    ```

    ## Use instead
    ```sql
    SET lock_timeout = '5s';
    SET statement_timeout = '15min';  -- longer than the rewrite takes on production's table
    ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;
    RESET statement_timeout;
    ```
    Or put the statement in a migration of its own, with its timeout. `SET LOCAL` inside a
    transaction block, or in a file its runner wraps in one (goose, dbmate, Flyway, Prisma,
    Diesel, golang-migrate, sqlx, Django, Alembic). `SET statement_timeout = 0` is a decision
    too, for a planned outage; better still, the statements that need no strong lock
    (`CONCURRENTLY`, `NOT VALID` then `VALIDATE`, a batched backfill: PGL501-PGL510, PGL202).

    ## Fix safety
    Shown, never applied: the value is a judgement about the table's size and how long the
    application can wait, and a timeout too short fails the migration. The suggestion sets
    `migration-statement-timeout` (default `15min`) before the statement.
    """

    code = "PGL308"
    name = "long-statement-without-statement-timeout"
    summary = ("A migration statement that holds its lock for as long as the table is big, "
               "with no statement_timeout decided")
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 3 of 6 sampled findings on real repositories, and in each "
        "the change wanted was CONCURRENTLY or NOT VALID, which other rules ask for: since "
        "then it judges only statements no online form can replace (rewrites, work under an "
        "ACCESS EXCLUSIVE lock already held), not yet judged again"
    )
    references = (
        "https://www.postgresql.org/docs/current/runtime-config-client.html"
        "#GUC-STATEMENT-TIMEOUT",
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES",
    )
    squawk = ("require-statement-timeout",)
    file_kinds = frozenset({"migration"})
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, MIGRATION_STATEMENT_TIMEOUT)
    judges_operations = True  # the SQL of Django and Alembic operations too
    # Locks are held when a migration runs: never by one that has already run.
    roles = frozenset({MIGRATION})
    judges_applied_migrations = False

    VALID = (
        Example("SET statement_timeout = '30min';\n" + _INDEX, context=_CONTEXT),
        # 0 is a decision too: the team accepts the outage.
        Example("SET statement_timeout = 0;\n"
                "ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n", context=_CONTEXT),
        # The runner wraps the file in a transaction: SET LOCAL lasts until its end.
        Example("SET LOCAL statement_timeout = '20min';\n" + _INDEX, context=_CONTEXT),
        Example("SELECT set_config('statement_timeout', '1h', false);\n" + _INDEX,
                context=_CONTEXT),
        # Alembic's env.py sets it on the connection that runs every revision.
        Example("from alembic import op\n\nrevision = \"b2\"\ndown_revision = None\n\n\n"
                "def upgrade():\n"
                "    op.execute(\"CREATE INDEX orders_status_idx ON orders (status)\")\n",
                kind="python",
                context={**_CONTEXT, **alembic_env("statement_timeout = 60000")}),
        # Nothing that holds a strong lock for long.
        Example("CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders VALIDATE CONSTRAINT orders_status_check;\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD CONSTRAINT orders_quantity_check CHECK (quantity > 0)"
                " NOT VALID;\n", context=_CONTEXT),
        Example("UPDATE orders SET status = 'new' WHERE order_id = 42;\n", context=_CONTEXT),
        # A table created in the same file; a table the hints say is small.
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, body text);\n"
                "CREATE INDEX notes_body_idx ON notes (body);\n"),
        Example(_REWRITE, context=_CONTEXT, config={"tables": {"orders": {"rows": 300}}}),
        # An online form exists, and its own rule asks for it: CONCURRENTLY (PGL501, PGL503,
        # PGL510), NOT VALID then VALIDATE (PGL505-PGL507), a batched backfill (PGL202).
        Example("SET lock_timeout = '5s';\n" + _INDEX, context=_CONTEXT),
        Example("-- +goose NO TRANSACTION\nREINDEX TABLE orders;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD CONSTRAINT orders_status_key UNIQUE (status);\n",
                context=_CONTEXT),
        Example("BEGIN;\nALTER TABLE orders ADD CONSTRAINT orders_quantity_check "
                "CHECK (quantity > 0);\nCOMMIT;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
                "    FOREIGN KEY (customer_id) REFERENCES customers;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT),
        Example("UPDATE orders SET status = 'new' WHERE status IS NULL;\n", context=_CONTEXT),
        Example("DO $$\nBEGIN\n  UPDATE orders SET quantity = 0;\nEND $$;\n", context=_CONTEXT),
    )
    INVALID = (
        # lock_timeout bounds the wait for the lock, not how long the rewrite holds it.
        Example("SET lock_timeout = '5s';\n" + _REWRITE, context=_CONTEXT),
        Example(_REWRITE, context=_CONTEXT, config={"tables": {"orders": {"rows": 80_000_000}}}),
        # In the file's own transaction block: SET LOCAL.
        Example("BEGIN;\n" + _REWRITE + "COMMIT;\n", context=_CONTEXT),
        # Outside any transaction: a session-level SET, reset after the statement.
        Example("-- +goose NO TRANSACTION\nVACUUM FULL orders;\n", context=_CONTEXT),
        # The column's ALTER TABLE took ACCESS EXCLUSIVE: no CONCURRENTLY can help now, and
        # the build keeps every query waiting.
        Example("ALTER TABLE orders ADD COLUMN note text;\n"
                "CREATE INDEX orders_note_idx ON orders (note);\n", context=_CONTEXT),
        # ... and the backfill too.
        Example("ALTER TABLE orders ADD COLUMN note text;\n"
                "UPDATE orders SET note = '';\n", context=_CONTEXT),
        # A timeout set after the statement decides nothing for it.
        Example(_REWRITE + "SET statement_timeout = '5min';\n", context=_CONTEXT),
    )

    def check_file(self, ctx: FileContext) -> Iterable[Finding]:
        found: list[tuple[Statement, _Long]] = []
        for stmt, value in settings_in_force(ctx, "statement_timeout"):
            if value is not None:
                continue  # decided: any value, 0 included
            long = _long_statement(ctx, stmt)
            if long is None:
                continue
            if long.lock != "ACCESS EXCLUSIVE" and \
                    locked_earlier(ctx, stmt, long.table) is not None:
                # The ALTER TABLE before it (ADD COLUMN, then its index or backfill) holds
                # ACCESS EXCLUSIVE until the transaction ends: through all of this work.
                long = replace(long, lock="ACCESS EXCLUSIVE", earlier=True)
            if long.online and not long.earlier:
                continue  # the online form is the remedy, and another rule asks for it
            found.append((stmt, long))
        if found:
            yield self._report(ctx, *found[0], len(found) - 1)

    def _report(self, ctx: FileContext, stmt: Statement, long: _Long, more: int) -> Finding:
        shown = shown_table(ctx, long.table)
        if long.earlier:
            held = (f"keeps the ACCESS EXCLUSIVE lock that an earlier statement of its "
                    f"transaction took on {shown}")
            blocked = f"{BLOCKED_BY[long.lock]} on `{long.table}`"
        elif long.lock:
            held = f"holds a{'n' if long.lock[0] in 'AEIOU' else ''} {long.lock} lock on {shown}"
            blocked = f"{BLOCKED_BY[long.lock]} on `{long.table}`"
        else:
            held = f"holds a row lock on every row of {shown} it changes"
            blocked = "every write to those rows"
        message = (f"{long.what} {held} for as long as {long.work} takes, with no "
                   f"`statement_timeout` set before it: nothing decides how long {blocked} may "
                   "wait")
        help = (
            "`lock_timeout` bounds the wait for a lock; `statement_timeout` bounds how long the "
            "statement runs, and so how long it holds the lock, which grows with the table. "
            "Without a decision in the migration the statement gets whatever the session has: "
            "a short role-level default (a `statement_timeout` of 5s meant for the "
            "application) cancels it halfway through on a large table and fails the "
            "migration; none (0, the server's default) lets it hold the lock for as long as "
            "the work takes. Set one sized to the table before it, or give the statement a "
            "migration of its own with its timeout; `0` is a decision too, for a planned "
            "outage.")
        role = ctx.model.catalog.role_settings.get("statement_timeout")
        if role is not None:
            help += (f" The project's SQL sets `statement_timeout = {n.quote_literal(role)}` "
                     "for a role or database (`ALTER ROLE/DATABASE ... SET`): a migration "
                     "that runs as it gets that value.")
        if more:
            help += (f" The same setting covers the file's {more} later long "
                     f"statement{'s' if more > 1 else ''}.")
        return self.finding(ctx, message, _suggestion(ctx, stmt), help, node=stmt)


def _suggestion(ctx: FileContext, stmt: Statement) -> Fix:
    top = stmt.parent or stmt
    literal = n.quote_literal(str(ctx.settings.option(MIGRATION_STATEMENT_TIMEOUT.name)))
    text = ctx.statement_text(top).rstrip().rstrip(";")
    title = "Decide the `statement_timeout` before the statement"
    if ctx.session(top).in_transaction or runner_transaction_only(ctx):
        # It ends with the transaction: nothing to reset.
        return Fix.display(title, f"SET LOCAL statement_timeout = {literal};\n{text};")
    return Fix.display(title, f"SET statement_timeout = {literal};\n{text};\n"
                              "RESET statement_timeout;")


def _long_statement(ctx: FileContext, stmt: Statement) -> _Long | None:
    """What makes `stmt` hold a lock for as long as its (existing, not known small) table is
    big, or None."""
    if not runs_in_migration(stmt):
        return None
    body, kind = stmt.body, stmt.kind
    found: _Long | None = None
    if kind in ("AlterTableStmt", "VacuumStmt", "ClusterStmt"):
        # VACUUM FULL may name several tables: the first that is not known to be small.
        rewrite = next((r for r in table_rewrites(ctx, stmt) if not known_small(ctx, r.table)),
                       None)
        if rewrite is not None:
            found = _Long(rewrite.table, rewrite.what, "ACCESS EXCLUSIVE", "the rewrite",
                          online=False)
        elif kind == "AlterTableStmt":
            found = _altered(ctx, stmt, body)
    elif kind == "IndexStmt" and not body.get("concurrent"):
        table = existing_table(ctx, stmt, n.relation_name(body.get("relation")))
        if table is not None:
            found = _Long(table.name, "`CREATE INDEX` without `CONCURRENTLY`", "SHARE",
                          "the build")
    elif kind == "ReindexStmt" and "concurrently" not in n.def_elems(body.get("params")):
        found = _reindexed(ctx, stmt, body)
    elif kind == "UpdateStmt" and writes_whole_table(body.get("whereClause")):
        table = existing_table(ctx, stmt, n.relation_name(body.get("relation")))
        if table is not None:
            rows = "every row" if body.get("whereClause") is None else "most rows"
            found = _Long(table.name, f"`UPDATE` of {rows} in one statement", "",
                          "the backfill")
    if found is None or known_small(ctx, found.table):
        return None
    return found


def _reindexed(ctx: FileContext, stmt: Statement, body: dict[str, Any]) -> _Long | None:
    name = n.relation_name(body.get("relation"))
    if body.get("kind") == "REINDEX_OBJECT_INDEX":
        index = ctx.model.catalog.indexes.get(name or "")
        name = index.table if index is not None else None
    elif body.get("kind") != "REINDEX_OBJECT_TABLE":
        return None
    table = existing_table(ctx, stmt, name)
    if table is None:
        return None
    return _Long(table.name, "`REINDEX` without `CONCURRENTLY`", "SHARE", "the rebuild")


def _altered(ctx: FileContext, stmt: Statement, body: dict[str, Any]) -> _Long | None:
    """An ALTER TABLE that validates a constraint or builds a unique index in place."""
    if body.get("objtype") != "OBJECT_TABLE":
        return None
    table = existing_table(ctx, stmt, n.relation_name(body.get("relation")))
    if table is None:
        return None
    what, work = _in_place_work(ctx, stmt, body, table)
    if not what:
        return None
    # The ALTER's lock is its strongest subcommand's: a foreign key alone takes SHARE ROW
    # EXCLUSIVE (on both tables), anything else here ACCESS EXCLUSIVE.
    lock = "ACCESS EXCLUSIVE" if takes_access_exclusive(stmt, table.name) \
        else "SHARE ROW EXCLUSIVE"
    return _Long(table.name, what, lock, work)


def _in_place_work(ctx: FileContext, stmt: Statement, body: dict[str, Any],
                   table: Table) -> tuple[str, str]:
    """(what, the work) of the first subcommand that scans or indexes the whole table."""
    if added_constraints(body, "CONSTR_FOREIGN"):
        return "`ADD FOREIGN KEY` without `NOT VALID`", "the validating scan"
    if added_constraints(body, "CONSTR_CHECK"):
        return "`ADD CHECK` without `NOT VALID`", "the validating scan"
    for item in body.get("cmds") or ():
        cmd = item.get("AlterTableCmd") or {}
        subtype = cmd.get("subtype")
        constraint = (cmd.get("def") or {}).get("Constraint") or {}
        if subtype == "AT_AddConstraint" and constraint.get("contype") in _UNIQUE and \
                not constraint.get("indexname"):
            return f"`ADD {_UNIQUE[constraint['contype']]}`", "the index build"
        if subtype == "AT_AddColumn":
            coldef = (cmd.get("def") or {}).get("ColumnDef") or {}
            kinds = [(c.get("Constraint") or {}).get("contype")
                     for c in coldef.get("constraints") or ()]
            unique = next((_UNIQUE[k] for k in kinds if k in _UNIQUE), None)
            if unique:
                return f"`ADD COLUMN {coldef.get('colname')} ... {unique}`", "the index build"
        if subtype == "AT_SetNotNull" and scans_for_not_null(ctx, stmt, table, cmd.get("name")):
            return f"`SET NOT NULL` on `{cmd.get('name')}`", "the scan"
    return "", ""
