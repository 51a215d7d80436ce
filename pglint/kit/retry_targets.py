"""What a retry retries, for the retry rules that judge retries of database work (PGL207,
PGL208): whether the retried code reaches PostgreSQL, whether the retry runs inside a daemon's
own endless loop, and how many attempts it allows.

A PostgreSQL linter has nothing to say about retrying an HTTP call, a Redis subscription or a
consensus store: the herd and the endless retry it warns about are load on the database. So a
retry counts only when the file uses a PostgreSQL driver or ORM and the retried code calls it:
a cursor, connection or session method, a Django manager, or a function of the same file that
does.
"""

from __future__ import annotations

import ast
from typing import Any, Iterable

from pglint.kit.retries import FUNCTIONS, local_function
from pglint.kit.retry_libraries import exception_classes
from pglint.python.pyfile import PythonFile

# Packages through which Python code talks to PostgreSQL (`postgres` is postgres.py).
PG_PACKAGES = frozenset({"psycopg2", "psycopg", "asyncpg", "sqlalchemy", "sqlmodel", "django",
                         "postgres", "aiopg", "pg8000", "databases", "peewee", "tortoise",
                         "piccolo", "records"})
# Methods of connections, cursors, pools, sessions and querysets that send SQL.
DB_METHODS = frozenset({
    "execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchone", "fetchall",
    "fetchmany", "cursor", "commit", "rollback", "copy_expert", "copy_from", "copy_to",
    "copy_records_to_table", "run", "one", "all", "scalar", "scalars", "flush", "query",
    "transaction", "atomic", "select_for_update", "save", "bulk_create", "bulk_update",
    "get_or_create", "update_or_create", "acquire", "connect", "begin",
})
# A call of one of the file's functions is followed this many levels deep.
_DEPTH = 2


def uses_postgres(code: PythonFile) -> bool:
    """The file imports a PostgreSQL driver or ORM (anywhere in the file)."""
    return code.imports(PG_PACKAGES)


def reaches_database(code: PythonFile, nodes: Iterable[ast.AST]) -> bool:
    """Whether any call among `nodes` (and what is under them) sends SQL, directly or through
    a function defined in the same file (False when the file uses no PostgreSQL library); or
    the retried code returns what a function its caller passes in returns (`return func()` in
    `execute_with_retry(func)`): a
    generic retry helper, judged as written since its callers decide what it retries."""
    nodes = list(nodes)
    if _calls_parameter(code, nodes):
        return True
    if not uses_postgres(code):
        return False
    return _reaches(code, nodes, _DEPTH, set())


def _calls_parameter(code: PythonFile, nodes: list[ast.AST]) -> bool:
    """`return func(...)` (or `return await func(...)`) of a parameter `func`: the helper's
    result is the retried call's."""
    for root in nodes:
        for node in (root, *PythonFile.descendants(root)):
            if not isinstance(node, ast.Return):
                continue
            node = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                function = code.enclosing(node, *FUNCTIONS)
                if function is not None and node.func.id in _parameters(function):
                    return True
    return False


