"""Whether a project's migrations are written to run against a live database.

A team whose migrations build indexes `CONCURRENTLY`, add constraints `NOT VALID` and validate
them later, or bound their lock waits with `lock_timeout`, runs its migrations while the
application serves: a lock there queues production queries. A project whose migrations never do
any of it migrates before it serves (at container start, in a maintenance window): the same lock
blocks nobody, and a reviewer of that project would not act on a lock finding. The statement
found is the evidence the lock rules cite (pglint.kit.locks.in_use).
"""

from __future__ import annotations

from typing import Any

from pglint.sql import nodes as n
from pglint.sql.session import is_zero, setting_value

# Settings whose non-zero value in a migration bounds what a lock can cost.
_BOUNDS = ("lock_timeout", "statement_timeout")


def online_change(kind: str, body: dict[str, Any]) -> str:
    """What a migration statement shows of migrating a live database (`CREATE INDEX
    CONCURRENTLY`, `NOT VALID`, `SET lock_timeout`), or "" when it shows nothing of it."""
    if kind == "IndexStmt" and body.get("concurrent"):
        return "CREATE INDEX CONCURRENTLY"
    if kind == "DropStmt" and body.get("concurrent"):
        return "DROP INDEX CONCURRENTLY"
    if kind == "ReindexStmt" and _concurrently(body):
        return "REINDEX CONCURRENTLY"
    if kind == "AlterTableStmt":
        for cmd in body.get("cmds") or ():
            at = cmd.get("AlterTableCmd") or {}
            subtype = at.get("subtype")
            if subtype == "AT_AddConstraint" and \
                    ((at.get("def") or {}).get("Constraint") or {}).get("skip_validation"):
                return "ADD CONSTRAINT ... NOT VALID"
            if subtype == "AT_ValidateConstraint":
                return "VALIDATE CONSTRAINT"
            if subtype == "AT_DetachPartition" and \
                    ((at.get("def") or {}).get("PartitionCmd") or {}).get("concurrent"):
                return "DETACH PARTITION CONCURRENTLY"
    if kind == "VariableSetStmt" and body.get("kind") == "VAR_SET_VALUE" and \
            (body.get("name") or "").lower() in _BOUNDS and \
            not is_zero(setting_value(body.get("args"))):
        return f"SET {body['name'].lower()}"
    return ""


def online_index_table(kind: str, body: dict[str, Any]) -> str | None:
    """The table a migration statement builds an index on without blocking its writes
    (`CREATE INDEX CONCURRENTLY`, `REINDEX TABLE CONCURRENTLY`), or None. A project that does
    so knows the table is too big for a plain build: the evidence of size that
    pglint.kit.locks.size_evidence cites."""
    if kind == "IndexStmt" and body.get("concurrent"):
        return n.relation_name(body.get("relation"))
    if kind == "ReindexStmt" and body.get("kind") == "REINDEX_OBJECT_TABLE" and \
            _concurrently(body):
        return n.relation_name(body.get("relation"))
    return None


def _concurrently(reindex: dict[str, Any]) -> bool:
    """Whether a REINDEX says `CONCURRENTLY` (an option in its parameter list)."""
    return any((p.get("DefElem") or {}).get("defname") == "concurrently"
               for p in reindex.get("params") or ())
