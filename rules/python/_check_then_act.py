"""The Python forms of check-then-act (PGL204), shared with PGL201: reading Django,
SQLAlchemy and raw-SQL checks and inserts in Python code, and building their fixes.

Not a rule (no Rule subclass): PGL204 and PGL201 import it.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.model.catalog import Index
from pglint.sql import nodes as n
from pglint.sql.parse import Statement
from pglint.rule import Rule

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
        depth = 0
        for token in ctx.tokens(stmt):
            if token.name == "ASCII_40":
                depth += 1
            elif token.name == "ASCII_41":
                depth -= 1
            elif depth == 0 and token.name == "RETURNING":
                return end_of_previous(ctx, stmt, token.start)
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


def unique_indexes(ctx: FileContext, table: str) -> list[Index]:
    """Non-partial unique indexes and constraints on plain columns, primary key first."""
    found = [i for i in ctx.model.catalog.indexes_on(table)
             if (i.unique or i.primary) and not i.partial and all(i.columns)]
    return sorted(found, key=lambda i: not i.primary)


def has_returning(body: dict[str, Any]) -> bool:
    return bool(n.returning(body))



# Folders and files whose code runs once or only under test: data migrations, seeds, fixtures.
_ONE_OFF_DIRS = frozenset({"migrations", "migration", "alembic", "versions", "tests", "test",
                           "testing", "fixtures", "seeds", "seed", "seeders", "seeding"})
_ONE_OFF_FILE = re.compile(r"^(?:test_.*|.*_tests?|conftest|seed.*|.*_seeds?|fixtures?)\.py$")
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


def relative_parts(ctx: FileContext) -> tuple[str, ...]:
    """The file's path parts relative to the project root (absolute when outside it)."""
    import os

    root = os.path.abspath(ctx.settings.root or os.getcwd())
    absolute = os.path.abspath(ctx.file.path)
    rel = os.path.relpath(absolute, root) if absolute.startswith(root + os.sep) else absolute
    return tuple(p for p in re.split(r"[\\/]", rel) if p)


def one_off_python(ctx: FileContext) -> bool:
    """A Python file that runs once or only under test: data migrations, seeds, fixtures,
    tests. A race or a retried insert there harms nobody."""
    parts = relative_parts(ctx)
    if not parts:
        return False
    return any(p.lower() in _ONE_OFF_DIRS for p in parts[:-1]) or bool(
        _ONE_OFF_FILE.match(parts[-1].lower()))


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


# -- Python findings and fixes -------------------------------------------------------------------

def orm_columns(ctx: FileContext, table: str | None, fields: list[str]) -> list[str]:
    """Columns of model fields: `customer` -> `customer_id` for a foreign key, `pk` -> the
    primary key column, when the catalog knows the table."""
    known = ctx.model.catalog.table(table) if table else None
    if known is None:
        return list(fields)
    primary = next((i for i in unique_indexes(ctx, table) if i.primary), None)  # type: ignore[arg-type]
    out = []
    for field_name in fields:
        column = field_name.lower()
        if column not in known.columns and column + "_id" in known.columns:
            column += "_id"
        elif column == "pk" and primary is not None and len(primary.columns) == 1:
            column = primary.columns[0] or column
        out.append(column)
    return out


def key_state(ctx: FileContext, table: str | None, columns: list[str]
              ) -> tuple[str, Index | None]:
    """Whether a unique key settles a lookup on `columns`: ("exact", key) for a key on exactly
    those columns, ("covered", key) for one on some of them, ("missing", None) when the catalog
    knows the table and has neither, ("unknown", None) when it does not know the table."""
    if not table or ctx.model.catalog.table(table) is None:
        return "unknown", None
    lookup = set(columns)
    keys = unique_indexes(ctx, table)
    exact = next((i for i in keys if set(i.columns) == lookup), None)
    if exact is not None:
        return "exact", exact
    covered = next((i for i in keys if set(i.columns) <= lookup), None)
    if covered is not None:
        return "covered", covered
    return "missing", None


