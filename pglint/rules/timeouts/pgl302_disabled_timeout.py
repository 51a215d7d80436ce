"""PGL302 disabled-timeout (SQL, and connection options in Python)."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.connections import literal, option_settings, parse_dsn, string_tokens
from pglint.kit.timeouts import LOCK_TIMEOUT, TIMEOUTS, is_zero, set_config
from pglint.python.pyfile import PythonFile
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_SINCE = {"idle_in_transaction_session_timeout": "9.6", "idle_session_timeout": "14",
          "transaction_timeout": "17"}
# A zero in Python connection options, in the string's source: `name=0`, `name%3D0` (URLs).
_ZERO_IN_CODE = (r"((?<![A-Za-z_]){name}\s*(?:=|%3D)\s*)"
                 r"0+(?:\.0*)?(?:\s*(?:us|ms|s|min|h|d))?(?![\w.])")
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
    clause, or `set_config('statement_timeout', '0', ...)`, in any SQL file and in SQL strings
    of Python code (`cur.execute("SET statement_timeout = 0")`).

    In Python, also flags connection options that set them to zero: libpq's
    `options="-c statement_timeout=0"` (a keyword, a connection string or URL, SQLAlchemy
    `connect_args`, Django `OPTIONS`) and asyncpg's
    `server_settings={"statement_timeout": "0"}` (or `?statement_timeout=0` in its URL).

    It stays silent on a `SET LOCAL` in application code (query files, SQL run from Python):
    lifting the bound for one transaction the code chose, a purge say, is what `SET LOCAL` is
    for. In Python it judges the options that configure the application's connections
    (settings at module or class level such as Django's `DATABASES`, and the options of an
    engine or a pool: `create_engine`, `create_pool`, `...Pool(...)`, and a function that
    returns the connection it opens), not options given inside a function to one connection
    or one child process opened for one maintenance operation (a `CHECKPOINT`, a replication
    slot copy, `PGOPTIONS` for `pg_rewind`).

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

    In Python connection options: `options="-c statement_timeout=30s"`, or
    `server_settings={"statement_timeout": "30s"}` for asyncpg.

    ## Fix safety
    Display only: the right bound depends on the workload (a batch job needs more than a web
    request). pglint shows the statement (or the Python connection option) with a bounded value
    in place of the zero.
    """

    code = "PGL302"
    name = "disabled-timeout"
    options = (LOCK_TIMEOUT,)
    summary = "Timeout set to 0 disables it: queries, lock waits or idle transactions run for ever"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories (0 of 6 "
        "earlier): a timeout turned off for a long admin job is usually deliberate"
    )
    references = (
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT",
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-LOCK-TIMEOUT",
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-IDLE-IN-TRANSACTION-SESSION-TIMEOUT",
    )
    statements = ("VariableSetStmt", "AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt", "CreateFunctionStmt", "AlterFunctionStmt")
    nodes = ("FuncCall",)
    text_hint = "set_config"
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = (ast.Constant, ast.JoinedStr, ast.Dict)
    python_hint = (tuple(TIMEOUTS),)
    # A migration that has already run is history: a timeout finding on it changes nothing.
    judges_applied_migrations = False

    VALID = (
        Example("SET statement_timeout = '30s';\nSET lock_timeout = '5s';\n", kind="sql"),
        Example("BEGIN;\nSET LOCAL statement_timeout = '5min';\nCOMMIT;\n", kind="sql"),
        Example("ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = '60s';"),
        # Back to the role's or database's default, not to "no limit".
        Example("RESET statement_timeout;\nSET lock_timeout TO DEFAULT;\n", kind="sql"),
        Example("SELECT set_config('statement_timeout', '10s', true);", kind="sql"),
        Example("SET work_mem = 0;", kind="sql"),
        # pg_dump's preamble: a schema dump is a catalog source, and its SETs are boilerplate
        # for the restore, not a setting of the application.
        Example("--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n"
                "SET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n"
                "SELECT pg_catalog.set_config('search_path', '', false);\n", kind="sql"),
        # Bounded connection options; a zero that is not a timeout.
        Example("import asyncpg\nimport psycopg\n\n"
                "conn = psycopg.connect(\"dbname=shop\", connect_timeout=10,\n"
                "                       options=\"-c statement_timeout=30s -c work_mem=0\")\n\n\n"
                "async def pool():\n"
                "    return await asyncpg.create_pool(\n"
                "        command_timeout=60, server_settings={\"statement_timeout\": \"30s\"}\n"
                "    )\n", kind="python"),
        # Lifted for one transaction that application code chose (a purge): what SET LOCAL is
        # for.
        Example("BEGIN;\nSET LOCAL lock_timeout = '0s';\nCOMMIT;\n", kind="sql"),
        Example("def purge(txn):\n"
                "    txn.execute(\"SET LOCAL statement_timeout = 0\")\n"
                "    txn.execute(\"DELETE FROM events WHERE room_id = %s\", (1,))\n",
                kind="python"),
        # One connection, or one child process, opened for one maintenance operation.
        Example("import subprocess\n\nimport psycopg\n\n\n"
                "def checkpoint(dsn):\n"
                "    with psycopg.connect(dsn, options=\"-c statement_timeout=0\") as conn:\n"
                "        conn.execute(\"CHECKPOINT\")\n\n\n"
                "def rewind(source, data_dir, env):\n"
                "    env[\"PGOPTIONS\"] = \"-c statement_timeout=0\"\n"
                "    subprocess.run([\"pg_rewind\", \"--source-server\", source, \"-D\", data_dir],\n"
                "                   env=env, check=True)\n", kind="python"),
        # SQL in Python that keeps the timeout.
        Example("def report(cur):\n"
                "    cur.execute(\"SET LOCAL statement_timeout = '5min'\")\n", kind="python"),
    )
    INVALID = (
        Example("SET statement_timeout = 0;", kind="sql"),
        Example("BEGIN;\nSET lock_timeout = '0s';\nCOMMIT;\n", kind="sql"),
        Example("ALTER ROLE CURRENT_USER SET statement_timeout = '0';"),
        Example("ALTER DATABASE postgres SET idle_in_transaction_session_timeout TO 0;"),
        Example("SELECT set_config('statement_timeout', '0ms', false);", kind="sql"),
        Example("CREATE FUNCTION slow() RETURNS int LANGUAGE sql\n"
                "SET statement_timeout = 0\nAS 'SELECT 1';"),
        # SQL strings in Python are linted as SQL.
        Example("def export(cur):\n"
                "    cur.execute(\"SET statement_timeout = 0\")\n"
                "    cur.execute(\"SELECT * FROM orders\")\n", kind="python"),
        # Connection options in Python: libpq options, a Django OPTIONS item, asyncpg settings.
        Example("import psycopg\n\n"
                "conn = psycopg.connect(\"dbname=shop\", options=\"-c lock_timeout=0\")\n",
                kind="python"),
        Example("DATABASES = {\n"
                "    \"default\": {\n"
                "        \"ENGINE\": \"django.db.backends.postgresql\",\n"
                "        \"OPTIONS\": {\"options\": \"-c statement_timeout=0\"},\n"
                "    },\n"
                "}\n", kind="python"),
        Example("import asyncpg\n\n\nasync def pool():\n"
                "    return await asyncpg.create_pool(\n"
                "        \"postgresql://app@db/shop?idle_in_transaction_session_timeout=0\",\n"
                "        server_settings={\"statement_timeout\": \"0\"},\n"
                "    )\n", kind="python"),
        # A function that returns the connection: a factory of the application's connections.
        Example("import psycopg\n\n\n"
                "def connect_reporting():\n"
                "    return psycopg.connect(\"dbname=shop\", connect_timeout=5,\n"
                "                           options=\"-c statement_timeout=0\")\n", kind="python"),
        # The options of an engine that a function builds: every connection of the application.
        Example("from sqlalchemy import create_engine\n\n\n"
                "def make_engine(url):\n"
                "    return create_engine(url, connect_args={\"options\": \"-c statement_timeout=0\"})\n",
                kind="python"),
    )

    # -- Python: connection options -----------------------------------------------------------

    def check_python(self, node: ast.AST, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        if not _application_wide(code, node):
            return  # one connection (or one child process) opened for one operation
        if isinstance(node, ast.Dict):
            yield from self._server_settings(node, ctx)
            return
        if isinstance(node, ast.Constant):
            # A str literal, but not the text of an f-string (read with the f-string).
            if not isinstance(node.value, str) or "_timeout" not in node.value or \
                    id(node) in _f_string_parts(code):
                return
        elif id(node) in _f_string_parts(code) or "_timeout" not in code.code(node):
            return  # an f-string's format spec; an f-string that cannot mention a timeout
        # Each string token alone, as written: `"a" "b"` are two literals here.
        for start, end in string_tokens(code, node):
            token = code.text[start:end]
            if "_timeout" not in token or "f" in token[:token.find(token[-1])].lower():
                continue  # an f-string's own pieces hold placeholders: not read
            try:
                value = ast.literal_eval(token)
            except (ValueError, SyntaxError):
                continue
            if not isinstance(value, str):
                continue
            for name in _zero_options(value):
                bound = self._bound(ctx, name)
                pattern = re.compile(_ZERO_IN_CODE.format(name=name), re.IGNORECASE)
                suggestion = pattern.sub(lambda m, bound=bound: m.group(1) + bound, token,
                                         count=1)
                yield self._python_finding(ctx, start, end, name, suggestion)

    def _server_settings(self, node: ast.Dict, ctx: FileContext) -> Iterable[Finding]:
        """asyncpg `server_settings={...}` (a keyword or a `connect_args` item) setting a
        timeout to zero."""
        code = ctx.python_file
        zeros = []
        for key, value in zip(node.keys, node.values):
            if key is None:
                continue  # **base
            name = literal(code, key)
            if name not in TIMEOUTS:
                continue
            setting = literal(code, value)
            if isinstance(setting, bool) or not isinstance(setting, (str, int, float)) or \
                    not is_zero(str(setting)):
                continue
            zeros.append((name, key, value))
        if not zeros:
            return
        parent = code.parent(node)
        if isinstance(parent, ast.keyword):
            if parent.arg != "server_settings":
                return
        elif not (isinstance(parent, ast.Dict) and any(
                value is node and key is not None and literal(code, key) == "server_settings"
                for key, value in zip(parent.keys, parent.values))):
            return
        for name, key, value in zeros:
            bound = self._bound(ctx, name)
            suggestion = f"{code.code(key)}: {_python_string(bound, code.code(key))}"
            start, end = code.span(key)[0], code.span(value)[1]
            yield self._python_finding(ctx, start, end, name, suggestion)

    def _bound(self, ctx: FileContext, name: str) -> str:
        return TIMEOUTS[name][0] or ctx.settings.option("lock-timeout")

    def _python_finding(self, ctx: FileContext, start: int, end: int, name: str,
                        suggestion: str) -> Finding:
        message = (f"`{name}` is 0 in the connection options, which disables it: "
                   f"{TIMEOUTS[name][1]}")
        help = (
            "Connection options apply to every session opened with them, so a 0 here switches "
            "off the role's or database's bound for all of the application's queries. All of "
            "these timeouts default to 0 (no limit); a job that needs longer should get a "
            "generous bound, not none. `statement_timeout` counts lock waits too. Behind "
            "PgBouncer, startup options are rejected or ignored unless it is configured to "
            "track them: set defaults per role (`ALTER ROLE ... SET`) and raise them for one "
            "transaction with `SET LOCAL`." + _notes(name))
        fix = Fix.display(f"Set `{name}` to a bounded value", suggestion)
        return self.finding(ctx, message, fix, help, span=(start, end))

    # -- SQL ------------------------------------------------------------------------------------

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
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
        if _set_local_in_application(ctx, sets):
            return  # zero for the one transaction the application code chose
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
        found = set_config(call)
        if found is None or found[0] not in TIMEOUTS or not is_zero(found[1]):
            return
        yield self._finding(ctx, stmt, found[0], "set_config", stmt.offset(call.get("location")),
                            call["args"][1])

    def _finding(self, ctx: FileContext, stmt: Statement, name: str, how: str, start: int,
                 value_node: dict[str, Any]) -> Finding:
        literal = n.quote_literal(self._bound(ctx, name))
        message = f"`{name}` is set to 0, which disables it: {TIMEOUTS[name][1]}"
        value = _value_span(ctx, stmt, value_node)
        if value is not None:
            suggestion = (ctx.text[stmt.start:value[0]] + literal + ctx.text[value[1]:stmt.end]
                          + ";")
        else:
            suggestion = f"SET {name} = {literal};"
        if how in ("SET", "set_config") and name != "idle_session_timeout":
            suggestion += (f"\n-- behind a transaction pooler, per role or database instead:\n"
                           f"ALTER ROLE CURRENT_USER SET {name} = {literal};")
        help = (
            "All of these timeouts default to 0 (no limit), so an explicit "
            "0 usually switches off a bound set on purpose for the role or database. A job "
            "that needs longer should get a generous bound, not none. `statement_timeout` counts "
            "lock waits too. Under transaction pooling (PgBouncer) a session `SET` sticks to "
            "the server connection and leaks to other clients: set defaults per role or "
            "database (`ALTER ROLE ... SET`) and raise them for one transaction with `SET "
            "LOCAL`." + _notes(name))
        fix = Fix.display(f"Set `{name}` to a bounded value", suggestion)
        end = max(start, value[1] if value is not None else stmt.end)
        return self.finding(ctx, message, fix, help, span=(start, end))


def _set_local_in_application(ctx: FileContext, sets: list[tuple[dict[str, Any], str]]) -> bool:
    """A `SET LOCAL` in application code (a query file, SQL run from Python): the code lifts the
    bound for one transaction it chose (a purge, a rebuild), which is what `SET LOCAL` is for;
    the role's and database's bounds stay in force for everything else."""
    return ctx.role == "application" and all(how == "SET LOCAL" for _, how in sets)


# Calls whose options configure every connection the application opens: engines and pools.
_POOL_FACTORIES = re.compile(r"^(?:create_(?:async_)?engine|engine_from_config|create_pool|"
                             r"\w*Pool)$")


def _application_wide(code: PythonFile, node: ast.AST) -> bool:
    """Connection options that configure the application's connections: settings at module
    or class level (Django's `DATABASES`, a DSN constant), or the options of an engine or a
    pool (`create_engine(connect_args=...)`, `asyncpg.create_pool(...)`, `ConnectionPool(...)`).
    A function that returns the connection it opens is a factory of the application's
    connections too. Not options given, inside a function, to one connection or one child
    process opened for one operation (a checkpoint, a slot copy, `PGOPTIONS` for `pg_rewind`): a long
    maintenance operation bounded by its caller, not the application's queries."""
    for ancestor in code.ancestors(node):
        if isinstance(ancestor, ast.Call):
            name = (code.call_name(ancestor) or code.code(ancestor.func)).rsplit(".", 1)[-1]
            if _POOL_FACTORIES.match(name):
                return True
        if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            # A function that returns the connection makes the application's connections.
            return isinstance(code.statement(node), ast.Return)
    return True


def _notes(name: str) -> str:
    """What the help adds for one setting: the pooler exception, the version it came with."""
    since = _SINCE.get(name)
    return ((_IDLE_SESSION if name == "idle_session_timeout" else "")
            + (f" `{name}` exists since PostgreSQL {since}." if since else ""))


def _zero_options(value: str) -> list[str]:
    """The timeouts a connection option string (libpq `options`, a connection string or a URL)
    sets to zero."""
    settings = dict(option_settings(value))
    dsn = parse_dsn(value)
    if dsn.is_url and dsn.scheme.startswith("postgres"):
        # asyncpg sends unknown URL parameters as settings.
        settings.update({k: v for k, v in dsn.params.items() if k in TIMEOUTS})
    if dsn.is_url or "options" in dsn.params:  # `options` of a URL or a key=value string
        settings.update(option_settings(dsn.params.get("options", "")))
    return [name for name in TIMEOUTS if is_zero(settings.get(name))]


def _f_string_parts(code: PythonFile) -> set[int]:
    """The nodes that are parts of f-strings (their text, their format specs), by id: read
    with their f-string, never alone."""
    found = code.derived.get("f-string parts")
    if found is None:
        found = code.derived["f-string parts"] = {
            id(part) for joined in code.nodes(ast.JoinedStr) for part in joined.values}
        found.update(id(value.format_spec) for value in code.nodes(ast.FormattedValue)
                     if value.format_spec is not None)
    return found


def _python_string(value: str, like: str) -> str:
    quote = "'" if like.startswith("'") else '"'
    return quote + value + quote


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
