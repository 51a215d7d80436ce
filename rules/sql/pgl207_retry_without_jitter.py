"""PGL207 retry-without-jitter (the SQL form: retry queues computing the next attempt)."""

from __future__ import annotations

import re
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.model.workload import is_increment
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

# Columns that hold when a job may run next.
NEXT_ATTEMPT_COLUMN = re.compile(
    r"next|retry|retries|attempt|run_after|run_at|scheduled|available|visible|not_before|backoff"
    r"|wake|due|deferred|delay", re.IGNORECASE)
# Tables that hold work to be retried.
RETRY_TABLE = re.compile(
    r"(?:^|_)(?:retr(?:y|ies)|queues?|jobs?|tasks?|outbox|deliver(?:y|ies)|webhooks?|messages?"
    r"|dead_letters?)(?:$|_)", re.IGNORECASE)
# Columns that count attempts.
ATTEMPT_COUNTER = re.compile(
    r"(?:num_|n_)?(?:attempts?|retr(?:y|ies)|tries|try|failures?|failed_attempts|errors?)"
    r"(?:_count|_no|_number|_total)?", re.IGNORECASE)
TIME_NOW = {"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp"}
EXPONENT_FUNCTIONS = {"power", "pow", "exp"}
CAP = 600  # seconds: suggested ceiling on the delay, in the formula's base unit

_QUEUE = ("CREATE TABLE retry_queue (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
          "    payload jsonb,\n    attempt_count int DEFAULT 0,\n"
          "    next_attempt_at timestamptz DEFAULT now(),\n    error_message text\n);\n")
_CONTEXT = {"migrations/V1__retry_queue.sql": _QUEUE}


def is_attempt_counter(column: str) -> bool:
    return bool(ATTEMPT_COUNTER.fullmatch(column))


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


def has_jitter(node: Any) -> bool:
    return any(name.startswith("random") for name, _ in n.calls(node))


def assignment_span(ctx: FileContext, stmt: Statement, target: dict[str, Any]) -> tuple[int, int]:
    """File offsets of `column = value` of an UPDATE's SET list (the statement if unknown)."""
    start = stmt.offset(target.get("location"))
    if not stmt.exact or start == stmt.start:
        return stmt.start, stmt.end
    depth, end = 0, start
    for token in ctx.tokens(stmt):
        if token.start < start or token.name.endswith("COMMENT"):
            continue
        if token.text in ("(", "["):
            depth += 1
        elif token.text in (")", "]"):
            depth -= 1
            if depth < 0:
                break
        elif depth == 0 and (token.text == "," or token.upper in ("FROM", "WHERE", "RETURNING")):
            break
        end = token.end
    return start, end


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
    known = ctx.model.catalog.table(table)
    if known is not None and any(is_attempt_counter(c) for c in known.columns):
        return f"`{ctx.model.bare(table)}` has an attempt counter"
    return None


class RetryWithoutJitter(Rule):
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

    ## Why is this bad?
    Jobs that fail together (a downstream outage, a deadlock storm) are all rescheduled to the
    same instant, so they retry together, fail together again and come back in synchronized
    waves, each one a load spike on the database and the struggling dependency: a thundering
    herd. Exponential backoff spreads the waves out in time but not the jobs within a wave;
    random jitter does. AWS's analysis ("Exponential Backoff and Jitter") recommends full
    jitter: a delay drawn uniformly from zero to the capped exponential delay.

    ## Example
    ```sql
    UPDATE retry_queue
    SET attempt_count = attempt_count + 1,
        next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count))
    WHERE id = $1;
    ```

    ## Use instead
    Full jitter with a cap (see PGL208 for the cap and a bound on attempts):
    ```sql
    UPDATE retry_queue
    SET attempt_count = attempt_count + 1,
        next_attempt_at = now() + interval '1 second' * random() * least(600, 2 ^ attempt_count)
    WHERE id = $1;
    ```

    ## Fix safety
    Unsafe: retries come sooner on average (full jitter halves the mean delay). The fix is a
    minimal edit: it multiplies the delay by `random()` (`now() + random() * <delay>`), turning
    it into full jitter. It does not add the cap; PGL208 shows that. When the delay comes before
    `now()` in the sum, pglint only shows the formula.
    """

    code = "PGL207"
    name = "retry-without-jitter"
    summary = "Retry backoff without random jitter: failed jobs retry in synchronized waves"
    section = "40.2.3 Retry Strategies with Exponential Backoff"
    node_types = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + interval '1 second' * random()"
                " * least(600, 2 ^ attempt_count)\nWHERE id = $1;", kind="sql",
                context=_CONTEXT),
        # An expiry, not a retry.
        Example("UPDATE user_sessions SET expires_at = now() + interval '30 minutes'\n"
                "WHERE session_id = $1;", kind="sql"),
        # A one-off migration statement.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '30 seconds';",
                context=_CONTEXT),
        # A claim pushing a lease forward, not a failure's backoff.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '5 minutes'\n"
                "WHERE next_attempt_at <= now()\nRETURNING id, payload;", kind="sql",
                context=_CONTEXT),
        # Jitter from random() anywhere in the expression.
        Example("UPDATE jobs SET run_at = now() + (30 + random() * 30) * interval '1 second'\n"
                "WHERE id = $1;", kind="sql"),
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
                kind="sql", context=_CONTEXT),
        # Fixed backoff on a queue table.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '30 seconds'"
                " WHERE id = 1;",
                fixed="UPDATE retry_queue SET next_attempt_at = now() + random() * "
                      "interval '30 seconds' WHERE id = 1;",
                kind="sql", context=_CONTEXT),
        # A function body runs on every failure.
        Example("CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = clock_timestamp() + power(2, attempt_count)"
                " * interval '1 minute'\n  WHERE id = job;\nEND $$;",
                fixed="CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                      "    next_attempt_at = clock_timestamp() + random() * power(2, "
                      "attempt_count) * interval '1 minute'\n  WHERE id = job;\nEND $$;",
                context=_CONTEXT),
        # The delay first: shown, not applied.
        Example("UPDATE webhook_deliveries SET retry_at = interval '10 seconds' + now(),\n"
                "    tries = tries + 1 WHERE id = $1;", kind="sql"),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None or not runs_repeatedly(ctx, stmt):
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
        counter = _counter_in(delay) or "attempt_count"
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
        return self.finding(ctx, start, end, message, fix, help)


def _counter_in(node: Any) -> str | None:
    for kind, body in iter_nodes(node):
        if kind == "ColumnRef":
            name = n.column_ref({"ColumnRef": body})
            if name and is_attempt_counter(name):
                return name
    return None
