"""Timeout settings as PostgreSQL reads them: a zero (in any unit) disables a timeout, and
`set_config(name, value, is_local)` sets one like `SET`; which value a migration's statement
runs with (settings_in_force); the `lock-timeout` option.

Not a rule (no Rule subclass): PGL301, PGL302, PGL303 and PGL308 import it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterator

from pglint.kit.locks import runner_wraps_file, runs_in_migration
from pglint.kit.orm_migrations import runner_setting
from pglint.rule import RuleOption, toml_value
from pglint.sql import nodes as n
from pglint.sql.session import is_zero, setting_value  # noqa: F401 - is_zero re-exported

if TYPE_CHECKING:
    from pglint.context import FileContext
    from pglint.sql.parse import Statement

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


# A PostgreSQL duration as a time setting accepts it: a number, then (optionally, after
# blanks) a unit, case-sensitive as PostgreSQL's; without a unit, milliseconds.
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|min|h|d)?\s*")
_MILLISECONDS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000,
                 "d": 86_400_000, None: 1}
_INT_MAX = 2_147_483_647  # PostgreSQL's timeouts are ints of milliseconds


def postgres_duration(key: str, value: Any) -> str:
    """A positive timeout PostgreSQL accepts (`5s`, `500ms`, `1min`), as written."""
    usage = (f"`{key}` must be a PostgreSQL duration such as \"5s\", \"500ms\" or \"1min\" (a "
             "positive number, then us, ms, s, min, h or d)")
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{usage}, not {toml_value(value)}")
    milliseconds = round(float(match.group(1)) * _MILLISECONDS[match.group(2)])
    if milliseconds < 1:
        raise ValueError(f"{usage}, not {toml_value(value)}: PostgreSQL rounds it to 0, "
                         "which disables the timeout")
    if milliseconds > _INT_MAX:
        raise ValueError(f"{usage}, not {toml_value(value)}: over PostgreSQL's maximum "
                         f"({_INT_MAX}ms, about 24 days)")
    return value


LOCK_TIMEOUT = RuleOption(
    "lock-timeout", str, "5s", check=postgres_duration,
    doc="the lock_timeout that fixes set before a statement that takes a strong lock, and "
        "that replaces a lock_timeout of 0: a PostgreSQL duration (500ms, 5s, 1min)")


def runner_transaction_only(ctx: "FileContext") -> bool:
    """Whether the file's runner wraps it in one transaction (runner_wraps_file) and the file
    has no transaction control of its own: then a top-level `SET LOCAL` lasts the whole file."""
    return runner_wraps_file(ctx) and \
        not any(s.kind == "TransactionStmt" for s in ctx.statements)


def settings_in_force(ctx: "FileContext", name: str
                      ) -> Iterator[tuple["Statement", str | None]]:
    """Each statement the migration runs (top level and in DO blocks; a function body runs
    later), in order, with the value of the setting `name` in force just before it, as
    written, or None when the file has not set it: `SET` and `SET LOCAL` (the session
    tracking of pglint.sql.session), a top-level `SET LOCAL` in a file its runner wraps in
    one transaction (runner_transaction_only), `set_config(name, value, is_local)` in a
    SELECT (a local one for the rest of its transaction block), and, to begin with, what an
    Alembic env.py SETs on the connection every revision runs on
    (pglint.kit.orm_migrations.runner_setting)."""
    name = name.lower()
    # set_config(name, v, false) in force; an Alembic env.py's SET to begin with.
    configured: str | None = runner_setting(ctx, name)
    local_configured: tuple["Statement | None", str] | None = None
    wrapped = runner_transaction_only(ctx)
    wrapped_local: str | None = None
    for stmt in ctx.all_statements():
        if not runs_in_migration(stmt):
            continue  # a function body runs later, not in this migration
        session = ctx.session(stmt)
        value = session.setting(name)
        if local_configured is not None and session.in_transaction and \
                local_configured[0] is session.transaction_start:
            value = local_configured[1]
        elif wrapped_local is not None:
            value = wrapped_local
        elif configured is not None and value is None:
            value = configured
        yield stmt, value
        # What the statement itself sets, for the statements after it.
        if stmt.kind == "SelectStmt" and "set_config" in ctx.statement_text(stmt).lower():
            for _, call in n.calls(stmt.node):
                found = set_config(call)
                if found is None or found[0] != name:
                    continue
                if not found[2]:
                    configured = found[1]
                elif session.in_transaction:
                    local_configured = (session.transaction_start, found[1])
        elif wrapped and stmt.kind == "VariableSetStmt" and stmt.parent is None and \
                stmt.body.get("is_local") and stmt.body.get("name") == name:
            wrapped_local = _set_value(stmt.body)


def _set_value(body: dict[str, Any]) -> str:
    """The value of `SET name = value` as written ('0' for DEFAULT: no timeout set)."""
    return setting_value(body.get("args")) if body.get("kind") == "VAR_SET_VALUE" else "0"
