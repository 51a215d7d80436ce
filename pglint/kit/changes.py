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
  change cannot run beside the old version, so its locks block no traffic worth protecting.
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


def stops_running_version(ctx: FileContext) -> str | None:
    """How this change makes the running version's INSERTs fail, as "`t.c`, added by this
    change without a default, is made NOT NULL in path" (None when it does not): a column the
    change adds with no default and makes NOT NULL. Such a change cannot run beside the old
    version, wherever in it the break comes: its deploy stops that version (or lets it fail),
    and a lock anywhere in the change blocks no traffic worth protecting."""
    catalog = ctx.model.catalog
    for (table, name), sets in catalog.not_null_set.items():
        known = catalog.table(table) or catalog.former_tables.get(table)
        column = known.columns.get(name) if known is not None else None
        if column is None or column.default or column.location is None or \
                not same_change(ctx, column.location.path):
            continue
        for path, _ in sets:
            if same_change(ctx, path):
                return (f"`{table}.{name}`, added by this change without a default, is made "
                        f"NOT NULL in {path}")
    return None
