"""PGL304 client-without-timeouts (Python connection setup)."""

from __future__ import annotations

import ast
import math
import re
from typing import Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Finding, Fix
from pglint.kit.connections import (
    Container, Dsn, Setup, call_keywords, dict_entries, literal, parse_dsn, positional_argument,
    value_of,
)
from pglint.kit.parameter_edits import ParameterEdits, quote_of, quoted_string, too_long
from pglint.python.pyfile import PythonFile
from pglint.rule import Example, Rule

CONNECT_TIMEOUT = 10  # seconds: the chapter's connect_timeout
STATEMENT_TIMEOUT = "30s"  # the chapter's statement_timeout
COMMAND_TIMEOUT = 60  # seconds: asyncpg's client-side limit, above STATEMENT_TIMEOUT
CLIENT_MARGIN = 5  # seconds a client timeout should exceed statement_timeout by (latency)

# Connection calls that take libpq parameters as keywords (and a conninfo string or URL first).
_LIBPQ_CONNECT = frozenset({
    "psycopg.connect", "psycopg.Connection.connect", "psycopg.AsyncConnection.connect",
    "psycopg.connection.Connection.connect", "psycopg.connection_async.AsyncConnection.connect",
    "psycopg2.connect",
})
# psycopg2's pools: `Pool(minconn, maxconn, dsn, **kwargs)`.
_PSYCOPG2_POOLS = frozenset({
    "psycopg2.pool.SimpleConnectionPool", "psycopg2.pool.ThreadedConnectionPool",
})
# psycopg 3's pools: `Pool(conninfo, kwargs={...})`.
_PSYCOPG_POOLS = frozenset({
    "psycopg_pool.ConnectionPool", "psycopg_pool.AsyncConnectionPool",
    "psycopg_pool.NullConnectionPool", "psycopg_pool.AsyncNullConnectionPool",
})
_ASYNCPG = frozenset({
    "asyncpg.connect", "asyncpg.create_pool", "asyncpg.pool.create_pool",
    "asyncpg.connection.connect",
})
_ENGINES = frozenset({
    "sqlalchemy.create_engine", "sqlalchemy.engine.create_engine",
    "sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine",
})
_DJANGO_ENGINES = frozenset({
    "django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2",
    "django.contrib.gis.db.backends.postgis",
})
# Every call `check_python` judges (by its qualified name).
_JUDGED_CALLS = _LIBPQ_CONNECT | _PSYCOPG2_POOLS | _PSYCOPG_POOLS | _ASYNCPG | _ENGINES
# SQLAlchemy dialect drivers by the library that connects (others, such as pg8000, are not judged).
_SQLALCHEMY_DRIVERS = {"": "libpq", "psycopg2": "libpq", "psycopg": "libpq",
                       "psycopgcffi": "libpq", "psycopg2cffi": "libpq", "asyncpg": "asyncpg"}
# Callbacks that run on every new connection and may set the statement timeout themselves.
_HOOKS = frozenset({"configure", "init", "setup", "reset"})
# Keywords of the connect functions themselves, not connection parameters.
_DRIVER_KEYWORDS = frozenset({
    "autocommit", "prepare_threshold", "context", "row_factory", "cursor_factory",
    "connection_factory", "async", "async_",
})

_SQL_SET = re.compile(r"\bset\s+(?:local\s+|session\s+)?statement_timeout\b"
                      r"|set_config\s*\(\s*['\"]statement_timeout", re.IGNORECASE)


# -- the rule ----------------------------------------------------------------------------------

_STATEMENT_OPTION = f"-c statement_timeout={STATEMENT_TIMEOUT}"


