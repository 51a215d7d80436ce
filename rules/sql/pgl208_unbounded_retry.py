"""PGL208 unbounded-retry (the SQL form: retry-queue polls and backoff formulas)."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.rule import Example, Rule
from pglint.rules.sql.pgl207_retry_without_jitter import (
    CAP, NEXT_ATTEMPT_COLUMN, assignment_span, exponents, is_attempt_counter, time_plus_delay)
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

MAX_ATTEMPTS = 10
_COMPARISONS = {"<", "<=", ">", ">="}
_LOCKING = {"LCS_FORUPDATE", "LCS_FORNOKEYUPDATE"}
_AFTER_WHERE = {"ORDER", "LIMIT", "FOR", "GROUP", "RETURNING", "OFFSET", "FETCH", "WINDOW",
                "HAVING"}

_QUEUE = ("CREATE TABLE retry_queue (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
          "    payload jsonb,\n    attempt_count int DEFAULT 0,\n"
          "    next_attempt_at timestamptz DEFAULT now(),\n    error_message text\n);\n")
_CONTEXT = {"migrations/V1__retry_queue.sql": _QUEUE}


class UnboundedRetry(Rule):
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

    It applies to SQL that runs repeatedly: application queries and function bodies.

    ## Why is this bad?
    A job that can never succeed (a poison message, a permanently invalid payload) is retried for
    ever: it keeps costing worker time, lock traffic and log noise, and nobody is told that it
    failed. An uncapped exponential delay grows without limit: after 20 attempts
    `interval '1 second' * 2 ^ attempt_count` is 12 days, and eventually the multiplication
    fails with `interval out of range`, so the failure path itself starts to error.

    ## Example
    ```sql
    SELECT * FROM retry_queue
    WHERE next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT 10
    FOR UPDATE SKIP LOCKED;
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

    ## Fix safety
    Display only: the number of attempts, what happens to exhausted jobs (a dead-letter table, a
    `failed` status, an alert) and the longest acceptable delay are decisions. pglint shows the
    poll with the bound added, a dead-letter step, and the capped delay.
    """

    code = "PGL208"
    name = "unbounded-retry"
    summary = "Retry queue without an attempt bound, or exponential backoff without a cap"
    section = "40.2.3 Retry Strategies with Exponential Backoff"
    node_types = ("SelectStmt", "UpdateStmt", "DeleteStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("SELECT * FROM retry_queue\nWHERE next_attempt_at <= now() AND attempt_count < 10\n"
                "ORDER BY next_attempt_at\nLIMIT 10\nFOR UPDATE SKIP LOCKED;",
                kind="sql", context=_CONTEXT),
        Example("UPDATE retry_queue\nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + interval '1 second' * random()"
                " * least(600, 2 ^ attempt_count)\nWHERE id = $1;", kind="sql", context=_CONTEXT),
        # The bound lives in the file's dead-letter step.
        Example("SELECT * FROM retry_queue WHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED;\n\n"
                "DELETE FROM retry_queue WHERE attempt_count >= 10;", kind="sql",
                context=_CONTEXT),
        # No attempt counter: not a retry queue.
        Example("CREATE TABLE tickets (id bigint PRIMARY KEY, status text);\n"
                "CREATE FUNCTION next_ticket() RETURNS SETOF tickets LANGUAGE sql AS $$\n"
                "  SELECT * FROM tickets WHERE status = 'open' LIMIT 1 FOR UPDATE SKIP LOCKED\n"
                "$$;"),
        # A poll in a one-off migration statement.
        Example("SELECT * FROM retry_queue LIMIT 1 FOR UPDATE SKIP LOCKED;", context=_CONTEXT),
    )
    INVALID = (
        # The chapter's worker query (40.2.3).
        Example("SELECT * FROM retry_queue \nWHERE next_attempt_at <= now()\n"
                "ORDER BY next_attempt_at\nLIMIT 10\n"
                "FOR UPDATE SKIP LOCKED;  -- Skip items being processed by other workers\n",
                kind="sql", context=_CONTEXT),
        # The chapter's failure path: no cap on the exponential delay.
        Example("UPDATE retry_queue \nSET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + (interval '1 second' * (2 ^ attempt_count)),\n"
                "    error_message = 'Error details...'\nWHERE id = $1;",
                kind="sql", context=_CONTEXT),
        # A claim in a CTE, an OR in the WHERE clause.
        Example("WITH next AS (\n  SELECT id FROM retry_queue\n"
                "  WHERE next_attempt_at <= now() OR next_attempt_at IS NULL\n"
                "  LIMIT 1 FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE retry_queue q SET next_attempt_at = now() + interval '5 minutes'\n"
                "FROM next WHERE q.id = next.id\nRETURNING q.*;", kind="sql", context=_CONTEXT),
        # An UPDATE ... RETURNING claim without a row lock.
        Example("UPDATE retry_queue SET next_attempt_at = now() + interval '5 minutes'\n"
                "WHERE next_attempt_at <= now()\nRETURNING id, payload;", kind="sql",
                context=_CONTEXT),
        Example("CREATE FUNCTION fail_job(job bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE retry_queue SET attempt_count = attempt_count + 1,\n"
                "    next_attempt_at = now() + power(2, attempt_count) * interval '1 minute'\n"
                "  WHERE id = job;\nEND $$;", context=_CONTEXT),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None or not runs_repeatedly(ctx, stmt):
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
        claims: list[tuple[str, bool]] = []
        for kind, body in iter_nodes(stmt.node):
            if kind != "SelectStmt" or not body.get("lockingClause"):
                continue
            strengths = {c.get("LockingClause", {}).get("strength")
                         for c in body["lockingClause"]}
            if not strengths & _LOCKING:
                continue
            for item in body.get("fromClause") or ():
                if "RangeVar" in item:
                    claims.append((n.relation_name(item["RangeVar"]) or "", body is stmt.body))
        if stmt.kind == "UpdateStmt" and _returns(stmt.body):
            table = n.relation_name(stmt.body.get("relation")) or ""
            if table and not self._pinned(ctx, table, stmt.body.get("whereClause")):
                claims.append((table, True))
        for table, top_level in claims:
            counter = _counter_of(ctx, table)
            if counter is None or _compares(stmt.node, counter):
                continue
            if self._bounded_elsewhere(ctx, stmt, table, counter):
                continue
            return table, counter, top_level
        return None

    @staticmethod
    def _pinned(ctx: FileContext, table: str, where: dict[str, Any] | None) -> bool:
        """The WHERE picks one row by a key (`id = $1`, `q.id = next.id`)."""
        keys = ctx.model.catalog.key_columns(table)
        equal = {eq[0] for eq in map(n.equality, n.conjuncts(where)) if eq is not None}
        return any(key and key <= equal for key in keys) or (not keys and "id" in equal)

    @staticmethod
    def _bounded_elsewhere(ctx: FileContext, stmt: Statement, table: str, counter: str) -> bool:
        """Another statement of the file compares the counter on this table (a dead-letter step)."""
        for other in ctx.all_statements():
            if other is stmt or counter not in ctx.statement_text(other):
                continue
            if n.relation_name(other.body.get("relation")) == table and \
                    _compares(other.node, counter):
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
        return self.finding(ctx, stmt.start, stmt.end, message, fix, help)

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
        return self.finding(ctx, start, end, message, fix, help)


def _returns(body: dict[str, Any]) -> bool:
    return bool(n.returning(body))


def _counter_of(ctx: FileContext, table: str) -> str | None:
    known = ctx.model.catalog.table(table)
    if known is None:
        return None
    return next((c for c in known.columns if is_attempt_counter(c)), None)


def _compares(node: Any, counter: str) -> bool:
    """A `<`, `<=`, `>`, `>=` or BETWEEN comparison that reads the counter column."""
    for kind, body in iter_nodes(node):
        if kind != "A_Expr":
            continue
        if body.get("kind") == "AEXPR_OP" and n.operator(body) not in _COMPARISONS:
            continue
        if body.get("kind") not in ("AEXPR_OP", "AEXPR_BETWEEN", "AEXPR_NOT_BETWEEN"):
            continue
        if any(k == "ColumnRef" and n.column_ref({"ColumnRef": b}) == counter
               for k, b in iter_nodes(body)):
            return True
    return False


def _counter_ref(power: dict[str, Any]) -> str | None:
    """The attempt counter an exponent reads (`2 ^ attempt_count`), if any."""
    exponent = power.get("rexpr") if "lexpr" in power else (power.get("args") or [None])[-1]
    for kind, body in iter_nodes(exponent or {}):
        if kind == "ColumnRef":
            name = n.column_ref({"ColumnRef": body})
            if name and is_attempt_counter(name):
                return name
    return None


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
    depth, where_at, after = 0, None, None
    for i, token in enumerate(tokens):
        if token.text == "(":
            depth += 1
        elif token.text == ")":
            depth -= 1
        elif depth == 0 and token.upper == "WHERE" and where_at is None:
            where_at = i
        elif depth == 0 and token.upper in _AFTER_WHERE and (where_at is not None or not where):
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
