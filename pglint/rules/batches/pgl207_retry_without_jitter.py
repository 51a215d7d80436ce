"""PGL207 retry-without-jitter (SQL form: retry queues computing the next attempt; Python form:
retry loops, tenacity waits and backoff's `jitter=None`)."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit import retries, retry_celery, retry_libraries, retry_loops, retry_targets
from pglint.kit.python_edits import remove_argument, rename_call
from pglint.kit.queues import (
    CAP,
    CHAPTER_RETRY,
    CONTEXT,
    NEXT_ATTEMPT_COLUMN,
    PY_CAP,
    assignment_span,
    counter_in,
    counter_of,
    exponents,
    is_attempt_counter,
    time_plus_delay,
)
from pglint.kit.retry_rules import LOOPS_AND_CALLS, RetryForms
from pglint.model.workload import is_increment
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

# Tables that hold work to be retried.
RETRY_TABLE = re.compile(
    r"(?:^|_)(?:retr(?:y|ies)|queues?|jobs?|tasks?|outbox|deliver(?:y|ies)|webhooks?|messages?"
    r"|dead_letters?)(?:$|_)", re.IGNORECASE)


def _py_loop(sleep: str, extra_import: str = "") -> str:
    """A psycopg retry loop around a transaction whose failure path runs `sleep`
    (`extra_import`: a standard-library import, placed before `import time`)."""
    return (extra_import + "import time\n\nimport psycopg\n\n\n"
            "def transfer(conn: psycopg.Connection) -> None:\n"
            "    for attempt in range(5):\n"
            "        try:\n"
            "            with conn.transaction():\n"
            "                conn.execute(\"UPDATE accounts SET balance = balance - 1\")\n"
            "            return\n"
            "        except psycopg.errors.SerializationFailure:\n"
            f"            {sleep}\n"
            "    raise RuntimeError(\"gave up\")\n")


_CELERY_IMPORTS = ("from celery import shared_task\n"
                   "from django.db import OperationalError, transaction\n\n"
                   "from app.models import Invoice\n")
_CELERY_BODY = ("def settle(invoice_id):\n"
                "    with transaction.atomic():\n"
                "        Invoice.objects.filter(id=invoice_id).update(settled=True)\n")


def _celery_task(retry: str) -> str:
    """A bound Celery task that updates a row and, on a database error, runs `retry` (lines
    indented by eight spaces)."""
    return (_CELERY_IMPORTS + "\n\n@shared_task(bind=True, max_retries=5)\n"
            "def settle(self, invoice_id):\n"
            "    try:\n"
            "        with transaction.atomic():\n"
            "            Invoice.objects.filter(id=invoice_id).update(settled=True)\n"
            "    except OperationalError as exc:\n"
            f"{retry}")


def _celery_retry(countdown: str) -> str:
    return ("        raise self.retry(\n"
            "            exc=exc,\n"
            f"            countdown={countdown},\n"
            "        )\n")


def has_jitter(node: Any) -> bool:
    return any(name.startswith("random") for name, _ in n.calls(node))


def is_claim(body: dict[str, Any]) -> bool:
    """An UPDATE that hands rows to a worker: it returns them, or picks them FOR UPDATE."""
    if n.returning(body):
        return True
    return any(kind == "SelectStmt" and b.get("lockingClause") for kind, b in iter_nodes(body))


def retry_evidence(ctx: FileContext, table: str, body: dict[str, Any],
                   delay: dict[str, Any]) -> str | None:
    """Why this UPDATE looks like a retry queue's failure path, or None."""
    for target in body.get("targetList") or ():
        res = target.get("ResTarget", {})
        name = res.get("name") or ""
        if is_attempt_counter(name) and is_increment(name, res.get("val") or {}):
            return f"it increments `{name}`"
    if is_claim(body):
        return None  # a worker's claim pushing a lease forward, not a failure's backoff
    if RETRY_TABLE.search(ctx.model.bare(table)):
        return f"`{ctx.model.bare(table)}` is named like a retry queue"
    if exponents(delay):
        return "the delay grows exponentially"
    if counter_of(ctx, table) is not None:
        return f"`{ctx.model.bare(table)}` has an attempt counter"
    return None


