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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# Catalog queries only; a server that is busy must not make pglint wait on a lock, and a
# slow one must not keep it forever.
_STATEMENT_TIMEOUT = "30s"
_LOCK_TIMEOUT = "1s"
_CONNECT_TIMEOUT = 10

_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")

# Ordinary tables, partitioned tables and materialized views, with what a size needs:
# the main fork's size says for certain that a table is empty; reltuples is the planner's
# estimate (-1 from 14 on when never vacuumed or analyzed); n_live_tup the collector's count.
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition, c.reltuples,
       CASE WHEN c.relkind = 'p' THEN NULL ELSE pg_relation_size(c.oid) END,
       s.n_live_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_hot_upd, s.n_tup_del
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm')
  AND n.nspname <> ALL (%s)
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
"""
_PARTITIONS = "SELECT inhparent, inhrelid FROM pg_inherits"
_ABOUT = """
SELECT current_database(), current_setting('server_version'),
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())
"""


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
        raise LiveDatabaseError(f"cannot connect: {_libpq_message(exc)}") from None
    try:
        with conn:
            conn.read_only = True  # every transaction BEGIN READ ONLY
            with conn.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = '{_STATEMENT_TIMEOUT}'")
                cur.execute(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                cur.execute(_ABOUT)
                database, version, stats_reset = cur.fetchone()
                cur.execute(_TABLES, (list(_SYSTEM_SCHEMAS),))
                rows = cur.fetchall()
                cur.execute(_PARTITIONS)
                inherits = cur.fetchall()
            conn.rollback()
    except psycopg.Error as exc:
        raise LiveDatabaseError(_one_line(str(exc)) or type(exc).__name__) from None
    return DatabaseTables(database, version, stats_reset, datetime.now(timezone.utc),
                          _sizes(rows, inherits, schemas))


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
           schemas: tuple[str, ...]) -> tuple[TableSize, ...]:
    by_oid: dict[int, TableSize] = {}
    kinds: dict[int, str] = {}
    for (oid, schema, name, kind, is_partition, reltuples, main_bytes, live,
         inserts, updates, hot, deletes) in rows:
        kinds[oid] = kind
        by_oid[oid] = TableSize(schema, name, _rows(reltuples, main_bytes, live),
                                inserts, updates, hot, deletes)
    children: dict[int, list[int]] = {}
    for parent, child in inherits:
        children.setdefault(parent, []).append(child)
    for oid, kind in kinds.items():
        if kind == "p":
            table = by_oid[oid]
            by_oid[oid] = TableSize(table.schema, table.name,
                                    _partitioned_rows(oid, children, by_oid, kinds))
    wanted = set(schemas)
    return tuple(sorted((t for t in by_oid.values() if not wanted or t.schema in wanted),
                        key=lambda t: (t.schema, t.name)))


def _rows(reltuples: float | None, main_bytes: int | None, live: int | None) -> int | None:
    """A table's row count: 0 when its main fork is empty (certain), the planner's estimate
    when it has one, else the statistics collector's live-row count, else unknown."""
    if main_bytes == 0:
        return 0
    if reltuples is not None and reltuples > 0:
        return round(reltuples)
    if live:
        return int(live)
    if reltuples == 0:  # analyzed (or vacuumed) and found empty since
        return 0
    return None


def _partitioned_rows(oid: int, children: dict[int, list[int]], by_oid: dict[int, TableSize],
                      kinds: dict[int, str], depth: int = 0) -> int | None:
    """The rows of a partitioned table: its leaf partitions' sum; None when a leaf's size is
    unknown (a lower bound would call a big table small)."""
    if depth > 64:  # a partition tree is a tree; never loop on a corrupt one
        return None
    total = 0
    for child in children.get(oid, ()):
        if child not in by_oid:
            return None  # a leaf in a schema we were not shown: unknown
        rows = (_partitioned_rows(child, children, by_oid, kinds, depth + 1)
                if kinds.get(child) == "p" else by_oid[child].rows)
        if rows is None:
            return None
        total += rows
    return total


def table_keys(tables: tuple[TableSize, ...]) -> dict[TableSize, str]:
    """The key each table gets in the file: its bare name when no other table listed has it
    (migrations mostly name tables that way), `schema.name` when two schemas share it; then
    `public`'s keeps the bare name too, the table an unqualified name finds by default."""
    seen: dict[str, int] = {}
    for table in tables:
        seen[table.name.lower()] = seen.get(table.name.lower(), 0) + 1
    return {t: t.name if seen[t.name.lower()] == 1 or t.schema == "public"
            else f"{t.schema}.{t.name}" for t in tables}


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
        key = _toml_string(keys[table])
        if table.rows is None:
            lines.append(f"# {key}: size unknown (never analyzed, no statistics)")
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
