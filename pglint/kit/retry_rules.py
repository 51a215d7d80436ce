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

# The nodes a retry starts at: loops, calls (tenacity, backoff) and, for a bare `@retry`,
# the definitions it decorates.
LOOPS_AND_CALLS: tuple[type, ...] = (*LOOPS, ast.Call)
WITH_DECORATORS: tuple[type, ...] = (*LOOPS_AND_CALLS, ast.FunctionDef, ast.AsyncFunctionDef,
                                     ast.ClassDef)


class RetryForms:
    """A mixin, listed before `Rule`: `check_python` hands a tenacity use to the rule's
    `_tenacity`, a backoff use to `_backoff` and a hand-written retry loop to `_loop`. A call or
    a decorator is read as a library use only, never as a loop."""

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        if isinstance(node, LOOPS):
            loop = retry_loop(code, node)
            if loop is not None:
                yield from self._loop(ctx, loop)
            return
        if not isinstance(node, ast.Call):  # a definition: its bare `@retry` decorators
            for decorator in bare_decorators(code, node):
                use = tenacity_use(code, decorator)
                if use is not None:
                    yield from self._tenacity(ctx, use)
            return
        use = tenacity_use(code, node)
        if use is not None:
            yield from self._tenacity(ctx, use)
            return
        backoff = backoff_use(code, node)
        if backoff is not None:
            yield from self._backoff(ctx, backoff)

    def _tenacity(self, ctx: FileContext, use: Tenacity) -> Iterable[Finding]:
        return ()

    def _backoff(self, ctx: FileContext, use: Backoff) -> Iterable[Finding]:
        return ()

    def _loop(self, ctx: FileContext, loop: RetryLoop) -> Iterable[Finding]:
        return ()
