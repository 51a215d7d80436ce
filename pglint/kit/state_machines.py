"""Whether Python code treats a state column as a state machine whose transitions are checked.

A write of a `status` column is a state transition worth guarding only when the value is one
known state (a literal, or a member of the model's choices/enum) and the code shows that the
column's prior state matters: another write of the same column in the file is a
compare-and-set (`M.objects.filter(pk=x, status="paid").update(status="shipped")`,
`update(M).where(M.status == "paid").values(...)`). A column name alone is no evidence:
generic setters, admin actions and lifecycle mirrors write any state after any other.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterator

from pglint.kit.orm import (
    call_args,
    django_model,
    f_field,
    method_chain,
    sqlalchemy_update,
    statement_values,
    walk,
)
from pglint.context import FileContext, runs_repeatedly
from pglint.python.pyfile import PythonFile
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes


# -- SQL ------------------------------------------------------------------------------------


def mentions(node: Any, column: str, qualifiers: set[str | None]) -> bool:
    """A reference to the updated row's `column` under node, not counting subqueries."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "SubLink" in item:
                stack.append(item["SubLink"].get("testexpr"))
                continue
            if "ColumnRef" in item:
                parts = n.names(item["ColumnRef"].get("fields"))
                if parts and parts[-1] == column and \
                        (len(parts) == 1 or parts[-2] in qualifiers):
                    return True
                continue
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(item)
    return False


def cte_guarded(node: dict[str, Any], table: str, column: str) -> bool:
    """The UPDATE takes its rows from a CTE that selects them from `table` by `column` and locks
    them (`WITH c AS (SELECT ... WHERE status = 'todo' ... FOR UPDATE SKIP LOCKED) UPDATE t ...
    FROM c WHERE t.id = c.id`): a claim whose prior state is tested under the row lock."""
    guards = set()
    for cte in ((node.get("withClause") or {}).get("ctes") or ()):
        cte = cte.get("CommonTableExpr", {})
        select = (cte.get("ctequery") or {}).get("SelectStmt") or {}
        if not select.get("lockingClause"):
            continue
        sources = [item["RangeVar"] for item in select.get("fromClause") or ()
                   if "RangeVar" in item and n.relation_name(item["RangeVar"]) == table]
        for source in sources:
            alias = (source.get("alias") or {}).get("aliasname")
            if mentions(select.get("whereClause"), column, {None, table, alias}):
                guards.add(cte.get("ctename"))
    if not guards:
        return False
    used = [node.get("fromClause"), node.get("whereClause")]
    return any(kind == "RangeVar" and body.get("relname") in guards
               for kind, body in iter_nodes(used))


def sql_guarded_update(ctx: FileContext, stmt: Statement, table: str, column: str) -> int | None:
    """The line of another run-time UPDATE of the file that sets `table.column` and tests its
    prior value (in its WHERE or through a locking CTE): the evidence that the file treats the
    column as a state machine whose transitions are checked. None when there is none."""
    for other in ctx.all_statements():
        if other is stmt or other.kind != "UpdateStmt" or not runs_repeatedly(ctx, other):
            continue
        body = other.body
        if n.relation_name(body.get("relation")) != table or not any(
                t.get("ResTarget", {}).get("name") == column for t in body.get("targetList", ())):
            continue
        alias = ((body.get("relation") or {}).get("alias") or {}).get("aliasname")
        qualifiers = {None, ctx.model.bare(table), alias}
        tests = [c for c in n.conjuncts(body.get("whereClause"))
                 if mentions(c, column, qualifiers)]
        new = next(t["ResTarget"].get("val") for t in body.get("targetList", ())
                   if t.get("ResTarget", {}).get("name") == column)
        if tests and not all(_skips_own_value(c, column, new) for c in tests) or \
                cte_guarded(body, table, column):
            return ctx.text.count("\n", 0, other.start) + 1
    return None


def _skips_own_value(cond: dict[str, Any], column: str, new: dict[str, Any] | None) -> bool:
    """`status <> 'unsubscribed'` in the UPDATE that sets 'unsubscribed': it skips rows that
    already hold the value (no rewrite), it says nothing about which states may lead there."""
    expr = cond.get("A_Expr") or {}
    if expr.get("kind") not in ("AEXPR_OP", "AEXPR_DISTINCT") or \
            n.operator(expr) not in ("<>", "!=") and expr.get("kind") != "AEXPR_DISTINCT":
        return False
    sides = [expr.get("lexpr"), expr.get("rexpr")]
    if n.column_ref(sides[0]) != column:
        sides.reverse()
    return n.column_ref(sides[0]) == column and n.constant(sides[1]) == n.constant(new) \
        and n.constant(new)[0]


# -- Python ---------------------------------------------------------------------------------


