"""PGL103 sequential-btree-index."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.sql_tokens import matching_paren
from pglint.model.catalog import Column
from pglint.kit.example_projects import insert_heavy
from pglint.roles import RUN_TIME_ROLES, SCHEMA_DUMP
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

PAGES_PER_RANGE = 128  # BRIN's default: one summary per 128 heap pages
_GROWTH = {"serial": "a serial column", "identity": "an identity column",
           "nextval": "a column with DEFAULT nextval()", "time": "a DEFAULT now()-style timestamp"}
_BRIN_LIMITS = (
    "BRIN does not fit if the index must enforce uniqueness, serve point lookups, or serve "
    "ORDER BY ... LIMIT (top-N) queries as a B-tree does, and it degrades when updates or "
    "CLUSTER on another key break the correlation between the column and the rows' physical "
    "order."
)


class SequentialBtreeIndex(Rule):
    """
    ## What it does
    Flags a `CREATE INDEX` that builds a B-tree on a column whose values only grow (serial and
    identity columns, `DEFAULT nextval(...)`, `DEFAULT now()`-style timestamps) of a table that
    is append-mostly and takes many concurrent inserts. Evidence is required: the table is
    declared `insert-heavy`/`append-only` in `[tool.pglint.tables]` (neither a log-like name
    nor run-time inserts say how many sessions insert at once), and the application is not
    seen updating or deleting its rows.

    Primary keys and unique constraints are PGL102's business. Partial indexes are left alone.

    ## Why is this bad?
    Every insert puts its entry on the index's rightmost leaf page. PostgreSQL handles a single
    inserter well (it caches the rightmost leaf), but many concurrent inserters contend for that
    page's lock, and the index grows by one entry per row. On a large append-mostly table queried
    by time range, the column follows the rows' physical order, so a BRIN index (one small
    summary per range of heap pages) answers the same range queries at a fraction of the size
    and insert cost.

    BRIN does not fit if the index must enforce uniqueness, serve point lookups, or serve
    `ORDER BY ... LIMIT` (top-N) queries as a B-tree does, and it degrades when updates or
    `CLUSTER` on another key break the correlation between the column and the physical order.

    ## Example
    ```sql
    CREATE INDEX events_created_at_idx ON events (created_at);
    ```

    ## Use instead
    ```sql
    CREATE INDEX events_created_at_idx ON events USING BRIN (created_at)
        WITH (pages_per_range = 128);
    ```

    ## Fix safety
    Unsafe: BRIN changes which queries the index can serve (no point lookups, no ordered
    top-N scans). The fix inserts ` USING BRIN` before the column list (or replaces an explicit
    `btree`) and appends ` WITH (pages_per_range = 128)`. Unique, multi-column, expression,
    ordered (`DESC`), operator-class, `INCLUDE` and `WITH (...)` indexes get a display fix only.
    """

    code = "PGL103"
    name = "sequential-btree-index"
    summary = "B-tree index on an ever-growing column of an append-mostly, insert-heavy table"
    default_enabled = False
    off_by_default = (
        "rests on the same evidence as PGL102, which was judged worth acting on in 0 of 9 "
        "sampled findings on real repositories"
    )
    references = (
        "https://www.postgresql.org/docs/current/btree-implementation.html",
        "https://www.postgresql.org/docs/current/brin.html",
    )
    statements = ("IndexStmt",)

    _EVENTS = ("CREATE TABLE events (\n"
               "    event_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 100) PRIMARY KEY,\n"
               "    created_at timestamptz NOT NULL DEFAULT now(),\n"
               "    payload jsonb\n);")
    _CONTEXT = {"migrations/V1__events.sql": _EVENTS,
                "queries/events.sql": "INSERT INTO events (payload) VALUES ($1);"}
    # A table's final shape: read from a schema dump too.
    roles = RUN_TIME_ROLES | {SCHEMA_DUMP}

    VALID = (
        Example("CREATE INDEX events_created_at_brin ON events USING BRIN (created_at);",
                context=_CONTEXT, config=insert_heavy("events")),
        # Run-time inserts into a log-like table do not make it insert-heavy.
        Example("CREATE INDEX events_created_at_idx ON events (created_at);", context=_CONTEXT),
        # No insert evidence: an ordinary table.
        Example("CREATE INDEX orders_created_at_idx ON orders (created_at);",
                context={"migrations/V1__orders.sql":
                         "CREATE TABLE orders (id bigserial PRIMARY KEY,\n"
                         "    created_at timestamptz DEFAULT now());"}),
        # The application updates events: not append-mostly, correlation does not hold.
        Example("CREATE INDEX events_created_at_idx ON events (created_at);",
                context={**_CONTEXT, "queries/replay.sql":
                         "UPDATE events SET payload = $2 WHERE event_id = $1;"},
                config=insert_heavy("events")),
        # Not a growing column.
        Example("CREATE INDEX events_payload_idx ON events USING btree ((payload->>'kind'));",
                context=_CONTEXT, config=insert_heavy("events")),
        # A partial index for a small subset.
        Example("CREATE INDEX events_recent_idx ON events (created_at) WHERE payload IS NULL;",
                context=_CONTEXT, config=insert_heavy("events")),
    )
    INVALID = (
        Example("CREATE INDEX events_created_at_idx ON events (created_at);",
                fixed="CREATE INDEX events_created_at_idx ON events USING BRIN (created_at) "
                      "WITH (pages_per_range = 128);",
                context=_CONTEXT, config=insert_heavy("events")),
        Example("CREATE INDEX CONCURRENTLY audit_log_id_idx ON ONLY audit_log USING btree (id)\n"
                "    TABLESPACE pg_default;",
                fixed="CREATE INDEX CONCURRENTLY audit_log_id_idx ON ONLY audit_log USING BRIN (id)"
                      " WITH (pages_per_range = 128)\n    TABLESPACE pg_default;",
                context={"migrations/V1__audit.sql":
                         "CREATE SEQUENCE audit_seq CACHE 100;\n"
                         "CREATE TABLE audit_log (id bigint DEFAULT nextval('audit_seq'), "
                         "entry text);"}, config=insert_heavy("audit_log")),
        Example("CREATE INDEX readings_taken_at_idx ON readings (taken_at);",
                fixed="CREATE INDEX readings_taken_at_idx ON readings USING BRIN (taken_at) "
                      "WITH (pages_per_range = 128);",
                context={"migrations/V1__readings.sql":
                         "CREATE TABLE readings (sensor int, taken_at timestamptz "
                         "DEFAULT CURRENT_TIMESTAMP);"},
                config={"tables": {"readings": "append-only"}}),
        # Unique: BRIN cannot enforce it, so display only.
        Example("CREATE UNIQUE INDEX events_created_at_key ON events (created_at);",
                context=_CONTEXT, config=insert_heavy("events")),
        # Multi-column: display only.
        Example("CREATE INDEX events_created_payload_idx ON events (created_at, payload);",
                context=_CONTEXT, config=insert_heavy("events")),
        # Expression over the growing column: display only.
        Example("CREATE INDEX events_day_idx ON events ((created_at AT TIME ZONE 'UTC'));",
                context=_CONTEXT, config=insert_heavy("events")),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not stmt.exact:
            return
        if (node.get("accessMethod") or "btree").lower() != "btree" or node.get("primary") \
                or node.get("isconstraint") or node.get("whereClause"):
            return
        table_name = n.relation_name(node.get("relation"))
        table = ctx.model.catalog.table(table_name)
        params = [p.get("IndexElem", {}) for p in node.get("indexParams", ())]
        if table is None or not params:
            return
        column = _growing_column(params[0], table.columns)
        if column is None:
            return
        evidence = ctx.model.insert_heavy(table.name)
        if evidence is None or not ctx.model.append_mostly(table.name):
            return
        bare = ctx.model.bare(table.name)
        index = node.get("idxname") or "the index"
        message = (f"B-tree index `{index}` on ever-growing `{bare}.{column.name}`: "
                   f"concurrent inserts contend for its rightmost page ({evidence.brief()})")
        help = (f"`{bare}.{column.name}` is {_GROWTH[column.default]}, so its values only "
                f"grow. `{bare}` is append-mostly (no application updates or deletes seen) and "
                f"takes many concurrent inserts: {evidence}. Every insert lands on the index's "
                f"rightmost leaf page, where concurrent inserters contend, and the index grows "
                f"by one entry per row. If the index serves time-range scans, a BRIN index is a "
                f"fraction of the size and insert cost. {_BRIN_LIMITS}")
        blocker = _not_convertible(node, params)
        if blocker:
            help += f" No automatic fix: the index is {blocker}."
        yield self.finding(ctx, message, self._fix(ctx, stmt, node, column.name, bare, blocker), help, node=stmt)

    def _fix(self, ctx: FileContext, stmt: Statement, node: dict, column: str, table: str,
             blocker: str) -> Fix:
        name = node.get("idxname")
        ddl = (f"CREATE INDEX {n.quote_ident(name) + ' ' if name else ''}ON {table} USING BRIN "
               f"({n.quote_ident(column)}) WITH (pages_per_range = {PAGES_PER_RANGE});")
        title = "Use a BRIN index"
        if blocker:
            return Fix.display(title, ddl)
        edits = _brin_edits(ctx.tokens(stmt), stmt.offset(node["relation"].get("location")))
        if not edits:
            return Fix.display(title, ddl)
        return Fix(title, Applicability.UNSAFE, edits, ddl)


def _growing_column(elem: dict, columns: dict[str, Column]) -> Column | None:
    """The growing column an index element is on (directly or inside an expression)."""
    if elem.get("name"):
        column = columns.get(elem["name"])
        return column if column is not None and column.grows else None
    refs = {n.column_ref({kind: body}) for kind, body in iter_nodes(elem.get("expr"))
            if kind == "ColumnRef"}
    refs.discard(None)
    if len(refs) == 1:
        column = columns.get(refs.pop())
        return column if column is not None and column.grows else None
    return None


def _not_convertible(node: dict, params: list[dict]) -> str:
    """Why the index cannot simply become BRIN, or ''."""
    first = params[0]
    if node.get("unique"):
        return "UNIQUE, and BRIN cannot enforce uniqueness"
    if len(params) > 1:
        return "multi-column"
    if not first.get("name"):
        return "an expression index"
    if first.get("ordering", "SORTBY_DEFAULT") != "SORTBY_DEFAULT" or \
            first.get("nulls_ordering", "SORTBY_NULLS_DEFAULT") != "SORTBY_NULLS_DEFAULT":
        return "ordered (ASC/DESC/NULLS), which BRIN does not support"
    if first.get("opclass") or first.get("collation"):
        return "declared with an operator class or collation"
    if node.get("indexIncludingParams"):
        return "a covering index (INCLUDE), which BRIN does not support"
    if node.get("options"):
        return "given B-tree storage options"
    return ""


def _brin_edits(tokens: list[Token], relation_at: int) -> tuple[Edit, ...]:
    code = [t for t in tokens if not t.is_comment]
    after = [k for k, t in enumerate(code) if t.start >= relation_at]
    if not after:
        return ()
    start = after[0]
    open_index = next((k for k in range(start, len(code)) if code[k].text == "("), None)
    if open_index is None:
        return ()
    close_index = matching_paren(code, open_index)
    if close_index is None:
        return ()
    using = next((k for k in range(start, open_index) if code[k].name == "USING"), None)
    if using is not None:
        method = code[using + 1]
        method_edit = Edit(method.start, method.end, "BRIN")
    else:
        method_edit = Edit.insert(code[open_index - 1].end, " USING BRIN")
    return (method_edit,
            Edit.insert(code[close_index].end, f" WITH (pages_per_range = {PAGES_PER_RANGE})"))

