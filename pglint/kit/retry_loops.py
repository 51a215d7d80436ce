"""Hand-written retry loops (`retry_loop`) and what feeds their sleeps (`delay_facts`): whether
a random draw is involved (jitter), whether something unknown is, whether the delay grows
exponentially and whether `min(...)` caps it; see `pglint.kit.retries`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglint.kit.retries import (
    CLOCKS, RANDOM_PREFIXES, SLEEPS, TRANSPARENT, Scope, functions_by_name, inside, is_constant,
    is_zero, names_in, name_scope, owner, positional_args, scope_of, target_names, terminates,
    tree_cache,
)

_CONFIG_METHODS = frozenset({"get", "getint", "getfloat", "total_seconds"})


# --------------------------------------------------------------------------------------------
# Hand-written retry loops
# --------------------------------------------------------------------------------------------

@dataclass
class RetryLoop:
    loop: Any  # the For or While node
    scope: Any  # the enclosing function (or module)
    handlers: list[Any]  # except handlers that retry (do not end by raising/returning)
    sleeps: list[Any]  # the sleep calls of the loop, in file order
    forever: bool  # `while True`, `while 1`, `for ... in itertools.count()`
    counter: Any  # the loop variable of `for attempt in range(...)` / count(), else None
    owned: list[Any]  # every node that belongs to this loop (not to a nested loop or function)

    def header_end(self, tree: Any) -> int:
        """Where the loop's header ends (after its test or iterable), for findings."""
        cst = tree.cst
        head = self.loop.test if isinstance(self.loop, cst.While) else self.loop.iter
        return tree.span(head)[1]


def sleep_calls(tree: Any, nodes: list[Any]) -> list[Any]:
    cst = tree.cst
    return [n for n in nodes if isinstance(n, cst.Call) and tree.call_name(n) in SLEEPS]


def retry_loop(tree: Any, node: Any) -> RetryLoop | None:
    """The retry loop `node` (a For or While) is, or None."""
    cache = tree_cache(tree)
    key = id(node)
    if key in cache.loops:
        return cache.loops[key]
    cache.loops[key] = found = _retry_loop(tree, node)
    return found


def _retry_loop(tree: Any, node: Any) -> RetryLoop | None:
    cst = tree.cst
    forever, counter = False, None
    if isinstance(node, cst.For):
        iterable = node.iter
        if isinstance(iterable, cst.Call):
            name = tree.call_name(iterable)
            if name not in ("range", "itertools.count"):
                return None
            forever = name == "itertools.count"
            counter = node.target if isinstance(node.target, cst.Name) else None
        elif isinstance(iterable, (cst.List, cst.Tuple)):
            # A delay schedule: `for delay in (0.1, 0.5, 2):`.
            if not iterable.elements or not all(is_constant(tree, e.value)
                                                for e in iterable.elements):
                return None
        else:
            return None
    elif isinstance(node, cst.While):
        test = node.test
        forever = (isinstance(test, cst.Name) and test.value == "True") or (
            isinstance(test, cst.Integer) and int(test.value, 0) != 0)
    else:
        return None
    owned = [d for d in tree.descendants(node.body) if owner(tree, d) is node]
    tries = [d for d in owned if isinstance(d, (cst.Try, cst.TryStar))]
    if not tries:
        return None
    sleeps = sleep_calls(tree, owned)
    if not sleeps:
        return None
    handlers, retrying_tries = [], []
    for attempt in tries:
        retrying = [h for h in attempt.handlers if not terminates(tree, h.body)]
        if retrying:
            handlers.extend(retrying)
            retrying_tries.append(attempt)
    if not handlers:
        return None
    # The sleep happens on the failure path: not inside the `try` body that is retried.
    sleeps = [s for s in sleeps if not any(inside(tree, s, t.body) for t in retrying_tries)]
    if not sleeps:
        return None
    if not _leaves_on_success(tree, node, owned):
        return None
    return RetryLoop(node, scope_of(tree, node), handlers, sleeps, forever, counter, owned)


def _leaves_on_success(tree: Any, loop: Any, owned: list[Any]) -> bool:
    """An unconditional `return`/`break` on the success path (in the `try` body, its `else`, or
    after it): a loop that leaves only when some condition holds (`if not data: break`) reads
    or polls, it does not retry."""
    cst = tree.cst
    for item in owned:
        if isinstance(item, (cst.Return, cst.Break)) and _unconditional(tree, item, loop):
            return True
    if isinstance(loop, cst.While):
        # `while not done:` with `done = True` after the call.
        tested = {n.value for n in names_in(tree, loop.test)}
        for item in owned:
            if isinstance(item, (cst.Assign, cst.AugAssign)) and _unconditional(tree, item, loop):
                targets = item.targets if isinstance(item, cst.Assign) else [item]
                for target in targets:
                    if set(target_names(tree, target.target)) & tested:
                        return True
    return False


def _unconditional(tree: Any, node: Any, loop: Any) -> bool:
    """Reached whenever the loop's body runs without an error: no `if`, nested loop or except
    handler between the node and the loop."""
    cst = tree.cst
    branches = (cst.If, cst.For, cst.While, cst.ExceptHandler, cst.ExceptStarHandler,
                getattr(cst, "Match", cst.If))
    for ancestor in tree.ancestors(node):
        if ancestor is loop:
            return True
        if isinstance(ancestor, branches):
            return False
    return False


