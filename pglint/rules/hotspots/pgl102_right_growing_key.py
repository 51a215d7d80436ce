"""PGL102 right-growing-key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import insert_heavy
from pglint.kit.sql_tokens import matching_paren
from pglint.kit.storage import SEQUENCE_CACHE
from pglint.roles import RUN_TIME_ROLES, SCHEMA_DUMP
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_INTEGER_TYPES = {"bigint", "int8", "integer", "int", "int4", "smallint", "int2"}
_UUIDV7_FUNCTIONS = {"uuidv7", "uuid_generate_v7"}  # core since 18; the pg_uuidv7 extension
_GROWTH = {"serial": "a serial column", "identity": "an identity column",
           "nextval": "DEFAULT nextval()", "time": "a DEFAULT now()-style timestamp",
           "uuidv7": "a time-ordered DEFAULT uuidv7()"}
_SHORT_GROWTH = {"serial": "serial", "identity": "identity", "nextval": "DEFAULT nextval()",
                 "time": "DEFAULT now()", "uuidv7": "DEFAULT uuidv7()"}
RANDOM_UUID = "gen_random_uuid()"


@dataclass
class _KeyColumn:
    """The growing leading column of a key, with what the statement says about it."""

    name: str
    growth: str  # a key of _GROWTH
    coldef: dict[str, Any] | None  # its ColumnDef, when this statement defines the column
    default_call: dict[str, Any] | None = None  # the FuncCall of DEFAULT nextval()/uuidv7()
    identity: dict[str, Any] | None = None  # the CONSTR_IDENTITY constraint


class RightGrowingKey(Rule):
    """
    ## What it does
    Flags a `PRIMARY KEY` or `UNIQUE` key whose leading column only grows (`serial`/`bigserial`,
    an identity column, `DEFAULT nextval(...)`, a `DEFAULT now()`-style timestamp, or a
    time-ordered `uuidv7()`) on a table with evidence of heavy concurrent inserts: declared
    `insert-heavy`/`append-only` in `[tool.pglint.tables]`. Neither a log-like name nor
    run-time inserts are such evidence: they show that rows are inserted, not how many sessions
    insert at once. It reports on the column or constraint of the `CREATE TABLE` (or `ALTER
    TABLE ... ADD`).

    It stays silent without evidence (a `users` table with a `bigserial` key is fine), on tables
    partitioned by hash, on composite keys led by another column, and when the key's sequence
    already has a `CACHE` above 1 (sessions then insert into their own ranges).

    ## Why is this bad?
    Every insert adds its key to the rightmost leaf page of the key's B-tree. PostgreSQL makes
    that cheap for one inserter (it caches the rightmost leaf and splits it unevenly, so the
    index stays dense), but at high concurrent insert rates all inserters contend for that one
    page's lock.

    No alternative is free:
    - a random `uuid DEFAULT gen_random_uuid()` (core since PostgreSQL 13, pgcrypto before)
      scatters inserts over the whole index: less contention, but worse cache locality and more
      WAL (a full-page image of each page first touched after a checkpoint);
    - `uuidv7()` (PostgreSQL 18) is time-ordered, so it is right-growing again, and it exposes
      each row's creation time;
    - hash partitioning spreads inserts over several indexes;
    - a larger sequence cache (`CACHE 100`, see PGL106) gives each session its own range;
    - a composite key led by a well-distributed column (tenant, device) spreads inserts.

    ## Example
    ```sql
    CREATE TABLE events (
        event_id bigserial PRIMARY KEY,
        created_at timestamptz DEFAULT now(),
        payload jsonb
    );
    ```

    ## Use instead
    ```sql
    CREATE TABLE events (
        event_id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
        created_at timestamptz DEFAULT now(),
        payload jsonb
    );
    ```

    ## Fix safety
    Unsafe: the key's type changes (integers become UUIDs), so does every query, foreign key and
    client that uses it. For `--target-version` 13 and later the fix replaces the column's type
    and default with `uuid DEFAULT gen_random_uuid()` (for `uuidv7()`: with `gen_random_uuid()`);
    `uuidv7()` is not offered as the fix because it is right-growing too. Before 13 the fix is
    display only (it needs `CREATE EXTENSION pgcrypto`). Composite keys, timestamp keys, keys
    referenced by foreign keys, keys added to an existing column, and unusual column shapes get
    a display fix only.
    """

    code = "PGL102"
    name = "right-growing-key"
    options = (SEQUENCE_CACHE,)
    summary = "Sequential key on an insert-heavy table: every insert hits the rightmost index page"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories (0 of 6 in an "
        "earlier sample): without production insert rates, pglint cannot tell a contended key "
        "from a standard serial key on a quiet table"
    )
    references = (
        "https://www.postgresql.org/docs/current/btree-implementation.html",
        "https://www.postgresql.org/docs/current/sql-createsequence.html",
    )
    statements = ("CreateStmt", "AlterTableStmt")

    _INSERTS = {"queries/events.sql": "INSERT INTO events (payload) VALUES ($1);"}
    # A table's final shape: read from a schema dump too.
    roles = RUN_TIME_ROLES | {SCHEMA_DUMP}

    VALID = (
        # No evidence of heavy inserts: sequential keys give dense, cache-friendly indexes.
        Example("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE);"),
        # A log-like name is no evidence: nothing at run time inserts into `audit_events`.
        Example("CREATE TABLE audit_events (id bigserial PRIMARY KEY, entry text);",
                context={"scripts/backfill.sql": "INSERT INTO audit_events (entry) VALUES ('x');",
                         "tests/seed.sql": "INSERT INTO audit_events (entry) VALUES ('y');"}),
        # Nor are run-time inserts: they do not say how many sessions insert at once.
        Example("CREATE TABLE events (event_id bigserial PRIMARY KEY, payload jsonb);",
                context=_INSERTS),
        Example("CREATE TABLE events (\n"
                "    event_id uuid DEFAULT gen_random_uuid() PRIMARY KEY,\n"
                "    payload jsonb\n);", config=insert_heavy("events")),
        # The sequence has a cache: each session inserts into its own range.
        Example("CREATE TABLE events (\n"
                "    event_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,\n"
                "    payload jsonb\n);", config=insert_heavy("events")),
        # Led by a well-distributed column.
        Example("CREATE TABLE metrics (device_id int, id bigserial, value float8,\n"
                "    PRIMARY KEY (device_id, id));"),
        # Hash partitioning spreads inserts over several indexes.
        Example("CREATE TABLE audit_log (id bigserial, entry text, PRIMARY KEY (id))\n"
                "    PARTITION BY HASH (id);"),
    )
    INVALID = (
        Example("CREATE TABLE events (\n"
                "    event_id bigserial PRIMARY KEY,\n"
                "    created_at timestamptz DEFAULT now(),\n"
                "    payload jsonb\n);",
                fixed="CREATE TABLE events (\n"
                      "    event_id uuid DEFAULT gen_random_uuid() PRIMARY KEY,\n"
                      "    created_at timestamptz DEFAULT now(),\n"
                      "    payload jsonb\n);",
                config=insert_heavy("events")),
        Example("CREATE TABLE page_views (\n"
                "    id bigint GENERATED ALWAYS AS IDENTITY (START WITH 1000),\n"
                "    url text NOT NULL,\n"
                "    CONSTRAINT page_views_pkey PRIMARY KEY (id)\n);",
                fixed="CREATE TABLE page_views (\n"
                      "    id uuid DEFAULT gen_random_uuid(),\n"
                      "    url text NOT NULL,\n"
                      "    CONSTRAINT page_views_pkey PRIMARY KEY (id)\n);",
                target_version=18, config=insert_heavy("page_views")),
        Example("CREATE SEQUENCE orders_seq;\n"
                "CREATE TABLE orders (\n"
                "    id int8 NOT NULL DEFAULT nextval('orders_seq'::regclass) UNIQUE,\n"
                "    note text\n);",
                fixed="CREATE SEQUENCE orders_seq;\n"
                      "CREATE TABLE orders (\n"
                      "    id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,\n"
                      "    note text\n);",
                config={"tables": {"orders": "insert-heavy"}}),
        Example("CREATE TABLE audit_log (id uuid DEFAULT uuidv7() PRIMARY KEY, entry text);",
                fixed="CREATE TABLE audit_log (id uuid DEFAULT gen_random_uuid() PRIMARY KEY, "
                      "entry text);",
                target_version=18, config=insert_heavy("audit_log")),
        # Before PostgreSQL 13 gen_random_uuid() needs pgcrypto: display only.
        Example("CREATE TABLE events (event_id bigserial PRIMARY KEY, payload jsonb);",
                target_version=12, config=insert_heavy("events")),
        # Referenced by a foreign key: display only.
        Example("CREATE TABLE events (event_id bigserial PRIMARY KEY, payload jsonb);\n"
                "CREATE TABLE event_tags (event_id bigint REFERENCES events, tag text);",
                config=insert_heavy("events")),
        # A timestamp key: display only.
        Example("CREATE TABLE metrics (recorded_at timestamptz DEFAULT now(), device int,\n"
                "    value float8, PRIMARY KEY (recorded_at, device));",
                config=insert_heavy("metrics")),
        Example("ALTER TABLE activity ADD PRIMARY KEY (id);",
                context={"migrations/V1__activity.sql":
                         "CREATE TABLE activity (id bigserial NOT NULL, what text);"}, config=insert_heavy("activity")),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not stmt.exact:
            return
        relation = node.get("relation") or {}
        table = n.relation_name(relation)
        if not table or relation.get("relpersistence") == "t":
            return
        if stmt.kind == "CreateStmt":
            if (node.get("partspec") or {}).get("strategy") == "PARTITION_STRATEGY_HASH":
                return
            elements = node.get("tableElts", ())
        elif node.get("objtype") == "OBJECT_TABLE":
            elements = [cmd["AlterTableCmd"]["def"] for cmd in node.get("cmds", ())
                        if cmd.get("AlterTableCmd", {}).get("subtype") in
                        ("AT_AddColumn", "AT_AddConstraint")
                        and cmd["AlterTableCmd"].get("def")]
        else:
            return
        if ctx.model.insert_heavy(table) is None:
            return  # no evidence of heavy concurrent inserts: a growing key is fine
        known = ctx.model.catalog.table(table)
        evidence = None
        coldefs = {e["ColumnDef"].get("colname"): e["ColumnDef"] for e in elements
                   if "ColumnDef" in e}
        reported: set[str] = set()
        for key, con, at, on_column in _keys(elements, stmt):
            if not key or key[0] in reported:
                continue
            column = _growing(key[0], coldefs.get(key[0]), known)
            if column is None or _sequence_cache(ctx, table, column) > 1:
                continue
            evidence = evidence or ctx.model.insert_heavy(table)
            if evidence is None:
                return
            reported.add(key[0])
            kind = "PRIMARY KEY" if con.get("contype") == "CONSTR_PRIMARY" else "UNIQUE key"
            bare = ctx.model.bare(table)
            short = _SHORT_GROWTH[column.growth]
            if len(key) > 1:
                what = f"{kind} of `{bare}` leads with ever-growing `{column.name}`"
                columns = f"The key is ({', '.join(key)}); "
            else:
                what = f"{kind} `{bare}.{column.name}` ({short}) only grows"
                columns = ""
            message = (f"{what}: concurrent inserts contend for its rightmost index page "
                       f"({evidence.brief()})")
            help = (f"{columns}`{column.name}` ({_GROWTH[column.growth]}) only grows, and "
                    f"`{bare}` takes many concurrent inserts: {evidence}. Every insert goes to "
                    f"the key index's rightmost leaf page, and concurrent inserters contend for "
                    f"that page's lock. {_trade_offs(ctx.settings.target_version)}")
            fix, why_display = self._fix(ctx, stmt, table, key, con, column)
            if why_display:
                help += f" No automatic fix: {why_display}."
            yield self.finding(ctx, message, fix, help, span=(at, at + len(column.name if on_column else kind)))

    def _fix(self, ctx: FileContext, stmt: Statement, table: str, key: list[str],
             con: dict, column: _KeyColumn) -> tuple[Fix, str]:
        """The fix, and why it is display only ('' when it is applicable)."""
        version = ctx.settings.target_version
        bare = ctx.model.bare(table)
        title = f"Make `{column.name}` a random UUID key"
        why = ""
        edits: tuple[Edit, ...] = ()
        if len(key) > 1:
            why = "the key has several columns; choose which one to change"
        elif column.growth == "time":
            why = "the key is a timestamp, and replacing it with a UUID changes what it means"
        elif column.coldef is None:
            why = "the column is defined elsewhere; changing its type needs a new column"
        elif version < 13:
            why = "gen_random_uuid() needs `CREATE EXTENSION pgcrypto` before PostgreSQL 13"
        elif _referenced(ctx, table, column.name, con.get("contype") == "CONSTR_PRIMARY"):
            why = "foreign keys reference the column and would need the same type change"
        elif column.growth in ("serial", "identity") and \
                f"{bare}_{column.name}_seq".lower() in ctx.text.lower():
            why = "the file uses the column's sequence, which the change would drop"
        else:
            edits = _uuid_edits(ctx.tokens(stmt), stmt, column)
            if not edits:
                why = "the column definition has an unusual shape"
        suggestion = _suggestion(bare, column, version, ctx.settings.option("sequence-cache"))
        if why or not edits:
            return Fix.display(title, suggestion), why
        # Isolated with other fixes of the same column definition (PGL106's sequence CACHE).
        isolation = f"column@{stmt.offset(column.coldef.get('location'))}"
        return Fix(title, Applicability.UNSAFE, edits, suggestion, isolation=isolation), ""


def _keys(elements: Iterable[dict], stmt: Statement
          ) -> Iterable[tuple[list[str], dict, int, bool]]:
    """(key columns, constraint, report offset, on a column) per PRIMARY KEY / UNIQUE.

    Column constraints report on the column; table constraints on the constraint.
    """
    for element in elements:
        if "ColumnDef" in element:
            coldef = element["ColumnDef"]
            for item in coldef.get("constraints", ()):
                con = item.get("Constraint", {})
                if con.get("contype") in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
                    yield [coldef.get("colname", "")], con, \
                        stmt.offset(coldef.get("location")), True
                    break
        elif "Constraint" in element:
            con = element["Constraint"]
            if con.get("contype") in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and con.get("keys"):
                yield n.names(con.get("keys")), con, stmt.offset(con.get("location")), False


def _growing(name: str, coldef: dict | None, known: Any) -> _KeyColumn | None:
    """The key's leading column if its values only grow, from this statement or the catalog."""
    if coldef is None:
        column = known.columns.get(name) if known is not None else None
        return _KeyColumn(name, column.default, None) if column is not None and column.grows \
            else None
    if n.type_name(coldef.get("typeName")) in n.SERIAL_TYPES:
        return _KeyColumn(name, "serial", coldef)
    for item in coldef.get("constraints", ()):
        con = item.get("Constraint", {})
        if con.get("contype") == "CONSTR_IDENTITY":
            return _KeyColumn(name, "identity", coldef, identity=con)
        if con.get("contype") == "CONSTR_DEFAULT":
            expr = con.get("raw_expr") or {}
            call = expr.get("FuncCall")
            if n.is_nextval_default(expr):
                return _KeyColumn(name, "nextval", coldef, default_call=call)
            if call is not None and n.func_name(call) in _UUIDV7_FUNCTIONS:
                return _KeyColumn(name, "uuidv7", coldef, default_call=call)
            if n.is_time_default(expr):
                return _KeyColumn(name, "time", coldef)
    return None


