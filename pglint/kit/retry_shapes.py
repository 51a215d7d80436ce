"""The retry rules' screens on CPython's tree (PGL207, PGL208, PGL209 share one reading of a
file): where their findings can start, `pglint.kit.retries` read on `ast`, conservatively."""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass, field
from typing import Any

from pglint.kit import retries
from pglint.python.screen import CodeIndex

# Callee names worth resolving when written as an attribute (`x.sleep`): the last parts of what
# the screens look for. A plain name (`nap(1)` after `from time import sleep as nap`) is always
# resolved through the imports.
_SCREEN_LAST = frozenset({
    *(name.rsplit(".", 1)[-1] for name in (*retries.SLEEPS, *retries.TENACITY_ENTRIES,
                                           *retries.BACKOFF_ENTRIES)),
    *retries.FIXED_WAITS, "retry_if_exception_type", "pow", "exp",
})
_TRIES = tuple(getattr(ast, kind) for kind in ("Try", "TryStar") if hasattr(ast, kind))


@dataclass
class RetryShapes:
    """The nodes where the findings of the retry rules start, as CPython's tree shows them
    (`pglint.kit.retries` read on `ast`, conservatively: a superset of what it accepts)."""

    # (loop, its sleep calls): a `while`, or a `for` over a call of `range`/`itertools.count`
    # or over a list/tuple, whose span holds a `try` and a call of a sleep of `SLEEPS`.
    loops: list[tuple[ast.AST, list[ast.Call]]] = field(default_factory=list)
    tenacity: list[ast.Call] = field(default_factory=list)  # calls of `TENACITY_ENTRIES`
    bare: bool = False  # a bare `@tenacity.retry` decorator (however imported)
    backoff: list[ast.Call] = field(default_factory=list)  # calls of `BACKOFF_ENTRIES`
    # The last parts of the tenacity functions called (`wait_fixed` of `tenacity.wait_fixed(2)`).
    tenacity_names: set[str] = field(default_factory=set)
    growth_call: bool = False  # a call of `pow`, `math.pow` or `math.exp`


def retry_shapes(code: CodeIndex) -> RetryShapes:
    """The retry shapes of a file (one pass over its calls, decorators and loops, shared by
    the three rules' screens)."""
    shapes = code.derived.get("retry_shapes")
    if shapes is not None:
        return shapes
    shapes = RetryShapes()
    sleeps = []
    for call in code.nodes(ast.Call):
        func = call.func
        if isinstance(func, ast.Attribute):
            if func.attr not in _SCREEN_LAST:
                continue
        elif not isinstance(func, ast.Name):
            continue
        name = code.qualified(func) or ""
        if name in retries.SLEEPS:
            sleeps.append(call)
        elif name in retries.TENACITY_ENTRIES:
            shapes.tenacity.append(call)
        elif name in retries.BACKOFF_ENTRIES:
            shapes.backoff.append(call)
        elif name in ("pow", "math.pow", "math.exp"):
            shapes.growth_call = True
        if name.startswith("tenacity."):
            shapes.tenacity_names.add(name.rsplit(".", 1)[-1])
    for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        for definition in code.nodes(kind):
            for decorator in definition.decorator_list:
                if not isinstance(decorator, ast.Call) and \
                        code.qualified(decorator) == "tenacity.retry":
                    shapes.bare = True
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
            held = sleeps_by_start.within(loop)
            if held and tries_by_start.within(loop):
                shapes.loops.append((loop, held))
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


def sleeps_some_time(call: ast.Call) -> bool:
    """A sleep whose delay `retry.sleep_argument` finds and `delay_facts` reads (not `0`)."""
    argument = next((a for a in call.args if not isinstance(a, ast.Starred)), None)
    if argument is None:
        argument = next((k.value for k in call.keywords
                         if k.arg in ("secs", "seconds", "delay")), None)
    if argument is None:
        return False
    return not (isinstance(argument, ast.Constant) and type(argument.value) in (int, float)
                and argument.value == 0)
