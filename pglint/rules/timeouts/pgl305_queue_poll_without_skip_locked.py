"""PGL305 queue-poll-without-skip-locked."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext, Token, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.orm import (
    Chain,
    django_model,
    imports_orm,
    method_chain,
    sqlalchemy_entity,
)
from pglint.kit.python_edits import add_keyword
from pglint.kit.queues import update_claims, workload_claims
from pglint.kit.roles import runs_once
from pglint.kit.sql_tokens import depths
from pglint.model.project import Evidence
from pglint.python.pyfile import PythonFile, has_star, keyword
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

# Row-lock strengths that make other workers' FOR UPDATE wait (FOR SHARE pollers are rare).
_BLOCKING_STRENGTHS = {"LCS_FORUPDATE": "FOR UPDATE", "LCS_FORNOKEYUPDATE": "FOR NO KEY UPDATE"}
# Tokens that end a locking clause's `OF table, ...` list.
_CLAUSE_END = {"FOR", "NOWAIT", "SKIP", "LIMIT", "OFFSET", "FETCH", ";", ")", "UNION",
               "INTERSECT", "EXCEPT"}

_JOBS = ("CREATE TABLE jobs (\n"
         "    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
         "    status text NOT NULL DEFAULT 'pending',\n"
         "    payload jsonb\n"
         ");")
_DJANGO_JOBS = {"app/models.py": (
    "from django.db import models\n\n\n"
    "class Job(models.Model):\n"
    "    status = models.TextField(default=\"pending\")\n"
    "    payload = models.JSONField(null=True)\n\n\n"
    "class Account(models.Model):\n"
    "    balance = models.IntegerField(default=0)\n")}
_SA_JOBS = {"app/models.py": (
    "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
    "class Base(DeclarativeBase):\n"
    "    pass\n\n\n"
    "class Task(Base):\n"
    "    __tablename__ = \"background_tasks\"\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    "    status: Mapped[str] = mapped_column(default=\"pending\")\n")}
# Queryset steps that read one row of the (ordered) queryset: a LIMIT 1.
_ONE_ROW = ("first", "last")
_TASKS = ("CREATE TABLE work_items (\n"
          "    id bigint PRIMARY KEY,\n"
          "    next_attempt_at timestamptz NOT NULL DEFAULT now(),\n"
          "    locked_by text,\n"
          "    payload jsonb\n"
          ");")
# Workers take the rows they polled: the run-time evidence of a worker's fetch.
_JOBS_CLAIMED = {"migrations/V1__jobs.sql": _JOBS,
                 "queries/claim.sql": "UPDATE jobs SET status = 'running' WHERE id = $1;"}
_TASKS_CLAIMED = {"migrations/V1__work_items.sql": _TASKS,
                  "queries/claim.sql": "UPDATE work_items SET locked_by = $2 WHERE id = $1;"}


class QueuePollWithoutSkipLocked(Rule):
    """
    ## What it does
    Flags a worker's poll of a queue: `SELECT ... FOR UPDATE` (or `FOR NO KEY UPDATE`) with a
    `LIMIT` but neither `SKIP LOCKED` nor `NOWAIT`, on a queue-like table, in SQL that runs at
    application run time (query files, function bodies, pgbench scripts). A table is queue-like
    when `[tool.pglint.tables]` declares it a `queue`, when its name says queue, jobs, tasks,
    outbox, messages or retries, or when the catalog gives it a worker-state column (`status`,
    `next_attempt_at`, `locked_by`). The `SELECT` may stand alone or sit in a CTE or subquery.

    Only a worker's fetch competes with other workers, so the rule also wants the rows handed
    to a worker: the table is declared a queue, or the statement's own `UPDATE` of the table
    sets a running state (`status = 'running'`), a lease column (`locked_by = $1`,
    `started_at = now()`) or increments an attempt counter; a poll with no `UPDATE` of its own
    needs run-time code that does so elsewhere. A single leader's scheduler that makes due jobs
    available (its `UPDATE` sets no running state) has no competing pollers and is left alone.

    It stays silent on locking reads without `LIMIT` (a lookup by key, not a poll), on
    `FOR SHARE`/`FOR KEY SHARE`, on polls that already say `SKIP LOCKED` or `NOWAIT`, and on a
    Django read of one row (`[:1]`, `[0]`, `.first()`) with no `order_by()`: a lookup by its
    filter (a dedup check, where skipping a locked row would create a duplicate).

    In Python: Django `M.objects.select_for_update()` without `skip_locked=True` or
    `nowait=True` on a sliced queryset (`[:10]`, `[0]`, `.first()`, `.last()`), and SQLAlchemy
    `.with_for_update()` without `skip_locked=True` / `nowait=True` (and not `read=True`) on a
    statement with `.limit(n)` (or a `Query` read with `.first()`), when the model's table (or,
    if no file maps it, the model's name) is queue-like as above. `.get()` is a lookup, not a
    poll. Django data migrations and Alembic revisions are not judged.

    ## Why is this bad?
    Every worker asks for the same first rows (by the `ORDER BY`, or whatever the plan meets
    first). The first worker locks them; every other worker blocks on those row locks until the
    first one commits, then re-checks the rows (which usually no longer match, so under
    `READ COMMITTED` a `LIMIT` can even come back short or empty). The workers take turns: adding
    workers adds waiting, not throughput, and a slow job stalls the whole queue.

    ## Example
    ```sql
    SELECT id, payload FROM jobs
    WHERE status = 'pending'
    ORDER BY id
    LIMIT 10
    FOR UPDATE;
    ```
    ```python
    jobs = list(Job.objects.select_for_update().filter(status="pending").order_by("id")[:10])
    ```

    ## Use instead
    ```sql
    SELECT id, payload FROM jobs
    WHERE status = 'pending'
    ORDER BY id
    LIMIT 10
    FOR UPDATE SKIP LOCKED;
    ```
    ```python
    jobs = list(Job.objects.select_for_update(skip_locked=True)
                .filter(status="pending").order_by("id")[:10])
    ```
    (SQLAlchemy: `.with_for_update(skip_locked=True)`.) Each worker skips the rows another worker holds and takes the next free ones. Serve the poll
    with an index (see PGL307), e.g. a partial index on pending rows.

    ## Fix safety
    Unsafe: with `SKIP LOCKED` the query no longer sees locked rows, so it returns a different
    (inconsistent) set of rows. That is what a queue wants, but not what a read that must see
    every matching row wants. The fix inserts ` SKIP LOCKED` after the locking clause
    (available since PostgreSQL 9.5), or `skip_locked=True` in the Python call (turning an
    explicit `skip_locked=False` into `True`).
    """

    code = "PGL305"
    name = "queue-poll-without-skip-locked"
    summary = "Queue poll with FOR UPDATE but no SKIP LOCKED: workers wait for each other"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 1 sampled findings on real repositories"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE",
    )
    nodes = ("LockingClause",)
    # FOR [NO KEY] UPDATE with LIMIT / FETCH FIRST
    text_hint = (re.compile(r"\bfor\s+(?:no\s+key\s+)?update\b"), ("limit", "fetch"))
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    min_fix_version = 9  # SKIP LOCKED exists since 9.5
    python_nodes = (ast.Call,)
    # Called as a method (not a definition, not a feature flag).
    python_hint = ((".select_for_update(", ".with_for_update("),)

    VALID = (
        # The chapter's worker query.
        Example("SELECT * FROM retry_queue\nWHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at\nLIMIT 10\n"
                "FOR UPDATE SKIP LOCKED;  -- Skip items being processed by other workers",
                kind="sql"),
        # NOWAIT: the caller chose to fail fast instead.
        Example("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE NOWAIT;",
                kind="sql", context={"migrations/V1__jobs.sql": _JOBS}),
        # A lookup by key, no LIMIT: not a poll.
        Example("SELECT * FROM jobs WHERE id = $1 FOR UPDATE;", kind="sql"),
        # Not a queue: no queue name, hint or worker-state column.
        Example("SELECT * FROM accounts ORDER BY id LIMIT 1 FOR UPDATE;", kind="sql",
                context={"migrations/V1__accounts.sql":
                         "CREATE TABLE accounts (id bigint PRIMARY KEY, balance numeric);"}),
        # A one-off migration statement, not a worker.
        Example("SELECT id FROM jobs ORDER BY id LIMIT 10 FOR UPDATE;"),
        # A leader's scheduler making due jobs available: no competing pollers, and waiting
        # for a concurrent cancel is what it wants.
        Example("WITH due AS (\n"
                "    SELECT id FROM jobs WHERE status = 'scheduled' ORDER BY id LIMIT 100\n"
                "    FOR UPDATE\n)\n"
                "UPDATE jobs SET status = CASE WHEN jobs.payload IS NULL THEN 'discarded'\n"
                "    ELSE 'available' END\nFROM due WHERE jobs.id = due.id;", kind="sql",
                context=_JOBS_CLAIMED),
        # Nothing at run time hands the rows to a worker: a batch read, not a fetch.
        Example("SELECT id, payload FROM jobs WHERE status = 'pending' ORDER BY id\n"
                "LIMIT 10 FOR UPDATE;", kind="sql",
                context={"migrations/V1__jobs.sql": _JOBS}),
        # FOR SHARE does not make the other pollers' FOR SHARE wait.
        Example("SELECT id FROM jobs ORDER BY id LIMIT 10 FOR SHARE;", kind="sql"),
        # Python: one row looked up by its filter to deduplicate, not the next job to run.
        Example("from django.db import transaction\n\nfrom app.models import Job\n\n\n"
                "def enqueue_once(key):\n"
                "    with transaction.atomic():\n"
                "        existing = Job.objects.select_for_update().filter(payload=key)[:1]\n"
                "        if not existing:\n"
                "            Job.objects.create(payload=key)\n", kind="python",
                context=_DJANGO_JOBS),
        # Python: skip_locked / nowait already; a lookup by key; not a queue.
        Example("from django.db import transaction\n\nfrom app.models import Account, Job\n\n\n"
                "def claim():\n"
                "    with transaction.atomic():\n"
                "        batch = list(Job.objects.select_for_update(skip_locked=True)\n"
                "                     .filter(status=\"pending\").order_by(\"id\")[:10])\n"
                "        first = Job.objects.select_for_update(nowait=True).first()\n"
                "        job = Job.objects.select_for_update().get(pk=1)\n"
                "        account = Account.objects.select_for_update().order_by(\"id\")[:1]\n"
                "    return batch, first, job, account\n", kind="python", context=_DJANGO_JOBS),
        Example("from sqlalchemy import select\n\nfrom app.models import Task\n\n\n"
                "def claim(session):\n"
                "    return session.scalars(select(Task).where(Task.status == \"pending\")\n"
                "                           .order_by(Task.id).limit(10)\n"
                "                           .with_for_update(skip_locked=True)).all()\n\n\n"
                "def peek(session):\n"
                "    return session.scalars(select(Task).limit(10).with_for_update(read=True)).all()\n",
                kind="python", context=_SA_JOBS),
    )
    INVALID = (
        Example("SELECT id, payload FROM jobs\nWHERE status = 'pending'\nORDER BY id\n"
                "LIMIT 10\nFOR UPDATE;",
                fixed="SELECT id, payload FROM jobs\nWHERE status = 'pending'\nORDER BY id\n"
                "LIMIT 10\nFOR UPDATE SKIP LOCKED;",
                kind="sql", context=_JOBS_CLAIMED),
        # A worker-state column in the catalog; FOR NO KEY UPDATE OF ...; LIMIT after the lock.
        Example("SELECT w.id FROM work_items w\nWHERE w.next_attempt_at <= now()\n"
                "ORDER BY w.next_attempt_at\nFOR NO KEY UPDATE OF w LIMIT 5;",
                fixed="SELECT w.id FROM work_items w\nWHERE w.next_attempt_at <= now()\n"
                "ORDER BY w.next_attempt_at\nFOR NO KEY UPDATE OF w SKIP LOCKED LIMIT 5;",
                kind="sql", context=_TASKS_CLAIMED),
        # The poll inside an UPDATE's subquery (claim in one statement).
        Example("UPDATE jobs SET status = 'running'\nWHERE id = (\n"
                "    SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE\n"
                ")\nRETURNING id, payload;",
                fixed="UPDATE jobs SET status = 'running'\nWHERE id = (\n"
                "    SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE"
                " SKIP LOCKED\n)\nRETURNING id, payload;",
                kind="sql", context={"migrations/V1__jobs.sql": _JOBS}),
        # Declared a queue in the configuration; a function body runs at run time.
        Example("CREATE TABLE inbox (id bigint PRIMARY KEY, body text);\n"
                "CREATE FUNCTION next_mail() RETURNS SETOF bigint LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  RETURN QUERY SELECT id FROM inbox ORDER BY id FETCH FIRST 1 ROW ONLY FOR UPDATE;\n"
                "END $$;",
                fixed="CREATE TABLE inbox (id bigint PRIMARY KEY, body text);\n"
                "CREATE FUNCTION next_mail() RETURNS SETOF bigint LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  RETURN QUERY SELECT id FROM inbox ORDER BY id FETCH FIRST 1 ROW ONLY FOR UPDATE"
                " SKIP LOCKED;\n"
                "END $$;",
                config={"tables": {"inbox": "queue"}}),
        # Python: Django sliced queryset, `.first()`; SQLAlchemy `.limit(n)`.
        Example("from django.db import transaction\n\nfrom app.models import Job\n\n\n"
                "def claim(worker_id):\n"
                "    with transaction.atomic():\n"
                "        return list(Job.objects.select_for_update()\n"
                "                    .filter(status=\"pending\").order_by(\"id\")[:10])\n",
                fixed="from django.db import transaction\n\nfrom app.models import Job\n\n\n"
                      "def claim(worker_id):\n"
                      "    with transaction.atomic():\n"
                      "        return list(Job.objects.select_for_update(skip_locked=True)\n"
                      "                    .filter(status=\"pending\").order_by(\"id\")[:10])\n",
                kind="python", context=_DJANGO_JOBS),
        Example("from app.models import Job\n\n\n"
                "def next_job():\n"
                "    return Job.objects.filter(status=\"pending\").select_for_update(\n"
                "        of=(\"self\",), skip_locked=False).order_by(\"id\").first()\n",
                fixed="from app.models import Job\n\n\n"
                      "def next_job():\n"
                      "    return Job.objects.filter(status=\"pending\").select_for_update(\n"
                      "        of=(\"self\",), skip_locked=True).order_by(\"id\").first()\n",
                kind="python", context=_DJANGO_JOBS),
        Example("from sqlalchemy import select\n\nfrom app.models import Task\n\n\n"
                "def claim(session):\n"
                "    stmt = (select(Task).where(Task.status == \"pending\").order_by(Task.id)\n"
                "            .limit(10).with_for_update())\n"
                "    return session.scalars(stmt).all()\n",
                fixed="from sqlalchemy import select\n\nfrom app.models import Task\n\n\n"
                      "def claim(session):\n"
                      "    stmt = (select(Task).where(Task.status == \"pending\").order_by(Task.id)\n"
                      "            .limit(10).with_for_update(skip_locked=True))\n"
                      "    return session.scalars(stmt).all()\n",
                kind="python", context=_SA_JOBS),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        strength = _BLOCKING_STRENGTHS.get(node.get("strength", ""))
        if strength is None or node.get("waitPolicy") != "LockWaitBlock":
            return
        if not runs_repeatedly(ctx, stmt):
            return
        select = _owning_select(stmt, node)
        if select is None or not select.get("limitCount"):
            return
        found = _queue_table(ctx, select, node)
        if found is None:
            return
        table, rangevar, evidence = found
        if not _fetches(ctx, stmt, table):
            return
        clause = _clause_tokens(ctx, stmt, select, node, rangevar)
        if clause is None:
            return
        first, last = clause
        bare = ctx.model.bare(table)
        message = (f"Workers polling queue `{bare}` with `{strength} ... LIMIT` block on each "
                   f"other's locked rows ({evidence.named()})")
        help = (f"Queue evidence: {evidence}. Every worker asks for the same first "
                "rows; the first locks them and the others wait on those row locks until it "
                "commits, then re-check rows that usually no longer match (under READ COMMITTED "
                "a LIMIT can then come back short or empty). Workers take turns, so more workers "
                "add waiting, not throughput. `SKIP LOCKED` (PostgreSQL 9.5+) makes each worker "
                "skip rows another holds and take the next free ones; its view of the table is "
                "deliberately inconsistent, which suits a queue and nothing else. Serve the poll "
                "with an index (a partial index on pending rows is typical; see PGL307).")
        fix = Fix("Add SKIP LOCKED to the locking clause", Applicability.UNSAFE,
                  (Edit.insert(last.end, " SKIP LOCKED"),))
        yield self.finding(ctx, message, fix, help, span=(first.start, last.end))

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in (
                "select_for_update", "with_for_update"):
            return
        found = _python_poll(ctx, node)
        if found is None or runs_once(ctx):
            return
        orm, table, evidence = found
        bare = ctx.model.bare(table)
        call = f"{func.attr}()"
        shape = "on a sliced queryset" if orm == "django" else "and a LIMIT"
        message = (f"Workers polling queue `{bare}` with `{call}` {shape} block on each "
                   f"other's locked rows ({evidence.named()})")
        help = (f"Queue evidence: {evidence}. This is `SELECT ... LIMIT n FOR UPDATE`: every "
                "worker asks for the same first rows; the first locks them and the others wait "
                "on those row locks until it commits, then re-check rows that usually no longer "
                "match (under READ COMMITTED a LIMIT can then come back short or empty). "
                "Workers take turns, so more workers add waiting, not throughput. "
                "`skip_locked=True` (`SKIP LOCKED`, PostgreSQL 9.5+) makes each worker skip "
                "rows another holds and take the next free ones; its view of the table is "
                "deliberately inconsistent, which suits a queue and nothing else. Serve the poll "
                "with an index (a partial index on pending rows is typical; see PGL307).")
        yield self.finding(ctx, message, _skip_locked(ctx.python_file, node), help, node=node)


def _fetches(ctx: FileContext, stmt: Statement, table: str) -> bool:
    """The poll is a worker's fetch, competing with other workers: the table is declared a
    queue, or the rows move to a worker (a running state, a lease, an attempt counted) in the
    statement itself or, for a poll without an UPDATE of its own, in run-time code elsewhere.
    A statement that updates the rows without handing them to a worker (a leader's scheduler
    making jobs available) has no competing pollers to skip."""
    if "queue" in ctx.model.hint(table).workloads:
        return True
    updates = [body for kind, body in iter_nodes(stmt.node)
               if kind == "UpdateStmt" and n.relation_name(body.get("relation")) == table]
    if updates:
        return any(update_claims(body) for body in updates)
    return workload_claims(ctx, table)


def _skip_locked(code: PythonFile, call: ast.Call) -> Fix | None:
    """`skip_locked=True` added to the call, or an explicit `skip_locked=False` made True."""
    tree = code.fix_tree
    node = code.cst_of(call)
    existing = keyword(call, "skip_locked")
    if existing is not None:
        value = code.cst_of(existing)
        if tree is None or value is None:
            return None
        edit = tree.replace(value, tree.cst.Name("True"))
    else:
        if tree is None or node is None:
            return None
        edit = add_keyword(tree, node, "skip_locked=True")
    return Fix("Add skip_locked=True", Applicability.UNSAFE, (edit,))


def _python_poll(ctx: FileContext, node: ast.Call) -> tuple[str, str, Evidence] | None:
    """For a `select_for_update()` / `with_for_update()` call that polls a queue: (ORM, the
    table or model name, the queue evidence)."""
    code = ctx.python_file
    method = node.func.attr  # type: ignore[attr-defined]
    if has_star(node):
        return None
    keywords = {k.arg: k.value for k in node.keywords}
    if any(_true(keywords.get(k)) for k in ("skip_locked", "nowait")):
        return None
    chain = method_chain(code, node)
    names = chain.names()
    if method == "select_for_update":
        model = django_model(code, chain)
        if model is None or not (_sliced(chain) or any(m in names for m in _ONE_ROW)):
            return None
        if "order_by" not in names and _one_row(chain):
            return None  # one row looked up by its filter (a dedup check), not the next job
        orm = "django"
    else:
        if _true(keywords.get("read")):
            return None  # FOR SHARE
        model = sqlalchemy_entity(code, chain)
        if model is None or not ("limit" in names or "fetch" in names
                                 or ("query" in names and "first" in names)):
            return None
        if not (ctx.model.orm_table(model) or imports_orm(code, "sqlalchemy")):
            return None
        orm = "sqlalchemy"
    table = ctx.model.orm_table(model)
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", model).lower()
    evidence = ctx.model.queue_evidence(table, polled=True) if table else None
    if evidence is None and ctx.model.queue_evidence(snake, polled=True) is not None:
        # Django's default table name (`app_taskqueue`) hides the words of the class name.
        evidence = Evidence(f"model `{model}` is named like a queue")
    if evidence is None:
        return None
    return orm, table or snake, evidence


def _true(value: ast.AST | None) -> bool:
    """A literal `True` (anything else computed at run time counts as not known to be true)."""
    return isinstance(value, ast.Constant) and value.value is True


def _one_row(chain: Chain) -> bool:
    """The queryset is read for one row: `.first()`, `.last()`, `[0]`, `[:1]`."""
    if any(name in _ONE_ROW for name in chain.names()):
        return True
    for name, node in chain.steps:
        if name != "[]":
            continue
        part = node.slice
        if isinstance(part, ast.Constant) and part.value == 0:
            return True
        if isinstance(part, ast.Slice) and part.lower is None and \
                isinstance(part.upper, ast.Constant) and part.upper.value == 1:
            return True
    return False


def _sliced(chain: Chain) -> bool:
    """`qs[:10]` / `qs[0]` in the chain: a LIMIT (an open-ended `qs[5:]` is only an OFFSET)."""
    for name, node in chain.steps:
        if name != "[]":
            continue
        part = node.slice
        parts = part.elts if isinstance(part, ast.Tuple) and part.elts else [part]
        if any(not isinstance(p, ast.Slice) or p.upper is not None for p in parts):
            return True
    return False


def _owning_select(stmt: Statement, clause: dict[str, Any]) -> dict[str, Any] | None:
    """The SelectStmt whose locking clause list holds `clause` (by identity)."""
    for kind, body in iter_nodes(stmt.node):
        if kind == "SelectStmt" and body.get("lockingClause"):
            if any(item.get("LockingClause") is clause for item in body["lockingClause"]):
                return body
    return None


def _from_rangevars(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The tables of a FROM list, through joins (not into subqueries)."""
    out: list[dict[str, Any]] = []
    for item in items or ():
        if "RangeVar" in item:
            out.append(item["RangeVar"])
        elif "JoinExpr" in item:
            join = item["JoinExpr"]
            out.extend(_from_rangevars([join.get("larg") or {}, join.get("rarg") or {}]))
    return out


