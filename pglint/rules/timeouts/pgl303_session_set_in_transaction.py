"""PGL303 session-set-in-transaction."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.timeouts import TIMEOUTS
from pglint.sql.parse import Statement
from pglint.rule import Example, Rule


class SessionSetInTransaction(Rule):
    """
    ## What it does
    Flags a `SET` (or `SET SESSION`) of a timeout (`statement_timeout`, `lock_timeout`,
    `idle_in_transaction_session_timeout`, `transaction_timeout`, `idle_session_timeout`) inside
    an explicit `BEGIN ... COMMIT` block, where `SET LOCAL` was almost certainly meant.

    ## Why is this bad?
    A session-level `SET` inside a transaction outlives it: after `COMMIT` the value stays in
    force for every later statement of the session (only a `ROLLBACK` undoes it). Behind a
    transaction-pooling pooler (PgBouncer `pool_mode = transaction`) the session is a server
    connection shared by many clients, so the raised or lowered timeout leaks to whichever
    client gets the connection next. `SET LOCAL` ends with the transaction.

    ## Example
    ```sql
    BEGIN;
    SET statement_timeout = '5min';
    -- ... batch work ...
    COMMIT;
    ```

    ## Use instead
    ```sql
    BEGIN;
    SET LOCAL statement_timeout = '5min';
    -- ... batch work ...
    COMMIT;
    ```

    ## Fix safety
    Unsafe: statements after the `COMMIT` that relied on the leaked value get the previous one
    back. pglint inserts ` LOCAL` after `SET` (or replaces `SESSION` with `LOCAL`).
    """

    code = "PGL303"
    name = "session-set-in-transaction"
    summary = "Session-level SET of a timeout inside a transaction outlives it and leaks via poolers"
    references = (
        "https://www.postgresql.org/docs/current/sql-set.html",
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT",
    )
    statements = ("VariableSetStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    # A migration that has already run is history: a timeout finding on it changes nothing.
    judges_applied_migrations = False

    VALID = (
        Example("BEGIN;\nSET LOCAL statement_timeout = '5min';\nCOMMIT;\n", kind="sql"),
        # Outside a transaction block a session SET is what the chapter means to do.
        Example("SET statement_timeout = '30s';\nBEGIN;\nSELECT 1;\nCOMMIT;\n", kind="sql"),
        # Not a timeout.
        Example("BEGIN;\nSET search_path = public;\nCOMMIT;\n", kind="sql"),
        Example("BEGIN;\nSELECT 1;\nCOMMIT;\nSET lock_timeout = '5s';\n"),
    )
    INVALID = (
        Example("BEGIN;\nSET statement_timeout = '5min';\nSELECT 1;\nCOMMIT;\n",
                fixed="BEGIN;\nSET LOCAL statement_timeout = '5min';\nSELECT 1;\nCOMMIT;\n",
                kind="sql"),
        Example("START TRANSACTION;\n  set lock_timeout to '2s';\nROLLBACK;\n",
                fixed="START TRANSACTION;\n  set LOCAL lock_timeout to '2s';\nROLLBACK;\n"),
        Example("BEGIN;\nSET SESSION idle_in_transaction_session_timeout = '60s';\nCOMMIT;\n",
                fixed="BEGIN;\nSET LOCAL idle_in_transaction_session_timeout = '60s';\n"
                      "COMMIT;\n",
                kind="sql"),
        Example("BEGIN;\nSET statement_timeout TO DEFAULT;\nCOMMIT;\n",
                fixed="BEGIN;\nSET LOCAL statement_timeout TO DEFAULT;\nCOMMIT;\n", kind="sql"),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.parent is not None or node.get("is_local"):
            return
        name = (node.get("name") or "").lower()
        if name not in TIMEOUTS or node.get("kind") not in ("VAR_SET_VALUE", "VAR_SET_DEFAULT"):
            return
        session = ctx.session(stmt)
        if not session.in_transaction:
            return
        message = (f"Session-level `SET {name}` inside a transaction block stays in force after "
                   "COMMIT and leaks through a transaction pooler")
        help = (
            "A `SET` inside a transaction lasts for the rest of the session once the transaction "
            "commits (only a ROLLBACK undoes it). Behind a transaction-pooling pooler "
            "(PgBouncer) the session is a server connection shared by many clients, so the "
            "changed timeout applies to whichever client gets the connection next. `SET LOCAL` "
            "ends with the transaction; set defaults per role or database (`ALTER ROLE ... SET`).")
        tokens = ctx.code_tokens(stmt)
        edit = None
        if stmt.exact and len(tokens) > 1 and tokens[0].upper == "SET":
            if tokens[1].upper == "SESSION":
                edit = Edit(tokens[1].start, tokens[1].end, "LOCAL")
            else:
                edit = Edit.insert(tokens[0].end, " LOCAL")
        rest_from = None
        if len(tokens) > 1:
            rest_from = tokens[1].end if tokens[1].upper == "SESSION" else tokens[0].end
        suggestion = (f"SET LOCAL {ctx.text[rest_from:stmt.end].strip()};" if rest_from
                      else f"SET LOCAL {name} = ...;")
        fix = Fix("Use `SET LOCAL`", Applicability.UNSAFE, (edit,), suggestion) \
            if edit is not None else Fix.display("Use `SET LOCAL`", suggestion)
        yield self.finding(ctx, message, fix, help, node=stmt)
