"""The Python forms of check-then-act (PGL204), shared with PGL201: reading Django,
SQLAlchemy and raw-SQL checks and the inserts they guard in Python code, on CPython's tree
(`ctx.python_file`).

Their findings and fixes are built in `check_then_act_fixes`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from pglint.context import FileContext
from pglint.kit.upserts import Check, exists_sublink, lookup_equalities, single_table
from pglint.python.pyfile import (  # noqa: F401 - call_args: the rules and fixes import it here
    Argument, PythonFile, call_args, dotted, in_text_order,
)
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

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
# Where a call's own code runs apart from the statement around it.
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.Try, ast.TryStar, ast.With,
             ast.AsyncWith, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match)


@dataclass
class PyCheck:
    """A check-then-insert in Python: the lookup, the insert it guards, and where they are
    (CPython's nodes)."""

    shape: str  # how the user wrote it, for the message
    kind: str  # "django" | "sqlalchemy" | "sql"
    model: str  # the model class ("" for raw SQL)
    lookup: list[tuple[str, ast.expr]]  # (field / attribute, value node) of the lookup (ORM forms)
    plain: bool  # the lookup is nothing but keyword equalities
    first: ast.stmt  # the first statement of the pattern (the lookup's own, or the if / try)
    node: ast.If | ast.Try  # the If / Try statement
    act: ast.Call  # the call that inserts
    inline: bool  # the lookup's result is not kept in a variable
    sql: Check | None = None  # raw SQL: the SELECT's table and lookup, and the INSERT


def python_check(ctx: FileContext, node: ast.AST) -> PyCheck | None:
    """The check-then-insert that an `if` or `try` statement completes, or None."""
    if isinstance(node, ast.If):
        return _if_check(ctx, node)
    if isinstance(node, ast.Try):
        return _try_check(ctx, node)
    return None


def python_acts(ctx: FileContext) -> tuple[set[int], set[int]]:
    """The inserts that complete a Python check-then-act in this file (which PGL204 reports):
    ids of ORM calls, and start offsets of embedded INSERT statements."""
    code = ctx.python_file
    cached = code.derived.get("check_then_act.acts")
    if cached is None:
        calls: set[int] = set()
        starts: set[int] = set()
        for node in (*code.nodes(ast.If), *code.nodes(ast.Try)):
            found = python_check(ctx, node)
            if found is None:
                continue
            calls.add(id(found.act))
            if found.sql is not None and found.sql.insert is not None:
                starts.add(found.sql.insert.start)
        cached = code.derived["check_then_act.acts"] = (calls, starts)
    return cached


# Statements as lines --------------------------------------------------------------------------
# What counts as "a statement" here is a line: statements joined by `;` are read together, and
# a statement written after `if x:` on the same line belongs to that `if`.

def _begins_line(code: PythonFile, statement: ast.stmt) -> bool:
    start = code.span(statement)[0]
    return not code.text[code.text.rfind("\n", 0, start) + 1:start].strip()


def statement_lines(code: PythonFile, statements: Iterable[ast.stmt]) -> list[list[ast.stmt]]:
    """The simple statements among `statements` (in the text's order), as lines: those joined
    by `;` together, each line on a line of its own (a one-line body, `if x: y = 1`, is not)."""
    lines: list[list[ast.stmt]] = []
    previous: ast.stmt | None = None
    for statement in statements:
        if isinstance(statement, _COMPOUND):
            previous = None
            continue
        if previous is not None and previous.end_lineno == statement.lineno:
            if lines and lines[-1][-1] is previous:
                lines[-1].append(statement)
        elif _begins_line(code, statement):
            lines.append([statement])
        previous = statement
    return lines


def _first_line(code: PythonFile, block: list[ast.stmt]) -> list[ast.stmt]:
    """The first line of a block: its first statement, and those joined to it by `;`."""
    first = block[0]
    if isinstance(first, _COMPOUND) or not _begins_line(code, first):
        return [first]
    line = [first]
    for statement in block[1:]:
        if isinstance(statement, _COMPOUND) or statement.lineno != line[-1].end_lineno:
            break
        line.append(statement)
    return line


def block_of(code: PythonFile, statement: ast.stmt) -> list[ast.stmt] | None:
    """The statement list (a body, an `else`, a `finally`) holding `statement`."""
    parent = code.parent(statement)
    for name in ("body", "orelse", "finalbody"):
        value = getattr(parent, name, None)
        if isinstance(value, list) and any(s is statement for s in value):
            return value
    return None


def statements_before(code: PythonFile, node: ast.AST) -> list[ast.stmt] | None:
    """The statements of the block holding the line of `node`, before that line (a one-line
    body's line is its compound statement's)."""
    statement = code.statement(node)
    while statement is not None:
        block = block_of(code, statement)
        if block is None:
            return None
        at = next(i for i, s in enumerate(block) if s is statement)
        if isinstance(statement, _COMPOUND):
            return block[:at]
        while at and not isinstance(block[at - 1], _COMPOUND) and \
                block[at - 1].end_lineno == block[at].lineno:
            at -= 1
        if _begins_line(code, block[at]):
            return block[:at]
        statement = code.enclosing(statement, ast.stmt)
    return None


def nested_statements(code: PythonFile, block: Iterable[ast.AST]) -> list[ast.stmt]:
    """The statements under (or of) `block`'s nodes, in the text's order."""
    found: list[ast.stmt] = []
    for node in block:
        if isinstance(node, ast.stmt):
            found.append(node)
        found.extend(s for s in code.descendants(node) if isinstance(s, ast.stmt))
    return found


def last_assignment(lines: list[list[ast.stmt]], name: str) -> tuple[ast.stmt, ast.expr] | None:
    """The last `name = value` among `lines` (see `statement_lines`; the first of a line
    joined by `;`): (the first statement of its line, value)."""
    for line in reversed(lines):
        for small in line:
            if isinstance(small, ast.Assign) and len(small.targets) == 1 and isinstance(
                    small.targets[0], ast.Name) and small.targets[0].id == name:
                return line[0], small.value
            if isinstance(small, ast.AnnAssign) and isinstance(small.target, ast.Name) and \
                    small.target.id == name and small.value is not None:
                return line[0], small.value
    return None


def _unwrap(node: ast.expr) -> ast.expr:
    """`await x` -> x."""
    while isinstance(node, ast.Await):
        node = node.value
    return node


def _is_probe(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr in PROBES


def _small_int(code: PythonFile, node: ast.expr) -> str | None:
    """"0" or "1" for an integer literal written so, else None."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        written = code.code(node)
        return written if written in ("0", "1") else ""
    return None


def _condition(code: PythonFile, test: ast.expr) -> tuple[ast.expr, bool] | None:
    """(probe, whether the test is true when the row is missing) of an `if` test:
    `not x`, `x is None`, `x == 0`, `x < 1` (missing); `x`, `x is not None`, `x > 0` (found)."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand, True
    if not isinstance(test, ast.Compare):
        return test, False
    if len(test.ops) != 1:
        return None
    op, left, right = test.ops[0], test.left, test.comparators[0]
    if isinstance(op, (ast.Is, ast.IsNot)):
        if isinstance(right, ast.Constant) and right.value is None:
            return left, isinstance(op, ast.Is)
        return None
    if _small_int(code, left) is not None:
        left, right = right, left
        op = ast.Gt() if isinstance(op, ast.Lt) else ast.Lt() if isinstance(op, ast.Gt) else op
    value = _small_int(code, right)
    if not value:
        return None
    zero = value == "0"
    if zero and isinstance(op, ast.Eq) or not zero and isinstance(op, ast.Lt):
        return left, True
    if zero and isinstance(op, (ast.NotEq, ast.Gt)) or not zero and isinstance(op, ast.GtE):
        return left, False
    return None


def _is_elif(code: PythonFile, node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and code.text.startswith("elif", code.span(node)[0])


def _if_check(ctx: FileContext, node: ast.If) -> PyCheck | None:
    code = ctx.python_file
    condition = _condition(code, node.test)
    if condition is None:
        return None
    probe, missing = condition
    probe = _unwrap(probe)
    if isinstance(probe, ast.Subscript):  # `cur.fetchone()[0]`
        probe = _unwrap(probe.value)
    if not isinstance(probe, ast.Name) and not _is_probe(probe):
        return None  # the cheap exit for almost every `if`
    if missing:
        branch = node.body
    elif node.orelse and not _is_elif(code, node.orelse[0]):
        branch = node.orelse
    else:
        return None
    if _is_elif(code, node):
        before: list[ast.stmt] = []  # only a lookup in its own test
    else:
        block = block_of(code, node)
        if block is None:
            return None
        before = block[:next(i for i, s in enumerate(block) if s is node)]
    first: ast.stmt = node
    inline = True
    if isinstance(probe, ast.Name):
        found = last_assignment(statement_lines(code, before), probe.id)
        if found is None:
            return None
        first, probe = found
        probe = _unwrap(probe)
        if isinstance(probe, ast.Subscript):
            probe = _unwrap(probe.value)
        if not _is_probe(probe):
            return None
        before = before[:next(i for i, s in enumerate(before) if s is first)]
        inline = False
    method = probe.func.attr  # type: ignore[attr-defined]
    return _classify(ctx, node, branch, probe, method, first, inline, before,  # type: ignore
                     f"`{method}()` then ")


def _try_check(ctx: FileContext, node: ast.Try) -> PyCheck | None:
    """`try: M.objects.get(...)` / `except M.DoesNotExist: M.objects.create(...)`, and
    SQLAlchemy's `.one()` / `NoResultFound`."""
    code = ctx.python_file
    if not node.body or not node.handlers:
        return None
    line = _first_line(code, node.body)
    probe = next(iter(in_text_order(
        c for s in line for c in code.descendants(s) if isinstance(c, ast.Call)
        and isinstance(c.func, ast.Attribute) and c.func.attr in ("get", "one", "scalar_one"))),
        None)
    if probe is None:
        return None
    method = probe.func.attr
    for handler in node.handlers:
        names = _handler_names(code, handler)
        if not names:
            continue
        if method == "get":
            query = _django_query(code, probe)
            if query is None or not any(n_ in ("ObjectDoesNotExist", f"{query[0]}.DoesNotExist")
                                        for n_ in names):
                continue
        else:
            query = _sqlalchemy_query(code, probe)
            if query is None or "NoResultFound" not in names:
                continue
        return _classify(ctx, node, handler.body, probe, method, node, True, [],
                         f"`{method}()` then ", handler=handler)
    return None


def _handler_names(code: PythonFile, handler: ast.ExceptHandler) -> list[str]:
    """The exception names an `except` clause catches, last part of the module path dropped:
    `M.DoesNotExist`, `ObjectDoesNotExist`, `NoResultFound`."""
    kind = handler.type
    items = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    out = []
    for item in items:
        if isinstance(item, ast.Starred):  # `except (*errors,)`
            item = item.value
        if item is None:
            continue
        written = dotted(item) or ""
        qualified = code.qualified(item) or ""
        if qualified.endswith((".ObjectDoesNotExist", ".NoResultFound")) or written in (
                "ObjectDoesNotExist", "NoResultFound"):
            out.append(qualified.rsplit(".", 1)[-1] or written)
        elif written.count(".") == 1 and written.endswith(".DoesNotExist"):
            out.append(written)
    return out


def _classify(ctx: FileContext, node: ast.If | ast.Try, branch: list[ast.stmt], probe: ast.Call,
              method: str, first: ast.stmt, inline: bool, before: list[ast.stmt], shape: str,
              handler: ast.ExceptHandler | None = None) -> PyCheck | None:
    code = ctx.python_file
    if method in _DJANGO_PROBES or method == "get":
        query = _django_query(code, probe, before)
        if query is not None:
            model, lookup, plain = query
            act = _act(code, node, branch, lambda call: _django_create(call, model))
            if act is None:
                return None
            return PyCheck(shape + "`create()`", "django", model, lookup, plain, first, node, act,
                           inline)
    if method in _SA_PROBES or method in ("one", "scalar_one"):
        query = _sqlalchemy_query(code, probe)
        if query is not None:
            model, lookup, plain = query
            act = _act(code, node, branch,
                       lambda call: _sqlalchemy_insert(code, call, model, branch))
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
        act = _act(code, node, branch, lambda call: _sql_insert(ctx, call, table, inserts))
        if act is None or not inserts:
            return None
        return PyCheck("`SELECT` then `INSERT`", "sql", "", [], plain,
                       lookup_statement or first, node, act, inline,
                       Check("`SELECT` then `INSERT`", table, lookup, plain, inserts[0],
                             partial=not plain))
    return None


_SETTLED = object()  # an insert that handles conflicts itself: no race left to report


def _act(code: PythonFile, node: ast.stmt, branch: list[ast.stmt],
         matches: Callable[[ast.Call], Any]) -> ast.Call | None:
    """The first call in `branch` (the text's order) that `matches` says inserts (None if there
    is none, or if the first such insert already handles conflicts); calls in a function or
    class defined in the branch do not count."""
    owner = code.enclosing(node, *SCOPES)
    calls = in_text_order(c for s in branch for c in code.descendants(s)
                     if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute))
    for call in calls:
        verdict = matches(call)
        if verdict is None or code.enclosing(call, *SCOPES) is not owner:
            continue
        return None if verdict is _SETTLED else call
    return None


# Django ---------------------------------------------------------------------------------------

def manager_model(node: ast.expr) -> str | None:
    """`M` of `M.objects` / `M._default_manager`."""
    if isinstance(node, ast.Attribute) and node.attr in ("objects", "_default_manager") \
            and isinstance(node.value, ast.Name):
        return node.value.id
    return None


def _django_query(code: PythonFile, probe: ast.Call, before: Sequence[ast.stmt] = ()
                  ) -> tuple[str, list[tuple[str, ast.expr]], bool] | None:
    """For `M.objects.filter(a=x).exists()` / `M.objects.get(a=x)`: ("M", [("a", x)], plain),
    plain when the lookup is keyword equalities only (no Q objects, `__in`, `exclude()`) and
    written in place. A queryset kept in a variable (`qs = M.objects.filter(...)` among
    `before`, then `qs.exists()`) is followed once."""
    args = call_args(probe) if probe.func.attr == "get" else []  # type: ignore[attr-defined]
    plain = True
    node = probe.func.value  # type: ignore[attr-defined]
    filtered = bool(args)
    followed = False
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method == "filter":
                args = call_args(node) + args
                filtered = True
            elif method in ("exclude", "using", "select_for_update", "distinct"):
                plain = False
            elif method not in _DJANGO_NEUTRAL:
                return None
            node = node.func.value
        elif isinstance(node, ast.Name) and not followed and before:
            found = last_assignment(statement_lines(code, before), node.id)
            if found is None:
                return None
            node, followed, plain = found[1], True, False
        else:
            break
    model = manager_model(node)
    if model is None or not filtered:
        return None
    lookup: list[tuple[str, ast.expr]] = []
    for arg in args:
        if arg.keyword is None:
            plain = False  # Q objects, **kwargs
            continue
        parts = arg.keyword.split("__")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] == "exact"):
            lookup.append((parts[0], arg.value))
        else:
            plain = False
            if len(parts) == 2 and parts[1] == "iexact":  # still a lookup of that field
                lookup.append((parts[0], arg.value))
    if not lookup:
        return None
    return model, lookup, plain