def python_finding(rule: Rule, ctx: FileContext, check: PyCheck) -> Finding:
    tree = ctx.python
    if check.sql is not None:
        table: str | None = check.sql.table
        fields = columns = [c for c, _ in check.sql.lookup]
    else:
        table = ctx.model.orm_table(check.model)
        fields = [name for name, _ in check.lookup]
        columns = orm_columns(ctx, table, fields)
    state, key = key_state(ctx, table, columns)
    subject = f"`{ctx.model.bare(table)}`" if table else f"`{check.model}`"
    shown = ", ".join(columns)
    if key is not None:
        key_cols = ", ".join(c for c in key.columns if c)
        message = (f"{check.shape} on {subject} races: a concurrent request fails on unique "
                   f"({key_cols})")
        said = f"{subject} has a unique constraint on ({key_cols})"
    elif state == "missing":
        message = (f"{check.shape} on {subject} races: concurrent requests insert duplicates "
                   f"(no unique key on {shown})")
        said = f"{subject} has no unique constraint on ({shown}) (per the migrations)"
    else:
        message = (f"{check.shape} on {subject} races: concurrent requests both insert "
                   f"(unique key on {shown} unknown)")
        said = (f"pglint's catalog does not know the table of {subject}: whether ({shown}) is "
                "unique is open")
    help = (f"{said}. The lookup and the insert are separate steps: under READ COMMITTED "
            "neither request sees the other's uncommitted row, so both pass the check and both "
            "insert. Only a UNIQUE constraint or index on the lookup columns settles the race. "
            + _PY_HELP[check.kind])
    fix = _python_fix(ctx, check, table, fields, columns, state, key)
    start = tree.span(check.first)[0]
    end = tree.span(check.node)[1]
    return rule.finding(ctx, start, end, message, fix, help)


_PY_HELP = {
    "django": "`get_or_create()` relies on it: it tries the INSERT and, on IntegrityError, reads "
              "the row the other request committed (without the constraint it races like the "
              "check). Only the lookup arguments select the row; `defaults` are written only when "
              "it creates one, and it returns `(obj, created)`.",
    "sqlalchemy": "PostgreSQL's `insert(M).values(...).on_conflict_do_nothing(index_elements="
                  "[...])` (from `sqlalchemy.dialects.postgresql`) uses it to skip an existing row "
                  "atomically; `index_elements` must match a unique index or constraint exactly. "
                  "Unlike `session.add()` it runs at once, outside the unit of work, and a "
                  "skipped row is not returned: select it afterwards when you need it.",
    "sql": "`INSERT ... ON CONFLICT (cols) DO NOTHING` uses it to skip an existing row atomically "
           "(it needs a unique index or constraint on exactly those columns). A skipped row is "
           "not returned by `RETURNING`: select it afterwards, or use `DO UPDATE SET col = "
           "EXCLUDED.col` to get it back (that writes a new row version).",
}


def constraint_name(bare: str, columns: list[str]) -> str:
    return f"{bare}_{'_'.join(columns)}_key"[:MAX_IDENT]


def _python_fix(ctx: FileContext, check: PyCheck, table: str | None, fields: list[str],
                columns: list[str], state: str, key: Index | None) -> Fix:
    tree = ctx.python
    bare = ctx.model.bare(table) if table else check.model.lower()
    target = [c for c in key.columns if c] if key is not None else columns
    lines = [] if key is not None else constraint_comment(table or bare, bare, target, state)
    if check.sql is not None:
        lines += ["# Then, instead of checking first:" if lines else
                  "# Instead of checking first:", _sql_with_conflict(ctx, check, target),
                  "# DO NOTHING inserts no row on a conflict (and RETURNING returns none):",
                  "# read the existing row with the SELECT when you need it."]
        return Fix.display("Rely on a unique constraint with INSERT ... ON CONFLICT",
                           "\n".join(lines))
    if check.kind == "django":
        lines = []
        if key is None:
            why = "there is none" if state == "missing" else \
                "unless one exists (pglint does not know the table)"
            fields_list = ", ".join(f'"{f}"' for f in fields)
            lines += [f"# get_or_create() is race-free only with a unique constraint on the "
                      f"lookup fields ({why}):",
                      f"class {check.model}(models.Model):", "    ...",
                      "    class Meta:", "        constraints = [",
                      f"            models.UniqueConstraint(fields=[{fields_list}], "
                      f'name="{constraint_name(bare, columns)}"),',
                      "        ]", ""]
        call = get_or_create_call(tree, check.act, fields)
        lines.append(tree.code(call) if call is not None else
                     f"{check.model}.objects.get_or_create("
                     + ", ".join(f"{f}={tree.code(v)}" for f, v in check.lookup)
                     + ", defaults={...})")
        suggestion = "\n".join(lines)
        # Without the constraint get_or_create() still races: the catalog says to add it first.
        edit = _django_edit(ctx, check, fields) if call is not None and state != "missing" \
            else None
        if edit is not None:
            return Fix("Use get_or_create() instead of checking first", Applicability.UNSAFE,
                       (edit,), suggestion)
        return Fix.display("Use get_or_create() on a unique constraint", suggestion)
    # SQLAlchemy
    if lines:
        lines[-1:-1] = ["# and on the model: __table_args__ = (UniqueConstraint("
                        + ", ".join(f'"{c}"' for c in target) + "),)"]
    values = _sa_values(tree, check)
    receiver = tree.code(check.act.func.value)
    elements = ", ".join(f'"{c}"' for c in target)
    lines += ["from sqlalchemy.dialects.postgresql import insert", "",
              f"{receiver}.execute(",
              f"    insert({check.model})",
              f"    .values({values})",
              f"    .on_conflict_do_nothing(index_elements=[{elements}])", ")"]
    return Fix.display("Insert with ON CONFLICT DO NOTHING on a unique constraint",
                       "\n".join(lines))