def _parameters(function: Any) -> set[str]:
    args = function.args
    return {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


def _reaches(code: PythonFile, nodes: list[ast.AST], depth: int, seen: set[int]) -> bool:
    for root in nodes:
        for node in (root, *PythonFile.descendants(root)):
            if not isinstance(node, ast.Call):
                continue
            verdict = _database_call(code, node)
            if verdict:
                return True
            if verdict is None and depth > 0:
                callee = local_function(code, node)
                if callee is not None and id(callee) not in seen:
                    seen.add(id(callee))
                    if _reaches(code, callee.body, depth - 1, seen):
                        return True
    return False


def _database_call(code: PythonFile, call: ast.Call) -> bool | None:
    """True: the call sends SQL; False: it resolves to another library; None: unknown (a call
    of a local name, worth following)."""
    name = code.qualified(call.func)
    head = name.split(".", 1)[0] if name else ""
    imported = head in code.import_names
    if imported:
        root = code.import_names[head].split(".", 1)[0]
        if root in PG_PACKAGES:
            return True
        if not isinstance(call.func, ast.Attribute) or name.count(".") <= 1:
            return False  # `requests.get(...)`, `subprocess.run(...)`
    if isinstance(call.func, ast.Attribute):
        if call.func.attr in DB_METHODS and not imported:
            return True
        # Django managers: `Model.objects.filter(...).update(...)`.
        if any(isinstance(part, ast.Attribute) and part.attr == "objects"
               for part in ast.walk(call.func)):
            return True
    return None


def other_errors_only(code: PythonFile, classes: ast.AST | None) -> bool:
    """The exception classes a retry catches (`except X`, `except (X, Y)`, a tuple) all come
    from a library that is not a PostgreSQL one (`redis.exceptions.LockError`,
    `smtplib.SMTPException`): the failure retried is not the database's. False for a bare
    `except`, builtins and the file's own classes (they may wrap database errors)."""
    if classes is None:
        return False
    found = exception_classes(code, classes)
    if not found:
        return False
    for node in found:
        name = code.qualified(node) or ""
        head = name.split(".", 1)[0]
        if head not in code.import_names:
            return False
        if code.import_names[head].split(".", 1)[0] in PG_PACKAGES:
            return False
    return True


def handler_of(code: PythonFile, node: ast.AST) -> ast.ExceptHandler | None:
    """The `except` handler a node runs in (within its function), or None."""
    for ancestor in code.ancestors(node):
        if isinstance(ancestor, ast.ExceptHandler):
            return ancestor
        if isinstance(ancestor, (*FUNCTIONS, ast.Lambda, ast.ClassDef)):
            return None
    return None


def retried_code(code: PythonFile, node: ast.AST) -> list[ast.AST]:
    """The code a tenacity or backoff use retries: the function it decorates, the body of the
    `for attempt in Retrying(...)` loop it drives, else the function (or module) around it."""
    parent = code.parent(node)
    if isinstance(parent, (*FUNCTIONS, ast.ClassDef)) and \
            any(d is node for d in parent.decorator_list):
        return list(parent.body)
    if isinstance(parent, (ast.For, ast.AsyncFor)) and parent.iter is node:
        return list(parent.body)
    around = code.enclosing(node, *FUNCTIONS)
    return list(around.body) if around is not None else list(code.module.body)


def in_daemon_loop(code: PythonFile, loop: ast.AST) -> bool:
    """The retry loop sits inside another endless loop of the same function (`while True:`
    around it): a daemon's own loop, one per process, where waiting is the intent and a bound
    that raises would end the daemon."""
    for ancestor in code.ancestors(loop):
        if isinstance(ancestor, (*FUNCTIONS, ast.Lambda, ast.ClassDef)):
            return False
        if isinstance(ancestor, ast.While) and isinstance(ancestor.test, ast.Constant) and \
                bool(ancestor.test.value):
            return True
    return False


# At most this many attempts: a few callers' retries cannot form a herd.
FEW_ATTEMPTS = 3


def few_loop_attempts(code: PythonFile, loop: ast.AST) -> bool:
    """`for attempt in range(n)` (or over a literal list of delays) with n <= FEW_ATTEMPTS."""
    if not isinstance(loop, (ast.For, ast.AsyncFor)):
        return False
    iterable = loop.iter
    if isinstance(iterable, (ast.List, ast.Tuple)):
        return len(iterable.elts) <= FEW_ATTEMPTS
    if isinstance(iterable, ast.Call) and code.qualified(iterable.func) == "range" and \
            len(iterable.args) == 1:
        bound = iterable.args[0]
        return isinstance(bound, ast.Constant) and type(bound.value) is int and \
            bound.value <= FEW_ATTEMPTS
    return False


def few_tenacity_attempts(code: PythonFile, stop: ast.AST | None) -> bool:
    """`stop=stop_after_attempt(n)` with n <= FEW_ATTEMPTS (alone or in a `|` of stops)."""
    parts = [stop] if stop is not None else []
    while parts:
        part = parts.pop()
        if isinstance(part, ast.BinOp) and isinstance(part.op, ast.BitOr):
            parts.extend((part.left, part.right))
            continue
        if isinstance(part, ast.Call) and (code.qualified(part.func) or "").endswith(
                "stop_after_attempt") and part.args:
            bound = part.args[0]
            if isinstance(bound, ast.Constant) and type(bound.value) is int and \
                    bound.value <= FEW_ATTEMPTS:
                return True
    return False
