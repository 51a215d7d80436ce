"""PGL101 hot-counter-update."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.model.workload import is_increment
from pglint.rule import Example, Rule
from pglint.sql import nodes as n

SHARDS = 16
# Something in the WHERE clause that spreads writers over several rows already.
_SPREADING_FUNCTIONS = {"pg_backend_pid", "random", "hashtext", "hashint4", "hashint8",
                        "abs", "mod", "floor"}


class HotCounterUpdate(Rule):
    """
    ## What it does
    Flags an `UPDATE` that increments or decrements a column of one single row that every
    caller shares: a counter, a stock level, a running total. The rule fires when the row is
    picked by literal key values (`WHERE page_id = '/home'`), or when the table exists to count
    (its name says counter, stats, totals, stock or inventory, or `[tool.pglint.tables]` declares
    it a `counter`), and the statement runs at application run time (a query file or a function
    body, not a one-off migration).

    It stays silent on per-entity bookkeeping keyed by a parameter (a job's `attempt_count`, an
    account's balance), and on rows that are already one of several shards or slots.

    ## Why is this bad?
    An `UPDATE` takes the row's lock until its transaction ends. Every concurrent increment of
    the same row waits for the one before it to commit, so throughput is capped at one
    transaction per commit latency, waits cascade into connection-pool exhaustion, and
    `statement_timeout`s fire under load spikes.

    ## Example
    ```sql
    UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';
    ```

    ## Use instead
    Spread the increments over several rows and sum on read (a sharded counter):
    ```sql
    INSERT INTO visit_counters_shards (page_id, shard, count)
    VALUES ('/home', floor(random() * 16)::int, 1)
    ON CONFLICT (page_id, shard)
    DO UPDATE SET count = visit_counters_shards.count + EXCLUDED.count;

    SELECT sum(count) FROM visit_counters_shards WHERE page_id = '/home';
    ```
    Fold shards into the main table with one statement that moves rows atomically
    (`WITH moved AS (DELETE ... RETURNING ...) UPDATE ...`), never with a `SELECT sum()` followed
    by `TRUNCATE` (see PGL109).

    ## Fix safety
    Display only: a sharded counter changes the schema and every reader of the counter, and the
    total becomes a sum over shards. pglint shows the DDL, the upsert, the read-side `SUM` and
    the race-free aggregation for this counter.
    """

    code = "PGL101"
    name = "hot-counter-update"
    summary = "Increment of a single shared row serializes every writer on its row lock"
    section = "40.1.1 Row-Level Contention"
    node_types = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        # Per-entity bookkeeping keyed by a parameter: each job has its own row.
        Example("UPDATE retry_queue SET attempt_count = attempt_count + 1 WHERE id = $1;",
                kind="sql"),
        # Already sharded by slot (the chapter's slotted updates).
        Example("UPDATE inventory_slots SET reserved_count = reserved_count + 1\n"
                "WHERE product_id = 123 AND slot_id = (pg_backend_pid() % 100);", kind="sql"),
        # The sharded counter's own upsert.
        Example("INSERT INTO visit_counter_shards (shard_id, page_id, count) VALUES (4, '/home', 1)\n"
                "ON CONFLICT (shard_id, page_id) DO UPDATE SET count = visit_counter_shards.count + 1;",
                kind="sql"),
        # A one-off data fix in a migration runs once.
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"),
        # A range: many rows, not one.
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id > 'a';", kind="sql"),
        # Not an increment.
        Example("UPDATE visit_counters SET count = 0 WHERE page_id = '/home';", kind="sql"),
    )
    INVALID = (
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';", kind="sql"),
        Example("UPDATE inventory SET stock = stock - 1 WHERE product_id = $1;", kind="sql"),
        Example("UPDATE accounts SET balance = balance + 1 WHERE id = 1;", kind="sql"),
        # A guard does not spread the writers: still one row.
        Example("UPDATE inventory SET stock = stock - 1 WHERE product_id = 123 AND stock > 0;",
                kind="sql"),
        Example("UPDATE page_hits SET hits = hits + 1 WHERE page = $1;", kind="sql",
                config={"tables": {"page_hits": "counter"}}),
        Example(
            "CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  UPDATE site_stats SET views = views + 1 WHERE id = 1;\nEND $$;"),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None or not runs_repeatedly(ctx, stmt):
            return
        table = n.relation_name(node.get("relation"))
        if not table or ctx.model.is_sharded_table(table):
            return
        increments = []
        for target in node.get("targetList", ()):
            res = target.get("ResTarget", {})
            if res.get("name") and is_increment(res["name"], res.get("val") or {}):
                increments.append(res)
        if not increments:
            return
        where = node.get("whereClause")
        # Equalities pin the row; other conditions (`AND stock > 0`) only guard it. Without an
        # equality (ranges, IN lists, ORs) the statement is not aimed at one row.
        keys = [eq for eq in map(n.equality, n.conjuncts(where)) if eq is not None]
        if not keys or n.mentions_function(where, _SPREADING_FUNCTIONS):
            return
        if any(k[0].lower() in ("shard", "shard_id", "slot", "slot_id", "bucket") for k in keys):
            return
        literal = all(n.constant(value)[0] for _, value in keys)
        counter = ctx.model.is_counter_table(table)
        if not (literal or counter):
            return
        column = increments[0]["name"]
        bare = ctx.model.bare(table)
        if literal:
            message = (f"Every caller increments `{column}` in the same `{bare}` row (a literal "
                       f"key), so concurrent writers queue on its row lock")
            why = "The row is picked by literal key values, so every caller updates the same row."
        else:
            message = (f"`{column}` is incremented in place in a shared row of counter table "
                       f"`{bare}`, so concurrent writers queue on its row lock")
            said = ("`[tool.pglint.tables]` declares it a counter"
                    if "counter" in ctx.model.hint(table).workloads else "its name says so")
            why = f"`{bare}` exists to count ({said}), so its rows are shared by every caller."
        help = (f"{why} An UPDATE holds the row's lock until its transaction ends: every "
                "concurrent increment of the row waits for the one before it to commit, so "
                "throughput is capped at one transaction per commit latency, waits cascade into "
                "connection-pool exhaustion, and `statement_timeout`s fire under load spikes. "
                "Spread the increments over several shard rows and sum on read; fold shards into "
                "the main table with one statement that moves rows atomically (`WITH moved AS "
                "(DELETE ... RETURNING ...) UPDATE ...`), never with a `SELECT sum()` followed by "
                "`TRUNCATE` (see PGL109).")
        fix = Fix.display("Shard the counter over several rows and sum on read",
                          _sharded_counter(ctx, table, column, keys, increments[0]))
        yield self.finding(ctx, stmt.start, stmt.end, message, fix, help)


def _sharded_counter(ctx: FileContext, table: str, column: str,
                     keys: list[tuple[str, dict]], target: dict) -> str:
    bare = ctx.model.bare(table)
    shards = f"{bare}_shards"
    known = ctx.model.catalog.table(table)
    key_cols = [k for k, _ in keys]
    col_defs = []
    for k, value in keys:
        guess = ""
        if known and k in known.columns:
            typ = known.columns[k].type
        else:  # not in the catalog: guess from the value, and say it is a guess
            literal = n.constant(value)[1]
            typ = "bigint" if isinstance(literal, int) and not isinstance(literal, bool) else "text"
            guess = f"  -- use the type of {bare}.{k}"
        typ = {"serial": "int4", "bigserial": "int8", "smallserial": "int2"}.get(typ, typ)
        col_defs.append(f"    {n.quote_ident(k)} {typ} NOT NULL,{guess}")
    keys_sql = ", ".join(n.quote_ident(k) for k in key_cols)
    values = ", ".join(n.sql_literal(v) for _, v in keys)
    delta_node = target.get("val", {}).get("A_Expr", {})
    sign = "-" if n.operator(delta_node) == "-" else ""
    other = delta_node.get("rexpr") if n.column_ref(delta_node.get("lexpr")) == column \
        else delta_node.get("lexpr")
    delta = sign + n.sql_literal(other)
    c = n.quote_ident(column)
    match = " AND ".join(f"{n.quote_ident(k)} = {n.sql_literal(v)}" for k, v in keys)
    join = " AND ".join(f"t.{n.quote_ident(k)} = m.{n.quote_ident(k)}" for k in key_cols)
    return (
        f"-- {SHARDS} rows per counter instead of one; writers pick a shard at random.\n"
        f"CREATE TABLE {shards} (\n" + "\n".join(col_defs) + "\n"
        f"    shard smallint NOT NULL,\n"
        f"    {c} bigint NOT NULL DEFAULT 0,\n"
        f"    PRIMARY KEY ({keys_sql}, shard)\n);\n\n"
        f"-- The increment:\n"
        f"INSERT INTO {shards} ({keys_sql}, shard, {c})\n"
        f"VALUES ({values}, floor(random() * {SHARDS})::int, {delta})\n"
        f"ON CONFLICT ({keys_sql}, shard) DO UPDATE SET {c} = {shards}.{c} + EXCLUDED.{c};\n\n"
        f"-- The read:\n"
        f"SELECT sum({c}) FROM {shards} WHERE {match};\n\n"
        f"-- Optional fold into {bare}, moving rows atomically (no increment lost):\n"
        f"WITH moved AS (DELETE FROM {shards} RETURNING {keys_sql}, {c}),\n"
        f"     m AS (SELECT {keys_sql}, sum({c}) AS delta FROM moved GROUP BY {keys_sql})\n"
        f"UPDATE {bare} t SET {c} = t.{c} + m.delta FROM m WHERE {join};"
    )
