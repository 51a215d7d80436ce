"""PGL208 unbounded-retry (SQL form: retry-queue polls and backoff formulas; Python form: retry
loops, tenacity and backoff without a bound, exponential delays without a cap)."""

from __future__ import annotations

import ast
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit import retries, retry_libraries, retry_loops
from pglint.kit.python_edits import add_keyword, fresh_name
from pglint.kit.queues import (
    CAP,
    CHAPTER_RETRY,
    CONTEXT,
    NEXT_ATTEMPT_COLUMN,
    PY_CAP,
    assignment_span,
    attempt_limit_column,
    compares_counter,
    counter_in,
    counter_of,
    exponents,
    incremented_at_run_time,
    incremented_by,
    increments_in,
    locking_poll,
    pinned_to_list,
    skips_terminal_state,
    time_plus_delay,
)
from pglint.kit.example_projects import app_counts_attempts
from pglint.kit.retry_rules import WITH_DECORATORS, RetryForms
from pglint.kit import sql_tokens
from pglint.python.pyfile import PythonFile, has_star
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

MAX_ATTEMPTS = 10
# The book's retry queue, with the application counting failed attempts.
_COUNTED = {**CONTEXT, **app_counts_attempts("retry_queue", "attempt_count")}
# Python: the attempts a fix allows a tenacity/backoff retry or a retry loop.
PY_ATTEMPTS = 5
_LOCKING = {"LCS_FORUPDATE", "LCS_FORNOKEYUPDATE"}
_AFTER_WHERE = {"ORDER", "LIMIT", "FOR", "GROUP", "RETURNING", "OFFSET", "FETCH", "WINDOW",
                "HAVING"}


