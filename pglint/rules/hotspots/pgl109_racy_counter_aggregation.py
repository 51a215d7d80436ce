"""PGL109 racy-counter-aggregation."""

from __future__ import annotations

import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

_AGGREGATES = {"sum", "count", "min", "max", "avg", "array_agg", "string_agg", "json_agg",
               "jsonb_agg", "bool_or", "bool_and", "bit_or", "jsonb_object_agg", "json_object_agg"}
_ENDS_TRANSACTION = {"TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE"}
_STARTS_TRANSACTION = {"TRANS_STMT_BEGIN", "TRANS_STMT_START"}
_SHARE_LOCK = 5  # LockStmt modes from SHARE up block every writer
# A comment line right above the clearing statement that talks about it goes with it.
_CLEARING_COMMENT = re.compile(r"^[ \t]*--[^\n]*\b(?:truncat|delet|clear|empty|purg|wip)",
                               re.IGNORECASE)

_TABLES = (
    "CREATE TABLE visit_counters (page_id text PRIMARY KEY, count bigint NOT NULL DEFAULT 0);\n"
    "CREATE TABLE visit_counter_shards (shard_id int, page_id text, count int,\n"
    "    PRIMARY KEY (shard_id, page_id));\n"
)
_CONTEXT = {"migrations/V1__counters.sql": _TABLES}
_ROLLUP = ("INSERT INTO visit_counters (page_id, count)\n"
           "SELECT page_id, SUM(count) FROM {source} GROUP BY page_id\n"
           "ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;\n")


