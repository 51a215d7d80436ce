"""PGL107 session-advisory-lock."""

from __future__ import annotations

import ast
import json

import re
from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.sql_tokens import matching_paren
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

# Session-scoped lock functions and their transaction-scoped counterparts.
XACT_VARIANT = {
    "pg_advisory_lock": "pg_advisory_xact_lock",
    "pg_try_advisory_lock": "pg_try_advisory_xact_lock",
    "pg_advisory_lock_shared": "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock_shared": "pg_try_advisory_xact_lock_shared",
}
_INVENTORY = ("CREATE TABLE inventory (product_id bigint PRIMARY KEY, stock int);\n"
              "INSERT INTO inventory VALUES (123, 10);")


class SessionAdvisoryLock(Rule):
    """
    ## What it does
    Flags the session-scoped advisory lock functions `pg_advisory_lock`,
    `pg_try_advisory_lock` and their `_shared` variants, in SQL files, in PL/pgSQL bodies, in
    SQL strings in Python, and called through SQLAlchemy's `func` (`func.pg_advisory_lock(k)`).

    ## Why is this bad?
    A session-scoped advisory lock is not tied to a transaction: `COMMIT` and `ROLLBACK` do not
    release it. It is held until `pg_advisory_unlock` runs on the same connection or the session
    ends. An error between lock and unlock, or an unlock on another code path, leaves it held.
    Behind a transaction-pooling pooler (PgBouncer `pool_mode = transaction`) the lock belongs
    to the server connection, not to the client: the unlock may run on a different server
    connection, and a forgotten lock leaks to whichever client is handed that connection next.

    ## Example
    ```sql
    SELECT pg_advisory_lock(hashtext('inventory:' || 123));
    UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;
    SELECT pg_advisory_unlock(hashtext('inventory:' || 123));
    ```

    ## Use instead
    The transaction-scoped variant, taken inside the transaction that does the work; it is
    released at `COMMIT` or `ROLLBACK` and needs no unlock:
    ```sql
    BEGIN;
    SELECT pg_advisory_xact_lock(hashtext('inventory:' || 123));
    UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;
    COMMIT;
    ```

    ## Fix safety
    Unsafe: the lock's lifetime changes. pglint renames the call to its `_xact_` variant and
    removes the matching `pg_advisory_unlock(<same arguments>)` statement of the same file. The
    `_xact_` lock is held until the end of the current transaction: outside an explicit
    transaction block that is the end of the statement itself, so the lock and the work it
    protects must then be wrapped in `BEGIN ... COMMIT` (or a function or `DO` block) by hand.
    In Python, `func.pg_advisory_lock` is renamed only inside a transaction block
    (`with session.begin():`, `with conn.transaction():`, `with transaction.atomic():`) in a
    file that calls no `pg_advisory_unlock`; otherwise the change is shown.
    """

    code = "PGL107"
    name = "session-advisory-lock"
    summary = "Session-scoped advisory lock survives COMMIT/ROLLBACK and leaks through poolers"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 1 sampled findings on real repositories: "
        "session-level advisory locks are often deliberate (migration runners hold one across "
        "transactions)"
    )
    references = (
        "https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS",
        "https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS",
    )
    nodes = ("FuncCall",)
    text_hint = "advisory"
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = (ast.Call,)
    python_hint = ("advisory_lock",)
    min_fix_version = 9  # pg_advisory_xact_lock exists since 9.1

    VALID = (
        Example("BEGIN;\nSELECT pg_advisory_xact_lock(42);\n"
                "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\nCOMMIT;",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example("DO $$\nBEGIN\n  IF NOT pg_try_advisory_xact_lock(42) THEN\n"
                "    RAISE EXCEPTION 'busy';\n  END IF;\nEND $$;", kind="sql"),
        # Text that only mentions the function.
        Example("SELECT 'pg_advisory_lock(1)' AS how_not_to;", kind="sql"),
        # A function of the same name in another schema is not PostgreSQL's.
        Example("CREATE SCHEMA locks;\n"
                "CREATE FUNCTION locks.pg_advisory_lock(key bigint) RETURNS void\n"
                "LANGUAGE sql AS 'SELECT NULL';\n"
                "SELECT locks.pg_advisory_lock(1);"),
        # SQLAlchemy, transaction-scoped inside the transaction.
        Example("from sqlalchemy import func, select\n\n\n"
                "def take_stock(session, product_id):\n"
                "    with session.begin():\n"
                "        session.execute(select(func.pg_advisory_xact_lock(product_id)))\n",
                kind="python"),
    )
    INVALID = (
        # The chapter's 40.1.1 sequence: outside a transaction the xact lock would be released at
        # the end of its own statement, so the rename is shown, not applied.
        Example(
            "SELECT pg_try_advisory_lock(hashtext('inventory:' || 123));\n"
            "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\n\n"
            "-- Release in same session or transaction end\n"
            "SELECT pg_advisory_unlock(hashtext('inventory:' || 123));\n",
            kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        # In a transaction, with the matching unlock: renamed, and the unlock removed.
        Example(
            "BEGIN;\nSELECT pg_try_advisory_lock(hashtext('inventory:' || 123));\n"
            "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\n\n"
            "-- Release in same session or transaction end\n"
            "SELECT pg_advisory_unlock(hashtext('inventory:' || 123));\nCOMMIT;\n",
            fixed="BEGIN;\nSELECT pg_try_advisory_xact_lock(hashtext('inventory:' || 123));\n"
                  "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\n\nCOMMIT;\n",
            kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example(
            "BEGIN;\nSELECT pg_advisory_lock(42);\n"
            "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\n"
            "SELECT pg_advisory_unlock(42);  -- done\nCOMMIT;\n",
            fixed="BEGIN;\nSELECT pg_advisory_xact_lock(42);\n"
                  "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\nCOMMIT;\n",
            kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        # A PL/pgSQL body: PERFORM lock ... PERFORM unlock.
        Example(
            "CREATE FUNCTION take_stock(p bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
            "BEGIN\n"
            "  PERFORM pg_advisory_lock(p);\n"
            "  UPDATE inventory SET stock = stock - 1 WHERE product_id = p;\n"
            "  PERFORM pg_advisory_unlock(p);\n"
            "END $$;\n",
            fixed="CREATE FUNCTION take_stock(p bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                  "BEGIN\n"
                  "  PERFORM pg_advisory_xact_lock(p);\n"
                  "  UPDATE inventory SET stock = stock - 1 WHERE product_id = p;\n"
                  "END $$;\n",
            context={"migrations/V1__inventory.sql": _INVENTORY}),
        # Shared variant, schema-qualified, no unlock in the file.
        Example("BEGIN;\nSELECT pg_catalog.pg_try_advisory_lock_shared(1, 2);\nCOMMIT;\n",
                fixed="BEGIN;\nSELECT pg_catalog.pg_try_advisory_xact_lock_shared(1, 2);\nCOMMIT;\n",
                kind="sql"),
        # An unlock with other arguments is not the matching one: it would be left behind, so
        # the rename is shown, not applied.
        Example("BEGIN;\nSELECT pg_advisory_lock_shared(7);\nSELECT pg_advisory_unlock_shared(8);\n"
                "COMMIT;\n", kind="sql"),
        # A checked unlock would always fail after the rename.
        Example("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
                "  PERFORM pg_advisory_lock(5);\n"
                "  IF NOT pg_advisory_unlock(5) THEN RAISE EXCEPTION 'not held'; END IF;\n"
                "END $$;\n"),
        # SQLAlchemy's func inside a transaction block: renamed.
        Example("import sqlalchemy as sa\n\n\n"
                "def take_stock(session, product_id):\n"
                "    with session.begin():\n"
                "        session.execute(sa.select(sa.func.pg_advisory_lock(product_id)))\n",
                fixed="import sqlalchemy as sa\n\n\n"
                      "def take_stock(session, product_id):\n"
                      "    with session.begin():\n"
                      "        session.execute(sa.select(sa.func.pg_advisory_xact_lock(product_id)))\n",
                kind="python"),
        # Outside a transaction block, with an unlock: shown, not applied.
        Example("from sqlalchemy import func, select\n\n\n"
                "def take_stock(conn, product_id):\n"
                "    conn.execute(select(func.pg_try_advisory_lock(product_id)))\n"
                "    conn.execute(select(func.pg_advisory_unlock(product_id)))\n",
                kind="python"),
    )

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in XACT_VARIANT:
            return
        receiver = code.qualified(func.value) or ""
        if receiver.split(".")[-1] != "func":  # SQLAlchemy's func namespace only
            return
        name = func.attr
        xact = XACT_VARIANT[name]
        start, end = code.span(node)
        message = (f"`{name}` takes a session-scoped lock that outlives the transaction and can "
                   "leak behind a transaction pooler")
        help = (
            "The lock survives COMMIT and ROLLBACK and is held until an unlock on the same "
            "connection or the end of the session; behind a transaction-pooling pooler it leaks "
            "to whichever client gets this server connection next, and a pooled connection "
            f"returned without the unlock keeps it. `func.{xact}` is released at the end of the "
            "transaction: take it inside the transaction that does the protected work (`with "
            "session.begin():`) and drop the unlock.")
        title = f"Use the transaction-scoped `{xact}` and drop the matching unlock"
        suggestion = (f"with session.begin():\n    session.execute(select(func.{xact}(key)))\n"
                      "    ...  # the work the lock protects; COMMIT releases the lock")
        in_block = any(
            isinstance(a, (ast.With, ast.AsyncWith)) and any(
                isinstance(item.context_expr, ast.Call)
                and isinstance(item.context_expr.func, ast.Attribute)
                and item.context_expr.func.attr in ("begin", "transaction", "atomic")
                or (code.qualified(item.context_expr) or "").endswith("atomic")
                for item in a.items)
            for a in code.ancestors(node))
        if not in_block or "advisory_unlock" in ctx.text:
            yield self.finding(ctx, message, Fix.display(title, suggestion), help, span=(start, end))
            return
        # The attribute's name ends the callee's code: a rename of those characters.
        name_end = code.span(func)[1]
        edit = Edit(name_end - len(name), name_end, xact)
        yield self.finding(ctx, message, Fix(title, Applicability.UNSAFE, (edit,), suggestion), help, span=(start, end))

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        name = n.func_name(node)
        if name not in XACT_VARIANT:
            return
        parts = n.names(node.get("funcname"))
        if len(parts) > 1 and parts[0].lower() != "pg_catalog":
            return  # someone else's function of the same name
        xact = XACT_VARIANT[name]
        in_transaction = in_explicit_transaction(ctx, stmt)
        message = (f"`{name}` takes a session-scoped lock that outlives the transaction and can "
                   "leak behind a transaction pooler")
        help = (
            "The lock survives COMMIT and ROLLBACK and is held until an unlock on the same "
            "connection or the end of the session. Behind a transaction-pooling pooler "
            "(PgBouncer) the unlock may run on another server connection, and the lock leaks to "
            f"whichever client gets this server connection next. `{xact}` is released at the "
            "end of the transaction, so it must run inside the transaction that does the "
            "protected work.")
        if not in_transaction:
            help += (
                " This statement is outside an explicit transaction, where the xact variant is "
                "released at the end of the statement itself: wrap the lock and the work in "
                "BEGIN ... COMMIT.")
        unlock = "pg_advisory_unlock_shared" if name.endswith("_shared") else "pg_advisory_unlock"
        name_token = _name_token(ctx, stmt, node, name)
        call_end = _call_end(ctx, stmt, name_token) if name_token else None
        start = name_token.start if name_token else stmt.start
        end = call_end if call_end else stmt.end
        args = ctx.text[name_token.end:call_end] if name_token and call_end else "(...)"
        suggestion = (f"BEGIN;\nSELECT {xact}{args};\n-- ... the work the lock protects ...\n"
                      f"COMMIT;  -- releases the lock; no {unlock} needed")
        title = f"Use the transaction-scoped `{xact}` and drop the matching `{unlock}`"
        if name_token is None:
            yield self.finding(ctx, message, Fix.display(title, suggestion), help, span=(start, end))
            return
        new_name = xact if not name_token.text.startswith('"') else f'"{xact}"'
        edits = [Edit(name_token.start, name_token.end, new_name)]
        matching = _matching_unlock(ctx, stmt, unlock, node.get("args") or [])
        span = deletion_span(ctx, matching) if matching is not None else None
        if span is not None:
            edits.append(Edit.delete(*span))
        # The rename is only a fix when the lock then still protects something (inside a
        # transaction) and no unlock call is left behind: a leftover `IF NOT
        # pg_advisory_unlock(...)` would now always fail.
        unlocks = ctx.text.lower().count("pg_advisory_unlock")
        if not in_transaction or unlocks > (1 if span is not None else 0):
            yield self.finding(ctx, message, Fix.display(title, suggestion), help, span=(start, end))
            return
        fix = Fix(title, Applicability.UNSAFE, tuple(edits), suggestion)
        yield self.finding(ctx, message, fix, help, span=(start, end))


def in_explicit_transaction(ctx: FileContext, stmt: Statement) -> bool:
    """True when the statement runs inside a transaction that outlives it: a function body
    (it runs in its caller's transaction), or a statement inside BEGIN ... COMMIT."""
    return stmt.parent is not None or ctx.session(stmt).in_transaction


def _name_token(ctx: FileContext, stmt: Statement, call: dict[str, Any],
                name: str) -> Token | None:
    """The token spelling the call's (unqualified) function name, when positions are exact."""
    if not stmt.exact:
        return None
    at = stmt.offset(call.get("location"))
    for token in ctx.tokens(stmt):
        if token.start >= at and token.text.strip('"').lower() == name:
            return token
    return None


def _call_end(ctx: FileContext, stmt: Statement, name_token: Token) -> int | None:
    """Offset just after the ')' closing the call's argument list."""
    tokens = ctx.tokens(stmt)
    i = next((k for k, t in enumerate(tokens) if t.start >= name_token.end), None)
    if i is None or tokens[i].text != "(":
        return None
    close = matching_paren(tokens, i)
    return tokens[close].end if close is not None else None


def _without_locations(node: Any) -> str:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "location"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return json.dumps(strip(node), sort_keys=True)


def _matching_unlock(ctx: FileContext, lock_stmt: Statement, unlock: str,
                     args: list[dict[str, Any]]) -> Statement | None:
    """The first later `SELECT <unlock>(<same args>)` statement of its own in the file."""
    wanted = _without_locations(args)
    for stmt in ctx.all_statements():
        if stmt.start <= lock_stmt.start or stmt.kind != "SelectStmt" or not stmt.exact:
            continue
        body = stmt.body
        targets = body.get("targetList") or []
        if len(targets) != 1 or any(body.get(k) for k in (
                "fromClause", "whereClause", "intoClause", "withClause", "groupClause",
                "havingClause", "sortClause", "limitCount")):
            continue
        value = targets[0].get("ResTarget", {}).get("val") or {}
        call = value.get("FuncCall")
        if not call or n.func_name(call) != unlock:
            continue
        if _without_locations(call.get("args") or []) == wanted:
            return stmt
    return None


_PERFORM_BEFORE = re.compile(r"\bperform\s*$", re.IGNORECASE)
# A comment line right above the unlock that talks about it goes with it.
_UNLOCK_COMMENT = re.compile(r"^[ \t]*--[^\n]*\b(?:unlock|release)", re.IGNORECASE)


def deletion_span(ctx: FileContext, stmt: Statement) -> tuple[int, int] | None:
    """The text to delete to remove a statement: its whole line(s) when it stands alone on them.

    A PL/pgSQL `PERFORM x` statement starts at `x`; the keyword goes too. A trailing `--`
    comment on the statement's last line goes with it, and so does a comment line right above
    that speaks of unlocking or releasing.
    """
    text = ctx.text
    start = stmt.start
    if stmt.parent is not None and not ctx.statement_text(stmt).lower().startswith("select"):
        match = _PERFORM_BEFORE.search(text, ctx.line_start(start), start)
        if match is None:
            return None
        start = match.start()
    end = ctx.statement_end(stmt)
    line_start = ctx.line_start(start)
    newline = text.find("\n", end)
    line_end = len(text) if newline < 0 else newline + 1
    rest = text[end:line_end].strip()
    if not text[line_start:start].strip() and (not rest or rest.startswith("--")):
        if line_start > 0:
            above = ctx.line_start(line_start - 1)
            if _UNLOCK_COMMENT.match(text[above:line_start]):
                line_start = above
        # Do not leave two blank lines (or a blank last line) where the statement was.
        if line_start >= 2 and text[line_start - 2:line_start] == "\n\n" and (
                line_end == len(text) or text[line_end] == "\n"):
            line_start -= 1
        return line_start, line_end
    while end < len(text) and text[end] in " \t":
        end += 1
    return start, end
