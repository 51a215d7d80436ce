"""Which tables and columns the application's SQL names (and, read by
pglint.python.orm_uses, which ones its ORM models map): a migration that drops or renames one
of them breaks the code that still does, the moment it runs.

Read from run-time SQL only (application query files and SQL strings in application code),
statement by statement: every table a statement names (with its aliases), every column it
names with the table it resolves to when that is certain (`o.total` with `orders o`, any
column of a one-table statement, the columns an INSERT or UPDATE writes), and, for an
unqualified column of a statement with several tables, those tables (the column belongs to
whichever has it). `SELECT *` names no column: it is not evidence for one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from pglint.model.location import Location
from pglint.sql import nodes as n
from pglint.sql.parse import iter_nodes


@dataclass(frozen=True)
class Use:
    """One statement naming a table, or one of its columns."""

    table: str  # the table as the catalog keys it
    column: str | None  # None: the table itself
    # For an unqualified column of a statement naming several tables: the statement's other
    # tables (the column may be one of theirs); () when the column is certainly `table`'s.
    others: tuple[str, ...]
    location: Location
    # A model's mapping of it (`Order.legacy_total`, `Order` for the table) when the use is an
    # ORM model's (pglint.python.orm_uses); "" for a statement of the application's SQL.
    mapped: str = ""


def statement_uses(node: dict[str, Any], start: int, end: int,
                   where: Callable[[int, int], Location]) -> list[Use]:
    """The uses of one statement (its pglast tree) located at (start, end) in its file."""
    nodes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, body in iter_nodes(node):  # one walk of the tree, its nodes by type
        nodes[kind].append(body)
    aliases: dict[str, str] = {}
    tables: list[str] = []
    for rangevar in _rangevars(nodes):
        name = n.relation_name(rangevar)
        if not name:
            continue
        if name not in tables:
            tables.append(name)
        aliases[rangevar["relname"].lower()] = name
        alias = (rangevar.get("alias") or {}).get("aliasname")
        if alias:
            aliases[alias.lower()] = name
    if not tables:
        return []
    ctes = {cte.get("ctename", "").lower() for cte in nodes["CommonTableExpr"]}
    tables = [t for t in tables if t not in ctes]
    here = where(start, end)
    uses = [Use(table, None, (), here) for table in tables]
    seen: set[tuple[str, str]] = set()

    def add(table: str, column: str, others: tuple[str, ...]) -> None:
        if (table, column) not in seen and table in tables:
            seen.add((table, column))
            uses.append(Use(table, column, others, here))

    for table, column in _written_columns(nodes):
        add(table, column, ())
    for ref in nodes["ColumnRef"]:
        fields = [f["String"]["sval"].lower() for f in ref.get("fields") or ()
                  if "String" in f]
        if not fields or len(fields) != len(ref.get("fields") or ()):
            continue  # `t.*` or `*`
        if len(fields) == 1:
            if len(tables) == 1:
                add(tables[0], fields[0], ())
            else:
                for table in tables:
                    add(table, fields[0], tuple(t for t in tables if t != table))
        else:
            table = aliases.get(fields[-2])
            if table is not None:
                add(table, fields[-1], ())
    return uses


def _rangevars(nodes: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The tables a statement names: RangeVar nodes, and the target relation of an INSERT,
    UPDATE, DELETE or MERGE (a bare RangeVar in pglast's tree, not a wrapped node)."""
    yield from nodes["RangeVar"]
    for kind in ("InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"):
        for statement in nodes[kind]:
            if statement.get("relation"):
                yield statement["relation"]


def _written_columns(nodes: dict[str, list[dict[str, Any]]]) -> Iterator[tuple[str, str]]:
    """(table, column) of the columns INSERT and UPDATE statements write."""
    for kind in ("InsertStmt", "UpdateStmt"):
        for statement in nodes[kind]:
            table = n.relation_name(statement.get("relation"))
            field = "cols" if kind == "InsertStmt" else "targetList"
            for target in statement.get(field) or ():
                name = (target.get("ResTarget") or {}).get("name")
                if table and name:
                    yield table, name.lower()


def encode_use(use: Use) -> tuple:
    return (use.table, use.column, use.others, (use.location.start, use.location.end),
            use.mapped)


def decode_use(data: tuple, where: Callable[[int, int], Location]) -> Use:
    return Use(data[0], data[1], tuple(data[2]), where(*data[3]), str(data[4]))
