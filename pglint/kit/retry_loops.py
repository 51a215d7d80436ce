"""Hand-written retry loops (`retry_loop`) and what feeds their sleeps (`delay_facts`): whether
a random draw is involved (jitter), whether something unknown is, whether the delay grows
exponentially and whether `min(...)` caps it; see `pglint.kit.retries`."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from pglint.kit.retries import (
    CLOCKS, RANDOM_PREFIXES, SLEEPS, TRANSPARENT, Scope, functions_by_name, inside, inside_block,
    is_constant, is_zero, name_of, name_scope, names_in, own_identifiers,
    owned, positional_args, scope_of, target_names, terminates, tree_cache, written,
)
from pglint.kit.retry_shapes import retry_shapes
from pglint.python.pyfile import PythonFile

_CONFIG_METHODS = frozenset({"get", "getint", "getfloat", "total_seconds"})
_TRIES = tuple(getattr(ast, kind) for kind in ("Try", "TryStar") if hasattr(ast, kind))
# Between a statement and its loop, these make it conditional.
_BRANCHES = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.Match)


# --------------------------------------------------------------------------------------------
# Hand-written retry loops
# --------------------------------------------------------------------------------------------

@dataclass
class RetryLoop:
    loop: Any  # the For, AsyncFor or While node
    scope: Any  # the enclosing function (or module)
    handlers: list[Any]  # except handlers that retry (do not end by raising/returning)
    sleeps: list[Any]  # the sleep calls of the loop, in file order
    forever: bool  # `while True`, `while 1`, `for ... in itertools.count()`
    counter: Any  # the loop variable (a Name) of `for attempt in range(...)` / count(), else None
    owned: list[Any]  # every node that belongs to this loop (not to a nested loop or function)

    def header_end(self, code: PythonFile) -> int:
        """Where the loop's header ends (after its test or iterable), for findings."""
        head = self.loop.test if isinstance(self.loop, ast.While) else self.loop.iter
        return code.span(head)[1]


def sleep_calls(code: PythonFile, nodes: list[Any]) -> list[Any]:
    return [n for n in nodes if isinstance(n, ast.Call) and code.call_name(n) in SLEEPS]


def retry_loop(code: PythonFile, node: ast.AST) -> RetryLoop | None:
    """The retry loop `node` (a For, AsyncFor or While) is, or None."""
    cache = tree_cache(code)
    key = id(node)
    if key in cache.loops:
        return cache.loops[key]
    found = None
    if key in retry_shapes(code).loops:  # a try and a sleep in its code: worth reading
        found = _retry_loop(code, node)
    cache.loops[key] = found
    return found


def _retry_loop(code: PythonFile, node: Any) -> RetryLoop | None:
    forever, counter = False, None
    if isinstance(node, (ast.For, ast.AsyncFor)):
        iterable = node.iter
        if isinstance(iterable, ast.Call):
            name = code.call_name(iterable)
            if name not in ("range", "itertools.count"):
                return None
            forever = name == "itertools.count"
            counter = node.target if isinstance(node.target, ast.Name) else None
        elif isinstance(iterable, (ast.List, ast.Tuple)):
            # A delay schedule: `for delay in (0.1, 0.5, 2):`.
            if not iterable.elts or not all(is_constant(e) for e in iterable.elts):
                return None
        else:
            return None
    elif isinstance(node, ast.While):
        test = node.test
        forever = isinstance(test, ast.Constant) and (
            test.value is True or (type(test.value) is int and test.value != 0))
    else:
        return None
    mine = owned(node)
    tries = [d for d in mine if isinstance(d, _TRIES)]
    if not tries:
        return None
    sleeps = sleep_calls(code, mine)
    if not sleeps:
        return None
    handlers, retrying_tries = [], []
    for attempt in tries:
        retrying = [h for h in attempt.handlers if not terminates(h.body)]
        if retrying:
            handlers.extend(retrying)
            retrying_tries.append(attempt)
    if not handlers:
        return None
    # The sleep happens on the failure path: not inside the `try` body that is retried.
    sleeps = [s for s in sleeps
              if not any(inside_block(code, s, t.body) for t in retrying_tries)]
    if not sleeps:
        return None
    if not _leaves_on_success(code, node, mine):
        return None
    return RetryLoop(node, scope_of(code, node), handlers, sleeps, forever, counter, mine)