class UnboundedRetry(RetryForms, Rule):
    """
    ## What it does
    Flags two SQL forms of retrying for ever:
    - a worker poll that claims jobs from a retry queue (`SELECT ... FOR UPDATE [SKIP LOCKED]`,
      also inside a CTE or subquery, or an `UPDATE ... RETURNING` that is not pinned to one row)
      on a table whose catalog shows an attempt counter column (`attempt_count`, `attempts`,
      `retries`, `retry_count`...), when nothing in the statement compares that counter
      (`attempt_count < 10`) and no other statement of the file does (a dead-letter step such as
      `DELETE ... WHERE attempt_count >= 10`);
    - an exponential backoff on the attempt counter (`2 ^ attempt_count`, `power(2, attempts)`)
      with no cap (`least(...)` or a `CASE`) around it.

    It applies to SQL that runs repeatedly: application queries and function bodies. A poll
    is a locking `SELECT` with a `LIMIT` or `SKIP LOCKED` (rows locked by key, `id = $1` or
    `id = ANY($1)`, are a lookup), and the counter must be one run-time code keeps: some
    statement increments it on that table (`SET attempts = attempts + 1`); a column that only
    copies an attempt's number from elsewhere is no counter. It stays silent when the statement
    deletes the rows it takes (a cleanup), when it compares a column it increments
    (`AND step.retries > t.app_failures`), when the table keeps a per-job limit
    (`max_attempts`, enforced where failures are handled), and when the poll takes one state
    (`status = 'todo'`) of an enum that has a terminal failure state (`failed`, `discarded`):
    jobs that give up end there and are never taken again.

    In Python, flags:
    - a `while True` (or `for attempt in itertools.count()`) retry loop (a `try`/`except`
      whose handler retries, a sleep, and an exit on success) with no bound: no `if`/`assert`
      that compares an attempt counter (a name incremented in the loop) or a clock reading
      (`time.monotonic()`, `time.time()`, directly or through a variable such as
      `elapsed`/`remaining`) and then raises, returns or breaks;
    - tenacity's bare `@retry` and `@retry(...)`, `Retrying(...)`, `AsyncRetrying(...)`
      without `stop=` (an explicit `stop=stop_never` is left alone: it is a choice);
    - backoff's `on_exception`/`on_predicate` without `max_tries` or `max_time`;
    - a retry loop's exponential delay (`2 ** attempt`, `base * 2 ** n`, `1 << n`,
      `delay *= 2`) that nothing caps with `min(cap, ...)` (or `if delay > cap: delay = cap`).
      The book's `execute_with_retry` is this case. A `for attempt in range(n)` loop bounds
      the delay only implicitly: `0.1 * 2 ** attempt` is 29 hours at attempt 20.

    A Python retry counts only when it retries database work: the file uses a PostgreSQL driver
    or ORM and the retried code calls it (a connection, cursor, pool or session method, a
    Django manager, or a function of the same file that does), or it is a generic helper that
    calls a function passed in. It stays silent on retries of HTTP calls, Redis or a consensus
    store, on retries that catch only another library's errors (a Redis lock), and on a retry loop inside a daemon's own endless loop (`while True:` around it),
    where waiting for ever is the intent and a bound that raises would end the daemon.

    ## Why is this bad?
    A job that can never succeed (a poison message, a permanently invalid payload) is retried for
    ever: it keeps costing worker time, lock traffic and log noise, and nobody is told that it
    failed. An uncapped exponential delay grows without limit: after 20 attempts
    `interval '1 second' * 2 ^ attempt_count` is 12 days, and eventually the multiplication
    fails with `interval out of range`, so the failure path itself starts to error.

    In a process, an unbounded retry holds its connection, its locks' waiters and its request
    for as long as the error lasts: a permanent error (a constraint violation, a revoked
    permission, a dropped table) is retried for ever instead of reaching someone, and a long
    outage turns every caller into a waiting thread. tenacity's defaults retry for ever
    (`stop_never`) and, for a bare `@retry`, without waiting at all; backoff has no bound
    unless `max_tries` or `max_time` is given.

    ## Example
    ```sql
    SELECT * FROM retry_queue
    WHERE next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT 10
    FOR UPDATE SKIP LOCKED;
    ```
    ```python
    @retry(wait=wait_random_exponential(max=30))
    def transfer(): ...

    while True:
        try:
            return run_transaction()
        except OperationalError:
            time.sleep(secrets.SystemRandom().uniform(0, 0.1 * 2 ** attempt))
            attempt += 1
    ```

    ## Use instead
    Bound the attempts, move exhausted jobs to a dead-letter table, and cap the delay:
    ```sql
    SELECT * FROM retry_queue
    WHERE next_attempt_at <= now() AND attempt_count < 10
    ORDER BY next_attempt_at
    LIMIT 10
    FOR UPDATE SKIP LOCKED;

    WITH dead AS (DELETE FROM retry_queue WHERE attempt_count >= 10 RETURNING *)
    INSERT INTO retry_queue_dead SELECT * FROM dead;

    UPDATE retry_queue
    SET attempt_count = attempt_count + 1,
        next_attempt_at = now() + interval '1 second' * random() * least(600, 2 ^ attempt_count)
    WHERE id = $1;
    ```
    ```python
    @retry(wait=wait_random_exponential(max=30), stop=stop_after_attempt(5))
    def transfer(): ...

    for attempt in range(5):
        try:
            return run_transaction()
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(secrets.SystemRandom().uniform(0, min(30, 0.1 * 2 ** attempt)))
    ```

    ## Fix safety
    Display only for SQL: the number of attempts, what happens to exhausted jobs (a dead-letter
    table, a `failed` status, an alert) and the longest acceptable delay are decisions. pglint
    shows the poll with the bound added, a dead-letter step, and the capped delay.

    The Python fixes are unsafe: after the bound, the last error propagates to the caller, who
    must handle it, and 5 attempts (30 s cap) is a starting point, not a measured budget.
    - tenacity: `stop=stop_after_attempt(5)` is added (with its import; `import tenacity`
      style is followed); a bare `@retry` becomes `@retry(stop=stop_after_attempt(5))`. Note
      that tenacity then raises `RetryError` unless `reraise=True` is given.
    - backoff: `max_tries=5` is added.
    - an uncapped exponential delay: the product that grows (`(2 ** attempt) * 0.1`) is wrapped
      in `min(30, ...)` when it reaches the sleep in seconds (only through `+`, `-`, `min`,
      `max` or a `uniform(0, d)` draw); when it is scaled on the way (`delay_ms / 1000`), and
      for a `delay *= 2` that grows, the capped formula is only shown.
    - a `while True` loop: the bounded loop is shown (`for attempt in range(5):` with a re-raise
      on the last attempt): where the loop is and what the caller does with the error decide
      how it should look.
    """

    code = "PGL208"
    database_only = True
    name = "unbounded-retry"
    summary = "Retry queue without an attempt bound, or exponential backoff without a cap"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 1 of 6 sampled findings on real repositories (job queues "
        "bound attempts elsewhere, daemons wait on purpose); since it needs a retry of "
        "database work it fires on none of the 35 corpus repositories, so it is not measured "
        "again"
    )
    references = (
        "https://www.postgresql.org/docs/current/mvcc-serialization-failure-handling.html",
    )
    statements = ("SelectStmt", "UpdateStmt", "DeleteStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = WITH_DECORATORS
    python_hint = (("sleep(", "tenacity", "backoff"), ("except", "tenacity", "backoff"))

    VALID = (
        Example("SELECT * FROM retry_queue\nWHERE next_attempt_at <= now() AND attempt_count < 10\n"
                "ORDER BY next_attempt_at\nLIMIT 10\nFOR UPDATE SKIP LOCKED;",
                kind="sql", context=CONTEXT),
        Example("UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + interval '1 second' * random()"
                " * least(600, 2 ^ attempt_count)\nWHERE id = $1;", kind="sql", context=CONTEXT),
        # The bound lives in the file's dead-letter step.
        Example("SELECT * FROM retry_queue WHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED;\n\n"
                "DELETE FROM retry_queue WHERE attempt_count >= 10;", kind="sql",
                context=CONTEXT),
        # Rows locked by explicit id and deleted: a lookup, not a poll.
        Example("WITH locked AS (\n  SELECT id FROM retry_queue WHERE id = ANY($1::bigint[])\n"
                "  ORDER BY id FOR UPDATE\n)\n"
                "DELETE FROM retry_queue WHERE id = ANY($1::bigint[]) RETURNING id;",
                kind="sql", context=_COUNTED),
        # A cleanup that deletes the rows it takes: they are never retried.
        Example("WITH orphans AS (\n  SELECT id FROM retry_queue WHERE payload IS NULL\n"
                "  LIMIT 100 FOR UPDATE SKIP LOCKED\n)\n"
                "DELETE FROM retry_queue WHERE id IN (SELECT id FROM orphans);",
                kind="sql", context=_COUNTED),
        # The attempt number is copied from elsewhere, never counted on this table.
        Example("SELECT * FROM retry_queue WHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context=CONTEXT),
        # The limit is kept per job (`max_attempts`), enforced where the failure is handled.
        Example("SELECT * FROM jobs WHERE run_at <= now()\n"
                "ORDER BY run_at LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context={"migrations/V1__jobs.sql":
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, attempts int DEFAULT 0,\n"
                         "    max_attempts int DEFAULT 25, run_at timestamptz);",
                         **app_counts_attempts("jobs", "attempts")}),
        # Jobs that give up end in a terminal state the poll does not take.
        Example("SELECT * FROM jobs WHERE state = 'available'\n"
                "ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED;", kind="sql",
                context={"migrations/V1__jobs.sql":
                         "CREATE TYPE job_state AS ENUM ('available', 'running', 'failed');\n"
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, attempts int DEFAULT 0,\n"
                         "    state job_state NOT NULL DEFAULT 'available');",
                         **app_counts_attempts("jobs", "attempts")}),
        # The failure path bounds a second counter it increments with the attempt counter.
        Example("WITH due AS (\n  SELECT id FROM jobs WHERE run_at <= now()\n"
                "  LIMIT 10 FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE jobs SET attempts = attempts + 1, app_failures = app_failures + 1\n"
                "FROM due, steps WHERE jobs.id = due.id AND steps.id = jobs.step_id\n"
                "    AND steps.retries > jobs.app_failures\nRETURNING jobs.id;", kind="sql",
                context={"migrations/V1__jobs.sql":
                         "CREATE TABLE steps (id bigint PRIMARY KEY, retries int);\n"
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, step_id bigint,\n"
                         "    attempts int DEFAULT 0, app_failures int DEFAULT 0,\n"
                         "    run_at timestamptz);"}),
        # No attempt counter: not a retry queue.
        Example("CREATE TABLE tickets (id bigint PRIMARY KEY, status text);\n"
                "CREATE FUNCTION next_ticket() RETURNS SETOF tickets LANGUAGE sql AS $$\n"
                "  SELECT * FROM tickets WHERE status = 'open' LIMIT 1 FOR UPDATE SKIP LOCKED\n"
                "$$;"),
        # A poll in a one-off migration statement.
        Example("SELECT * FROM retry_queue LIMIT 1 FOR UPDATE SKIP LOCKED;", context=CONTEXT),
        # Python: bounded by a counter, by a deadline; a capped delay.
        Example("import secrets\nimport time\n\nimport psycopg\n\n\n"
                "def connect(dsn):\n"
                "    attempts = 0\n"
                "    while True:\n"
                "        try:\n"
                "            return psycopg.connect(dsn)\n"
                "        except psycopg.OperationalError:\n"
                "            attempts += 1\n"
                "            if attempts >= 5:\n"
                "                raise\n"
                "            delay = min(30, 0.1 * 2 ** attempts)\n"
                "            time.sleep(secrets.SystemRandom().uniform(0, delay))\n"
                "\n\n"
                "def run(conn, timeout=30.0):\n"
                "    deadline = time.monotonic() + timeout\n"
                "    delay = 0.1\n"
                "    while True:\n"
                "        try:\n"
                "            return conn.execute(\"SELECT 1\")\n"
                "        except psycopg.errors.DeadlockDetected:\n"
                "            remaining = deadline - time.monotonic()\n"
                "            if remaining <= 0:\n"
                "                raise\n"
                "            time.sleep(min(delay, remaining))\n"
                "            delay = min(delay * 2, 5)\n", kind="python"),
        # tenacity and backoff with a bound; an explicit stop_never is a choice.
        Example("import backoff\nimport tenacity\nfrom tenacity import retry, stop_after_delay\n"
                "\n\n"
                "@retry(stop=stop_after_delay(10))\n"
                "def a(): ...\n\n\n"
                "@tenacity.retry(stop=tenacity.stop_never)\n"
                "def listen(): ...\n\n\n"
                "@backoff.on_exception(backoff.expo, ConnectionError, max_time=60)\n"
                "def b(): ...\n", kind="python"),
        # A worker loop that never leaves is not a retry loop.
        Example("import time\n\n\ndef work(queue):\n    while True:\n        try:\n"
                "            queue.process_one()\n        except Exception:\n"
                "            time.sleep(5)\n", kind="python"),
        # Not a database retry: an upload to an HTTP API, and a consensus-store read in a file
        # that uses psycopg (waiting for ever there is the daemon's documented intent).
        Example("from tenacity import retry, wait_exponential\n\n\n"
                "@retry(wait=wait_exponential(multiplier=1, max=10))\n"
                "def upload_chunk(request):\n    return request.next_chunk()\n", kind="python"),
        Example("import time\n\nimport psycopg\n\n\nclass Node:\n"
                "    def wait_for_store(self):\n"
                "        while True:\n"
                "            try:\n"
                "                return self.store.get_cluster()\n"
                "            except StoreError:\n"
                "                time.sleep(5)\n", kind="python"),
        # Database work retried while another process holds a Redis lock: not a database
        # failure.
        Example("import time\n\nimport psycopg\nimport redis\n\n\n"
                "def refresh(conn: psycopg.Connection, lock):\n"
                "    while True:\n"
                "        try:\n"
                "            with lock:\n"
                "                return conn.execute(\"REFRESH MATERIALIZED VIEW stats\")\n"
                "        except redis.exceptions.LockError:\n"
                "            time.sleep(1)\n", kind="python"),
        # A status write retried inside a daemon thread's own endless loop: a bound that
        # raises would end the thread.
        Example("import time\n\nimport psycopg2\n\n\ndef cron_thread(db, job):\n"
                "    while True:\n"
                "        job()\n"
                "        while True:\n"
                "            try:\n"
                "                db.run(\"UPDATE cron_jobs SET last_run = now()\")\n"
                "                break\n"
                "            except psycopg2.OperationalError:\n"
                "                time.sleep(60)\n"
                "        time.sleep(3600)\n", kind="python"),
    )
    INVALID = (
        # The chapter's worker query (40.2.3).
        Example("SELECT * FROM retry_queue \nWHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at\nLIMIT 10\n"
                "FOR UPDATE SKIP LOCKED;  -- Skip items being processed by other workers\n",
                kind="sql", context=_COUNTED),
        # The chapter's failure path: no cap on the exponential delay.
        Example("UPDATE retry_queue \nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count)),\n"
                "    error_message = 'Error details...'\nWHERE id = $1;",
                kind="sql", context=_COUNTED),
        # A claim in a CTE, an OR in the WHERE clause.
        Example("WITH next AS (\n  SELECT id FROM retry_queue\n"
                "  WHERE next_attempt_at <= now() OR next_attempt_at IS NULL\n"
                "  LIMIT 1 FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE retry_queue q SET next_attempt_at = now() + interval '5 minutes'\n"
                "FROM next WHERE q.id = next.id\nRETURNING q.*;", kind="sql", context=_COUNTED),
        # An UPDATE ... RETURNING claim without a row lock.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '5 minutes'\n"
                "WHERE next_attempt_at <= now()\nRETURNING id, payload;", kind="sql",
                context=_COUNTED),
        Example("CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + power(2, attempt_count) * interval '1 minute'\n"
                "  WHERE id = job;\nEND $$;", context=CONTEXT),
        # The book's client-side retry: the exponential delay has no cap.
        Example(CHAPTER_RETRY,
                fixed=CHAPTER_RETRY.replace("base_delay = (2 ** attempt) * 0.1",
                                             "base_delay = min(30, (2 ** attempt) * 0.1)"),
                kind="python"),
        # A `while True` retry loop: the bounded loop is shown.
        Example("import secrets\nimport time\n\nimport psycopg\n\n\n"
                "def connect(dsn):\n"
                "    while True:\n"
                "        try:\n"
                "            return psycopg.connect(dsn)\n"
                "        except psycopg.OperationalError:\n"
                "            time.sleep(secrets.SystemRandom().uniform(0, 2))\n",
                kind="python"),
        # async, the delay doubling in a variable: the capped formula is shown.
        Example("import asyncio\nimport random\n\nimport asyncpg\n\n\n"
                "async def fetch(pool: asyncpg.Pool):\n"
                "    delay = 0.05\n"
                "    for attempt in range(8):\n"
                "        try:\n"
                "            return await pool.fetch(\"SELECT 1\")\n"
                "        except ConnectionError:\n"
                "            await asyncio.sleep(delay + random.random())\n"
                "            delay *= 2\n", kind="python"),
        # tenacity imported by name, bare and called; the import is added once.
        Example("import psycopg\nfrom tenacity import retry, wait_random_exponential\n\n\n"
                "@retry\n"
                "def a(conn: psycopg.Connection): conn.execute(\"SELECT 1\")\n\n\n"
                "@retry(wait=wait_random_exponential(max=30))\n"
                "def b(conn: psycopg.Connection): conn.execute(\"SELECT 2\")\n",
                fixed="import psycopg\n"
                      "from tenacity import retry, stop_after_attempt, wait_random_exponential\n"
                      "\n\n"
                      "@retry(stop=stop_after_attempt(5))\n"
                      "def a(conn: psycopg.Connection): conn.execute(\"SELECT 1\")\n\n\n"
                      "@retry(wait=wait_random_exponential(max=30), stop=stop_after_attempt(5))\n"
                      "def b(conn: psycopg.Connection): conn.execute(\"SELECT 2\")\n",
                kind="python"),
        # `import tenacity`: the module's own name is used; AsyncRetrying.
        Example("import asyncpg\nimport tenacity\n\n\n"
                "async def transfer(conn: asyncpg.Connection):\n"
                "    async for attempt in tenacity.AsyncRetrying(\n"
                "        wait=tenacity.wait_random_exponential(max=30),\n"
                "    ):\n"
                "        with attempt:\n"
                "            await conn.execute(\"SELECT 1\")\n",
                fixed="import asyncpg\nimport tenacity\n\n\n"
                      "async def transfer(conn: asyncpg.Connection):\n"
                      "    async for attempt in tenacity.AsyncRetrying(\n"
                      "        wait=tenacity.wait_random_exponential(max=30),\n"
                      "        stop=tenacity.stop_after_attempt(5),\n"
                      "    ):\n"
                      "        with attempt:\n"
                      "            await conn.execute(\"SELECT 1\")\n",
                kind="python"),
        # backoff without max_tries or max_time.
        Example("import backoff\nfrom sqlalchemy.exc import OperationalError\n\n\n"
                "@backoff.on_exception(backoff.expo, OperationalError)\n"
                "def transfer(session): session.commit()\n",
                fixed="import backoff\nfrom sqlalchemy.exc import OperationalError\n\n\n"
                      "@backoff.on_exception(backoff.expo, OperationalError, max_tries=5)\n"
                      "def transfer(session): session.commit()\n",
                kind="python"),
    )

    # -- Python ------------------------------------------------------------------------------

    def _loop(self, ctx: FileContext, loop: retry_loops.RetryLoop) -> Iterable[Finding]:
        code = ctx.python_file
        if loop.forever and retry_loops.bound_check(code, loop) is None:
            yield self._forever(ctx, loop)
        reported: set[int] = set()
        for sleep in loop.sleeps:
            facts = retry_loops.delay_facts(code, sleep, loop)
            if not facts.growth or facts.capped or id(facts.growth[0]) in reported:
                continue
            reported.add(id(facts.growth[0]))
            yield self._uncapped_python(ctx, facts, facts.growth[0])

    def _tenacity(self, ctx: FileContext, use: retry_libraries.Tenacity) -> Iterable[Finding]:
        code = ctx.python_file
        if use.call is not None and has_star(use.call):
            return  # `**options` may hold the stop
        if use.argument("stop") is not None:
            return
        decorator = retry_libraries.decorates(code, use.node)
        shown = f"@{retries.written(code, use.node.func if use.call is not None else use.node)}" \
            if decorator else f"{use.entry}(...)"
        if use.call is None:
            message = (f"Bare `{shown}` retries for ever, without waiting: tenacity's default "
                       "stop is `stop_never`")
        else:
            message = f"`{shown}` has no `stop=`: tenacity's default is to retry for ever"
        help = (
            "tenacity stops only when a `stop=` condition says so; its default, `stop_never`, "
            "retries as long as the error lasts (and a bare `@retry` does not even wait between "
            "attempts: its default wait is 0). A permanent error (a constraint violation, a "
            "revoked permission) is then retried for ever instead of reaching someone, and an "
            "outage turns every caller into a waiting thread holding its request. Bound it with "
            f"`stop=stop_after_attempt({PY_ATTEMPTS})` or `stop_after_delay(seconds)` (combine "
            "with `|`); tenacity then raises `RetryError`, or the last error with "
            "`reraise=True`.")
        title = f"Stop after {PY_ATTEMPTS} attempts: `stop=stop_after_attempt({PY_ATTEMPTS})`"
        if use.opaque:
            # `retry(fn)`, `Retrying(sleep_function)`: positional forms; shown only.
            suggestion = f"stop=stop_after_attempt({PY_ATTEMPTS})"
            yield self.finding(ctx, message, Fix.display(title, suggestion), help, node=use.node)
            return
        yield self.finding(ctx, message, self._stop_fix(code, use, title), help, node=use.node)

    @staticmethod
    def _stop_fix(code: PythonFile, use: retry_libraries.Tenacity, title: str) -> Fix | None:
        """`stop=stop_after_attempt(5)` added, with its import (libcst places it)."""
        tree = code.fix_tree
        if tree is None:
            return None
        call = None if use.call is None else code.cst_of(use.call)
        if use.call is not None and call is None:
            return None
        start, end = code.span(use.node)
        local, import_edit = tree.add_import("tenacity", "stop_after_attempt")
        stop = f"stop={local}({PY_ATTEMPTS})"
        edit = Edit.insert(end, f"({stop})") if use.call is None else add_keyword(tree, call, stop)
        suggestion = code.text[start:edit.start] + edit.content + code.text[edit.end:end]
        edits = [edit] if import_edit is None else [edit, import_edit]
        return Fix(title, Applicability.UNSAFE, tuple(edits), suggestion)

    def _backoff(self, ctx: FileContext, use: retry_libraries.Backoff) -> Iterable[Finding]:
        code = ctx.python_file
        if use.opaque or use.argument("max_tries") is not None or \
                use.argument("max_time") is not None:
            return
        message = (f"`backoff.{use.entry}` has no `max_tries` or `max_time`: it retries for "
                   "ever")
        help = (
            "backoff gives up only when `max_tries` or `max_time` says so (or `giveup` accepts "
            "the error): without them, an error that lasts is retried for ever. A permanent "
            "error (a constraint violation, a revoked permission) then never reaches someone, "
            "and an outage turns every caller into a waiting thread holding its request. "
            f"`max_tries={PY_ATTEMPTS}` bounds the attempts, `max_time=seconds` the total "
            "time; after the bound, the last error is raised (`raise_on_giveup=True`).")
        tree, call = code.fix_tree, code.cst_of(use.call)
        fix = None
        if tree is not None and call is not None:
            edit = add_keyword(tree, call, f"max_tries={PY_ATTEMPTS}")
            start, end = code.span(use.call)
            suggestion = code.text[start:edit.start] + edit.content + code.text[edit.end:end]
            fix = Fix(f"Give up after {PY_ATTEMPTS} tries: `max_tries={PY_ATTEMPTS}`",
                      Applicability.UNSAFE, (edit,), suggestion)
        yield self.finding(ctx, message, fix, help, node=use.call)

    def _forever(self, ctx: FileContext, loop: retry_loops.RetryLoop) -> Finding:
        code = ctx.python_file
        header = "while True" if isinstance(loop.loop, ast.While) else "for ... in count()"
        message = (f"`{header}` retry loop has no attempt or deadline bound: a lasting error is "
                   "retried for ever")
        help = (
            "Nothing in the loop compares an attempt counter or a clock (`time.monotonic()`) "
            "and then raises, returns or breaks, so the loop retries as long as the error "
            "lasts. A permanent error (a constraint violation, a revoked permission, a dropped "
            "table) is then retried for ever instead of reaching someone, and an outage turns "
            "every caller into a waiting thread holding its connection and request. Bound the "
            f"attempts (`for attempt in range({PY_ATTEMPTS}):`, re-raising on the last) or the "
            "total time (`if time.monotonic() > deadline: raise`).")
        start = code.span(loop.loop)[0]
        shown = _bounded_loop(code, loop)
        fix = None if shown is None else Fix.display(
            f"Bound the loop: `for attempt in range({PY_ATTEMPTS})`, re-raise on the last "
            "attempt", shown)
        return self.finding(ctx, message, fix, help, span=(start, loop.header_end(code)))

    def _uncapped_python(self, ctx: FileContext, facts: retry_loops.Delay, growth: Any) -> Finding:
        code = ctx.python_file
        if isinstance(growth, (ast.AugAssign, ast.Assign)):
            shown = retries.written(code, growth).strip()
            target = growth.target if isinstance(growth, ast.AugAssign) else growth.targets[0]
            name = retries.written(code, target).strip()
            value = retries.written(code, growth.value).strip()
            grown = f"{name} * {value}" if isinstance(growth, ast.AugAssign) else value
            suggestion = f"{name} = min({PY_CAP}, {grown})"
        else:
            shown = retries.written(code, growth).strip()
            suggestion = ""
        # "Doubles with every attempt" holds in a bounded loop too (the bound is the attempt
        # limit's, not the delay's).
        if len(shown) <= 30:
            message = f"`{shown}` grows without a cap: the retry delay doubles with every attempt"
        else:
            message = "The exponential retry delay has no cap: it doubles with every attempt"
        help = (
            "An exponential delay doubles with every attempt: `0.1 * 2 ** attempt` is 1.6 s at "
            "attempt 4 but 29 hours at attempt 20, so a larger attempt limit (or none) leaves "
            "callers sleeping for hours holding their request. Cap it: `min(cap, base * 2 ** "
            "attempt)` (AWS's capped exponential backoff), and draw the sleep with full jitter "
            f"(`uniform(0, min(cap, ...))`, PGL207). The fix caps it at {PY_CAP} s; choose the "
            "longest wait your caller can afford.")
        title = f"Cap the delay: `min({PY_CAP}, ...)`"
        product = retry_loops.growth_in_seconds(code, facts, growth)
        if product is not None:
            edit = retries.wrap(code, product, f"min({PY_CAP}, ")
            fix = Fix(title, Applicability.UNSAFE, (edit,), edit.content)
        else:
            if not suggestion:
                suggestion = f"min({PY_CAP}, {shown})  # in seconds"
            fix = Fix.display(title, suggestion)
        return self.finding(ctx, message, fix, help, node=growth)

    # -- SQL ---------------------------------------------------------------------------------

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt):
            return
        claim = self._claim(ctx, stmt)
        if claim is not None:
            table, counter, top_level = claim
            yield self._unbounded(ctx, stmt, table, counter, top_level)
        if stmt.kind == "UpdateStmt":
            yield from self._uncapped(ctx, stmt)

    # -- polls without an attempt bound -------------------------------------------------------

    def _claim(self, ctx: FileContext, stmt: Statement) -> tuple[str, str, bool] | None:
        """(table, its attempt counter, the claim is the statement's own WHERE) or None."""
        if "update" not in ctx.statement_text(stmt).lower() and stmt.kind != "UpdateStmt":
            return None  # neither FOR UPDATE nor an UPDATE: cheap exit
        claims: list[tuple[str, bool, dict[str, Any] | None]] = []
        for kind, body in iter_nodes(stmt.node):
            if kind != "SelectStmt" or not body.get("lockingClause"):
                continue
            strengths = {c.get("LockingClause", {}).get("strength")
                         for c in body["lockingClause"]}
            if not strengths & _LOCKING or not locking_poll(body):
                continue  # a lock of rows picked by key is a lookup, not a poll
            for item in body.get("fromClause") or ():
                if "RangeVar" in item:
                    claims.append((n.relation_name(item["RangeVar"]) or "", body is stmt.body,
                                   body.get("whereClause")))
        if stmt.kind == "UpdateStmt" and n.returning(stmt.body):
            table = n.relation_name(stmt.body.get("relation")) or ""
            if table and not self._pinned(ctx, table, stmt.body.get("whereClause")):
                claims.append((table, True, stmt.body.get("whereClause")))
        deleted = {n.relation_name(body.get("relation")) for kind, body in iter_nodes(stmt.node)
                   if kind == "DeleteStmt"}
        for table, top_level, where in claims:
            counter = counter_of(ctx, table)
            if counter is None or table in deleted or any(
                    compares_counter(stmt.node, c) for c in (counter, *incremented_by(stmt, table))):
                continue  # no counter, bounded here, or the claimed rows are deleted
            if not incremented_at_run_time(ctx, table, counter) and \
                    not increments_in(stmt, table, counter):
                continue  # a copied attempt number, not a counter of this queue
            if attempt_limit_column(ctx, table) or skips_terminal_state(ctx, table, where):
                continue  # the limit is kept per job, or given-up jobs leave the poll's state
            if self._bounded_elsewhere(ctx, stmt, table, counter):
                continue
            return table, counter, top_level
        return None

    @staticmethod
    def _pinned(ctx: FileContext, table: str, where: dict[str, Any] | None) -> bool:
        """The WHERE picks one row by a key (`id = $1`, `q.id = next.id`)."""
        keys = ctx.model.catalog.key_columns(table)
        equal = {eq[0] for eq in map(n.equality, n.conjuncts(where)) if eq is not None}
        equal |= pinned_to_list(where)
        return any(key and key <= equal for key in keys) or (not keys and "id" in equal)

    @staticmethod
    def _bounded_elsewhere(ctx: FileContext, stmt: Statement, table: str, counter: str) -> bool:
        """Another statement of the file compares the counter on this table (a dead-letter step)."""
        for other in ctx.all_statements():
            if other is stmt or counter not in ctx.statement_text(other):
                continue
            if n.relation_name(other.body.get("relation")) == table and \
                    compares_counter(other.node, counter):
                return True
        return False

    def _unbounded(self, ctx: FileContext, stmt: Statement, table: str, counter: str,
                   top_level: bool) -> Finding:
        bare = ctx.model.bare(table)
        message = (f"Worker poll claims `{bare}` jobs without bounding `{counter}`: a job that "
                   "always fails is retried for ever")
        help = (
            f"`{bare}` counts attempts in `{counter}`, but neither this claim nor any other "
            "statement of the file compares it. A job that can never succeed (a poison message, "
            "a permanently invalid payload) keeps being picked up: it costs worker time and lock "
            "traffic on every poll, and nobody is told that it failed. Bound the attempts in the "
            "poll and move exhausted jobs to a dead-letter table (or mark them failed) where "
            "someone looks at them.")
        bound = f"{counter} < {MAX_ATTEMPTS}"
        poll = _with_bound(ctx, stmt, bound) if top_level else None
        if poll is None:
            poll = f"-- in the poll's WHERE clause:\n... AND {bound}"
        suggestion = (
            f"{poll}\n\n-- and a dead-letter step for jobs that used up their attempts\n"
            f"-- (CREATE TABLE {bare}_dead (LIKE {bare}) once):\n"
            f"WITH dead AS (DELETE FROM {bare} WHERE {counter} >= {MAX_ATTEMPTS} RETURNING *)\n"
            f"INSERT INTO {bare}_dead SELECT * FROM dead;")
        fix = Fix.display(f"Bound `{counter}` in the poll and dead-letter exhausted jobs",
                          suggestion)
        return self.finding(ctx, message, fix, help, node=stmt)

    # -- exponential backoff without a cap ----------------------------------------------------

    def _uncapped(self, ctx: FileContext, stmt: Statement) -> Iterable[Finding]:
        for target in stmt.body.get("targetList") or ():
            res = target.get("ResTarget", {})
            column, value = res.get("name") or "", res.get("val") or {}
            if not NEXT_ATTEMPT_COLUMN.search(column) or time_plus_delay(value) is None:
                continue
            capped = {id(e) for kind, body in iter_nodes(value)
                      if (kind == "MinMaxExpr" and body.get("op") == "IS_LEAST")
                      or kind == "CaseExpr"
                      for e in exponents(body)}
            for power in exponents(value):
                counter = _counter_ref(power)
                if id(power) in capped or counter is None:
                    continue
                yield self._uncapped_finding(ctx, stmt, res, column, counter, power)
                return

    def _uncapped_finding(self, ctx: FileContext, stmt: Statement, target: dict[str, Any],
                          column: str, counter: str, power: dict[str, Any]) -> Finding:
        message = (f"`{column}` backs off exponentially in `{counter}` with no cap: the delay "
                   "grows without limit")
        help = (
            f"After 20 attempts `interval '1 second' * 2 ^ {counter}` is 12 days, and eventually "
            "the multiplication fails with `interval out of range`, so the failure path itself "
            "starts to error. Cap the delay with `least(<longest acceptable wait>, 2 ^ "
            f"{counter})` (the AWS formula `min(cap, base * 2 ** n)`), add random jitter "
            "(PGL207), and bound the number of attempts in the worker's poll.")
        start, end = assignment_span(ctx, stmt, target)
        span = _power_span(ctx, stmt, power)
        if span is not None:
            text = ctx.text[span[0]:span[1]]
            suggestion = (ctx.text[start:span[0]] + f"least({CAP}, {text})"
                          + ctx.text[span[1]:end])
        else:
            suggestion = (f"{column} = now() + interval '1 second' * random() * "
                          f"least({CAP}, 2 ^ {counter})")
        fix = Fix.display("Cap the delay with `least(...)`", suggestion)
        return self.finding(ctx, message, fix, help, span=(start, end))


