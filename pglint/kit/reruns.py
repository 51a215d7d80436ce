"""Whether a piece of Python code is run again after an attempt that may have committed: the
evidence PGL201 needs before it calls an insert "retried".

"A client could retry the request" holds for every line of every web application, so it is no
evidence. Code is: the insert sits in

- a hand-written retry loop around it (`pglint.kit.retry_loops.retry_loop`), or a
  `for attempt in tenacity.Retrying(...)` loop;
- a function decorated with tenacity's `@retry` or backoff's `@on_exception`/`@on_predicate`;
- a task that its queue runs again: a Celery task with `autoretry_for=`, with `acks_late=True`
  (redelivered when the worker dies after the commit), or one that calls `self.retry(...)`;
  a dramatiq actor (retried by default unless `max_retries=0`);
- a function of the same module that such a retried function or loop calls by name (one
  level: `helper(...)`, `self.helper(...)`).

Everything is read from the file's CPython tree and cached per file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from pglint.context import FileContext
from pglint.kit.retries import local_function
from pglint.kit.retry_celery import bound_receiver
from pglint.kit.retry_libraries import backoff_use, bare_decorators, tenacity_use
from pglint.kit.retry_loops import retry_loop
from pglint.python.pyfile import PythonFile, keyword, last_name
from pglint.sql.parse import Statement

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
# Decorators that make a function a queued task (their options say whether it is re-run).
_TASK_DECORATORS = frozenset({"task", "shared_task", "periodic_task"})
_DRAMATIQ = frozenset({"dramatiq.actor", "dramatiq.actors.actor"})


@dataclass
class Reruns:
    """The re-run regions of one file: nodes whose code runs again after a failed attempt."""

    regions: dict[int, str] = field(default_factory=dict)  # id(node) -> why it is re-run
    nodes: list[ast.AST] = field(default_factory=list)  # the region nodes themselves
    called: dict[str, str] = field(default_factory=dict)  # function name -> why (called there)


def rerun_reason(code: PythonFile, node: ast.AST) -> str | None:
    """Why `node` runs again after an attempt that may have committed, or None when the code
    shows no such mechanism."""
    found = _reruns(code)
    for ancestor in (node, *code.ancestors(node)):
        why = found.regions.get(id(ancestor))
        if why is not None:
            return why
    for ancestor in code.ancestors(node):
        if isinstance(ancestor, _FUNCTIONS):
            why = found.called.get(ancestor.name)
            if why is not None:
                return why
    return None


def _reruns(code: PythonFile) -> Reruns:
    found = code.derived.get("reruns")
    if found is not None:
        return found
    found = Reruns()
    for kind in _LOOPS:
        for loop in code.nodes(kind):
            why = _loop_reason(code, loop)
            if why is not None:
                found.regions[id(loop)] = why
                found.nodes.append(loop)
    for kind in _FUNCTIONS:
        for function in code.nodes(kind):
            why = _function_reason(code, function)
            if why is not None:
                found.regions[id(function)] = why
                found.nodes.append(function)
    # One level down: what a re-run region calls by name is re-run with it.
    for region in found.nodes:
        why = found.regions[id(region)]
        for inner in code.descendants(region):
            callee = local_function(code, inner) if isinstance(inner, ast.Call) else None
            if callee is not None:
                found.called.setdefault(callee.name, f"{why} (through `{callee.name}()`)")
    code.derived["reruns"] = found
    return found


def _loop_reason(code: PythonFile, loop: ast.AST) -> str | None:
    if retry_loop(code, loop) is not None:
        return "a retry loop"
    if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.iter, ast.Call):
        use = tenacity_use(code, loop.iter)
        if use is not None:
            return f"tenacity's `{use.entry}`"
    return None


def _function_reason(code: PythonFile, function: ast.FunctionDef | ast.AsyncFunctionDef
                     ) -> str | None:
    if bare_decorators(code, function):
        return "tenacity's `@retry`"
    for decorator in function.decorator_list:
        if not isinstance(decorator, ast.Call):
            if code.qualified(decorator) in _DRAMATIQ:
                return "a dramatiq actor (retried by default)"
            continue
        if tenacity_use(code, decorator) is not None:
            return "tenacity's `@retry`"
        if backoff_use(code, decorator) is not None:
            return "backoff's retry decorator"
        name = code.qualified(decorator.func) or ""
        if name in _DRAMATIQ:
            retries = keyword(decorator, "max_retries")
            if not (isinstance(retries, ast.Constant) and retries.value == 0):
                return "a dramatiq actor (retried by default)"
        elif last_name(decorator.func) in _TASK_DECORATORS:
            why = _task_reason(function, decorator)
            if why is not None:
                return why
    return None


def _task_reason(function: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.Call
                 ) -> str | None:
    """A queued task that its queue runs again: Celery's options, or `self.retry()` in a bound
    task's body."""
    if keyword(decorator, "autoretry_for") is not None:
        return "a task with `autoretry_for`"
    late = keyword(decorator, "acks_late")
    if isinstance(late, ast.Constant) and late.value is True:
        return "a task with `acks_late=True` (redelivered after a crash)"
    me = bound_receiver(function, decorator)
    if me is not None:
        for inner in ast.walk(function):
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and \
                    inner.func.attr == "retry" and isinstance(inner.func.value, ast.Name) and \
                    inner.func.value.id == me:
                return "a task that calls `self.retry()`"
    return None


def statement_rerun(ctx: FileContext, stmt: Statement) -> str | None:
    """Why a SQL statement is run again: only SQL that Python code executes can show it (the
    string it was parsed from sits in a re-run region). A query file or a function body does
    not show its callers."""
    code = ctx.python_file
    if ctx.kind != "python" or code is None:
        return None
    for string in code.nodes(ast.Constant):
        if isinstance(string.value, str):
            start, end = code.span(string)
            if start <= stmt.start < end:
                return rerun_reason(code, string)
    return None