def _leaves_on_success(code: PythonFile, loop: Any, mine: list[Any]) -> bool:
    """An unconditional `return`/`break` on the success path (in the `try` body, its `else`, or
    after it): a loop that leaves only when some condition holds (`if not data: break`) reads
    or polls, it does not retry."""
    for item in mine:
        if isinstance(item, (ast.Return, ast.Break)) and _unconditional(code, item, loop):
            return True
    if isinstance(loop, ast.While):
        # `while not done:` with `done = True` after the call.
        tested = {name_of(n) for n in names_in(loop.test)}
        for item in mine:
            if isinstance(item, (ast.Assign, ast.AugAssign)) and \
                    _unconditional(code, item, loop):
                targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                for target in targets:
                    if set(target_names(target)) & tested:
                        return True
    return False


def _unconditional(code: PythonFile, node: Any, loop: Any) -> bool:
    """Reached whenever the loop's body runs without an error: no `if`, nested loop or except
    handler between the node and the loop."""
    for ancestor in code.ancestors(node):
        if ancestor is loop:
            return True
        if isinstance(ancestor, _BRANCHES):
            return False
    return False


def _walk(nodes: list[ast.AST]) -> list[ast.AST]:
    """Every node of a block (its statements and what is under them), in file order."""
    found: list[ast.AST] = []
    for node in nodes:
        found.append(node)
        found.extend(PythonFile.descendants(node))
    return found


def bound_check(code: PythonFile, found: RetryLoop) -> Any:
    """The `if`/`assert` that stops a forever loop: it compares an attempt counter (a name
    incremented in the loop) or a clock reading (`time.monotonic()`, directly or through a
    variable) and raises, returns or breaks. None if there is none."""
    counters = set()
    for item in _walk(found.loop.body):
        if isinstance(item, ast.AugAssign) and isinstance(item.op, (ast.Add, ast.Sub)):
            counters.add(written(code, item.target).strip())
        elif isinstance(item, ast.Assign) and isinstance(item.value, ast.BinOp) and \
                isinstance(item.value.op, ast.Add):
            for target in item.targets:
                shown = written(code, target).strip()
                if shown in {written(code, item.value.left).strip(),
                             written(code, item.value.right).strip()}:
                    counters.add(shown)
    if found.counter is not None:
        counters.add(found.counter.id)
    scope = name_scope(code, found.scope)
    for item in found.owned:
        if isinstance(item, ast.If):
            test, body = item.test, item.body
        elif isinstance(item, ast.Assert):
            test, body = item.test, None
        else:
            continue
        comparisons = [c for c in [test, *code.descendants(test)]
                       if isinstance(c, ast.Compare) and any(
                           not isinstance(op, (ast.In, ast.NotIn, ast.Is, ast.IsNot))
                           for op in c.ops)]
        if not comparisons:
            continue
        if body is not None and not any(
                isinstance(s, (ast.Raise, ast.Return, ast.Break)) for s in _walk(body)):
            continue
        for comparison in comparisons:
            parts = [comparison, *code.descendants(comparison)]
            for part in parts:
                # A name or attribute as written, and each identifier in it (`self.failures`
                # counts for a counter written `failures` too).
                if isinstance(part, (ast.Name, ast.Attribute)) and \
                        written(code, part).strip() in counters:
                    return item
                if any(name in counters for name in own_identifiers(part)):
                    return item
            if _reads_clock(code, parts, scope, depth=2):
                return item
    return None


def _reads_clock(code: PythonFile, parts: list[Any], scope: Scope, depth: int) -> bool:
    for part in parts:
        if isinstance(part, ast.Call):
            name = code.call_name(part) or ""
            if name in CLOCKS or name == "loop.time" or name.endswith("loop().time"):
                return True  # also asyncio's loop.time()
        elif depth > 0:
            for name in own_identifiers(part):
                for value in scope.values.get(name, ()):
                    if _reads_clock(code, [value, *code.descendants(value)], scope, depth - 1):
                        return True
    return False


