"""PGL105 hot-update-blocked-by-index."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.sql_tokens import group_end
from pglint.kit.storage import FILLFACTOR
from pglint.model.catalog import Index
from pglint.model.project import Evidence, index_columns
from pglint.roles import RUN_TIME_ROLES, SCHEMA_DUMP
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_TIME_TYPES = {"timestamptz", "timestamp", "date", "pg_catalog.timestamptz",
               "pg_catalog.timestamp", "pg_catalog.date"}

_SESSIONS = ("CREATE TABLE user_sessions (\n"
             "    session_id text PRIMARY KEY,\n"
             "    data jsonb NOT NULL DEFAULT '{}',\n"
             "    last_seen_at timestamptz NOT NULL DEFAULT now()\n"
             ");\n")
_HEARTBEAT = {"queries/app.sql": "UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;"}
_SESSIONS_CONTEXT = {**_HEARTBEAT, "migrations/V001__sessions.sql": _SESSIONS}


class HotUpdateBlockedByIndex(Rule):
    """
    ## What it does
    Flags an index (a `CREATE INDEX`, or a `PRIMARY KEY`/`UNIQUE` constraint) that covers a
    column the application updates over and over: a heartbeat or last-seen timestamp (an update
    that does nothing else), a counter (`SET n = n + 1`), or a column declared in
    `[tool.pglint.tables]`. One finding per index and column. Key columns, expressions, `INCLUDE`
    columns and the `WHERE` of a partial index all count.

    It stays silent:

    - without evidence of frequent updates: an edit that also stamps `updated_at`, or a table
      named like sessions or counters, is none;
    - on the key columns of a primary key or unique constraint (the key is the row's identity,
      not an index to drop; an `INCLUDE` column of one is reported);
    - when another index also covers the column: dropping or changing this one alone would not
      make the update HOT (the state column of a job queue, covered by every index its workers
      fetch by, is the usual case);
    - on BRIN indexes when the target version is 16 or later (BRIN is a summarizing index and
      no longer blocks HOT).

    ## Why is this bad?
    An update can be HOT (heap-only tuple: no new index entries, old versions pruned without
    `VACUUM`) only if it changes no column that an index references. An update that changes an
    indexed column writes a new entry into every index of the table, which bloats them and
    multiplies the WAL of a hot row. A lower fillfactor does not help: the index is the problem.
    Before PostgreSQL 16 a BRIN index blocks HOT like any other.

    ## Example
    ```sql
    CREATE INDEX user_sessions_last_seen_at_idx ON user_sessions (last_seen_at);
    -- application: UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;
    ```

    ## Use instead
    Drop the index if no query needs it; move the churning column to a side table without that
    index; or accept non-HOT updates and watch `n_tup_hot_upd` against `n_tup_upd` in
    `pg_stat_user_tables`. A partial index that excludes the churning rows gets no entries for
    them (less index bloat) but still references the column, so the updates stay non-HOT. If the
    index only serves time-range scans and the target is PostgreSQL 16 or later, a BRIN index
    does not block HOT:
    ```sql
    CREATE INDEX user_sessions_last_seen_at_brin ON user_sessions USING brin (last_seen_at);
    ```

    ## Fix safety
    Display only: every option drops or changes an index some query may rely on, or changes the
    schema and the application's updates. pglint names the index and the updates that collide
    with it, with their locations, and shows the SQL of each option.
    """

    code = "PGL105"
    name = "hot-update-blocked-by-index"
    options = (FILLFACTOR,)
    summary = "Index on a frequently updated column makes every such update non-HOT"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories (0 of 5 "
        "earlier): the indexes it flags on state columns are usually deliberate (partial, "
        "unique, used by workers)"
    )
    references = (
        "https://www.postgresql.org/docs/current/storage-hot.html",
    )
    statements = ("IndexStmt", "CreateStmt", "AlterTableStmt")
    file_kinds = frozenset({"migration"})
    # A table's final shape: read from a schema dump too.
    roles = RUN_TIME_ROLES | {SCHEMA_DUMP}

    VALID = (
        # The index does not cover the updated column: heartbeats can be HOT.
        Example("CREATE INDEX user_sessions_data_idx ON user_sessions USING gin (data);",
                context=_SESSIONS_CONTEXT),
        # BRIN is summarizing: from PostgreSQL 16 it does not block HOT.
        Example("CREATE INDEX user_sessions_last_seen_brin ON user_sessions USING brin (last_seen_at);",
                context=_SESSIONS_CONTEXT, target_version=16),
        # The primary key is not changed by the update.
        Example(_SESSIONS, context=_HEARTBEAT),
        # A leases-like name and an update that rewrites the key are no evidence, and a primary
        # key is the row's identity, not an index to drop.
        Example("CREATE TABLE leases (name text PRIMARY KEY, holder text);",
                context={"queries/app.sql": "UPDATE leases SET name = $2, holder = $3 WHERE name = $1;"}),
        # An edit that stamps `updated_at` along with its columns is not a heartbeat.
        Example("CREATE INDEX webhooks_updated_at_idx ON webhooks (updated_at);",
                context={"migrations/V001__webhooks.sql":
                         "CREATE TABLE webhooks (id bigint PRIMARY KEY, url text, "
                         "updated_at timestamptz);",
                         "queries/app.sql":
                         "UPDATE webhooks SET url = $2, updated_at = now() WHERE id = $1;"}),
        # Two indexes cover the state column: dropping one would not make the update HOT.
        Example("CREATE INDEX jobs_fetch_idx ON jobs (state, priority);",
                context={"migrations/V001__jobs.sql":
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, state text, priority int, "
                         "hits int);\nCREATE INDEX jobs_state_idx ON jobs (state);",
                         "queries/app.sql": "UPDATE jobs SET state = 'done' WHERE id = $1;"},
                config={"tables": {"jobs": "update-heavy"}}),
        # No evidence of frequent updates.
        Example("CREATE TABLE orders (id bigint PRIMARY KEY, placed_at timestamptz NOT NULL);\n"
                "CREATE INDEX orders_placed_at_idx ON orders (placed_at);",
                context={"queries/app.sql": "INSERT INTO orders (id, placed_at) VALUES ($1, now());"}),
    )
    INVALID = (
        Example("CREATE INDEX user_sessions_last_seen_at_idx ON user_sessions (last_seen_at);",
                context=_SESSIONS_CONTEXT),
        # Before 16 a BRIN index blocks HOT too.
        Example("CREATE INDEX user_sessions_last_seen_brin ON user_sessions USING brin (last_seen_at);",
                context=_SESSIONS_CONTEXT, target_version=15),
        # A counter covered by an INCLUDE column of a unique constraint.
        Example("CREATE TABLE page_counters (\n"
                "    page text,\n"
                "    hits bigint NOT NULL DEFAULT 0,\n"
                "    UNIQUE (page) INCLUDE (hits)\n"
                ");",
                context={"queries/app.sql":
                         "UPDATE page_counters SET hits = hits + 1 WHERE page = $1;"}),
        # The column appears only in the predicate of a partial index: still not HOT.
        Example("CREATE INDEX jobs_alive_idx ON jobs (id) WHERE last_heartbeat_at IS NOT NULL;",
                context={"migrations/V001__jobs.sql":
                         "CREATE TABLE jobs (id bigint PRIMARY KEY, last_heartbeat_at timestamptz);",
                         "queries/app.sql":
                         "UPDATE jobs SET last_heartbeat_at = now() WHERE id = $1;"}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.parent is not None:
            return
        version = ctx.settings.target_version
        for index in [o for o in ctx.model.catalog.defined_by(stmt) if isinstance(o, Index)]:
            if index.method == "brin" and version >= 16:
                continue
            found = ctx.model.frequent_updates(index.table)
            if found is None:
                continue
            columns, writes, evidence = found
            declared = ctx.model.hint(index.table).updated_columns
            start, end = _span(ctx, stmt, index)
            covering = ctx.model.hot_blocking_columns(index.table, version)
            for column in sorted(index_columns(index) & columns):
                if (index.unique or index.primary) and column in index.columns:
                    continue  # a key column: the key defines identity, it is not to be dropped
                if any(column in cols for name, cols in covering.items() if name != index.name):
                    continue  # another index covers it too: this one alone does not block HOT
                colliding = [w for w in writes if column in w.columns]
                if colliding:
                    why = Evidence(f"UPDATE {ctx.model.bare(index.table)} SET {column}",
                                   tuple(w.location for w in colliding))
                elif column in declared:
                    why = Evidence(f"[tool.pglint.tables] declares `{column}` update-heavy")
                else:
                    continue  # a primary key (or any column) is reported only if really updated
                yield self.finding(
                    ctx,
                    _message(ctx, index, column, why),
                    Fix.display(
                        f"Stop `{index.name}` from blocking HOT updates of `{column}`",
                        _options(ctx, index, column, why),
                    ),
                    _help(ctx, index, why),
                    span=(start, end),
                )


def _span(ctx: FileContext, stmt: Statement, index: Index) -> tuple[int, int]:
    """The index definition: the CREATE INDEX, or the constraint inside CREATE/ALTER TABLE."""
    if not index.constraint or index.location is None:
        return stmt.start, stmt.end
    start = index.location.start
    tokens = [t for t in ctx.tokens(stmt) if t.start >= start and not t.is_comment]
    stop = group_end(tokens, 0, lambda t: t.text == ",")  # the constraint's end
    return start, max(tokens[stop - 1].end if stop else start, start)


def _what(index: Index) -> str:
    if index.primary:
        return f"the primary key `{index.name}`"
    if index.constraint:
        return f"the unique constraint `{index.name}`"
    kind = "" if index.method == "btree" else f"{index.method.upper()} "
    return f"the {kind}index `{index.name}`"


def _message(ctx: FileContext, index: Index, column: str, why: Evidence) -> str:
    bare = ctx.model.bare(index.table)
    return (f"Frequent updates of `{bare}.{column}` cannot be HOT: {_what(index)} covers it "
            f"({why.brief()})")


def _help(ctx: FileContext, index: Index, why: Evidence) -> str:
    bare = ctx.model.bare(index.table)
    text = (f"The application changes the column frequently: {why}. An update that changes an "
            f"indexed column cannot be HOT: each one adds a new entry to every index of "
            f"`{bare}`, and a lower fillfactor does not help.")
    if index.method == "brin":
        text += (f" BRIN stops blocking HOT only from PostgreSQL 16 (target version is "
                 f"{ctx.settings.target_version}).")
    return text


def _quoted(name: str) -> str:
    return n.quote_qualified(name)


def _options(ctx: FileContext, index: Index, column: str, why: Evidence) -> str:
    table = _quoted(index.table)
    bare = ctx.model.bare(index.table)
    col = n.quote_ident(column)
    idx = n.quote_ident(index.name)
    version = ctx.settings.target_version
    lines = [f"-- {_what(index)} covers {bare}.{column}, changed by: {why}.",
             "-- An update that changes an indexed column is never HOT. Options:", ""]
    if column not in index.columns:
        lines += [f"-- 0. {column} is not a key column of this index (INCLUDE, expression or WHERE):",
                  "--    rebuild the index without it, keeping the key, if no query needs it there.",
                  ""]
    if index.primary:
        lines += ["-- 1. Stop changing the key: give rows a stable surrogate key and keep",
                  f"--    {column} as a plain column (with a UNIQUE index only if needed).", ""]
    elif index.constraint:
        lines += ["-- 1. Drop the constraint if the uniqueness is not needed:",
                  f"ALTER TABLE {table} DROP CONSTRAINT {idx};", ""]
    else:
        lines += ["-- 1. Drop the index if no query needs it:",
                  f"DROP INDEX CONCURRENTLY {_quoted(index.name)};", "",
                  "--    or narrow it: a partial index gets no entries for rows outside its WHERE,",
                  "--    so the churning rows stop bloating it; the update still is not HOT (the",
                  "--    column is still referenced), and the other indexes still get entries:",
                  f"--    CREATE INDEX CONCURRENTLY ... ON {table} ({col}) WHERE <excludes the churning rows>;",
                  ""]
    lines += ["-- 2. Move the churning column to a side table, updated there without an index on it:",
              *_side_table(ctx, index, column), "",
              "-- 3. Accept non-HOT updates, and watch how many updates are HOT:",
              f"SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = '{table}'::regclass;"]
    known = ctx.model.catalog.table(index.table)
    col_type = known.columns[column].type if known and column in known.columns else ""
    if index.method == "brin":
        lines += ["", "-- 4. Target PostgreSQL 16 or later: BRIN (a summarizing index) no longer blocks HOT."]
    elif col_type in _TIME_TYPES and not index.constraint and version >= 16:
        lines += ["",
                  "-- 4. If the index only serves time-range scans: BRIN is a summarizing index and",
                  "--    does not block HOT from PostgreSQL 16. It only helps while values follow",
                  "--    the physical row order, which in-place updates tend to break:",
                  f"CREATE INDEX CONCURRENTLY {n.quote_ident(index.name + '_brin')} ON {table} USING brin ({col});",
                  f"DROP INDEX CONCURRENTLY {_quoted(index.name)};"]
    return "\n".join(lines)


def _side_table(ctx: FileContext, index: Index, column: str) -> list[str]:
    bare = ctx.model.bare(index.table)
    known = ctx.model.catalog.table(index.table)
    key = next((i for i in ctx.model.catalog.indexes_on(index.table) if i.primary), None)
    key_cols = [c for c in key.columns if c] if key is not None and all(key.columns) else []
    if known is None or not key_cols or column in key_cols:
        return [f"--    a table keyed like {bare} that holds only {column}."]
    defs = []
    for c in key_cols:
        typ = known.columns[c].type if c in known.columns else "text"
        defs.append(f"    {n.quote_ident(c)} {n.SERIAL_TYPES.get(typ, typ)} NOT NULL,")
    churning = known.columns.get(column)
    typ = churning.type if churning else "text"
    if churning is not None and churning.not_null:
        typ += " NOT NULL"
    keys = ", ".join(n.quote_ident(c) for c in key_cols)
    return [f"CREATE TABLE {n.quote_ident(bare + '_' + column)} (",
            *defs,
            f"    {n.quote_ident(column)} {typ},",
            f"    PRIMARY KEY ({keys}),",
            f"    FOREIGN KEY ({keys}) REFERENCES {_quoted(index.table)} ON DELETE CASCADE",
            f") WITH (fillfactor = {ctx.settings.option('fillfactor')});"]
