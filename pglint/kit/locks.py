"""What the lock-safety rules (PGL5xx) share: PostgreSQL's table lock modes, whether a table or
index existed before the migration file that changes it, where a statement runs, and the small
edits their fixes make.

Not a rule (no Rule subclass): the rules of `pglint.rules.locks` import it.

Noise control lives here. A lock on a table nobody uses yet costs nothing, and the catalog is
the project's final state (every migration replayed), so "existed before this file" is decided
conservatively: the catalog must know the object and have seen it defined by another migration
file, and the same script must not have created it earlier. Without that evidence the rules stay
silent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pglint.model.catalog import Index, Table
from pglint.sql import nodes as n

if TYPE_CHECKING:
    from pglint.context import FileContext, Token
    from pglint.sql.parse import Statement

# PostgreSQL's table lock modes, weakest first, as the documentation names them ("Table-Level
# Locks"); `pg_locks.mode` spells them "ShareLock", "AccessExclusiveLock", ...
LOCK_MODES = ("ACCESS SHARE", "ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE",
              "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE")

# What each strong mode keeps waiting while it is held (or queued for).
BLOCKED_BY = {
    "SHARE UPDATE EXCLUSIVE": "other schema changes, VACUUM and concurrent index builds",
    "SHARE": "every INSERT, UPDATE and DELETE",
    "SHARE ROW EXCLUSIVE": "every INSERT, UPDATE and DELETE",
    "EXCLUSIVE": "everything but plain SELECTs",
    "ACCESS EXCLUSIVE": "every query (SELECT included)",
}


def pg_locks_mode(mode: str) -> str:
    """A lock mode as `pg_locks.mode` spells it: SHARE ROW EXCLUSIVE -> ShareRowExclusiveLock."""
    if mode not in LOCK_MODES:
        raise ValueError(f"not a table lock mode: {mode!r}")
    return "".join(word.capitalize() for word in mode.split()) + "Lock"


def runs_in_migration(stmt: "Statement") -> bool:
    """True for a statement the migration itself runs: top level or in a DO block. A function
    body runs later, when something calls it."""
    return stmt.parent is None or stmt.parent.kind == "DoStmt"


def in_transaction_block(ctx: "FileContext", stmt: "Statement") -> bool:
    """True when the file's own `BEGIN` (or `START TRANSACTION`) is open at `stmt`, or `stmt`
    runs inside a DO block or function (which is always inside a transaction). A runner that
    wraps the whole file in a transaction is not visible here."""
    return stmt.parent is not None or ctx.session(stmt).in_transaction


def _defined_elsewhere(ctx: "FileContext", path: str) -> bool:
    return bool(path) and path != ctx.file.display_path


def table_before_file(ctx: "FileContext", stmt: "Statement", name: str | None) -> Table | None:
    """The catalog's table `name` when another migration file created it and this script has
    not created it again before `stmt`; None without that evidence."""
    if not name or name in ctx.session(stmt).created_tables:
        return None
    table = ctx.model.catalog.table(name)
    if table is None or not _defined_elsewhere(ctx, table.path):
        return None
    return table


def index_before_file(ctx: "FileContext", stmt: "Statement", name: str | None) -> Index | None:
    """The index `name` (the catalog's, or the last one a `DROP INDEX` removed) when another
    migration file defined it on a table that existed before this file; None otherwise."""
    if not name:
        return None
    catalog = ctx.model.catalog
    for index in (catalog.indexes.get(name), catalog.dropped_indexes.get(name)):
        if index is None or index.location is None:
            continue
        if _defined_elsewhere(ctx, index.location.path) and \
                table_before_file(ctx, stmt, index.table) is not None:
            return index
    return None


def keyword(ctx: "FileContext", stmt: "Statement", word: str) -> "Token | None":
    """The statement's first token spelled `word` (case-insensitive), comments skipped."""
    word = word.upper()
    for token in ctx.code_tokens(stmt):
        if token.upper == word:
            return token
    return None


def line_end_after(ctx: "FileContext", stmt: "Statement") -> tuple[int, str]:
    """Where to add a statement after `stmt`, and the text that separates them: the end of its
    line when only a comment follows it there (the comment stays with `stmt`), else just after
    its `;`."""
    after = ctx.statement_end(stmt)
    newline = ctx.text.find("\n", after)
    line_end = len(ctx.text) if newline < 0 else newline
    rest = ctx.text[after:line_end].strip()
    if not rest or rest.startswith("--"):
        return line_end, "\n" + ctx.indent_of(stmt.start)
    return after, " "


def relation_sql(rangevar: dict[str, Any] | None) -> str:
    """A RangeVar as SQL for a new statement: `orders`, `billing.invoices`."""
    name = n.relation_name(rangevar) or ""
    return n.quote_qualified(name)
