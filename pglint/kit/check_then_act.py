"""The Python forms of check-then-act (PGL204), shared with PGL201: reading Django,
SQLAlchemy and raw-SQL checks and the inserts they guard in Python code.

Their findings and fixes are built in `check_then_act_fixes`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from pglint.context import FileContext
from pglint.kit.upserts import Check, exists_sublink, lookup_equalities, single_table
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

# Folders and files whose code runs once or only under test: data migrations, seeds, fixtures.
# Terminal calls that answer "is there such a row?".
_DJANGO_PROBES = frozenset({"exists", "first", "last", "count"})
_SA_PROBES = frozenset({"first", "one_or_none", "scalar_one_or_none", "scalar", "count"})
_SQL_PROBES = frozenset({"fetchone", "first", "one_or_none", "scalar", "scalar_one_or_none"})
PROBES = _DJANGO_PROBES | _SA_PROBES | _SQL_PROBES
# QuerySet methods that leave a Django lookup's meaning alone (`exclude`, `using` do not).
_DJANGO_NEUTRAL = frozenset({"all", "order_by", "only", "defer", "select_related",
                             "prefetch_related"})
# Result/Query methods between a SQLAlchemy select and the probe.
_SA_NEUTRAL = frozenset({"scalars", "limit", "order_by", "options", "execution_options",
                         "with_for_update", "unique"})
_SA_SELECTS = frozenset({"sqlalchemy.select", "sqlalchemy.future.select", "sqlalchemy.sql.select",
                         "sqlalchemy.sql.expression.select", "sqlmodel.select"})
SA_INSERTS = frozenset({"sqlalchemy.insert", "sqlalchemy.sql.insert",
                        "sqlalchemy.sql.expression.insert", "sqlalchemy.dialects.postgresql.insert",
                        "sqlalchemy.dialects.postgresql.dml.insert"})
PG_INSERT = "sqlalchemy.dialects.postgresql.insert"


@dataclass
class PyCheck:
    """A check-then-insert in Python: the lookup, the insert it guards, and where they are."""

    shape: str  # how the user wrote it, for the message
    kind: str  # "django" | "sqlalchemy" | "sql"
    model: str  # the model class ("" for raw SQL)
    lookup: list[tuple[str, Any]]  # (field / attribute, value node) of the lookup (ORM forms)
    plain: bool  # the lookup is nothing but keyword equalities
    first: Any  # the first statement of the pattern (the lookup's own, or the if / try)
    node: Any  # the If / Try statement
    act: Any  # the call that inserts
    inline: bool  # the lookup's result is not kept in a variable
    sql: Check | None = None  # raw SQL: the SELECT's table and lookup, and the INSERT


def python_check(ctx: FileContext, node: Any) -> PyCheck | None:
    """The check-then-insert that an `if` or `try` statement completes, or None."""
    cst = ctx.python.cst
    if isinstance(node, cst.If):
        return _if_check(ctx, node)
    if isinstance(node, cst.Try):
        return _try_check(ctx, node)
    return None


def python_acts(ctx: FileContext) -> tuple[set[int], set[int]]:
    """The inserts that complete a Python check-then-act in this file (which PGL204 reports):
    ids of ORM calls, and start offsets of embedded INSERT statements."""
    tree = ctx.python
    cached = _ACTS.get(tree)
    if cached is None:
        calls: set[int] = set()
        starts: set[int] = set()
        for node in (*tree.nodes("If"), *tree.nodes("Try")):
            found = python_check(ctx, node)
            if found is None:
                continue
            calls.add(id(found.act))
            if found.sql is not None and found.sql.insert is not None:
                starts.add(found.sql.insert.start)
        cached = _ACTS[tree] = (calls, starts)
    return cached


# Per parsed file (a tree lives as long as its file is being linted).
_ACTS: "weakref.WeakKeyDictionary[Any, tuple[set[int], set[int]]]" = weakref.WeakKeyDictionary()


def _unwrap(cst: Any, node: Any) -> Any:
    """`await x` -> x."""
    while isinstance(node, cst.Await):
        node = node.expression
    return node


def _condition(cst: Any, test: Any) -> tuple[Any, bool] | None:
    """(probe, whether the test is true when the row is missing) of an `if` test:
    `not x`, `x is None`, `x == 0`, `x < 1` (missing); `x`, `x is not None`, `x > 0` (found)."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return test.expression, True
    if isinstance(test, cst.Comparison):
        if len(test.comparisons) != 1:
            return None
        target = test.comparisons[0]
        op, left, right = target.operator, test.left, target.comparator
        if isinstance(op, (cst.Is, cst.IsNot)):
            if isinstance(right, cst.Name) and right.value == "None":
                return left, isinstance(op, cst.Is)
            return None
        if isinstance(left, cst.Integer):
            left, right = right, left
            op = {cst.LessThan: cst.GreaterThan(), cst.GreaterThan: cst.LessThan()}.get(
                type(op), op)
        if not isinstance(right, cst.Integer) or right.value not in ("0", "1"):
            return None
        zero = right.value == "0"
        if zero and isinstance(op, cst.Equal) or not zero and isinstance(op, cst.LessThan):
            return left, True
        if zero and isinstance(op, (cst.NotEqual, cst.GreaterThan)) or \
                not zero and isinstance(op, cst.GreaterThanEqual):
            return left, False
        return None
    return test, False