def _sequence_cache(ctx: FileContext, table: str, column: _KeyColumn) -> int:
    """The cache of the sequence behind the column (1 when unknown or not sequence-backed)."""
    if column.identity is not None:
        declared = n.def_value(n.def_elems(column.identity.get("options")).get("cache"))
        if declared is not None and declared != 1:
            return int(declared)
    if column.growth in ("serial", "identity"):
        name = f"{table}_{column.name}_seq"
    elif column.growth == "nextval" and column.default_call is not None:
        args = column.default_call.get("args") or [None]
        is_const, value = n.constant(args[0])
        name = str(value).lower() if is_const and isinstance(value, str) else ""
        name = name[len("public."):] if name.startswith("public.") else name
    else:
        return 1
    cache = 1
    sequence = ctx.model.catalog.sequences.get(name)
    if sequence is not None:
        cache = sequence.cache
    for other in ctx.statements:  # a later ALTER SEQUENCE in a non-migration file
        if other.kind == "AlterSeqStmt" and n.relation_name(other.body.get("sequence")) == name:
            value = n.def_value(n.def_elems(other.body.get("options")).get("cache"))
            cache = int(value) if value is not None else cache
    return cache


def _referenced(ctx: FileContext, table: str, column: str, primary: bool) -> bool:
    """A foreign key (anywhere in the replayed migrations) references the column."""
    return any(column in fk.ref_columns or (not fk.ref_columns and primary)
               for fk in ctx.model.catalog.references_to(table))


