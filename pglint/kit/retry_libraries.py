"""Retry libraries (tenacity's `@retry`, `Retrying(...)`; backoff's `on_exception`,
`on_predicate`) and the exception classes a retry catches; see `pglint.kit.retries`."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from pglint.kit.retries import (
    BROAD_BUILTINS, BROAD_NAMES, BROAD_QUALIFIED, FIXED_WAITS, JITTER_WAITS, OTHER_DATABASES,
    identifiers, name_scope, positional_args, target_names,
)
from pglint.kit.retry_shapes import retry_shapes
from pglint.python.pyfile import PythonFile, has_star, keyword


# --------------------------------------------------------------------------------------------
# tenacity and backoff
# --------------------------------------------------------------------------------------------

@dataclass
class Tenacity:
    """A tenacity entry point: `@retry` (bare: `call` is None), `@retry(...)`, `Retrying(...)`."""

    node: Any  # the Call, or the bare decorator's Name/Attribute
    call: Any  # the Call, None for a bare `@retry`
    entry: str  # "retry", "Retrying", "AsyncRetrying", ...
    opaque: bool  # `**kwargs` or a positional argument: the options cannot be read

    def argument(self, name: str) -> Any:
        """The value of the keyword argument `name`, or None."""
        return None if self.call is None else keyword(self.call, name)


def tenacity_use(code: PythonFile, node: ast.AST) -> Tenacity | None:
    """The tenacity entry point a Call or a decorator is, or None. A decorator counts only
    when it is bare (`@retry`): a called decorator is seen as its Call."""
    shapes = retry_shapes(code)
    if isinstance(node, ast.Call):
        name = shapes.tenacity.get(id(node))
        if name is None:
            return None
        opaque = has_star(node) or bool(positional_args(node))
        return Tenacity(node, node, name.rsplit(".", 1)[-1], opaque)
    if any(d is node for d in shapes.bare.get(id(code.parent(node)), ())):
        return Tenacity(node, None, "retry", False)
    return None


def bare_decorators(code: PythonFile, definition: ast.AST) -> list[ast.expr]:
    """A definition's bare `@retry` decorators of tenacity (however imported)."""
    return retry_shapes(code).bare.get(id(definition), [])


def tenacity_name(code: PythonFile, node: Any) -> str | None:
    """`wait_exponential` for a call of tenacity's `wait_exponential`, however imported."""
    if not isinstance(node, ast.Call):
        return None
    name = code.call_name(node)
    if name is None or not name.startswith("tenacity."):
        return None
    return name.rsplit(".", 1)[-1]


def module_value(code: PythonFile, node: Any) -> Any:
    """A Name's value when the module assigns it exactly once (`WAIT = wait_fixed(2)`)."""
    if not isinstance(node, ast.Name):
        return node
    values = name_scope(code, code.module).values.get(node.id, [])
    return values[0] if len(values) == 1 else node


def waits(code: PythonFile, expression: Any) -> tuple[list[Any], list[Any], bool]:
    """(deterministic tenacity waits, random ones, anything unknown) in a `wait=` expression:
    `wait_a() + wait_b()` combines, `wait_chain(...)`/`wait_combine(...)` list; a wait of
    another library or one built elsewhere is unknown."""
    fixed: list[Any] = []
    random_waits: list[Any] = []
    unknown = False
    stack = [module_value(code, expression)]
    while stack:
        part = stack.pop()
        if isinstance(part, ast.BinOp) and isinstance(part.op, ast.Add):
            stack.extend((part.right, part.left))
            continue
        short = tenacity_name(code, part)
        if short in FIXED_WAITS:
            fixed.append(part)
        elif short in JITTER_WAITS:
            random_waits.append(part)
        elif short in ("wait_chain", "wait_combine"):
            listed = [*positional_args(part), *(k.value for k in part.keywords
                                                if k.arg is not None)]
            stack.extend(reversed(listed))
        else:
            unknown = True
    return fixed, random_waits, unknown


@dataclass
class Backoff:
    """`@backoff.on_exception(wait_gen, exception, ...)` or `@backoff.on_predicate(...)`."""

    call: Any
    entry: str  # "on_exception" or "on_predicate"
    opaque: bool  # `**kwargs`: the options cannot be read

    def argument(self, name: str) -> Any:
        """The value of the keyword argument `name`, or None."""
        return keyword(self.call, name)

    def keyword(self, name: str) -> ast.keyword | None:
        """The keyword argument `name` itself (`jitter=None`), or None."""
        return next((k for k in self.call.keywords if k.arg == name), None)

    @property
    def exception(self) -> Any:
        """The exception class(es) an on_exception retries (the second argument)."""
        if self.entry != "on_exception":
            return None
        arg = self.argument("exception")
        if arg is not None:
            return arg
        positional = positional_args(self.call)
        return positional[1] if len(positional) > 1 else None


def backoff_use(code: PythonFile, node: Any) -> Backoff | None:
    name = retry_shapes(code).backoff.get(id(node)) if isinstance(node, ast.Call) else None
    if name is None:
        return None
    return Backoff(node, name.rsplit(".", 1)[-1], any(k.arg is None for k in node.keywords))


# --------------------------------------------------------------------------------------------
# Exception classes
# --------------------------------------------------------------------------------------------

def exception_classes(code: PythonFile, node: Any) -> list[Any]:
    """The class expressions of `except X`, `except (X, Y)`, `retry_if_exception_type((X, Y))`."""
    node = module_value(code, node)
    if isinstance(node, (ast.Tuple, ast.List)):
        return [c for e in node.elts
                for c in exception_classes(code, e.value if isinstance(e, ast.Starred) else e)]
    return [node]


def broad_class(code: PythonFile, node: Any) -> str | None:
    """The name of a class that catches every database error (or every error), or None.
    `OperationalError` and the SQLSTATE classes (`SerializationFailure`, `DeadlockDetected`)
    are not broad: they hold the transient errors."""
    name = code.qualified(node)
    if name is None:
        return None
    if name in BROAD_BUILTINS or name in BROAD_QUALIFIED:
        return name
    last = name.rsplit(".", 1)[-1]
    if last in BROAD_NAMES and name.split(".")[0] not in OTHER_DATABASES:
        return name
    return None


def filters_errors(code: PythonFile, handler: ast.ExceptHandler) -> bool:
    """The handler re-raises what is not transient: an `if` that reads the caught exception
    (its `as` name, `.sqlstate`/`.pgcode`, `isinstance`, or a variable computed from them)
    and raises."""
    reading = {"sqlstate", "pgcode", "isinstance"}
    if handler.name is not None:
        reading.add(handler.name)

    def reads(node: Any) -> bool:
        return any(name in reading for name in identifiers(node))

    inner = [d for statement in handler.body
             for d in [statement, *PythonFile.descendants(statement)]]
    assignments = [a for a in inner if isinstance(a, ast.Assign)]
    for _ in range(3):  # `code = exc.sqlstate`, then `transient = code in TRANSIENT`
        for assignment in assignments:
            if reads(assignment.value):
                for target in assignment.targets:
                    reading.update(target_names(target))
    for item in inner:
        if isinstance(item, ast.If) and reads(item.test) and any(
                isinstance(s, ast.Raise) for s in PythonFile.descendants(item)):
            return True
    return False


def decorates(code: PythonFile, node: ast.AST) -> bool:
    """Whether a node is one of a definition's decorators (`@retry(...)`, `@retry`)."""
    parent = code.parent(node)
    return isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and any(
        d is node for d in parent.decorator_list)
