"""Retries in Python code, as the retry rules (PGL207, PGL208, PGL209) see them.

Three shapes of retry:

- a hand-written retry loop (`retry_loop`): a `for attempt in range(n)`, `for delay in (1, 2,
  4)`, `for attempt in itertools.count()` or `while` loop around a `try`/`except` whose handler
  does not end by raising, returning or breaking (it retries), that sleeps (`time.sleep`,
  `await asyncio.sleep`, trio/anyio/gevent) outside the `try` body, and that leaves the loop on
  success (a `return`/`break` outside the handlers, or a `while` condition the code after the
  call changes). A worker loop that never leaves is not a retry;
- tenacity (`tenacity_use`): `@retry`, `@retry(...)`, `Retrying(...)`, `AsyncRetrying(...)`,
  however tenacity was imported (`import tenacity`, `from tenacity import retry`, aliases);
- backoff (`backoff_use`): `@backoff.on_exception(...)` and `@backoff.on_predicate(...)`.

What feeds a loop's sleep (`delay_facts`) is read from the expression and the assignments of the
names it uses, in the function and at module level, through local helper functions: whether a
random draw is involved (jitter), whether something unknown is (a method of an object, a helper
from another module: then nothing is claimed), whether the delay grows exponentially and whether
`min(...)` caps it. Everything here is cached per tree; libcst is reached through `tree.cst`, so
importing this module costs nothing for SQL-only runs.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator

SLEEPS = frozenset({"time.sleep", "asyncio.sleep", "trio.sleep", "anyio.sleep", "gevent.sleep",
                    "eventlet.sleep"})
# Calls whose result is random: any of these in a delay's inputs is jitter.
RANDOM_PREFIXES = ("random.", "secrets.", "numpy.random.")
# Calls that neither add nor hide randomness: their result follows from their arguments (or is
# configuration).
TRANSPARENT = frozenset({
    "min", "max", "float", "int", "round", "abs", "pow", "sum", "len", "divmod", "range",
    "enumerate", "str", "bool", "os.getenv", "os.environ.get", "datetime.timedelta",
    "itertools.count",
})
CLOCKS = frozenset({"time.monotonic", "time.time", "time.perf_counter", "time.monotonic_ns",
                    "time.time_ns", "datetime.datetime.now", "datetime.datetime.utcnow",
                    "datetime.now", "datetime.utcnow", "django.utils.timezone.now"})
_CONFIG_METHODS = frozenset({"get", "getint", "getfloat", "total_seconds"})

TENACITY_ENTRIES = frozenset({
    "tenacity.retry", "tenacity.Retrying", "tenacity.AsyncRetrying",
    "tenacity.asyncio.AsyncRetrying", "tenacity.TornadoRetrying",
    "tenacity.tornadoweb.TornadoRetrying",
})
BACKOFF_ENTRIES = frozenset({"backoff.on_exception", "backoff.on_predicate",
                             "backoff._decorator.on_exception", "backoff._decorator.on_predicate"})
# tenacity waits that draw at random, and those that do not.
JITTER_WAITS = frozenset({"wait_random", "wait_random_exponential", "wait_full_jitter",
                          "wait_exponential_jitter"})
FIXED_WAITS = frozenset({"wait_exponential", "wait_fixed", "wait_incrementing"})

# Exception classes that catch every database error (or every error), by qualified name or,
# for classes whose name says it, by their last part.
BROAD_BUILTINS = frozenset({"Exception", "BaseException"})
BROAD_QUALIFIED = frozenset({
    "psycopg.Error", "psycopg.errors.Error", "psycopg2.Error", "psycopg2.errors.Error",
    "django.db.Error", "django.db.utils.Error", "asyncpg.PostgresError",
    "asyncpg.exceptions.PostgresError", "asyncpg.exceptions._base.PostgresError",
})
BROAD_NAMES = frozenset({"DatabaseError", "DBAPIError", "SQLAlchemyError", "StatementError",
                         "PostgresError"})
# Drivers of other databases: their errors say nothing about PostgreSQL's SQLSTATEs.
OTHER_DATABASES = frozenset({"sqlite3", "aiosqlite", "pymysql", "MySQLdb", "mysql", "aiomysql",
                             "cx_Oracle", "oracledb", "pyodbc", "pymssql", "ibm_db"})
DB_LIBRARIES = ("psycopg2", "psycopg", "asyncpg", "sqlalchemy", "sqlmodel", "django")


# --------------------------------------------------------------------------------------------
# Small readers
# --------------------------------------------------------------------------------------------

def keyword_arg(call: Any, name: str) -> Any:
    """The `name=...` argument of a call, or None."""
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional_args(call: Any) -> list[Any]:
    return [a for a in call.args if a.keyword is None and not a.star]


def has_star(call: Any) -> bool:
    """`*args` or `**kwargs` among the arguments: what they hold cannot be seen."""
    return any(a.star for a in call.args)


def is_constant(tree: Any, node: Any) -> bool:
    cst = tree.cst
    if isinstance(node, cst.UnaryOperation):
        node = node.expression
    return isinstance(node, (cst.Integer, cst.Float))


def _is_zero(tree: Any, node: Any) -> bool:
    cst = tree.cst
    try:
        if isinstance(node, cst.Integer):
            return int(node.value, 0) == 0
        if isinstance(node, cst.Float):
            return float(node.value) == 0
    except ValueError:
        return False
    return False


def db_library(tree: Any) -> str | None:
    """The database library the file imports (psycopg, psycopg2, asyncpg, sqlalchemy, django),
    the first found in that order, or None."""
    heads = {full.split(".")[0] for full in tree.imports.values()}
    for library in DB_LIBRARIES:
        if library in heads:
            return "sqlalchemy" if library == "sqlmodel" else library
    return None


def names_in(tree: Any, node: Any) -> Iterator[Any]:
    """The Name nodes read in an expression (attribute names and keywords excluded)."""
    cst = tree.cst
    for name in [node, *tree.descendants(node)]:
        if isinstance(name, cst.Name) and tree.names_variable(name):
            yield name


def _terminates(tree: Any, body: Any) -> bool:
    """A block whose own statements include an unconditional raise/return/break."""
    cst = tree.cst
    statements = body.body
    if isinstance(body, cst.SimpleStatementSuite):
        return any(isinstance(s, (cst.Raise, cst.Return, cst.Break)) for s in statements)
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine) and any(
                isinstance(s, (cst.Raise, cst.Return, cst.Break)) for s in statement.body):
            return True
    return False


def inside(tree: Any, node: Any, container: Any) -> bool:
    return node is container or any(a is container for a in tree.ancestors(node))


# --------------------------------------------------------------------------------------------
# Per-tree caches
# --------------------------------------------------------------------------------------------

class _Cache:
    def __init__(self) -> None:
        self.loops: dict[int, RetryLoop | None] = {}
        self.scopes: dict[int, _Scope] = {}
        self.functions: dict[str, Any] | None = None
        self.delays: dict[int, Delay] = {}


_CACHES: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()


def _cache(tree: Any) -> _Cache:
    cache = _CACHES.get(tree)
    if cache is None:
        cache = _CACHES[tree] = _Cache()
    return cache


def owner(tree: Any, node: Any) -> Any:
    """The nearest loop, function, lambda, class or module around a node."""
    cst = tree.cst
    kinds = (cst.For, cst.While, cst.FunctionDef, cst.Lambda, cst.ClassDef, cst.Module)
    return next((a for a in tree.ancestors(node) if isinstance(a, kinds)), None)


def scope_of(tree: Any, node: Any) -> Any:
    """The function (or module) a node's names are resolved in."""
    cst = tree.cst
    return next((a for a in tree.ancestors(node)
                 if isinstance(a, (cst.FunctionDef, cst.Lambda, cst.Module))), tree.module)