def bound_check(tree: Any, found: RetryLoop) -> Any:
    """The `if`/`assert` that stops a forever loop: it compares an attempt counter (a name
    incremented in the loop) or a clock reading (`time.monotonic()`, directly or through a
    variable) and raises, returns or breaks. None if there is none."""
    cst = tree.cst
    counters = set()
    for item in tree.descendants(found.loop.body):
        if isinstance(item, cst.AugAssign) and isinstance(item.operator, (
                cst.AddAssign, cst.SubtractAssign)):
            counters.add(tree.code(item.target).strip())
        elif isinstance(item, cst.Assign) and isinstance(item.value, cst.BinaryOperation) and \
                isinstance(item.value.operator, cst.Add):
            for target in item.targets:
                code = tree.code(target.target).strip()
                if code in {tree.code(item.value.left).strip(),
                            tree.code(item.value.right).strip()}:
                    counters.add(code)
    if found.counter is not None:
        counters.add(found.counter.value)
    scope = name_scope(tree, found.scope)
    for item in found.owned:
        if isinstance(item, cst.If):
            test, body = item.test, item.body
        elif isinstance(item, cst.Assert):
            test, body = item.test, None
        else:
            continue
        comparisons = [c for c in [test, *tree.descendants(test)]
                       if isinstance(c, cst.Comparison) and any(
                           not isinstance(t.operator, (cst.In, cst.NotIn, cst.Is, cst.IsNot))
                           for t in c.comparisons)]
        if not comparisons:
            continue
        if body is not None and not any(
                isinstance(s, (cst.Raise, cst.Return, cst.Break))
                for s in tree.descendants(body)):
            continue
        for comparison in comparisons:
            parts = [comparison, *tree.descendants(comparison)]
            if any(tree.code(p).strip() in counters for p in parts
                   if isinstance(p, (cst.Name, cst.Attribute))):
                return item
            if _reads_clock(tree, parts, scope, depth=2):
                return item
    return None


def _reads_clock(tree: Any, parts: list[Any], scope: Scope, depth: int) -> bool:
    cst = tree.cst
    for part in parts:
        if isinstance(part, cst.Call):
            name = tree.call_name(part) or ""
            if name in CLOCKS or name == "loop.time" or name.endswith("loop().time"):
                return True  # also asyncio's loop.time()
        elif isinstance(part, cst.Name) and depth > 0:
            for value in scope.values.get(part.value, ()):
                if _reads_clock(tree, [value, *tree.descendants(value)], scope, depth - 1):
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
    # expression -> (the expression that reads it through a name, that Name node)
    via: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    roots: dict[int, Any] = field(default_factory=dict)  # node id -> the expression it is in


def sleep_argument(call: Any) -> Any:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        if arg.keyword is not None and arg.keyword.value in ("secs", "seconds", "delay"):
            return arg.value
    return None


def delay_facts(tree: Any, sleep: Any, loop: RetryLoop | None = None) -> Delay:
    cache = tree_cache(tree)
    facts = cache.delays.get(id(sleep))
    if facts is None:
        facts = cache.delays[id(sleep)] = _delay_facts(tree, sleep, loop)
    return facts


def _delay_facts(tree: Any, sleep: Any, loop: RetryLoop | None) -> Delay:
    cst = tree.cst
    argument = sleep_argument(sleep)
    facts = Delay(argument)
    if argument is None:
        return facts
    if is_zero(tree, argument):
        facts.argument = None  # `sleep(0)` yields to other tasks; it is no backoff
        return facts
    start_scope = scope_of(tree, sleep)
    module_scope = name_scope(tree, tree.module)
    varying = _varying_names(tree, loop)
    work: list[tuple[Any, Scope]] = [(argument, name_scope(tree, start_scope))]
    seen_names: set[tuple[int, str]] = set()
    seen_functions: set[int] = set()
    while work:
        expr, scope = work.pop()
        parts = [expr, *tree.descendants(expr)]
        for part in parts:
            facts.roots[id(part)] = expr
        for part in parts:
            if isinstance(part, cst.Call):
                _judge_call(tree, part, facts, work, seen_functions)
            elif isinstance(part, cst.BinaryOperation) and isinstance(
                    part.operator, (cst.Power, cst.LeftShift)) and not is_constant(
                        tree, part.right) and _varies(tree, part.right, scope, start_scope,
                                                      varying):
                facts.growth.append(part)
        for name in names_in(tree, expr):
            key = (id(scope.node), name.value)
            if key in seen_names:
                continue
            seen_names.add(key)
            if name.value in scope.values:
                target_scope = scope
            elif name.value in scope.params:
                continue
            elif name.value in module_scope.values:
                target_scope = module_scope
            else:
                continue
            for value in target_scope.values[name.value]:
                facts.via.setdefault(id(value), (expr, name))
                work.append((value, target_scope))
            for statement in target_scope.growth.get(name.value, ()):
                if loop is None or inside(tree, statement, loop.loop):
                    facts.growth.append(statement)
            if _clamped(tree, name.value, target_scope):
                facts.capped = True
    return facts


