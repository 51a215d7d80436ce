"""The screen of PGL204's Python form, on CPython's tree: whether a file can hold a check that
`python_check` (libcst) would report, cheaply enough to run on every Python file. Positions
(line, column) stand in for "inside": an insert call between the start and end of a branch.
"""

from __future__ import annotations

import ast
import bisect
from typing import Iterator

from pglint.kit.check_then_act import PROBES, SA_INSERTS
from pglint.python.screen import CodeIndex, arguments, dotted

Position = tuple[int, int]
# Where a call of an insert shape is, and for `add(name)` the name.
Act = tuple[int, int, str]


def check_then_act_screen(code: CodeIndex) -> bool:
    """An insert call (`M.objects.create()` / `bulk_create()`, `x.add(<one argument>)` of
    `f(...)` or of a name assigned `f(...)` in the same branch,
    `x.execute(insert(M)...)` without `on_conflict_*()`, `x.execute[many]()` of a string
    holding "insert") inside either the branch of an `if` that tests a probe as
    `_condition` reads it (a call of an `exists()`/`first()`/`fetchone()`... method, or a
    name when such a call exists; `not p`, `p is None`, `p == 0`...: the body; `p`,
    `p is not None`, `p > 0`: the `else`), or the handlers of a `try` that calls
    `get()`/`one()`/`scalar_one()` before them and catches `X.DoesNotExist`,
    `ObjectDoesNotExist` or `NoResultFound`."""
    acts, gets, probes, rows = _calls(code)
    if not acts:
        return False
    acts.sort()
    starts = [(line, column) for line, column, _ in acts]

    def inside(low: Position, high: Position) -> bool:
        """An act between two positions (`add(name)`: with an assignment of the name, as
        `_sqlalchemy_insert` looks for it in the branch); found by bisection, so that a
        file of thousands of branches stays cheap."""
        first, last = bisect.bisect_left(starts, low), bisect.bisect_right(starts, high)
        return any(not name or any(low <= at <= high for at in rows[name])  # type: ignore
                   for _, _, name in acts[first:last])

    return any(inside(low, high) for low, high in _probed_branches(code, probes)) or any(
        inside(low, high) for low, high in _missing_row_handlers(code, gets))


def _calls(code: CodeIndex) -> tuple[list[Act], list[Position], bool,
                                     dict[str, list[Position]] | None]:
    """The insert calls (acts), where `get()`/`one()`/`scalar_one()` is called, whether a probe
    method is called at all, and where names are assigned `f(...)` (read only when an
    `add(name)` needs it)."""
    acts: list[Act] = []
    gets: list[Position] = []
    probes = False
    rows: dict[str, list[Position]] | None = None
    for call in code.nodes(ast.Call):
        func = call.func
        if not isinstance(func, ast.Attribute):
            continue
        method = func.attr
        if method in PROBES:
            probes = True
        elif method in ("get", "one", "scalar_one"):
            gets.append((call.lineno, call.col_offset))
        elif method == "add":
            values = arguments(call)
            if len(values) != 1:
                continue
            if isinstance(values[0], ast.Name):
                if rows is None:
                    rows = _assigned_calls(code)
                if values[0].id in rows:
                    acts.append((call.lineno, call.col_offset, values[0].id))
            elif isinstance(values[0], ast.Call) and isinstance(values[0].func, ast.Name):
                acts.append((call.lineno, call.col_offset, ""))
        elif _act_shape(code, call, method):
            acts.append((call.lineno, call.col_offset, ""))
    return acts, gets, probes, rows


def _probed_branches(code: CodeIndex, probes: bool) -> Iterator[tuple[Position, Position]]:
    """The (start, end) of each `if` branch taken when a probe finds no row."""
    for node in code.nodes(ast.If):
        condition = _screen_condition(node.test)
        if condition is None:
            continue
        probe, missing = condition
        while isinstance(probe, ast.Await):
            probe = probe.value
        if isinstance(probe, ast.Subscript):  # `cur.fetchone()[0]`
            probe = probe.value
            while isinstance(probe, ast.Await):
                probe = probe.value
        if not (isinstance(probe, ast.Name) and probes or isinstance(probe, ast.Call)
                and isinstance(probe.func, ast.Attribute) and probe.func.attr in PROBES):
            continue
        if missing:  # the body
            yield ((node.test.end_lineno, node.test.end_col_offset),  # type: ignore[misc]
                   (node.body[-1].end_lineno, node.body[-1].end_col_offset))
        elif node.orelse:  # the else
            yield ((node.body[-1].end_lineno, node.body[-1].end_col_offset),  # type: ignore[misc]
                   (node.end_lineno, node.end_col_offset))


