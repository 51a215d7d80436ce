"""Retry libraries (tenacity's `@retry`, `Retrying(...)`; backoff's `on_exception`,
`on_predicate`) and the exception classes a retry catches; see `pglint.kit.retries`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglint.kit.retries import (
    BACKOFF_ENTRIES, BROAD_BUILTINS, BROAD_NAMES, BROAD_QUALIFIED, FIXED_WAITS, JITTER_WAITS,
    OTHER_DATABASES, TENACITY_ENTRIES, has_star, keyword_arg, name_scope, positional_args,
    target_names,
)


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
        return None if self.call is None else keyword_arg(self.call, name)


def tenacity_use(tree: Any, node: Any) -> Tenacity | None:
    """The tenacity entry point a Call or a Decorator is, or None. A Decorator counts only
    when it is bare (`@retry`): a called decorator is seen as its Call."""
    cst = tree.cst
    if isinstance(node, cst.Decorator):
        if isinstance(node.decorator, cst.Call):
            return None
        name = tree.qualified(node.decorator)
        if name != "tenacity.retry":
            return None
        return Tenacity(node.decorator, None, "retry", False)
    if not isinstance(node, cst.Call):
        return None
    name = tree.call_name(node)
    if name not in TENACITY_ENTRIES:
        return None
    opaque = has_star(node) or bool(positional_args(node))
    return Tenacity(node, node, name.rsplit(".", 1)[-1], opaque)


def tenacity_name(tree: Any, node: Any) -> str | None:
    """`wait_exponential` for a call of tenacity's `wait_exponential`, however imported."""
    cst = tree.cst
    if not isinstance(node, cst.Call):
        return None
    name = tree.call_name(node)
    if name is None or not name.startswith("tenacity."):
        return None
    return name.rsplit(".", 1)[-1]


def module_value(tree: Any, node: Any) -> Any:
    """A Name's value when the module assigns it exactly once (`WAIT = wait_fixed(2)`)."""
    cst = tree.cst
    if not isinstance(node, cst.Name):
        return node
    values = name_scope(tree, tree.module).values.get(node.value, [])
    return values[0] if len(values) == 1 else node


def waits(tree: Any, expression: Any) -> tuple[list[Any], list[Any], bool]:
    """(deterministic tenacity waits, random ones, anything unknown) in a `wait=` expression:
    `wait_a() + wait_b()` combines, `wait_chain(...)`/`wait_combine(...)` list; a wait of
    another library or one built elsewhere is unknown."""
    cst = tree.cst
    fixed: list[Any] = []
    random_waits: list[Any] = []
    unknown = False
    stack = [module_value(tree, expression)]
    while stack:
        part = stack.pop()
        if isinstance(part, cst.BinaryOperation) and isinstance(part.operator, cst.Add):
            stack.extend((part.right, part.left))
            continue
        short = tenacity_name(tree, part)
        if short in FIXED_WAITS:
            fixed.append(part)
        elif short in JITTER_WAITS:
            random_waits.append(part)
        elif short in ("wait_chain", "wait_combine"):
            stack.extend(reversed([a.value for a in part.args if not a.star]))
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
        return keyword_arg(self.call, name)

    @property
    def exception(self) -> Any:
        """The exception class(es) an on_exception retries (the second argument)."""
        if self.entry != "on_exception":
            return None
        arg = self.argument("exception")
        if arg is not None:
            return arg.value
        positional = positional_args(self.call)
        return positional[1].value if len(positional) > 1 else None


def backoff_use(tree: Any, node: Any) -> Backoff | None:
    cst = tree.cst
    if not isinstance(node, cst.Call):
        return None
    name = tree.call_name(node)
    if name not in BACKOFF_ENTRIES:
        return None
    return Backoff(node, name.rsplit(".", 1)[-1], any(a.star == "**" for a in node.args))


# --------------------------------------------------------------------------------------------
# Exception classes
# --------------------------------------------------------------------------------------------

def exception_classes(tree: Any, node: Any) -> list[Any]:
    """The class expressions of `except X`, `except (X, Y)`, `retry_if_exception_type((X, Y))`."""
    cst = tree.cst
    node = module_value(tree, node)
    if isinstance(node, (cst.Tuple, cst.List)):
        return [c for e in node.elements for c in exception_classes(tree, e.value)]
    return [node]


def broad_class(tree: Any, node: Any) -> str | None:
    """The name of a class that catches every database error (or every error), or None.
    `OperationalError` and the SQLSTATE classes (`SerializationFailure`, `DeadlockDetected`)
    are not broad: they hold the transient errors."""
    name = tree.qualified(node)
    if name is None:
        return None
    if name in BROAD_BUILTINS or name in BROAD_QUALIFIED:
        return name
    last = name.rsplit(".", 1)[-1]
    if last in BROAD_NAMES and name.split(".")[0] not in OTHER_DATABASES:
        return name
    return None


def filters_errors(tree: Any, handler: Any) -> bool:
    """The handler re-raises what is not transient: an `if` that reads the caught exception
    (its `as` name, `.sqlstate`/`.pgcode`, `isinstance`, or a variable computed from them)
    and raises."""
    cst = tree.cst
    reading = {"sqlstate", "pgcode", "isinstance"}
    if handler.name is not None and isinstance(handler.name.name, cst.Name):
        reading.add(handler.name.name.value)

    def reads(node: Any) -> bool:
        return any(isinstance(p, cst.Name) and p.value in reading
                   for p in [node, *tree.descendants(node)])

    assignments = [a for a in tree.descendants(handler.body) if isinstance(a, cst.Assign)]
    for _ in range(3):  # `code = exc.sqlstate`, then `transient = code in TRANSIENT`
        for assignment in assignments:
            if reads(assignment.value):
                for target in assignment.targets:
                    reading.update(target_names(tree, target.target))
    for item in tree.descendants(handler.body):
        if isinstance(item, cst.If) and reads(item.test) and any(
                isinstance(s, cst.Raise) for s in tree.descendants(item)):
            return True
    return False