def _django_create(call: ast.Call, model: str) -> Any:
    method = call.func.attr  # type: ignore[attr-defined]
    if method in ("create", "bulk_create") and \
            manager_model(call.func.value) == model:  # type: ignore[attr-defined]
        return call
    if method in ("get_or_create", "update_or_create") and \
            manager_model(call.func.value) == model:  # type: ignore[attr-defined]
        return _SETTLED
    return None


# SQLAlchemy -----------------------------------------------------------------------------------

def _sqlalchemy_query(code: PythonFile, probe: ast.Call
                      ) -> tuple[str, list[tuple[str, ast.expr]], bool] | None:
    """For `session.query(M).filter_by(a=x).first()`, `session.scalars(select(M).where(M.a ==
    x)).first()`, `session.execute(select(M)...).scalar_one_or_none()`: ("M", lookup, plain)."""
    node: ast.expr = probe
    lookup: list[tuple[str, ast.expr, str | None]] = []  # (attribute, value, owner class)
    plain = True
    model = None
    first = True
    while isinstance(node, ast.Call):
        func = node.func
        args = call_args(node)
        if isinstance(func, ast.Attribute):
            method = func.attr
            if method == "query":
                if len(args) == 1 and isinstance(args[0].value, ast.Name):
                    model = args[0].value.id
                break
            if method in ("scalars", "execute", "scalar", "exec") and args:
                node = args[0].value
                first = False
                continue
            if method == "filter_by":
                for arg in args:
                    if arg.keyword is None:
                        plain = False
                    else:
                        lookup.append((arg.keyword, arg.value, None))
            elif method in ("filter", "where"):
                for arg in args:
                    pair = _attribute_equality(arg.value)
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
        if code.call_name(node) in _SA_SELECTS and len(args) == 1 and isinstance(
                args[0].value, ast.Name):
            model = args[0].value.id
        break
    if model is None:
        return None
    found = [(a, v) for a, v, owner in lookup if owner in (None, model)]
    if len(found) != len(lookup):
        plain = False
    if not found:
        return None
    return model, found, plain


