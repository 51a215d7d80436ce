"""PGL306 unbounded-queue (SQL and Python forms)."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import app_consumes
from pglint.kit.sql_tokens import depths
from pglint.model.project import APPEND_ONLY_NAME, LEASE_COLUMNS
from pglint.python.pyfile import PythonFile, has_star, is_int, keyword
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

MAX_DEPTH = 10000  # the chapter's limit; the right one is what workers drain within the SLO
# The bound a Python fix gives an in-process queue: room for bursts, not for an outage.
PYTHON_MAXSIZE = 1000
# In-process queues whose constructor takes `maxsize` (0 or less means unbounded).
_PY_QUEUES = frozenset({
    "queue.Queue", "queue.LifoQueue", "queue.PriorityQueue", "asyncio.Queue",
    "asyncio.LifoQueue", "asyncio.PriorityQueue", "asyncio.queues.Queue", "multiprocessing.Queue",
    "multiprocessing.JoinableQueue", "gevent.queue.Queue", "janus.Queue",
})
# Where finished or failed work is kept: rows moved there are bounded by the queue they left.
_ARCHIVE_NAME = re.compile(r"(?:^|_)(?:archived?|archives|dead|dlq|done|failed|completed)(?:$|_)")

_INGESTION = ("CREATE TABLE ingestion_queue (\n"
              "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
              "    payload jsonb NOT NULL,\n"
              "    status text NOT NULL DEFAULT 'pending'\n"
              ");")
_CONTEXT = {"migrations/V1__queue.sql": _INGESTION, **app_consumes("ingestion_queue")}


def _guarded(values: str, tail: str = "") -> str:
    return ("WITH queue_depth AS (\n"
            "    SELECT count(*) AS depth FROM ingestion_queue WHERE status = 'pending'\n"
            ")\n"
            "INSERT INTO ingestion_queue (payload, status)\n"
            f"SELECT {values}\n"
            "FROM queue_depth\n"
            f"WHERE depth < 10000{tail};")


class UnboundedQueue(Rule):
    """
    ## What it does
    Flags an application `INSERT` into a queue table (a query file or a function body) that
    does not check the queue's depth first. A table is a queue when `[tool.pglint.tables]`
    declares it a `queue`, when its name says queue, jobs, tasks, outbox, messages or retries
    and run-time code takes its rows out or marks them done (updates or deletes them: a
    broadcast `messages` log nobody consumes is no queue), or when it has a worker-lease column
    (`next_attempt_at`, `locked_by`).

    It stays silent on the depth-guarded form (a `count(*)` of the same table in the statement,
    as in `WITH queue_depth AS (SELECT count(*) ...) INSERT ... WHERE depth <
    10000`, or in the same function body), on rows moved from another queue (archives, dead
    letters) and on one-off migration statements.

    In Python, flags `queue.Queue()`, `asyncio.Queue()`, `multiprocessing.Queue()` (and their
    Lifo/Priority/Joinable variants) created without a positive `maxsize`. A `maxsize` that is
    a variable or expression is trusted.

    ## Why is this bad?
    When producers outpace the workers, nothing pushes back: the table grows without bound,
    every poll and index scan gets slower (which slows the workers further), the latency of
    each job grows with the backlog, and the producer only learns about the overload when the
    disk or the database falls over. Shedding load at the door (refusing the enqueue, returning
    HTTP 503 or retrying later) keeps the system inside what it can drain.

    ## Example
    ```sql
    INSERT INTO ingestion_queue (payload, status) VALUES ($1, 'pending');
    ```

    ## Use instead
    ```sql
    WITH queue_depth AS (
        SELECT count(*) AS depth
        FROM (SELECT 1 FROM ingestion_queue WHERE status = 'pending' LIMIT 10000) AS pending
    )
    INSERT INTO ingestion_queue (payload, status)
    SELECT $1, 'pending'
    FROM queue_depth
    WHERE depth < 10000;
    -- 0 rows inserted: the queue is full; reject (HTTP 503) or retry later.
    ```
    The inner `LIMIT` caps the counting work at the limit itself.

    In Python, `queue.Queue(maxsize=1000)`: `put()` then blocks (or `put_nowait()` raises
    `queue.Full`) when consumers fall behind, which pushes back on the producer.

    ## Fix safety
    Display only: rejecting work is a product decision, and the caller must handle the "queue
    full" outcome (0 rows inserted). The check is approximate under concurrency: producers that
    count at the same moment all see room and all insert, so the queue can overshoot the limit
    by the number of concurrent producers. That is fine for load shedding, not a hard bound
    (which would need a lock or a counter row that serializes every producer).

    The Python fix (`maxsize=1000`) is unsafe: producers that never waited now block when the
    queue is full (or raise `queue.Full` with `put_nowait()` / a timeout), and the right bound
    is what the consumers drain within your latency budget. A queue used as a thread-safe list,
    filled completely before anyone reads it (results collected, then drained), would block
    for ever at the bound: bound only queues that a consumer drains while producers put.
    """

    code = "PGL306"
    name = "unbounded-queue"
    summary = "Enqueue without a depth guard: the queue grows without bound under overload"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories (0 of 4 "
        "earlier): job-queue libraries must not drop work, so a depth guard is rarely the fix"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-insert.html",
        "https://www.postgresql.org/docs/current/routine-vacuuming.html",
    )
    statements = ("InsertStmt",)
    file_kinds = frozenset({"sql", "migration"})
    python_nodes = (ast.Call,)
    python_hint = ("Queue(",)

    VALID = (
        # The chapter's guarded insert (psql variable and all).
        Example("WITH queue_depth AS (\n"
                "    SELECT count(*) as depth FROM ingestion_queue WHERE status = 'pending'\n"
                ")\n"
                "INSERT INTO ingestion_queue (payload, status)\n"
                "SELECT :payload, 'pending'\n"
                "FROM queue_depth\n"
                "WHERE depth < 10000;  -- Reject if queue full (backpressure)",
                kind="sql", context=_CONTEXT),
        # The depth checked in the same function body.
        Example("CREATE FUNCTION enqueue(p jsonb) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF (SELECT count(*) FROM ingestion_queue WHERE status = 'pending') >= 10000 THEN\n"
                "    RAISE EXCEPTION 'queue full' USING ERRCODE = '53400';\n"
                "  END IF;\n"
                "  INSERT INTO ingestion_queue (payload) VALUES (p);\n"
                "END $$;", context=_CONTEXT),
        # Not a queue: a status column alone does not make orders a queue.
        Example("INSERT INTO orders (customer_id, status) VALUES ($1, 'new');", kind="sql",
                context={"migrations/V1__orders.sql":
                         "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint,\n"
                         "    status text);"}),
        # Moving failed jobs to a dead-letter table: bounded by the queue they come from.
        Example("INSERT INTO failed_jobs (id, payload)\n"
                "SELECT id, payload FROM jobs WHERE attempts >= 5;", kind="sql"),
        # Named like a queue, but nothing at run time consumes it: a log, not a queue.
        Example("INSERT INTO messages (room_id, body) VALUES ($1, $2);", kind="sql",
                context={"migrations/V1__chat.sql":
                         "CREATE TABLE messages (id bigserial PRIMARY KEY, room_id bigint, "
                         "body text);",
                         "tests/cleanup.sql": "DELETE FROM messages;"}),
        # A one-off migration statement.
        Example(_INGESTION + "\nINSERT INTO ingestion_queue (payload) VALUES ('{}');"),
        # Bounded in-process queues; a bound computed at run time is trusted.
        Example("import queue\nimport asyncio\n\n"
                "jobs = queue.Queue(maxsize=500)\n"
                "events = asyncio.Queue(100)\n"
                "pending = queue.Queue(maxsize=settings.QUEUE_DEPTH)\n", kind="python"),
        # Another library's Queue class is not judged.
        Example("from kombu import Queue\n\ntasks = Queue('tasks')\n", kind="python"),
    )
    INVALID = (
        Example("INSERT INTO ingestion_queue (payload, status) VALUES ($1, 'pending');",
                kind="sql", context=_CONTEXT),
        # A worker-lease column marks the table; RETURNING is kept in the suggestion.
        Example("INSERT INTO deliveries (url, body, next_attempt_at)\n"
                "VALUES ($1, $2, now())\nRETURNING id;", kind="sql",
                context={"migrations/V1__deliveries.sql":
                         "CREATE TABLE deliveries (id bigserial PRIMARY KEY, url text,\n"
                         "    body text, next_attempt_at timestamptz);"}),
        # Declared a queue; INSERT ... SELECT; inside a function body.
        Example("CREATE FUNCTION fan_out(p_event bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  INSERT INTO notifications (user_id, event_id)\n"
                "  SELECT user_id, p_event FROM followers WHERE followee_id = 42;\n"
                "END $$;", config={"tables": {"notifications": "queue"}}),
        # A guard on another table does not bound this one.
        Example("WITH depth AS (SELECT count(*) AS n FROM other_queue)\n"
                "INSERT INTO outbox (topic, payload) SELECT $1, $2 FROM depth WHERE n < 100;",
                kind="sql", context=app_consumes("outbox")),
        # Python: no maxsize, an explicit 0, and an imported-name form.
        Example("import queue\n\nwork = queue.Queue()\n",
                fixed="import queue\n\nwork = queue.Queue(maxsize=1000)\n", kind="python"),
        Example("import asyncio\n\n\nasync def main():\n"
                "    inbox = asyncio.Queue(maxsize=0)  # unbounded\n",
                fixed="import asyncio\n\n\nasync def main():\n"
                      "    inbox = asyncio.Queue(maxsize=1000)  # unbounded\n", kind="python"),
        Example("from multiprocessing import Queue\n\nresults = Queue()\n",
                fixed="from multiprocessing import Queue\n\nresults = Queue(maxsize=1000)\n",
                kind="python"),
    )

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        name = code.qualified(node.func)
        if name not in _PY_QUEUES:
            return
        bound = keyword(node, "maxsize")
        if bound is None and node.args and not isinstance(node.args[0], ast.Starred):
            bound = node.args[0]
        if bound is None and has_star(node):
            return  # Queue(*args) / Queue(**options): cannot tell
        if bound is not None:
            if isinstance(bound, ast.UnaryOp) and isinstance(bound.op, ast.USub) \
                    and is_int(bound.operand):
                pass  # a negative maxsize is unbounded too
            elif not (is_int(bound) and bound.value <= 0):  # type: ignore[attr-defined]
                return
        short = name.rsplit(".", 1)[-1] if name.count(".") == 1 else name
        message = (f"`{code.code(node.func)}()` has no positive maxsize: when consumers fall "
                   f"behind, it grows until memory runs out")
        help = (f"`{short}` with maxsize <= 0 is unbounded: `put()` never blocks, so a producer "
                "faster than its consumers is never slowed down and the backlog (and every "
                "item's wait) grows until the process runs out of memory. A bound turns overload "
                "into back pressure: `put()` blocks, or `put_nowait()` raises `queue.Full` "
                f"(asyncio: `QueueFull`) so the caller can shed load. {PYTHON_MAXSIZE} is a "
                "starting point: size it to what consumers drain within your latency budget.")
        yield self.finding(ctx, message, _bounded(code, node, bound), help, node=node)

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        # An application insert: a query file or a function body (not pgbench, not a migration).
        if not (ctx.kind == "sql" or (stmt.parent is not None
                                      and stmt.parent.kind == "CreateFunctionStmt")):
            return
        if node is not stmt.body:
            return  # an INSERT nested in a CTE is judged with its statement
        table = n.relation_name(node.get("relation"))
        if not table:
            return
        bare = ctx.model.bare(table)
        if APPEND_ONLY_NAME.search(bare) or _ARCHIVE_NAME.search(bare):
            return
        evidence = ctx.model.queue_evidence(table, LEASE_COLUMNS)
        if evidence is None or _moves_rows(ctx, stmt, table):
            return
        if _counts(stmt.node, table) or _guarded_in_body(ctx, stmt, table):
            return
        message = (f"Enqueue into `{bare}` has no depth guard: when workers fall behind, the "
                   f"queue grows without bound ({evidence.named()})")
        help = (f"Queue evidence: {evidence}. Nothing pushes back on producers: under overload "
                "the table grows, polls and index scans slow down (slowing the workers "
                "further), every job waits behind the backlog, and the overload surfaces only "
                "when the disk or the database gives out. Count the pending rows in the same "
                f"statement and insert only below a limit ({MAX_DEPTH} is an example; pick "
                "what the workers drain within your latency budget); 0 rows inserted means the "
                "queue is full: reject (HTTP 503) or retry later. The count-then-insert guard is "
                "approximate under concurrency: producers that count at the same moment all see "
                "room, so the queue can overshoot by the number of concurrent producers. That is "
                "fine for load shedding, not a hard bound. Capping the count with an inner "
                "LIMIT keeps the check cheap.")
        fix = Fix.display("Insert only while the queue is below a depth limit",
                          _guarded_insert(ctx, stmt, node, table))
        yield self.finding(ctx, message, fix, help, node=stmt)


def _bounded(code: PythonFile, call: ast.Call, bound: ast.expr | None) -> Fix | None:
    """`maxsize=` added to the call (in its layout), or its bound replaced."""
    if bound is None:
        edit = code.keyword_added(call, "maxsize", str(PYTHON_MAXSIZE))
        if edit is None:
            return None
    else:
        edit = Edit(*code.span(bound), str(PYTHON_MAXSIZE))
    return Fix(f"Bound the queue: maxsize={PYTHON_MAXSIZE}", Applicability.UNSAFE, (edit,))


def _range_tables(node: Any) -> set[str]:
    return {name for kind, body in iter_nodes(node) if kind == "RangeVar"
            for name in [n.relation_name(body)] if name}


def _select_counts(select: dict[str, Any], table: str) -> bool:
    """A SELECT with count() in its target list reading `table` (directly or in a subquery)."""
    counted = any(kind == "FuncCall" and n.func_name(body) == "count"
                  for target in select.get("targetList") or () for kind, body in iter_nodes(target))
    return counted and table in _range_tables(select.get("fromClause"))


def _counts(tree: Any, table: str) -> bool:
    return any(kind == "SelectStmt" and _select_counts(body, table)
               for kind, body in iter_nodes(tree))


def _guarded_in_body(ctx: FileContext, stmt: Statement, table: str) -> bool:
    """A depth check elsewhere in the same function body (`IF (SELECT count(*) ...) THEN`)."""
    if stmt.parent is None:
        return False
    return any(other.parent is stmt.parent and other is not stmt and _counts(other.node, table)
               for other in ctx.body_statements)


def _moves_rows(ctx: FileContext, stmt: Statement, table: str) -> bool:
    """The rows come from another queue (re-queue, dead letters) or from a DELETE ... RETURNING."""
    if any(kind == "DeleteStmt" for kind, _ in iter_nodes(stmt.node)):
        return True
    source = stmt.body.get("selectStmt")
    return any(other != table and ctx.model.queue_evidence(other) is not None
               for other in _range_tables(source))


def _depth_tokens(ctx: FileContext, stmt: Statement) -> list[tuple[Token, int]]:
    tokens = ctx.code_tokens(stmt)
    return list(zip(tokens, depths(tokens)))


def _guarded_insert(ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str) -> str:
    """The statement rewritten with a depth guard, reusing its own text for the parts kept."""
    text = ctx.text
    tokens = _depth_tokens(ctx, stmt)
    bare = ctx.model.bare(table)
    target = n.quote_qualified(table)
    known = ctx.model.catalog.table(table)
    cols = [t["ResTarget"].get("name", "") for t in node.get("cols") or () if "ResTarget" in t]
    # The pending rows: those the insert itself marks, else status = 'pending' if there is one.
    pending = ""
    status_value = None
    select = (node.get("selectStmt") or {}).get("SelectStmt") or {}
    rows = select.get("valuesLists") or ()
    row_items = rows[0].get("List", {}).get("items", ()) if len(rows) == 1 else ()
    if "status" in cols and cols.index("status") < len(row_items):
        is_const, value = n.constant(row_items[cols.index("status")])
        status_value = value if is_const and isinstance(value, str) else None
    if status_value is not None or (known is not None and "status" in known.columns):
        pending = f" WHERE status = {n.quote_literal(status_value or 'pending')}"
    # Where the parts of the statement are: WITH ... | INSERT INTO t (cols) | source | tail.
    insert_at = next(i for i, (tok, d) in enumerate(tokens) if d == 0 and tok.upper == "INSERT")
    ctes, recursive = "", ""
    if node.get("withClause") and insert_at > 1:
        first = 2 if tokens[1][0].upper == "RECURSIVE" else 1
        recursive = "RECURSIVE " if first == 2 else ""
        ctes = text[tokens[first][0].start:tokens[insert_at - 1][0].end]
    into_end = next(i for i, (tok, d) in enumerate(tokens) if i > insert_at and d == 0
                    and tok.start >= stmt.offset(node["relation"].get("location")))
    i = into_end + 1
    if i < len(tokens) and tokens[i][0].upper == "AS":
        i += 2
    if cols and i < len(tokens) and tokens[i][0].text == "(":
        while tokens[i][0].text != ")" or tokens[i][1] != 0:
            i += 1
        i += 1
    head = text[tokens[insert_at][0].start:tokens[i - 1][0].end]
    tail_at = next((j for j in range(i, len(tokens)) if tokens[j][1] == 0 and (
        tokens[j][0].upper == "RETURNING" or (tokens[j][0].upper == "ON" and j + 1 < len(tokens)
                                              and tokens[j + 1][0].upper == "CONFLICT"))), None)
    source_end = tokens[tail_at - 1][0].end if tail_at is not None else stmt.end
    source = text[tokens[i][0].start:source_end] if i < len(tokens) else ""
    tail = "\n" + text[tokens[tail_at][0].start:stmt.end] if tail_at is not None else ""
    if len(rows) == 1 and source.upper().startswith("VALUES"):
        inner_open = next(j for j in range(i, len(tokens)) if tokens[j][0].text == "(")
        inner_close = next(j for j in range(inner_open + 1, len(tokens))
                           if tokens[j][0].text == ")" and tokens[j][1] == 0)
        values = text[tokens[inner_open][0].end:tokens[inner_close][0].start]
        body = f"SELECT {values}\nFROM queue_depth\nWHERE depth < {MAX_DEPTH}"
    elif source and node.get("selectStmt") is not None:
        body = (f"SELECT s.*\nFROM ({source}) AS s, queue_depth\n"
                f"WHERE queue_depth.depth < {MAX_DEPTH}")
    else:  # DEFAULT VALUES: a SELECT of no columns inserts a row of defaults
        body = f"SELECT\nFROM queue_depth\nWHERE depth < {MAX_DEPTH}"
    with_clause = (
        f"WITH {recursive}queue_depth AS (\n"
        "    -- counting stops at the limit, so the check stays cheap\n"
        f"    SELECT count(*) AS depth\n"
        f"    FROM (SELECT 1 FROM {target}{pending} LIMIT {MAX_DEPTH}) AS backlog\n"
        ")" + (f", {ctes}" if ctes else ""))
    return (f"{with_clause}\n{head}\n{body}{tail};\n"
            f"-- 0 rows inserted: `{bare}` is full; reject the work (HTTP 503) or retry later.\n"
            "-- Approximate under concurrency (producers counting at once all see room): fine "
            "for load shedding, not a hard bound.")