class ClientWithoutTimeouts(Rule):
    """
    ## What it does
    Flags PostgreSQL connection setup in Python that sets no connect timeout or no statement
    timeout: `psycopg.connect()` (and `Connection.connect` / `AsyncConnection.connect`),
    `psycopg_pool.ConnectionPool(conninfo, kwargs={...})`, `psycopg2.connect()` and its pools,
    `asyncpg.connect()` / `asyncpg.create_pool()`, SQLAlchemy `create_engine()` /
    `create_async_engine()` with a PostgreSQL URL (`connect_args={...}`), and Django
    `DATABASES` entries with a PostgreSQL `ENGINE` (their `OPTIONS`).

    A connect timeout is `connect_timeout` (a keyword, a `connect_args`/`OPTIONS` item, or in
    the connection string); asyncpg always has one (`timeout=`, 60 s by default). A statement
    timeout is `-c statement_timeout=...` in libpq's `options` (keyword or connection string,
    `options=-c%20statement_timeout%3D5000` in a URL), or for asyncpg `command_timeout=` or
    `server_settings={"statement_timeout": ...}`. It also flags an asyncpg `command_timeout`
    that is not above the `statement_timeout` set in the same call.

    A connection whose every parameter the caller gives (`host=self.host, user=self.user`, or
    the enclosing function's parameters: a client library) is reported with a suggestion to
    let the caller give the limits the same way, never with fixed values. Django `DATABASES`
    is read at module level, inside `if`/`try` blocks too.

    It stays silent when the parameters come from somewhere it cannot see: a connection string
    or URL in a variable, an attribute or a parameter (`dsn=self.dsn`: the caller's DSN can
    carry both; a module-level string constant is read), `**params`, a computed
    `options`, a connect hook (`configure=`, `init=`, `setup=`), a file that sets
    `statement_timeout` with SQL (`SET`, `SET LOCAL`, `set_config`), a connection that takes
    everything from the `PG*` environment (no arguments at all), and test files. A statement
    timeout set per role or database in the project's SQL (`ALTER ROLE app SET
    statement_timeout = '30s'`, in a migration or a setup script) counts as set: only a
    missing connect timeout is reported then.

    ## Why is this bad?
    Without a connect timeout, a server that does not answer (a failover, a full backlog, a
    dropped packet) blocks each new connection for minutes: libpq waits until the operating
    system gives up on the TCP connection, or for ever once it is established, and psycopg 3
    waits 130 s per attempt. Meanwhile the caller holds a thread, a request and often a pool
    slot, and the outage spreads to everything waiting behind it. Without a statement timeout
    a runaway query or a lock wait (which `statement_timeout` counts too) holds its connection
    and locks until someone kills it.

    The client's own limit must be longer than the server's: a client that gives up first
    abandons queries the server is still running (and may retry them on top).

    ## Example
    ```python
    import psycopg

    conn = psycopg.connect("postgresql://app@db/shop")
    ```

    ## Use instead
    ```python
    import psycopg

    conn = psycopg.connect("postgresql://app@db/shop", connect_timeout=10,
                           options="-c statement_timeout=30s")
    ```
    asyncpg: `asyncpg.create_pool(dsn, command_timeout=60,
    server_settings={"statement_timeout": "30s"})` (the client waits longer than the server).
    Django: `"OPTIONS": {"connect_timeout": 10, "options": "-c statement_timeout=30s"}`.
    Behind PgBouncer, which rejects or ignores `statement_timeout` in the startup `options`
    unless configured to track it, set it per role instead:
    `ALTER ROLE app SET statement_timeout = '30s'`.

    ## Fix safety
    Unsafe: queries and connection attempts that used to wait now fail, and the right limits
    depend on the workload (a reporting job needs more than a web request). The fix adds
    `connect_timeout=10` and `options="-c statement_timeout=30s"` (or extends a literal
    `options`), `command_timeout=60` with `server_settings={"statement_timeout": "30s"}` for
    asyncpg, the same items in `connect_args` for SQLAlchemy and in `OPTIONS` for Django; an
    asyncpg `command_timeout` not above `statement_timeout` is raised to 5 s above it. A call
    that would pass 88 characters is laid out one item per line. When the connection string
    already carries `options` (a keyword would replace them), the fix is shown only.
    """

    code = "PGL304"
    name = "client-without-timeouts"
    summary = "Database connection with no connect or statement timeout: a hung server hangs the app"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories: demo "
        "settings, CLIs and libraries whose callers choose timeouts"
    )
    references = (
        "https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNECT-CONNECT-TIMEOUT",
        "https://www.postgresql.org/docs/current/runtime-config-client.html#GUC-STATEMENT-TIMEOUT",
    )
    file_kinds = frozenset({"python"})
    python_nodes = (ast.Call, ast.Assign)
    # A driver's connect()/pool, an engine, Django's DATABASES.
    python_hint = (("psycopg", "asyncpg", "create_engine", "create_async_engine", "DATABASES"),
                   re.compile(
        r"\b(?:psycopg2?|asyncpg|psycopg_pool)\.(?:\w+\.)?(?:connect|create_pool|\w*ConnectionPool)\("
        r"|\bcreate(?:_async)?_engine\(|\bDATABASES\s*=|(?:from|import) (?:psycopg2?|asyncpg|psycopg_pool)\b"),)

    VALID = (
        # The statement timeout is the role's default (from the project's SQL).
        Example("import psycopg\n\nconn = psycopg.connect(\"dbname=shop user=app\", "
                "connect_timeout=10)\n", kind="python",
                context={"migrations/V1__roles.sql":
                         "ALTER ROLE CURRENT_USER SET statement_timeout = '30s';"}),
        Example("import psycopg\n\n"
                "conn = psycopg.connect(\"postgresql://app@db/shop\", connect_timeout=10,\n"
                "                       options=\"-c statement_timeout=30s\")\n", kind="python"),
        # Both in the connection string (key=value and URL forms).
        Example("import psycopg2\n\n"
                "conn = psycopg2.connect(\"host=db dbname=shop connect_timeout=5 "
                "options='-c statement_timeout=5s'\")\n", kind="python"),
        Example("from sqlalchemy import create_engine\n\n"
                "engine = create_engine(\n"
                "    \"postgresql+psycopg://app@db/shop\"\n"
                "    \"?connect_timeout=10&options=-c%20statement_timeout%3D30000\"\n"
                ")\n", kind="python"),
        # asyncpg: a connect timeout by default; the client waits longer than the server.
        Example("import asyncpg\n\n\nasync def make_pool():\n"
                "    return await asyncpg.create_pool(\n"
                "        \"postgresql://app@db/shop\",\n"
                "        command_timeout=60,\n"
                "        server_settings={\"statement_timeout\": \"30s\"},\n"
                "    )\n", kind="python"),
        # Parameters it cannot see: a URL from the environment, **params.
        Example("import os\n\nimport psycopg\nfrom sqlalchemy import create_engine\n\n"
                "engine = create_engine(os.environ[\"DATABASE_URL\"])\n\n\n"
                "def connect(params):\n    return psycopg.connect(**params)\n", kind="python"),
        Example("DATABASES = {\n"
                "    \"default\": {\n"
                "        \"ENGINE\": \"django.db.backends.postgresql\",\n"
                "        \"NAME\": \"shop\",\n"
                "        \"OPTIONS\": {\"connect_timeout\": 10, "
                "\"options\": \"-c statement_timeout=30000\"},\n"
                "    },\n"
                "}\n", kind="python"),
        # A DSN the caller gives (an attribute, a parameter) may carry both: a command-line tool
        # run against the user's server, say.
        Example("import psycopg\n\n\n"
                "class Generator:\n"
                "    def cursor(self):\n"
                "        return psycopg.connect(dsn=self.dsn, password=self.password).cursor()\n",
                kind="python"),
        # Another database.
        Example("from sqlalchemy import create_engine\n\n"
                "engine = create_engine(\"sqlite:///local.db\")\n", kind="python"),
    )
    INVALID = (
        Example("import psycopg\n\nconn = psycopg.connect(\"postgresql://app@db/shop\")\n",
                fixed="import psycopg\n\n"
                      "conn = psycopg.connect(\n"
                      "    \"postgresql://app@db/shop\",\n"
                      "    connect_timeout=10,\n"
                      "    options=\"-c statement_timeout=30s\",\n"
                      ")\n", kind="python"),
        # One per line with a trailing comma; an `options` literal extended.
        Example("import psycopg2\n\n"
                "conn = psycopg2.connect(\n"
                "    host=\"db\",\n"
                "    dbname=\"shop\",  # the shop\n"
                "    options=\"-c search_path=app\",\n"
                ")\n",
                fixed="import psycopg2\n\n"
                      "conn = psycopg2.connect(\n"
                      "    host=\"db\",\n"
                      "    dbname=\"shop\",  # the shop\n"
                      "    options=\"-c search_path=app -c statement_timeout=30s\",\n"
                      "    connect_timeout=10,\n"
                      ")\n", kind="python"),
        # `connect_timeout=0` means no limit; a short line stays one line.
        Example("import psycopg2\n\n"
                "conn = psycopg2.connect(DSN, connect_timeout=0)\n",
                fixed="import psycopg2\n\n"
                      "conn = psycopg2.connect(DSN, connect_timeout=10)\n", kind="python"),
        # asyncpg: no statement timeout at all.
        Example("import asyncpg\n\n\nasync def main():\n"
                "    conn = await asyncpg.connect(\"postgresql://app@db/shop\")\n",
                fixed="import asyncpg\n\n\nasync def main():\n"
                      "    conn = await asyncpg.connect(\n"
                      "        \"postgresql://app@db/shop\",\n"
                      "        command_timeout=60,\n"
                      "        server_settings={\"statement_timeout\": \"30s\"},\n"
                      "    )\n", kind="python"),
        # asyncpg: the client gives up before the server does.
        Example("import asyncpg\n\n\nasync def make_pool(dsn):\n"
                "    return await asyncpg.create_pool(\n"
                "        dsn, command_timeout=30, server_settings={\"statement_timeout\": \"30s\"}\n"
                "    )\n",
                fixed="import asyncpg\n\n\nasync def make_pool(dsn):\n"
                      "    return await asyncpg.create_pool(\n"
                      "        dsn, command_timeout=35, server_settings={\"statement_timeout\": "
                      "\"30s\"}\n"
                      "    )\n", kind="python"),
        # SQLAlchemy: the items go into connect_args.
        Example("from sqlalchemy import create_engine\n\n"
                "engine = create_engine(URL, connect_args={\"connect_timeout\": 5})\n"
                "URL = \"postgresql+psycopg2://app@db/shop\"\n",
                fixed="from sqlalchemy import create_engine\n\n"
                      "engine = create_engine(URL, connect_args={\n"
                      "    \"connect_timeout\": 5,\n"
                      "    \"options\": \"-c statement_timeout=30s\",\n"
                      "})\n"
                      "URL = \"postgresql+psycopg2://app@db/shop\"\n", kind="python"),
        Example("from sqlalchemy.ext.asyncio import create_async_engine\n\n"
                "engine = create_async_engine(\"postgresql+asyncpg://app@db/shop\")\n",
                fixed="from sqlalchemy.ext.asyncio import create_async_engine\n\n"
                      "engine = create_async_engine(\n"
                      "    \"postgresql+asyncpg://app@db/shop\",\n"
                      "    connect_args={\n"
                      "        \"command_timeout\": 60,\n"
                      "        \"server_settings\": {\"statement_timeout\": \"30s\"},\n"
                      "    },\n"
                      ")\n", kind="python"),
        # Django settings: OPTIONS added to the database entry, in the file's quotes.
        Example("DATABASES = {\n"
                "    'default': {\n"
                "        'ENGINE': 'django.db.backends.postgresql',\n"
                "        'NAME': 'shop',\n"
                "    }\n"
                "}\n",
                fixed="DATABASES = {\n"
                      "    'default': {\n"
                      "        'ENGINE': 'django.db.backends.postgresql',\n"
                      "        'NAME': 'shop',\n"
                      "        'OPTIONS': {'connect_timeout': 10, "
                      "'options': '-c statement_timeout=30s'},\n"
                      "    }\n"
                      "}\n", kind="python"),
        # A psycopg pool's connection keywords; the DSN is a module constant.
        Example("from psycopg_pool import ConnectionPool\n\n"
                "DSN = \"host=db dbname=shop\"\n"
                "pool = ConnectionPool(DSN, kwargs={\"autocommit\": True})\n",
                fixed="from psycopg_pool import ConnectionPool\n\n"
                      "DSN = \"host=db dbname=shop\"\n"
                      "pool = ConnectionPool(DSN, kwargs={\n"
                      "    \"autocommit\": True,\n"
                      "    \"connect_timeout\": 10,\n"
                      "    \"options\": \"-c statement_timeout=30s\",\n"
                      "})\n", kind="python"),
        # A client library: the caller gives every connection parameter, so the fix lets it
        # give the limits too (shown only) instead of fixing them for every user.
        Example("import asyncpg\n\n\n"
                "class Queue:\n"
                "    async def init(self):\n"
                "        self.pool = await asyncpg.create_pool(\n"
                "            host=self.host, user=self.user, password=self.password,\n"
                "            min_size=1, max_size=self.pool_size)\n", kind="python"),
        # Settings that choose the database by environment: read inside the `if`.
        Example("import os\n\n"
                "if os.environ.get(\"DB\") == \"postgres\":\n"
                "    DATABASES = {\n"
                "        \"default\": {\n"
                "            \"ENGINE\": \"django.db.backends.postgresql\",\n"
                "            \"NAME\": \"shop\",\n"
                "        }\n"
                "    }\n",
                fixed="import os\n\n"
                      "if os.environ.get(\"DB\") == \"postgres\":\n"
                      "    DATABASES = {\n"
                      "        \"default\": {\n"
                      "            \"ENGINE\": \"django.db.backends.postgresql\",\n"
                      "            \"NAME\": \"shop\",\n"
                      "            \"OPTIONS\": {\"connect_timeout\": 10, "
                      "\"options\": \"-c statement_timeout=30s\"},\n"
                      "        }\n"
                      "    }\n", kind="python"),
        # The connection string's options would be replaced by a keyword: shown only.
        Example("import psycopg\n\n"
                "conn = psycopg.connect(\"dbname=shop options='-c search_path=app'\")\n",
                kind="python"),
    )

    # -- dispatch -------------------------------------------------------------------------------

    def check_python(self, node: ast.AST, ctx: FileContext) -> Iterable[Finding]:
        if isinstance(node, ast.Assign):
            yield from self._django(node, ctx)
            return
        name = ctx.python_file.call_name(node)  # type: ignore[arg-type]
        if name is None:
            return
        if name in _LIBPQ_CONNECT:
            kind = "connect"
        elif name in _ASYNCPG:
            kind = "asyncpg"
        elif name in _PSYCOPG_POOLS:
            kind = "pool"
        elif name in _PSYCOPG2_POOLS:
            kind = "psycopg2-pool"
        elif name in _ENGINES:
            kind = "engine"
        else:
            return
        finding = self._call(node, ctx, kind)  # type: ignore[arg-type]
        if finding is not None:
            yield finding

    def _call(self, call: ast.Call, ctx: FileContext, kind: str) -> Finding | None:
        code = ctx.python_file
        keywords = call_keywords(call)
        container, wrap = keywords, None  # where the fix writes; the item to create for it
        if kind == "engine":
            setup = _engine_setup(code, call)
            if setup is None:
                return None
            args = keywords.entries.get("connect_args")
            if args is not None:
                if not isinstance(args.value, ast.Dict):
                    return None
                container = dict_entries(code, args.value)
                if setup.driver == "unknown":  # the keys tell which library reads them
                    keys = set(container.entries)
                    setup.driver = "asyncpg" if keys & {"command_timeout", "server_settings"} \
                        else "libpq"
                setup.read_keywords(code, container)
            elif setup.driver == "unknown":
                return None
            else:
                wrap = "connect_args"
            if keywords.opaque:
                setup.hidden_connect = setup.hidden_statement = True
        elif kind == "asyncpg":
            setup = Setup("asyncpg", connect=True)
            dsn = positional_argument(call, 0, "dsn")
            if dsn is not None:
                setup.read_dsn(code, dsn)
            setup.read_keywords(code, keywords)
            if keywords.entries.keys() & _HOOKS:
                setup.hidden_statement = True
        elif kind == "pool":
            setup = Setup("libpq")
            dsn = positional_argument(call, 0, "conninfo")
            if dsn is not None:
                setup.read_dsn(code, dsn)
            if keywords.entries.keys() & _HOOKS or keywords.opaque:
                setup.hidden_connect = setup.hidden_statement = True
            args = keywords.entries.get("kwargs")
            if args is not None:
                if not isinstance(args.value, ast.Dict):
                    return None
                container = dict_entries(code, args.value)
                setup.read_keywords(code, container)
            elif dsn is None:
                return None  # every parameter from the PG* environment
            else:
                wrap = "kwargs"
        else:
            setup = Setup("libpq")
            if kind == "psycopg2-pool":
                dsn = positional_argument(call, 2, "dsn")
            else:
                # psycopg2 names it `dsn`, psycopg 3 `conninfo` (and wrappers of it `dsn`).
                dsn = positional_argument(call, 0, "conninfo")
                if dsn is None:
                    dsn = positional_argument(call, 0, "dsn")
            if dsn is not None:
                setup.read_dsn(code, dsn)
            elif not (keywords.entries.keys() - _DRIVER_KEYWORDS) and not keywords.opaque:
                return None  # every connection parameter from the PG* environment
            setup.read_keywords(code, keywords)
        return self._judge(ctx, call, setup, container, wrap,
                           f"`{code.code(call.func).strip()}()`",
                           expose=_caller_configured(code, call, keywords))

    def _django(self, node: ast.Assign, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name) or \
                node.targets[0].id != "DATABASES" or not isinstance(node.value, ast.Dict):
            return
        if code.enclosing(node, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef) is not None:
            return  # module level only, inside `if`/`try` too (settings choose by environment)
        if re.search(r"\bDATABASES\s*(?:\[|\.update\b|\|=)", ctx.text):
            return  # entries changed after the literal: cannot tell what they end up with
        databases = dict_entries(code, node.value)
        for alias, entry in databases.entries.items():
            if not isinstance(entry.value, ast.Dict):
                continue
            settings = dict_entries(code, entry.value)
            engine = settings.entries.get("ENGINE")
            if settings.opaque or engine is None or \
                    literal(code, engine.value) not in _DJANGO_ENGINES:
                continue
            setup = Setup("libpq")
            options = settings.entries.get("OPTIONS")
            if options is None:
                container, wrap = settings, "OPTIONS"
            elif isinstance(options.value, ast.Dict):
                container, wrap = dict_entries(code, options.value), None
                setup.read_keywords(code, container)
            else:
                continue
            finding = self._judge(ctx, entry.value, setup, container, wrap,
                                  f"Database `{alias}`", engine.value)
            if finding is not None:
                yield finding

    # -- judgement and fix ----------------------------------------------------------------------

    def _judge(self, ctx: FileContext, node: ast.AST, setup: Setup, container: Container,
               wrap: str | None, what: str, anchor: ast.AST | None = None,
               expose: str | None = None) -> Finding | None:
        """`expose`: the caller gives every connection parameter (`self.` or "" for function
        parameters): the fix passes the caller's limits on instead of fixed values."""
        code = ctx.python_file
        missing_connect = setup.driver == "libpq" and not setup.connect and \
            not setup.hidden_connect
        missing_statement = not setup.has_statement and not setup.hidden_statement and \
            not _set_elsewhere(ctx)
        short = setup.too_short()
        if not (missing_connect or missing_statement or short is not None):
            return None
        quote = quote_of(code, node)
        edits = ParameterEdits(code, container, quote)
        items: list[tuple[str, str]] = []  # (name, code) to write
        titles = []
        display = False
        if missing_connect:
            items.append(("connect_timeout", str(CONNECT_TIMEOUT)))
            titles.append(f"`connect_timeout={CONNECT_TIMEOUT}`")
        if missing_statement and setup.driver == "libpq":
            if setup.options_entry is not None:
                old = literal(code, setup.options_entry.value)
                joined = f"{old.rstrip()} {_STATEMENT_OPTION}" if old.strip() \
                    else _STATEMENT_OPTION
                edits.replace(setup.options_entry.value, quoted_string(joined, quote))
            else:
                display = setup.dsn_options
                items.append(("options", quoted_string(_STATEMENT_OPTION, quote)))
            titles.append(f"`statement_timeout={STATEMENT_TIMEOUT}`")
        if missing_statement and setup.driver == "asyncpg":
            items.append(("command_timeout", str(COMMAND_TIMEOUT)))
            if setup.settings_entry is not None:
                settings = setup.settings_entry.value
                assert isinstance(settings, ast.Dict)  # read_keywords keeps dict literals only
                grown = ParameterEdits(code, dict_entries(code, settings), quote)
                grown.added.append(("statement_timeout", quoted_string(STATEMENT_TIMEOUT, quote)))
                edits.replaced.append((settings, grown.build()))
            else:
                items.append(("server_settings", "{" + quoted_string("statement_timeout", quote)
                              + ": " + quoted_string(STATEMENT_TIMEOUT, quote) + "}"))
            titles.append(f"`command_timeout={COMMAND_TIMEOUT}` and "
                          f"`statement_timeout={STATEMENT_TIMEOUT}`")
        if short is not None and setup.client_entry is not None:
            raised = math.ceil(short) + CLIENT_MARGIN
            edits.replace(setup.client_entry.value, str(raised))
            titles.append(f"`command_timeout={raised}`")
        # A library: its callers choose the limits, as they choose the other parameters (only
        # where the fix adds them; a limit written into a literal stays a value).
        exposing = expose is not None and bool(items) and not edits.replaced
        if exposing:
            items = [(name, f"{expose}{name}") for name, _ in items]
        if wrap is not None and items:
            edits.set(wrap, "{" + ", ".join(f"{quoted_string(name, quote)}: {value}"
                                            for name, value in items) + "}")
        else:
            for name, value in items:
                edits.set(name, value)
        title = "Set " + ", ".join(titles)
        message, help = _words(what, setup, missing_connect, missing_statement, short)
        if exposing:
            names = " and ".join(f"`{name}`" for name, _ in items)
            title = f"Let the caller set {names}"
            message = message.split(":")[0] + ", and its caller cannot pass one"
            help += (f" The caller gives every other connection parameter here: accept {names} "
                     "the same way (None by default) and pass them on, rather than fixing "
                     "limits that suit one workload.")
            display = True
        return self.finding(ctx, message, _fix(code, container, edits, title, display,
                                               exposing), help,
                            node=anchor if anchor is not None else node)


