"""PGL209 retry-non-transient (Python: retries that catch every database error)."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit import retries, retry_libraries, retry_loops, retry_targets
from pglint.kit.retry_rules import WITH_DECORATORS, RetryForms
from pglint.python.pyfile import PythonFile, has_star
from pglint.rule import Example, Rule


@dataclass(frozen=True)
class _Transient:
    """How a driver's code names the transient errors."""

    driver: str
    imports: str
    classes: str  # the exception classes, as a tuple's items
    sqlstate: str  # how to read the SQLSTATE in a handler (`exc` is the caught exception)


_TRANSIENT = {
    "psycopg": _Transient(
        "psycopg 3", "from psycopg import OperationalError, errors",
        "errors.SerializationFailure, errors.DeadlockDetected, errors.AdminShutdown, "
        "OperationalError", "exc.sqlstate"),
    "psycopg2": _Transient(
        "psycopg2", "from psycopg2 import OperationalError, errors",
        "errors.SerializationFailure, errors.DeadlockDetected, errors.AdminShutdown, "
        "OperationalError", "exc.pgcode"),
    "asyncpg": _Transient(
        "asyncpg", "from asyncpg import exceptions",
        "exceptions.SerializationError, exceptions.DeadlockDetectedError, "
        "exceptions.AdminShutdownError, exceptions.PostgresConnectionError, OSError",
        "exc.sqlstate"),
    "sqlalchemy": _Transient(
        "SQLAlchemy", "from sqlalchemy.exc import OperationalError", "OperationalError",
        'getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)'),
    "django": _Transient(
        "Django", "from django.db import OperationalError", "OperationalError",
        'getattr(exc.__cause__, "sqlstate", None) or getattr(exc.__cause__, "pgcode", None)'),
}
_GENERIC = _Transient(
    "your driver", "# the driver's serialization, deadlock and connection error classes",
    "SerializationFailure, DeadlockDetected, AdminShutdown, OperationalError", "exc.sqlstate")
_WHY = "unique violations and syntax errors get retried too"


def _tuple(classes: str, prefix: str, suffix: str, width: int = 88) -> str:
    """`prefix(A, B, C)suffix` (the parentheses only for several classes), wrapped under the
    opening parenthesis when the line would be longer than `width`."""
    items = classes.split(", ")
    if len(items) == 1:
        return f"{prefix}{classes}{suffix}"
    lines, line = [], prefix + "("
    indent = " " * len(line)
    for i, item in enumerate(items):
        piece = item + (", " if i < len(items) - 1 else ")" + suffix)
        if len(line) + len(piece.rstrip()) > width and line.strip() not in ("", "("):
            lines.append(line.rstrip())
            line = indent
        line += piece
    lines.append(line)
    return "\n".join(lines)


def _psycopg(code: str) -> str:
    return ("import time\n\nimport psycopg\n\n\n"
            "def transfer(conn: psycopg.Connection) -> None:\n"
            "    for attempt in range(5):\n"
            "        try:\n"
            "            with conn.transaction():\n"
            "                conn.execute(\"INSERT INTO transfers (id) VALUES (1)\")\n"
            "            return\n"
            f"        {code}\n"
            "            time.sleep(0.1 * 2 ** attempt)\n"
            "    raise RuntimeError(\"gave up\")\n")


