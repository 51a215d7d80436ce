"""Readers of retry-queue SQL shared by PGL207 (jitter) and PGL208 (bounds and caps), and the
examples both rules use."""

from __future__ import annotations

import re
from typing import Any, Callable

from pglint.context import FileContext
from pglint.kit.sql_tokens import group_end
from pglint.sql import nodes as n
from pglint.model.workload import is_increment
from pglint.sql.parse import Statement, iter_nodes

# Columns that hold when a job may run next.
NEXT_ATTEMPT_COLUMN = re.compile(
    r"next|retry|retries|attempt|run_after|run_at|scheduled|available|visible|not_before|backoff"
    r"|wake|due|deferred|delay", re.IGNORECASE)
# Columns that count attempts.
ATTEMPT_COUNTER = re.compile(
    r"(?:num_|n_)?(?:attempts?|retr(?:y|ies)|tries|try|failures?|failed_attempts|errors?)"
    r"(?:_count|_no|_number|_total)?", re.IGNORECASE)
COMPARISONS = {"<", "<=", ">", ">="}
TIME_NOW = {"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp"}
EXPONENT_FUNCTIONS = {"power", "pow", "exp"}
CAP = 600  # seconds: suggested ceiling on the delay, in the formula's base unit
# Python: the ceiling a suggested in-process backoff gets, in seconds (a caller is waiting).
PY_CAP = 30

_QUEUE = ("CREATE TABLE retry_queue (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
          "    payload jsonb,\n    attempt_count int DEFAULT 0,\n"
          "    next_attempt_at timestamptz DEFAULT now(),\n    error_message text\n);\n")
# The example project of the rules' SQL examples: a retry queue with an attempt counter.
CONTEXT = {"migrations/V1__retry_queue.sql": _QUEUE}

# The book's client-side retry (40.2.3).
CHAPTER_RETRY = """\
# Industry-standard retry with jitter
import random
import time

def execute_with_retry(func, max_retries=5):
    for attempt in range(max_retries):
        try:
            return func()
        except TransientError as e:
            if attempt == max_retries - 1:
                raise

            # Exponential backoff: 100ms, 200ms, 400ms, 800ms, 1.6s
            base_delay = (2 ** attempt) * 0.1

            # Full jitter prevents synchronized retries across clients
            jitter = random.uniform(0, base_delay)
            sleep_time = base_delay + jitter

            time.sleep(sleep_time)
"""


# Columns that hold a job's own attempt limit: the bound is enforced where that is read.
MAX_ATTEMPTS_COLUMN = re.compile(
    r"(?:max_?(?:attempts?|retr(?:y|ies)|tries)|(?:attempts?|retry|retries)_?(?:limit|max))",
    re.IGNORECASE)
# States a job ends in when it gives up: a poll that takes only another state never sees it.
TERMINAL_FAILURE = re.compile(
    r"^(?:failed|failure|discarded|dead|errored|error|abandoned|exhausted|gave_up|given_up)$",
    re.IGNORECASE)


# States a worker's fetch moves a job to.
RUNNING_STATE = re.compile(
    r"^(?:running|processing|in_progress|in-progress|doing|active|started|working|claimed"
    r"|locked|leased|reserved|picked|taken|executing|busy|assigned)$", re.IGNORECASE)
STATE_COLUMN = re.compile(r"^(?:status|state|job_status|job_state|phase)$", re.IGNORECASE)
# Columns a worker's fetch stamps with who holds the job, or since when.
LEASE_COLUMN = re.compile(
    r"(?:^|_)(?:locked|claimed|leased?|attempted|started|picked|reserved|worker|owner"
    r"|heartbeat)(?:_|$)", re.IGNORECASE)