def _missing_row_handlers(code: CodeIndex, gets: list[Position]
                          ) -> Iterator[tuple[Position, Position]]:
    """The (start, end) of the handlers of each `try` that calls `get()` before them and
    catches a missing row."""
    for node in code.nodes(ast.Try):
        if not node.body or not node.handlers:
            continue
        start = (node.lineno, node.col_offset)
        handlers = (node.handlers[0].lineno, node.handlers[0].col_offset)
        end = (node.handlers[-1].end_lineno, node.handlers[-1].end_col_offset)
        if any(_catches_missing(code, h) for h in node.handlers) and any(
                start <= at <= handlers for at in gets):
            yield handlers, end  # type: ignore[misc]


def _screen_condition(test: ast.expr) -> tuple[ast.expr, bool] | None:
    """`_condition` on CPython's tree: (probe, whether the test is true when the row is
    missing), or None. `None` is a Constant here, an integer any spelling of 0 or 1."""
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
    if isinstance(left, ast.Constant) and type(left.value) is int:
        left, right = right, left
        op = ast.Gt() if isinstance(op, ast.Lt) else ast.Lt() if isinstance(op, ast.Gt) else op
    if not (isinstance(right, ast.Constant) and type(right.value) is int
            and right.value in (0, 1)):
        return None
    zero = right.value == 0
    if zero and isinstance(op, ast.Eq) or not zero and isinstance(op, ast.Lt):
        return left, True
    if zero and isinstance(op, (ast.NotEq, ast.Gt)) or not zero and isinstance(op, ast.GtE):
        return left, False
    return None


def _assigned_calls(code: CodeIndex) -> dict[str, list[tuple[int, int]]]:
    """Where names are assigned a call of a plain name (`obj = M(...)`, `obj: M = M(...)`):
    the only values `last_assignment` lets `add(obj)` insert."""
    names: dict[str, list[tuple[int, int]]] = {}
    for node in (*code.nodes(ast.Assign), *code.nodes(ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and isinstance(
                node.value, ast.Call) and isinstance(node.value.func, ast.Name):
            names.setdefault(targets[0].id, []).append((node.lineno, node.col_offset))
    return names


def _act_shape(code: CodeIndex, call: ast.Call, method: str) -> bool:
    """A call other than `add()` that `_act` may take for the insert: `_django_create`,
    `_sqlalchemy_insert`'s `execute(insert(M)...)` (not settled by `on_conflict_*()`) or
    `_sql_insert` (a string with "insert" in it)."""
    if method in ("create", "bulk_create"):
        manager = call.func.value  # type: ignore[attr-defined]
        return isinstance(manager, ast.Attribute) and manager.attr in (
            "objects", "_default_manager") and isinstance(manager.value, ast.Name)
    if method not in ("execute", "executemany"):
        return False
    for value in arguments(call):
        if _sql_mentions_insert(value) or isinstance(value, ast.Call) and any(
                _sql_mentions_insert(v) for v in arguments(value)):
            return True
        if method != "execute":
            continue
        node = value  # `sa_insert_model`: insert(M)[.values(...)...], no on_conflict_*()
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name.startswith("on_conflict_") or name not in (
                    "values", "returning", "execution_options", "inline", "prefix_with"):
                break
            node = node.func.value
        else:
            if isinstance(node, ast.Call) and code.qualified(node.func) in SA_INSERTS:
                target = arguments(node)
                if len(target) == 1 and isinstance(target[0], ast.Name):
                    return True
    return False


def _sql_mentions_insert(node: ast.expr) -> bool:
    """A str literal (implicit concatenation is one Constant here) with "insert" in it: an
    INSERT parsed from it spells the word (the frontend prefixes fragments with SELECT only)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        "insert" in node.value.lower()


def _catches_missing(code: CodeIndex, handler: ast.ExceptHandler) -> bool:
    """`_handler_names` is not empty: the handler catches `X.DoesNotExist`,
    `ObjectDoesNotExist` or `NoResultFound` (imported under any name)."""
    kind = handler.type
    for item in kind.elts if isinstance(kind, ast.Tuple) else [kind]:
        if isinstance(item, ast.Starred):  # `except (*errors,)`: libcst's element value
            item = item.value
        if item is None:
            continue
        written = dotted(item) or ""
        if written in ("ObjectDoesNotExist", "NoResultFound") or (
                written.count(".") == 1 and written.endswith(".DoesNotExist")) or (
                code.qualified(item) or "").endswith((".ObjectDoesNotExist", ".NoResultFound")):
            return True
    return False
