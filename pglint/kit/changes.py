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
from pglint.model.catalog import Catalog

# An ory/popx chunk: a 14-digit version, a 6-digit chunk number, the source migration's name.
_POPX_CHUNK = re.compile(r"^(\d{14})(\d{6})_([^.]+)\.")


def change_of(path: str) -> tuple[str, str] | str:
    """What identifies the change the migration file at `path` ships in: the (version, name) of
    the source migration a generated chunk comes from (not its folder: the generator's input,
    `src/<version>_<name>/`, holds chunks of the same names), else the path itself."""
    m = _POPX_CHUNK.match(PurePosixPath(path).name)
    return (m.group(1), m.group(3)) if m else path


def postgres_autocommit_name(path: str) -> str | None:
    """For an ory/popx migration every dialect runs (`<version>_<name>.up.sql`), the name of
    the file PostgreSQL runs instead, outside a transaction; None for another file."""
    m = re.match(r"^(\d+_[^.]+)\.up\.sql$", PurePosixPath(path).name)
    return f"{m.group(1)}.postgres.autocommit.up.sql" if m and is_popx_chunk(path) else None


def is_popx_chunk(path: str) -> bool:
    """Whether the migration file at `path` is a chunk ory/popx generated: popx runs a file
    named `.autocommit.` outside a transaction, one query string per file."""
    return bool(_POPX_CHUNK.match(PurePosixPath(path).name))


def same_change(ctx: FileContext, path: str) -> bool:
    """Whether the migration file at project path `path` ships with the file being linted:
    the file itself, or another chunk generated from the same source migration."""
    return change_of(path) == change_of(ctx.file.project_path)


def stops_running_version(ctx: FileContext) -> bool:
    """Whether this change makes the running version's INSERTs fail: it adds a column with no
    default and makes it NOT NULL. Such a change cannot run beside the old version, wherever in
    it the break comes: its deploy stops that version (or lets it fail), and a lock anywhere in
    the change blocks no traffic worth protecting."""
    return change_of(ctx.file.project_path) in ctx.model.memo(
        "_breaking_changes_memo", lambda: _breaking_changes(ctx.model.catalog))


def _breaking_changes(catalog: Catalog) -> frozenset[tuple[str, str] | str]:
    """The changes (change_of) that add a column with no default and set it NOT NULL."""
    out = set()
    for (table, name), paths in catalog.not_null_set.items():
        known = catalog.table_or_former(table)
        column = known.columns.get(name) if known is not None else None
        if column is None or column.default or column.location is None:
            continue
        added = change_of(column.location.path)
        if any(change_of(path) == added for path in paths):
            out.add(added)
    return frozenset(out)
