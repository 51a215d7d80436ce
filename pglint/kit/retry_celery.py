"""Celery's retries, as the retry rules see them: a task's own `self.retry(countdown=...)` and
the `retry_backoff` options of `@app.task(...)` / `@shared_task(...)`; see
`pglint.kit.retries`.

Celery retries a task by re-queueing it: `self.retry(countdown=d)` runs it again `d` seconds
later, and `autoretry_for=(...)` with `retry_backoff=True` does so with an exponential delay
that Celery jitters unless `retry_jitter=False`. Tasks that fail together (a database
failover) are then re-run together.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from pglint.kit.retries import FUNCTIONS, RANDOM_PREFIXES, TRANSPARENT
from pglint.python.pyfile import PythonFile, keyword


def task_decorator(code: PythonFile, function: Any) -> ast.Call | None:
    """The `@<app>.task(...)` or `@shared_task(...)` call decorating a function, or None."""
    for decorator in getattr(function, "decorator_list", ()):
        if not isinstance(decorator, ast.Call):
            continue
        func = decorator.func
        if isinstance(func, ast.Attribute) and func.attr == "task":
            return decorator
        if (code.qualified(func) or "") in ("celery.shared_task", "shared_task"):
            return decorator
    return None


def jitter_switched_off(code: PythonFile, call: ast.Call) -> ast.keyword | None:
    """`retry_jitter=False` of a task decorator that backs off (`retry_backoff` set to
    something other than False or 0): without a backoff the switch changes nothing."""
    function = code.parent(call)
    if not isinstance(function, FUNCTIONS) or task_decorator(code, function) is not call:
        return None
    jitter = next((k for k in call.keywords if k.arg == "retry_jitter"), None)
    if jitter is None or not (isinstance(jitter.value, ast.Constant)
                              and jitter.value.value is False):
        return None
    backoff = keyword(call, "retry_backoff")
    if backoff is None or (isinstance(backoff, ast.Constant) and not backoff.value):
        return None
    return jitter


@dataclass
class TaskRetry:
    """`self.retry(..., countdown=<delay>)` in a bound Celery task."""

    call: ast.Call
    task: Any  # the task's function
    countdown: ast.expr


def task_retry(code: PythonFile, call: ast.Call) -> TaskRetry | None:
    """A bound task's `self.retry(countdown=...)` (the receiver is the task's first
    parameter, `bind=True`), or None."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "retry"
            and isinstance(func.value, ast.Name)):
        return None
    countdown = keyword(call, "countdown")
    if countdown is None:
        return None
    task = code.enclosing(call, *FUNCTIONS)
    decorator = task_decorator(code, task) if task is not None else None
    if decorator is None:
        return None
    if bound_receiver(task, decorator) != func.value.id:
        return None
    return TaskRetry(call, task, countdown)


def bound_receiver(function: Any, decorator: ast.Call) -> str | None:
    """The name under which a bound Celery task (`bind=True`) receives itself, its first
    parameter; None for an unbound task."""
    bound = keyword(decorator, "bind")
    params = function.args.posonlyargs + function.args.args
    if isinstance(bound, ast.Constant) and bound.value is True and params:
        return params[0].arg
    return None


def deterministic(code: PythonFile, task: Any, delay: ast.expr) -> bool:
    """The delay follows from constants and the task's retry count alone (`2 **
    self.request.retries`, `60`): no random draw, nothing this file cannot see into (a call
    other than `min`/`max`/..., a name assigned in the task)."""
    assigned = {target.id for node in ast.walk(task)
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)}
    params = [a.arg for a in (*task.args.posonlyargs, *task.args.args, *task.args.kwonlyargs)]
    assigned.update(params[1:])  # the caller's values are not known; the first is the task
    for node in ast.walk(delay):
        if isinstance(node, ast.Call):
            name = code.qualified(node.func) or ""
            if name.startswith(RANDOM_PREFIXES) or name not in TRANSPARENT:
                return False
        elif isinstance(node, ast.Name) and node.id in assigned:
            return False
    return True


def grows(delay: ast.expr) -> bool:
    """`2 ** n`, `1 << n` or `pow(...)` somewhere in the delay."""
    for node in ast.walk(delay):
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Pow, ast.LShift)):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "pow":
            return True
    return False
