"""PGL302 disabled-timeout."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.rule import Example, Rule
from pglint.rules.sql.pgl301_missing_lock_timeout import is_zero
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

# The timeouts that bound how long something may hold or wait for resources, with a bounded
# value to suggest and what running without them allows.
TIMEOUTS = {
    "statement_timeout": ("30s", "a runaway query or a lock wait can run for ever"),
    "lock_timeout": (None, "a lock wait can last for ever while later queries queue behind it"),
    "idle_in_transaction_session_timeout": (
        "60s", "a session idle in a transaction keeps its locks and snapshot for ever"),
    "transaction_timeout": ("5min", "a transaction can run for ever"),
    "idle_session_timeout": ("1h", "idle sessions are never closed"),
}
_SINCE = {"idle_in_transaction_session_timeout": 9, "idle_session_timeout": 14,
          "transaction_timeout": 17}
_IDLE_SESSION = (" `idle_session_timeout` is the exception behind a pooler: the pooler keeps idle "
                 "server connections open on purpose, so leave it off for the pooler's role and "
                 "set it for roles that connect directly.")


class DisabledTimeout(Rule):
    """
    ## What it does
    Flags `statement_timeout`, `lock_timeout`, `idle_in_transaction_session_timeout`,
    `transaction_timeout` (PostgreSQL 17+) and `idle_session_timeout` (14+) set to zero (`0`,
    `'0'`, `'0s'`, `'0ms'`...), which disables them: with `SET`, `SET LOCAL`,
    `ALTER ROLE ... SET`, `ALTER DATABASE ... SET`, `ALTER SYSTEM SET`, a function's `SET`
    clause, or `set_config('statement_timeout', '0', ...)`, in any SQL file.

    ## Why is this bad?
    Zero means no limit. All five default to zero, so an explicit zero usually switches off a
    bound that someone set on purpose for the role or database. Without `statement_timeout` a
    runaway query (or a lock wait, which it counts too) runs until someone kills it and holds its
    connection and locks meanwhile; without `lock_timeout` a waiting DDL statement makes every
    later query on the table queue behind it; without `idle_in_transaction_session_timeout` a
    forgotten open transaction keeps its locks and holds back vacuum.

    ## Example
    ```sql
    SET statement_timeout = 0;
    ```

    ## Use instead
    A generous bound instead of none, for the job that needs longer:
    ```sql
    SET statement_timeout = '30s';
    ```
    Behind a transaction-pooling pooler set defaults per role or database
    (`ALTER ROLE app SET statement_timeout = '30s'`), and raise them for one transaction with
    `SET LOCAL`.

    ## Fix safety
    Display only: the right bound depends on the workload (a batch job needs more than a web
    request). pglint shows the statement with a bounded value in place of the zero.
    """

    code = "PGL302"
    name = "disabled-timeout"
    summary = "Timeout set to 0 disables it: queries, lock waits or idle transactions run for ever"
    section = "40.3.1 PostgreSQL Timeout Configuration"
    node_types = ("VariableSetStmt", "AlterRoleSetStmt", "AlterDatabaseSetStmt",
                  "AlterSystemStmt", "CreateFunctionStmt", "AlterFunctionStmt", "FuncCall")
    text_hint = "set_config"
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("SET statement_timeout = '30s';\nSET lock_timeout = '5s';\n", kind="sql"),
        Example("BEGIN;\nSET LOCAL statement_timeout = '5min';\nCOMMIT;\n", kind="sql"),
        Example("ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = '60s';"),
        # Back to the role's or database's default, not to "no limit".
        Example("RESET statement_timeout;\nSET lock_timeout TO DEFAULT;\n", kind="sql"),
        Example("SELECT set_config('statement_timeout', '10s', true);", kind="sql"),
        Example("SET work_mem = 0;", kind="sql"),
    )
    INVALID = (
        Example("SET statement_timeout = 0;", kind="sql"),
        Example("BEGIN;\nSET LOCAL lock_timeout = '0s';\nCOMMIT;\n", kind="sql"),
        Example("ALTER ROLE CURRENT_USER SET statement_timeout = '0';"),
        Example("ALTER DATABASE postgres SET idle_in_transaction_session_timeout TO 0;"),
        Example("SELECT set_config('statement_timeout', '0ms', false);", kind="sql"),
        Example("CREATE FUNCTION slow() RETURNS int LANGUAGE sql\n"
                "SET statement_timeout = 0\nAS 'SELECT 1';"),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None:
            return
        if node is not stmt.body:  # a nested FuncCall
            yield from self._set_config(node, ctx, stmt)
            return
        kind = stmt.kind
        if kind == "VariableSetStmt":
            sets = [(node, "SET LOCAL" if node.get("is_local") else "SET")]
        elif kind in ("AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt"):
            sets = [(node.get("setstmt") or {}, "ALTER ... SET")]
        elif kind in ("CreateFunctionStmt", "AlterFunctionStmt"):
            options = node.get("options" if kind == "CreateFunctionStmt" else "actions") or ()
            sets = [(item["DefElem"].get("arg", {}).get("VariableSetStmt") or {},
                     "function SET clause")
                    for item in options
                    if "DefElem" in item and item["DefElem"].get("defname") == "set"]
        else:
            return
        for variable, how in sets:
            name = (variable.get("name") or "").lower()
            args = variable.get("args") or []
            if variable.get("kind") != "VAR_SET_VALUE" or name not in TIMEOUTS or len(args) != 1:
                continue
            ok, value = n.constant(args[0])
            if not ok or not is_zero(str(value)):
                continue
            start = stmt.offset(variable.get("location")) if how == "function SET clause" \
                else stmt.start
            yield self._finding(ctx, stmt, name, how, start, args[0])

    def _set_config(self, call: dict[str, Any], ctx: FileContext,
                    stmt: Statement) -> Iterable[Finding]:
        args = call.get("args") or []
        if n.func_name(call) != "set_config" or len(args) != 3:
            return
        ok_name, name = n.constant(args[0])
        ok_value, value = n.constant(args[1])
        if not (ok_name and ok_value) or str(name).lower() not in TIMEOUTS or \
                not is_zero(str(value)):
            return
        yield self._finding(ctx, stmt, str(name).lower(), "set_config",
                            stmt.offset(call.get("location")), args[1])

    def _finding(self, ctx: FileContext, stmt: Statement, name: str, how: str, start: int,
                 value_node: dict[str, Any]) -> Finding:
        bound, danger = TIMEOUTS[name]
        bound = bound or ctx.settings.lock_timeout
        literal = "'" + bound.replace("'", "''") + "'"
        message = f"`{name}` is set to 0, which disables it: {danger}"
        value = _value_span(ctx, stmt, value_node)
        if value is not None:
            suggestion = (ctx.text[stmt.start:value[0]] + literal + ctx.text[value[1]:stmt.end]
                          + ";")
        else:
            suggestion = f"SET {name} = {literal};"
        if how in ("SET", "set_config") and name != "idle_session_timeout":
            suggestion += (f"\n-- behind a transaction pooler, per role or database instead:\n"
                           f"ALTER ROLE CURRENT_USER SET {name} = {literal};")
        since = _SINCE.get(name)
        help = (
            "All of these timeouts default to 0 (no limit), so an explicit "
            "0 usually switches off a bound set on purpose for the role or database. A job "
            "that needs longer should get a generous bound, not none. `statement_timeout` counts "
            "lock waits too. Under transaction pooling (PgBouncer) a session `SET` sticks to "
            "the server connection and leaks to other clients: set defaults per role or "
            "database (`ALTER ROLE ... SET`) and raise them for one transaction with `SET "
            "LOCAL`." + (_IDLE_SESSION if name == "idle_session_timeout" else "")
            + (f" `{name}` exists since PostgreSQL {since}." if since else ""))
        fix = Fix.display(f"Set `{name}` to a bounded value", suggestion)
        end = max(start, value[1] if value is not None else stmt.end)
        return self.finding(ctx, start, end, message, fix, help)


def _value_span(ctx: FileContext, stmt: Statement,
                value_node: dict[str, Any]) -> tuple[int, int] | None:
    """The characters of the constant `0` / `'0s'` in the file, when positions are exact."""
    if not stmt.exact:
        return None
    while "TypeCast" in value_node:
        value_node = value_node["TypeCast"].get("arg") or {}
    location = (value_node.get("A_Const") or {}).get("location")
    if location is None:
        return None
    at = stmt.offset(location)
    for token in ctx.tokens(stmt):
        if token.start == at:
            return token.start, token.end
    return None