class RetryWithoutJitter(RetryForms, Rule):
    """
    ## What it does
    Flags the failure path of a database retry queue: an `UPDATE` that sets a next-attempt
    timestamp (`next_attempt_at`, `run_at`, `retry_at`...) to `now()` plus an exponential
    (`interval '1 second' * (2 ^ attempt_count)`) or fixed (`interval '30 seconds'`) backoff,
    with no `random()` in the expression. The rule wants evidence that the table is a retry
    queue: the same `UPDATE` increments an attempt counter, the table is named like a queue, the
    delay grows exponentially, or the catalog shows an attempt counter column. It applies to SQL
    that runs repeatedly (application queries and function bodies).

    It stays silent on expiry columns (`expires_at = now() + interval '30 minutes'`), on
    backoffs that already use `random()`, and on a worker's claim (an `UPDATE ... RETURNING` or
    one fed by `SELECT ... FOR UPDATE`) that pushes a lease forward without counting an attempt.

    In Python, flags:
    - a hand-written retry loop (`for attempt in range(n)`, `while ...`, `for delay in (1, 2,
      4)`: a loop around a `try`/`except` that retries, leaves the loop on success and sleeps
      with `time.sleep` or `await asyncio.sleep`) whose delay has no random component: neither
      the sleep's argument nor the variables and local helper functions feeding it call
      `random`, `secrets.SystemRandom` or `numpy.random`;
    - tenacity's `wait_exponential`, `wait_fixed` or `wait_incrementing` used without a random
      wait added (`+ wait_random(...)`) in `@retry(...)`, `Retrying(...)` or
      `AsyncRetrying(...)`, however tenacity is imported;
    - backoff's `@backoff.on_exception(..., jitter=None)` / `on_predicate(..., jitter=None)`;
    - Celery: a bound task's `self.retry(countdown=<d>)` whose delay follows from constants and
      `self.request.retries` alone (`2 ** self.request.retries`, `60`), and
      `retry_jitter=False` on a task decorator that sets `retry_backoff` (without a backoff the
      switch changes nothing).

    A Python retry counts only when it retries database work: the file uses a PostgreSQL driver
    or ORM and the retried code (the loop, the decorated function, the `Retrying` loop's body)
    calls it (a connection, cursor, pool or session method, a Django manager, or a function of
    the same file that does), or it is a generic helper that calls a function passed in
    (`execute_with_retry(func)`). Retries of HTTP calls, Redis or a consensus store are not a
    PostgreSQL linter's to judge, nor are retries that catch only another library's errors
    (`except redis.exceptions.LockError:` around database work: another service failed).

    It stays silent when a delay comes from something it cannot see into (a method of another
    object, a helper imported from another module), on worker loops that never leave, on a
    retry loop inside a daemon's own endless loop (`while True:` around it: one per process,
    no herd), and on retries of at most 3 attempts (`range(3)`, `stop_after_attempt(3)`): a
    few retries cannot form a herd. The
    book's `base_delay + random.uniform(0, base_delay)` has a random component, so this rule
    does not flag it, but it is not full jitter: every client still waits at least
    `base_delay`, and the delay has no cap (PGL208 flags that).

    ## Why is this bad?
    Jobs that fail together (a downstream outage, a deadlock storm) are all rescheduled to the
    same instant, so they retry together, fail together again and come back in synchronized
    waves, each one a load spike on the database and the struggling dependency: a thundering
    herd. Exponential backoff spreads the waves out in time but not the jobs within a wave;
    random jitter does. AWS's analysis ("Exponential Backoff and Jitter") recommends full
    jitter: a delay drawn uniformly from zero to the capped exponential delay. The same holds
    for application processes that retry a failed transaction or connection: after a
    failover or a deadlock storm they all sleep the same time and come back together.

    ## Example
    ```sql
    UPDATE retry_queue
    SET attempt_count = attempt_count + 1,
        next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count))
    WHERE id = $1;
    ```
    ```python
    for attempt in range(5):
        try:
            return run_transaction()
        except OperationalError:
            time.sleep(0.1 * 2 ** attempt)

    @retry(stop=stop_after_attempt(5), wait=wait_exponential(multiplier=0.1, max=30))
    def transfer(): ...
    ```

    ## Use instead
    Full jitter with a cap (see PGL208 for the cap and a bound on attempts):
    ```sql
    UPDATE retry_queue
    SET attempt_count = attempt_count + 1,
        next_attempt_at = now() + interval '1 second' * random() * least(600, 2 ^ attempt_count)
    WHERE id = $1;
    ```
    ```python
    for attempt in range(5):
        try:
            return run_transaction()
        except OperationalError:
            time.sleep(secrets.SystemRandom().uniform(0, min(30, 0.1 * 2 ** attempt)))

    @retry(stop=stop_after_attempt(5), wait=wait_random_exponential(multiplier=0.1, max=30))
    def transfer(): ...
    ```
    With backoff, leave `jitter` at its default (full jitter).

    ## Fix safety
    Unsafe: retries come sooner on average (full jitter halves the mean delay). The fix is a
    minimal edit: it multiplies the delay by `random()` (`now() + random() * <delay>`), turning
    it into full jitter. It does not add the cap; PGL208 shows that. When the delay comes before
    `now()` in the sum, pglint only shows the formula.

    The Python fixes are unsafe too, for the same reason:
    - a retry loop's sleep argument `d` becomes `secrets.SystemRandom().uniform(0, d)` (and
      `import secrets` is added). `secrets.SystemRandom` rather than `random.uniform`, because
      linters flag the `random` module (ruff S311, bandit B311) even where, as here, no secret
      is involved. When the delay is a keyword argument, only the formula is shown;
    - tenacity's `wait_exponential(...)` becomes `wait_random_exponential(...)` with the same
      arguments (full jitter; tenacity documents `wait_exponential` as unsuitable for
      contention). A `from tenacity import wait_exponential` used only there is renamed in
      place, so no unused import is left behind. `wait_fixed` and `wait_incrementing` get a
      shown suggestion: whether to keep a steady pace (`wait_fixed(2) + wait_random(0, 2)`) or
      to back off is a design choice;
    - backoff's `jitter=None` is removed: backoff's default is full jitter;
    - Celery's countdown `d` becomes `secrets.SystemRandom().uniform(0, d)`, and
      `retry_jitter=False` is removed (Celery's default is full jitter).
    """

    code = "PGL207"
    name = "retry-without-jitter"
    database_only = True
    summary = "Retry backoff without random jitter: failed jobs retry in synchronized waves"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 6 sampled findings on real repositories (none "
        "retried a database call); since it needs a retry of database work it fires on none "
        "of the 35 corpus repositories, so it is not measured again"
    )
    references = (
        "https://www.postgresql.org/docs/current/mvcc-serialization-failure-handling.html",
    )
    statements = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = LOOPS_AND_CALLS
    python_hint = (("sleep(", "wait_exponential", "wait_fixed", "wait_incrementing", "jitter",
                    "countdown"),
                   ("except", "tenacity", "backoff", "task("))

    VALID = (
        Example("UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + interval '1 second' * random()"
                " * least(600, 2 ^ attempt_count)\nWHERE id = $1;", kind="sql",
                context=CONTEXT),
        # An expiry, not a retry.
        Example("UPDATE user_sessions SET expires_at = now() + interval '30 minutes'\n"
                "WHERE session_id = $1;", kind="sql"),
        # A one-off migration statement.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '30 seconds';",
                context=CONTEXT),
        # A claim pushing a lease forward, not a failure's backoff.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '5 minutes'\n"
                "WHERE next_attempt_at <= now()\nRETURNING id, payload;", kind="sql",
                context=CONTEXT),
        # Jitter from random() anywhere in the expression.
        Example("UPDATE jobs SET run_at = now() + (30 + random() * 30) * interval '1 second'\n"
                "WHERE id = $1;", kind="sql"),
        # The book's retry loop: its delay has a random component (PGL208 flags the missing cap).
        Example(CHAPTER_RETRY, kind="python"),
        # Full jitter; a generator made from random; a delay this file cannot see into.
        Example("import random\nimport secrets\nimport time\n\nrng = random.Random()\n\n\n"
                "def fetch(conn, policy):\n"
                "    for attempt in range(5):\n"
                "        try:\n"
                "            return conn.execute(\"SELECT 1\")\n"
                "        except OSError:\n"
                "            time.sleep(secrets.SystemRandom().uniform(0, min(30, 2 ** attempt)))\n"
                "    for attempt in range(5):\n"
                "        try:\n"
                "            return conn.execute(\"SELECT 2\")\n"
                "        except OSError:\n"
                "            delay = rng.uniform(0, 1)\n"
                "            time.sleep(delay)\n"
                "    for attempt in range(5):\n"
                "        try:\n"
                "            return conn.execute(\"SELECT 3\")\n"
                "        except OSError:\n"
                "            time.sleep(policy.delay(attempt))\n", kind="python"),
        # A worker loop that never leaves is not a retry loop.
        Example("import time\n\n\ndef work(queue):\n    while True:\n        try:\n"
                "            queue.process_one()\n        except Exception:\n"
                "            time.sleep(5)\n", kind="python"),
        # tenacity with jitter added or built in; backoff's default full jitter.
        Example("import backoff\nfrom psycopg import OperationalError\n"
                "from tenacity import retry, stop_after_attempt, wait_exponential, wait_random\n"
                "from tenacity import wait_random_exponential\n\n\n"
                "@retry(stop=stop_after_attempt(5),\n"
                "       wait=wait_exponential(max=10) + wait_random(0, 1))\n"
                "def a(): ...\n\n\n"
                "@retry(stop=stop_after_attempt(5), wait=wait_random_exponential(max=10))\n"
                "def b(): ...\n\n\n"
                "@backoff.on_exception(backoff.expo, OperationalError, max_tries=5)\n"
                "def c(): ...\n", kind="python"),
        # Not a database retry: an HTTP call (the file uses no PostgreSQL library), and a
        # consensus-store read in a file that does.
        Example("import requests\nfrom tenacity import retry, stop_after_attempt, wait_exponential"
                "\n\n\n@retry(stop=stop_after_attempt(5), wait=wait_exponential(max=10))\n"
                "def fetch_status(url):\n    return requests.get(url, timeout=5).json()\n",
                kind="python"),
        Example("import time\n\nimport psycopg\n\n\nclass Node:\n"
                "    def wait_for_store(self):\n"
                "        for attempt in range(10):\n"
                "            try:\n"
                "                return self.store.get_cluster()\n"
                "            except StoreError:\n"
                "                time.sleep(5)\n", kind="python"),
        # A status write retried inside a daemon thread's own endless loop: one per process.
        Example("import time\n\nimport psycopg2\n\n\ndef cron_thread(db, job):\n"
                "    while True:\n"
                "        job()\n"
                "        for attempt in range(100):\n"
                "            try:\n"
                "                db.run(\"UPDATE cron_jobs SET last_run = now()\")\n"
                "                break\n"
                "            except psycopg2.OperationalError:\n"
                "                time.sleep(60)\n"
                "        time.sleep(3600)\n", kind="python"),
        # Three attempts at most: too few retries to form a herd.
        Example("from psycopg import OperationalError\n"
                "from tenacity import retry, retry_if_exception_type, stop_after_attempt, "
                "wait_fixed\n\n\n"
                "@retry(retry=retry_if_exception_type(OperationalError),\n"
                "       stop=stop_after_attempt(3), wait=wait_fixed(2))\n"
                "def transfer(conn):\n    conn.execute(\"SELECT 1\")\n", kind="python"),
        # Celery: jitter off without a backoff changes nothing; a countdown with jitter; a
        # task that sends e-mail, not SQL.
        Example(_CELERY_IMPORTS + "\n\n@shared_task(autoretry_for=(OperationalError,), "
                "max_retries=3, retry_jitter=False)\n" + _CELERY_BODY, kind="python"),
        Example("import secrets\n\n" + _celery_task(_celery_retry(
            "secrets.SystemRandom().uniform(0, 60)")), kind="python"),
        # A task that reads the database but retries because another worker holds a Redis
        # lock: not a database failure.
        Example("import redis\nfrom celery import shared_task\nfrom sqlalchemy import text\n\n\n"
                "@shared_task(bind=True)\n"
                "def reindex(self, db, lock):\n"
                "    try:\n"
                "        with lock:\n"
                "            db.execute(text(\"SELECT 1\"))\n"
                "    except redis.exceptions.LockError as exc:\n"
                "        raise self.retry(countdown=60, exc=exc)\n", kind="python"),
        Example("import smtplib\n\nfrom celery import shared_task\n\n\n"
                "@shared_task(bind=True, max_retries=5)\n"
                "def send(self, message):\n"
                "    try:\n"
                "        smtplib.SMTP(\"localhost\").send_message(message)\n"
                "    except smtplib.SMTPException as exc:\n"
                "        raise self.retry(exc=exc, countdown=2 ** self.request.retries)\n",
                kind="python"),
    )
    INVALID = (
        # The chapter's failure path (40.2.3).
        Example("UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count)),\n"
                "    error_message = 'Error details...'\nWHERE id = 1;",
                fixed="UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                      "    next_attempt_at = now() + random() * (interval '1 second' * "
                      "(2 ^ attempt_count)),\n"
                      "    error_message = 'Error details...'\nWHERE id = 1;",
                kind="sql", context=CONTEXT),
        # Fixed backoff on a queue table.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '30 seconds'"
                " WHERE id = 1;",
                fixed="UPDATE retry_queue SET next_attempt_at = now() + random() * "
                      "interval '30 seconds' WHERE id = 1;",
                kind="sql", context=CONTEXT),
        # A function body runs on every failure.
        Example("CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = clock_timestamp() + power(2, attempt_count)"
                " * interval '1 minute'\n  WHERE id = job;\nEND $$;",
                fixed="CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                      "    next_attempt_at = clock_timestamp() + random() * power(2, "
                      "attempt_count) * interval '1 minute'\n  WHERE id = job;\nEND $$;",
                context=CONTEXT),
        # The delay first: shown, not applied.
        Example("UPDATE webhook_deliveries SET retry_at = interval '10 seconds' + now(),\n"
                "    tries = tries + 1 WHERE id = $1;", kind="sql"),
        # A retry loop with a deterministic exponential delay.
        Example(_py_loop("time.sleep(0.1 * 2 ** attempt)"),
                fixed=_py_loop("time.sleep(secrets.SystemRandom().uniform(0, 0.1 * 2 ** attempt))",
                               "import secrets\n"),
                kind="python"),
        # async, the delay computed in a variable that doubles, sleep imported by name.
        Example("from asyncio import sleep\n\nimport asyncpg\n\n\n"
                "async def fetch(pool):\n"
                "    delay = 0.05\n"
                "    while True:\n"
                "        try:\n"
                "            return await pool.fetch(\"SELECT 1\")\n"
                "        except asyncpg.exceptions.SerializationError:\n"
                "            await sleep(delay)\n"
                "            delay *= 2\n",
                fixed="import secrets\nfrom asyncio import sleep\n\nimport asyncpg\n\n\n"
                      "async def fetch(pool):\n"
                      "    delay = 0.05\n"
                      "    while True:\n"
                      "        try:\n"
                      "            return await pool.fetch(\"SELECT 1\")\n"
                      "        except asyncpg.exceptions.SerializationError:\n"
                      "            await sleep(secrets.SystemRandom().uniform(0, delay))\n"
                      "            delay *= 2\n",
                kind="python"),
        # tenacity imported by name: the import is renamed, not duplicated.
        Example("from psycopg import OperationalError\n"
                "from tenacity import retry, retry_if_exception_type, stop_after_attempt, "
                "wait_exponential\n\n\n"
                "@retry(\n"
                "    retry=retry_if_exception_type(OperationalError),\n"
                "    stop=stop_after_attempt(5),\n"
                "    wait=wait_exponential(multiplier=0.1, max=30),\n"
                ")\n"
                "def transfer(conn):\n"
                "    conn.execute(\"SELECT 1\")\n",
                fixed="from psycopg import OperationalError\n"
                      "from tenacity import retry, retry_if_exception_type, stop_after_attempt, "
                      "wait_random_exponential\n\n\n"
                      "@retry(\n"
                      "    retry=retry_if_exception_type(OperationalError),\n"
                      "    stop=stop_after_attempt(5),\n"
                      "    wait=wait_random_exponential(multiplier=0.1, max=30),\n"
                      ")\n"
                      "def transfer(conn):\n"
                      "    conn.execute(\"SELECT 1\")\n",
                kind="python"),
        # Two uses: fixed in two passes, no unused import left behind.
        Example("import psycopg\nfrom tenacity import retry, wait_exponential\n\n\n"
                "@retry(wait=wait_exponential(max=10))\n"
                "def a(conn: psycopg.Connection): conn.execute(\"SELECT 1\")\n\n\n"
                "@retry(wait=wait_exponential(max=20))\n"
                "def b(conn: psycopg.Connection): conn.execute(\"SELECT 2\")\n",
                fixed="import psycopg\nfrom tenacity import retry, wait_random_exponential\n\n\n"
                      "@retry(wait=wait_random_exponential(max=10))\n"
                      "def a(conn: psycopg.Connection): conn.execute(\"SELECT 1\")\n\n\n"
                      "@retry(wait=wait_random_exponential(max=20))\n"
                      "def b(conn: psycopg.Connection): conn.execute(\"SELECT 2\")\n",
                kind="python"),
        # `import tenacity as tn`, Retrying as an iterator.
        Example("import tenacity as tn\nfrom sqlalchemy import text\n\n\n"
                "def transfer(conn):\n"
                "    for attempt in tn.Retrying(stop=tn.stop_after_attempt(5),\n"
                "                               wait=tn.wait_exponential(max=10)):\n"
                "        with attempt:\n"
                "            conn.execute(text(\"SELECT 1\"))\n",
                fixed="import tenacity as tn\nfrom sqlalchemy import text\n\n\n"
                      "def transfer(conn):\n"
                      "    for attempt in tn.Retrying(stop=tn.stop_after_attempt(5),\n"
                      "                               wait=tn.wait_random_exponential(max=10)):\n"
                      "        with attempt:\n"
                      "            conn.execute(text(\"SELECT 1\"))\n",
                kind="python"),
        # A fixed wait: the choice of pace is shown, not made.
        Example("import asyncpg\nfrom tenacity import AsyncRetrying, stop_after_attempt, "
                "wait_fixed\n\n\n"
                "async def transfer(conn: asyncpg.Connection):\n"
                "    async for attempt in AsyncRetrying(stop=stop_after_attempt(5),"
                " wait=wait_fixed(2)):\n"
                "        with attempt:\n"
                "            await conn.execute(\"SELECT 1\")\n", kind="python"),
        # backoff with its jitter switched off.
        Example("import backoff\nimport psycopg\n\n\n"
                "@backoff.on_exception(\n"
                "    backoff.expo,\n"
                "    psycopg.OperationalError,\n"
                "    max_tries=5,\n"
                "    jitter=None,\n"
                ")\n"
                "def transfer(conn):\n"
                "    conn.execute(\"SELECT 1\")\n",
                fixed="import backoff\nimport psycopg\n\n\n"
                      "@backoff.on_exception(\n"
                      "    backoff.expo,\n"
                      "    psycopg.OperationalError,\n"
                      "    max_tries=5,\n"
                      ")\n"
                      "def transfer(conn):\n"
                      "    conn.execute(\"SELECT 1\")\n",
                kind="python"),
        # Celery: a bound task's countdown without jitter, and retry_jitter=False.
        Example(_celery_task(_celery_retry("2 ** self.request.retries")),
                fixed="import secrets\n\n" + _celery_task(_celery_retry(
                    "secrets.SystemRandom().uniform(0, 2 ** self.request.retries)")),
                kind="python"),
        Example(_CELERY_IMPORTS + "\n\n@shared_task(autoretry_for=(OperationalError,), "
                "retry_backoff=True, max_retries=5,\n"
                "             retry_jitter=False)\n" + _CELERY_BODY,
                fixed=_CELERY_IMPORTS + "\n\n@shared_task(autoretry_for=(OperationalError,), "
                "retry_backoff=True, max_retries=5)\n" + _CELERY_BODY,
                kind="python"),
    )

    # -- Python ------------------------------------------------------------------------------

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        yield from super().check_python(node, ctx)
        if isinstance(node, ast.Call):
            yield from self._celery(ctx, node)

    def _celery(self, ctx: FileContext, call: ast.Call) -> Iterable[Finding]:
        """Celery: `retry_jitter=False` on a backing-off task, `self.retry(countdown=d)` with
        a deterministic `d`; only for tasks whose code reaches PostgreSQL."""
        code = ctx.python_file
        jitter = retry_celery.jitter_switched_off(code, call)
        if jitter is not None:
            task = code.parent(call)
            if retry_targets.reaches_database(code, task.body):
                yield self._celery_jitter(ctx, call, jitter)
            return
        found = retry_celery.task_retry(code, call)
        if found is None or not retry_celery.deterministic(code, found.task, found.countdown):
            return
        handler = retry_targets.handler_of(code, call)
        if handler is not None and retry_targets.other_errors_only(code, handler.type):
            return  # a retry of another service's failure (a Redis lock, SMTP)
        if retry_targets.reaches_database(code, found.task.body):
            yield self._celery_countdown(ctx, found)

    def _celery_jitter(self, ctx: FileContext, call: ast.Call, jitter: ast.keyword) -> Finding:
        code = ctx.python_file
        message = ("`retry_jitter=False` switches off Celery's backoff jitter: tasks that fail "
                   "together retry together")
        help = (
            "With `retry_backoff`, Celery draws each automatic retry's countdown at random "
            "between 0 and the exponential delay (`retry_jitter=True` is the default); "
            "`retry_jitter=False` re-queues every task that failed at the same moment (a "
            "database failover, a deadlock storm) for the same instant, so they retry in "
            "synchronized waves. Remove the argument to get the default back.")
        title = "Remove `retry_jitter=False` (Celery's default is full jitter)"
        tree, cst_call, removed = code.fix_tree, code.cst_of(call), code.cst_of(jitter)
        fix = None
        if tree is not None and cst_call is not None and removed is not None:
            edit = remove_argument(tree, cst_call, removed)
            start, end = code.span(call)
            suggestion = code.text[start:edit.start] + code.text[edit.end:end]
            fix = Fix(title, Applicability.UNSAFE, (edit,), suggestion)
        return self.finding(ctx, message, fix, help, node=jitter)

    def _celery_countdown(self, ctx: FileContext, found: retry_celery.TaskRetry) -> Finding:
        code = ctx.python_file
        delay = found.countdown
        written = retries.written(code, delay).strip()
        shape = "an exponential" if retry_celery.grows(delay) else "a fixed"
        shown = f" `{written}`" if len(written) <= 30 else ""
        message = (f"Task retry countdown{shown} has no random jitter: tasks that fail "
                   "together retry together")
        help = (
            f"`retry(countdown=...)` re-queues the task after {shape} delay computed without "
            "randomness, so tasks that fail at the same moment (a database failover, a "
            "deadlock storm) all run again at the same instant: synchronized waves of retries "
            "against the database. Draw the countdown uniformly between 0 and the delay (full "
            "jitter), as Celery's own `retry_backoff` does by default.")
        title = "Draw the countdown uniformly between 0 and itself (full jitter)"
        suggestion = f"countdown=secrets.SystemRandom().uniform(0, {written})"
        fix = _full_jitter(code, delay, title, suggestion) or Fix.display(title, suggestion)
        return self.finding(ctx, message, fix, help, node=delay)

    def _loop(self, ctx: FileContext, loop: retry_loops.RetryLoop) -> Iterable[Finding]:
        code = ctx.python_file
        if retry_targets.few_loop_attempts(code, loop.loop):
            return  # a few attempts cannot form a herd
        for sleep in loop.sleeps:
            facts = retry_loops.delay_facts(code, sleep, loop)
            if facts.argument is None or facts.jitter or facts.unknown:
                continue
            yield self._loop_finding(ctx, sleep, facts)

    def _loop_finding(self, ctx: FileContext, sleep: ast.Call,
                      facts: retry_loops.Delay) -> Finding:
        code = ctx.python_file
        argument = facts.argument
        written = retries.written(code, argument).strip()
        shown = f" `{written}`" if len(written) <= 30 else ""
        message = (f"Retry sleep{shown} has no random jitter: clients that fail together retry "
                   "together")
        call = retries.written(code, sleep.func).strip()
        capped = written if facts.capped or not facts.growth else f"min({PY_CAP}, {written})"
        suggestion = f"{call}(secrets.SystemRandom().uniform(0, {capped}))"
        shape = "an exponential" if facts.growth else "a fixed"
        help = (
            f"The loop sleeps {shape} delay computed without randomness. "
            "Clients that fail at the same moment (a failover, a deadlock storm, a restart) "
            "sleep the same time and retry together, so the database sees synchronized waves "
            "of retries; exponential backoff spreads the waves out in time, only randomness "
            "spreads the clients within a wave. Full jitter (AWS, \"Exponential Backoff and "
            "Jitter\") sleeps `uniform(0, min(cap, base * 2 ** attempt))`. The fix draws the "
            "delay with `secrets.SystemRandom().uniform(0, d)`, which linters do not flag as "
            "insecure randomness (ruff S311, bandit B311 flag the `random` module); tenacity's "
            "`wait_random_exponential` does the same in a library.")
        title = "Draw the delay uniformly between 0 and itself (full jitter)"
        positional = retries.positional_args(sleep)
        if not positional or positional[0] is not argument:
            return self.finding(ctx, message, Fix.display(title, suggestion), help, node=sleep)
        return self.finding(ctx, message, _full_jitter(code, argument, title, suggestion), help,
                            node=sleep)

    def _tenacity(self, ctx: FileContext, use: retry_libraries.Tenacity) -> Iterable[Finding]:
        code = ctx.python_file
        value = use.argument("wait")
        if value is None or retry_targets.few_tenacity_attempts(code, use.argument("stop")):
            return
        fixed, jittered, unknown = retry_libraries.waits(code, value)
        if jittered or unknown or not fixed:
            return
        wait = fixed[0]
        short = retry_libraries.tenacity_name(code, wait)
        message = (f"tenacity's `{short}` has no random jitter: callers that fail together "
                   "retry together")
        help = (
            f"`{short}` computes the same delay for every caller, so callers that fail at the "
            "same moment (a failover, a deadlock storm) retry in synchronized waves. tenacity "
            "documents `wait_exponential` as unsuitable for contention between callers and "
            "offers `wait_random_exponential` (full jitter: a uniform draw between 0 and the "
            "capped exponential delay) for it; `wait_exponential_jitter` adds a bounded jitter, "
            "and any wait can be combined with `+ wait_random(0, x)`.")
        rendered = retries.written(code, wait).strip()
        if short == "wait_exponential":
            suggestion = "wait=" + rendered.replace("wait_exponential", "wait_random_exponential",
                                                    1)
        else:
            suggestion = (f"wait=wait_random_exponential(multiplier=0.1, max={PY_CAP})"
                          f"  # back off, full jitter\n"
                          f"# or keep the pace, with jitter: wait={rendered} + wait_random(0, 1)")
        title = "Use full jitter: `wait_random_exponential`"
        if short == "wait_exponential" and value is wait:
            tree, node = code.fix_tree, code.cst_of(wait)
            edits = rename_call(tree, node, "tenacity", "wait_exponential",
                                "wait_random_exponential") if node is not None else []
            if edits:
                fix = Fix(title, Applicability.UNSAFE, tuple(edits), suggestion)
                yield self.finding(ctx, message, fix, help, node=wait)
                return
        shown = wait if value is wait else value
        yield self.finding(ctx, message, Fix.display(title, suggestion), help,
                           span=code.span(shown))

    def _backoff(self, ctx: FileContext, use: retry_libraries.Backoff) -> Iterable[Finding]:
        code = ctx.python_file
        arg = use.keyword("jitter")
        if arg is None or not (isinstance(arg.value, ast.Constant) and arg.value.value is None):
            return
        message = ("`jitter=None` switches off backoff's jitter: callers that fail together "
                   "retry together")
        help = (
            "backoff draws every delay with full jitter by default (`backoff.full_jitter`: a "
            "uniform draw between 0 and the computed delay); `jitter=None` makes every caller "
            "wait exactly the same time, so callers that fail at the same moment (a failover, "
            "a deadlock storm) retry in synchronized waves. Remove the argument to get the "
            "default back.")
        title = "Remove `jitter=None` (backoff's default is full jitter)"
        tree, call, removed = code.fix_tree, code.cst_of(use.call), code.cst_of(arg)
        fix = None
        if tree is not None and call is not None and removed is not None:
            edit = remove_argument(tree, call, removed)
            start, end = code.span(use.call)
            suggestion = code.text[start:edit.start] + code.text[edit.end:end]
            fix = Fix(title, Applicability.UNSAFE, (edit,), suggestion)
        yield self.finding(ctx, message, fix, help, node=arg)

    # -- SQL ---------------------------------------------------------------------------------

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt):
            return
        table = n.relation_name(node.get("relation"))
        if not table:
            return
        for target in node.get("targetList") or ():
            res = target.get("ResTarget", {})
            column, value = res.get("name") or "", res.get("val") or {}
            if not NEXT_ATTEMPT_COLUMN.search(column) or has_jitter(value):
                continue
            found = time_plus_delay(value)
            if found is None:
                continue
            plus, delay, on_right = found
            evidence = retry_evidence(ctx, table, node, delay)
            if evidence is None:
                continue
            yield self._finding(ctx, stmt, res, column, plus, delay, on_right, evidence)
            return

    def _finding(self, ctx: FileContext, stmt: Statement, target: dict[str, Any], column: str,
                 plus: dict[str, Any], delay: dict[str, Any], on_right: bool,
                 evidence: str) -> Finding:
        exponential = bool(exponents(delay))
        shape = "an exponential" if exponential else "a fixed"
        message = (f"`{column}` is pushed back by {shape} delay with no random jitter, so jobs "
                   "that fail together retry together")
        help = (
            f"This looks like a retry queue's failure path ({evidence}). Jobs that fail at the "
            "same time (a downstream outage, a deadlock storm) are rescheduled to the same "
            "instant, retry together and fail together again: synchronized waves of load on the "
            "database and the struggling dependency. Backoff spreads the waves out; only "
            "randomness spreads the jobs within a wave. Full jitter draws the delay uniformly "
            "between zero and the capped exponential delay: `interval '1 second' * random() * "
            f"least({CAP}, 2 ^ attempt_count)`. Equal jitter (`d/2 + random() * d/2`) keeps a "
            "minimum delay if you need one.")
        counter = counter_in(delay) or "attempt_count"
        suggestion = (f"{column} = now() + interval '1 second' * random() * "
                      f"least({CAP}, 2 ^ {counter})")
        title = "Multiply the delay by `random()` (full jitter)"
        start, end = assignment_span(ctx, stmt, target)
        plus_token = None
        if on_right and stmt.exact:
            at = stmt.offset(plus.get("location"))
            plus_token = next((t for t in ctx.tokens(stmt) if t.start == at and t.text == "+"),
                              None)
        if plus_token is None:
            fix = Fix.display(title, suggestion)
        else:
            fix = Fix(title, Applicability.UNSAFE, (Edit.insert(plus_token.end, " random() *"),),
                      suggestion)
        return self.finding(ctx, message, fix, help, span=(start, end))


def _full_jitter(code: Any, delay: ast.expr, title: str, suggestion: str) -> Fix | None:
    """The unsafe fix that wraps `delay` in `secrets.SystemRandom().uniform(0, ...)`, importing
    `secrets` where needed (placed by libcst's reading of the file), or None without one."""
    tree = code.fix_tree
    if tree is None:
        return None
    local, import_edit = tree.add_import("secrets")
    edits = [retries.wrap(code, delay, f"{local}.SystemRandom().uniform(0, ")]
    if import_edit is not None:
        edits.append(import_edit)
    return Fix(title, Applicability.UNSAFE, tuple(edits), suggestion)