@dataclass
class _Scope:
    """Where each name of a function (or the module) gets its value."""

    node: Any
    values: dict[str, list[Any]] = field(default_factory=dict)  # name -> value expressions
    growth: dict[str, list[Any]] = field(default_factory=dict)  # name -> `*=`/`<<=` statements
    params: set[str] = field(default_factory=set)
    items: list[Any] = field(default_factory=list)  # the nodes of the scope's own code


def _scope(tree: Any, node: Any) -> _Scope:
    cache = _cache(tree)
    scope = cache.scopes.get(id(node))
    if scope is not None:
        return scope
    cst = tree.cst
    scope = cache.scopes[id(node)] = _Scope(node)
    if isinstance(node, (cst.FunctionDef, cst.Lambda)):
        params = node.params
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            scope.params.add(param.name.value)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                scope.params.add(star.name.value)
    growing = (cst.MultiplyAssign, cst.PowerAssign, cst.LeftShiftAssign)
    definitions = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
    if isinstance(node, cst.Module):
        # Module-level code only: the bodies of its functions and classes are not walked.
        candidates = [d for statement in node.body if not isinstance(statement, definitions)
                      for d in [statement, *tree.descendants(statement)]]
    else:
        candidates = list(tree.descendants(node))
    for item in candidates:
        if isinstance(item, definitions) or scope_of(tree, item) is not node:
            continue
        scope.items.append(item)
        if isinstance(item, cst.Assign):
            for target in item.targets:
                for name in _target_names(tree, target.target):
                    scope.values.setdefault(name, []).append(item.value)
                    if _self_multiplied(tree, name, item.value):
                        scope.growth.setdefault(name, []).append(item)
        elif isinstance(item, cst.AnnAssign) and item.value is not None:
            for name in _target_names(tree, item.target):
                scope.values.setdefault(name, []).append(item.value)
        elif isinstance(item, cst.AugAssign) and isinstance(item.target, cst.Name):
            scope.values.setdefault(item.target.value, []).append(item.value)
            if isinstance(item.operator, growing):
                scope.growth.setdefault(item.target.value, []).append(item)
        elif isinstance(item, cst.NamedExpr) and isinstance(item.target, cst.Name):
            scope.values.setdefault(item.target.value, []).append(item.value)
        elif isinstance(item, cst.For):
            for name in _target_names(tree, item.target):
                scope.values.setdefault(name, []).append(item.iter)
    return scope