def _attribute_equality(node: ast.expr) -> tuple[str, ast.expr, str] | None:
    """`M.a == x` (either side): ("a", x, "M")."""
    if not isinstance(node, ast.Compare) or len(node.ops) != 1 or not isinstance(
            node.ops[0], ast.Eq):
        return None
    sides = (node.left, node.comparators[0])
    for own, other in (sides, sides[::-1]):
        if isinstance(own, ast.Attribute) and isinstance(own.value, ast.Name) and \
                own.value.id[:1].isupper():
            return own.attr, other, own.value.id
    return None


def sa_insert_model(code: PythonFile, node: ast.expr
                    ) -> tuple[ast.Call, ast.Call | None, bool] | None:
    """For an executed `insert(M).values(...)...` chain: (the `insert(M)` call, the `.values()`
    call or None, whether the chain handles conflicts)."""
    values, settled = None, False
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        method = node.func.attr
        if method == "values":
            values = node
        elif method.startswith("on_conflict_"):
            settled = True
        elif method not in ("returning", "execution_options", "inline", "prefix_with"):
            return None
        node = node.func.value
    if isinstance(node, ast.Call) and code.call_name(node) in SA_INSERTS and \
            len(call_args(node)) == 1:
        return node, values, settled
    return None


def _sqlalchemy_insert(code: PythonFile, call: ast.Call, model: str,
                       branch: list[ast.stmt]) -> Any:
    """`session.add(M(...))`, `session.add(obj)` with `obj = M(...)` in the branch, or
    `session.execute(insert(M)...)`."""
    method = call.func.attr  # type: ignore[attr-defined]
    args = call_args(call)
    if method == "add" and len(args) == 1:
        value: ast.expr | None = args[0].value
        if isinstance(value, ast.Name):
            found = last_assignment(statement_lines(code, nested_statements(code, branch)),
                                    value.id)
            value = found[1] if found else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id == model:
            return call
        return None
    if method == "execute" and args:
        chain = sa_insert_model(code, args[0].value)
        if chain is not None:
            target = call_args(chain[0])[0].value
            if isinstance(target, ast.Name) and target.id == model:
                return _SETTLED if chain[2] else call
    return None