class RacyCounterAggregation(Rule):
    """
    ## What it does
    Flags the clearing half of a read-then-clear aggregation: a `TRUNCATE t` or a whole-table
    `DELETE FROM t` that follows, as a separate statement of the same file or PL/pgSQL body, an
    `INSERT ... SELECT ... FROM t` (or `UPDATE ... FROM (SELECT ... FROM t)`) that folds `t`'s
    rows somewhere else — the rollup of a sharded counter. It fires when the read
    aggregates, the table is named like shards/slots/buckets, or the application writes into it.
    It stays silent when a `LOCK TABLE t IN SHARE MODE` (or stronger) earlier in the same
    transaction keeps writers out between the two statements.

    ## Why is this bad?
    The two statements see different rows. Increments committed after the `SELECT` took its
    snapshot and before the `TRUNCATE`/`DELETE` ran are cleared without ever being counted:
    lost, silently, even inside one `READ COMMITTED` transaction. `TRUNCATE` also takes an
    `ACCESS EXCLUSIVE` lock on the table, which blocks every writer (and reader) until the
    transaction ends — the very hot path the shards exist to keep fast.

    ## Example
    ```sql
    INSERT INTO visit_counters (page_id, count)
    SELECT page_id, SUM(count) FROM visit_counter_shards GROUP BY page_id
    ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;
    TRUNCATE visit_counter_shards;
    ```

    ## Use instead
    Move the rows atomically: the `DELETE ... RETURNING` feeds the aggregation exactly the rows
    it removes, and takes only row locks.
    ```sql
    WITH moved AS (DELETE FROM visit_counter_shards RETURNING *)
    INSERT INTO visit_counters (page_id, count)
    SELECT page_id, SUM(count) FROM moved GROUP BY page_id
    ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;
    ```

    ## Fix safety
    Unsafe when the shape is exact (`INSERT ... SELECT ... FROM <that one table>`, then a
    `TRUNCATE` of exactly that table or a `DELETE` without `WHERE`, and nothing else reads the
    table in between): pglint adds the `WITH moved AS (DELETE ... RETURNING *)` before the
    `INSERT`, reads `moved` instead of the table, and removes the clearing statement. It changes
    locking (row locks instead of `ACCESS EXCLUSIVE`) and a `TRUNCATE` no longer resets what it
    used to (`RESTART IDENTITY`, `ON TRUNCATE` triggers), so review it. Other shapes get the
    CTE form as a suggestion.
    """

    code = "PGL109"
    name = "racy-counter-aggregation"
    summary = "Aggregate-then-TRUNCATE loses increments committed in between and blocks writers"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 2 findings on repositories it was not tuned on (round "
        "18: a one-time backup and dedupe in an upgrade script, a scratch table made per run): "
        "a read followed by a delete is rarely a counter other writers increment meanwhile"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-truncate.html",
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
    )
    statements = ("TruncateStmt", "DeleteStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("WITH moved AS (DELETE FROM visit_counter_shards RETURNING *)\n"
                + _ROLLUP.format(source="moved"), kind="sql", context=_CONTEXT),
        # Only one shard is cleared, not the table the rollup read.
        Example(_ROLLUP.format(source="visit_counter_shards")
                + "DELETE FROM visit_counter_shards WHERE shard_id = 3;\n",
                kind="sql", context=_CONTEXT),
        # Writers are locked out for the whole transaction: no increment can slip in between.
        Example("BEGIN;\nLOCK TABLE visit_counter_shards IN EXCLUSIVE MODE;\n"
                + _ROLLUP.format(source="visit_counter_shards")
                + "TRUNCATE visit_counter_shards;\nCOMMIT;\n", kind="sql", context=_CONTEXT),
        # Clearing before reading, or clearing a table the rollup did not read.
        Example("TRUNCATE visit_counter_shards;\n" + _ROLLUP.format(source="visit_counter_shards"),
                kind="sql", context=_CONTEXT),
        # A one-off copy out of a staging table nobody writes to concurrently.
        Example("CREATE TABLE staging (id int);\nCREATE TABLE archive (id int);\n"
                "INSERT INTO archive SELECT id FROM staging;\nTRUNCATE staging;\n"),
    )
    INVALID = (
        # The chapter's 40.1.1 rollup.
        Example(_ROLLUP.format(source="visit_counter_shards")
                + "\n-- Truncate shards after aggregation (fast, minimal logging)\n"
                  "TRUNCATE visit_counter_shards;\n",
                fixed="WITH moved AS (DELETE FROM visit_counter_shards RETURNING *)\n"
                      + _ROLLUP.format(source="moved"),
                kind="sql", context=_CONTEXT),
        # A whole-table DELETE, an alias, a column qualified by the alias.
        Example("INSERT INTO visit_counters (page_id, count)\n"
                "SELECT s.page_id, sum(s.count) FROM visit_counter_shards s GROUP BY s.page_id\n"
                "ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;\n"
                "DELETE FROM visit_counter_shards;\n",
                fixed="WITH moved AS (DELETE FROM visit_counter_shards RETURNING *)\n"
                      "INSERT INTO visit_counters (page_id, count)\n"
                      "SELECT s.page_id, sum(s.count) FROM moved s GROUP BY s.page_id\n"
                      "ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count "
                      "+ EXCLUDED.count;\n",
                kind="sql", context=_CONTEXT),
        # In a function body; a column qualified by the table name keeps working.
        Example("CREATE FUNCTION rollup() RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  INSERT INTO visit_counters (page_id, count)\n"
                "  SELECT visit_counter_shards.page_id, sum(count) FROM visit_counter_shards\n"
                "  GROUP BY 1\n"
                "  ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + EXCLUDED.count;\n"
                "  TRUNCATE visit_counter_shards;\n"
                "END $$;\n",
                fixed="CREATE FUNCTION rollup() RETURNS void LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n"
                      "  WITH moved AS (DELETE FROM visit_counter_shards RETURNING *)\n"
                      "  INSERT INTO visit_counters (page_id, count)\n"
                      "  SELECT visit_counter_shards.page_id, sum(count) FROM moved AS "
                      "visit_counter_shards\n"
                      "  GROUP BY 1\n"
                      "  ON CONFLICT (page_id) DO UPDATE SET count = visit_counters.count + "
                      "EXCLUDED.count;\n"
                      "END $$;\n",
                context=_CONTEXT),
        # UPDATE ... FROM (SELECT sum ...): not the exact shape, suggestion only.
        Example("UPDATE visit_counters v SET count = v.count + s.total\n"
                "FROM (SELECT page_id, sum(count) AS total FROM visit_counter_shards "
                "GROUP BY page_id) s\n"
                "WHERE v.page_id = s.page_id;\n"
                "TRUNCATE visit_counter_shards;\n", kind="sql", context=_CONTEXT),
        # TRUNCATE of two tables: suggestion only.
        Example(_ROLLUP.format(source="visit_counter_shards")
                + "TRUNCATE visit_counter_shards, visit_counters;\n",
                kind="sql", context=_CONTEXT),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.kind == "DeleteStmt":
            if node.get("whereClause") or node.get("usingClause") or node.get("withClause"):
                return
            relations = [node.get("relation")]
        else:
            relations = [r.get("RangeVar") for r in node.get("relations") or ()]
        tables = [n.relation_name(r) for r in relations if r]
        for table in tables:
            if table is None:
                continue
            read = _reading_statement(ctx, stmt, table)
            if read is None or _writers_locked_out(ctx, read, stmt, table):
                continue
            why = _why_it_matters(ctx, read, table)
            if why is None:
                continue
            yield self._finding(ctx, stmt, read, table, tables, why)
            return

    def _finding(self, ctx: FileContext, clear: Statement, read: Statement, table: str,
                 tables: list[str], why: str) -> Finding:
        bare = ctx.model.bare(table)
        verb = "TRUNCATE" if clear.kind == "TruncateStmt" else "DELETE"
        line = ctx.file.position(read.start)[0]
        message = (f"`{verb}` of `{bare}` in a separate statement after line {line} read it loses "
                   "increments committed in between")
        help = (f"The statement on line {line} reads `{bare}` ({why}), and `{verb}` runs as a "
                "separate statement after it: increments committed between the two statements "
                "are lost, cleared without ever being counted.")
        if verb == "TRUNCATE":
            help += (" TRUNCATE also takes an ACCESS EXCLUSIVE lock that blocks every reader and "
                     "writer of the table until its transaction ends.")
        help += " Move the rows atomically with `WITH moved AS (DELETE ... RETURNING ...)`."
        title = "Move the rows atomically with `WITH moved AS (DELETE ... RETURNING *)`"
        edits = _exact_edits(ctx, clear, read, table, tables)
        suggestion = _suggestion(ctx, read, table, edits)
        fix = (Fix(title, Applicability.UNSAFE, edits, suggestion) if edits
               else Fix.display(title, suggestion))
        return self.finding(ctx, message, fix, help, node=clear)


def _reads(node: Any, table: str) -> list[dict[str, Any]]:
    """RangeVars of `table` under node."""
    return [body for kind, body in iter_nodes(node)
            if kind == "RangeVar" and n.relation_name(body) == table]


def _same_scope(a: Statement, b: Statement) -> bool:
    return a.parent is b.parent


def _reading_statement(ctx: FileContext, clear: Statement, table: str) -> Statement | None:
    """The last earlier statement of the same scope that copies `table`'s rows elsewhere."""
    found = None
    for stmt in ctx.all_statements():
        if stmt.start >= clear.start:
            break
        if not _same_scope(stmt, clear):
            continue
        body = stmt.body
        if stmt.kind == "InsertStmt" and n.relation_name(body.get("relation")) != table:
            if _reads(body.get("selectStmt"), table):
                found = stmt
        elif stmt.kind == "UpdateStmt" and n.relation_name(body.get("relation")) != table:
            if _reads(body.get("fromClause"), table):
                found = stmt
    return found


def _writers_locked_out(ctx: FileContext, read: Statement, clear: Statement, table: str) -> bool:
    """A LOCK TABLE (SHARE or stronger) before the read, held until after the clear."""
    inside = read.parent is not None
    locked = False
    for stmt in ctx.all_statements():
        if stmt.start >= clear.start:
            break
        if not _same_scope(stmt, clear):
            continue
        if stmt.kind == "TransactionStmt":
            kind = stmt.body.get("kind")
            if kind in _STARTS_TRANSACTION:
                inside = True
            elif kind in _ENDS_TRANSACTION:
                inside, locked = read.parent is not None, False
        elif stmt.kind == "LockStmt" and stmt.start < read.start and inside:
            relations = [n.relation_name(r.get("RangeVar")) for r in stmt.body.get("relations", ())]
            if table in relations and stmt.body.get("mode", 8) >= _SHARE_LOCK:
                locked = True
    return locked


def _why_it_matters(ctx: FileContext, read: Statement, table: str) -> str | None:
    bare = ctx.model.bare(table)
    if any(name in _AGGREGATES for name, _ in n.calls(read.node)):
        return "it aggregates the rows"
    if ctx.model.is_sharded_table(table):
        return f"`{bare}` holds counter shards"
    writes = [w for op in ("insert", "update") for w in ctx.model.workload.of(table, op)]
    if writes:
        return "the application writes into it at " + ", ".join(str(w.location) for w in writes[:3])
    return None


def _exact_edits(ctx: FileContext, clear: Statement, read: Statement, table: str,
                 tables: list[str]) -> tuple[Edit, ...]:
    """Edits for the exact shape, or () when the shape is anything else."""
    if read.kind != "InsertStmt" or not read.exact or not clear.exact:
        return ()
    insert = read.body
    select = (insert.get("selectStmt") or {}).get("SelectStmt") or {}
    if insert.get("withClause") or select.get("withClause") or select.get("op") != "SETOP_NONE":
        return ()
    from_clause = select.get("fromClause") or []
    if len(from_clause) != 1 or "RangeVar" not in from_clause[0]:
        return ()
    source = from_clause[0]["RangeVar"]
    if n.relation_name(source) != table or len(_reads(insert, table)) != 1:
        return ()
    if clear.kind == "TruncateStmt":
        if len(tables) != 1 or clear.body.get("behavior") == "DROP_CASCADE":
            return ()
    elif n.returning(clear.body):
        return ()
    # Nothing in between may read or write the table: it would see different rows.
    for stmt in ctx.all_statements():
        if read.start < stmt.start < clear.start and _reads(stmt.node, table):
            return ()
    name_span = _relation_span(ctx, read, source)
    if name_span is None:
        return ()
    table_sql = ctx.text[name_span[0]:name_span[1]]
    replacement = "moved"
    if not source.get("alias") and _qualified_by(select, source.get("relname", "")):
        replacement = f"moved AS {n.quote_ident(source.get('relname', ''))}"
    at = read.start
    before = ctx.text[ctx.line_start(at):at]
    separator = "\n" + before if not before.strip() else " "
    span = _deletion_span(ctx, clear)
    return (
        Edit.insert(at, f"WITH moved AS (DELETE FROM {table_sql} RETURNING *){separator}"),
        Edit(name_span[0], name_span[1], replacement),
        Edit.delete(*span),
    )


def _qualified_by(select: dict[str, Any], relname: str) -> bool:
    """True when a column reference is qualified by the bare table name (`t.col`)."""
    for kind, body in iter_nodes(select):
        if kind == "ColumnRef":
            fields = n.names(body.get("fields"))
            if len(fields) >= 2 and fields[-2] == relname:
                return True
    return False


def _relation_span(ctx: FileContext, stmt: Statement,
                   rangevar: dict[str, Any]) -> tuple[int, int] | None:
    """File offsets of a RangeVar's (possibly schema-qualified) name."""
    at = stmt.offset(rangevar.get("location"))
    tokens = ctx.tokens(stmt)
    for i, token in enumerate(tokens):
        if token.start < at:
            continue
        if token.start != at:
            return None
        end = token.end
        j = i
        while j + 2 < len(tokens) and tokens[j + 1].text == ".":
            end = tokens[j + 2].end
            j += 2
        return at, end
    return None


def _deletion_span(ctx: FileContext, stmt: Statement) -> tuple[int, int]:
    """A statement with its line when it stands alone there, and a comment line about it."""
    text = ctx.text
    start, end = stmt.start, ctx.statement_end(stmt)
    line_start = ctx.line_start(start)
    newline = text.find("\n", end)
    line_end = len(text) if newline < 0 else newline + 1
    rest = text[end:line_end].strip()
    if text[line_start:start].strip() or (rest and not rest.startswith("--")):
        while end < len(text) and text[end] in " \t":
            end += 1
        return start, end
    start = line_start
    if start > 0:
        above = ctx.line_start(start - 1)
        if _CLEARING_COMMENT.match(text[above:start]):
            start = above
    # Do not leave two blank lines (or a blank last line) where the statement was.
    if start >= 2 and text[start - 2:start] == "\n\n" and (line_end == len(text)
                                                           or text[line_end] == "\n"):
        start -= 1
    return start, line_end


def _suggestion(ctx: FileContext, read: Statement, table: str, edits: tuple[Edit, ...]) -> str:
    if edits:
        original = ctx.text[read.start:ctx.statement_end(read)]
        shifted = [Edit(e.start - read.start, e.end - read.start, e.content) for e in edits
                   if read.start <= e.start <= ctx.statement_end(read)]
        out, cursor = [], 0
        for e in shifted:
            out.append(original[cursor:e.start])
            out.append(e.content)
            cursor = e.end
        out.append(original[cursor:])
        return "".join(out)
    return (f"WITH moved AS (DELETE FROM {table} RETURNING *)\n"
            f"<the same statement, reading `moved` instead of `{table}`>;\n"
            f"-- e.g. for an UPDATE ... FROM:\n"
            f"-- WITH moved AS (DELETE FROM {table} RETURNING *),\n"
            f"--      s AS (SELECT <key>, sum(<counter>) AS total FROM moved GROUP BY <key>)\n"
            f"-- UPDATE <target> t SET <counter> = t.<counter> + s.total FROM s "
            f"WHERE t.<key> = s.<key>;")
