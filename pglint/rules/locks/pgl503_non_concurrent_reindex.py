"""PGL503 non-concurrent-reindex."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.locks import (LOCK_EVIDENCE, SMALL_TABLE_ROWS, in_transaction_block,
                              index_before_file, known_small, runs_in_migration,
                              runs_outside_transaction, shown_table, table_before_file)
from pglint.roles import MIGRATION
from pglint.kit.example_projects import LIVE_MIGRATIONS
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL);\n"
           "CREATE INDEX orders_status_idx ON orders (status);\n")
_CONTEXT = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS}
_KINDS = {"REINDEX_OBJECT_INDEX": "INDEX", "REINDEX_OBJECT_TABLE": "TABLE"}
CONCURRENT_SINCE = 12


class NonConcurrentReindex(Rule):
    """
    ## What it does
    Flags `REINDEX INDEX` and `REINDEX TABLE` without `CONCURRENTLY` on a table that an earlier
    migration file created, when the target PostgreSQL (`--target-version`) is 12 or later,
    where `REINDEX CONCURRENTLY` exists. Before 12 it shows the equivalent by hand.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its rebuild is over in moments. On a larger hinted
    table the message gives the size.

    ## Why is this bad?
    A plain `REINDEX` rebuilds each index from scratch while holding a SHARE lock on the table,
    which stops every `INSERT`, `UPDATE` and `DELETE`, and an ACCESS EXCLUSIVE lock on each
    index being rebuilt, which also stops the queries that would plan with it (the planner opens
    every index of the table): on a large table, minutes of a stalled application.
    `REINDEX ... CONCURRENTLY` (PostgreSQL 12+) builds a new copy of each index beside the old
    one under a SHARE UPDATE EXCLUSIVE lock and swaps them, blocking nobody.

    It cannot run inside a transaction block, a DO block or a function (SQLSTATE 25001).

    ## Example
    ```sql
    REINDEX INDEX orders_status_idx;
    ```

    ## Use instead
    ```sql
    REINDEX INDEX CONCURRENTLY orders_status_idx;
    ```
    Before PostgreSQL 12: `CREATE INDEX CONCURRENTLY` a copy, `DROP INDEX CONCURRENTLY` the old
    one, and rename the copy.

    ## Fix safety
    Unsafe: pglint adds `CONCURRENTLY`, which fails when the migration runner wraps the file in
    a transaction (Flyway by default, Diesel, sqlx, Rails, Django): run this migration outside
    one. A concurrent rebuild that fails leaves an extra INVALID index (its name ends in
    `_ccnew`) to drop. Inside the file's own `BEGIN ... COMMIT` or a DO block, and before
    PostgreSQL 12, the fix is shown, not applied.
    Applied (unsafe) only when the file says its runner leaves it outside a transaction (goose
    `-- +goose NO TRANSACTION`, dbmate `transaction:false`, an ory/popx `.autocommit.` file);
    otherwise shown, with what each runner needs.
    """

    code = "PGL503"
    name = "non-concurrent-reindex"
    summary = "REINDEX without CONCURRENTLY blocks writes to the table and queries using the index"
    references = (
        "https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY",
    )
    squawk = ("require-concurrent-reindex",)
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 1 of 4 sampled findings on real repositories: a REINDEX in "
        "a migration is usually tied to a change that must commit with it"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # A hinted small table is left alone (pglint.kit.locks.known_small).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("ReindexStmt",)
    min_fix_version = CONCURRENT_SINCE
    lock = "SHARE"  # on the table
    index_lock = "ACCESS EXCLUSIVE"  # on each index being rebuilt
    lock_held = "build"

    VALID = (
        Example("REINDEX INDEX CONCURRENTLY orders_status_idx;\n", context=_CONTEXT),
        Example("REINDEX (VERBOSE) TABLE CONCURRENTLY orders;\n", context=_CONTEXT),
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                "REINDEX TABLE notes;\n"),
        Example("REINDEX TABLE invoices;\n"),
        # The hints say the table is small: the rebuild is over in moments.
        Example("BEGIN;\nREINDEX TABLE orders;\nCOMMIT;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        Example("-- +goose NO TRANSACTION\n"
                "REINDEX INDEX orders_status_idx;\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "REINDEX INDEX CONCURRENTLY orders_status_idx;\n", context=_CONTEXT),
        Example("-- +goose NO TRANSACTION\n"
                "REINDEX (VERBOSE) TABLE orders;\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "REINDEX (VERBOSE) TABLE CONCURRENTLY orders;\n", context=_CONTEXT),
        Example("BEGIN;\nREINDEX TABLE orders;\nCOMMIT;\n", context=_CONTEXT),
        # PostgreSQL 11 has no REINDEX CONCURRENTLY: the rebuild by hand is shown.
        Example("REINDEX INDEX orders_status_idx;\n", context=_CONTEXT, target_version=11),
        # A large table, by the hints: the message says how large.
        Example("BEGIN;\nREINDEX TABLE orders;\nCOMMIT;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 50_000_000}}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        what = _KINDS.get(node.get("kind", ""))
        if what is None or "concurrently" in n.def_elems(node.get("params")) \
                or not runs_in_migration(stmt):
            return
        name = n.relation_name(node.get("relation"))
        if what == "INDEX":
            index = index_before_file(ctx, stmt, name)
            table = table_before_file(ctx, stmt, index.table) if index is not None else None
        else:
            index, table = None, table_before_file(ctx, stmt, name)
        if table is None or known_small(ctx, table.name):
            return
        # Named as the statement names it (a later migration may rename the table).
        written = name if what != "INDEX" and name else table.name
        shown = f"`{written}`"
        target = f"`{index.name}`" if index is not None else f"every index of {shown}"
        message = (f"`REINDEX {what}` without `CONCURRENTLY` holds a SHARE lock on "
                   f"{shown_table(ctx, table.name, written)} and "
                   f"an ACCESS EXCLUSIVE lock on {target} for the whole rebuild: writes, and "
                   "queries that would use the index, wait until it ends")
        help = (
            "REINDEX rebuilds under a SHARE lock on the table (no INSERT, UPDATE or DELETE) and "
            "an ACCESS EXCLUSIVE lock on each index it rebuilds, which also stops queries "
            "planned on the table (the planner opens its indexes). `REINDEX ... CONCURRENTLY` "
            "(PostgreSQL 12+) builds a copy beside each index and swaps it in under SHARE "
            "UPDATE EXCLUSIVE, blocking nobody; it cannot run in a transaction block.")
        version = ctx.settings.target_version
        keyword = next((t for t in ctx.code_tokens(stmt) if t.upper == what), None)
        if version < CONCURRENT_SINCE:
            fix = Fix.display(
                f"Rebuild concurrently by hand (PostgreSQL {version} has no REINDEX "
                "CONCURRENTLY)",
                _by_hand(index.name if index is not None else None, written))
            help += (f" PostgreSQL {version} has no `REINDEX CONCURRENTLY`: build a copy with "
                     "`CREATE INDEX CONCURRENTLY`, drop the old index concurrently and rename "
                     "the copy.")
        elif keyword is None or in_transaction_block(ctx, stmt) or \
                not runs_outside_transaction(ctx):
            text = ctx.statement_text(stmt)
            at = text.upper().find(what, text.upper().find("REINDEX") + 7)
            fix = Fix.display("Rebuild with `CONCURRENTLY`, outside any transaction block",
                              text[:at + len(what)] + " CONCURRENTLY" + text[at + len(what):])
        else:
            fix = Fix("Rebuild with `CONCURRENTLY`", Applicability.UNSAFE,
                      (Edit.insert(keyword.end, " CONCURRENTLY"),))
        yield self.finding(ctx, message, fix, help, node=stmt)


def _by_hand(index: str | None, table: str) -> str:
    old = n.quote_ident(index) if index else "<index>"
    new = n.quote_ident(f"{index}_new") if index else "<index>_new"
    return (f"CREATE INDEX CONCURRENTLY {new} ON {n.quote_qualified(table)} (...);  "
            f"-- {old}'s definition\n"
            f"DROP INDEX CONCURRENTLY {old};\n"
            f"ALTER INDEX {new} RENAME TO {old};")