class RetryNonTransient(RetryForms, Rule):
    """
    ## What it does
    Flags a retry that catches database errors broadly:
    - a hand-written retry loop (a `for attempt in range(n)` or `while` loop around a
      `try`/`except` whose handler retries, with a `time.sleep`/`asyncio.sleep`) whose handler
      catches `Exception`, `BaseException`, a bare `except:`, `DatabaseError` (psycopg,
      psycopg2, Django, SQLAlchemy), `psycopg.Error`, `psycopg2.Error`, `django.db.Error`,
      `sqlalchemy.exc.DBAPIError`/`SQLAlchemyError` or asyncpg's `PostgresError`;
    - tenacity's `@retry`/`Retrying(...)` with `retry=retry_if_exception_type(<one of those>)`
      (or with no argument: it means `Exception`), or with no `retry=` at all: tenacity retries
      every exception by default;
    - backoff's `on_exception(wait_gen, <one of those>, ...)`.

    `Exception`, a bare `except` and tenacity's default need evidence that the retried code
    talks to PostgreSQL: the file imports psycopg, psycopg2, asyncpg, SQLAlchemy (or SQLModel)
    or Django, and the code retried calls it, directly or through a function of the same file
    (a loop that retries a search engine, an HTTP API or a cache in such a file is not this
    rule's). It stays silent on handlers that catch broadly but re-raise what is not transient
    (an `if` on the caught exception, its `sqlstate`/`pgcode` or `isinstance`, that raises),
    on tenacity predicates it cannot read (`retry_if_exception(fn)`), and on
    `OperationalError`: in psycopg, psycopg2, SQLAlchemy and Django it holds connection
    failures (08xxx), admin shutdown (57P01) and, as subclasses, serialization failures
    (40001) and deadlocks (40P01). It also holds `query_canceled` (57014, a
    `statement_timeout`), `lock_not_available` (55P03) and out-of-resources errors (53xxx):
    retrying those can be right (lock timeouts) or just repeat a slow query, so the choice is
    left to the code.

    ## Why is this bad?
    A retry is only useful for errors that another attempt can cure: a serialization failure
    or a deadlock (the transaction lost a race and can run again), a dropped connection, a
    server restart. A unique violation, a check or foreign key violation, a syntax error, an
    undefined column or a permission error fails the same way every time: retrying it only
    multiplies the load on the database, delays the real error by the whole backoff, and,
    when the operation is not idempotent, can repeat side effects of a partly applied attempt.

    ## Example
    ```python
    for attempt in range(5):
        try:
            return transfer(conn)
        except Exception:
            time.sleep(secrets.SystemRandom().uniform(0, min(30, 0.1 * 2 ** attempt)))

    @retry(stop=stop_after_attempt(5), wait=wait_random_exponential(max=30))
    def transfer(): ...
    ```

    ## Use instead
    Retry the transient errors only (psycopg 3 shown; psycopg2 has the same names in
    `psycopg2.errors`, asyncpg has `SerializationError`, `DeadlockDetectedError`,
    `AdminShutdownError` and `PostgresConnectionError`, SQLAlchemy and Django wrap the
    driver's error in their `OperationalError`):
    ```python
    from psycopg import OperationalError, errors

    TRANSIENT = (errors.SerializationFailure, errors.DeadlockDetected, errors.AdminShutdown,
                 OperationalError)  # 40001, 40P01, 57P01, connection errors (08xxx)

    for attempt in range(5):
        try:
            return transfer(conn)
        except TRANSIENT:
            if attempt == 4:
                raise
            time.sleep(secrets.SystemRandom().uniform(0, min(30, 0.1 * 2 ** attempt)))

    @retry(retry=retry_if_exception_type(TRANSIENT), stop=stop_after_attempt(5),
           wait=wait_random_exponential(max=30))
    def transfer(): ...
    ```
    To retry exactly the transient SQLSTATEs, catch broadly and re-raise the others (psycopg2:
    `exc.pgcode`; a connection lost on the client side is an `OperationalError` without a
    SQLSTATE):
    ```python
        except psycopg.Error as exc:
            transient = exc.sqlstate in ("40001", "40P01", "57P01") or (
                isinstance(exc, psycopg.OperationalError)
                and (exc.sqlstate or "08").startswith("08"))
            if not transient:
                raise
    ```

    ## Fix safety
    Display only: pglint shows the transient classes of the driver the file imports (the
    exception's own module when it names one). Which errors are worth another attempt depends
    on the operation: a lock timeout (55P03) may be, a statement timeout (57014) rarely is,
    and an idempotent insert may even want to retry a unique violation with a new key.
    """

    code = "PGL209"
    name = "retry-non-transient"
    summary = "Retry that catches every database error: permanent errors are retried too"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 6 findings on repositories it was not tuned on (round "
        "18: bounded start-up retries, handlers that never lead to another attempt, a test "
        "fixture): which handler retries, and whether the retried code can fail for good, is "
        "not told apart; its narrower `except` broke working code in 3 of them"
    )
    references = (
        "https://www.postgresql.org/docs/current/mvcc-serialization-failure-handling.html",
        "https://www.postgresql.org/docs/current/errcodes-appendix.html",
    )
    file_kinds = frozenset()
    python_nodes = WITH_DECORATORS
    python_hint = (
        # The rarest requirement first: the others are only tested on files that pass it.
        ("sleep(", "tenacity", "backoff"), ("except", "tenacity", "backoff"),
        ("psycopg", "asyncpg", "sqlalchemy", "sqlmodel", "django", "DatabaseError",
         "DBAPIError", "SQLAlchemyError", "PostgresError"),
    )

    VALID = (
        # The transient classes, listed.
        Example(_psycopg("except (psycopg.errors.SerializationFailure, "
                         "psycopg.errors.DeadlockDetected):"), kind="python"),
        # OperationalError holds connection errors, 40001 and 40P01.
        Example(_psycopg("except psycopg.OperationalError:"), kind="python"),
        # Caught broadly, the permanent errors re-raised.
        Example("import time\n\nimport psycopg2\n\nTRANSIENT = {'40001', '40P01', '57P01'}\n\n\n"
                "def run(conn):\n"
                "    for attempt in range(5):\n"
                "        try:\n"
                "            return conn.cursor().execute(\"SELECT 1\")\n"
                "        except psycopg2.Error as exc:\n"
                "            if exc.pgcode not in TRANSIENT:\n"
                "                raise\n"
                "            time.sleep(0.1 * 2 ** attempt)\n", kind="python"),
        # The documented filter: a variable computed from the exception decides.
        Example(_psycopg("except psycopg.Error as exc:\n"
                         "            transient = exc.sqlstate in (\"40001\", \"40P01\") or "
                         "isinstance(\n"
                         "                exc, psycopg.OperationalError)\n"
                         "            if not transient:\n"
                         "                raise"), kind="python"),
        # tenacity and backoff told what to retry.
        Example("import backoff\nfrom django.db import OperationalError\n"
                "from tenacity import retry, retry_if_exception_type, stop_after_attempt\n\n\n"
                "@retry(retry=retry_if_exception_type(OperationalError),"
                " stop=stop_after_attempt(5))\n"
                "def a(): ...\n\n\n"
                "@backoff.on_exception(backoff.expo, OperationalError, max_tries=5)\n"
                "def b(): ...\n", kind="python"),
        # Not database code: `except Exception` around an HTTP call.
        Example("import time\n\nimport requests\n\n\n"
                "def fetch(url):\n"
                "    for attempt in range(3):\n"
                "        try:\n"
                "            return requests.get(url, timeout=5)\n"
                "        except Exception:\n"
                "            time.sleep(1)\n", kind="python"),
        # The file uses SQLAlchemy, but the loop retries a search-engine call: not this rule's.
        Example("import time\n\nfrom sqlalchemy.orm import Session\n\n\n"
                "def setup(index, session: Session):\n"
                "    for attempt in range(10):\n"
                "        try:\n"
                "            index.ensure_created()\n"
                "            break\n"
                "        except Exception:\n"
                "            time.sleep(5)\n", kind="python"),
        # The book's circuit breaker re-raises: not a retry.
        Example("from psycopg import DatabaseError\n\n\n"
                "class CircuitBreaker:\n"
                "    def call(self, func, *args):\n"
                "        try:\n"
                "            result = func(*args)\n"
                "            self.on_success()\n"
                "            return result\n"
                "        except DatabaseError:\n"
                "            self.on_failure()\n"
                "            raise\n", kind="python"),
    )
    INVALID = (
        Example(_psycopg("except Exception:"), kind="python"),
        # A bare except in a while loop (psycopg2).
        Example("import time\n\nimport psycopg2\n\n\n"
                "def connect(dsn):\n"
                "    attempt = 0\n"
                "    while attempt < 5:\n"
                "        try:\n"
                "            return psycopg2.connect(dsn)\n"
                "        except:  # noqa: E722\n"
                "            attempt += 1\n"
                "            time.sleep(1)\n", kind="python"),
        # A broad class among transient ones; asyncpg; async.
        Example("import asyncio\n\nimport asyncpg\n\n\n"
                "async def fetch(pool):\n"
                "    for attempt in range(5):\n"
                "        try:\n"
                "            return await pool.fetch(\"SELECT 1\")\n"
                "        except (asyncpg.exceptions.DeadlockDetectedError, "
                "asyncpg.PostgresError):\n"
                "            await asyncio.sleep(0.1 * 2 ** attempt)\n", kind="python"),
        # tenacity: no `retry=` means every exception.
        Example("import psycopg\n"
                "from tenacity import retry, stop_after_attempt, wait_random_exponential\n\n\n"
                "@retry(stop=stop_after_attempt(5), wait=wait_random_exponential(max=30))\n"
                "def transfer(conn: psycopg.Connection) -> None:\n"
                "    conn.execute(\"SELECT 1\")\n", kind="python"),
        # tenacity told to retry DatabaseError (Django).
        Example("import tenacity\nfrom django.db import DatabaseError, transaction\n\n\n"
                "@tenacity.retry(\n"
                "    retry=tenacity.retry_if_exception_type(DatabaseError),\n"
                "    stop=tenacity.stop_after_attempt(3),\n"
                ")\n"
                "def place_order(order):\n"
                "    with transaction.atomic():\n"
                "        order.save()\n", kind="python"),
        # backoff on SQLAlchemy's DBAPIError.
        Example("import backoff\nimport sqlalchemy.exc\n\n\n"
                "@backoff.on_exception(backoff.expo, sqlalchemy.exc.DBAPIError, max_tries=5)\n"
                "def save(session, row):\n"
                "    session.add(row)\n"
                "    session.commit()\n", kind="python"),
    )

    def _loop(self, ctx: FileContext, loop: retry_loops.RetryLoop) -> Iterable[Finding]:
        code = ctx.python_file
        # Whether the loop's code reaches PostgreSQL: read once, and only for a handler that
        # catches everything.
        reaches = functools.cache(lambda: retry_targets.reaches_database(code, loop.loop.body))
        for handler in loop.handlers:
            broad = self._broad_handler(code, handler, reaches)
            if broad is None or retry_libraries.filters_errors(code, handler):
                continue
            name, qualified, node_at = broad
            transient = self._transient(code, qualified)
            caught = f" as {handler.name}" if handler.name is not None else ""
            shown = "a bare `except:`" if name == "" else f"`{name}`"
            message = f"Retry loop catches {shown}: {_WHY}"
            suggestion = (f"{transient.imports}\n\n"
                          + _tuple(transient.classes, "except ", f"{caught}:"))
            start = code.span(handler)[0]
            end = code.span(node_at)[1] if node_at is not None \
                else start + len("except")
            yield self.finding(ctx, message, self._fix(suggestion), self._help(transient),
                               span=(start, end))

    def _broad_handler(self, code: PythonFile, handler: ast.ExceptHandler,
                       reaches: Callable[[], bool]) -> tuple[str, str, Any] | None:
        """(the broad class as written, its qualified name, the handler's type node), or
        ("", "", None) for a bare except; None if the handler catches specific errors, or
        catches everything (`except:`, `Exception`) around code that does not reach PostgreSQL
        (`reaches`: an HTTP, search-engine or cache call retried is not this rule's)."""
        if handler.type is None:
            return ("", "", None) if reaches() else None
        for cls in retry_libraries.exception_classes(code, handler.type):
            name = retry_libraries.broad_class(code, cls)
            if name is None:
                continue
            if name in retries.BROAD_BUILTINS and not reaches():
                continue
            return retries.written(code, cls).strip(), name, handler.type
        return None

    def _tenacity(self, ctx: FileContext, use: retry_libraries.Tenacity) -> Iterable[Finding]:
        code = ctx.python_file
        if use.call is not None and has_star(use.call):
            return
        transient = self._transient(code, "")
        predicate = code.is_imported("tenacity", "retry_if_exception_type") or \
            "retry_if_exception_type"
        suggestion = (f"{transient.imports}\n\n"
                      + _tuple(transient.classes, f"retry={predicate}(", "),"))
        value = use.argument("retry")
        reaches = retry_targets.reaches_database(code, retry_targets.retried_code(code, use.node))
        if value is None:
            if not reaches:
                return
            shown = f"@{retries.written(code, use.node).strip()}" if use.call is None else \
                f"{'@' if retry_libraries.decorates(code, use.node) else ''}" \
                f"{retries.written(code, use.node.func).strip()}(...)"
            message = f"`{shown}` without `retry=` retries every exception: {_WHY}"
            if len(message) > 110:
                message = f"tenacity without `retry=` retries every exception: {_WHY}"
            yield self.finding(ctx, message, self._fix(suggestion), self._help(transient),
                               node=use.node if use.call is None else use.node.func)
            return
        for part in [value, *code.descendants(value)]:
            if retry_libraries.tenacity_name(code, part) != "retry_if_exception_type":
                continue
            first = retries.first_argument(part)
            types = first.value if isinstance(first, ast.keyword) else first
            if isinstance(first, ast.Starred) or (isinstance(first, ast.keyword)
                                                  and first.arg is None):
                types = None  # `*args`, `**kwargs`: read as no argument
            if types is None:
                name = qualified = "Exception"  # tenacity's default
            else:
                name, qualified = next(
                    ((retries.written(code, c).strip(), retry_libraries.broad_class(code, c))
                     for c in retry_libraries.exception_classes(code, types)
                     if retry_libraries.broad_class(code, c)), (None, None))
            if name is None or qualified is None:
                continue
            if qualified in retries.BROAD_BUILTINS and not reaches:
                continue
            transient = self._transient(code, qualified)
            suggestion = (f"{transient.imports}\n\n"
                          + _tuple(transient.classes, f"retry={predicate}(", "),"))
            message = f"tenacity retries `{name}`: {_WHY}"
            yield self.finding(ctx, message, self._fix(suggestion), self._help(transient),
                               node=part)
            return

    def _backoff(self, ctx: FileContext, use: retry_libraries.Backoff) -> Iterable[Finding]:
        code = ctx.python_file
        exception = use.exception
        if exception is None:
            return  # `on_predicate`, or no exception given: nothing caught to judge
        reaches = None
        for cls in retry_libraries.exception_classes(code, exception):
            name = retry_libraries.broad_class(code, cls)
            if name is None:
                continue
            if name in retries.BROAD_BUILTINS:
                if reaches is None:
                    reaches = retry_targets.reaches_database(
                        code, retry_targets.retried_code(code, use.call))
                if not reaches:
                    continue
            shown = retries.written(code, cls).strip()
            transient = self._transient(code, name)  # the qualified name
            wait_gen = retries.positional_args(use.call)
            wait = retries.written(code, wait_gen[0]).strip() if wait_gen else "backoff.expo"
            suggestion = (f"{transient.imports}\n\n"
                          + _tuple(transient.classes, f"@backoff.on_exception({wait}, ",
                                   ", max_tries=5)"))
            message = f"backoff retries `{shown}`: {_WHY}"
            yield self.finding(ctx, message, self._fix(suggestion), self._help(transient),
                               span=code.span(exception))
            return

    @staticmethod
    def _transient(code: PythonFile, caught: str) -> _Transient:
        """The transient classes of the driver the caught class comes from, else of the
        driver the file imports."""
        head = caught.split(".")[0]
        if head in _TRANSIENT:
            return _TRANSIENT[head]
        if head == "sqlmodel":
            return _TRANSIENT["sqlalchemy"]
        library = retries.db_library(code)
        return _TRANSIENT.get(library or "", _GENERIC)

    @staticmethod
    def _fix(suggestion: str) -> Fix:
        return Fix.display("Retry only transient errors (40001, 40P01, 57P01, 08xxx)", suggestion)

    @staticmethod
    def _help(transient: _Transient) -> str:
        return (
            "Only some errors are worth another attempt: serialization failure (40001) and "
            "deadlock (40P01), where the transaction lost a race and can run again, connection "
            "errors (08xxx) and admin shutdown (57P01). A unique violation, a syntax error or "
            "a permission error fails the same way every time: retrying it multiplies the "
            "load, delays the real error by the whole backoff, and may repeat side effects of "
            f"a partly applied attempt. With {transient.driver}, catch "
            f"`{_tuple(transient.classes, '', '', width=1000)}`, or catch broadly and re-raise "
            "unless "
            f"`{transient.sqlstate}` is one of those SQLSTATEs. `OperationalError` also holds "
            "57014 (statement timeout) and 55P03 (lock timeout): decide whether those deserve "
            "a retry.")
