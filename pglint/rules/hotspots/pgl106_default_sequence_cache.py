"""PGL106 default-sequence-cache."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import insert_heavy
from pglint.kit.sql_tokens import matching_paren
from pglint.kit.storage import SEQUENCE_CACHE
from pglint.model.project import Evidence
from pglint.roles import RUN_TIME_ROLES, SCHEMA_DUMP
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_MAX_IDENTIFIER = 63  # NAMEDATALEN - 1: longer serial sequence names are truncated by PostgreSQL

_CACHE_TRUTH = (
    "With CACHE n a session takes n values per buffer access; the price: each session caches its "
    "own range, so values it allocated but did not use are lost when it ends (gaps), and values "
    "from different sessions are not in insertion order. The sequence is WAL-logged once per 32 "
    "values, cached or not, not on every value. Behind a transaction pooler the cache lives in "
    "the long-lived server backends, not in client connections."
)


class DefaultSequenceCache(Rule):
    """
    ## What it does
    Flags sequences that hand out one value per `nextval()` call:

    - `CREATE SEQUENCE` without `CACHE`, or with `CACHE 1` (the default), and
      `ALTER SEQUENCE ... CACHE 1`, when a table drawing its values from the sequence
      (`DEFAULT nextval(...)`, `OWNED BY`) has evidence of heavy concurrent inserts;
    - `serial`/`bigserial` and identity columns (without a `CACHE` above 1) of such a table.

    Evidence of heavy concurrent inserts is a `[tool.pglint.tables]` hint (`insert-heavy`,
    `append-only`). Neither a log-like name nor run-time inserts into the table are: code shows
    that rows are inserted, not how many sessions insert at once, and on real projects event
    and click tables written a few times a second were the rule, not the exception.

    A serial column is silent once a later `ALTER SEQUENCE <table>_<column>_seq CACHE n` (in the
    migrations or the same file) gives its sequence a cache.

    ## Why is this bad?
    With the default `CACHE 1`, every `nextval()` of every session locks the sequence's single
    buffer to take the next value, so concurrent inserts queue on that buffer. With `CACHE n`,
    a session takes n values at once and touches the buffer once per n values.

    The trade-offs are real: each session caches its own range, so values allocated but unused
    are lost when the session ends (gaps), and values from different sessions are not in
    insertion order (never rely on a sequence for ordering or gaplessness anyway). The sequence
    is WAL-logged once every 32 values whether cached or not, not on every value. Behind a
    transaction pooler (PgBouncer) the cache lives in the long-lived server backends, so gaps
    appear when a backend exits, not per client.

    ## Example
    ```sql
    CREATE SEQUENCE high_volume_seq;
    CREATE TABLE events (event_id bigserial PRIMARY KEY, payload jsonb);
    ```

    ## Use instead
    ```sql
    CREATE SEQUENCE high_volume_seq CACHE 100;
    CREATE TABLE events (event_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,
                         payload jsonb);
    -- or, for an existing serial column:
    ALTER SEQUENCE events_event_id_seq CACHE 100;
    ```

    ## Fix safety
    Unsafe: a cache makes gaps larger and values out of order across sessions, which matters if
    anything relies on them. The fix adds `CACHE n` (n is `sequence-cache`, default 100): it
    appends ` CACHE n` to `CREATE SEQUENCE`, replaces `CACHE 1`, adds ` (CACHE n)` after an
    identity column's `IDENTITY`, and for a serial column adds
    `ALTER SEQUENCE <table>_<column>_seq CACHE n;` after the statement. A serial column whose
    sequence name PostgreSQL would truncate gets a display fix only.
    """

    code = "PGL106"
    name = "default-sequence-cache"
    options = (SEQUENCE_CACHE,)
    summary = "Sequence with CACHE 1: every nextval() locks the sequence's buffer"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories (0 of 7 "
        "earlier): a CACHE 1 sequence is rarely the bottleneck at the insert rates pglint can "
        "infer"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-createsequence.html",
    )
    statements = ("CreateSeqStmt", "AlterSeqStmt", "CreateStmt", "AlterTableStmt")
    # A sequence's final settings: read from a schema dump too.
    roles = RUN_TIME_ROLES | {SCHEMA_DUMP}

    VALID = (
        Example("CREATE SEQUENCE order_number_seq CACHE 50;"),
        # Nothing draws values from it at a rate that could contend.
        Example("CREATE SEQUENCE invoice_number_seq;"),
        # A log-like name is no evidence, and neither is a seed file's insert.
        Example("CREATE TABLE events (event_id bigserial PRIMARY KEY, payload jsonb);",
                context={"seeds/events.sql": "INSERT INTO events (payload) VALUES ('{}');"}),
        # A table without insert evidence keeps its serial key quietly.
        Example("CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL);"),
        Example("CREATE TABLE events (\n"
                "    event_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,\n"
                "    payload jsonb\n);"),
        # The serial's sequence got a cache right after the table.
        Example("CREATE TABLE audit_log (id bigserial PRIMARY KEY, entry text);\n"
                "ALTER SEQUENCE audit_log_id_seq CACHE 100;"),
        # Session-private: no other session contends for a temporary sequence.
        Example("CREATE TEMP SEQUENCE scratch_seq;"),
        Example("ALTER SEQUENCE order_number_seq RESTART WITH 1000;"),
    )
    INVALID = (
        Example("CREATE SEQUENCE high_volume_seq;\n"
                "CREATE TABLE events (id bigint DEFAULT nextval('high_volume_seq'), body text);",
                fixed="CREATE SEQUENCE high_volume_seq CACHE 100;\n"
                      "CREATE TABLE events (id bigint DEFAULT nextval('high_volume_seq'), "
                      "body text);",
                config=insert_heavy("events")),
        # pg_dump's shape: the sequence, then the table, then OWNED BY.
        Example("CREATE SEQUENCE ticket_seq START 1000 CACHE 1 -- one at a time\n;\n"
                "CREATE TABLE tickets (id bigint NOT NULL, body text);\n"
                "ALTER SEQUENCE ticket_seq OWNED BY tickets.id;",
                fixed="CREATE SEQUENCE ticket_seq START 1000 CACHE 250 -- one at a time\n;\n"
                      "CREATE TABLE tickets (id bigint NOT NULL, body text);\n"
                      "ALTER SEQUENCE ticket_seq OWNED BY tickets.id;",
                config={"sequence-cache": 250, "tables": {"tickets": "insert-heavy"}}),
        Example("ALTER SEQUENCE ticket_seq CACHE 1;",
                fixed="ALTER SEQUENCE ticket_seq CACHE 100;",
                context={"migrations/V1__seq.sql": "CREATE SEQUENCE ticket_seq CACHE 20;\n"
                         "CREATE TABLE audit_log (id bigint DEFAULT nextval('ticket_seq'));"}, config=insert_heavy("audit_log")),
        Example("CREATE TABLE events (\n"
                "    event_id bigserial PRIMARY KEY,\n"
                "    payload jsonb\n"
                ");\n",
                fixed="CREATE TABLE events (\n"
                      "    event_id bigserial PRIMARY KEY,\n"
                      "    payload jsonb\n"
                      ");\n"
                      "ALTER SEQUENCE events_event_id_seq CACHE 100;\n",
                config=insert_heavy("events")),
        Example("CREATE TABLE page_views (\n"
                "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
                "    url text NOT NULL\n"
                ");",
                fixed="CREATE TABLE page_views (\n"
                      "    id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,\n"
                      "    url text NOT NULL\n"
                      ");",
                config=insert_heavy("page_views")),
        Example("ALTER TABLE orders ADD COLUMN line_no int GENERATED BY DEFAULT AS IDENTITY "
                "(START WITH 10);",
                fixed="ALTER TABLE orders ADD COLUMN line_no int GENERATED BY DEFAULT AS IDENTITY "
                      "(START WITH 10 CACHE 100);",
                context={"migrations/V1__orders.sql": "CREATE TABLE orders (note text);",
                         "queries/orders.sql": "INSERT INTO orders (note) VALUES ($1);"},
                config={"tables": {"orders": "insert-heavy"}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not stmt.exact:
            return
        if stmt.kind == "CreateSeqStmt":
            yield from self._create_sequence(node, stmt, ctx)
        elif stmt.kind == "AlterSeqStmt":
            yield from self._alter_sequence(node, stmt, ctx)
        elif stmt.kind == "CreateStmt":
            table = n.relation_name(node.get("relation"))
            if not table or node.get("relation", {}).get("relpersistence") == "t":
                return
            if ctx.model.insert_heavy(table) is None:
                return  # serial/identity columns matter only on insert-heavy tables
            for elt in node.get("tableElts", ()):
                if "ColumnDef" in elt:
                    yield from self._column(elt["ColumnDef"], table, node["relation"], stmt, ctx)
        elif stmt.kind == "AlterTableStmt" and node.get("objtype") == "OBJECT_TABLE":
            table = n.relation_name(node.get("relation"))
            if not table or ctx.model.insert_heavy(table) is None:
                return
            for item in node.get("cmds", ()):
                cmd = item.get("AlterTableCmd", {})
                coldef = (cmd.get("def") or {}).get("ColumnDef")
                if cmd.get("subtype") == "AT_AddColumn" and coldef:
                    yield from self._column(coldef, table, node["relation"], stmt, ctx)

    # -- CREATE / ALTER SEQUENCE ----------------------------------------------------------------

    def _create_sequence(self, node: dict, stmt: Statement, ctx: FileContext) -> Iterable[Finding]:
        if node.get("sequence", {}).get("relpersistence") == "t":
            return  # a temporary sequence belongs to one session
        name = n.relation_name(node.get("sequence")) or "sequence"
        cache_elem = n.def_elems(node.get("options")).get("cache")
        cache = n.def_value(cache_elem)
        if cache_elem is not None and cache != 1:
            return
        used = _insert_evidence(ctx, name)
        if used is None:
            return  # nothing shows many sessions calling nextval() on it at once
        size = ctx.settings.option("sequence-cache")
        tokens = ctx.tokens(stmt)
        if cache_elem is None:
            last = _last_code_token(tokens)
            edits = (Edit.insert(last.end, f" CACHE {size}"),) if last else ()
            said = "without CACHE (so CACHE 1)"
        else:
            value = _cache_value_token(tokens, stmt.offset(cache_elem.get("location")))
            edits = (Edit(value.start, value.end, str(size)),) if value else ()
            said = "with CACHE 1"
        message = (f"Sequence `{name}` is created {said}: every nextval() of every session locks "
                   f"the sequence's buffer ({used[1].brief()})")
        yield self.finding(ctx, message, _fix(name, size, edits), _sequence_help(used, ctx),
                           node=stmt)

    def _alter_sequence(self, node: dict, stmt: Statement, ctx: FileContext) -> Iterable[Finding]:
        cache_elem = n.def_elems(node.get("options")).get("cache")
        if cache_elem is None or n.def_value(cache_elem) != 1:
            return
        name = n.relation_name(node.get("sequence")) or "sequence"
        used = _insert_evidence(ctx, name)
        if used is None:
            return
        size = ctx.settings.option("sequence-cache")
        value = _cache_value_token(ctx.tokens(stmt), stmt.offset(cache_elem.get("location")))
        edits = (Edit(value.start, value.end, str(size)),) if value else ()
        message = (f"`ALTER SEQUENCE {name} CACHE 1` sets the cache back to one value per call: "
                   f"every nextval() of every session locks the sequence's buffer "
                   f"({used[1].brief()})")
        yield self.finding(ctx, message, _fix(name, size, edits), _sequence_help(used, ctx),
                           node=stmt)

    # -- serial and identity columns --------------------------------------------------------------

    def _column(self, coldef: dict, table: str, relation: dict, stmt: Statement,
                ctx: FileContext) -> Iterable[Finding]:
        column = coldef.get("colname", "")
        typ = n.type_name(coldef.get("typeName"))
        identity = next((c["Constraint"] for c in coldef.get("constraints", ())
                         if c.get("Constraint", {}).get("contype") == "CONSTR_IDENTITY"), None)
        if typ not in n.SERIAL_TYPES and identity is None:
            return
        evidence = ctx.model.insert_heavy(table)
        if evidence is None:
            return
        sequence = _sequence_name(relation, column)
        if identity is not None:
            declared = n.def_value(n.def_elems(identity.get("options")).get("cache"))
            if declared is not None and declared != 1:
                return
        if _cache_elsewhere(ctx, sequence) > 1:
            return  # a later ALTER SEQUENCE ... CACHE n already took care of it
        size = ctx.settings.option("sequence-cache")
        start = stmt.offset(coldef.get("location"))
        tokens = ctx.tokens(stmt)
        if identity is not None:
            edits = _identity_cache_edits(tokens, stmt.offset(identity.get("location")), size)
            kind = "identity column"
            fix = _fix(sequence, size, edits, f"Add (CACHE {size}) to the identity column")
        else:
            kind = typ
            fix = _serial_fix(ctx, stmt, tokens, stmt.offset(coldef["typeName"].get("location")),
                              sequence, size, isolation=f"column@{start}")
        bare = ctx.model.bare(table)
        message = (f"`{bare}.{column}` ({kind}) has a CACHE 1 sequence: every insert's nextval() "
                   f"locks its buffer ({evidence.brief()})")
        help = (f"The column takes its values from a sequence with the default CACHE 1, and "
                f"`{bare}` takes many concurrent inserts: {evidence}. Every insert's nextval() "
                f"locks the sequence's buffer. {_CACHE_TRUTH}")
        yield self.finding(ctx, message, fix, help, span=(start, start + len(column)))


def _insert_evidence(ctx: FileContext, sequence: str) -> tuple[str, Evidence] | None:
    """A table drawing its values from `sequence` that takes many concurrent inserts, with the
    evidence: then many sessions call nextval() at once. A sequence alone is not contended."""
    for table in sorted(ctx.model.catalog.sequence_users(sequence)):
        evidence = ctx.model.insert_heavy(table)
        if evidence is not None:
            return table, evidence
    return None


def _sequence_help(used: tuple[str, Evidence], ctx: FileContext) -> str:
    table, evidence = used
    return (f"`{ctx.model.bare(table)}` draws its values from this sequence and takes many "
            f"concurrent inserts: {evidence}. {_CACHE_TRUTH}")


def _fix(sequence: str, size: int, edits: tuple[Edit, ...], title: str = "") -> Fix:
    title = title or f"Set CACHE {size} on `{sequence}`"
    if not edits:
        return Fix.display(title, f"ALTER SEQUENCE {sequence} CACHE {size};")
    return Fix(title, Applicability.UNSAFE, edits, f"ALTER SEQUENCE {sequence} CACHE {size};")


def _serial_fix(ctx: FileContext, stmt: Statement, tokens: list[Token], type_at: int,
                sequence: str, size: int, isolation: str) -> Fix:
    """`ALTER SEQUENCE <table>_<col>_seq CACHE n;` on its own line after the statement."""
    alter = f"ALTER SEQUENCE {sequence} CACHE {size};"
    title = f"Add `{alter}` after the statement"
    type_token = _token_at(tokens, type_at)
    if len(sequence.split(".")[-1].strip('"')) > _MAX_IDENTIFIER or type_token is None:
        return Fix.display(title, alter)
    end = ctx.statement_end(stmt)
    line_end = ctx.text.find("\n", end)
    line_end = len(ctx.text) if line_end < 0 else line_end
    rest = ctx.text[end:line_end].strip()
    if not rest or rest.startswith("--"):
        at, content = line_end, "\n" + ctx.indent_of(stmt.start) + alter
    else:
        at, content = end, " " + alter
    # Isolated with other fixes of this column definition: PGL102's `bigserial -> uuid` drops
    # the sequence, so the two must not be applied in the same pass.
    return Fix(title, Applicability.UNSAFE, (Edit.insert(at, content),), alter,
               isolation=isolation)


def _identity_cache_edits(tokens: list[Token], generated_at: int, size: int) -> tuple[Edit, ...]:
    """Edits giving `GENERATED ... AS IDENTITY [( options )]` a CACHE of `size`."""
    code = [t for t in tokens if not t.is_comment]
    i = next((k for k, t in enumerate(code) if t.start >= generated_at and t.name == "IDENTITY_P"),
             None)
    if i is None:
        return ()
    if i + 1 >= len(code) or code[i + 1].text != "(":
        return (Edit.insert(code[i].end, f" (CACHE {size})"),)
    close = matching_paren(code, i + 1)
    if close is None:
        return ()
    for k in range(i + 2, close):
        if code[k].name == "CACHE" and k + 1 < close:
            return (Edit(code[k + 1].start, code[k + 1].end, str(size)),)
    return (Edit.insert(code[close - 1].end, f" CACHE {size}"),)


def _cache_elsewhere(ctx: FileContext, sequence: str) -> int:
    """The cache the sequence ends up with: from the catalog, or an ALTER SEQUENCE in this file."""
    key = sequence.replace('"', "")
    known = ctx.model.catalog.sequences.get(key)
    cache = known.cache if known else 1
    for other in ctx.statements:
        if other.kind == "AlterSeqStmt" and n.relation_name(other.body.get("sequence")) == key:
            value = n.def_value(n.def_elems(other.body.get("options")).get("cache"))
            if value is not None:
                cache = int(value)
    return cache


def _sequence_name(relation: dict, column: str) -> str:
    """PostgreSQL's name for the column's sequence, as SQL."""
    name = n.quote_ident(f"{relation.get('relname', '')}_{column}_seq")
    schema = relation.get("schemaname")
    return f"{n.quote_ident(schema)}.{name}" if schema and schema != "public" else name


def _last_code_token(tokens: list[Token]) -> Token | None:
    return next((t for t in reversed(tokens) if not t.is_comment), None)


def _token_at(tokens: list[Token], offset: int) -> Token | None:
    return next((t for t in tokens if t.start == offset), None)


def _cache_value_token(tokens: list[Token], cache_at: int) -> Token | None:
    """The number after the CACHE keyword that starts at `cache_at`."""
    code = [t for t in tokens if not t.is_comment]
    for k, t in enumerate(code):
        if t.start >= cache_at and t.name == "CACHE":
            nxt = code[k + 1] if k + 1 < len(code) else None
            return nxt if nxt is not None and nxt.name == "ICONST" else None
    return None