def constraint_comment(table: str, bare: str, columns: list[str], state: str) -> list[str]:
    """Python comment lines with the DDL of the unique constraint ON CONFLICT needs."""
    why = "there is none" if state != "unknown" else \
        "unless one exists: pglint does not know the table"
    name = n.quote_ident(constraint_name(bare, columns))
    cols = ", ".join(n.quote_ident(c) for c in columns)
    return [f"# ON CONFLICT needs a unique constraint on ({cols}) ({why}). In a migration",
            "# (remove duplicates first; CONCURRENTLY cannot run in a transaction):",
            f"#   CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({cols});",
            f"#   ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name};", ""]


def _sql_with_conflict(ctx: FileContext, check: PyCheck, columns: list[str]) -> str:
    """The INSERT call with `ON CONFLICT (cols) DO NOTHING` appended to its SQL string."""
    tree = ctx.python
    insert = check.sql.insert  # type: ignore[union-attr]
    clause = " ON CONFLICT (" + ", ".join(n.quote_ident(c) for c in columns) + ") DO NOTHING"
    sql = ctx.text[insert.start:insert.end]
    code = tree.code(check.act)
    at = code.find(sql) if sql else -1
    point = len(sql)
    if has_returning(insert.body):  # the clause goes before the last RETURNING
        returning = list(re.finditer(r"\s+RETURNING\b", sql, re.IGNORECASE))
        point = returning[-1].start() if returning else -1
    if at < 0 or point < 0:
        return f"# INSERT INTO {check.sql.table} (...) VALUES (...){clause}"  # type: ignore
    return code[:at + point] + clause + code[at + point:]


def _sa_values(tree: Any, check: PyCheck) -> str:
    """The keyword arguments of the inserted object (`M(a=1)` or `.values(a=1)`), as written."""
    cst = tree.cst
    act = check.act
    value = act.args[0].value if act.args else None
    if act.func.attr.value == "execute":
        chain = sa_insert_model(tree, value)
        value = chain[1] if chain is not None else None
    elif isinstance(value, cst.Name):
        found = last_assignment(cst, [s for s in tree.descendants(check.node)
                                if isinstance(s, cst.SimpleStatementLine)], value.value)
        value = found[1] if found else None
    if not isinstance(value, cst.Call):
        return "..."
    code = tree.code(value)
    head = tree.code(value.func)
    return code[len(head):].strip()[1:-1].strip() or "..."


def get_or_create_call(tree: Any, create: Any, keys: list[str]) -> Any | None:
    """`M.objects.get_or_create(<keys>, defaults={<the rest>})` from `M.objects.create(...)`,
    keeping the argument layout; None unless every argument is a plain keyword and every key is
    among them."""
    cst = tree.cst
    if create.func.attr.value != "create":
        return None
    args = list(create.args)
    if not args or any(a.keyword is None or a.star for a in args):
        return None
    names = [a.keyword.value for a in args]
    if not set(keys) <= set(names) or {"defaults", "create_defaults"} & set(names):
        return None
    kept = [a for a in args if a.keyword.value in keys]
    rest = [a for a in args if a.keyword.value not in keys]
    if rest:
        elements = [cst.DictElement(cst.SimpleString(f'"{a.keyword.value}"'), a.value)
                    for a in rest]
        kept.append(tree.keyword("defaults", cst.Dict(elements)))
    laid = []
    for i, arg in enumerate(kept):
        comma = args[i].comma if i < len(kept) - 1 else args[-1].comma
        laid.append(arg.with_changes(comma=comma))
    return create.with_changes(func=create.func.with_changes(attr=cst.Name("get_or_create")),
                               args=laid)


def _only_statement(cst: Any, block: Any) -> Any | None:
    """The one small statement of a block without comments (None otherwise)."""
    body = getattr(block, "body", ())
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or \
            len(body[0].body) != 1 or any(line.comment for line in body[0].leading_lines):
        return None
    header = getattr(block, "header", None)
    if header is not None and header.comment is not None:
        return None
    return body[0].body[0]


