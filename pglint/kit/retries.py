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
`min(...)` caps it. Everything here reads CPython's tree of the file (`pglint.python.pyfile.
PythonFile`) and is cached per file; libcst is parsed only where a rule builds a fix.

This module holds the names, the small readers and the per-file scopes the shapes share; the
loops and their delays are in `retry_loops`, tenacity, backoff and exception classes in
`retry_libraries`, and the nodes a file's retries can start at (found once) in `retry_shapes`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from pglint.finding import Edit
from pglint.python.pyfile import PythonFile, children

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

def positional_args(call: ast.Call) -> list[ast.expr]:
    """The positional arguments that are not `*args` (those after a `*args` included)."""
    return [a for a in call.args if not isinstance(a, ast.Starred)]


def first_argument(call: ast.Call) -> ast.AST | None:
    """The first argument in the text (a value, a `Starred` or a `keyword`), or None."""
    found = [*call.args, *call.keywords]
    if not found:
        return None
    return min(found, key=lambda a: (a.lineno, a.col_offset))


def is_constant(node: ast.AST) -> bool:
    """An int or float literal, under at most one unary operator (`-1`, `+0.5`)."""
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def is_zero(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float) and \
        node.value == 0


def db_library(code: PythonFile) -> str | None:
    """The database library the file imports (psycopg, psycopg2, asyncpg, sqlalchemy, django),
    the first found in that order, or None."""
    heads = {full.split(".")[0] for full in code.import_names.values()}
    for library in DB_LIBRARIES:
        if library in heads:
            return "sqlalchemy" if library == "sqlmodel" else library
    return None


def name_of(node: ast.AST) -> str:
    """The variable a node of `names_in` names."""
    return node.id if isinstance(node, ast.Name) else node.arg  # type: ignore[attr-defined]


def names_in(node: ast.AST) -> Iterator[ast.AST]:
    """The variables read or bound in an expression, in file order: its Name nodes and the
    parameters of its lambdas (attribute names and keywords excluded)."""
    for part in [node, *PythonFile.descendants(node)]:
        if isinstance(part, (ast.Name, ast.arg)):
            yield part


def identifiers(node: ast.AST) -> Iterator[str]:
    """Every identifier written in an expression, attribute names and keywords included
    (`exc.sqlstate` gives `exc` and `sqlstate`)."""
    for part in [node, *PythonFile.descendants(node)]:
        yield from own_identifiers(part)


def own_identifiers(part: ast.AST) -> tuple[str, ...]:
    """The identifiers a node writes itself (not its children's)."""
    if isinstance(part, ast.Name):
        return (part.id,)
    if isinstance(part, ast.Attribute):
        return (part.attr,)
    if isinstance(part, ast.keyword):
        return (part.arg,) if part.arg is not None else ()
    if isinstance(part, ast.arg):
        return (part.arg,)
    return ()


def terminates(body: list[ast.stmt]) -> bool:
    """A block whose own statements include an unconditional raise/return/break."""
    return any(isinstance(s, (ast.Raise, ast.Return, ast.Break)) for s in body)


def inside(code: PythonFile, node: ast.AST, container: ast.AST) -> bool:
    return node is container or any(a is container for a in code.ancestors(node))


def inside_block(code: PythonFile, node: ast.AST, block: list[ast.stmt]) -> bool:
    """Whether a node is one of a block's statements or under one."""
    ids = {id(s) for s in block}
    return id(node) in ids or any(id(a) in ids for a in code.ancestors(node))


# --------------------------------------------------------------------------------------------
# Per-file caches
# --------------------------------------------------------------------------------------------

class TreeCache:
    def __init__(self) -> None:
        self.loops: dict[int, RetryLoop | None] = {}
        self.scopes: dict[int, Scope] = {}
        self.functions: dict[str, Any] | None = None
        self.delays: dict[int, Delay] = {}


def tree_cache(code: PythonFile) -> TreeCache:
    cache = code.derived.get("retries")
    if cache is None:
        cache = code.derived["retries"] = TreeCache()
    return cache


LOOPS = (ast.For, ast.AsyncFor, ast.While)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
# What owns the nodes under it: a retry loop's own code stops at nested loops and definitions.
_OWNERS = (*LOOPS, *FUNCTIONS, ast.Lambda, ast.ClassDef, ast.Module)
# Where names are resolved (a class body's names belong to the function or module around it).
_SCOPES = (*FUNCTIONS, ast.Lambda, ast.Module)


def owned(node: ast.AST) -> list[ast.AST]:
    """The nodes of a loop's body that belong to it, in file order: not those under a nested
    loop, function, lambda or class (those nodes themselves are the loop's)."""
    found: list[ast.AST] = []
    stack = list(reversed(node.body))  # type: ignore[attr-defined]
    while stack:
        current = stack.pop()
        found.append(current)
        if not isinstance(current, _OWNERS):
            stack.extend(reversed(children(current)))
    return found


def scope_of(code: PythonFile, node: ast.AST) -> ast.AST:
    """The function, lambda (or module) a node's names are resolved in."""
    return next((a for a in code.ancestors(node) if isinstance(a, _SCOPES)), code.module)


@dataclass
class Scope:
    """Where each name of a function (or the module) gets its value."""

    node: Any
    values: dict[str, list[Any]] = field(default_factory=dict)  # name -> value expressions
    growth: dict[str, list[Any]] = field(default_factory=dict)  # name -> `*=`/`<<=` statements
    params: set[str] = field(default_factory=set)
    items: list[Any] = field(default_factory=list)  # the nodes of the scope's own code


def _scope_items(node: ast.AST) -> list[ast.AST]:
    """The nodes whose names resolve in `node`'s scope, in file order: not those of nested
    functions and lambdas (nor, for the module, of its top-level definitions); a class's
    body belongs to the scope around it."""
    if isinstance(node, ast.Module):
        roots = [s for s in node.body if not isinstance(s, (*FUNCTIONS, ast.ClassDef))]
    else:
        roots = children(node)
    found: list[ast.AST] = []
    stack = list(reversed(roots))
    while stack:
        current = stack.pop()
        if isinstance(current, (*FUNCTIONS, ast.Lambda)):
            continue
        if not isinstance(current, ast.ClassDef):
            found.append(current)
        stack.extend(reversed(children(current)))
    return found


def name_scope(code: PythonFile, node: ast.AST) -> Scope:
    cache = tree_cache(code)
    scope = cache.scopes.get(id(node))
    if scope is not None:
        return scope
    scope = cache.scopes[id(node)] = Scope(node)
    if isinstance(node, (*FUNCTIONS, ast.Lambda)):
        params = node.args  # type: ignore[attr-defined]
        for param in (*params.posonlyargs, *params.args, *params.kwonlyargs):
            scope.params.add(param.arg)
        for star in (params.vararg, params.kwarg):
            if star is not None:
                scope.params.add(star.arg)
    growing = (ast.Mult, ast.Pow, ast.LShift)
    for item in _scope_items(node):
        scope.items.append(item)
        if isinstance(item, ast.Assign):
            for target in item.targets:
                for name in target_names(target):
                    scope.values.setdefault(name, []).append(item.value)
                    if _self_multiplied(name, item.value):
                        scope.growth.setdefault(name, []).append(item)
        elif isinstance(item, ast.AnnAssign) and item.value is not None:
            for name in target_names(item.target):
                scope.values.setdefault(name, []).append(item.value)
        elif isinstance(item, ast.AugAssign) and isinstance(item.target, ast.Name):
            scope.values.setdefault(item.target.id, []).append(item.value)
            if isinstance(item.op, growing):
                scope.growth.setdefault(item.target.id, []).append(item)
        elif isinstance(item, ast.NamedExpr) and isinstance(item.target, ast.Name):
            scope.values.setdefault(item.target.id, []).append(item.value)
        elif isinstance(item, (ast.For, ast.AsyncFor)):
            for name in target_names(item.target):
                scope.values.setdefault(name, []).append(item.iter)
    return scope


def _self_multiplied(name: str, value: ast.AST) -> bool:
    """`delay = delay * 2` (or `2 * delay`, `delay * factor`)."""
    return isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Mult, ast.LShift)) and any(
        isinstance(side, ast.Name) and side.id == name for side in (value.left, value.right))


def target_names(target: ast.AST) -> list[str]:
    """The names an assignment target binds (a starred element by its name)."""
    if isinstance(target, ast.Starred):
        target = target.value
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for e in target.elts for n in target_names(e)]
    return []


def local_function(code: PythonFile, call: ast.Call) -> Any:
    """The same file's function a call calls by name (`f(...)`, `self.f(...)`,
    `cls.f(...)`), or None."""
    func = call.func
    if isinstance(func, ast.Name):
        return functions_by_name(code).get(func.id)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
            func.value.id in ("self", "cls"):
        return functions_by_name(code).get(func.attr)
    return None


def functions_by_name(code: PythonFile) -> dict[str, Any]:
    """Functions defined in the file by name (module level and methods alike), the first in
    the file for a name defined twice."""
    cache = tree_cache(code)
    if cache.functions is None:
        cache.functions = {}
        found = sorted((*code.nodes(ast.FunctionDef), *code.nodes(ast.AsyncFunctionDef)),
                       key=lambda f: (f.lineno, f.col_offset))
        for node in found:
            cache.functions.setdefault(node.name, node)
    return cache.functions


def wrap(code: PythonFile, node: ast.AST, before: str, after: str = ")") -> Edit:
    """An edit that puts text around an expression, as written in the file."""
    start, end = code.span(node)
    return Edit(start, end, before + code.text[start:end] + after)


def written(code: PythonFile, node: ast.AST) -> str:
    """A node's code as written, with the parentheses around it that are its own (`(2 ** n)`
    in `(2 ** n) * 0.1`; not a call's): what messages quote."""
    text = code.text
    start, end = code.span(node)
    if isinstance(node, ast.Tuple):  # CPython's own position holds the tuple's parentheses
        start = min(start, code.offset(node.lineno, node.col_offset))
        end = max(end, code.offset(node.end_lineno, node.end_col_offset))  # type: ignore[arg-type]
    parent = code.parent(node)
    opening = -1  # the parenthesis of the call or class the node is an argument of
    if isinstance(parent, ast.Call) and node is not parent.func:
        opening = text.find("(", code.span(parent.func)[1])
    elif isinstance(parent, ast.ClassDef):
        return text[start:end]
    while True:
        before = start - 1
        while before >= 0 and text[before] in " \t\r\n":
            before -= 1
        after = end
        while after < len(text) and text[after] in " \t\r\n":
            after += 1
        if before < 0 or text[before] != "(" or after >= len(text) or text[after] != ")" \
                or before == opening:
            return text[start:end]
        start, end = before, after + 1