def _judge_call(tree: Any, call: Any, facts: Delay, work: list[tuple[Any, Scope]],
                seen_functions: set[int]) -> None:
    cst = tree.cst
    name = tree.call_name(call)
    if name is None:
        # A computed callee: `secrets.SystemRandom().uniform(...)`, `rng().x()`; the inner
        # call is judged on its own.
        if not isinstance(call.func, cst.Attribute) or not isinstance(call.func.value, cst.Call):
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
            if name == "math.exp" or (len(args) >= 2 and not is_constant(tree, args[1].value)):
                facts.growth.append(call)
        return
    head = name.split(".")[0]
    function = None
    if "." not in name:
        function = functions_by_name(tree).get(name)
    elif head in ("self", "cls") and name.count(".") == 1:
        function = functions_by_name(tree).get(name.split(".")[1])
    if function is not None:
        if id(function) in seen_functions:
            return
        seen_functions.add(id(function))
        body_scope = name_scope(tree, function)
        for item in tree.descendants(function):
            if isinstance(item, cst.Return) and item.value is not None:
                work.append((item.value, body_scope))
            elif isinstance(item, cst.Call) and (tree.call_name(item) or "").startswith(
                    RANDOM_PREFIXES):
                facts.jitter = True
        return
    last = name.rsplit(".", 1)[-1]
    if last in _CONFIG_METHODS:
        return  # settings.get("RETRY_DELAY", 1.0), a timedelta's total_seconds()
    facts.unknown = True


def _varying_names(tree: Any, loop: RetryLoop | None) -> set[str]:
    """Names whose value changes from one attempt to the next."""
    if loop is None:
        return set()
    cst = tree.cst
    names: set[str] = set()
    if isinstance(loop.loop, cst.For):
        names.update(target_names(tree, loop.loop.target))
    for item in tree.descendants(loop.loop.body):
        if isinstance(item, cst.Assign):
            for target in item.targets:
                names.update(target_names(tree, target.target))
        elif isinstance(item, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr)):
            names.update(target_names(tree, item.target))
    return names


def _varies(tree: Any, exponent: Any, scope: Scope, start_scope: Any,
            varying: set[str]) -> bool:
    if scope.node is not start_scope:
        return True  # a helper's `2 ** n`: n is what the caller passes (the attempt)
    return any(n.value in varying for n in names_in(tree, exponent)) or not varying


def _clamped(tree: Any, name: str, scope: Scope) -> bool:
    """`if delay > cap: delay = cap`: a comparison of the name guarding an assignment to it."""
    cst = tree.cst
    for item in scope.items:
        if not isinstance(item, cst.If):
            continue
        tested = {n.value for n in names_in(tree, item.test)}
        if name not in tested or not any(isinstance(c, cst.Comparison)
                                         for c in [item.test, *tree.descendants(item.test)]):
            continue
        for inner in tree.descendants(item.body):
            if isinstance(inner, (cst.Assign, cst.AugAssign)):
                targets = inner.targets if isinstance(inner, cst.Assign) else [inner]
                if any(name in target_names(tree, t.target) for t in targets):
                    return True
    return False


def growth_in_seconds(tree: Any, facts: Delay, growth: Any) -> Any:
    """The product around an exponential term (`base * 2 ** attempt`, `(2 ** n) * 0.1`) when
    what it computes reaches the sleep as seconds: only through `+`/`-`, `min`/`max`/`float`/
    `round` and random draws such as `uniform(0, d)`. None if it is scaled or used otherwise on
    the way (`delay_ms / 1000`), where a cap in seconds would be wrong."""
    cst = tree.cst
    if not isinstance(growth, cst.BinaryOperation):
        return None
    product = growth
    parent = tree.parent(product)
    while isinstance(parent, cst.BinaryOperation) and isinstance(
            parent.operator, (cst.Multiply, cst.Divide)):
        product = parent
        parent = tree.parent(product)
    root = facts.roots.get(id(product))
    if root is None or not _keeps_seconds(tree, product, root):
        return None
    for _ in range(8):
        if root is facts.argument:
            return product
        link = facts.via.get(id(root))
        if link is None:
            return None
        reader, name = link
        if not _keeps_seconds(tree, name, reader):
            return None
        root = reader
    return None


def _keeps_seconds(tree: Any, node: Any, root: Any) -> bool:
    cst = tree.cst
    current = node
    while current is not root:
        parent = tree.parent(current)
        if parent is None:
            return False
        if isinstance(parent, cst.BinaryOperation):
            if not isinstance(parent.operator, (cst.Add, cst.Subtract)):
                return False
        elif isinstance(parent, cst.Arg):
            call = tree.parent(parent)
            name = tree.call_name(call) if isinstance(call, cst.Call) else None
            uniform = isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                and call.func.attr.value == "uniform"
            if not (uniform or name in ("min", "max", "float", "round")):
                return False
        elif not isinstance(parent, cst.Call):
            return False
        current = parent
    return True