def update_claims(body: dict[str, Any]) -> bool:
    """An UPDATE that moves the rows it sets to a worker: a state column set to a running
    state (`status = 'running'`), a lease column set to a value (`locked_by = $1`,
    `started_at = now()`), or an attempt counter incremented."""
    for target in body.get("targetList") or ():
        res = target.get("ResTarget", {})
        column, value = res.get("name") or "", res.get("val") or {}
        is_const, literal = n.constant(value)
        if STATE_COLUMN.match(column) and is_const and isinstance(literal, str) \
                and RUNNING_STATE.match(literal):
            return True
        if LEASE_COLUMN.search(column) and not (is_const and literal is None):
            return True
        if is_attempt_counter(column) and is_increment(column, value):
            return True
    return False


def workload_claims(ctx: FileContext, table: str) -> bool:
    """Run-time code hands rows of table to workers elsewhere (a separate UPDATE after the
    poll): it sets a lease column or increments an attempt counter there."""
    for write in ctx.model.workload.of(table, "update"):
        if any(LEASE_COLUMN.search(c) for c in write.columns) or \
                any(is_attempt_counter(c) for c in write.increments) or \
                any(STATE_COLUMN.match(c) for c in write.columns):
            return True
    return False


def _catalog_column(ctx: FileContext, table: str, wanted: Callable[[str], Any]) -> str | None:
    """The first column of the catalog's `table` that `wanted` accepts, if any."""
    known = ctx.model.catalog.table(table)
    if known is None:
        return None
    return next((c for c in known.columns if wanted(c)), None)


def attempt_limit_column(ctx: FileContext, table: str) -> str | None:
    """The catalog's per-job attempt-limit column of table (`max_attempts`), if any."""
    return _catalog_column(ctx, table, MAX_ATTEMPTS_COLUMN.fullmatch)


def incremented_at_run_time(ctx: FileContext, table: str, counter: str) -> bool:
    """Run-time code counts attempts in `counter` (`SET attempts = attempts + 1` on table):
    a column copied from elsewhere is an attempt's number, not a counter this queue keeps."""
    return any(counter in w.increments for w in ctx.model.workload.of(table, "update"))


def skips_terminal_state(ctx: FileContext, table: str, where: dict[str, Any] | None) -> str | None:
    """The state column a poll's WHERE pins to a live state (`status = 'todo'`) when that
    column's enum has a terminal failure state (`failed`, `discarded`): jobs that used up their
    attempts end there and the poll never takes them again. None otherwise."""
    known = ctx.model.catalog.table(table)
    if known is None:
        return None
    for part in n.conjuncts(where):
        found = n.equality(part)
        if found is None:
            continue
        column, value = found
        is_const, literal = n.constant(value)
        info = known.columns.get(column)
        if not is_const or not isinstance(literal, str) or info is None:
            continue
        labels = ctx.model.catalog.enums.get(info.type) or \
            ctx.model.catalog.enums.get(info.type.rsplit(".", 1)[-1]) or ()
        if literal in labels and any(TERMINAL_FAILURE.match(label) for label in labels) \
                and not TERMINAL_FAILURE.match(literal):
            return column
    return None


def is_attempt_counter(column: str) -> bool:
    return bool(ATTEMPT_COUNTER.fullmatch(column))


def counter_in(node: Any) -> str | None:
    """The first attempt-counter column read under node, if any."""
    for kind, body in iter_nodes(node):
        if kind == "ColumnRef":
            name = n.column_ref({"ColumnRef": body})
            if name and is_attempt_counter(name):
                return name
    return None


def counter_of(ctx: FileContext, table: str) -> str | None:
    """The catalog's attempt-counter column of table, if any."""
    return _catalog_column(ctx, table, is_attempt_counter)


def is_now(node: dict[str, Any] | None) -> bool:
    """now(), clock_timestamp(), CURRENT_TIMESTAMP ... (through casts)."""
    while node and "TypeCast" in node:
        node = node["TypeCast"].get("arg") or {}
    if not node:
        return False
    if "FuncCall" in node:
        return n.func_name(node["FuncCall"]) in TIME_NOW
    if "SQLValueFunction" in node:
        return "CURRENT_TIMESTAMP" in node["SQLValueFunction"].get("op", "") or \
            "LOCALTIMESTAMP" in node["SQLValueFunction"].get("op", "")
    return False


