"""Table sizes read from a live database, written as a tables file (`pglint tables`).

The lock rules' harm grows with a table's size, and a table's name or its migrations cannot
say how big it is in production: only the database can. This module reads the planner's row
estimates and the statistics collector's counters from the catalog (never a table's rows),
in a read-only transaction with short timeouts, and renders them as the TOML file that the
`tables-file` setting loads as `[tool.pglint.tables]` hints.

The one module of pglint that connects to a database; psycopg is imported only here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

# Catalog queries only; a server that is busy must not make pglint wait on a lock, and a
# slow one must not keep it forever.
_STATEMENT_TIMEOUT = "30s"
_LOCK_TIMEOUT = "1s"
_CONNECT_TIMEOUT = 10

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")

# Ordinary tables, partitioned tables and materialized views, with what a size needs:
# reltuples is the planner's estimate (-1 from 14 on when never vacuumed or analyzed),
# n_live_tup the statistics collector's count (0 after a reset, and on a standby). Nothing
# here takes a lock on a table: a migration holding one must not stop the read.
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.reltuples,
       s.n_live_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname <> ALL (%s)
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
"""
_CHILDREN = "SELECT inhparent, inhrelid FROM pg_inherits"
_ABOUT = """
SELECT current_database(), current_setting('server_version'), pg_is_in_recovery(),
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())
"""
# For a table with neither an estimate nor a live count, only its file's size can say it is
# empty; pg_relation_size opens the table (ACCESS SHARE), so it is asked of those tables
# alone, each under a short lock_timeout in a savepoint: a table locked by a migration is
# then of unknown size, and the read goes on.
_FILE_SIZE = "SELECT pg_relation_size(%s)"
_FILE_LOCK_TIMEOUT = "100ms"


class LiveDatabaseError(Exception):
    """The database could not be reached or read (a message for the user, no traceback)."""


@dataclass(frozen=True)
class TableSize:
    schema: str
    name: str
    rows: int | None  # None: never analyzed and no statistics; the size is unknown
    inserts: int | None = None
    updates: int | None = None
    hot_updates: int | None = None
    deletes: int | None = None


@dataclass(frozen=True)
class DatabaseTables:
    database: str
    server_version: str
    stats_since: datetime | None
    read_at: datetime
    tables: tuple[TableSize, ...]


def read_tables(conninfo: str, schemas: tuple[str, ...] = ()) -> DatabaseTables:
    """The tables of the database `conninfo` names (a URL or `key=value` string; empty: the
    libpq environment, PGHOST and the rest), with their sizes; only `schemas` when given."""
    try:
        import psycopg
    except ImportError:
        raise LiveDatabaseError(
            "reading a database needs psycopg: pip install 'pglint[database]'") from None
    try:
        conn = psycopg.connect(conninfo, connect_timeout=_CONNECT_TIMEOUT,
                               application_name="pglint tables")
    except psycopg.Error as exc:
        raise LiveDatabaseError(
            f"cannot connect: {_scrubbed(_libpq_message(exc), conninfo)}") from None
    try:
        with conn:
            conn.read_only = True  # every transaction BEGIN READ ONLY
            with conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = '{_STATEMENT_TIMEOUT}'")
                cur.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                cur.execute(_ABOUT)
                database, version, standby, stats_reset = cur.fetchone()
                cur.execute(_TABLES, (list(_SYSTEM_SCHEMAS),))
                rows = cur.fetchall()
                cur.execute(_CHILDREN)
                inherits = cur.fetchall()
                empty = _empty_files(conn, [r for r in rows if _needs_file_size(r, standby)])
            conn.rollback()
    except psycopg.Error as exc:
        raise LiveDatabaseError(_scrubbed(_one_line(str(exc)) or type(exc).__name__,
                                          conninfo)) from None
    return DatabaseTables(database, version, stats_reset, datetime.now(timezone.utc),
                          _sizes(rows, inherits, schemas, empty))


def _needs_file_size(row: tuple[Any, ...], standby: bool) -> bool:
    """A table with no estimate and no live count (never analyzed, or analyzed empty and the
    counters reset since); not a partitioned table (no file), not an unlogged one on a
    standby (its file is empty there whatever the primary holds)."""
    _, _, _, kind, persistence, reltuples, live, *_ = row
    return kind != "p" and _rows(reltuples, live) is None and \
        not (standby and persistence == "u")


