"""Where the retry rules' findings (PGL207, PGL208, PGL209) can start in a file, found once
and shared by the three rules: the loops worth reading as retry loops, the calls of tenacity's
and backoff's entry points and the bare `@tenacity.retry` decorators. The rules then read only
those nodes (`pglint.kit.retries`), not every loop and call of the file."""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass, field
from typing import Any

from pglint.kit import retries
from pglint.python.pyfile import PythonFile

# Callee names worth resolving when written as an attribute (`x.sleep`): the last parts of what
# is looked for. A plain name (`nap(1)` after `from time import sleep as nap`) is always
# resolved through the imports.
_LAST = frozenset(name.rsplit(".", 1)[-1] for name in (
    *retries.SLEEPS, *retries.TENACITY_ENTRIES, *retries.BACKOFF_ENTRIES))
_TRIES = tuple(getattr(ast, kind) for kind in ("Try", "TryStar") if hasattr(ast, kind))


@dataclass
class RetryShapes:
    """The nodes where the retry rules' findings start (by id)."""

    # A `while`, or a `for` over a call of `range`/`itertools.count` or over a non-empty
    # list/tuple, whose code holds a `try` and a call of a sleep of `SLEEPS`.
    loops: set[int] = field(default_factory=set)
    tenacity: dict[int, str] = field(default_factory=dict)  # calls of `TENACITY_ENTRIES`
    backoff: dict[int, str] = field(default_factory=dict)  # calls of `BACKOFF_ENTRIES`
    # Definitions decorated with a bare `@tenacity.retry` (however imported) -> the decorators.
    bare: dict[int, list[ast.expr]] = field(default_factory=dict)


def retry_shapes(code: PythonFile) -> RetryShapes:
    """The retry shapes of a file (one pass over its calls, decorators and loops)."""
    shapes = code.derived.get("retry_shapes")
    if shapes is not None:
        return shapes
    shapes = RetryShapes()
    sleeps = []
    for call in code.nodes(ast.Call):
        func = call.func
        if isinstance(func, ast.Attribute):
            if func.attr not in _LAST:
                continue
        elif not isinstance(func, ast.Name):
            continue
        name = code.qualified(func) or ""
        if name in retries.SLEEPS:
            sleeps.append(call)
        elif name in retries.TENACITY_ENTRIES:
            shapes.tenacity[id(call)] = name
        elif name in retries.BACKOFF_ENTRIES:
            shapes.backoff[id(call)] = name
    for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        for definition in code.nodes(kind):
            bare = [d for d in definition.decorator_list if not isinstance(d, ast.Call)
                    and code.qualified(d) == "tenacity.retry"]
            if bare:
                shapes.bare[id(definition)] = bare
    tries = [t for kind in _TRIES for t in code.nodes(kind)]
    if sleeps and tries:
        sleeps_by_start, tries_by_start = NodesByStart(sleeps), NodesByStart(tries)
        for loop in (*code.nodes(ast.While), *code.nodes(ast.For), *code.nodes(ast.AsyncFor)):
            if not isinstance(loop, ast.While):
                iterable = loop.iter
                if isinstance(iterable, ast.Call):
                    if code.qualified(iterable.func) not in ("range", "itertools.count"):
                        continue
                elif not (isinstance(iterable, (ast.List, ast.Tuple)) and iterable.elts):
                    continue
            if sleeps_by_start.within(loop) and tries_by_start.within(loop):
                shapes.loops.add(id(loop))
    code.derived["retry_shapes"] = shapes
    return shapes


class NodesByStart:
    """Nodes sorted by where their code starts: those inside another node's code are found by
    bisection, not by comparing every pair (a file of a thousand loops stays cheap)."""

    def __init__(self, nodes: list[Any]) -> None:
        self.nodes = sorted(nodes, key=_start)
        self.starts = [_start(node) for node in self.nodes]

    def within(self, outer: Any) -> list[Any]:
        """The nodes whose code lies inside `outer`'s, in file order."""
        end = _end(outer)
        low = bisect.bisect_left(self.starts, _start(outer))
        high = bisect.bisect_right(self.starts, end)
        return [node for node in self.nodes[low:high] if _end(node) <= end]


def _start(node: Any) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _end(node: Any) -> tuple[int, int]:
    return node.end_lineno, node.end_col_offset
