"""What the retry rules (PGL207, PGL208, PGL209) share as rules: one way of sending the Python
nodes they are given to the retry shape each one starts."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding
from pglint.kit.retry_libraries import Backoff, Tenacity, backoff_use, tenacity_use
from pglint.kit.retry_loops import RetryLoop, retry_loop


class RetryForms:
    """A mixin, listed before `Rule`: `check_python` hands a tenacity use to the rule's
    `_tenacity`, a backoff use to `_backoff` and a hand-written retry loop to `_loop`. A call or
    a decorator is read as a library use only, never as a loop."""

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        tree = ctx.python
        if isinstance(node, (tree.cst.Call, tree.cst.Decorator)):
            use = tenacity_use(tree, node)
            if use is not None:
                yield from self._tenacity(ctx, use)
                return
            backoff = backoff_use(tree, node)
            if backoff is not None:
                yield from self._backoff(ctx, backoff)
            return
        loop = retry_loop(tree, node)
        if loop is not None:
            yield from self._loop(ctx, loop)

    def _tenacity(self, ctx: FileContext, use: Tenacity) -> Iterable[Finding]:
        return ()

    def _backoff(self, ctx: FileContext, use: Backoff) -> Iterable[Finding]:
        return ()

    def _loop(self, ctx: FileContext, loop: RetryLoop) -> Iterable[Finding]:
        return ()