def _result_of(cst: Any, small: Any) -> Any | None:
    """The value of `x = <call>`, `return <call>` or `<call>`."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
            small.targets[0].target, cst.Name):
        return small.value
    if isinstance(small, (cst.Return, cst.Expr)):
        return small.value
    return None


def _django_edit(ctx: FileContext, check: PyCheck, fields: list[str]) -> Edit | None:
    """The if / try replaced by the get_or_create() statement, when the shape is exact: the
    lookup is the create's key arguments with the same values, and nothing else is inside."""
    tree = ctx.python
    cst = tree.cst
    node = check.node
    if not (check.plain and check.inline):
        return None
    creates = dict((a.keyword.value, a.value) for a in check.act.args if a.keyword is not None)
    if any(name not in creates or not creates[name].deep_equals(value)
           for name, value in check.lookup):
        return None
    act = _only_statement(cst, node.body if isinstance(node, cst.If) else node.handlers[0].body
                          if isinstance(node, cst.Try) else None)
    if act is None or _result_of(cst, act) is not check.act:
        return None
    if isinstance(node, cst.If):
        if node.orelse is not None:
            return None
    else:
        probe = _only_statement(cst, node.body)
        if len(node.handlers) != 1 or node.orelse is not None or node.finalbody is not None \
                or probe is None or type(probe) is not type(act) or isinstance(probe, cst.Expr):
            return None
        value = _result_of(cst, probe)
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value == "get" and manager_model(cst, value.func.value)
                == check.model):
            return None
        if isinstance(act, cst.Assign) and not act.targets[0].target.deep_equals(
                probe.targets[0].target):
            return None
    call = get_or_create_call(tree, check.act, fields)
    if call is None:
        return None
    if not isinstance(act, cst.Expr):
        call = cst.Subscript(call, [cst.SubscriptElement(cst.Index(cst.Integer("0")))])
    start, end = tree.span(node)
    indent = tree.line_indent(start)
    text = render(tree, act.with_changes(value=call), indent)
    if too_long(tree, start, end, text):
        text = render(tree, act.with_changes(value=_laid_out(cst, call)), indent)
    return Edit(start, end, text)


def _laid_out(cst: Any, value: Any) -> Any:
    """A get_or_create() call (or its `[0]`) with one argument per line."""
    if isinstance(value, cst.Subscript):
        return value.with_changes(value=one_per_line(cst, value.value))
    return one_per_line(cst, value)


def render(tree: Any, node: Any, indent: str) -> str:
    """The code of a new expression or small statement placed in a block indented by `indent`.

    `tree.code(node)` renders continuation lines (inside brackets) relative to no block, so a
    multi-line node moved into an indented block would lose the block's indentation: render it
    inside a stand-in block instead."""
    cst = tree.cst
    small = node if isinstance(node, cst.BaseSmallStatement) else cst.Expr(node)
    if not indent:
        return tree.code(small).strip()
    newline = tree.module.default_newline
    holder = cst.If(cst.Name("x"), cst.IndentedBlock([cst.SimpleStatementLine([small])],
                                                     indent=indent))
    code = cst.Module(body=[holder], default_indent=tree.module.default_indent,
                      default_newline=newline).code
    return code[code.index(newline) + len(newline) + len(indent):].rstrip("\r\n")


LINE_LENGTH = 88  # the common formatter default: a longer fixed line would be flagged


def too_long(tree: Any, start: int, end: int, text: str) -> bool:
    """Whether `text` put over [start, end) makes a line longer than the formatters' default."""
    source = tree.text
    line_end = source.find("\n", end)
    line = source[source.rfind("\n", 0, start) + 1:start] + text + \
        source[end:line_end if line_end >= 0 else len(source)]
    return any(len(part) > LINE_LENGTH for part in line.split("\n"))


def one_per_line(cst: Any, call: Any, step: str = "    ") -> Any:
    """`call` with one argument per line (trailing comma, closing bracket on its own line), and
    a `defaults={...}` dict laid out the same way when its line would still be long."""
    def newline(indent: str) -> Any:
        return cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace(indent))

    args = []
    last = len(call.args) - 1
    for i, arg in enumerate(call.args):
        value = arg.value
        if isinstance(value, cst.Dict) and len(value.elements) > 1 and \
                len(cst.Module([]).code_for_node(arg)) > LINE_LENGTH - 3 * len(step):
            elements = [e.with_changes(comma=cst.Comma(
                whitespace_after=newline(step * 2 if j < len(value.elements) - 1 else step)))
                for j, e in enumerate(value.elements)]
            value = value.with_changes(elements=elements, lbrace=cst.LeftCurlyBrace(
                whitespace_after=newline(step * 2)))
        args.append(arg.with_changes(value=value, comma=cst.Comma(
            whitespace_after=newline(step if i < last else ""))))
    return call.with_changes(args=args, whitespace_before_args=newline(step))