def _queue_table(ctx: FileContext, select: dict[str, Any], clause: dict[str, Any]
                 ) -> tuple[str, dict[str, Any], Evidence] | None:
    """The locked queue-like table: (name, its RangeVar in FROM, evidence)."""
    rangevars = _from_rangevars(select.get("fromClause"))
    locked = {n.relation_name(r.get("RangeVar")) for r in clause.get("lockedRels") or ()}
    for rv in rangevars:
        table = n.relation_name(rv)
        if not table:
            continue
        alias = (rv.get("alias") or {}).get("aliasname")
        if locked and table not in locked and alias not in locked:
            continue
        evidence = ctx.model.queue_evidence(table, polled=True)
        if evidence is not None:
            return table, rv, evidence
    return None


def _clause_tokens(ctx: FileContext, stmt: Statement, select: dict[str, Any],
                   clause: dict[str, Any], rangevar: dict[str, Any]) -> tuple[Token, Token] | None:
    """The first and last token of the locking clause (`FOR` ... `UPDATE` [`OF` t, ...]).

    The clause has no location, so it is found among the tokens that follow the SELECT's table
    at the same parenthesis depth: the n-th `FOR` there belongs to the n-th locking clause.
    """
    tokens = ctx.tokens(stmt)
    anchor = stmt.offset(rangevar.get("location"))
    levels = depths(tokens)
    start = next((i for i, tok in enumerate(tokens) if tok.start >= anchor), None)
    if start is None:
        return None
    level = levels[start]
    position = next(i for i, item in enumerate(select["lockingClause"])
                    if item.get("LockingClause") is clause)
    seen = -1
    i = start
    while i < len(tokens):
        if levels[i] < level:
            return None  # out of the SELECT's parentheses
        if levels[i] == level and tokens[i].upper == "FOR":
            seen += 1
            if seen == position:
                return tokens[i], _clause_end(tokens, levels, i, level)
        i += 1
    return None


def _clause_end(tokens: list[Token], levels: list[int], i: int, level: int) -> Token:
    last = i
    j = i + 1
    while j < len(tokens) and tokens[j].upper in ("NO", "KEY", "UPDATE"):
        last = j
        j += 1
    if j < len(tokens) and tokens[j].upper == "OF":
        j += 1
        while j < len(tokens) and levels[j] == level and tokens[j].upper not in _CLAUSE_END \
                and not tokens[j].is_comment:
            last = j
            j += 1
    return tokens[last]
