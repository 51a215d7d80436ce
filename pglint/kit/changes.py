"""Which migration files ship together as one change, and what a change already breaks.

A lock blocks production only if the running version of the application uses the table
while the migration runs. Two things the files' names and the replayed catalog show decide
that beyond one file:

- Migrations that always ship together are one change. ory/popx generates a chunk per
  statement from one source migration (`20220210000001000007_nid.postgres.up.sql` and
  `..._000010_nid...` both come from `src/20220210000001_nid/`): a table an earlier chunk
  created is as new to a later chunk as to the chunk that created it.
- A change that makes a column it adds NOT NULL with no default makes every INSERT the
  running version sends into that table fail (that version does not know the column): such a
  change cannot run beside the old version, so a lock on that table blocks nobody that could
  still write it.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pglint.context import FileContext

# An ory/popx chunk: a 14-digit version, a 6-digit chunk number, the source migration's name.
_POPX_CHUNK = re.compile(r"^(\d{14})(\d{6})_([^.]+)\.")


def _chunk_source(path: str) -> tuple[str, str] | None:
    """(version, name) of the source migration a generated chunk comes from. Not its folder:
    the generator's input (`src/<version>_<name>/`) holds chunks of the same names."""
    m = _POPX_CHUNK.match(PurePosixPath(path).name)
    return (m.group(1), m.group(3)) if m else None


def postgres_autocommit_name(path: str) -> str | None:
    """For an ory/popx migration every dialect runs (`<version>_<name>.up.sql`), the name of
    the file PostgreSQL runs instead, outside a transaction; None for another file."""
    name = PurePosixPath(path).name
    m = re.match(r"^(\d+_[^.]+)\.up\.sql$", name)
    return f"{m.group(1)}.postgres.autocommit.up.sql" if m and _POPX_CHUNK.match(name) else None


def same_change(ctx: FileContext, path: str) -> bool:
    """Whether the migration file at project path `path` ships with the file being linted:
    the file itself, or another chunk generated from the same source migration."""
    here = ctx.file.project_path
    if path == here:
        return True
    source = _chunk_source(path)
    return source is not None and source == _chunk_source(here)


def _runs_before(ctx: FileContext, path: str, offset: int, stmt_start: int) -> bool:
    """Whether the statement at `offset` of `path`, a file of this change, runs before the
    statement of the linted file starting at `stmt_start`: chunks of one folder run in name
    order; the generator's input (`src/`, the whole source in one file) is no measure of it."""
    here = ctx.file.project_path
    if path == here:
        return offset < stmt_start
    there, this = PurePosixPath(path), PurePosixPath(here)
    return there.parent == this.parent and there.name < this.name


def stops_running_version(ctx: FileContext, table: str, stmt_start: int) -> str | None:
    """How this change, before the statement starting at `stmt_start`, already makes the
    running version's INSERTs into `table` fail, as "`t.c`, added without a default, is made
    NOT NULL at path" (None when it does not): a column added by this change, with no
    default, made NOT NULL by this change."""
    catalog = ctx.model.catalog
    known = catalog.table(table) or catalog.former_tables.get(table)
    if known is None:
        return None
    for column in known.columns.values():
        if column.default or column.location is None or \
                not same_change(ctx, column.location.path):
            continue
        sets = catalog.not_null_set.get((known.name, column.name)) or \
            catalog.not_null_set.get((table, column.name), ())
        for path, offset in sets:
            if same_change(ctx, path) and _runs_before(ctx, path, offset, stmt_start):
                return (f"`{table}.{column.name}`, added by this change without a default, "
                        f"is made NOT NULL in {path}")
    return None
