"""Timeout settings as PostgreSQL reads them: a zero (in any unit) disables a timeout, and
`set_config(name, value, is_local)` sets one like `SET`.

Not a rule (no Rule subclass): PGL301, PGL302 and PGL303 import it.
"""

from __future__ import annotations

import re
from typing import Any

from pglint.sql import nodes as n

# The timeouts that bound how long something may hold or wait for resources, with a bounded
# value to suggest and what running without them allows.
TIMEOUTS = {
    "statement_timeout": ("30s", "a runaway query or a lock wait can run for ever"),
    "lock_timeout": (None, "a lock wait can last for ever while later queries queue behind it"),
    "idle_in_transaction_session_timeout": (
        "60s", "a session idle in a transaction keeps its locks and snapshot for ever"),
    "transaction_timeout": ("5min", "a transaction can run for ever"),
    "idle_session_timeout": ("1h", "idle sessions are never closed"),
}

# `0`, '0', '0s', '0ms', '0.0 min': a timeout of zero is no timeout.
ZERO = re.compile(r"\s*0+(?:\.0*)?\s*(?:us|ms|s|min|h|d)?\s*", re.IGNORECASE)


def is_zero(value: str | None) -> bool:
    """True for a timeout value that disables the timeout."""
    return value is not None and bool(ZERO.fullmatch(str(value)))


def set_config(call: dict[str, Any]) -> tuple[str, str, bool] | None:
    """(setting, value, is_local) of a `set_config(...)` FuncCall whose setting and value are
    constants (is_local counts as false unless a constant says true), else None."""
    args = call.get("args") or []
    if n.func_name(call) != "set_config" or len(args) != 3:
        return None
    ok_name, name = n.constant(args[0])
    ok_value, value = n.constant(args[1])
    ok_local, local = n.constant(args[2])
    if not (ok_name and ok_value):
        return None
    return str(name).lower(), str(value), bool(local) if ok_local else False
