"""PGL202 unbatched-backfill."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Finding, Fix
from pglint.kit.backfills import writes_whole_table
from pglint.kit.locks import locked_earlier
from pglint.kit.sql_tokens import top_level
from pglint.kit.timeouts import runner_transaction_only
from pglint.roles import MIGRATION, SCRIPT
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

BATCH_SIZE = 1000
_SHOWN_MAX = 40  # characters of a WHERE condition quoted in the one-line message
_ORDERS = ("CREATE TABLE orders (order_id bigserial PRIMARY KEY, customer_id bigint NOT NULL,\n"
           "    status text, total_cents int NOT NULL DEFAULT 0, shipped_at timestamptz);")
_EVENTS = ("CREATE TABLE events (event_id bigint PRIMARY KEY, payload jsonb, created_at timestamptz);\n"
           "CREATE TABLE events_archive (event_id bigint PRIMARY KEY, payload jsonb,\n"
           "    created_at timestamptz);")
# Clause keywords that end the previous clause at depth 0 of an UPDATE / DELETE / SELECT.
_CLAUSES = {"SET", "FROM", "WHERE", "RETURNING", "USING", "GROUP_P", "HAVING", "WINDOW",
            "ORDER", "LIMIT", "OFFSET", "ON", "FETCH", "FOR"}


class UnbatchedBackfill(Rule):
    """
    ## What it does
    Flags, in a migration, a top-level `UPDATE` or `DELETE` with no `WHERE` or a non-selective
    one (`WHERE col IS NULL`, `WHERE true`, `WHERE NOT flag`, `col <> x`), and an `INSERT ...
    SELECT` that copies a whole table (no `WHERE`, no `LIMIT`) into a table that already has
    writers — on tables that existed before the migration.

    It stays silent on tables created earlier in the same script (a new table is empty and
    nobody else uses it yet), on selective statements (`WHERE id = 5`, key ranges, subquery
    batches), on joins (`FROM other WHERE t.id = other.id` writes the rows the other relation
    holds, a few or all: without statistics pglint cannot tell), and on statements of function
    bodies and `DO` blocks.

    ## Why is this bad?
    One `UPDATE`/`DELETE` over a whole table holds a row lock on every row it changes until the
    migration commits: application writes to those rows wait, and time out, for the whole run.
    It leaves a dead tuple per row at once (bloat that vacuum can clean only after commit),
    sends its WAL in one burst (replication lag), holds back the vacuum horizon of the whole
    database while it runs, and a failure at the end rolls back everything.

    ## Example
    ```sql
    UPDATE orders SET status = 'new' WHERE status IS NULL;
    ```

    ## Use instead
    A keyed, ordered batch loop that commits each batch (PostgreSQL 11+, outside a transaction
    block):
    ```sql
    DO $$
    DECLARE
        batch_start orders.order_id%TYPE;
        batch_end orders.order_id%TYPE;
    BEGIN
        SELECT order_id INTO batch_start FROM orders ORDER BY order_id LIMIT 1;
        WHILE batch_start IS NOT NULL LOOP
            SELECT order_id INTO batch_end
            FROM (SELECT order_id FROM orders WHERE order_id >= batch_start
                  ORDER BY order_id LIMIT 1000) AS batch ORDER BY order_id DESC LIMIT 1;
            UPDATE orders SET status = 'new'
            WHERE order_id BETWEEN batch_start AND batch_end AND (status IS NULL);
            COMMIT;
            SELECT order_id INTO batch_start FROM orders WHERE order_id > batch_end
            ORDER BY order_id LIMIT 1;
        END LOOP;
    END $$;
    ```

    ## Fix safety
    Display only: batching gives up the statement's atomicity (a failure leaves part of the
    rows done, so the statement must be safe to re-run), needs a migration that is not wrapped
    in a transaction, and the batch size is a judgement. pglint writes the loop for the
    statement and the table's key from the catalog (any orderable key: the bounds are read with
    `ORDER BY ... LIMIT 1`, so a uuid key works too); with no single-column key it writes no
    loop and says so, and where the migration's runner wraps the file in a transaction it says
    to run the loop as a script of its own, outside the migration.
    """

    code = "PGL202"
    name = "unbatched-backfill"
    summary = "Whole-table UPDATE/DELETE/INSERT ... SELECT in one migration statement"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 29 sampled findings on real repositories (three "
        "rounds): the backfills it saw were on small tables, on columns the same migration "
        "had just added under ACCESS EXCLUSIVE, or in migrations that cannot overlap with "
        "serving"
    )
    references = (
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS",
        "https://www.postgresql.org/docs/current/routine-vacuuming.html",
    )
    statements = ("UpdateStmt", "DeleteStmt", "InsertStmt")
    file_kinds = frozenset({"migration"})
    # A backfill is run once, by a migration or a one-off script; one that has run is history.
    roles = frozenset({MIGRATION, SCRIPT})
    judges_applied_migrations = False

    VALID = (
        # The column was added in the same transaction, under ACCESS EXCLUSIVE: filling it
        # locks nothing more.
        Example("ALTER TABLE orders ADD COLUMN region text;\n"
                "UPDATE orders SET region = 'eu';\n",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # A brand-new table is empty: nothing to lock.
        Example("CREATE TABLE flags (id bigint PRIMARY KEY, enabled boolean);\n"
                "UPDATE flags SET enabled = true;"),
        Example("UPDATE orders SET status = 'new' WHERE order_id = 42;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # Already batched by key range.
        Example("UPDATE orders SET status = 'new'\n"
                "WHERE order_id BETWEEN 1 AND 10000 AND status IS NULL;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("INSERT INTO events_archive SELECT * FROM events\n"
                "WHERE created_at < '2020-01-01';", context={"migrations/V1__events.sql": _EVENTS}),
        # Application SQL is PGL205/others' business, not a migration backfill.
        Example("DELETE FROM orders WHERE status IS NULL;", kind="sql"),
        # The chapter's loop itself: body statements are batches.
        Example("DO $$ BEGIN UPDATE orders SET status = 'new' WHERE status IS NULL; END $$;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # A join keeps the rows the joined relation holds: a few, or all; unsure, silent.
        Example("UPDATE orders o SET status = 'shipped' FROM shipments s\n"
                "WHERE s.order_id = o.order_id;",
                context={"migrations/V1__orders.sql": _ORDERS + "\nCREATE TABLE shipments "
                         "(order_id bigint PRIMARY KEY);"}),
        Example("UPDATE orders SET shipped_at = now() FROM (\n"
                "    SELECT order_id FROM orders WHERE status = 'shipped' AND shipped_at IS NULL\n"
                ") late WHERE orders.order_id = late.order_id AND orders.shipped_at IS NULL;",
                context={"migrations/V1__orders.sql": _ORDERS}),
    )
    INVALID = (
        Example("UPDATE orders SET status = 'new' WHERE status IS NULL;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("UPDATE orders SET total_cents = 0;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("DELETE FROM orders WHERE true;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("INSERT INTO events_archive (event_id, payload, created_at)\n"
                "SELECT event_id, payload, created_at FROM events\n"
                "ON CONFLICT DO NOTHING;", context={"migrations/V1__events.sql": _EVENTS}),
        # Unknown to the catalog, but not created by this migration either.
        Example("UPDATE legacy_users SET active = true WHERE active IS NULL;",
                target_version=10),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.parent is not None:
            return
        created = ctx.session(stmt).created_tables
        table = n.relation_name(node.get("relation"))
        if not table or table in created or ctx.model.created_by_new_migration(table) or \
                locked_earlier(ctx, stmt, table) is not None:
            return  # nobody uses the table yet, or the migration already locked it whole
        if stmt.kind == "InsertStmt":
            select = (node.get("selectStmt") or {}).get("SelectStmt") or {}
            items = select.get("fromClause") or ()
            if select.get("whereClause") or select.get("limitCount") or \
                    select.get("op", "SETOP_NONE") != "SETOP_NONE" or len(items) != 1 or \
                    "RangeVar" not in items[0]:
                return
            source = n.relation_name(items[0]["RangeVar"])
            if not source or source in created:
                return
            yield self._insert_finding(ctx, stmt, table, source, items[0]["RangeVar"])
            return
        where = node.get("whereClause")
        if not writes_whole_table(where):
            return
        yield self._write_finding(ctx, stmt, node, table, where)

    # -- findings ----------------------------------------------------------------------------

    def _existed(self, ctx: FileContext, table: str) -> str:
        known = ctx.model.catalog.table(table)
        if known is not None and known.location is not None:
            where = known.location
            return f"exists since {where}"
        return "not created by this migration"

    def _write_finding(self, ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str,
                       where: dict[str, Any] | None) -> Finding:
        bare = ctx.model.bare(table)
        verb = "updates" if stmt.kind == "UpdateStmt" else "deletes"
        tokens = ctx.tokens(stmt)
        condition = _clause_text(ctx, tokens, "WHERE") if where is not None else None
        if condition is None:
            scope = "every row" if where is None else "most rows"
        else:
            shown = condition if len(condition) <= _SHOWN_MAX else condition[:_SHOWN_MAX - 3] + "..."
            scope = f"all rows `WHERE {shown}`"
        message = (f"Migration {verb} {scope} of `{bare}` ({self._existed(ctx, table)}) at once, "
                   "locking them until commit")
        help = (
            f"One {'UPDATE' if stmt.kind == 'UpdateStmt' else 'DELETE'} holds a row lock on every "
            "row it changes until the migration commits: application writes to those rows wait, "
            "and time out, for the whole run. It leaves a dead tuple per row at once (bloat that "
            "vacuum can clean only after commit), sends its WAL in one burst (replication lag), "
            "holds back the vacuum horizon while it runs, and a failure at the end rolls back "
            "everything. Batch it by key with a COMMIT per batch; each batch must be safe to "
            "re-run, since a failure leaves earlier batches committed."
            + (" To empty the table, TRUNCATE is instant but takes an ACCESS EXCLUSIVE lock "
               "(set lock_timeout)." if stmt.kind == "DeleteStmt" and where is None else "")
            + _transaction_note(ctx, stmt))
        fix = Fix.display(f"Backfill `{bare}` in keyed batches with a COMMIT per batch",
                          _write_loop(ctx, stmt, node, table, tokens))
        return self.finding(ctx, message, fix, help, node=stmt)

    def _insert_finding(self, ctx: FileContext, stmt: Statement, table: str, source: str,
                        rangevar: dict[str, Any]) -> Finding:
        bare, src = ctx.model.bare(table), ctx.model.bare(source)
        message = (f"Migration copies every row of `{src}` into `{bare}` "
                   f"({self._existed(ctx, table)}) in one statement")
        help = (
            "One INSERT ... SELECT over a whole table runs as one long transaction: its snapshot "
            "holds back vacuum across the database, its WAL arrives in one burst (replication "
            f"lag), concurrent inserts of the same unique keys into `{bare}` wait on it until "
            "commit, and a failure at the end rolls back everything. Copy in key ranges of the "
            "source with a COMMIT per batch (with ON CONFLICT DO NOTHING, a re-run is harmless)."
            + _transaction_note(ctx, stmt))
        fix = Fix.display(f"Copy `{src}` in keyed batches with a COMMIT per batch",
                          _insert_loop(ctx, stmt, source, rangevar))
        return self.finding(ctx, message, fix, help, node=stmt)


def _clause_text(ctx: FileContext, tokens: list[Token], keyword: str,
                 stop: set[str] = _CLAUSES) -> str | None:
    """The text of a depth-0 clause of the statement (after `keyword`, up to the next clause)."""
    # (`IS DISTINCT FROM x` is no FROM clause)
    top = [(i, t) for i, t in top_level(tokens)
           if not (t.name == "FROM" and i and tokens[i - 1].name == "DISTINCT")]
    start = next((i for i, t in top if t.name == keyword), None)
    if start is None:
        return None
    end = next((i for i, t in top if i > start and t.name in stop and t.name != keyword),
               len(tokens))
    end = min(end, next((i for i, t in enumerate(tokens) if t.name == "ASCII_59"), len(tokens)))
    if end <= start + 1:
        return None
    return ctx.tokens_text(tokens[start + 1:end])


def _single_key(ctx: FileContext, table: str) -> str | None:
    catalog = ctx.model.catalog
    for index in catalog.indexes_on(table):
        if index.primary and len(index.columns) == 1 and index.columns[0]:
            return index.columns[0]
    known = catalog.table(table)
    for cols in catalog.key_columns(table):
        if len(cols) == 1 and known is not None:
            col = next(iter(cols))
            if col in known.columns and known.columns[col].not_null:
                return col
    return None


def _qualified(table: str) -> str:
    return n.quote_qualified(table)


def _loop(ctx: FileContext, table: str, key: str | None, body: str) -> str:
    """The keyed batch loop around one batch statement that reads `batch_start`/`batch_end`.

    Batch bounds are read with ORDER BY ... LIMIT 1, not min()/max(): that works for any
    orderable key, a uuid included (there is no min(uuid)). Without a key in the catalog no
    loop is written: a guessed column would not run."""
    t = _qualified(table)
    if key is None:
        return (f"-- `{ctx.model.bare(table)}` has no single-column primary or unique key that "
                "pglint knows of, so no batch loop is\n"
                "-- written here: batch on a unique, indexed, orderable column of the table, a "
                f"{BATCH_SIZE}-row key range per\n-- transaction.")
    k = n.quote_ident(key)
    lines = []
    if runner_transaction_only(ctx):
        lines += [
            "-- This migration's runner wraps the file in one transaction, where COMMIT fails:",
            "-- keep the backfill out of the migration and run it once as a script of its own",
            "-- (psql, or the runner's no-transaction mode), after the migration is deployed.",
        ]
    if ctx.settings.target_version < 11:
        # No COMMIT in DO blocks or procedures before 11: a client drives the batches.
        lines += [
            "-- PostgreSQL < 11 cannot COMMIT inside DO: run one batch per transaction from a",
            "-- client (psql, a script), starting at the first key, until the next start is NULL:",
            f"SELECT {k} AS batch_end FROM (SELECT {k} FROM {t} WHERE {k} >= :'batch_start'",
            f"    ORDER BY {k} LIMIT {BATCH_SIZE}) AS batch ORDER BY {k} DESC LIMIT 1 \\gset",
            body.replace("batch_start", ":'batch_start'").replace("batch_end", ":'batch_end'")
            + ";",
            f"SELECT {k} AS batch_start FROM {t} WHERE {k} > :'batch_end' ORDER BY {k} LIMIT 1 "
            "\\gset",
        ]
        return "\n".join(lines)
    lines += [
        "-- Run outside a transaction block (COMMIT inside DO needs PostgreSQL 11+ and fails in",
        "-- a migration that its tool wraps in BEGIN ... COMMIT).",
        "DO $$",
        "DECLARE",
        f"    batch_start {t}.{k}%TYPE;",
        f"    batch_end {t}.{k}%TYPE;",
        "BEGIN",
        f"    SELECT {k} INTO batch_start FROM {t} ORDER BY {k} LIMIT 1;",
        "    WHILE batch_start IS NOT NULL LOOP",
        f"        SELECT {k} INTO batch_end",
        f"        FROM (SELECT {k} FROM {t} WHERE {k} >= batch_start",
        f"              ORDER BY {k} LIMIT {BATCH_SIZE}) AS batch ORDER BY {k} DESC LIMIT 1;",
        "        " + body.replace("\n", "\n        ") + ";",
        "        COMMIT;",
        f"        SELECT {k} INTO batch_start FROM {t} WHERE {k} > batch_end ORDER BY {k} LIMIT 1;",
        "    END LOOP;",
        "END $$;",
    ]
    return "\n".join(lines)


def _write_loop(ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str,
                tokens: list[Token]) -> str:
    key = _single_key(ctx, table)
    k = n.quote_ident(key) if key else "<key>"
    alias = (node.get("relation") or {}).get("alias", {}).get("aliasname")
    qualifier = n.quote_ident(alias) if alias else _qualified(table)
    head = f"{_qualified(table)}{' ' + n.quote_ident(alias) if alias else ''}"
    rng = f"{qualifier}.{k} BETWEEN batch_start AND batch_end"
    where = _clause_text(ctx, tokens, "WHERE")
    if where is not None and where.lower() in ("true", "1 = 1", "true = true"):
        where = None  # says "every row"
    condition = f"WHERE {rng}" + (f"\n  AND ({where})" if where else "")
    returning = _clause_text(ctx, tokens, "RETURNING")
    if stmt.kind == "UpdateStmt":
        sets = _clause_text(ctx, tokens, "SET") or "..."
        source = _clause_text(ctx, tokens, "FROM")
        body = f"UPDATE {head} SET {sets}" + (f"\nFROM {source}" if source else "")
    else:
        using = _clause_text(ctx, tokens, "USING")
        body = f"DELETE FROM {head}" + (f"\nUSING {using}" if using else "")
    body += "\n" + condition + (f"\nRETURNING {returning}" if returning else "")
    if node.get("withClause"):
        body = "-- the statement's WITH queries go here\n" + body
    return _loop(ctx, table, key, body)


def _insert_loop(ctx: FileContext, stmt: Statement, source: str,
                 rangevar: dict[str, Any]) -> str:
    key = _single_key(ctx, source)
    k = n.quote_ident(key) if key else "<key>"
    alias = (rangevar.get("alias") or {}).get("aliasname")
    qualifier = n.quote_ident(alias) if alias else _qualified(source)
    tokens = ctx.tokens(stmt)
    top = top_level(tokens)
    # Splice `WHERE key BETWEEN ...` right after the source table of the SELECT's FROM.
    from_at = next((i for i, t in top if t.name == "FROM"), None)
    tail_at = next((i for i, t in top if from_at is not None and i > from_at + 1
                    and t.name in _CLAUSES), len(tokens))
    if from_at is None:
        body = "INSERT INTO ... SELECT ... FROM ... WHERE key BETWEEN batch_start AND batch_end"
    else:
        head = ctx.text[stmt.start:tokens[tail_at - 1].end]
        tail = ctx.text[tokens[tail_at].start:stmt.end] if tail_at < len(tokens) else ""
        body = (f"{head}\nWHERE {qualifier}.{k} BETWEEN batch_start AND batch_end"
                + (f"\n{tail}" if tail else ""))
    return _loop(ctx, source, key, body)


def _transaction_note(ctx: FileContext, stmt: Statement) -> str:
    state = ctx.session(stmt)
    if state.in_transaction and state.transaction_start is not None:
        line = ctx.file.position(state.transaction_start.start)[0]
        return (f" This statement runs inside the transaction block opened at line {line}: "
                "a batch loop that commits must run outside it.")
    return ""
