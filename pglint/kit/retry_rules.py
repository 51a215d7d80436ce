"""What the retry rules (PGL207, PGL208, PGL209) share as rules: one way of sending the Python
nodes they are given (CPython's tree) to the retry shape each one starts."""

from __future__ import annotations

import ast
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding
from pglint.kit.retries import LOOPS
from pglint.kit.retry_libraries import (
    Backoff, Tenacity, backoff_use, bare_decorators, tenacity_use,
)
from pglint.kit.retry_loops import RetryLoop, retry_loop
from pglint.kit.retry_targets import (
    in_daemon_loop, other_errors_only, reaches_database, retried_code,
)

# The nodes a retry starts at: loops, calls (tenacity, backoff) and, for a bare `@retry`,
# the definitions it decorates.
LOOPS_AND_CALLS: tuple[type, ...] = (*LOOPS, ast.Call)
WITH_DECORATORS: tuple[type, ...] = (*LOOPS_AND_CALLS, ast.FunctionDef, ast.AsyncFunctionDef,
                                     ast.ClassDef)


class RetryForms:
    """A mixin, listed before `Rule`: `check_python` hands a tenacity use to the rule's
    `_tenacity`, a backoff use to `_backoff` and a hand-written retry loop to `_loop`. A call or
    a decorator is read as a library use only, never as a loop.

    A rule that sets `database_only` judges only retries of database work: the retried code
    reaches PostgreSQL (`pglint.kit.retry_targets`), and a retry loop inside a daemon's own
    endless loop is left alone (one per process; waiting there is the intent)."""

    database_only = False

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        if isinstance(node, LOOPS):
            loop = retry_loop(code, node)
            if loop is not None and self._judged(code, node, loop.owned) and not (
                    self.database_only and all(other_errors_only(code, handler.type)
                                               for handler in loop.handlers)):
                yield from self._loop(ctx, loop)
            return
        if not isinstance(node, ast.Call):  # a definition: its bare `@retry` decorators
            for decorator in bare_decorators(code, node):
                use = tenacity_use(code, decorator)
                if use is not None and self._judged(code, None, retried_code(code, decorator)):
                    yield from self._tenacity(ctx, use)
            return
        use = tenacity_use(code, node)
        if use is not None:
            if self._judged(code, None, retried_code(code, node)):
                yield from self._tenacity(ctx, use)
            return
        backoff = backoff_use(code, node)
        if backoff is not None and self._judged(code, None, retried_code(code, node)):
            yield from self._backoff(ctx, backoff)

    def _judged(self, code: Any, loop: Any, retried: list[Any]) -> bool:
        """Whether this rule judges the retry (always, unless `database_only`)."""
        if not self.database_only:
            return True
        if loop is not None and in_daemon_loop(code, loop):
            return False
        return reaches_database(code, retried)

    def _tenacity(self, ctx: FileContext, use: Tenacity) -> Iterable[Finding]:
        return ()

    def _backoff(self, ctx: FileContext, use: Backoff) -> Iterable[Finding]:
        return ()

    def _loop(self, ctx: FileContext, loop: RetryLoop) -> Iterable[Finding]:
        return ()