def _block(tree: Any, statement: Any) -> list[Any]:
    """The statements of the block holding `statement`."""
    parent = tree.parent(statement)
    body = getattr(parent, "body", None)
    return list(body) if isinstance(body, (list, tuple)) else []


def last_assignment(cst: Any, statements: list[Any], name: str) -> tuple[Any, Any] | None:
    """The last `name = value` among `statements`: (that statement, value)."""
    for statement in reversed(statements):
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
                    small.targets[0].target, cst.Name) and small.targets[0].target.value == name:
                return statement, small.value
            if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and \
                    small.target.value == name and small.value is not None:
                return statement, small.value
    return None


def _if_check(ctx: FileContext, node: Any) -> PyCheck | None:
    tree = ctx.python
    cst = tree.cst
    condition = _condition(cst, node.test)
    if condition is None:
        return None
    probe, missing = condition
    probe = _unwrap(cst, probe)
    if isinstance(probe, cst.Subscript):  # `cur.fetchone()[0]`
        probe = _unwrap(cst, probe.value)
    if isinstance(probe, cst.Name):
        pass
    elif not (isinstance(probe, cst.Call) and isinstance(probe.func, cst.Attribute)
              and probe.func.attr.value in PROBES):
        return None  # the cheap exit for almost every `if`
    if missing:
        branch = node.body
    elif isinstance(node.orelse, cst.Else):
        branch = node.orelse.body
    else:
        return None
    block = _block(tree, node)
    at = next((i for i, s in enumerate(block) if s is node), None)
    if at is not None:
        before = block[:at]
    elif isinstance(tree.parent(node), cst.If) and tree.parent(node).orelse is node:
        before = []  # an `elif`: only a lookup in its own test
    else:
        return None
    first, inline = node, True
    if isinstance(probe, cst.Name):
        found = last_assignment(cst, before, probe.value)
        if found is None:
            return None
        first, probe = found
        probe = _unwrap(cst, probe)
        if isinstance(probe, cst.Subscript):
            probe = _unwrap(cst, probe.value)
        if not (isinstance(probe, cst.Call) and isinstance(probe.func, cst.Attribute)
                and probe.func.attr.value in PROBES):
            return None
        before = before[:next(i for i, s in enumerate(before) if s is first)]
        inline = False
    method = probe.func.attr.value
    return _classify(ctx, node, branch, probe, method, first, inline, before,
                     f"`{method}()` then ")


def _try_check(ctx: FileContext, node: Any) -> PyCheck | None:
    """`try: M.objects.get(...)` / `except M.DoesNotExist: M.objects.create(...)`, and
    SQLAlchemy's `.one()` / `NoResultFound`."""
    tree = ctx.python
    cst = tree.cst
    if not node.body.body or not node.handlers:
        return None
    first_statement = node.body.body[0]
    probe = next((c for c in tree.descendants(first_statement) if isinstance(c, cst.Call)
                  and isinstance(c.func, cst.Attribute)
                  and c.func.attr.value in ("get", "one", "scalar_one")),
                 None)
    if probe is None:
        return None
    for handler in node.handlers:
        names = _handler_names(tree, handler)
        if not names:
            continue
        if probe.func.attr.value == "get":
            query = _django_query(tree, probe)
            if query is None or not any(n_ in ("ObjectDoesNotExist", f"{query[0]}.DoesNotExist")
                                        for n_ in names):
                continue
        else:
            query = _sqlalchemy_query(tree, probe)
            if query is None or "NoResultFound" not in names:
                continue
        method = probe.func.attr.value
        return _classify(ctx, node, handler.body, probe, method, node, True, [],
                         f"`{method}()` then ", handler=handler)
    return None