def _fix(code: PythonFile, container: Container, edits: ParameterEdits, title: str,
         display: bool, exposed: bool = False) -> Fix | None:
    """The edits rendered on libcst's tree (None where libcst cannot give the nodes): one
    replacement of the container, laid out one item per line when too long for its line."""
    tree, old = code.fix_tree, code.cst_of(container.node)
    new = edits.build()
    if tree is None or old is None or new is None:
        return None
    edit = tree.replace(old, new)
    if too_long(code, edit):
        new = edits.build(explode=True)
        if new is None:
            return None
        edit = tree.replace(old, new)
    if exposed:
        return Fix.display(title, edit.content + "\n# take them where the other connection "
                           "parameters come from (None by default: no limit)")
    if display:
        return Fix.display(title, edit.content + "\n# the connection string's `options` "
                           "are replaced by this keyword: move them into it")
    return Fix(title, Applicability.UNSAFE, (edit,), suggestion=edit.content)


def _engine_setup(code: PythonFile, call: ast.Call) -> Setup | None:
    """What a SQLAlchemy URL shows; None for another database or a driver not judged."""
    url = positional_argument(call, 0, "url")
    value = value_of(code, url)
    dsn = parse_dsn(value) if isinstance(value, str) else Dsn(opaque=True)
    if dsn.opaque or not dsn.is_url:
        setup = Setup("unknown")
        setup.hidden_connect = setup.hidden_statement = True
        return setup
    base, _, driver = dsn.scheme.partition("+")
    if base not in ("postgresql", "postgres") or driver not in _SQLALCHEMY_DRIVERS:
        return None
    setup = Setup(_SQLALCHEMY_DRIVERS[driver], connect=driver == "asyncpg")
    setup.read_dsn_params(dsn)
    return setup


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _words(what: str, setup: Setup, missing_connect: bool, missing_statement: bool,
           short: float | None) -> tuple[str, str]:
    asyncpg = setup.driver == "asyncpg"
    statement = "`command_timeout` or `statement_timeout`" if asyncpg else "`statement_timeout`"
    if missing_connect and missing_statement:
        message = (f"{what} sets no connect or statement timeout: a dead server or a stuck query "
                   "hangs the caller")
    elif missing_connect and setup.connect_zero is not None:
        message = (f"{what} sets `connect_timeout=0`, which means no limit: a dead server blocks "
                   "new connections")
    elif missing_connect:
        message = (f"{what} sets no `connect_timeout`: a server that does not answer blocks each "
                   "new connection for minutes")
    elif missing_statement and asyncpg:
        message = f"{what} sets no {statement}: a stuck query runs with no limit"
    elif missing_statement:
        message = f"{what} sets no {statement}: a runaway query or a lock wait runs with no limit"
    else:
        message = (f"`command_timeout` ({_number(setup.client or 0)} s) is not above "
                   f"`statement_timeout` ({_number(short or 0)} s): the client abandons queries "
                   "still running")
    help = (
        "Without `connect_timeout`, libpq (psycopg2, Django, SQLAlchemy) waits until the "
        "operating system gives up on the TCP connection, or for ever once the connection is "
        "open but the server does not answer; psycopg 3 waits 130 s per attempt. Each caller "
        "holds a thread, a request and often a pool slot meanwhile. Without a statement "
        "timeout a runaway query or a lock wait (`statement_timeout` counts lock waits too) "
        "holds its connection and locks until someone kills it. A client-side limit "
        "(asyncpg's `command_timeout`, a socket timeout) must exceed `statement_timeout` plus "
        "network latency: a client that gives up first leaves the server running the query "
        "and may retry it on top. If the timeouts are set elsewhere (`ALTER ROLE ... SET "
        "statement_timeout`, `ALTER DATABASE ... SET`, the `PGCONNECT_TIMEOUT`/`PGOPTIONS` "
        "environment), suppress this finding. Behind PgBouncer, a startup "
        "`options='-c statement_timeout=...'` is rejected or ignored unless PgBouncer is "
        "configured for it: set the timeout per role there.")
    return message, help