def _counter_ref(power: dict[str, Any]) -> str | None:
    """The attempt counter an exponent reads (`2 ^ attempt_count`), if any."""
    exponent = power.get("rexpr") if "lexpr" in power else (power.get("args") or [None])[-1]
    return counter_in(exponent or {})


def _power_span(ctx: FileContext, stmt: Statement, power: dict[str, Any]) -> tuple[int, int] | None:
    """File offsets of `2 ^ attempt_count` when both operands are single names or numbers."""
    if not stmt.exact or "lexpr" not in power:
        return None
    simple = ("ColumnRef", "A_Const")
    left, right = power.get("lexpr") or {}, power.get("rexpr") or {}
    if not (any(k in left for k in simple) and any(k in right for k in simple)):
        return None
    tokens = ctx.code_tokens(stmt)
    at = stmt.offset(power.get("location"))
    i = next((i for i, t in enumerate(tokens) if t.start == at and t.text == "^"), None)
    if i is None or i == 0 or i + 1 >= len(tokens):
        return None
    j = i + 1
    while j + 2 < len(tokens) and tokens[j + 1].text == ".":  # a qualified column: q.attempts
        j += 2
    k = i - 1
    while k >= 2 and tokens[k - 1].text == ".":
        k -= 2
    return tokens[k].start, tokens[j].end