def _handler_names(tree: Any, handler: Any) -> list[str]:
    """The exception names an `except` clause catches, last part of the module path dropped:
    `M.DoesNotExist`, `ObjectDoesNotExist`, `NoResultFound`."""
    cst = tree.cst
    kind = handler.type
    items = [e.value for e in kind.elements] if isinstance(kind, cst.Tuple) else [kind]
    out = []
    for item in items:
        dotted = tree.dotted(item) or ""
        qualified = tree.qualified(item) or ""
        if qualified.endswith((".ObjectDoesNotExist", ".NoResultFound")) or dotted in (
                "ObjectDoesNotExist", "NoResultFound"):
            out.append(qualified.rsplit(".", 1)[-1] or dotted)
        elif dotted.count(".") == 1 and dotted.endswith(".DoesNotExist"):
            out.append(dotted)
    return out


def _classify(ctx: FileContext, node: Any, branch: Any, probe: Any, method: str, first: Any,
              inline: bool, before: list[Any], shape: str, handler: Any = None
              ) -> PyCheck | None:
    tree = ctx.python
    if method in _DJANGO_PROBES or method == "get":
        query = _django_query(tree, probe, before)
        if query is not None:
            model, lookup, plain = query
            act = _act(ctx, branch, lambda call: _django_create(tree, call, model))
            if act is None:
                return None
            return PyCheck(shape + "`create()`", "django", model, lookup, plain, first, node, act,
                           inline)
    if method in _SA_PROBES or method in ("one", "scalar_one"):
        query = _sqlalchemy_query(tree, probe)
        if query is not None:
            model, lookup, plain = query
            act = _act(ctx, branch, lambda call: _sqlalchemy_insert(tree, call, model, branch))
            if act is None:
                return None
            return PyCheck(shape + "`add()`", "sqlalchemy", model, lookup, plain, first, node,
                           act, inline)
    if method in _SQL_PROBES and handler is None:
        found = _sql_query(ctx, probe, before)
        if found is None:
            return None
        _, lookup_statement, table, lookup, plain = found
        inserts: list[Statement] = []
        act = _act(ctx, branch, lambda call: _sql_insert(ctx, call, table, inserts))
        if act is None or not inserts:
            return None
        return PyCheck("`SELECT` then `INSERT`", "sql", "", [], plain,
                       lookup_statement or first, node, act, inline,
                       Check("`SELECT` then `INSERT`", table, lookup, plain, inserts[0]))
    return None


_SETTLED = object()  # an insert that handles conflicts itself: no race left to report


def _act(ctx: FileContext, branch: Any, matches: Any) -> Any:
    """The first call in `branch` that `matches` says inserts (None if there is none, or if the
    first such insert already handles conflicts)."""
    tree = ctx.python
    cst = tree.cst
    scope = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
    owner = tree.enclosing(branch, *scope)
    for call in tree.descendants(branch):
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            continue
        verdict = matches(call)
        if verdict is None or tree.enclosing(call, *scope) is not owner:
            continue
        return None if verdict is _SETTLED else call
    return None


# Django ---------------------------------------------------------------------------------------

def manager_model(cst: Any, node: Any) -> str | None:
    """`M` of `M.objects` / `M._default_manager`."""
    if isinstance(node, cst.Attribute) and node.attr.value in ("objects", "_default_manager") \
            and isinstance(node.value, cst.Name):
        return node.value.value
    return None


