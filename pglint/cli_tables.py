"""`pglint tables`: the command that writes production's table sizes to a tables file (the
reading and the file's format are pglint.live_tables)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("tables")
@click.option("--database-url", envvar="PGLINT_DATABASE_URL", default="", metavar="URL",
              help="The database to read (a postgresql:// URL or a libpq `key=value` string; "
                   "default: libpq's environment, PGHOST, PGDATABASE and the rest).")
@click.option("--schema", "schemas", multiple=True, metavar="NAME",
              help="Only this schema's tables (repeatable; default: every schema but the "
                   "system ones).")
@click.option("--output", "-o", "output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("pglint-tables.toml"), show_default=True,
              help="Where to write the tables file (`-` for standard output).")
def tables_command(database_url: str, schemas: tuple[str, ...], output: Path) -> None:
    """Write the sizes of a live database's tables to a tables file, for `tables-file`.

    Reads only the catalog (the planner's row estimates and the statistics counters), never
    a table's rows, in a read-only transaction that waits at most 1 s for a lock (a table a
    migration holds locked is of unknown size): safe on production.
    """
    from pglint.live_tables import LiveDatabaseError, read_tables, render_tables_file

    try:
        read = read_tables(database_url, schemas)
    except LiveDatabaseError as exc:
        click.echo(f"pglint: error: {exc}", err=True)
        sys.exit(2)
    if schemas and not read.tables:
        click.echo(f"pglint: warning: no table in schema {', '.join(schemas)} (names are "
                   "case-sensitive)", err=True)
    text = render_tables_file(read)
    known = sum(t.rows is not None for t in read.tables)
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"pglint: error: cannot write {output}: {exc}", err=True)
        sys.exit(2)
    unknown = len(read.tables) - known
    click.echo(f"Wrote the sizes of {known} table{'s' if known != 1 else ''} to {output}"
               + (f" ({unknown} of unknown size)" if unknown else "") + ".")
    click.echo(f"Use them with `tables-file = \"{output.as_posix()}\"` under [tool.pglint].")