def state_literal(node: ast.expr) -> bool:
    """A known state: a string or integer literal, or a class attribute (`Order.Status.PAID`,
    `States.SENT`); not a variable, a call, a lookup or None (a reset)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, int)) and not isinstance(node.value, bool)
    if isinstance(node, ast.Attribute):
        root: ast.expr = node
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id[:1].isupper()
    return False


def django_mentions(code: PythonFile, node: ast.AST, column: str) -> bool:
    """A lookup on `column` (`status=`, `status__in=`, inside `Q(...)`) or `F("status")`."""
    for item in (node, *walk(node)):
        if isinstance(item, ast.keyword) and item.arg is not None \
                and item.arg.split("__")[0] == column:
            return True
        if isinstance(item, ast.Call) and f_field(code, item) == column:
            return True
    return False


def loaded_by_state(code: PythonFile, source: ast.AST | None, column: str) -> bool:
    """The queryset that loaded the object filters on `column` (`.filter(status="pending")`)."""
    if source is None:
        return False
    chain = method_chain(code, source)
    return any(django_mentions(code, arg.node, column) for name, call in chain.steps
               if name in ("filter", "exclude", "get") for arg in call_args(call))


def attribute_mentions(node: ast.AST, column: str) -> bool:
    """`M.status` / `t.c.status` (any `.status` attribute) under node."""
    return any(isinstance(item, ast.Attribute) and item.attr == column
               for item in (node, *PythonFile.descendants(node)))


def django_guarded_update(code: PythonFile, model: str, column: str,
                          skip: ast.AST | None = None) -> int | None:
    """The line of a queryset `update(column=...)` of `model` whose queryset tests `column`
    (other than `skip`), or None."""
    for call in code.nodes(ast.Call):
        if call is skip or not isinstance(call.func, ast.Attribute) \
                or call.func.attr != "update" or not any(k.arg == column for k in call.keywords):
            continue
        chain = method_chain(code, call)
        if chain.outer is not call or django_model(code, chain) != model:
            continue
        if any(django_mentions(code, arg.node, column) for name, step in chain.steps[:-1]
               if name in ("filter", "exclude") for arg in call_args(step)):
            return call.lineno
    return None


def sqlalchemy_guarded_update(code: PythonFile, entity: str, column: str,
                              tables: Callable[[str], str | None],
                              skip: ast.AST | None = None) -> int | None:
    """The line of an SQLAlchemy UPDATE of `entity` that sets `column` and tests it in its
    where (other than the chain ending at `skip`), or None."""
    for call in code.nodes(ast.Call):
        found = sqlalchemy_update(code, call, tables)
        if found is None or found[1] != entity or found[0].outer is skip:
            continue
        chain, _, _, wheres = found
        if any(name == column for name, _ in statement_values(code, chain)) and any(
                attribute_mentions(where, column) for where in wheres):
            return chain.outer.lineno  # type: ignore[attr-defined]
    return None


def sqlalchemy_transitions(code: PythonFile, entity: str, column: str,
                           tables: Callable[[str], str | None],
                           value: Callable[[ast.AST], str]) -> Iterator[tuple[str, str]]:
    """(prior, new) values (rendered by `value`, `...` when not a literal) of the file's
    SQLAlchemy UPDATEs of `entity` that test `column` with `==` and set it."""
    for call in code.nodes(ast.Call):
        found = sqlalchemy_update(code, call, tables)
        if found is None or found[1] != entity:
            continue
        new = next((value(v) for name, v in statement_values(code, found[0]) if name == column),
                   "...")
        for test in (t for where in found[3] for t in (where, *PythonFile.descendants(where))):
            if new != "..." and isinstance(test, ast.Compare) and len(test.ops) == 1 \
                    and isinstance(test.ops[0], ast.Eq) and isinstance(test.left, ast.Attribute) \
                    and test.left.attr == column and value(test.comparators[0]) != "...":
                yield value(test.comparators[0]), new


def set_or_tested_before(nodes: list[ast.AST], at: int, obj: str, column: str) -> bool:
    """Before position `at` of a function's nodes: `obj.column` compared (`if obj.status ==
    ...`, `obj.status in (...)`) or assigned. The function checked the prior state itself, or
    it is the owner of the object's state, which it set earlier (a task's failure and success
    paths after it marked the object as processing)."""
    for item in nodes[:at]:
        if isinstance(item, ast.Compare) and any(
                _is_attribute(side, obj, column) for side in (item.left, *item.comparators)):
            return True
        if isinstance(item, ast.Assign) and any(
                _is_attribute(target, obj, column) for target in item.targets):
            return True
    return False


def _is_attribute(node: ast.AST, obj: str, column: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == column and isinstance(
        node.value, ast.Name) and node.value.id == obj