def _uuid_edits(tokens: list[Token], stmt: Statement, column: _KeyColumn) -> tuple[Edit, ...]:
    """Minimal edits turning the column into `uuid DEFAULT gen_random_uuid()`."""
    code = [t for t in tokens if not t.is_comment]
    coldef = column.coldef or {}
    type_at = stmt.offset(coldef.get("typeName", {}).get("location"))
    k = next((i for i, t in enumerate(code) if t.start == type_at), None)
    if k is None or (k + 1 < len(code) and code[k + 1].text in (".", "[", "(")):
        return ()
    type_token = code[k]
    written = type_token.text.lower()
    if column.growth == "serial" and written in n.SERIAL_TYPES:
        return (Edit(type_token.start, type_token.end, f"uuid DEFAULT {RANDOM_UUID}"),)
    if column.growth == "uuidv7" and written == "uuid":
        span = _call_span(code, stmt.offset(column.default_call.get("location")))
        return (Edit(span[0], span[1], RANDOM_UUID),) if span else ()
    if written not in _INTEGER_TYPES:
        return ()
    type_edit = Edit(type_token.start, type_token.end, "uuid")
    if column.growth == "nextval" and column.default_call is not None:
        span = _call_span(code, stmt.offset(column.default_call.get("location")))
        return (type_edit, Edit(span[0], span[1], RANDOM_UUID)) if span else ()
    if column.growth == "identity" and column.identity is not None:
        at = stmt.offset(column.identity.get("location"))
        g = next((i for i, t in enumerate(code) if t.start == at and t.name == "GENERATED"), None)
        ident = next((i for i in range(g, len(code)) if code[i].name == "IDENTITY_P"), None) \
            if g is not None else None
        if ident is None:
            return ()
        end = code[ident].end
        if ident + 1 < len(code) and code[ident + 1].text == "(":
            close = matching_paren(code, ident + 1)
            if close is None:
                return ()
            end = code[close].end
        return (type_edit, Edit(code[g].start, end, f"DEFAULT {RANDOM_UUID}"))
    return ()


