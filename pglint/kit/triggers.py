"""What runs inside a trigger: statements of a trigger function are not client requests."""

from __future__ import annotations

from pglint.sql import nodes as n
from pglint.sql.parse import Statement


def in_trigger_function(stmt: Statement) -> bool:
    """Whether `stmt` is in the body of a function that returns `trigger` (or
    `event_trigger`): it runs inside the transaction of the write that fired it, copying
    `NEW`/`OLD` values, so a client retry or a racing request never runs it on its own."""
    parent = stmt.parent
    if parent is None or parent.kind != "CreateFunctionStmt":
        return False
    return n.type_name(parent.body.get("returnType")) in ("trigger", "event_trigger")
