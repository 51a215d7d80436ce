"""Interrupts (Ctrl-C, `kill`, a closed terminal) end a run cleanly: the temporary file of a
fix being written is removed, and pglint exits 128 + the signal's number, as a shell reports
a process killed by it.

Python turns SIGINT into KeyboardInterrupt only; SIGTERM and SIGHUP would end the process
at once, leaving a half-done temporary file behind. Here all three raise `Interrupted`, a
BaseException (no `except Exception` swallows it), so that every `finally` on the way out
runs.
"""

from __future__ import annotations

import signal
import sys
from typing import Callable

import click

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))


class Interrupted(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise(signum: int, _frame) -> None:
    raise Interrupted(signum)


def interruptible(run: Callable[[], int]) -> int:
    """`run()`'s exit code, or 128 + the signal's number when a signal ends it first."""
    try:
        previous = {s: signal.signal(s, _raise) for s in SIGNALS}
    except ValueError:  # not the main thread: leave the signals as they are
        previous = {}
    try:
        return run()
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        click.echo(f"pglint: interrupted ({name})", err=True)
        return 128 + exc.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class held:
    """Signals held back for a moment (`with held():`): one that arrives meanwhile is
    delivered at `release()` or at the end, where the caller knows what to clean up."""

    def __init__(self) -> None:
        self.mask: set | None = None

    def __enter__(self) -> "held":
        if hasattr(signal, "pthread_sigmask") and sys.platform != "win32":
            self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        return self

    def release(self) -> None:
        if self.mask is not None:
            mask, self.mask = self.mask, None
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)

    def __exit__(self, *_exc) -> None:
        self.release()
