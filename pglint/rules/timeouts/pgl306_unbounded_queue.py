"""PGL306 unbounded-queue (SQL and Python forms)."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable, Iterator

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit import retry_targets
from pglint.kit.example_projects import app_consumes
from pglint.kit.sql_tokens import depths
from pglint.model.project import APPEND_ONLY_NAME, LEASE_COLUMNS
from pglint.python.pyfile import PythonFile, has_star, is_int, keyword, last_name
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
_DECLARED = {"tables": {"ingestion_queue": "queue"}}


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
    Flags an application `INSERT` into a queue table (a query file, or a function body for a
    declared queue) that does not check the queue's depth first. A table is a queue when
    `[tool.pglint.tables]` declares it a `queue`, or when it has a worker-lease column
    (`next_attempt_at`, `locked_by`). A queue-like name is not enough, even on a table whose
    rows run-time code consumes: the tables of a job-queue product (river, procrastinate,
    hatchet) are named and consumed exactly so, and their enqueue must never drop work.

    It stays silent on the depth-guarded form (a `count(*)` of the same table in the statement,
    as in `WITH queue_depth AS (SELECT count(*) ...) INSERT ... WHERE depth <
    10000`, or in the same function body), on rows moved from another queue (archives, dead
    letters), on one-off migration statements and on function and trigger bodies of tables not
    declared queues: an enqueue function or trigger hands on every row it is given, and a
    guard there loses work silently. A body that a later migration replaced or dropped is not
    judged either.

    In Python, flags `queue.Queue()`, `asyncio.Queue()`, `multiprocessing.Queue()` (and their
    Lifo/Priority/Joinable variants) created without a positive `maxsize`, when the queue is the
    database's backlog: a loop of the same file takes items out of it and sends SQL (directly
    or through a function of the file). A queue of chat tokens, audio frames or log
    records, one whose consumer the file does not show, or a function's local queue (it lives
    for one call) is not judged. A `maxsize` that is
    a variable or expression is trusted. It stays silent when the file bounds the queue after
    construction (`x.queue.maxsize = n`), pushes back on its size (`if q.qsize() >= 5:
    producer.pause()`), puts a stop marker without waiting (`q.put_nowait(None)`, which a
    bound would make raise `QueueFull`), or uses it as a work list that one function fills and
    drains itself (every use of a local name a method call on it), or whose consumer puts items
    back itself (a thread re-queueing a failed item): bounding those would break them.

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
        "judged worth acting on in 0 of 11 findings on an application it was not tuned on "
        "(round 6: per-call queues that never reach PostgreSQL, silent since), 0 of 7 "
        "earlier: job-queue libraries must not drop work, so a depth guard is rarely the fix"
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
        # Named like a queue and consumed, but not declared one: a job-queue product's own
        # enqueue (it must not drop work) looks exactly like this.
        Example("INSERT INTO ingestion_queue (payload, status) VALUES ($1, 'pending');",
                kind="sql", context=_CONTEXT),
        # A trigger or enqueue function hands on every row it is given: a guard there drops
        # work silently, whatever the table.
        Example("CREATE FUNCTION enqueue_delivery() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  INSERT INTO deliveries (url, body, next_attempt_at)\n"
                "  VALUES (NEW.url, NEW.body, now());\n"
                "  RETURN NEW;\n"
                "END $$;",
                context={"migrations/V1__deliveries.sql":
                         "CREATE TABLE deliveries (id bigserial PRIMARY KEY, url text,\n"
                         "    body text, next_attempt_at timestamptz);"}),
        # Bounded after construction; back pressure on qsize(); a stop marker put without
        # waiting; a work list one function fills and drains.
        Example("import queue\n\n\nclass Handler:\n"
                "    def __init__(self):\n"
                "        self.records = queue.Queue()\n\n"
                "    def reload(self, config):\n"
                "        self.records.maxsize = config['max_queue_size']\n", kind="python"),
        Example("import queue\n\n\nclass Consumer:\n"
                "    def __init__(self, producer):\n"
                "        self.producer = producer\n"
                "        self.chunks = queue.Queue()\n\n"
                "    def write(self, data):\n"
                "        self.chunks.put(data)\n"
                "        if self.chunks.qsize() >= 5:\n"
                "            self.producer.pause()\n", kind="python"),
        Example("import asyncio\n\n\nclass Worker:\n"
                "    def __init__(self):\n"
                "        self.inbox = asyncio.Queue()\n\n"
                "    def stop(self):\n"
                "        self.inbox.put_nowait(None)\n", kind="python"),
        Example("from queue import PriorityQueue\n\n\n"
                "def walk(seeds, children, limit):\n"
                "    pending = PriorityQueue()\n"
                "    for seed in seeds:\n"
                "        pending.put(seed)\n"
                "    seen = []\n"
                "    while not pending.empty() and len(seen) < limit:\n"
                "        item = pending.get_nowait()\n"
                "        seen.append(item)\n"
                "        for child in children(item):\n"
                "            pending.put(child)\n"
                "    return seen\n", kind="python"),
        # The consuming thread re-queues failed items itself: a bound could block it for ever.
        Example("import queue\nimport threading\n\n\nclass Resolver(threading.Thread):\n"
                "    def __init__(self):\n"
                "        super().__init__(daemon=True)\n"
                "        self.pending = queue.Queue()\n\n"
                "    def run(self):\n"
                "        while True:\n"
                "            host, attempt = self.pending.get()\n"
                "            if not self.lookup(host) and attempt < 10:\n"
                "                self.resolve_later(host, attempt + 1)\n\n"
                "    def resolve_later(self, host, attempt=0):\n"
                "        self.pending.put((host, attempt))\n", kind="python"),
        # Bounded in-process queues; a bound computed at run time is trusted.
        Example("import queue\nimport asyncio\n\n"
                "jobs = queue.Queue(maxsize=500)\n"
                "events = asyncio.Queue(100)\n"
                "pending = queue.Queue(maxsize=settings.QUEUE_DEPTH)\n", kind="python"),
        # Another library's Queue class is not judged.
        Example("from kombu import Queue\n\ntasks = Queue('tasks')\n", kind="python"),
        # The file uses psycopg, but the queue carries a chat reply to a websocket: not the
        # database's backlog. A queue whose consumer the file does not show is left alone too.
        Example("import asyncio\n\nimport psycopg\n\n\nclass Reply:\n"
                "    def __init__(self, socket):\n"
                "        self.socket = socket\n"
                "        self.tokens = asyncio.Queue()\n\n"
                "    async def stream(self):\n"
                "        while True:\n"
                "            await self.socket.send(await self.tokens.get())\n", kind="python"),
        Example("import queue\n\nwork = queue.Queue()\n", kind="python"),
    )
    INVALID = (
        Example("INSERT INTO ingestion_queue (payload, status) VALUES ($1, 'pending');",
                kind="sql", context=_CONTEXT, config=_DECLARED),
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
                kind="sql", context=app_consumes("outbox"),
                config={"tables": {"outbox": "queue"}}),
        # Python: a queue whose consumer writes to PostgreSQL, with no maxsize, an explicit 0,
        # and an imported-name form.
        Example("import queue\n\nimport psycopg\n\nwork = queue.Queue()\n\n\n"
                "def writer(conn: psycopg.Connection):\n"
                "    while True:\n"
                "        row = work.get()\n"
                "        conn.execute(\"INSERT INTO events (payload) VALUES (%s)\", (row,))\n",
                fixed="import queue\n\nimport psycopg\n\nwork = queue.Queue(maxsize=1000)\n\n\n"
                "def writer(conn: psycopg.Connection):\n"
                "    while True:\n"
                "        row = work.get()\n"
                "        conn.execute(\"INSERT INTO events (payload) VALUES (%s)\", (row,))\n",
                kind="python"),
        Example("import asyncio\n\nimport asyncpg\n\n\nclass Writer:\n"
                "    def __init__(self, pool: asyncpg.Pool):\n"
                "        self.pool = pool\n"
                "        self.inbox = asyncio.Queue(maxsize=0)  # unbounded\n\n"
                "    async def run(self):\n"
                "        while True:\n"
                "            item = await self.inbox.get()\n"
                "            await self.pool.execute(\"INSERT INTO events (payload) VALUES ($1)\","
                " item)\n",
                fixed="import asyncio\n\nimport asyncpg\n\n\nclass Writer:\n"
                      "    def __init__(self, pool: asyncpg.Pool):\n"
                      "        self.pool = pool\n"
                      "        self.inbox = asyncio.Queue(maxsize=1000)  # unbounded\n\n"
                      "    async def run(self):\n"
                      "        while True:\n"
                      "            item = await self.inbox.get()\n"
                      "            await self.pool.execute(\"INSERT INTO events (payload) VALUES "
                      "($1)\", item)\n",
                kind="python"),
        Example("from multiprocessing import Queue\n\nfrom django.db import connection\n\n"
                "results = Queue()\n\n\ndef store():\n"
                "    while True:\n"
                "        with connection.cursor() as cursor:\n"
                "            cursor.execute(\"INSERT INTO results (value) VALUES (%s)\", "
                "[results.get()])\n",
                fixed="from multiprocessing import Queue\n\nfrom django.db import connection\n\n"
                      "results = Queue(maxsize=1000)\n\n\ndef store():\n"
                      "    while True:\n"
                      "        with connection.cursor() as cursor:\n"
                      "            cursor.execute(\"INSERT INTO results (value) VALUES (%s)\", "
                      "[results.get()])\n",
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
        binding = _binding(code, node)
        if binding is None or _bounded_by_use(code, binding) or \
                not _feeds_database(code, binding):
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
        in_body = stmt.parent is not None and stmt.parent.kind == "CreateFunctionStmt"
        if not (ctx.kind == "sql" or in_body):
            return
        if node is not stmt.body:
            return  # an INSERT nested in a CTE is judged with its statement
        table = n.relation_name(node.get("relation"))
        if not table:
            return
        bare = ctx.model.bare(table)
        if APPEND_ONLY_NAME.search(bare) or _ARCHIVE_NAME.search(bare):
            return
        # Only a declared queue, or a worker-lease column, makes this a queue to guard: a
        # job-queue product's own tables are named and consumed like queues, and their enqueue
        # must never drop work.
        evidence = ctx.model.queue_evidence(table, LEASE_COLUMNS, by_name=False)
        if evidence is None or _moves_rows(ctx, stmt, table):
            return
        if in_body and "queue" not in ctx.model.hint(table).workloads:
            return  # a trigger or enqueue function hands on all it is given
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


def _uses(code: PythonFile, binding: ast.Name | ast.Attribute
          ) -> Iterator[tuple[ast.Attribute, ast.AST]]:
    """Each `<x>.q.<attr>` or `q.<attr>` of the file for the queue bound to `binding` (by its
    last name), with the node that holds it (the Call of a method, an assignment, ...)."""
    name = binding.attr if isinstance(binding, ast.Attribute) else binding.id
    for attribute in code.nodes(ast.Attribute):
        if last_name(attribute.value) == name:
            yield attribute, code.parent(attribute)


def _bounded_by_use(code: PythonFile, binding: ast.Name | ast.Attribute) -> bool:
    """How the file uses the queue it binds (`self.q = Queue()`, `q = Queue()`) bounds it or
    rules a bound out: a `maxsize` assigned later (`x.q.maxsize = n`), back pressure on
    `q.qsize()` (pause the producer above a size), a stop marker put without waiting
    (`q.put_nowait(None)`, which a bound would make raise), a work list that one function
    fills and drains itself (every use a method call on a local name), or a consumer that
    puts items back: a bound would block the only consumer."""
    for attribute, parent in _uses(code, binding):
        if attribute.attr == "maxsize" and isinstance(parent, (ast.Assign, ast.AugAssign)) \
                and attribute in (getattr(parent, "targets", None) or [parent.target]):
            return True
        if not (isinstance(parent, ast.Call) and parent.func is attribute):
            continue
        if attribute.attr == "qsize" and isinstance(code.parent(parent), ast.Compare):
            return True
        if attribute.attr == "put_nowait" and parent.args and \
                isinstance(parent.args[0], ast.Constant):
            return True
    if isinstance(binding, ast.Name):
        return _local_work_list(code, binding)
    return _consumer_refills(code, binding.attr)


def _feeds_database(code: PythonFile, binding: ast.Name | ast.Attribute) -> bool:
    """The queue is the database's backlog: a loop of the file that takes items out of it
    (`q.get()`, `self.q.get_nowait()`) sends SQL, directly or through a function of the same
    file. A queue of chat messages, audio frames or log records is not this rule's, and one
    whose consumer the file does not show is left alone."""
    if isinstance(binding, ast.Name) and code.enclosing(
            binding, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda) is not None:
        return False  # a function's local queue lives for one call: its work bounds it
    consumers = []
    for attribute, parent in _uses(code, binding):
        if attribute.attr.startswith("get") and \
                isinstance(parent, ast.Call) and parent.func is attribute:
            loop = code.enclosing(parent, ast.While, ast.For, ast.AsyncFor, ast.FunctionDef,
                                  ast.AsyncFunctionDef, ast.Lambda)
            if isinstance(loop, (ast.While, ast.For, ast.AsyncFor)):
                consumers.append(loop)
    # The consumer's own loop must send SQL: a long function that reads the queue between
    # other work (a chat turn merging its models' replies) is not a database writer.
    return any(retry_targets.reaches_database(code, loop.body) for loop in consumers)


def _consumer_refills(code: PythonFile, name: str) -> bool:
    """The function that takes items out of `<x>.name` also puts items back, itself or
    through a method it calls on `self` (a resolver thread re-queueing a failed lookup): with
    a bound, that `put()` would block the only consumer for ever."""
    functions = {f.name: f for f in (*code.nodes(ast.FunctionDef),
                                     *code.nodes(ast.AsyncFunctionDef))}

    def uses(function: Any, prefix: str) -> bool:
        return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                   and node.func.attr.startswith(prefix)
                   and last_name(node.func.value) == name
                   for node in PythonFile.descendants(function))

    for function in functions.values():
        if not uses(function, "get"):
            continue
        called = [functions.get(node.func.attr) for node in PythonFile.descendants(function)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"]
        if uses(function, "put") or any(f is not None and uses(f, "put") for f in called):
            return True
    return False


def _binding(code: PythonFile, call: ast.Call) -> ast.Name | ast.Attribute | None:
    """What the queue is bound to: the target of `x = Queue()` / `self.x: Queue = Queue()`."""
    parent = code.parent(call)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1:
        target = parent.targets[0]
    elif isinstance(parent, ast.AnnAssign):
        target = parent.target
    else:
        return None
    return target if isinstance(target, (ast.Name, ast.Attribute)) else None


def _local_work_list(code: PythonFile, binding: ast.Name) -> bool:
    """A local name of a function whose every use is a method call on it (`q.put(x)`,
    `q.get_nowait()`): filled and drained by the same code, never handed to another thread."""
    function = code.enclosing(binding, ast.FunctionDef, ast.AsyncFunctionDef)
    if function is None:
        return False
    methods = set()
    for node in PythonFile.descendants(function):
        if not isinstance(node, ast.Name) or node.id != binding.id or node is binding:
            continue
        parent = code.parent(node)
        if not (isinstance(parent, ast.Attribute) and isinstance(code.parent(parent), ast.Call)
                and code.parent(parent).func is parent):
            return False
        methods.add(parent.attr.split("_", 1)[0])
    return {"put", "get"} <= methods


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


_PLPGSQL_INTO = re.compile(r"\s*(INTO\s+(?:STRICT\s+)?[^;]+)", re.IGNORECASE)


def _default_state(ctx: FileContext, table: str) -> str | None:
    """The `status` column's default when it is a plain string (`'todo'`, `'todo'::state`):
    the state the inserted rows start in. None without a known default."""
    known = ctx.model.catalog.table(table)
    column = known.columns.get("status") if known is not None else None
    if column is None or not column.default_sql:
        return None
    match = re.fullmatch(r"'((?:[^']|'')*)'(?:::[\w.\"]+)?", column.default_sql.strip())
    return match.group(1).replace("''", "'") if match else None


def _depth_tokens(ctx: FileContext, stmt: Statement) -> list[tuple[Token, int]]:
    tokens = ctx.code_tokens(stmt)
    return list(zip(tokens, depths(tokens)))


def _guarded_insert(ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str) -> str:
    """The statement rewritten with a depth guard, reusing its own text for the parts kept."""
    text = ctx.text
    tokens = _depth_tokens(ctx, stmt)
    bare = ctx.model.bare(table)
    target = n.quote_qualified(table)
    cols = [t["ResTarget"].get("name", "") for t in node.get("cols") or () if "ResTarget" in t]
    # The pending rows: those in the state the insert writes, or the status column's default.
    pending = ""
    status_value = None
    select = (node.get("selectStmt") or {}).get("SelectStmt") or {}
    rows = select.get("valuesLists") or ()
    row_items = rows[0].get("List", {}).get("items", ()) if len(rows) == 1 else ()
    if "status" in cols and cols.index("status") < len(row_items):
        is_const, value = n.constant(row_items[cols.index("status")])
        status_value = value if is_const and isinstance(value, str) else None
    elif "status" not in cols:
        status_value = _default_state(ctx, table)  # what the inserted rows get
    if status_value is not None:
        pending = f" WHERE status = {n.quote_literal(status_value)}"
    # Where the parts of the statement are: WITH ... | INSERT INTO t (cols) | source | tail.
    insert_at = next(i for i, (tok, d) in enumerate(tokens) if d == 0 and tok.upper == "INSERT")
    ctes, recursive = "", ""
    if node.get("withClause") and insert_at > 1:
        first = 2 if tokens[1][0].upper == "RECURSIVE" else 1
        recursive = "RECURSIVE " if first == 2 else ""
        ctes = text[tokens[first][0].start:tokens[insert_at - 1][0].end]
    into_end = next(i for i, (tok, d) in enumerate(tokens) if i > insert_at and d == 0
                    and tok.start >= stmt.offset(node["relation"].get("location")))
    while into_end + 2 < len(tokens) and tokens[into_end + 1][0].text == ".":
        into_end += 2  # schema.table
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
    if stmt.parent is not None:
        # PL/pgSQL hands the query without its `INTO target`: keep it.
        into = _PLPGSQL_INTO.match(text, stmt.end)
        if into is not None:
            tail += " " + into.group(1).strip()
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
