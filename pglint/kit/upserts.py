"""Check-then-insert and upserts in SQL: a guarding `EXISTS`/`NOT FOUND` check, the conflict
target a unique index gives, where `ON CONFLICT` goes, and the PL/pgSQL around a statement.
Shared by PGL201 and PGL204 (SQL forms) and the Python forms in `check_then_act`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pglint.context import FileContext
from pglint.kit.sql_tokens import first_top_level
from pglint.model.catalog import Index
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

NOT_FOUND = re.compile(r"^\s*NOT\s+FOUND\s*$", re.IGNORECASE)
MAX_IDENT = 63  # PostgreSQL truncates longer names, so a guessed constraint name may be wrong


@dataclass
class Check:
    """A check-then-insert: the lookup, the insert it guards, and where they are."""

    shape: str  # how the user wrote it, for the message
    table: str
    lookup: list[tuple[str, dict[str, Any]]]  # (column, compared value) of the lookup
    only_equalities: bool  # the lookup is nothing but `col = value` conjuncts
    insert: Statement | None  # the guarded INSERT statement
    # Part of the lookup is not a plain `col = value` (`lower(col) = x`): `lookup` is not all of it.
    partial: bool = False


def guarded_by_check(stmt: Statement) -> bool:
    """True for a PL/pgSQL INSERT that sits in an `IF` testing `EXISTS` or `FOUND`: the insert
    is the act of a check-then-act, which this rule reports."""
    holder = stmt.plpgsql_holder
    if holder is None or holder[0] != "PLpgSQL_stmt_execsql" or stmt.parent is None \
            or stmt.parent.plpgsql is None:
        return False
    place = locate_plpgsql(stmt.parent.plpgsql, holder[1])
    if place is None or place[2] is None:
        return False
    owner = place[2]
    if place[0] is not owner.get("then_body") and place[0] is not owner.get("else_body"):
        return False
    cond = (owner.get("cond") or {}).get("PLpgSQL_expr", {}).get("query", "").lower()
    table = n.relation_name(stmt.body.get("relation")) or ""
    return bool(NOT_FOUND.match(cond)) or ("exists" in cond and table.split(".")[-1] in cond)


def locate_plpgsql(tree: Any, target: dict[str, Any]) -> tuple[list, int, dict | None] | None:
    """The PL/pgSQL statement list holding `target` (a statement's fields), its index there, and
    the fields of the PL/pgSQL statement that owns the list (an IF for `then_body`)."""
    stack: list[tuple[Any, dict | None]] = [(tree, None)]
    while stack:
        item, owner = stack.pop()
        if isinstance(item, list):
            for i, child in enumerate(item):
                if isinstance(child, dict) and len(child) == 1 and \
                        next(iter(child.values())) is target:
                    return item, i, owner
            stack.extend((child, owner) for child in item if isinstance(child, (dict, list)))
        elif isinstance(item, dict):
            for key, value in item.items():
                if key != "datums" and isinstance(value, (dict, list)):
                    stack.append((value, item))
    return None


def plpgsql_variables(stmt: Statement) -> set[str]:
    """Names of the variables and parameters of the PL/pgSQL body holding `stmt`."""
    tree = stmt.parent.plpgsql if stmt.parent is not None else None
    out: set[str] = set()
    for function in tree or ():
        for datum in (function.get("PLpgSQL_function") or {}).get("datums") or ():
            for fields in datum.values():
                name = fields.get("refname") if isinstance(fields, dict) else None
                if name:
                    out.add(name.lower())
    return out


def conflict_target(stmt: Statement, index: Index) -> str | None:
    """`(cols)` for ON CONFLICT, or `ON CONSTRAINT name` where a PL/pgSQL variable of the same
    name as a key column would make `(cols)` ambiguous; None when neither works."""
    columns = [c for c in index.columns if c]
    if stmt.parent is not None and set(c.lower() for c in columns) & plpgsql_variables(stmt):
        if index.constraint and len(index.name) <= MAX_IDENT:
            return f"ON CONSTRAINT {n.quote_ident(index.name)}"
        return None
    return "(" + ", ".join(n.quote_ident(c) for c in columns) + ")"


def conflict_point(ctx: FileContext, stmt: Statement) -> int:
    """Where `ON CONFLICT ...` goes in an INSERT: before a top-level RETURNING, else at its end."""
    if has_returning(stmt.body):
        tokens = ctx.tokens(stmt)
        returning = first_top_level(tokens, "RETURNING")
        if returning is not None:
            return end_of_previous(ctx, stmt, tokens[returning].start)
    return stmt.end


def end_of_previous(ctx: FileContext, stmt: Statement, offset: int) -> int:
    previous = [t for t in ctx.tokens(stmt) if t.end <= offset and not t.name.endswith("COMMENT")]
    return previous[-1].end if previous else offset


def exists_sublink(node: dict[str, Any]) -> dict[str, Any] | None:
    link = node.get("SubLink")
    if link and link.get("subLinkType") == "EXISTS_SUBLINK":
        return (link.get("subselect") or {}).get("SelectStmt")
    return None


def single_table(select: dict[str, Any]) -> str | None:
    items = select.get("fromClause") or ()
    if len(items) != 1 or "RangeVar" not in items[0]:
        return None
    return n.relation_name(items[0]["RangeVar"])


def lookup_equalities(select: dict[str, Any], table: str
            ) -> tuple[list[tuple[str, dict[str, Any]]], bool] | None:
    """The `col = value` conjuncts of a lookup on `table` (and whether that is all it has)."""
    items = select.get("fromClause") or ()
    if len(items) != 1 or "RangeVar" not in items[0]:
        return None
    rangevar = items[0]["RangeVar"]
    if n.relation_name(rangevar) != table:
        return None
    alias = (rangevar.get("alias") or {}).get("aliasname") or rangevar.get("relname")
    parts = n.conjuncts(select.get("whereClause"))
    found: list[tuple[str, dict[str, Any]]] = []
    for part in parts:
        eq = inner_equality(part, alias)
        if eq is not None and eq[0] not in (c for c, _ in found):
            found.append(eq)
    if not found:
        return None
    return found, len(found) == len(parts) and not select.get("groupClause")


def inner_equality(node: dict[str, Any], alias: str) -> tuple[str, dict[str, Any]] | None:
    """`col = value` where `col` is a column of the lookup's table (qualified by its alias or
    not qualified) and `value` is anything else."""
    expr = node.get("A_Expr")
    if not expr or expr.get("kind") != "AEXPR_OP" or n.operator(expr) != "=":
        return None
    sides = [expr.get("lexpr") or {}, expr.get("rexpr") or {}]
    for own, other in (sides, sides[::-1]):
        ref = own.get("ColumnRef")
        if not ref:
            continue
        parts = n.names(ref.get("fields"))
        if len(parts) == 1 or (len(parts) == 2 and parts[0] == alias):
            other_ref = other.get("ColumnRef")
            other_parts = n.names(other_ref.get("fields")) if other_ref else []
            if len(parts) == 1 and len(other_parts) == 2 and other_parts[0] == alias:
                continue  # `x = t.col`: the qualified side is the table's
            return parts[-1], other
    return None


def catalog_name(ctx: FileContext, table: str) -> str:
    """The name under which the catalog knows a table a query names: as written, without
    `public.`, or, for a bare name, the one schema-qualified table of that name (migrations
    that write `app.users` and queries that rely on `search_path` to write `users`). The name
    as written when the catalog knows none, or several."""
    catalog = ctx.model.catalog
    if catalog.table(table) is not None:
        return table
    bare = table.split(".")[-1]
    if "." in table:
        return bare if table.split(".")[0].lower() == "public" and catalog.table(bare) else table
    found = [name for name in catalog.tables if "." in name
             and name.split(".")[-1].lower() == bare.lower()]
    return found[0] if len(found) == 1 else table


def child_lookup(ctx: FileContext, table: str, columns: list[str]) -> bool:
    """A lookup on one foreign-key column that no unique key covers: "does this parent have a
    child yet?" on a one-to-many relation (an event's first submission type). A second child
    is what the data model allows, and a unique constraint on the column would break it."""
    if len(columns) != 1 or any(set(i.columns) <= set(columns)
                                for i in unique_indexes(ctx, table)):
        return False
    return any(fk.table == table and fk.columns == columns
               for fk in ctx.model.catalog.foreign_keys)


def unique_indexes(ctx: FileContext, table: str) -> list[Index]:
    """Non-partial unique indexes and constraints on plain columns, primary key first."""
    found = [i for i in ctx.model.catalog.indexes_on(table)
             if (i.unique or i.primary) and not i.partial and i.columns and all(i.columns)]
    return sorted(found, key=lambda i: not i.primary)


def has_returning(body: dict[str, Any]) -> bool:
    return bool(n.returning(body))
