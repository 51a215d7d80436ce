"""PGL307 unindexed-queue-poll."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.kit.queues import update_claims, workload_claims
from pglint.model.catalog import Index
from pglint.model.project import LEASE_COLUMNS
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

# Columns that hold a row's place in a worker's life cycle (pending, running, done, ...).
_STATE_COLUMNS = ("status", "state")
_REVERSED = {"<=": ">=", "<": ">", ">=": "<=", ">": "<"}
_WORDS = ("now", "current_timestamp", "clock_timestamp", "localtimestamp", "status", "state")

_RETRY_QUEUE = ("CREATE TABLE retry_queue (\n"
                "    id bigserial PRIMARY KEY,\n"
                "    payload jsonb,\n"
                "    attempt_count int DEFAULT 0,\n"
                "    next_attempt_at timestamptz DEFAULT now(),\n"
                "    error_message text\n"
                ");")
_JOBS = ("CREATE TABLE jobs (\n"
         "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
         "    status text NOT NULL DEFAULT 'pending',\n"
         "    run_at timestamptz NOT NULL DEFAULT now(),\n"
         "    payload jsonb\n"
         ");")
# Workers take the jobs they polled: what makes `jobs` a work queue, not only its name.
_JOBS_CLAIMED = {"migrations/V1__jobs.sql": _JOBS,
                 "queries/claim.sql": "UPDATE jobs SET status = 'running' WHERE id = $1;"}
_CHAPTER_POLL = ("SELECT * FROM retry_queue\nWHERE next_attempt_at <= now()\n"
                 "ORDER BY next_attempt_at\nLIMIT 10\nFOR UPDATE SKIP LOCKED;")


@dataclass
class _Poll:
    table: str
    time_column: str | None  # `col <= now()`
    order_column: str | None  # first ORDER BY column
    state: tuple[str, str] | None  # (status column, literal) of `status = 'pending'`
    conjuncts: set[str]  # the WHERE's AND-ed parts, normalized
    shaped: bool  # LIMIT or a locking clause: a worker taking a batch
    # Columns the WHERE pins (`col = $1`, `col = 'x'`) or bounds by the clock (`col > now()`):
    # index columns before the polled one that are all of these still lead the scan to it.
    constrained: frozenset[str] = frozenset()


class UnindexedQueuePoll(Rule):
    """
    ## What it does
    Flags a worker's poll of a queue or retry table, `WHERE <col> <= now() ORDER BY <col>` or
    `WHERE status = 'pending'`, in SQL that runs at application run time, when no index in the
    catalog (replayed from the migrations) serves it: no B-tree index led by the polled time
    column (or by the status column), and no partial index whose predicate the poll repeats.

    A table counts as a queue when `[tool.pglint.tables]` declares it a `queue`, when it has a
    worker-lease column (`next_attempt_at`, `locked_by`), or when its name says queue, jobs,
    tasks, outbox, messages or retries and run-time code hands its rows to workers (an
    `UPDATE` that sets a running state, a lease column or an attempt count): a registry of
    queue names polled by a maintenance query is no work queue. An index serves the poll when
    its leading columns are all pinned by the poll (`tenant_id = $1`, or bounded by the clock)
    up to the polled column: `(tenant_id, queue, run_at)` serves `tenant_id = $1 AND queue =
    $2 AND run_at <= now()`. A `status = '...'` filter on another table counts only
    when the query takes a batch (`LIMIT` or `FOR UPDATE`), as a worker does. Tables the
    catalog does not know are left alone: pglint cannot tell which indexes they have.

    ## Why is this bad?
    Workers poll all the time, often several times a second each. Without an index every poll
    is a sequential scan of the whole table, including the done rows and the dead row versions
    that a busy queue leaves behind, and with `FOR UPDATE SKIP LOCKED` also every row other
    workers hold. The cost grows with the table, not with the work due, and the polls compete
    with the workers for I/O just when the queue is backed up.

    ## Example
    ```sql
    -- A retry queue whose comment says "index on next_attempt_at", but no migration creates it.
    SELECT * FROM retry_queue
    WHERE next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT 10
    FOR UPDATE SKIP LOCKED;
    ```

    ## Use instead
    ```sql
    CREATE INDEX CONCURRENTLY retry_queue_next_attempt_at_idx
        ON retry_queue (next_attempt_at);
    -- for a status column, a partial index on the pending rows stays small:
    CREATE INDEX CONCURRENTLY jobs_run_at_idx ON jobs (run_at) WHERE status = 'pending';
    ```

    ## Fix safety
    Display only: the index belongs in a new migration, not in the query file. `CREATE INDEX
    CONCURRENTLY` does not block writes but cannot run inside a transaction block (mark the
    migration non-transactional), and a failed build leaves an INVALID index to drop and retry.
    """

    code = "PGL307"
    name = "unindexed-queue-poll"
    summary = "Queue poll that no index serves: every poll scans the whole table"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories: indexes "
        "whose equality columns come before the range column were not counted"
    )
    references = (
        "https://www.postgresql.org/docs/current/indexes-partial.html",
        "https://www.postgresql.org/docs/current/using-explain.html",
    )
    statements = ("SelectStmt", "UpdateStmt", "DeleteStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration"})

    VALID = (
        # The index the chapter's comment asks for.
        Example(_CHAPTER_POLL, kind="sql", context={"migrations/V1__retry.sql": _RETRY_QUEUE
                + "\nCREATE INDEX retry_queue_next_attempt_at_idx ON retry_queue (next_attempt_at);"}),
        # A partial index on pending rows whose predicate the poll repeats.
        Example("SELECT id FROM jobs WHERE status = 'pending' AND run_at <= now()\n"
                "ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context={"migrations/V1__jobs.sql": _JOBS + "\nCREATE INDEX jobs_run_at_idx "
                         "ON jobs (run_at) WHERE status = 'pending';"}),
        # A composite index led by the status column.
        Example("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 10;", kind="sql",
                context={"migrations/V1__jobs.sql": _JOBS + "\nCREATE INDEX jobs_status_idx "
                         "ON jobs (status, id);"}),
        # Leading columns the poll pins by equality, then the polled time column.
        Example("SELECT id FROM jobs\nWHERE tenant_id = $1 AND queue = $2 AND run_at <= now()\n"
                "ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context={**_JOBS_CLAIMED, "migrations/V1__jobs.sql":
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, tenant_id uuid, queue text,\n"
                         "    status text, run_at timestamptz);\n"
                         "CREATE INDEX jobs_tenant_queue_run_at_idx ON jobs (tenant_id, queue, "
                         "run_at);"}),
        # A registry of queue names polled by a maintenance query on its heartbeat: named
        # like a queue, but nothing hands its rows to workers.
        Example("WITH idle AS (\n  SELECT tenant_id, name FROM task_queues\n"
                "  WHERE last_active <= now() - interval '1 day'\n"
                "  FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE task_queues q SET is_active = true FROM idle\n"
                "WHERE q.tenant_id = idle.tenant_id AND q.name = idle.name;", kind="sql",
                context={"migrations/V1__queues.sql":
                         "CREATE TABLE task_queues (tenant_id uuid, name text, is_active bool,\n"
                         "    last_active timestamptz, PRIMARY KEY (tenant_id, name));",
                         "queries/touch.sql":
                         "UPDATE task_queues SET last_active = now() WHERE name = $1;"}),
        # An orders table filtered by status, not taking a batch: not a worker's poll.
        Example("SELECT * FROM orders WHERE status = 'pending';", kind="sql",
                context={"migrations/V1__orders.sql":
                         "CREATE TABLE orders (id bigint PRIMARY KEY, status text);"}),
        # A table the catalog does not know.
        Example(_CHAPTER_POLL, kind="sql"),
        # A one-off migration statement.
        Example(_RETRY_QUEUE + "\n" + _CHAPTER_POLL),
    )
    INVALID = (
        # The chapter's retry queue without the index its comment mentions.
        Example(_CHAPTER_POLL, kind="sql", context={"migrations/V1__retry.sql": _RETRY_QUEUE}),
        Example("SELECT id, payload FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 10\n"
                "FOR UPDATE SKIP LOCKED;", kind="sql", context=_JOBS_CLAIMED),
        # A partial index for other rows does not serve this poll.
        Example("SELECT id FROM jobs WHERE status = 'pending' AND run_at <= now()\n"
                "ORDER BY run_at LIMIT 10;", kind="sql",
                context={**_JOBS_CLAIMED,
                         "migrations/V1__jobs.sql": _JOBS + "\nCREATE INDEX jobs_failed_idx "
                         "ON jobs (run_at) WHERE status = 'failed';"}),
        # Pinned leading columns, then a column the poll does not filter: the index stops there.
        Example("SELECT id FROM jobs WHERE run_at <= now() AND payload IS NOT NULL\n"
                "ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context={**_JOBS_CLAIMED,
                         "migrations/V1__jobs.sql": _JOBS + "\nCREATE INDEX jobs_status_run_at_idx "
                         "ON jobs (status, run_at);"}),
        # The poll inside an UPDATE that claims rows; the worker-lease column marks the queue.
        Example("UPDATE work_items SET locked_by = $1\nWHERE id IN (\n"
                "    SELECT id FROM work_items WHERE locked_by IS NULL AND next_attempt_at <= now()\n"
                "    ORDER BY next_attempt_at LIMIT 5 FOR UPDATE SKIP LOCKED\n)\nRETURNING id;",
                kind="sql", context={"migrations/V1__work.sql":
                                     "CREATE TABLE work_items (id bigint PRIMARY KEY,\n"
                                     "    locked_by text, next_attempt_at timestamptz);"}),
        # An index on another column does not help; a table declared a queue.
        Example("SELECT id FROM deliveries WHERE state = 'queued' LIMIT 100;", kind="sql",
                config={"tables": {"deliveries": "queue"}},
                context={"migrations/V1__deliveries.sql":
                         "CREATE TABLE deliveries (id bigint PRIMARY KEY, state text,\n"
                         "    created_at timestamptz);\n"
                         "CREATE INDEX deliveries_created_at_idx ON deliveries (created_at);"}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt):
            return
        lowered = ctx.text[stmt.start:stmt.end].lower()
        if not any(word in lowered for word in _WORDS):
            return
        reported: set[tuple[str, str]] = set()
        for kind, body in iter_nodes(stmt.node):
            if kind != "SelectStmt" or not body.get("whereClause"):
                continue
            poll = _poll(body)
            if poll is None or ctx.model.catalog.table(poll.table) is None:
                continue
            evidence = ctx.model.queue_evidence(poll.table, LEASE_COLUMNS, polled=poll.shaped)
            if evidence is None and poll.shaped and poll.state:
                evidence = ctx.model.queue_evidence(poll.table, (poll.state[0],), polled=True)
            if evidence is None:
                continue
            if ctx.model.queue_evidence(poll.table, LEASE_COLUMNS, by_name=False) is None and \
                    not _claimed(ctx, stmt, poll.table):
                continue  # named like a queue, but nothing hands its rows to workers
            indexes = ctx.model.catalog.indexes_on(poll.table)
            if any(_serves(index, poll) for index in indexes):
                continue
            column, predicate = _suggested_key(ctx, poll)
            if (poll.table, column) in reported:
                continue
            reported.add((poll.table, column))
            bare = ctx.model.bare(poll.table)
            polled = (f"`{poll.time_column} <= now()`" if poll.time_column
                      else f"`{poll.state[0]} = '{poll.state[1]}'`" if poll.state else "its poll")
            message = (f"No index serves this poll of queue `{bare}` by {polled}: every poll "
                       f"scans the table ({evidence.named()})")
            ddl = _index_ddl(ctx, poll.table, column, predicate)
            help = (f"Queue evidence: {evidence}. Workers poll all the time; "
                    "without an index each poll is a sequential scan of the whole table, done "
                    "rows and dead row versions included (and, with SKIP LOCKED, every row other "
                    "workers hold), so its cost grows with the table rather than with the work "
                    "due. A B-tree index led by the polled column serves both the range and the "
                    "ORDER BY; a partial index on the pending rows stays small as done rows pile "
                    "up. CREATE INDEX CONCURRENTLY does not block writes but cannot run inside a "
                    "transaction block (mark the migration non-transactional), and a failed "
                    "build leaves an INVALID index to drop and retry.")
            fix = Fix.display("Add an index that serves the poll (in a new migration)", ddl)
            yield self.finding(ctx, message, fix, help, node=stmt)


def _claimed(ctx: FileContext, stmt: Statement, table: str) -> bool:
    """Run-time code hands the table's rows to workers: this statement's UPDATE of it, or
    another's (a running state, a lease, an attempt counted). A registry of queue names
    polled by a maintenance query on a heartbeat column is no work queue."""
    updates = [body for kind, body in iter_nodes(stmt.node)
               if kind == "UpdateStmt" and n.relation_name(body.get("relation")) == table]
    return any(update_claims(body) for body in updates) or workload_claims(ctx, table)


def _norm(node: Any) -> Any:
    """A node without locations and table qualifiers, for comparing predicates."""
    if isinstance(node, dict):
        if "ColumnRef" in node and len(node) == 1:
            return {"col": n.column_ref(node)}
        return {k: _norm(v) for k, v in node.items() if k != "location"}
    if isinstance(node, list):
        return [_norm(v) for v in node]
    return node


def _key(node: Any) -> str:
    return json.dumps(_norm(node), sort_keys=True)


def _is_time(node: dict[str, Any] | None) -> bool:
    """now() and friends, possibly shifted by an interval (`now() - interval '1 minute'`)."""
    if not node:
        return False
    expr = node.get("A_Expr")
    if expr and n.operator(expr) in ("+", "-"):
        return _is_time(expr.get("lexpr"))
    return n.is_time_default(node)


def _poll(select: dict[str, Any]) -> _Poll | None:
    tables = select.get("fromClause") or ()
    if len(tables) != 1 or "RangeVar" not in tables[0]:
        return None  # joins: which table a column belongs to is not known here
    table = n.relation_name(tables[0]["RangeVar"])
    if not table:
        return None
    time_column, state, conjuncts = None, None, set()
    constrained: set[str] = set()
    for part in n.conjuncts(select.get("whereClause")):
        conjuncts.add(_key(part))
        expr = part.get("A_Expr")
        if not expr or expr.get("kind") != "AEXPR_OP":
            continue
        op = n.operator(expr)
        left, right = n.column_ref(expr.get("lexpr")), n.column_ref(expr.get("rexpr"))
        if op in ("<=", "<") and left and _is_time(expr.get("rexpr")):
            time_column = time_column or left
        elif op in (">=", ">") and right and _is_time(expr.get("lexpr")):
            time_column = time_column or right
        if op in ("<", "<=", ">", ">=") and (
                (left and _is_time(expr.get("rexpr"))) or (right and _is_time(expr.get("lexpr")))):
            constrained.add(left or right or "")
        eq = n.equality(part)
        if eq:
            constrained.add(eq[0])
        if eq and eq[0].lower() in _STATE_COLUMNS:
            is_const, value = n.constant(eq[1])
            if is_const and isinstance(value, str):
                state = (eq[0], value)
    if time_column is None and state is None:
        return None
    order_column = None
    for item in select.get("sortClause") or ():
        order_column = n.column_ref(item.get("SortBy", {}).get("node"))
        break
    shaped = bool(select.get("limitCount") or select.get("lockingClause"))
    return _Poll(table, time_column, order_column, state, conjuncts, shaped,
                 frozenset(constrained))


def _predicate_holds(index: Index, poll: _Poll) -> bool:
    """A partial index's predicate is repeated by the poll (each AND-ed part, or an IN list
    that contains the poll's status value)."""
    if not index.partial:
        return True
    if index.predicate is None:
        return False
    for part in n.conjuncts(index.predicate):
        if _key(part) in poll.conjuncts:
            continue
        expr = part.get("A_Expr", {})
        if poll.state and expr.get("kind") == "AEXPR_IN" and \
                n.column_ref(expr.get("lexpr")) == poll.state[0]:
            values = [n.constant(v)[1] for v in expr.get("rexpr", {}).get("List", {}).get("items", ())]
            if poll.state[1] in values:
                continue
        return False
    return True