# Keywords that size or tune a pool, not where or how to connect.
_POOL_KEYWORDS = frozenset({"min_size", "max_size", "minconn", "maxconn", "max_queries",
                            "max_inactive_connection_lifetime", "max_lifetime", "max_idle",
                            "timeout", "loop", "connection_class", "record_class"})


def _caller_configured(code: PythonFile, call: ast.Call, keywords: Container) -> str | None:
    """`self.` when every connection parameter of the call is an attribute of `self`, "" when
    each is a parameter of the enclosing function (a client library's connection, whose caller
    gives host, user, password...); None otherwise."""
    function = code.enclosing(call, ast.FunctionDef, ast.AsyncFunctionDef)
    given = [entry.value for name, entry in keywords.entries.items()
             if name not in _POOL_KEYWORDS and name not in _DRIVER_KEYWORDS]
    if function is None or call.args or keywords.opaque or not given:
        return None
    parameters = {a.arg for a in (*function.args.posonlyargs, *function.args.args,
                                  *function.args.kwonlyargs)}
    if all(isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name)
           and v.value.id == "self" for v in given):
        return "self."
    if all(isinstance(v, ast.Name) and v.id in parameters for v in given):
        return ""
    return None


def _set_elsewhere(ctx: FileContext) -> bool:
    """The file sets statement_timeout with SQL (a connect hook, `SET LOCAL` per transaction),
    or the project's SQL makes it a role's or database's default (not 0)."""
    if ctx.model.catalog.role_settings.get("statement_timeout", "0").strip() not in ("0", ""):
        return True
    return "statement_timeout" in ctx.text and bool(_SQL_SET.search(ctx.text))
