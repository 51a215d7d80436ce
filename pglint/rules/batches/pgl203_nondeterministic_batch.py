"""PGL203 nondeterministic-batch."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.sql_tokens import depths, group_end
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes

_STAGING = ("CREATE TABLE staging_table (id bigint PRIMARY KEY, data text,\n"
            "    processed boolean NOT NULL DEFAULT false);\n"
            "CREATE TABLE target_table (id bigint PRIMARY KEY, data text);\n"
            "INSERT INTO staging_table SELECT g, 'row ' || g FROM generate_series(1, 2500) g;")
_JOBS = ("CREATE TABLE jobs (job_id bigint PRIMARY KEY, state text NOT NULL DEFAULT 'queued',\n"
         "    created_at timestamptz NOT NULL DEFAULT now());")
_GETDIAG = re.compile(r"\bget\s+diagnostics\s+(\w+)\s*:?=\s*row_count\b", re.IGNORECASE)
_BOUNDARY = {"ON", "RETURNING"}  # what may follow an INSERT's SELECT at depth 0


class NondeterministicBatch(Rule):
    """
    ## What it does
    Flags a `LIMIT` (or `FETCH FIRST`) without `ORDER BY` in the query that picks the rows a
    write touches: `INSERT ... SELECT ... LIMIT n`, `UPDATE ... WHERE id IN (SELECT ... LIMIT
    n)`, `DELETE ... WHERE id IN (SELECT ... LIMIT n)`, a `FROM`/`USING` subquery or a `WITH`
    query of the write — in SQL files and in PL/pgSQL bodies (functions, `DO` loops).

    It stays silent when the subquery orders its rows, and when it locks them with
    `FOR UPDATE [SKIP LOCKED]`: then the statement writes exactly the rows it locked. It also
    stays silent where the order cannot matter:

    - `LIMIT 1`: a lookup of one row (often by a unique key), not a batch;
    - a write that takes its rows out of its own selection, so that repeated runs converge
      whatever rows each batch took: an `UPDATE` that sets a column its subquery filters on
      (`SET done_at = now() WHERE id IN (SELECT id ... WHERE done_at IS NULL LIMIT n)`), a
      `DELETE` of the rows it selected, an `INSERT ... SELECT` that skips rows already in its
      target (`WHERE NOT EXISTS (SELECT 1 FROM target ...)`). Such a write is still flagged when
      an `INSERT ... SELECT` beside it (in the same function body, or the same file) copies from
      the same table with an unordered `LIMIT` of its own: the copy and the mark must pick the
      same rows.

    ## Why is this bad?
    Without `ORDER BY`, `LIMIT` returns whichever rows the plan happens to reach first. Two
    statements with the same `WHERE ... LIMIT n` can pick different rows: a chunked
    loop copies one set of rows with `INSERT ... SELECT ... LIMIT n` and marks a possibly
    different set processed with `UPDATE ... WHERE id IN (SELECT ... LIMIT n)`, so rows can be
    marked done without ever being copied. Batches are also not repeatable: a retried or
    resumed batch processes other rows, and progress cannot be tracked by key.

    ## Example
    ```sql
    UPDATE staging_table SET processed = true
    WHERE id IN (SELECT id FROM staging_table WHERE processed = false LIMIT 1000);
    ```

    ## Use instead
    Order by the table's key, or pick, lock and write the rows in one statement:
    ```sql
    UPDATE staging_table SET processed = true
    WHERE id IN (SELECT id FROM staging_table WHERE processed = false
                 ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
    RETURNING id;
    ```

    ## Fix safety
    Unsafe: ` ORDER BY <key>` (the primary key from the catalog, else the selected `id`
    column) changes which rows each batch picks and may change the plan (a sort, or a walk of
    the key's index). Without a known key the fix is display only. Under READ COMMITTED two
    statements still take two snapshots, so the single-statement form shown with the fix is
    the one that marks exactly the rows it copies.
    """

    code = "PGL203"
    name = "nondeterministic-batch"
    summary = "LIMIT without ORDER BY picks arbitrary rows to write or mark"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories: most LIMITs "
        "it saw picked one row by a unique key or tracked progress by their WHERE"
    )
    references = (
        "https://www.postgresql.org/docs/current/queries-limit.html",
        "https://www.postgresql.org/docs/current/sql-select.html#SQL-FOR-UPDATE-SHARE",
    )
    statements = ("InsertStmt", "UpdateStmt", "DeleteStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        Example("UPDATE staging_table SET processed = true\n"
                "WHERE id IN (SELECT id FROM staging_table WHERE processed = false\n"
                "             ORDER BY id LIMIT 1000);", context={"migrations/V1__s.sql": _STAGING}),
        # Locked rows are exactly the rows written: the queue-worker form.
        Example("UPDATE jobs SET state = 'running'\n"
                "WHERE job_id = (SELECT job_id FROM jobs WHERE state = 'queued'\n"
                "                LIMIT 1 FOR UPDATE SKIP LOCKED)\nRETURNING job_id;",
                kind="sql", context={"migrations/V1__jobs.sql": _JOBS}),
        Example("INSERT INTO target_table (id, data)\n"
                "SELECT id, data FROM staging_table WHERE processed = false\n"
                "ORDER BY id LIMIT 1000;", context={"migrations/V1__s.sql": _STAGING}),
        # LIMIT inside (NOT) EXISTS tests for a row; it does not pick the rows written.
        Example("DELETE FROM staging_table s\n"
                "WHERE NOT EXISTS (SELECT 1 FROM target_table t WHERE t.id = s.id LIMIT 1);",
                context={"migrations/V1__s.sql": _STAGING}),
        # A LIMIT that only reads is not this rule's business.
        Example("SELECT id FROM staging_table LIMIT 10;", kind="sql"),
        # A scalar lookup in SET does not choose which rows are written.
        Example("UPDATE staging_table SET data = (SELECT data FROM target_table LIMIT 1)\n"
                "WHERE id = 1;", context={"migrations/V1__s.sql": _STAGING}),
        Example("DELETE FROM jobs WHERE job_id IN (\n"
                "    SELECT job_id FROM jobs WHERE created_at < now() - interval '30 days'\n"
                "    ORDER BY job_id LIMIT 500);", kind="sql",
                context={"migrations/V1__jobs.sql": _JOBS}),
        # LIMIT 1 looks up one row (here by a unique name): there is no batch to repeat.
        Example("INSERT INTO enrolments (course_id, user_id)\n"
                "SELECT id, $1 FROM courses WHERE name = $2 LIMIT 1;", kind="sql",
                context={"migrations/V1__c.sql":
                         "CREATE TABLE courses (id int PRIMARY KEY, name text UNIQUE);\n"
                         "CREATE TABLE enrolments (course_id int, user_id int);"}),
        # Each batch sets what its subquery filters on: the loop converges in any order.
        Example("UPDATE staging_table SET processed = true\n"
                "WHERE id IN (SELECT id FROM staging_table WHERE processed = false LIMIT 1000);",
                context={"migrations/V1__s.sql": _STAGING}),
        # A DELETE takes the rows it picked out of the next pick.
        Example("DELETE FROM jobs j USING (SELECT job_id FROM jobs\n"
                "    WHERE created_at < now() - interval '30 days' LIMIT 500) old\n"
                "WHERE j.job_id = old.job_id;",
                kind="sql", context={"migrations/V1__jobs.sql": _JOBS}),
        Example("WITH old AS (SELECT job_id FROM jobs\n"
                "    WHERE created_at < now() - interval '30 days' LIMIT 500)\n"
                "DELETE FROM jobs WHERE job_id IN (SELECT job_id FROM old);", kind="sql",
                context={"migrations/V1__jobs.sql": _JOBS}),
        # Rows already copied are skipped by the NOT EXISTS: batches converge.
        Example("INSERT INTO target_table (id, data)\n"
                "SELECT s.id, s.data FROM staging_table s\n"
                "WHERE NOT EXISTS (SELECT 1 FROM target_table t WHERE t.id = s.id) LIMIT 1000;",
                context={"migrations/V1__s.sql": _STAGING}),
    )
    INVALID = (
        # The chapter's chunked loop: both statements are flagged.
        Example(
            "DO $$\n"
            "DECLARE\n"
            "    batch_size CONSTANT int := 1000;\n"
            "    rows_affected int;\n"
            "BEGIN\n"
            "    LOOP\n"
            "        INSERT INTO target_table (id, data)\n"
            "        SELECT id, data\n"
            "        FROM staging_table\n"
            "        WHERE processed = false\n"
            "        LIMIT batch_size\n"
            "        ON CONFLICT DO NOTHING;\n"
            "\n"
            "        GET DIAGNOSTICS rows_affected = ROW_COUNT;\n"
            "\n"
            "        UPDATE staging_table\n"
            "        SET processed = true\n"
            "        WHERE id IN (\n"
            "            SELECT id FROM staging_table\n"
            "            WHERE processed = false\n"
            "            LIMIT batch_size\n"
            "        );\n"
            "\n"
            "        COMMIT;\n"
            "        EXIT WHEN rows_affected = 0;\n"
            "    END LOOP;\n"
            "END $$;",
            fixed=(
                "DO $$\n"
                "DECLARE\n"
                "    batch_size CONSTANT int := 1000;\n"
                "    rows_affected int;\n"
                "BEGIN\n"
                "    LOOP\n"
                "        INSERT INTO target_table (id, data)\n"
                "        SELECT id, data\n"
                "        FROM staging_table\n"
                "        WHERE processed = false\n"
                "        ORDER BY id\n"
                "        LIMIT batch_size\n"
                "        ON CONFLICT DO NOTHING;\n"
                "\n"
                "        GET DIAGNOSTICS rows_affected = ROW_COUNT;\n"
                "\n"
                "        UPDATE staging_table\n"
                "        SET processed = true\n"
                "        WHERE id IN (\n"
                "            SELECT id FROM staging_table\n"
                "            WHERE processed = false\n"
                "            ORDER BY id\n"
                "            LIMIT batch_size\n"
                "        );\n"
                "\n"
                "        COMMIT;\n"
                "        EXIT WHEN rows_affected = 0;\n"
                "    END LOOP;\n"
                "END $$;"),
            context={"migrations/V1__s.sql": _STAGING}),
        # The mark of a copy-then-mark pair: it must pick the rows the copy beside it took.
        Example("INSERT INTO target_table (id, data)\n"
                "SELECT id, data FROM staging_table WHERE NOT processed LIMIT 100;\n"
                "UPDATE staging_table SET processed = true\n"
                "WHERE id IN (SELECT id FROM staging_table WHERE NOT processed LIMIT 100);",
                fixed="INSERT INTO target_table (id, data)\n"
                      "SELECT id, data FROM staging_table WHERE NOT processed ORDER BY id "
                      "LIMIT 100;\n"
                      "UPDATE staging_table SET processed = true\n"
                      "WHERE id IN (SELECT id FROM staging_table WHERE NOT processed ORDER BY id "
                      "LIMIT 100);",
                context={"migrations/V1__s.sql": _STAGING}),
        # The subquery filters on nothing the UPDATE changes: each run may pick other rows.
        Example("UPDATE jobs SET state = 'archived'\n"
                "WHERE job_id IN (SELECT job_id FROM jobs\n"
                "    WHERE created_at < now() - interval '1 year' LIMIT 10);",
                fixed="UPDATE jobs SET state = 'archived'\n"
                      "WHERE job_id IN (SELECT job_id FROM jobs\n"
                      "    WHERE created_at < now() - interval '1 year' ORDER BY job_id LIMIT 10);",
                kind="sql", context={"migrations/V1__jobs.sql": _JOBS}),
        Example("WITH batch AS (\n"
                "    SELECT id, data FROM staging_table WHERE NOT processed FETCH FIRST 100 ROWS ONLY\n"
                ")\nINSERT INTO target_table (id, data) SELECT id, data FROM batch;",
                fixed="WITH batch AS (\n"
                      "    SELECT id, data FROM staging_table WHERE NOT processed ORDER BY id "
                      "FETCH FIRST 100 ROWS ONLY\n"
                      ")\nINSERT INTO target_table (id, data) SELECT id, data FROM batch;",
                context={"migrations/V1__s.sql": _STAGING}),
        # No key known: the selected `id` column orders the batch.
        Example("INSERT INTO archive (id, body) SELECT id, body FROM inbox LIMIT $1;",
                fixed="INSERT INTO archive (id, body) SELECT id, body FROM inbox ORDER BY id "
                      "LIMIT $1;",
                kind="sql", not_executable="`$1` is a placeholder"),
        # Nothing key-like: display only.
        Example("INSERT INTO archive (body) SELECT body FROM inbox LIMIT 100;", kind="sql"),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        for select in _row_choosers(stmt.kind, node):
            if not _unordered_batch(select):
                continue
            if _converges(stmt.kind, node, select) and not _copied_beside(ctx, stmt, select):
                continue
            yield self._finding(ctx, stmt, node, select)

    def _finding(self, ctx: FileContext, stmt: Statement, node: dict[str, Any],
                 select: dict[str, Any]) -> Finding:
        source = _single_table(select)
        key, why_key = _order_key(ctx, source, select)
        at = _clause_start(ctx, stmt, select)
        start = stmt.start  # statement-wide: the write is what picks the rows
        verb = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE"}[stmt.kind]
        what = f"`{ctx.model.bare(source)}`" if source else "the subquery"
        message = (f"`LIMIT` without `ORDER BY` picks arbitrary rows of {what} for this {verb}, "
                   f"so batches are not repeatable")
        notes = []
        if stmt.parent is not None and stmt.kind == "InsertStmt" and \
                (node.get("onConflictClause") or {}).get("action") == "ONCONFLICT_NOTHING":
            body = ctx.text[stmt.parent.start:stmt.parent.end]
            diag = _GETDIAG.search(body)
            if diag and re.search(rf"\bexit\s+when\s+{re.escape(diag.group(1))}\s*=\s*0\b",
                                  body, re.IGNORECASE):
                notes.append(
                    f"`EXIT WHEN {diag.group(1)} = 0` after `ON CONFLICT DO NOTHING` stops the "
                    "loop early when every row of a batch already exists in the target (0 rows "
                    "inserted, yet rows remain to process): exit on the rows selected or marked, "
                    "not on the rows inserted.")
        help = (
            "Without ORDER BY, LIMIT returns whichever rows the plan reaches first. Two "
            "statements with the same `WHERE ... LIMIT n` (an INSERT ... SELECT that copies and "
            "an UPDATE ... IN (SELECT ... LIMIT n) that marks) can pick different rows, so rows "
            "get marked processed without being copied; a retried or resumed batch processes "
            "other rows. Ordering by a unique key makes each batch deterministic; under READ "
            "COMMITTED two statements still take two snapshots, so picking, locking and writing "
            "the rows in one statement (`... ORDER BY key LIMIT n FOR UPDATE SKIP LOCKED` with "
            "`RETURNING`) is the form that marks exactly the rows it processed."
            + (" " + " ".join(notes) if notes else ""))
        single = _single_statement_form(ctx, stmt, select, key)
        if key is None or at is None or not stmt.exact:
            title = "Order the batch by a unique key before LIMIT"
            suggestion = ("-- ORDER BY a unique key (no primary key or id column is known "
                          "here), e.g.:\n... ORDER BY <unique key> LIMIT n\n\n" + single)
            return self.finding(ctx, message, Fix.display(title, suggestion), help, span=(start, stmt.end))
        order = "ORDER BY " + ", ".join(n.quote_ident(c) for c in key)
        line_start = ctx.line_start(at)
        if ctx.text[line_start:at].strip() == "":
            content = f"{order}\n{ctx.text[line_start:at]}"
        else:
            content = f"{order} "
        title = f"Order the batch by {why_key} (`{order}`) before LIMIT"
        fix = Fix(title, Applicability.UNSAFE, (Edit.insert(at, content),),
                  suggestion=single)
        return self.finding(ctx, message, fix, help, span=(start, stmt.end))


def _row_choosers(kind: str, node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The SelectStmts of a write that decide which rows it writes."""
    for cte in (node.get("withClause") or {}).get("ctes", ()):
        query = cte.get("CommonTableExpr", {}).get("ctequery") or {}
        if "SelectStmt" in query:
            yield query["SelectStmt"]
    if kind == "InsertStmt":
        select = (node.get("selectStmt") or {}).get("SelectStmt")
        if select:
            yield select
        return
    for item in node.get("fromClause" if kind == "UpdateStmt" else "usingClause") or ():
        sub = item.get("RangeSubselect", {}).get("subquery") or {}
        if "SelectStmt" in sub:
            yield sub["SelectStmt"]
    stack = [node.get("whereClause")]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "SubLink" in item:
                link = item["SubLink"]
                # A LIMIT inside EXISTS / NOT EXISTS only tests for a row: it picks nothing.
                if link.get("subLinkType") in ("ANY_SUBLINK", "EXPR_SUBLINK"):
                    sub = link.get("subselect") or {}
                    if "SelectStmt" in sub:
                        yield sub["SelectStmt"]
                continue
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(item)


def _unordered_batch(select: dict[str, Any]) -> bool:
    """A SELECT that caps its rows with a LIMIT above 1 and neither orders nor locks them."""
    if not select.get("limitCount") or select.get("sortClause") \
            or select.get("lockingClause") or select.get("valuesLists") \
            or select.get("op", "SETOP_NONE") != "SETOP_NONE":
        return False  # (OFFSET alone skips rows, it does not cap the batch)
    is_const, value = n.constant(select["limitCount"])
    return not (is_const and value == 1)  # LIMIT 1 looks a row up: no batch to repeat


def _column_names(node: Any) -> set[str]:
    """The (unqualified) names of every column a tree refers to."""
    return {name.rsplit(".", 1)[-1] for kind, body in iter_nodes(node) if kind == "ColumnRef"
            for name in [n.column_ref({kind: body})] if name}


def _relations(node: Any) -> set[str]:
    """The tables a tree reads (its RangeVars, subqueries included)."""
    return {name for kind, body in iter_nodes(node) if kind == "RangeVar"
            for name in [n.relation_name(body)] if name}


def _converges(kind: str, node: dict[str, Any], select: dict[str, Any]) -> bool:
    """True when the write takes the rows it picked out of the next pick, so that repeated
    batches converge whatever rows each one took: a DELETE from the table it selects from, an
    UPDATE that sets a column its selection filters on, an INSERT whose selection skips rows
    already in its target."""
    target = n.relation_name(node.get("relation"))
    source = _single_table(select)
    where = select.get("whereClause")
    if kind == "DeleteStmt":
        return source is not None and source == target
    if kind == "UpdateStmt":
        set_columns = {t.get("ResTarget", {}).get("name") for t in node.get("targetList", ())}
        return source == target and bool(set_columns & _column_names(where))
    return target is not None and target in _relations(where)


def _copied_beside(ctx: FileContext, stmt: Statement, select: dict[str, Any]) -> bool:
    """An INSERT ... SELECT in the same body (or at the file's top level) that copies from the
    table this write selects from with an unordered LIMIT of its own: the copy-then-mark loop,
    whose two statements must pick the same rows."""
    source = _single_table(select)
    scope = stmt.parent.start if stmt.parent is not None else None
    for other in ctx.all_statements():
        if other is stmt or other.kind != "InsertStmt" or \
                (other.parent.start if other.parent is not None else None) != scope:
            continue
        if any(_unordered_batch(s) and _single_table(s) == source
               for s in _row_choosers("InsertStmt", other.body)):
            return True
    return False


def _single_table(select: dict[str, Any]) -> str | None:
    items = select.get("fromClause") or ()
    if len(items) == 1 and "RangeVar" in items[0]:
        return n.relation_name(items[0]["RangeVar"])
    return None


def _order_key(ctx: FileContext, table: str | None,
               select: dict[str, Any]) -> tuple[list[str] | None, str]:
    """The columns to order by and how they were chosen, or (None, "")."""
    if table:
        for index in ctx.model.catalog.indexes_on(table):
            if index.primary and index.columns and all(index.columns):
                return [c for c in index.columns if c], f"`{ctx.model.bare(table)}`'s primary key"
        known = ctx.model.catalog.table(table)
        for cols in ctx.model.catalog.key_columns(table):
            if known and all(c in known.columns and known.columns[c].not_null for c in cols):
                return sorted(cols), f"`{ctx.model.bare(table)}`'s unique key"
    selected = [n.column_ref(t.get("ResTarget", {}).get("val"))
                for t in select.get("targetList", ())]
    bare = ctx.model.bare(table) if table else ""
    id_like = {"id", f"{bare}_id", f"{bare[:-1]}_id" if bare.endswith("s") else "id"}
    for col in selected:
        if col and col.lower() in id_like:
            return [col], f"the selected `{col}`"
    return None, ""


def _location(node: dict[str, Any] | None) -> int | None:
    if not node:
        return None
    body = next(iter(node.values()))
    if isinstance(body, dict):
        loc = body.get("location")
        if isinstance(loc, int) and loc >= 0:
            return loc
        for value in body.values():
            if isinstance(value, dict) and len(value) == 1:
                found = _location(value)
                if found is not None:
                    return found
    return None


def _clause_start(ctx: FileContext, stmt: Statement, select: dict[str, Any]) -> int | None:
    """File offset of the LIMIT/FETCH (or an earlier OFFSET) keyword of `select`."""
    tokens = ctx.tokens(stmt)
    found = []
    for part, keywords in (("limitCount", ("LIMIT", "FETCH")), ("limitOffset", ("OFFSET",))):
        loc = _location(select.get(part))
        if loc is None:
            if part == "limitCount":
                return None
            continue
        at = stmt.offset(loc)
        keyword = [t for t in tokens if t.end <= at and t.name in keywords]
        if not keyword:
            return None
        found.append(keyword[-1].start)
    return min(found) if found else None


def _depth0_after(tokens: list[Token], index: int) -> int:
    """Index of the first token after `index` that closes the enclosing parenthesis, or that is a
    depth-0 ON/RETURNING (the end of an INSERT's SELECT); len(tokens) if none."""
    return group_end(tokens, index + 1,
                     lambda t: t.upper in _BOUNDARY or t.name == "ASCII_59")


def _single_statement_form(ctx: FileContext, stmt: Statement, select: dict[str, Any],
                           key: list[str] | None) -> str:
    """This statement picking, locking and writing its batch in one go, for the display note."""
    order = ", ".join(n.quote_ident(c) for c in key) if key else "<unique key>"
    at = _clause_start(ctx, stmt, select)
    tokens = ctx.tokens(stmt)
    text = ctx.text[stmt.start:stmt.end]
    if at is None or stmt.kind == "InsertStmt" or not stmt.exact:
        source = _single_table(select) or "source"
        cols = [t["ResTarget"].get("name", "") for t in stmt.body.get("cols", ())
                if "ResTarget" in t] if stmt.kind == "InsertStmt" else []
        target = n.relation_name(stmt.body.get("relation")) or "target"
        where = _where_text(ctx, tokens, at) if at is not None and stmt.exact else None
        limit = "n"
        if at is not None and stmt.exact:
            after = [t for t in tokens if t.start > at and t.name not in ("FIRST_P", "NEXT")]
            limit = after[0].text if after else "n"
        join = " AND ".join(f"s.{n.quote_ident(c)} = batch.{n.quote_ident(c)}"
                            for c in key or ["<unique key>"])
        col_list = ", ".join(n.quote_ident(c) for c in cols) if cols else "..."
        conflict = (" ON CONFLICT DO NOTHING" if stmt.kind == "InsertStmt"
                    and stmt.body.get("onConflictClause") else "")
        return ("-- Or pick, lock and write the batch in one statement, so the rows marked are "
                "the rows processed:\n"
                "WITH batch AS (\n"
                f"    SELECT {order} FROM {source} WHERE {where or '<not yet processed>'}\n"
                f"    ORDER BY {order} LIMIT {limit} FOR UPDATE SKIP LOCKED\n"
                "), marked AS (\n"
                f"    UPDATE {source} s SET <mark processed> FROM batch WHERE {join}\n"
                "    RETURNING s.*\n"
                ")\n"
                f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM marked{conflict};")
    index = next(i for i, t in enumerate(tokens) if t.start == at)
    close = _depth0_after(tokens, index)
    end = tokens[close - 1].end
    rel = lambda offset: offset - stmt.start  # noqa: E731 - local offset helper
    new = (text[:rel(at)] + f"ORDER BY {order} " + text[rel(at):rel(end)]
           + " FOR UPDATE SKIP LOCKED" + text[rel(end):])
    if not n.returning(stmt.body):
        new += f"\nRETURNING {order}"
    return ("-- Or pick, lock and write the batch in one statement; concurrent workers skip "
            "each other's rows:\n" + new + ";")


def _where_text(ctx: FileContext, tokens: list[Token], at: int) -> str | None:
    """The text of the WHERE condition that ends at the LIMIT keyword at `at`, same depth."""
    index = next((i for i, t in enumerate(tokens) if t.start == at), None)
    if index is None:
        return None
    levels = depths(tokens)
    for i in range(index - 1, -1, -1):
        if levels[i] < levels[index]:
            return None  # the parenthesis the LIMIT is in opens before any WHERE
        if levels[i] == levels[index] and tokens[i].name == "WHERE":
            return ctx.tokens_text(tokens[i + 1:index])
        if levels[i] == levels[index] and tokens[i].name in ("FROM", "SELECT"):
            return None
    return None
