"""PGL108 unchecked-try-lock."""

from __future__ import annotations

import re
import ast
from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Finding, Fix
from pglint.kit.sql_tokens import matching_paren
from pglint.python.pyfile import PythonFile

from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

TRY_LOCKS = {"pg_try_advisory_lock", "pg_try_advisory_xact_lock",
             "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock_shared"}
_UNLOCKS = {"pg_advisory_unlock", "pg_advisory_unlock_shared", "pg_advisory_unlock_all"}
_WRITES = {"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"}
_PERFORM_BEFORE = re.compile(r"\bperform\s*$", re.IGNORECASE)
# sqlc / yesql / aiosql query files: each named query is run on its own, not as a script.
_NAMED_QUERIES = re.compile(r"^\s*--\s*name\s*:", re.IGNORECASE | re.MULTILINE)
_SHOWN_MAX = 70  # characters of the unprotected statement quoted in the one-line message
_INVENTORY = ("CREATE TABLE inventory (product_id bigint PRIMARY KEY, stock int);\n"
              "INSERT INTO inventory VALUES (123, 10);")


class UncheckedTryLock(Rule):
    """
    ## What it does
    Flags `pg_try_advisory_lock` / `pg_try_advisory_xact_lock` whose boolean result nothing
    reads — a script's `SELECT pg_try_advisory_lock(...);`, `PERFORM
    pg_try_advisory_xact_lock(...)` in PL/pgSQL, or in Python a `cur.execute("SELECT
    pg_try_advisory_lock(...)")` whose result is neither kept nor fetched by the next statement
    — when writes (`INSERT`, `UPDATE`, `DELETE`, `MERGE`) follow in the same file, body or
    Python function without a guard of their own.

    ## Why is this bad?
    A try-lock never waits: it returns `false` at once when another session holds the lock, and
    the statements after it run anyway. Discarding the result means the "protected" writes run
    unprotected exactly when protection was needed, concurrently with the lock's holder.

    ## Example
    ```sql
    SELECT pg_try_advisory_lock(hashtext('inventory:' || 123));
    UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;
    ```

    ## Use instead
    Act on the result: skip or fail when the lock is not granted.
    ```sql
    DO $$
    BEGIN
      IF NOT pg_try_advisory_xact_lock(hashtext('inventory:' || 123)) THEN
        RAISE EXCEPTION 'busy';
      END IF;
      UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;
    END $$;
    ```
    or guard a single write: `UPDATE ... WHERE product_id = 123 AND
    pg_try_advisory_xact_lock(hashtext('inventory:' || 123))`.

    ## Fix safety
    Display only: what to do when the lock is busy (fail, retry later, skip the work) is the
    application's decision. pglint shows the guarded form with the writes that follow.
    """

    code = "PGL108"
    name = "unchecked-try-lock"
    summary = "Result of pg_try_advisory_lock is discarded, so the writes after it run unprotected"
    references = (
        "https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADVISORY-LOCKS",
        "https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS",
    )
    statements = ("SelectStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("DO $$\nBEGIN\n  IF NOT pg_try_advisory_xact_lock(123) THEN\n"
                "    RAISE EXCEPTION 'busy';\n  END IF;\n"
                "  UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\nEND $$;",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example("UPDATE inventory SET stock = stock - 1\n"
                "WHERE product_id = 123 AND pg_try_advisory_xact_lock(123);",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        # The application reads the result; no writes follow in the file.
        Example("SELECT pg_try_advisory_lock(42) AS acquired;", kind="sql"),
        # PL/pgSQL that keeps the result and checks it.
        Example("CREATE FUNCTION take_stock(p bigint) RETURNS boolean LANGUAGE plpgsql AS $$\n"
                "DECLARE got boolean;\nBEGIN\n"
                "  SELECT pg_try_advisory_xact_lock(p) INTO got;\n"
                "  IF NOT got THEN RETURN false; END IF;\n"
                "  UPDATE inventory SET stock = stock - 1 WHERE product_id = p;\n"
                "  RETURN true;\nEND $$;",
                context={"migrations/V1__inventory.sql": _INVENTORY}),
        # Named queries (sqlc/yesql): the application runs each alone and reads the boolean.
        Example("-- name: TryLockProduct :one\nSELECT pg_try_advisory_lock($1);\n\n"
                "-- name: TakeStock :exec\n"
                "UPDATE inventory SET stock = stock - 1 WHERE product_id = $1;", kind="sql"),
        # Python reads the boolean right after the execute.
        Example("def take(cur, key):\n"
                "    cur.execute(\"SELECT pg_try_advisory_xact_lock(%s)\", (key,))\n"
                "    if not cur.fetchone()[0]:\n"
                "        return False\n"
                "    cur.execute(\"UPDATE inventory SET stock = stock - 1 WHERE product_id = %s\",\n"
                "                (key,))\n"
                "    return True\n", kind="python",
                context={"migrations/V1__inventory.sql": _INVENTORY}),
    )
    INVALID = (
        # The chapter's 40.1.1 sequence.
        Example("SELECT pg_try_advisory_lock(hashtext('inventory:' || 123));\n"
                "UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\n"
                "SELECT pg_advisory_unlock(hashtext('inventory:' || 123));",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example("BEGIN;\nSELECT pg_try_advisory_xact_lock(7);\n"
                "DELETE FROM inventory WHERE stock = 0;\nCOMMIT;",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example("DO $$\nBEGIN\n  PERFORM pg_try_advisory_xact_lock(123);\n"
                "  UPDATE inventory SET stock = stock - 1 WHERE product_id = 123;\nEND $$;",
                kind="sql", context={"migrations/V1__inventory.sql": _INVENTORY}),
        Example("CREATE FUNCTION restock(p bigint, n int) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  PERFORM pg_try_advisory_lock(p);\n"
                "  INSERT INTO inventory VALUES (p, n)\n"
                "  ON CONFLICT (product_id) DO UPDATE SET stock = inventory.stock + n;\n"
                "  PERFORM pg_advisory_unlock(p);\nEND $$;",
                context={"migrations/V1__inventory.sql": _INVENTORY}),
        # Python: the execute's result is never read before the write.
        Example("def take(cur, key):\n"
                "    cur.execute(\"SELECT pg_try_advisory_xact_lock(%s)\", (key,))\n"
                "    cur.execute(\"UPDATE inventory SET stock = stock - 1 WHERE product_id = %s\",\n"
                "                (key,))\n", kind="python",
                context={"migrations/V1__inventory.sql": _INVENTORY}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if "try_advisory" not in ctx.statement_text(stmt).lower():
            return
        if any(node.get(k) for k in ("fromClause", "whereClause", "intoClause", "withClause")):
            return
        call = None
        for target in node.get("targetList") or ():
            value = target.get("ResTarget", {}).get("val") or {}
            while "TypeCast" in value:
                value = value["TypeCast"].get("arg") or {}
            if "FuncCall" in value and n.func_name(value["FuncCall"]) in TRY_LOCKS:
                call = value["FuncCall"]
                break
        if call is None or not _discarded(ctx, stmt):
            return
        writes = _unguarded_writes_after(ctx, stmt)
        if ctx.python_file is not None:
            writes = _python_unchecked(ctx, stmt, writes)
        if not writes:
            return
        name = n.func_name(call)
        args = _args_text(ctx, stmt, call, name)
        shown = ctx.statement_text(writes[0]).split("\n")[0]
        more = f" and {len(writes) - 1} more" if len(writes) > 1 else ""
        brief = shown if len(shown) <= _SHOWN_MAX else shown[:_SHOWN_MAX - 3].rstrip() + "..."
        message = (f"The result of `{name}` is discarded, so `{brief}`{more} runs "
                   "unprotected when the lock is busy")
        help = (f"When another session holds the lock, `{name}` returns false at once and "
                f"`{shown}`{more} runs anyway, unprotected. Check the result and skip or fail "
                "when the lock is busy.")
        fix = Fix.display("Act on the try-lock's result", _guarded(ctx, stmt, name, args, writes))
        yield self.finding(ctx, message, fix, help, node=stmt)


def _discarded(ctx: FileContext, stmt: Statement) -> bool:
    """A script SELECT (its rows go to the client, which runs the file as a script) or PERFORM."""
    if stmt.parent is None:
        return not _NAMED_QUERIES.search(ctx.text)
    if not stmt.exact or ctx.statement_text(stmt).lower().startswith("select"):
        return False  # PL/pgSQL SELECT ... INTO keeps the result
    return _PERFORM_BEFORE.search(ctx.text, ctx.line_start(stmt.start), stmt.start) is not None


# What reads a query's result in Python: cursor fetches, SQLAlchemy results, asyncpg values.
_READS = re.compile(r"\.(?:fetch\w*|scalar\w*|one\w*|first|all)\(")


def _python_unchecked(ctx: FileContext, lock: Statement, writes: list[Statement]
                      ) -> list[Statement]:
    """For SQL strings in Python: the writes that follow the try-lock in the same function,
    if its `execute(...)` call's result is discarded (a bare call statement first on its line,
    and the next line's statement reads no row), else none."""
    code = ctx.python_file
    call = next((c for c in code.nodes(ast.Call) if isinstance(c.func, ast.Attribute)
                 and c.func.attr in ("execute", "fetch", "fetchval", "fetchrow")
                 and _contains(code.span(c), lock.start)), None)
    if call is None:
        return writes
    statement = code.statement(call)
    if not isinstance(statement, ast.Expr) or statement.value is not call or \
            _text_before(code, statement).strip():
        return []  # assigned, awaited into a name, tested, after `if x:`: the result is read
    after = _next_line(code, statement)
    if after is not None and _READS.search(after):
        return []  # cur.execute(...) then cur.fetchone(): read right after
    function = code.enclosing(call, ast.FunctionDef, ast.AsyncFunctionDef)
    end = code.span(function)[1] if function is not None else len(ctx.text)
    return [w for w in writes if w.start < end]


def _next_line(code: PythonFile, statement: ast.stmt) -> str | None:
    """The text of the statement line after the one `statement` starts (statements joined by
    `;` are one line), with the comment lines above it and its own comment; None at the end of
    the block."""
    block = code.parent(statement)
    siblings = next((found for name in ("body", "orelse", "finalbody")
                     for found in [getattr(block, name, None)]
                     if isinstance(found, list) and any(s is statement for s in found)), [])
    at = next(i for i, s in enumerate(siblings) if s is statement) if siblings else 0
    rest = siblings[at + 1:]
    last = statement.end_lineno
    while rest and rest[0].lineno == last:  # `a(); b()`: one line
        last = rest.pop(0).end_lineno
    if not rest:
        return None
    start = _line_end(code.text, code.offset(last, 0))
    following = [rest[0]]
    last = rest[0].end_lineno
    for later in rest[1:]:
        if later.lineno != last:
            break
        last = later.end_lineno
        following.append(later)
    return code.text[start:_line_end(code.text, code.span(following[-1])[1])]


def _text_before(code: PythonFile, statement: ast.stmt) -> str:
    """What its line holds before a statement (`if x:`, `a = 1;`)."""
    start = code.span(statement)[0]
    return code.text[code.text.rfind("\n", 0, start) + 1:start]


def _line_end(text: str, offset: int) -> int:
    """Just after the end of the line holding `offset` (its newline included)."""
    end = text.find("\n", offset)
    return len(text) if end < 0 else end + 1


def _contains(span: tuple[int, int], offset: int) -> bool:
    return span[0] <= offset < span[1]


def _mentions_try_lock(stmt: Statement) -> bool:
    return any(name in TRY_LOCKS for name, _ in n.calls(stmt.node))


def _unguarded_writes_after(ctx: FileContext, lock: Statement) -> list[Statement]:
    """Writes after the lock, up to an unlock, in the same scope, that no try-lock guards.

    A script lock also covers the bodies of later DO blocks (they run right there); a function
    body's lock covers the rest of that body.
    """
    writes = []
    for stmt in ctx.all_statements():
        if stmt.start <= lock.start:
            continue
        if lock.parent is None:
            if stmt.parent is not None and (
                    stmt.parent.kind != "DoStmt"
                    or "try_advisory" in ctx.statement_text(stmt.parent).lower()):
                continue
        elif stmt.parent is not lock.parent:
            continue
        if any(name in _UNLOCKS for name, _ in n.calls(stmt.node)):
            break
        if stmt.kind in _WRITES and not _mentions_try_lock(stmt):
            writes.append(stmt)
    return writes


def _args_text(ctx: FileContext, stmt: Statement, call: dict[str, Any], name: str) -> str:
    """The call's argument list as written, `(...)` when positions are not exact."""
    if not stmt.exact:
        return "(" + ", ".join(n.sql_literal(a) for a in call.get("args") or ()) + ")"
    at = stmt.offset(call.get("location"))
    tokens: list[Token] = [t for t in ctx.tokens(stmt) if t.start >= at]
    for i, token in enumerate(tokens[:-1]):
        if token.text.strip('"').lower() == name and tokens[i + 1].text == "(":
            close = matching_paren(tokens, i + 1)
            if close is not None:
                return ctx.text[tokens[i + 1].start:tokens[close].end]
            break
    return "(...)"


def _guarded(ctx: FileContext, lock: Statement, name: str, args: str,
             writes: list[Statement]) -> str:
    xact = name.replace("_lock", "_xact_lock") if "_xact_" not in name else name
    work = "\n".join("  " + ctx.statement_text(w).replace("\n", "\n  ") + ";"
                     for w in writes if w.parent is lock.parent)
    guard = (f"IF NOT {xact}{args} THEN\n    RAISE EXCEPTION 'busy';  -- or RETURN to skip the "
             f"work\n  END IF;")
    if lock.parent is not None:
        return (f"-- Instead of PERFORM {name}{args}:\n  {guard}")
    tag = "$guard$" if "$$" in work else "$$"
    return (f"DO {tag}\nBEGIN\n  {guard}\n{work or '  -- the work the lock protects'}\n"
            f"END {tag};\n"
            f"-- or guard a single write: ... WHERE <its conditions> AND {xact}{args}")