def _self_multiplied(tree: Any, name: str, value: Any) -> bool:
    """`delay = delay * 2` (or `2 * delay`, `delay * factor`)."""
    cst = tree.cst
    return isinstance(value, cst.BinaryOperation) and isinstance(
        value.operator, (cst.Multiply, cst.LeftShift)) and any(
            isinstance(side, cst.Name) and side.value == name
            for side in (value.left, value.right))


def _target_names(tree: Any, target: Any) -> list[str]:
    cst = tree.cst
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(tree, e.value)]
    return []


def _functions(tree: Any) -> dict[str, Any]:
    """Functions defined in the file by name (module level and methods alike)."""
    cache = _cache(tree)
    if cache.functions is None:
        cache.functions = {}
        for node in tree.nodes("FunctionDef"):
            cache.functions.setdefault(node.name.value, node)
    return cache.functions


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
    cache = _cache(tree)
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
        retrying = [h for h in attempt.handlers if not _terminates(tree, h.body)]
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
                    if set(_target_names(tree, target.target)) & tested:
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
    scope = _scope(tree, found.scope)
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


def _reads_clock(tree: Any, parts: list[Any], scope: _Scope, depth: int) -> bool:
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
    cache = _cache(tree)
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
    if _is_zero(tree, argument):
        facts.argument = None  # `sleep(0)` yields to other tasks; it is no backoff
        return facts
    start_scope = scope_of(tree, sleep)
    module_scope = _scope(tree, tree.module)
    varying = _varying_names(tree, loop)
    work: list[tuple[Any, _Scope]] = [(argument, _scope(tree, start_scope))]
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


def _judge_call(tree: Any, call: Any, facts: Delay, work: list[tuple[Any, _Scope]],
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
        function = _functions(tree).get(name)
    elif head in ("self", "cls") and name.count(".") == 1:
        function = _functions(tree).get(name.split(".")[1])
    if function is not None:
        if id(function) in seen_functions:
            return
        seen_functions.add(id(function))
        body_scope = _scope(tree, function)
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
        names.update(_target_names(tree, loop.loop.target))
    for item in tree.descendants(loop.loop.body):
        if isinstance(item, cst.Assign):
            for target in item.targets:
                names.update(_target_names(tree, target.target))
        elif isinstance(item, (cst.AugAssign, cst.AnnAssign, cst.NamedExpr)):
            names.update(_target_names(tree, item.target))
    return names


def _varies(tree: Any, exponent: Any, scope: _Scope, start_scope: Any,
            varying: set[str]) -> bool:
    if scope.node is not start_scope:
        return True  # a helper's `2 ** n`: n is what the caller passes (the attempt)
    return any(n.value in varying for n in names_in(tree, exponent)) or not varying


def _clamped(tree: Any, name: str, scope: _Scope) -> bool:
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
                if any(name in _target_names(tree, t.target) for t in targets):
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
    values = _scope(tree, tree.module).values.get(node.value, [])
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
                    reading.update(_target_names(tree, target.target))
    for item in tree.descendants(handler.body):
        if isinstance(item, cst.If) and reads(item.test) and any(
                isinstance(s, cst.Raise) for s in tree.descendants(item)):
            return True
    return False
