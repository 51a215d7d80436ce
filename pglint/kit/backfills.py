"""Which data migrations write a whole table: a WHERE that does not narrow an `UPDATE` or
`DELETE` to a few rows. PGL202 asks it to find unbatched backfills, PGL308 to find the
statements that hold their row locks for as long as the table is big.

Not a rule (no Rule subclass).
"""

from __future__ import annotations

from typing import Any

from pglint.sql import nodes as n


def writes_whole_table(where: dict[str, Any] | None) -> bool:
    """True for an UPDATE's or DELETE's WHERE clause that leaves every row, or most, in: none
    at all, or only broad conditions AND-ed together (`col IS NULL`, `true`, `NOT flag`,
    `col <> x`). A join condition is not one: how many rows it keeps depends on the joined
    relation."""
    return where is None or all(_broad(c) for c in n.conjuncts(where))


def _broad(cond: dict[str, Any]) -> bool:
    """A WHERE conjunct that does not narrow a whole-table statement to a few rows."""
    while "TypeCast" in cond:
        cond = cond["TypeCast"].get("arg") or {}
    if "A_Const" in cond or "NullTest" in cond or "BooleanTest" in cond or "ColumnRef" in cond:
        return True
    if "BoolExpr" in cond:
        expr = cond["BoolExpr"]
        args = expr.get("args") or ()
        if expr.get("boolop") == "NOT_EXPR":
            return all("ColumnRef" in a or "NullTest" in a for a in args)
        return expr.get("boolop") == "OR_EXPR" and all(_broad(a) for a in args)
    if "A_Expr" in cond:
        expr = cond["A_Expr"]
        if expr.get("kind") in ("AEXPR_DISTINCT", "AEXPR_NOT_DISTINCT"):
            return True
        if expr.get("kind") != "AEXPR_OP":
            return False
        op = n.operator(expr)
        left, right = expr.get("lexpr") or {}, expr.get("rexpr") or {}
        if op in ("<>", "!="):
            return True
        if op == "=":
            # A join condition (`t.id = s.id`) narrows to the rows the joined relation holds:
            # a few, or all of them, which the statement does not tell. Unsure: not broad.
            for side in (left, right):
                is_const, value = n.constant(side)
                if is_const and isinstance(value, bool):
                    return True
    return False
