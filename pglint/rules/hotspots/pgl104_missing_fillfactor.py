"""PGL104 missing-fillfactor."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext, Token
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.sql_tokens import matching_paren, top_level
from pglint.kit.storage import FILLFACTOR
from pglint.model.catalog import Table
from pglint.model.project import Evidence
from pglint.model.workload import Write
from pglint.roles import RUN_TIME_ROLES, SCHEMA_DUMP
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_SESSIONS = ("CREATE TABLE user_sessions (\n"
             "    session_id text PRIMARY KEY,\n"
             "    data jsonb NOT NULL DEFAULT '{}',\n"
             "    last_seen_at timestamptz NOT NULL DEFAULT now()\n"
             ")")
_HEARTBEAT = {"queries/app.sql": "UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;"}


class MissingFillfactor(Rule):
    """
    ## What it does
    Flags the `CREATE TABLE` of a table that the application updates over and over (an update
    that does nothing but stamp a heartbeat or last-seen timestamp, a counter `SET n = n + 1`,
    or a table declared `update-heavy` in `[tool.pglint.tables]`) with updates that change no
    indexed column, when no migration gives the table a `fillfactor` (an `ALTER TABLE ... SET
    (fillfactor = ...)` in a later migration counts).

    It stays silent when every frequent update changes an indexed column (fillfactor cannot help
    there; see PGL105), on partitioned parents (storage parameters belong on the partitions), and
    without evidence of frequent updates: an admin or API edit that also stamps `updated_at` is
    none, and neither is a sessions- or leases-like name.

    ## Why is this bad?
    An update writes a new row version. When it changes no indexed column and the new version
    fits on the same page, PostgreSQL makes it a HOT (heap-only tuple) update: no new index
    entries, and the old version can be pruned without `VACUUM`. With the default fillfactor of
    100, inserts fill pages completely, so updates find no room on the page and become
    non-HOT: every index gets a new entry and the table and its indexes bloat. A lower fillfactor
    leaves free space on each page for the updated versions.

    ## Example
    ```sql
    CREATE TABLE user_sessions (
        session_id text PRIMARY KEY,
        data jsonb NOT NULL,
        last_seen_at timestamptz NOT NULL
    );
    -- application: UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;
    ```

    ## Use instead
    ```sql
    CREATE TABLE user_sessions (
        session_id text PRIMARY KEY,
        data jsonb NOT NULL,
        last_seen_at timestamptz NOT NULL
    ) WITH (fillfactor = 70);
    ```
    For a table that already exists, `ALTER TABLE user_sessions SET (fillfactor = 70);` affects
    only pages written afterwards; rewrite the table (`VACUUM FULL`, or `pg_repack` without the
    exclusive lock) to apply it to existing pages. Check the effect by comparing `n_tup_hot_upd`
    with `n_tup_upd` in `pg_stat_user_tables`.

    ## Fix safety
    Safe: fillfactor is a storage parameter; queries and results do not change. The fix merges
    `fillfactor = N` (the `fillfactor` setting, 70 by default) into the statement's `WITH (...)`
    options, or inserts `WITH (fillfactor = N)` at its place in the grammar. The cost is a larger
    table (about 1/N more pages), so the setting is worth it only for tables updated in place.
    """

    code = "PGL104"
    name = "missing-fillfactor"
    options = (FILLFACTOR,)
    summary = "Frequently updated table without fillfactor: updates find no room for HOT"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories: any run-time "
        "UPDATE counted as frequent, and small configuration tables never fill their pages"
    )
    references = (
        "https://www.postgresql.org/docs/current/storage-hot.html",
        "https://www.postgresql.org/docs/current/sql-createtable.html#SQL-CREATETABLE-STORAGE-PARAMETERS",
    )
    statements = ("CreateStmt",)
    file_kinds = frozenset({"migration"})
    # A table's final shape: read from a schema dump too.
    roles = RUN_TIME_ROLES | {SCHEMA_DUMP}

    VALID = (
        # fillfactor given in the CREATE TABLE.
        Example(_SESSIONS + " WITH (fillfactor = 80);", context=_HEARTBEAT),
        # fillfactor set by a later migration.
        Example(_SESSIONS + ";",
                context={**_HEARTBEAT, "migrations/V901__ff.sql":
                         "ALTER TABLE user_sessions SET (fillfactor = 70);"}),
        # The only frequent update changes an indexed column: fillfactor cannot help (PGL105).
        Example(_SESSIONS + ";\nCREATE INDEX user_sessions_last_seen_at_idx "
                "ON user_sessions (last_seen_at);", context=_HEARTBEAT),
        # No evidence of frequent updates: the application only inserts.
        Example("CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL);",
                context={"queries/app.sql": "INSERT INTO orders (id, total) VALUES ($1, $2);"}),
        # Partitioned parent: storage parameters belong on the partitions.
        Example("CREATE TABLE user_sessions (session_id text, last_seen_at timestamptz)\n"
                "PARTITION BY HASH (session_id);", context=_HEARTBEAT),
    )
    INVALID = (
        Example(_SESSIONS + ";", fixed=_SESSIONS + " WITH (fillfactor = 70);",
                context=_HEARTBEAT),
        # Merged into existing options, comments kept.
        Example("CREATE TABLE page_counters (\n"
                "    page text PRIMARY KEY,\n"
                "    hits bigint NOT NULL DEFAULT 0  -- bumped on every view\n"
                ") WITH (autovacuum_vacuum_scale_factor = 0.01);",
                fixed="CREATE TABLE page_counters (\n"
                "    page text PRIMARY KEY,\n"
                "    hits bigint NOT NULL DEFAULT 0  -- bumped on every view\n"
                ") WITH (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 70);",
                context={"queries/app.sql":
                         "UPDATE page_counters SET hits = hits + 1 WHERE page = $1;"}),
        # Inserted before TABLESPACE; the configured fillfactor is used.
        Example("CREATE TABLE leases (\n"
                "    name text PRIMARY KEY,\n"
                "    holder text,\n"
                "    renewed_at timestamptz\n"
                ")\nTABLESPACE pg_default;",
                fixed="CREATE TABLE leases (\n"
                "    name text PRIMARY KEY,\n"
                "    holder text,\n"
                "    renewed_at timestamptz\n"
                ")\nWITH (fillfactor = 80)\nTABLESPACE pg_default;",
                config={"fillfactor": 80},
                context={"queries/app.sql":
                         "UPDATE leases SET renewed_at = now() WHERE name = $1 AND holder = $2;"}),
        # Declared update-heavy; a multi-line options list gets the option on its own line.
        Example("CREATE TABLE carts (id bigint PRIMARY KEY, items jsonb) WITH (\n"
                "    autovacuum_enabled = true\n"
                ");",
                fixed="CREATE TABLE carts (id bigint PRIMARY KEY, items jsonb) WITH (\n"
                "    autovacuum_enabled = true,\n"
                "    fillfactor = 70\n"
                ");",
                config={"tables": {"carts": {"workload": "update-heavy",
                                             "updated-columns": ["items"]}}}),
        # A BRIN index does not block HOT from PostgreSQL 16.
        Example(_SESSIONS + ";\nCREATE INDEX user_sessions_last_seen_brin "
                "ON user_sessions USING brin (last_seen_at);",
                fixed=_SESSIONS + " WITH (fillfactor = 70);\nCREATE INDEX "
                "user_sessions_last_seen_brin ON user_sessions USING brin (last_seen_at);",
                context=_HEARTBEAT, target_version=16),
        # A partition of a table the application updates; `FOR VALUES WITH` is not the options.
        Example("CREATE TABLE user_sessions_p0 PARTITION OF user_sessions\n"
                "    FOR VALUES WITH (MODULUS 2, REMAINDER 0);",
                fixed="CREATE TABLE user_sessions_p0 PARTITION OF user_sessions\n"
                "    FOR VALUES WITH (MODULUS 2, REMAINDER 0) WITH (fillfactor = 70);",
                context={**_HEARTBEAT, "migrations/V001__sessions.sql":
                         "CREATE TABLE user_sessions (session_id text, last_seen_at timestamptz)\n"
                         "PARTITION BY HASH (session_id);"}),
        # Before ON COMMIT, on its own line like it.
        Example("CREATE TEMP TABLE work_leases (job bigint, heartbeat_at timestamptz)\n"
                "ON COMMIT DROP;",
                fixed="CREATE TEMP TABLE work_leases (job bigint, heartbeat_at timestamptz)\n"
                "WITH (fillfactor = 70)\nON COMMIT DROP;",
                context={"queries/app.sql":
                         "UPDATE work_leases SET heartbeat_at = now() WHERE job = $1;"}),
        # Set in CREATE TABLE but reset later: only the ALTER TABLE is suggested.
        Example(_SESSIONS + " WITH (fillfactor = 90);\n"
                "ALTER TABLE user_sessions RESET (fillfactor);", context=_HEARTBEAT),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if stmt.parent is not None:
            return
        table = _table_created_by(ctx, stmt)
        if table is None or table.partitioned or table.fillfactor is not None:
            return
        names = [table.name]
        if node.get("partbound"):
            # A partition: the application updates (and indexes) the parent.
            names += [p for p in (n.relation_name(r.get("RangeVar"))
                                  for r in node.get("inhRelations", ())) if p]
        found = next((r for r in map(ctx.model.frequent_updates, names) if r is not None), None)
        if found is None:
            return
        _, writes, _ = found
        blocking: set[str] = set()
        for name in names:
            for cols in ctx.model.hot_blocking_columns(name, ctx.settings.target_version).values():
                blocking |= cols
        eligible = _hot_eligible(ctx, table.name, writes, blocking)
        if eligible is None:
            return
        ff = ctx.settings.option("fillfactor")
        bare = ctx.model.bare(table.name)
        message = (f"`{bare}` has no fillfactor: its frequent updates could be HOT but seldom "
                   f"are once pages fill ({eligible.brief()})")
        help = (
            f"The application updates `{bare}` rows in place without changing an indexed "
            f"column: {eligible}. Once pages are full the new row version rarely fits on the "
            f"same page, so these updates are seldom HOT and add entries to every index; "
            f"`fillfactor = {ff}` leaves room on each page so they can be HOT (no new index "
            f"entries). It affects only pages written afterwards: for an existing table, "
            f"`ALTER TABLE ... SET (fillfactor = {ff})`, then rewrite it (VACUUM FULL or "
            f"pg_repack). Watch `n_tup_hot_upd` against `n_tup_upd` in `pg_stat_user_tables`.")
        alter = (f"ALTER TABLE {_quoted(table.name)} SET (fillfactor = {ff});\n"
                 f"-- affects only pages written from now on; rewrite existing pages with\n"
                 f"-- VACUUM FULL {_quoted(table.name)}; (ACCESS EXCLUSIVE lock) or pg_repack.")
        # Set here but reset by a later migration: that ALTER is the place to change, not this.
        own = "fillfactor" in n.def_elems(node.get("options"))
        edits = () if own else _fillfactor_edits(ctx, stmt, ff)
        if edits:
            fix = Fix(f"Add `WITH (fillfactor = {ff})`", Applicability.SAFE, edits, alter)
        else:
            fix = Fix.display(f"Set fillfactor = {ff}", alter)
        end = stmt.offset(node["relation"].get("location"))
        end = next((t.end for t in ctx.tokens(stmt) if t.start >= end), stmt.end)
        yield self.finding(ctx, message, fix, help, span=(stmt.start, end))


def _table_created_by(ctx: FileContext, stmt: Statement) -> Table | None:
    """The catalog table this CREATE TABLE defines in the final state (not a later re-create)."""
    return next((o for o in ctx.model.catalog.defined_by(stmt) if isinstance(o, Table)), None)


def _hot_eligible(ctx: FileContext, table: str, writes: list[Write],
                  blocking: set[str]) -> Evidence | None:
    """Evidence of frequent updates that change no HOT-blocking column, or None."""
    eligible = [w for w in writes if w.columns and not w.columns & blocking]
    if eligible:
        changed = sorted(set().union(*(w.columns for w in eligible)))
        return Evidence("UPDATE sets " + ", ".join(f"`{c}`" for c in changed),
                        tuple(w.location for w in eligible))
    hint = ctx.model.hint(table)
    declared = set(hint.updated_columns) - blocking
    if declared and not writes:
        return Evidence("[tool.pglint.tables] declares "
                        + ", ".join(f"`{c}`" for c in sorted(declared)) + " update-heavy")
    return None


def _quoted(name: str) -> str:
    return n.quote_qualified(name)


def _fillfactor_edits(ctx: FileContext, stmt: Statement, ff: int) -> tuple[Edit, ...]:
    """Minimal edits adding fillfactor to a CREATE TABLE, or () when it cannot be placed.

    Grammar after the column list: [INHERITS (...)] [PARTITION BY ...] [USING method]
    [WITH (...) | WITHOUT OIDS] [ON COMMIT ...] [TABLESPACE name].
    """
    tokens = ctx.code_tokens(stmt)
    option = f"fillfactor = {ff}"
    for i, tok in top_level(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        prev = tokens[i - 1] if i else None
        if tok.name == "WITH" and nxt is not None and nxt.name == "ASCII_40" \
                and not (prev is not None and prev.name == "VALUES"):
            return _merge_option(ctx, tokens, i + 1, option)
        if tok.name == "WITHOUT" and nxt is not None and nxt.name == "OIDS":
            # WITHOUT OIDS is a no-op alternative to WITH (...): replace it.
            return (Edit(tok.start, nxt.end, f"WITH ({option})"),)
        if (tok.name == "ON" and nxt is not None and nxt.name == "COMMIT") or \
                tok.name == "TABLESPACE":
            if ctx.text[ctx.line_start(tok.start):tok.start].strip():
                return (Edit.insert(tok.start, f"WITH ({option}) "),)
            return (Edit.insert(tok.start, f"WITH ({option})\n{ctx.indent_of(tok.start)}"),)
    if not tokens:
        return ()
    return (Edit.insert(tokens[-1].end, f" WITH ({option})"),)


def _merge_option(ctx: FileContext, tokens: list[Token], open_at: int, option: str) -> tuple[Edit, ...]:
    """Append the option inside the WITH (...) list whose '(' is tokens[open_at]."""
    j = matching_paren(tokens, open_at)
    if j is None or j == open_at + 1:
        return ()
    last = tokens[j - 1]
    first = tokens[open_at + 1]
    if "\n" in ctx.text[tokens[open_at].end:first.start]:
        return (Edit.insert(last.end, f",\n{ctx.indent_of(first.start)}{option}"),)
    return (Edit.insert(last.end, f", {option}"),)