# --------------------------------------------------------------------------------------------
# What feeds a sleep
# --------------------------------------------------------------------------------------------

@dataclass
class Delay:
    """What a sleep's argument is made of."""

    argument: Any  # the sleep's delay expression (None for `sleep()`)
    jitter: bool = False  # a random draw feeds it
    unknown: bool = False  # a call whose result cannot be judged feeds it
    growth: list[Any] = field(default_factory=list)  # `2 ** attempt`, `delay *= 2` ...
    capped: bool = False  # a `min(...)` (or an `if delay > cap`) bounds it
    # expression -> (the expression that reads it through a name, that name's node)
    via: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    roots: dict[int, Any] = field(default_factory=dict)  # node id -> the expression it is in


def sleep_argument(call: ast.Call) -> Any:
    """The delay a sleep is given: its first positional argument, else `secs=`/`seconds=`/
    `delay=`."""
    for arg in call.args:
        if not isinstance(arg, ast.Starred):
            return arg
    for keyword in call.keywords:
        if keyword.arg in ("secs", "seconds", "delay"):
            return keyword.value
    return None


def delay_facts(code: PythonFile, sleep: Any, loop: RetryLoop | None = None) -> Delay:
    cache = tree_cache(code)
    facts = cache.delays.get(id(sleep))
    if facts is None:
        facts = cache.delays[id(sleep)] = _delay_facts(code, sleep, loop)
    return facts


def _delay_facts(code: PythonFile, sleep: Any, loop: RetryLoop | None) -> Delay:
    argument = sleep_argument(sleep)
    facts = Delay(argument)
    if argument is None:
        return facts
    if is_zero(argument):
        facts.argument = None  # `sleep(0)` yields to other tasks; it is no backoff
        return facts
    start_scope = scope_of(code, sleep)
    module_scope = name_scope(code, code.module)
    varying = _varying_names(loop)
    work: list[tuple[Any, Scope]] = [(argument, name_scope(code, start_scope))]
    seen_names: set[tuple[int, str]] = set()
    seen_functions: set[int] = set()
    while work:
        expr, scope = work.pop()
        parts = [expr, *code.descendants(expr)]
        for part in parts:
            facts.roots[id(part)] = expr
        for part in parts:
            if isinstance(part, ast.Call):
                _judge_call(code, part, facts, work, seen_functions)
            elif isinstance(part, ast.BinOp) and isinstance(part.op, (ast.Pow, ast.LShift)) \
                    and not is_constant(part.right) \
                    and _varies(part.right, scope, start_scope, varying):
                facts.growth.append(part)
        for name in names_in(expr):
            value = name_of(name)
            key = (id(scope.node), value)
            if key in seen_names:
                continue
            seen_names.add(key)
            if value in scope.values:
                target_scope = scope
            elif value in scope.params:
                continue
            elif value in module_scope.values:
                target_scope = module_scope
            else:
                continue
            for assigned in target_scope.values[value]:
                facts.via.setdefault(id(assigned), (expr, name))
                work.append((assigned, target_scope))
            for statement in target_scope.growth.get(value, ()):
                if loop is None or inside(code, statement, loop.loop):
                    facts.growth.append(statement)
            if _clamped(value, target_scope):
                facts.capped = True
    return facts


def _judge_call(code: PythonFile, call: ast.Call, facts: Delay, work: list[tuple[Any, Scope]],
                seen_functions: set[int]) -> None:
    name = code.call_name(call)
    if name is None:
        # A computed callee: `secrets.SystemRandom().uniform(...)`, `rng().x()`; the inner
        # call is judged on its own.
        if not isinstance(call.func, ast.Attribute) or not isinstance(call.func.value, ast.Call):
            facts.unknown = True
        return
    if name.startswith(RANDOM_PREFIXES):
        facts.jitter = True
        return
    if name == "min":
        facts.capped = True
        return
    if name in TRANSPARENT or name in CLOCKS or name.startswith("math."):
        if name in ("pow", "math.pow", "math.exp"):
            args = positional_args(call)
            if name == "math.exp" or (len(args) >= 2 and not is_constant(args[1])):
                facts.growth.append(call)
        return
    head = name.split(".")[0]
    function = None
    if "." not in name:
        function = functions_by_name(code).get(name)
    elif head in ("self", "cls") and name.count(".") == 1:
        function = functions_by_name(code).get(name.split(".")[1])
    if function is not None:
        if id(function) in seen_functions:
            return
        seen_functions.add(id(function))
        body_scope = name_scope(code, function)
        for item in code.descendants(function):
            if isinstance(item, ast.Return) and item.value is not None:
                work.append((item.value, body_scope))
            elif isinstance(item, ast.Call) and (code.call_name(item) or "").startswith(
                    RANDOM_PREFIXES):
                facts.jitter = True
        return
    last = name.rsplit(".", 1)[-1]
    if last in _CONFIG_METHODS:
        return  # settings.get("RETRY_DELAY", 1.0), a timedelta's total_seconds()
    facts.unknown = True


