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

This module holds the names, the small readers and the per-tree scopes the shapes share; the
loops and their delays are in `retry_loops`, tenacity, backoff and exception classes in
`retry_libraries`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from pglint.kit.retry_loops import Delay, RetryLoop

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


def is_zero(tree: Any, node: Any) -> bool:
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


def terminates(tree: Any, body: Any) -> bool:
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

class TreeCache:
    def __init__(self) -> None:
        self.loops: dict[int, RetryLoop | None] = {}
        self.scopes: dict[int, Scope] = {}
        self.functions: dict[str, Any] | None = None
        self.delays: dict[int, Delay] = {}


_CACHES: weakref.WeakKeyDictionary[Any, TreeCache] = weakref.WeakKeyDictionary()


def tree_cache(tree: Any) -> TreeCache:
    cache = _CACHES.get(tree)
    if cache is None:
        cache = _CACHES[tree] = TreeCache()
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
class Scope:
    """Where each name of a function (or the module) gets its value."""

    node: Any
    values: dict[str, list[Any]] = field(default_factory=dict)  # name -> value expressions
    growth: dict[str, list[Any]] = field(default_factory=dict)  # name -> `*=`/`<<=` statements
    params: set[str] = field(default_factory=set)
    items: list[Any] = field(default_factory=list)  # the nodes of the scope's own code


def name_scope(tree: Any, node: Any) -> Scope:
    cache = tree_cache(tree)
    scope = cache.scopes.get(id(node))
    if scope is not None:
        return scope
    cst = tree.cst
    scope = cache.scopes[id(node)] = Scope(node)
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
                for name in target_names(tree, target.target):
                    scope.values.setdefault(name, []).append(item.value)
                    if _self_multiplied(tree, name, item.value):
                        scope.growth.setdefault(name, []).append(item)
        elif isinstance(item, cst.AnnAssign) and item.value is not None:
            for name in target_names(tree, item.target):
                scope.values.setdefault(name, []).append(item.value)
        elif isinstance(item, cst.AugAssign) and isinstance(item.target, cst.Name):
            scope.values.setdefault(item.target.value, []).append(item.value)
            if isinstance(item.operator, growing):
                scope.growth.setdefault(item.target.value, []).append(item)
        elif isinstance(item, cst.NamedExpr) and isinstance(item.target, cst.Name):
            scope.values.setdefault(item.target.value, []).append(item.value)
        elif isinstance(item, cst.For):
            for name in target_names(tree, item.target):
                scope.values.setdefault(name, []).append(item.iter)
    return scope


def _self_multiplied(tree: Any, name: str, value: Any) -> bool:
    """`delay = delay * 2` (or `2 * delay`, `delay * factor`)."""
    cst = tree.cst
    return isinstance(value, cst.BinaryOperation) and isinstance(
        value.operator, (cst.Multiply, cst.LeftShift)) and any(
            isinstance(side, cst.Name) and side.value == name
            for side in (value.left, value.right))


def target_names(tree: Any, target: Any) -> list[str]:
    cst = tree.cst
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in target_names(tree, e.value)]
    return []


def functions_by_name(tree: Any) -> dict[str, Any]:
    """Functions defined in the file by name (module level and methods alike)."""
    cache = tree_cache(tree)
    if cache.functions is None:
        cache.functions = {}
        for node in tree.nodes("FunctionDef"):
            cache.functions.setdefault(node.name.value, node)
    return cache.functions