def time_plus_delay(value: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bool] | None:
    """The first `now() + <delay>` (or `<delay> + now()`) under value.

    Returns (the `+` A_Expr, the delay node, True when the delay is on the right).
    """
    for kind, body in iter_nodes(value):
        if kind != "A_Expr" or body.get("kind") != "AEXPR_OP" or n.operator(body) != "+":
            continue
        left, right = body.get("lexpr"), body.get("rexpr")
        if is_now(left) and right:
            return body, right, True
        if is_now(right) and left:
            return body, left, False
    return None


def exponents(node: Any) -> list[dict[str, Any]]:
    """`x ^ y` A_Exprs and power()/exp() FuncCalls under node."""
    out = []
    for kind, body in iter_nodes(node):
        if kind == "A_Expr" and body.get("kind") == "AEXPR_OP" and n.operator(body) == "^":
            out.append(body)
        elif kind == "FuncCall" and n.func_name(body) in EXPONENT_FUNCTIONS:
            out.append(body)
    return out


def assignment_span(ctx: FileContext, stmt: Statement, target: dict[str, Any]) -> tuple[int, int]:
    """File offsets of `column = value` of an UPDATE's SET list (the statement if unknown)."""
    start = stmt.offset(target.get("location"))
    if not stmt.exact or start == stmt.start:
        return stmt.start, stmt.end
    tokens = [t for t in ctx.tokens(stmt) if t.start >= start and not t.is_comment]
    stop = group_end(tokens, 0, lambda t: t.text == "," or t.upper in ("FROM", "WHERE",
                                                                          "RETURNING"))
    return start, tokens[stop - 1].end if stop else start


# -- polls and counters (PGL208) -----------------------------------------------------------

def locking_poll(select: dict[str, Any]) -> bool:
    """A locking SELECT that takes whatever rows are due: a LIMIT or SKIP LOCKED."""
    return bool(select.get("limitCount")) or any(
        c.get("LockingClause", {}).get("waitPolicy") == "LockWaitSkip"
        for c in select.get("lockingClause") or ())


def pinned_to_list(where: dict[str, Any] | None) -> set[str]:
    """Columns a WHERE pins to a list of given values (`id = ANY($1)`)."""
    out = set()
    for part in n.conjuncts(where):
        expr = part.get("ScalarArrayOpExpr") or part.get("A_Expr")
        if not expr:
            continue
        if "A_Expr" in part and expr.get("kind") not in ("AEXPR_OP_ANY", "AEXPR_IN"):
            continue
        column = n.column_ref(expr.get("lexpr"))
        if column is not None:
            out.add(column)
    return out


def increments_in(stmt: Statement, table: str, counter: str) -> bool:
    """The statement itself counts the attempt (`UPDATE t SET attempts = attempts + 1`)."""
    return counter in incremented_by(stmt, table)


def incremented_by(stmt: Statement, table: str) -> list[str]:
    """The columns of table the statement increments (`SET app_retries = app_retries + 1`):
    a comparison of any of them in the statement bounds the retry
    (`AND step.retries > t.app_retries`)."""
    found = []
    for kind, body in iter_nodes(stmt.node):
        if kind != "UpdateStmt" or n.relation_name(body.get("relation")) != table:
            continue
        for target in body.get("targetList") or ():
            res = target.get("ResTarget", {})
            name = res.get("name") or ""
            if name and is_increment(name, res.get("val") or {}):
                found.append(name)
    return found


def compares_counter(node: Any, counter: str) -> bool:
    """A `<`, `<=`, `>`, `>=` or BETWEEN comparison that reads the counter column."""
    for kind, body in iter_nodes(node):
        if kind != "A_Expr":
            continue
        if body.get("kind") == "AEXPR_OP" and n.operator(body) not in COMPARISONS:
            continue
        if body.get("kind") not in ("AEXPR_OP", "AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            continue
        if any(k == "ColumnRef" and n.column_ref({"ColumnRef": b}) == counter
               for k, b in iter_nodes(body)):
            return True
    return False