def _varying_names(loop: RetryLoop | None) -> set[str]:
    """Names whose value changes from one attempt to the next."""
    if loop is None:
        return set()
    names: set[str] = set()
    if isinstance(loop.loop, (ast.For, ast.AsyncFor)):
        names.update(target_names(loop.loop.target))
    for item in _walk(loop.loop.body):
        if isinstance(item, ast.Assign):
            for target in item.targets:
                names.update(target_names(target))
        elif isinstance(item, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            names.update(target_names(item.target))
    return names


def _varies(exponent: Any, scope: Scope, start_scope: Any, varying: set[str]) -> bool:
    if scope.node is not start_scope:
        return True  # a helper's `2 ** n`: n is what the caller passes (the attempt)
    return any(name_of(n) in varying for n in names_in(exponent)) or not varying


def _clamped(name: str, scope: Scope) -> bool:
    """`if delay > cap: delay = cap`: a comparison of the name guarding an assignment to it."""
    for item in scope.items:
        if not isinstance(item, ast.If):
            continue
        tested = {name_of(n) for n in names_in(item.test)}
        if name not in tested or not any(isinstance(c, ast.Compare)
                                         for c in [item.test, *PythonFile.descendants(item.test)]):
            continue
        for inner in _walk(item.body):
            if isinstance(inner, (ast.Assign, ast.AugAssign)):
                targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                if any(name in target_names(t) for t in targets):
                    return True
    return False


def growth_in_seconds(code: PythonFile, facts: Delay, growth: Any) -> Any:
    """The product around an exponential term (`base * 2 ** attempt`, `(2 ** n) * 0.1`) when
    what it computes reaches the sleep as seconds: only through `+`/`-`, `min`/`max`/`float`/
    `round` and random draws such as `uniform(0, d)`. None if it is scaled or used otherwise on
    the way (`delay_ms / 1000`), where a cap in seconds would be wrong."""
    if not isinstance(growth, ast.BinOp):
        return None
    product = growth
    parent = code.parent(product)
    while isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Mult, ast.Div)):
        product = parent
        parent = code.parent(product)
    root = facts.roots.get(id(product))
    if root is None or not _keeps_seconds(code, product, root):
        return None
    for _ in range(8):
        if root is facts.argument:
            return product
        link = facts.via.get(id(root))
        if link is None:
            return None
        reader, name = link
        if not _keeps_seconds(code, name, reader):
            return None
        root = reader
    return None


def _keeps_seconds(code: PythonFile, node: Any, root: Any) -> bool:
    current = node
    while current is not root:
        parent = code.parent(current)
        if parent is None:
            return False
        if isinstance(parent, ast.BinOp):
            if not isinstance(parent.op, (ast.Add, ast.Sub)):
                return False
        elif isinstance(parent, (ast.keyword, ast.Starred)) or (
                isinstance(parent, ast.Call) and current is not parent.func):
            # An argument: only these calls keep seconds as seconds.
            call = parent if isinstance(parent, ast.Call) else code.parent(parent)
            if not (isinstance(call, ast.Call) and (
                    (isinstance(call.func, ast.Attribute) and call.func.attr == "uniform")
                    or code.call_name(call) in ("min", "max", "float", "round"))):
                return False
        elif not isinstance(parent, ast.Call):
            return False
        current = parent
    return True
