"""Catalog operations as plain tuples, strings and numbers, for sending to another process.

Worker processes exchange the operations of the files they parsed (see pglint.parallel). As
plain tuples, strings and numbers they cost a fraction of pickling the objects. A Location
travels as its (start, end) in the file whose operations these are: the receiver has that
file's text and rebuilds it with `where`, so no line is computed that no message reads.
The encoders name every field, in order: a field added to a class in `pglint.model.catalog`
must be added here too (the check below fails the import of this module until it is).
"""

from __future__ import annotations

from typing import Callable

from pglint.model.catalog import Column, ForeignKey, Index, Sequence, Table
from pglint.model.location import Location


def _span(loc: Location | None) -> tuple[int, int] | None:
    return (loc.start, loc.end) if loc is not None else None


def _at(span: tuple[int, int] | None, where: Callable[[int, int], Location]) -> Location | None:
    return where(span[0], span[1]) if span is not None else None


def _encode_column(c: Column) -> tuple:
    return (c.name, c.type, c.default, c.not_null, _span(c.location), c.default_sql,
            c.type_sql, c.type_changes)


def _decode_column(t: tuple, where) -> Column:
    return Column(t[0], t[1], t[2], t[3], _at(t[4], where), t[5], t[6], tuple(t[7]))


def _encode_index(i: Index) -> tuple:
    return (i.name, i.table, i.columns, i.method, i.unique, i.primary, i.partial,
            _span(i.location), i.constraint, i.reads, i.origin, i.predicate)


def _decode_index(t: tuple, where) -> Index:
    return Index(t[0], t[1], t[2], t[3], t[4], t[5], t[6], _at(t[7], where), t[8], t[9], t[10],
                 t[11])


def _encode_sequence(s: Sequence) -> tuple:
    return (s.name, s.cache, s.owned_by, _span(s.location), s.origin)


def _decode_sequence(t: tuple, where) -> Sequence:
    return Sequence(t[0], t[1], t[2], _at(t[3], where), t[4])


def _encode_foreign_key(f: ForeignKey) -> tuple:
    return (f.table, f.columns, f.ref_table, f.ref_columns)


def _decode_foreign_key(t: tuple, where) -> ForeignKey:
    return ForeignKey(t[0], t[1], t[2], t[3])


def _encode_table(t: Table) -> tuple:
    return (t.name, {k: _encode_column(c) for k, c in t.columns.items()}, t.options,
            t.partitioned, _span(t.location), t.path, t.origin)


def _decode_table(t: tuple, where) -> Table:
    return Table(t[0], {k: _decode_column(c, where) for k, c in t[1].items()}, t[2], t[3],
                 _at(t[4], where), t[5], t[6])


_ENCODED_FIELDS = {
    Column: ("name", "type", "default", "not_null", "location", "default_sql", "type_sql",
             "type_changes"),
    Index: ("name", "table", "columns", "method", "unique", "primary", "partial", "location",
            "constraint", "reads", "origin", "predicate"),
    Sequence: ("name", "cache", "owned_by", "location", "origin"),
    ForeignKey: ("table", "columns", "ref_table", "ref_columns"),
    Table: ("name", "columns", "options", "partitioned", "location", "path", "origin"),
}
for _cls, _names in _ENCODED_FIELDS.items():
    if _cls.__match_args__ != _names:  # the dataclass's fields, in order
        raise ImportError(f"catalog encoding out of date for {_cls.__name__}: "
                          f"{_cls.__match_args__} != {_names}")

# Table parts and ALTER TABLE commands that carry an object: their encoders and decoders.
_PART_CODECS = {
    "column": (_encode_column, _decode_column),
    "sequence": (_encode_sequence, _decode_sequence),
    "key": (_encode_index, _decode_index),
    "foreign_key": (_encode_foreign_key, _decode_foreign_key),
}


def _encode_part(part: tuple) -> tuple:
    codec = _PART_CODECS.get(part[0])
    return (part[0], codec[0](part[1])) if codec is not None else part


def _decode_part(part: tuple, where) -> tuple:
    codec = _PART_CODECS.get(part[0])
    return (part[0], codec[1](part[1], where)) if codec is not None else part


def encode_ops(ops: list[tuple]) -> list[tuple]:
    """`ops` (from catalog_ops) as plain data, for `marshal`; decode_ops reverses it."""
    out = []
    for op in ops:
        kind = op[0]
        if kind == "create_table":
            op = (kind, _encode_table(op[1]), [_encode_part(p) for p in op[2]], op[3])
        elif kind == "alter_table":
            op = (kind, op[1], [_encode_part(p) for p in op[2]])
        elif kind == "create_index":
            op = (kind, _encode_index(op[1]), op[2])
        elif kind == "create_sequence":
            op = (kind, _encode_sequence(op[1]), op[2])
        out.append(op)  # the other operations hold plain data already
    return out


def decode_ops(data: list[tuple], where: Callable[[int, int], Location]) -> list[tuple]:
    """The operations encode_ops encoded; `where(start, end)` makes a Location in their file."""
    out = []
    for op in data:
        kind = op[0]
        if kind == "create_table":
            op = (kind, _decode_table(op[1], where), [_decode_part(p, where) for p in op[2]],
                  op[3])
        elif kind == "alter_table":
            op = (kind, op[1], [_decode_part(p, where) for p in op[2]])
        elif kind == "create_index":
            op = (kind, _decode_index(op[1], where), op[2])
        elif kind == "create_sequence":
            op = (kind, _decode_sequence(op[1], where), op[2])
        out.append(op)
    return out