def _empty_files(conn: Any, rows: list[tuple[Any, ...]]) -> set[int]:
    """The oids of those tables whose file is empty: for certain, no rows."""
    import psycopg

    empty: set[int] = set()
    with conn.cursor() as cur:
        for row in rows:
            try:
                with conn.transaction():  # a savepoint: a lock timeout ends only this one
                    cur.execute(f"SET LOCAL lock_timeout = '{_FILE_LOCK_TIMEOUT}'")
                    cur.execute(_FILE_SIZE, (row[0],))
                    size = cur.fetchone()[0]
            except psycopg.errors.LockNotAvailable:
                continue
            if size == 0:
                empty.add(row[0])
    return empty


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _libpq_message(exc: Exception) -> str:
    """libpq's reason a connection failed, on one line, without psycopg's prefix."""
    message = _one_line(str(exc))
    for prefix in ("connection is bad: ", "connection failed: "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    return message or type(exc).__name__


def _sizes(rows: list[tuple[Any, ...]], inherits: list[tuple[int, int]],
           schemas: tuple[str, ...], empty: set[int] = frozenset()) -> tuple[TableSize, ...]:
    by_oid: dict[int, TableSize] = {}
    for oid, schema, name, kind, _, reltuples, live, inserts, updates, hot, deletes in rows:
        own = 0 if kind == "p" or oid in empty else _rows(reltuples, live)
        by_oid[oid] = TableSize(schema, name, own, inserts, updates, hot, deletes)
    children: dict[int, list[int]] = {}
    for parent, child in inherits:
        children.setdefault(parent, []).append(child)
    totals = {oid: _with_children(oid, children, by_oid) for oid in children if oid in by_oid}
    for oid, rows_in_tree in totals.items():
        by_oid[oid] = replace(by_oid[oid], rows=rows_in_tree)
    wanted = set(schemas)
    return tuple(sorted((t for t in by_oid.values() if not wanted or t.schema in wanted),
                        key=lambda t: (t.schema, t.name)))


def _rows(reltuples: float | None, live: int | None) -> int | None:
    """A table's row count: the planner's estimate when it has one, else the statistics
    collector's live-row count, else unknown (an estimate of 0 may be older than the rows,
    and a live count of 0 may follow a reset of the counters: neither says empty)."""
    if reltuples is not None and reltuples > 0:
        return round(reltuples)
    if live:
        return int(live)
    return None


def _with_children(oid: int, children: dict[int, list[int]], by_oid: dict[int, TableSize],
                   depth: int = 0) -> int | None:
    """The rows a statement on a parent reaches: its own and its children's, partitions or
    inheritance children (a TimescaleDB hypertable's chunks), all the way down; None when one
    of them is unknown (a lower bound would call a big table small)."""
    if depth > 64:  # an inheritance graph has no cycles; never loop on a corrupt one
        return None
    total = by_oid[oid].rows
    for child in children.get(oid, ()):
        if child not in by_oid or total is None:
            return None  # a child we were not shown (another schema filtered out): unknown
        rows = _with_children(child, children, by_oid, depth + 1)
        if rows is None:
            return None
        total += rows
    return total


def _scrubbed(message: str, conninfo: str) -> str:
    """`message` without the password that `conninfo` holds (libpq quotes a URL it cannot
    parse, password included)."""
    for password in re.findall(r"://[^:/@\s]*:([^@\s]+)@|\bpassword\s*=\s*'?([^'\s]+)",
                               conninfo):
        for secret in password:
            if secret:
                message = message.replace(secret, "***")
    return message


def table_keys(tables: tuple[TableSize, ...]) -> dict[TableSize, str | None]:
    """The key each table gets in the file: `schema.name` (a migration's bare name finds
    `public.name`, as the default search_path does), or None for names that differ only in
    case within a schema (the configuration's keys are case-insensitive)."""
    keys = {t: f"{t.schema}.{t.name}" for t in tables}
    seen: dict[str, int] = {}
    for key in keys.values():
        seen[key.lower()] = seen.get(key.lower(), 0) + 1
    return {t: key if seen[key.lower()] == 1 else None for t, key in keys.items()}


def render_tables_file(read: DatabaseTables) -> str:
    """The tables file: a `[tables]` table of `name = { rows = N }`, the counters as comments."""
    since = (f"since {read.stats_since:%Y-%m-%d}" if read.stats_since
             else "since the statistics were last reset")
    lines = [
        f"# Table sizes of database {_toml_string(read.database)} (PostgreSQL "
        f"{read.server_version}), read {read.read_at:%Y-%m-%d %H:%M} UTC by `pglint tables`.",
        "# Row counts are the planner's estimates (pg_class.reltuples); the comments are the",
        f"# statistics collector's counters {since}. Load it with `tables-file` in",
        "# [tool.pglint]; hints written there by hand take precedence over this file.",
        "",
        "[tables]",
    ]
    keys = table_keys(read.tables)
    for table in read.tables:
        if keys[table] is None:
            lines.append(f"# {_toml_string(f'{table.schema}.{table.name}')}: left out "
                         "(another table's name differs from it only in case)")
            continue
        key = _toml_string(keys[table])
        if table.rows is None:
            lines.append(f"# {key}: size unknown (no estimate, no statistics)")
            continue
        lines.append(f"{key} = {{ rows = {table.rows:_} }}{_activity(table)}")
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """`text` as a TOML basic string: JSON's escapes are TOML's, but for DEL, which TOML
    wants escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _activity(table: TableSize) -> str:
    if table.inserts is None:
        return ""
    hot = ""
    if table.updates:
        hot = f" ({100 * (table.hot_updates or 0) // table.updates}% HOT)"
    return (f"  # {_count(table.inserts, 'insert')}, {_count(table.updates, 'update')}{hot}, "
            f"{_count(table.deletes or 0, 'delete')}")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