def _django_query(tree: Any, probe: Any, before: Sequence[Any] = ()
                  ) -> tuple[str, list[tuple[str, Any]], bool] | None:
    """For `M.objects.filter(a=x).exists()` / `M.objects.get(a=x)`: ("M", [("a", x)], plain),
    plain when the lookup is keyword equalities only (no Q objects, `__in`, `exclude()`) and
    written in place. A queryset kept in a variable (`qs = M.objects.filter(...)` among
    `before`, then `qs.exists()`) is followed once."""
    cst = tree.cst
    args = list(probe.args) if probe.func.attr.value == "get" else []
    plain = True
    node = probe.func.value
    filtered = bool(args)
    followed = False
    while True:
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
            method = node.func.attr.value
            if method == "filter":
                args = list(node.args) + args
                filtered = True
            elif method in ("exclude", "using", "select_for_update", "distinct"):
                plain = False
            elif method not in _DJANGO_NEUTRAL:
                return None
            node = node.func.value
        elif isinstance(node, cst.Name) and not followed and before:
            found = last_assignment(cst, list(before), node.value)
            if found is None:
                return None
            node, followed, plain = found[1], True, False
        else:
            break
    model = manager_model(cst, node)
    if model is None or not filtered:
        return None
    lookup: list[tuple[str, Any]] = []
    for arg in args:
        if arg.keyword is None:
            plain = False  # Q objects, **kwargs
            continue
        parts = arg.keyword.value.split("__")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] == "exact"):
            lookup.append((parts[0], arg.value))
        else:
            plain = False
            if len(parts) == 2 and parts[1] == "iexact":  # still a lookup of that field
                lookup.append((parts[0], arg.value))
    if not lookup:
        return None
    return model, lookup, plain


def _django_create(tree: Any, call: Any, model: str) -> Any:
    if call.func.attr.value in ("create", "bulk_create") and \
            manager_model(tree.cst, call.func.value) == model:
        return call
    if call.func.attr.value in ("get_or_create", "update_or_create") and \
            manager_model(tree.cst, call.func.value) == model:
        return _SETTLED
    return None


# SQLAlchemy -----------------------------------------------------------------------------------

def _sqlalchemy_query(tree: Any, probe: Any) -> tuple[str, list[tuple[str, Any]], bool] | None:
    """For `session.query(M).filter_by(a=x).first()`, `session.scalars(select(M).where(M.a ==
    x)).first()`, `session.execute(select(M)...).scalar_one_or_none()`: ("M", lookup, plain)."""
    cst = tree.cst
    node: Any = probe
    lookup: list[tuple[str, Any, str | None]] = []  # (attribute, value, owner class)
    plain = True
    model = None
    first = True
    while isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            if method == "query":
                if len(node.args) == 1 and isinstance(node.args[0].value, cst.Name):
                    model = node.args[0].value.value
                break
            if method in ("scalars", "execute", "scalar", "exec") and node.args:
                node = node.args[0].value
                first = False
                continue
            if method == "filter_by":
                for arg in node.args:
                    if arg.keyword is None:
                        plain = False
                    else:
                        lookup.append((arg.keyword.value, arg.value, None))
            elif method in ("filter", "where"):
                for arg in node.args:
                    pair = _attribute_equality(cst, arg.value)
                    if pair is None:
                        plain = False
                    else:
                        lookup.append(pair)
            elif not (first and method in _SA_PROBES | {"one", "scalar_one"}) and \
                    method not in _SA_NEUTRAL:
                return None
            first = False
            node = func.value
            continue
        if tree.call_name(node) in _SA_SELECTS and len(node.args) == 1 and isinstance(
                node.args[0].value, cst.Name):
            model = node.args[0].value.value
        break
    if model is None:
        return None
    found = [(a, v) for a, v, owner in lookup if owner in (None, model)]
    if len(found) != len(lookup):
        plain = False
    if not found:
        return None
    return model, found, plain


def _attribute_equality(cst: Any, node: Any) -> tuple[str, Any, str] | None:
    """`M.a == x` (either side): ("a", x, "M")."""
    if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1 or not isinstance(
            node.comparisons[0].operator, cst.Equal):
        return None
    sides = (node.left, node.comparisons[0].comparator)
    for own, other in (sides, sides[::-1]):
        if isinstance(own, cst.Attribute) and isinstance(own.value, cst.Name) and \
                own.value.value[:1].isupper():
            return own.attr.value, other, own.value.value
    return None