def _with_bound(ctx: FileContext, stmt: Statement, bound: str) -> str | None:
    """The statement's text with `AND <bound>` added to its own WHERE clause."""
    if not stmt.exact:
        return None
    tokens = ctx.code_tokens(stmt)
    where = stmt.body.get("whereClause")
    where_at, after = None, None
    for i, token in sql_tokens.top_level(tokens):
        if token.upper == "WHERE" and where_at is None:
            where_at = i
        elif token.upper in _AFTER_WHERE and (where_at is not None or not where):
            after = i
            break
    text = ctx.text
    if where_at is None:
        if where:
            return None
        if after is None:
            return text[stmt.start:stmt.end] + f"\nWHERE {bound};"
        cut = tokens[after - 1].end
        return text[stmt.start:cut] + f"\nWHERE {bound}" + text[cut:stmt.end] + ";"
    last = tokens[after - 1] if after is not None else tokens[-1]
    cut = last.end
    first = tokens[where_at + 1].start if where_at + 1 < len(tokens) else cut
    disjunction = "BoolExpr" in (where or {}) and where["BoolExpr"].get("boolop") == "OR_EXPR"
    if disjunction:
        return (text[stmt.start:first] + "(" + text[first:cut] + f") AND {bound}"
                + text[cut:stmt.end] + ";")
    return text[stmt.start:cut] + f" AND {bound}" + text[cut:stmt.end] + ";"