# Raw SQL --------------------------------------------------------------------------------------

def sql_string(code: PythonFile, call: ast.Call) -> ast.Constant | None:
    """The string literal an `execute(...)` call runs (inside `text(...)` too), or None."""
    args = call_args(call)
    if not args:
        return None
    value = args[0].value
    if isinstance(value, ast.Call) and (code.call_name(value) or "").split(".")[-1] == "text":
        inner = call_args(value)
        if inner:
            value = inner[0].value
    # Only str literals hold SQL the file's statements were parsed from.
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value
    return None


def embedded(ctx: FileContext, string: ast.AST) -> list[Statement]:
    """The SQL statements parsed from a string literal of the file."""
    start, end = ctx.python_file.span(string)
    return [s for s in ctx.statements if start <= s.start < end]


def _sql_query(ctx: FileContext, probe: ast.Call, before: list[ast.stmt]
               ) -> tuple[Statement, ast.stmt | None, str, list, bool] | None:
    """`cur.execute("SELECT ... FROM t WHERE ...")` then `cur.fetchone()` (or
    `conn.execute(...).fetchone()`): (the SELECT, the statement running it when it is not the
    probe's own, table, lookup, plain)."""
    code = ctx.python_file
    receiver = probe.func.value  # type: ignore[attr-defined]
    run = None
    statement = None
    if isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute) and \
            receiver.func.attr == "execute":
        run = receiver
    elif probe.func.attr == "fetchone" and dotted(receiver):  # type: ignore[attr-defined]
        cursor = dotted(receiver)
        for line in reversed(statement_lines(code, before)):
            calls = [_unwrap(s.value) for s in line if isinstance(s, ast.Expr)]
            run = next((c for c in calls if isinstance(c, ast.Call) and isinstance(
                c.func, ast.Attribute) and c.func.attr == "execute"
                and dotted(c.func.value) == cursor), None)
            if run is not None:
                statement = line[0]
                break
    if run is None:
        return None
    string = sql_string(code, run)
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


def _sql_insert(ctx: FileContext, call: ast.Call, table: str, found: list[Statement]) -> Any:
    if call.func.attr not in ("execute", "executemany"):  # type: ignore[attr-defined]
        return None
    string = sql_string(ctx.python_file, call)
    if string is None:
        return None
    for stmt in embedded(ctx, string):
        if stmt.kind == "InsertStmt" and n.relation_name(stmt.body.get("relation")) == table:
            if stmt.body.get("onConflictClause"):
                return _SETTLED
            found.append(stmt)
            return call
    return None
