"""What is in effect when a statement of a script runs: transaction block, SETs, new tables.

A script (a migration, a psql file) runs its statements in order on one session. Rules that
judge locks and timeouts need to know, for each statement, whether it runs inside an explicit
`BEGIN ... COMMIT`, which settings earlier `SET`s left in force, and which tables the same
script created (a brand-new table has no readers to block). Implicit transactions that migration
tools add around a whole file are not visible here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from pglint.sql import nodes as n
from pglint.sql.parse import Statement

# A driver's AUTOCOMMIT isolation level (`execution_options(isolation_level="AUTOCOMMIT")`,
# `create_engine(..., isolation_level="AUTOCOMMIT")`): what follows runs outside a transaction.
AUTOCOMMIT_LEVEL = re.compile(r"[\"']AUTOCOMMIT[\"']")
_BEGIN = {"TRANS_STMT_BEGIN", "TRANS_STMT_START"}
_END = {"TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK", "TRANS_STMT_PREPARE",
        "TRANS_STMT_COMMIT_PREPARED", "TRANS_STMT_ROLLBACK_PREPARED"}


@dataclass(frozen=True)
class SessionState:
    """The state in force just before a statement runs."""

    in_transaction: bool = False
    transaction_start: Statement | None = None  # the BEGIN of the open block
    # SET (session level) and SET LOCAL (this transaction only) values in force, by setting name.
    settings: Mapping[str, str] = field(default_factory=dict)
    local_settings: Mapping[str, str] = field(default_factory=dict)
    created_tables: frozenset[str] = frozenset()  # created earlier in the same script

    def setting(self, name: str) -> str | None:
        """The value of a setting as this statement sees it (SET LOCAL wins), if the script set it."""
        name = name.lower()
        if name in self.local_settings:
            return self.local_settings[name]
        return self.settings.get(name)


# `0`, '0', '0s', '0ms', '0.0 min': a timeout of zero is no timeout.
_ZERO = re.compile(r"\s*0+(?:\.0*)?\s*(?:us|ms|s|min|h|d)?\s*", re.IGNORECASE)


def is_zero(value: str | None) -> bool:
    """True for a timeout value that disables the timeout."""
    return value is not None and bool(_ZERO.fullmatch(str(value)))


def setting_value(args: list[dict[str, Any]] | None) -> str:
    """The value a SET gives, as written (`'5s'`, `4000`, `1.5`)."""
    values = []
    for arg in args or ():
        is_const, value = n.constant(arg)
        values.append(str(value) if is_const else n.sql_literal(arg))
    return ", ".join(values)


def session_states(statements: list[Statement]) -> list[SessionState]:
    """The state before each of the script's top-level statements, in order."""
    states: list[SessionState] = []
    in_tx = False
    begin: Statement | None = None
    settings: dict[str, str] = {}
    local: dict[str, str] = {}
    created: set[str] = set()
    for stmt in statements:
        states.append(SessionState(in_tx, begin, dict(settings), dict(local), frozenset(created)))
        body = stmt.body
        if stmt.kind == "TransactionStmt":
            kind = body.get("kind")
            if kind in _BEGIN:
                in_tx, begin = True, stmt
            elif kind in _END:
                in_tx, begin = False, None
                local.clear()
        elif stmt.kind == "VariableSetStmt":
            kind = body.get("kind")
            name = (body.get("name") or "").lower()
            target = local if body.get("is_local") else settings
            if kind == "VAR_SET_VALUE" and name:
                if body.get("is_local") and not in_tx:
                    continue  # SET LOCAL outside a transaction block has no effect
                target[name] = setting_value(body.get("args"))
                if not body.get("is_local"):
                    local.pop(name, None)
            elif kind in ("VAR_RESET", "VAR_SET_DEFAULT") and name:
                target.pop(name, None)
            elif kind == "VAR_RESET_ALL":
                settings.clear()
                local.clear()
        elif stmt.kind in ("CreateStmt", "CreateTableAsStmt"):
            relation = body.get("relation") or (body.get("into") or {}).get("rel")
            name = n.relation_name(relation)
            if name:
                created.add(name)
        elif stmt.kind == "RenameStmt" and body.get("renameType") == "OBJECT_TABLE":
            # A table made earlier in the script keeps being new under its next name.
            old = n.relation_name(body.get("relation"))
            if old in created and body.get("newname"):
                schema = old.rpartition(".")[0]
                created.add(f"{schema}.{body['newname']}" if schema else body["newname"])
    return states