def _call_span(code: list[Token], at: int) -> tuple[int, int] | None:
    """Start and end of the function call whose name starts at `at`."""
    first = next((i for i, t in enumerate(code) if t.start >= at), None)
    if first is None:
        return None
    open_index = next((i for i in range(first, len(code)) if code[i].text == "("), None)
    close = matching_paren(code, open_index) if open_index is not None else None
    return (code[first].start, code[close].end) if close is not None else None



def _trade_offs(version: int) -> str:
    uuid4 = ("a random `uuid DEFAULT gen_random_uuid()` key"
             + (" (pgcrypto before PostgreSQL 13)" if version < 13 else "")
             + " spreads inserts over the whole index but costs cache locality and more WAL "
               "(full-page writes after each checkpoint)")
    uuid7 = ("`uuidv7()`" + (" (PostgreSQL 18+)" if version < 18 else "")
             + " is time-ordered, so it is right-growing again, and it exposes each row's "
               "creation time")
    return (f"No option is free: {uuid4}; {uuid7}; alternatives are hash partitioning, a larger "
            f"sequence cache (per-session ranges spread the keys, PGL106), or a composite key "
            f"led by a well-distributed column.")


def _suggestion(table: str, column: _KeyColumn, version: int, cache: int) -> str:
    col = n.quote_ident(column.name)
    lines = []
    if version < 13:
        lines.append("CREATE EXTENSION IF NOT EXISTS pgcrypto;  -- gen_random_uuid() before 13")
    lines += [
        "-- A random key (less contention; worse cache locality, more WAL):",
        f"--   {col} uuid DEFAULT gen_random_uuid() PRIMARY KEY",
        "-- Or spread the inserts over several indexes:",
        f"--   CREATE TABLE {n.quote_ident(table)} (...) PARTITION BY HASH ({col});",
    ]
    if column.growth in ("serial", "identity"):
        sequence = n.quote_ident(f"{table}_{column.name}_seq")
        lines += ["-- Or give the sequence a per-session cache (PGL106):",
                  f"ALTER SEQUENCE {sequence} CACHE {cache};"]
    return "\n".join(lines)