def _serves(index: Index, poll: _Poll) -> bool:
    if index.method != "btree" or not index.columns or index.columns[0] is None:
        return False
    if not _predicate_holds(index, poll):
        return False
    state_column = poll.state[0] if poll.state else None
    # The index columns the scan can descend through: those the poll pins or bounds, up to the
    # first it does not (`(tenant_id, queue, requeue_after)` for `tenant_id = $1 AND queue =
    # $2 AND requeue_after <= now()`).
    prefix = []
    for column in index.columns:
        prefix.append(column)
        if column is None or column not in poll.constrained:
            break
    if poll.time_column:
        return poll.time_column in prefix
    # A status poll: a partial index on those rows, or an index whose pinned leading columns
    # reach the status column.
    return index.partial or state_column in prefix


def _suggested_key(ctx: FileContext, poll: _Poll) -> tuple[str, str]:
    """(column, partial predicate or "") of the index to suggest."""
    predicate = ""
    if poll.state:
        literal = n.quote_literal(poll.state[1])
        predicate = f"{n.quote_ident(poll.state[0])} = {literal}"
    table = ctx.model.catalog.table(poll.table)
    columns = table.columns if table is not None else {}
    for candidate in (poll.time_column, poll.order_column):
        if candidate and candidate in columns:
            return candidate, predicate
    if poll.state:
        keys = [k for k in ctx.model.catalog.key_columns(poll.table) if len(k) == 1]
        if keys:
            return next(iter(keys[0])), predicate
        return poll.state[0], ""
    return poll.time_column or "", predicate


def _index_ddl(ctx: FileContext, table: str, column: str, predicate: str) -> str:
    bare = ctx.model.bare(table)
    name = f"{bare}_{column}_idx"
    if name in ctx.model.catalog.indexes:
        name = f"{bare}_{column}_poll_idx"
    where = f" WHERE {predicate}" if predicate else ""
    target = n.quote_qualified(table)
    return (f"-- in a new migration, outside a transaction block:\n"
            f"CREATE INDEX CONCURRENTLY {n.quote_ident(name)} ON {target} "
            f"({n.quote_ident(column)}){where};")