def _bounded_loop(code: PythonFile, loop: retry_loops.RetryLoop) -> str | None:
    """The retry loop as `for attempt in range(5):`, each retrying handler re-raising on the
    last attempt (the code shown by the display fix, rendered by libcst); None where libcst
    cannot read the file."""
    tree, node = code.fix_tree, code.cst_of(loop.loop)
    if tree is None or node is None:
        return None
    cst = tree.cst
    if loop.counter is not None:
        counter = loop.counter.id
    else:
        scope = tree.module if isinstance(loop.scope, ast.Module) else code.cst_of(loop.scope)
        if scope is None:
            return None
        counter = fresh_name(tree, scope, "attempt", "attempt_no", "retry_attempt")
    guard = cst.parse_statement(f"if {counter} == {PY_ATTEMPTS - 1}:\n    raise\n")
    body = node.body
    # The retrying handlers, found by where they start (the `except` keyword).
    starts = {code.span(handler)[0] for handler in loop.handlers}
    handlers = [h for h in tree.descendants(node.body)
                if isinstance(h, (cst.ExceptHandler, cst.ExceptStarHandler))
                and tree.span(h)[0] in starts]
    for handler in handlers:
        if not isinstance(handler.body, cst.IndentedBlock):
            continue
        changed = handler.with_changes(body=handler.body.with_changes(
            body=[guard, *handler.body.body]))
        body = body.deep_replace(handler, changed)
    iterable = cst.parse_expression(f"range({PY_ATTEMPTS})")
    if isinstance(node, cst.For):
        bounded = node.with_changes(iter=iterable, body=body, leading_lines=[])
    else:
        bounded = cst.For(target=cst.Name(counter), iter=iterable, body=body,
                          orelse=node.orelse)
    return tree.module.code_for_node(bounded).rstrip()
