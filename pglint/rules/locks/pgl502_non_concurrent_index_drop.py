"""PGL502 non-concurrent-index-drop."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import (DJANGO_ORDERS, LIVE_MIGRATIONS, alembic_revision,
                                         django_migration)
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, OWN_MIGRATION_HELP,
                              in_transaction_block, index_before_file, keyword, locked_later,
                              runs_outside_transaction, table_before_file)
from pglint.kit.orm_migrations import concurrent_help, concurrent_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL,\n"
           "                     note text);\n"
           "CREATE INDEX orders_status_idx ON orders (status);\n"
           "CREATE INDEX orders_note_idx ON orders (note);\n")
_CONTEXT = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS}


class NonConcurrentIndexDrop(Rule):
    """
    ## What it does
    Flags `DROP INDEX` without `CONCURRENTLY` of an index that an earlier migration file
    built on a table that already existed. Indexes built earlier in the same file, and indexes
    the replayed migrations do not show, are left alone, and so is a drop in a DO block or a
    function: a conditional clean-up (`IF` the leftover of a failed build exists), where
    `CONCURRENTLY` cannot run.
    Alembic's `op.drop_index` and Django's `RemoveIndex` are judged by the `DROP INDEX` they
    send; their fix is shown in the framework's terms (`postgresql_concurrently=True` in an
    autocommit block, `RemoveIndexConcurrently`).

    ## Why is this bad?
    A plain `DROP INDEX` takes an ACCESS EXCLUSIVE lock on the index's table. The drop itself is
    instant, but the lock must wait for every transaction using the table, such as a long
    report, and while it waits every later query on the table, `SELECT` included, queues
    behind it. `DROP INDEX CONCURRENTLY` takes a SHARE UPDATE EXCLUSIVE lock instead: it waits
    for running transactions without blocking anyone.

    `CONCURRENTLY` drops one index per statement, without `CASCADE`, and cannot run inside a
    transaction block, a DO block or a function (SQLSTATE 25001), nor on a partitioned index.

    ## Example
    ```sql
    DROP INDEX orders_status_idx;
    ```

    ## Use instead
    ```sql
    DROP INDEX CONCURRENTLY orders_status_idx;
    ```

    ## Fix safety
    Unsafe: pglint adds `CONCURRENTLY`, which fails when the migration runner wraps the file in
    a transaction (Flyway by default, Diesel, sqlx, Rails, Django): run this migration outside
    one. The fix is shown, not applied, inside the file's own `BEGIN ... COMMIT` or a DO
    block, for a statement that drops several indexes or uses `CASCADE`, and for an index of a
    partitioned table.
    Applied (unsafe) only when the file says its runner leaves it outside a transaction (goose
    `-- +goose NO TRANSACTION`, dbmate `transaction:false`, an ory/popx `.autocommit.` file);
    otherwise shown, with what each runner needs.
    """

    code = "PGL502"
    name = "non-concurrent-index-drop"
    summary = "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on an existing table"
    references = (
        "https://www.postgresql.org/docs/current/sql-dropindex.html",
    )
    squawk = ("require-concurrent-index-deletion",)
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 12 sampled findings on real repositories (two "
        "rounds): dropping an index is instant once locked, and most drops it saw were on "
        "small tables, in rollbacks or under a lock the migration already held"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    options = (LOCK_EVIDENCE,)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("DropStmt",)
    lock = "ACCESS EXCLUSIVE"
    lock_held = "instant"

    VALID = (
        Example("DROP INDEX CONCURRENTLY orders_status_idx;\n", context=_CONTEXT),
        # A conditional clean-up in a DO block, where CONCURRENTLY cannot run (capgo).
        Example("DO $$\nBEGIN\n  IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c "
                "ON c.oid = i.indexrelid\n"
                "             WHERE c.relname = 'orders_status_idx' AND NOT i.indisvalid) THEN\n"
                "    DROP INDEX orders_status_idx;\n  END IF;\nEND $$;\n", context=_CONTEXT),
        # Built earlier in the same file: the table is in use, but the index is not.
        Example("CREATE INDEX CONCURRENTLY orders_status_note_idx ON orders (status, note);\n"
                "DROP INDEX orders_status_note_idx;\n", context=_CONTEXT),
        # A table created earlier in the same file has no users to block.
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                "CREATE INDEX notes_author_idx ON notes (author);\n"
                "DROP INDEX notes_author_idx;\n"),
        # No evidence of the index: silent.
        Example("DROP INDEX IF EXISTS invoices_due_idx;\n"),
        # Alembic: a concurrent drop, outside the revision's transaction.
        Example(alembic_revision(
            "    with op.get_context().autocommit_block():\n"
            "        op.drop_index(\"orders_status_idx\", table_name=\"orders\",\n"
            "                      postgresql_concurrently=True)\n"),
            kind="python", context=_CONTEXT),
        # Django: RemoveIndexConcurrently in a migration that is not atomic.
        Example(django_migration(
            "        RemoveIndexConcurrently(model_name=\"order\", "
            "name=\"app_order_status_idx\"),\n", atomic=False,
            imports="from django.contrib.postgres.operations import RemoveIndexConcurrently\n"),
            kind="python", context=DJANGO_ORDERS),
        # A later statement of the same transaction takes ACCESS EXCLUSIVE on the table anyway.
        Example("DROP INDEX orders_note_idx;\nALTER TABLE orders DROP COLUMN note;\n",
                context=_CONTEXT),
    )

    INVALID = (
        Example("-- +goose NO TRANSACTION\n"
                "DROP INDEX orders_status_idx;\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "DROP INDEX CONCURRENTLY orders_status_idx;\n", context=_CONTEXT),
        Example("-- +goose NO TRANSACTION\n"
                "DROP INDEX IF EXISTS public.orders_status_idx; -- replaced below\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "DROP INDEX CONCURRENTLY IF EXISTS public.orders_status_idx; "
                      "-- replaced below\n",
                context=_CONTEXT),
        # Two indexes in one statement: CONCURRENTLY takes one; shown only.
        Example("DROP INDEX orders_status_idx, orders_note_idx;\n", context=_CONTEXT),
        Example("BEGIN;\nDROP INDEX orders_status_idx;\nCOMMIT;\n", context=_CONTEXT),
        # The later lock comes after a COMMIT: the drop waits on its own.
        Example("BEGIN;\nDROP INDEX orders_note_idx;\nCOMMIT;\n"
                "ALTER TABLE orders DROP COLUMN note;\n", context=_CONTEXT),
        # Alembic's op.drop_index sends the same DROP INDEX: the fix shown is
        # `postgresql_concurrently=True` in an autocommit block.
        Example(alembic_revision("    op.drop_index(\"orders_status_idx\", "
                                 "table_name=\"orders\")\n"), kind="python", context=_CONTEXT),
        # Django's RemoveIndex too: the fix shown is RemoveIndexConcurrently.
        Example(django_migration("        migrations.RemoveIndex(model_name=\"order\", "
                                 "name=\"app_order_status_idx\"),\n"),
                kind="python", context=DJANGO_ORDERS),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("removeType") != "OBJECT_INDEX" or node.get("concurrent") \
                or stmt.parent is not None:
            return
        names = n.dropped_names(node)
        # An index behind a PRIMARY KEY or UNIQUE constraint cannot be dropped this way at all.
        dropped = [index for index in (index_before_file(ctx, stmt, x) for x in names)
                   if index is not None and not index.constraint]
        if not dropped:
            return
        index = dropped[0]
        if locked_later(ctx, stmt, index.table) is not None:
            return  # the transaction queues for ACCESS EXCLUSIVE on the table anyway
        table = table_before_file(ctx, stmt, index.table, index_drops=True)
        shown = f"`{index.table}`"
        message = (f"`DROP INDEX {index.name}` without `CONCURRENTLY` takes an ACCESS EXCLUSIVE "
                   f"lock on {shown}: while it waits for running transactions, "
                   f"{BLOCKED_BY['ACCESS EXCLUSIVE']} on {shown} queues behind it")
        help = (
            "Dropping an index is instant once the lock is granted, but a plain `DROP INDEX` "
            "needs ACCESS EXCLUSIVE on the table, which waits for every open transaction that "
            "touched it; meanwhile every new query on the table, reads included, waits too. "
            "`DROP INDEX CONCURRENTLY` takes SHARE UPDATE EXCLUSIVE and blocks nobody. It drops "
            "one index per statement, without CASCADE, outside any transaction block.")
        title = "Drop the index with `CONCURRENTLY`"
        why_shown = ""
        if len(names) > 1:
            why_shown = " one statement per index,"
        elif node.get("behavior") == "DROP_CASCADE":
            why_shown = " without CASCADE (drop what depends on the index first),"
        elif table is not None and table.partitioned:
            why_shown = " on each partition's index (a partitioned index cannot be dropped " \
                        "concurrently),"
        after = keyword(ctx, stmt, "INDEX")
        if why_shown or after is None or in_transaction_block(ctx, stmt) or \
                not runs_outside_transaction(ctx):
            if_exists = "IF EXISTS " if node.get("missing_ok") else ""
            suggestion = "\n".join(f"DROP INDEX CONCURRENTLY {if_exists}{n.quote_qualified(x)};"
                                   for x in names)
            fix = Fix.display(f"{title},{why_shown} outside any transaction block", suggestion)
            if not in_transaction_block(ctx, stmt) and not runs_outside_transaction(ctx):
                help += OWN_MIGRATION_HELP
        else:
            fix = Fix(title, Applicability.UNSAFE, (Edit.insert(after.end, " CONCURRENTLY"),))
        recipe = concurrent_recipe(ctx, stmt, title)
        if recipe is not None and not why_shown:  # `op.drop_index(...)`, `RemoveIndex(...)`
            fix, help = recipe, help + concurrent_help(stmt)
        yield self.finding(ctx, message, fix, help, node=stmt)
