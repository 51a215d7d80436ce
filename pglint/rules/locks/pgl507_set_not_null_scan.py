"""PGL507 set-not-null-scan."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.example_projects import LIVE_MIGRATIONS, ORDERS_ONLINE, alembic_revision
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, SIZE_EVIDENCE, SMALL_TABLE_ROWS,
                              big_table, later_in_transaction, runner_wraps_file,
                              runs_in_migration, scans_for_not_null, shown_table,
                              table_before_file)
from pglint.kit.orm_migrations import orm_recipe
from pglint.model.catalog import Table
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL,\n"
           "                     customer_id bigint);\n")
_CONTEXT = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS}
# The check validated by an earlier migration, as the recipe spreads it over several files.
_CHECKED = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS,
            "migrations/V2__check.sql": (
                "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null_check\n"
                "    CHECK (customer_id IS NOT NULL) NOT VALID;\n"
                "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_not_null_check;\n")}
SCAN_SKIPPED_SINCE = 12  # a valid CHECK (col IS NOT NULL) spares SET NOT NULL its scan
NOT_NULL_NOT_VALID_SINCE = 18  # ADD CONSTRAINT ... NOT NULL col NOT VALID


class SetNotNullScan(Rule):
    """
    ## What it does
    Flags `ALTER TABLE ... ALTER COLUMN ... SET NOT NULL` on a column that an earlier migration
    file created, in a table that file created, when no valid constraint already proves the
    column NOT NULL: a `CHECK (col IS NOT NULL)` added valid or validated earlier (in this file
    or an earlier one), or PostgreSQL 18's `NOT NULL col` constraint validated earlier. A column
    declared `NOT NULL` already, and tables or columns created in the same file, are left
    alone.
    Alembic's `op.alter_column(..., nullable=False)` is judged by the `SET NOT NULL` it sends.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its scan is over in moments. On a larger hinted
    table the message gives the size. Without a hint, only a table something shows to be big is
    judged (`size-evidence`, default true): another migration of the project builds an index
    on it `CONCURRENTLY`, which the message cites.
    Later `SET NOT NULL`s on the same table in the same transaction have no finding of their own
    (the lock is already held), but each scans again: the first finding names them, and its
    recipe covers them.

    ## Why is this bad?
    `SET NOT NULL` takes an ACCESS EXCLUSIVE lock and, to prove there is no NULL, reads every
    row while holding it: every query on the table, `SELECT` included, waits for the scan.
    Since PostgreSQL 12 the scan is skipped when a valid `CHECK (col IS NOT NULL)` constraint
    already proves it, and such a check can be added `NOT VALID` (an instant lock) and then
    validated under a SHARE UPDATE EXCLUSIVE lock, which blocks no reads or writes. PostgreSQL
    18 can add the NOT NULL constraint itself `NOT VALID` and validate it the same way.

    ## Example
    ```sql
    ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null_check
        CHECK (customer_id IS NOT NULL) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_not_null_check;
    ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;  -- no scan: the check proves it
    ALTER TABLE orders DROP CONSTRAINT orders_customer_id_not_null_check;
    ```
    Each step in its own transaction (the validation above all). On PostgreSQL 18:
    `ADD CONSTRAINT orders_customer_id_not_null NOT NULL customer_id NOT VALID`, then
    `VALIDATE CONSTRAINT`; nothing else.

    ## Fix safety
    Shown, never applied: the recipe spans several transactions (often several migrations),
    and the runner may wrap a file in one (then the recipe says the validation goes in a
    migration of its own). A statement that does more than `SET NOT NULL` (`SET DEFAULT`, ...)
    is kept as written, run once the check proves its columns. pglint writes it for `--target-version`: the
    PostgreSQL 18 form from 18, the check-then-SET-NOT-NULL form from 12; before 12 no
    constraint spares the scan, and the suggestion keeps the validated check instead of
    `SET NOT NULL`.
    """

    code = "PGL507"
    name = "set-not-null-scan"
    summary = "SET NOT NULL on an existing column scans the table under an ACCESS EXCLUSIVE lock"
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html",
        "https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-NOT-NULL",
    )
    squawk = ("adding-not-nullable-field",)
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 11 of 13 findings on real repositories once it needed "
        "evidence that the table is big (round 11), but in 6 of the same 13 when they were "
        "judged again at the time each migration ran (round 13): a scan is far shorter than "
        "an index build, so a table big enough for the project to build its indexes "
        "concurrently is not always big enough for its scan to matter, and the build cited "
        "often came years after the migration"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # Only a table known to be big: a hint, or the project's own concurrent build on it
    # (pglint.kit.locks.big_table).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, SIZE_EVIDENCE)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt",)
    lock = "ACCESS EXCLUSIVE"
    lock_held = "scan"

    VALID = (
        # The recipe in one file.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null_check\n"
                "    CHECK (customer_id IS NOT NULL) NOT VALID;\n"
                "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_not_null_check;\n"
                "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n"
                "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_not_null_check;\n",
                context=_CONTEXT),
        # The recipe over several migrations: the check was validated by an earlier one.
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n"
                "ALTER TABLE orders DROP CONSTRAINT orders_customer_id_not_null_check;\n",
                context=_CHECKED),
        # Declared NOT NULL already: nothing to scan.
        Example("ALTER TABLE orders ALTER COLUMN status SET NOT NULL;\n", context=_CONTEXT),
        # A column added in this file, a table created in this file, a table unknown.
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n"
                "ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;\n"
                "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\n", context=_CONTEXT),
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                "ALTER TABLE notes ALTER COLUMN author SET NOT NULL;\n"),
        Example("ALTER TABLE invoices ALTER COLUMN due_at SET NOT NULL;\n"),
        # The hints say the table is small: the scan is over in moments.
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT),
        # A check added NOT VALID but never validated proves nothing.
        Example("ALTER TABLE orders ALTER customer_id SET NOT NULL;\n",
                context={**_CONTEXT, "migrations/V2__check.sql":
                         "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_not_null_check\n"
                         "    CHECK (customer_id IS NOT NULL) NOT VALID;\n"}),
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT,
                target_version=18),
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT,
                target_version=11),
        # Alembic's op.alter_column(nullable=False) sends the same SET NOT NULL: the recipe is
        # shown as op.execute() calls.
        Example(alembic_revision("    op.alter_column(\"orders\", \"customer_id\", "
                                 "nullable=False)\n"), kind="python", context=_CONTEXT),
        # A large table, by the hints: the message says how large.
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 50_000_000}}}),
        # The statement does more than SET NOT NULL, in a file goose runs in one transaction:
        # the recipe runs the statement as written once the check proves the column (its
        # default is not lost), and the validation goes in a migration of its own.
        Example("-- +goose Up\n"
                "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL,\n"
                "                   ALTER COLUMN customer_id SET DEFAULT 0;\n", context=_CONTEXT),
        # Two SET NOT NULL on one table in one transaction: the second is silent (the lock is
        # held), but scans again; the first finding names it and its recipe covers both.
        Example("ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n"
                "ALTER TABLE orders ALTER COLUMN placed_at SET NOT NULL;\n",
                context={**_CONTEXT, "migrations/V1__init.sql":
                         _ORDERS + "ALTER TABLE orders ADD COLUMN placed_at timestamptz;\n"}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("objtype") != "OBJECT_TABLE" or not runs_in_migration(stmt):
            return
        columns = [c["AlterTableCmd"].get("name") for c in node.get("cmds") or ()
                   if c.get("AlterTableCmd", {}).get("subtype") == "AT_SetNotNull"]
        if not columns:
            return
        # The statement's other actions (`SET DEFAULT`, `ADD COLUMN`, ...): the recipe runs the
        # statement itself once the checks prove its columns, so none of them is lost.
        others = [c for c in node.get("cmds") or ()
                  if c.get("AlterTableCmd", {}).get("subtype") != "AT_SetNotNull"]
        written = n.relation_name(node.get("relation"))
        table = table_before_file(ctx, stmt, written)
        if table is None:
            return
        # Named as the statement names it (a later migration may rename the table): in the
        # message and in the recipe's SQL, which runs where this statement does.
        written = written or table.name
        size = big_table(ctx, table, written)
        if size is None:
            return
        later = _later_scans(ctx, stmt, table, written)
        for name in columns:
            column = scans_for_not_null(ctx, stmt, table, name)
            if column is None:
                continue
            shown = f"`{written}`"
            message = (f"`SET NOT NULL` on `{written}.{column.name}` reads every row of "
                       f"{shown_table(ctx, table.name, written)} under an ACCESS EXCLUSIVE lock: "
                       f"{BLOCKED_BY['ACCESS EXCLUSIVE']} on {shown} waits for the scan"
                       + (f"; {size}" if size else ""))
            if later and name == columns[-1]:
                # Their own findings stay silent (the lock is held already), but each scans
                # the table again under it: the message and the recipe cover them.
                lines = sorted({ctx.file.position(s.start)[0] for s, _ in later})
                message += (f", and {len(later)} more `SET NOT NULL` on {shown} later in the "
                            f"transaction (line{'s' if len(lines) > 1 else ''} "
                            f"{', '.join(map(str, lines))}) "
                            f"{'scan' if len(later) > 1 else 'scans'} it again under the same lock")
            help = (
                "To prove the column holds no NULL, SET NOT NULL scans the whole table while "
                "holding ACCESS EXCLUSIVE. Since PostgreSQL 12 the scan is skipped when a valid "
                "`CHECK (col IS NOT NULL)` proves it; add that check `NOT VALID` (instant), "
                "validate it in its own transaction (SHARE UPDATE EXCLUSIVE: reads and writes "
                "go on), then SET NOT NULL and drop the check.")
            version = ctx.settings.target_version
            pending = ctx.model.catalog.unvalidated_not_null_check(table.name, column.name)
            # `op.alter_column(..., nullable=False)`: the recipe in Alembic's or Django's terms.
            targets = [(column.name, pending)]
            kept = None
            if others and stmt.operation is None and stmt.exact:
                targets = [(c, ctx.model.catalog.unvalidated_not_null_check(table.name, c))
                           for c in columns if scans_for_not_null(ctx, stmt, table, c)]
                kept = (ctx.text[stmt.start:stmt.end].strip(), len(targets))
            if later and name == columns[-1]:
                targets += [(c, ctx.model.catalog.unvalidated_not_null_check(table.name, c))
                            for _, c in later]
            # A runner that wraps the file in one transaction: "its own transaction" is a
            # migration of its own.
            own = ("-- then, in a migration of its own (the runner runs this file in one "
                   "transaction):\n" if runner_wraps_file(ctx) and stmt.operation is None
                   else "-- then, in its own transaction:\n")
            fix = orm_recipe(ctx, stmt, _recipe(written, targets, version, kept, own))
            yield self.finding(ctx, message, fix,
                               help + _version_note(version), node=stmt)


def _later_scans(ctx: FileContext, stmt: Statement, table: Table, written: str
                 ) -> list[tuple[Statement, str]]:
    """The `SET NOT NULL`s on the same table later in this statement's transaction that scan
    it (statement, column): silent on their own, as the lock is held already."""
    names = {table.name, written}
    out = []
    for later in later_in_transaction(ctx, stmt):
        body = later.body
        if later.kind != "AlterTableStmt" or n.relation_name(body.get("relation")) not in names:
            continue
        for cmd in body.get("cmds") or ():
            alter = cmd.get("AlterTableCmd", {})
            if alter.get("subtype") == "AT_SetNotNull" and \
                    scans_for_not_null(ctx, later, table, alter.get("name")) is not None:
                out.append((later, alter.get("name")))
    return out


def _version_note(version: int) -> str:
    if version >= NOT_NULL_NOT_VALID_SINCE:
        return (" On PostgreSQL 18 the NOT NULL constraint itself can be added `NOT VALID` "
                "and validated: two statements, no check to drop.")
    if version < SCAN_SKIPPED_SINCE:
        return (f" PostgreSQL {version} scans even when a check proves it (the shortcut came in "
                "12): keep the validated check instead of SET NOT NULL, or set it at a quiet "
                "time.")
    return ""


def _recipe(table: str, columns: list[tuple[str, str | None]], version: int,
            kept: tuple[str, int] | None = None,
            own: str = "-- then, in its own transaction:\n") -> Fix:
    """The way around the scan for each (column, its NOT VALID check already there or None):
    every check added at once, validated in a transaction of its own (`own` says where), then
    SET NOT NULL. `kept`: the flagged statement's text when it does more than SET NOT NULL,
    and how many of the first `columns` it sets: it runs, as written, instead of their
    `SET NOT NULL`s (the checks spare it the scan), so its other actions are not lost."""
    target = n.quote_qualified(table)
    bare = table.split(".")[-1]
    if version >= NOT_NULL_NOT_VALID_SINCE:
        # `<table>_<column>_not_null` is the name PostgreSQL 18 gives the NOT NULL constraint.
        names = [(n.quote_ident(f"{bare}_{c}_not_null"), n.quote_ident(c)) for c, _ in columns]
        return Fix.display(
            "Add the NOT NULL constraint `NOT VALID`, then validate it (PostgreSQL 18)",
            "".join(f"ALTER TABLE {target} ADD CONSTRAINT {name} NOT NULL {col} NOT VALID;\n"
                    for name, col in names) + own +
            "\n".join(f"ALTER TABLE {target} VALIDATE CONSTRAINT {name};" for name, _ in names)
            + (f"\n-- then the statement as written (the validated constraints spare its "
               f"scan):\n{kept[0].rstrip(';')};" if kept else ""))
    # The check must not take the name PostgreSQL 18 gives the NOT NULL constraint.
    checks = [(n.quote_ident(pending) if pending else
               n.quote_ident(f"{bare}_{c}_not_null_check"), n.quote_ident(c), pending)
              for c, pending in columns]
    added = "".join(f"ALTER TABLE {target} ADD CONSTRAINT {name} CHECK ({col} IS NOT NULL) "
                    "NOT VALID;\n" for name, col, pending in checks if not pending)
    check = (added + (own if added else own.replace("-- then, in", "-- in")) +
             "".join(f"ALTER TABLE {target} VALIDATE CONSTRAINT {name};\n"
                     for name, _, _ in checks))
    if version < SCAN_SKIPPED_SINCE:
        if kept:
            check += ("-- then the statement's other actions, without its SET NOT NULL:\n-- "
                      + kept[0].replace("\n", "\n-- ") + "\n")
        return Fix.display("Enforce it with a validated check instead of SET NOT NULL", check)
    set_not_null = [f"ALTER TABLE {target} ALTER COLUMN {col} SET NOT NULL;\n"
                    for _, col, _ in checks]
    if kept:
        # The statement's own columns come first in `columns`: it runs as written instead.
        text, count = kept
        set_not_null = [text.rstrip(";") + ";\n"] + set_not_null[count:]
    return Fix.display(
        "Prove it with a validated check first, so SET NOT NULL skips its scan",
        check + "".join(set_not_null)
        + "\n".join(f"ALTER TABLE {target} DROP CONSTRAINT {name};" for name, _, _ in checks))