def sa_insert_model(tree: Any, node: Any) -> tuple[Any, Any, bool] | None:
    """For an executed `insert(M).values(...)...` chain: (the `insert(M)` call, the `.values()`
    call or None, whether the chain handles conflicts)."""
    cst = tree.cst
    values, settled = None, False
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        method = node.func.attr.value
        if method == "values":
            values = node
        elif method.startswith("on_conflict_"):
            settled = True
        elif method not in ("returning", "execution_options", "inline", "prefix_with"):
            return None
        node = node.func.value
    if isinstance(node, cst.Call) and tree.call_name(node) in SA_INSERTS and len(node.args) == 1:
        return node, values, settled
    return None


def _sqlalchemy_insert(tree: Any, call: Any, model: str, branch: Any) -> Any:
    """`session.add(M(...))`, `session.add(obj)` with `obj = M(...)` in the branch, or
    `session.execute(insert(M)...)`."""
    cst = tree.cst
    method = call.func.attr.value
    if method == "add" and len(call.args) == 1:
        value = call.args[0].value
        if isinstance(value, cst.Name):
            found = last_assignment(cst, [s for s in tree.descendants(branch)
                                    if isinstance(s, cst.SimpleStatementLine)], value.value)
            value = found[1] if found else None
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and \
                value.func.value == model:
            return call
        return None
    if method == "execute" and call.args:
        chain = sa_insert_model(tree, call.args[0].value)
        if chain is not None and isinstance(chain[0].args[0].value, cst.Name) and \
                chain[0].args[0].value.value == model:
            return _SETTLED if chain[2] else call
    return None


# Raw SQL --------------------------------------------------------------------------------------

def sql_string(tree: Any, call: Any) -> Any:
    """The string literal an `execute(...)` call runs (inside `text(...)` too), or None."""
    cst = tree.cst
    if not call.args:
        return None
    value = call.args[0].value
    if isinstance(value, cst.Call) and (tree.call_name(value) or "").split(".")[-1] == "text" \
            and value.args:
        value = value.args[0].value
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
        return value
    return None


def embedded(ctx: FileContext, string: Any) -> list[Statement]:
    """The SQL statements parsed from a string literal of the file."""
    start, end = ctx.python.span(string)
    return [s for s in ctx.statements if start <= s.start < end]


def _sql_query(ctx: FileContext, probe: Any, before: list[Any]
               ) -> tuple[Statement, Any, str, list, bool] | None:
    """`cur.execute("SELECT ... FROM t WHERE ...")` then `cur.fetchone()` (or
    `conn.execute(...).fetchone()`): (the SELECT, the statement running it when it is not the
    probe's own, table, lookup, plain)."""
    tree = ctx.python
    cst = tree.cst
    receiver = probe.func.value
    run = None
    statement = None
    if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) and \
            receiver.func.attr.value == "execute":
        run = receiver
    elif probe.func.attr.value == "fetchone" and tree.dotted(receiver):
        cursor = tree.dotted(receiver)
        for candidate in reversed(before):
            if not isinstance(candidate, cst.SimpleStatementLine):
                continue
            calls = [_unwrap(cst, s.value) for s in candidate.body if isinstance(s, cst.Expr)]
            run = next((c for c in calls if isinstance(c, cst.Call) and isinstance(
                c.func, cst.Attribute) and c.func.attr.value == "execute"
                and tree.dotted(c.func.value) == cursor), None)
            if run is not None:
                statement = candidate
                break
    if run is None:
        return None
    string = sql_string(tree, run)
    if string is None:
        return None
    selects = [s for s in embedded(ctx, string) if s.kind == "SelectStmt"]
    if len(selects) != 1:
        return None
    select = selects[0]
    body = select.body
    targets = body.get("targetList") or ()
    if not body.get("fromClause") and len(targets) == 1:
        sub = exists_sublink(targets[0].get("ResTarget", {}).get("val") or {})
        if sub is not None:
            body = sub
    table = single_table(body)
    lookup = lookup_equalities(body, table) if table else None
    if lookup is None:
        return None
    return select, statement, table, lookup[0], lookup[1]


def _sql_insert(ctx: FileContext, call: Any, table: str, found: list[Statement]) -> Any:
    if call.func.attr.value not in ("execute", "executemany"):
        return None
    string = sql_string(ctx.python, call)
    if string is None:
        return None
    for stmt in embedded(ctx, string):
        if stmt.kind == "InsertStmt" and n.relation_name(stmt.body.get("relation")) == table:
            if stmt.body.get("onConflictClause"):
                return _SETTLED
            found.append(stmt)
            return call
    return None
