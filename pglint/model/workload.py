"""Workload facts: what the application's SQL does to each table at run time.

Facts come from application query files and from the bodies of functions (which run whenever
they are called), not from one-off migration DML.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pglint.model.location import Location
from pglint.sql import nodes as n


# Timestamp columns that are stamped over and over (heartbeats, touches, leases), as opposed to
# one-time event stamps such as shipped_at or paid_at. Not `updated_at`/`modified_at`: every
# edit stamps them, however rare the edit.
RECURRING_STAMP = re.compile(
    r"(?:^|_)(?:last|seen|heartbeat|ping|pinged|touched|refreshed|checked|"
    r"polled|renewed|active|activity|accessed|visited|synced|lease|expires?)(?:_|$)")


@dataclass(frozen=True)
class Write:
    table: str
    op: str  # insert | update | delete
    location: Location
    columns: frozenset[str] = frozenset()  # columns set by an UPDATE, or listed by an INSERT
    increments: frozenset[str] = frozenset()  # SET c = c + x
    timestamps: frozenset[str] = frozenset()  # SET c = now() on a column stamped again and again
    by_key: bool = False  # WHERE pins rows by equality
    literal_key: bool = False  # ... to literal values only


@dataclass
class Workload:
    writes: dict[str, list[Write]] = field(default_factory=lambda: defaultdict(list))

    def add(self, write: Write) -> None:
        self.writes[write.table].append(write)

    def of(self, table: str, op: str) -> list[Write]:
        return [w for w in self.writes.get(table, ()) if w.op == op]


def write_fact(kind: str, body: dict[str, Any], location: Location) -> Write | None:
    """The write an INSERT/UPDATE/DELETE statement makes (None for other statements)."""
    table = n.relation_name(body.get("relation"))
    if not table:
        return None
    if kind == "InsertStmt":
        cols = frozenset(t["ResTarget"].get("name", "") for t in body.get("cols", ())
                         if "ResTarget" in t)
        return Write(table, "insert", location, cols)
    if kind == "UpdateStmt":
        return update_fact(table, body, location)
    if kind == "DeleteStmt":
        key, literal = where_pins(body.get("whereClause"))
        return Write(table, "delete", location, by_key=key, literal_key=literal)
    return None


def update_fact(table: str, body: dict[str, Any], location: Location) -> Write:
    columns, increments, timestamps = set(), set(), set()
    for target in body.get("targetList", ()):
        res = target.get("ResTarget", {})
        col = res.get("name")
        if not col:
            continue
        columns.add(col)
        value = res.get("val") or {}
        if is_increment(col, value):
            increments.add(col)
        elif n.is_time_default(value) and RECURRING_STAMP.search(col.lower()):
            timestamps.add(col)
    key, literal = where_pins(body.get("whereClause"))
    return Write(table, "update", location, frozenset(columns), frozenset(increments),
                 frozenset(timestamps), key, literal)


def is_increment(column: str, value: dict[str, Any]) -> bool:
    """`column + x`, `x + column` or `column - x`."""
    expr = value.get("A_Expr")
    if not expr or expr.get("kind") != "AEXPR_OP" or n.operator(expr) not in ("+", "-"):
        return False
    left, right = n.column_ref(expr.get("lexpr")), n.column_ref(expr.get("rexpr"))
    other = expr.get("rexpr") if left == column else expr.get("lexpr")
    is_const, constant = n.constant(other)
    if is_const and not isinstance(constant, (int, float)) or n.is_cast_to_non_number(other):
        return False  # `data - 'key'` (jsonb), `tags || 'x'`, `at + interval '1 day'`
    return left == column or (n.operator(expr) == "+" and right == column)


def where_pins(where: dict[str, Any] | None) -> tuple[bool, bool]:
    """(by_key, literal_key): the WHERE is equalities only; and all compare with literals."""
    parts = n.conjuncts(where)
    if not parts:
        return False, False
    literal = True
    for part in parts:
        eq = n.equality(part)
        if eq is None:
            return False, False
        is_const, _ = n.constant(eq[1])
        literal = literal and is_const
    return True, literal


# Sent to another process as plain data (see catalog_codec.encode_ops): the Location as its (start,
# end) in the file the write is in, rebuilt by the receiver with `where(start, end)`.
_WRITE_FIELDS = ("table", "op", "location", "columns", "increments", "timestamps", "by_key",
                 "literal_key")
if Write.__match_args__ != _WRITE_FIELDS:  # the dataclass's fields, in order
    raise ImportError(f"write encoding out of date: {Write.__match_args__} != {_WRITE_FIELDS}")


def encode_write(w: Write) -> tuple:
    return (w.table, w.op, (w.location.start, w.location.end), w.columns, w.increments,
            w.timestamps, w.by_key, w.literal_key)


def decode_write(t: tuple, where) -> Write:
    return Write(t[0], t[1], where(*t[2]), t[3], t[4], t[5], t[6], t[7])
