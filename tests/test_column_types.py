"""The catalog keeps each column's type with its modifiers, and the type it had before every
`ALTER COLUMN ... TYPE`: PGL508 judges a type change against the type the column has when the
statement runs, not the final one."""

from __future__ import annotations

import marshal
from pathlib import Path

from pglint.model.catalog import Catalog
from pglint.model.catalog_codec import decode_ops, encode_ops
from pglint.model.ddl import catalog_ops
from pglint.model.location import Location
from pglint.source import SourceFile
from pglint.sql.parse import parse_sql

FILES = {
    "migrations/V1__init.sql": "CREATE TABLE orders (order_id bigserial PRIMARY KEY,\n"
                               "                     status varchar(10), total numeric(10,2));\n",
    "migrations/V2__status.sql": "ALTER TABLE orders ALTER COLUMN status TYPE text;\n",
    "migrations/V3__status.sql": ("SELECT 1;\n"
                                  "ALTER TABLE orders ALTER COLUMN status TYPE varchar(5);\n"),
}


def _ops(path: str, text: str) -> tuple[list[tuple], SourceFile]:
    file = SourceFile(Path(path), text, "migration", path)

    def where(start: int, end: int) -> Location:
        return Location.in_file(file, start, end)

    return [op for stmt in parse_sql(text).statements for op in catalog_ops(stmt, where)], file


def test_the_catalog_keeps_each_type_before_each_change():
    catalog = Catalog()
    for path, text in FILES.items():
        catalog.apply_ops(_ops(path, text)[0])
    orders = catalog.table("orders")
    status = orders.columns["status"]
    assert (status.type, status.type_sql) == ("varchar", "varchar(5)")
    v3_start = FILES["migrations/V3__status.sql"].index("ALTER")
    assert status.type_changes == (("varchar(10)", "migrations/V2__status.sql", 0),
                                   ("text", "migrations/V3__status.sql", v3_start))
    assert orders.columns["order_id"].type_sql == "int8"  # bigserial is a bigint
    assert orders.columns["total"].type_sql == "numeric(10,2)"


def test_types_and_their_history_travel_between_processes():
    direct, sent = Catalog(), Catalog()
    for path, text in FILES.items():
        ops, file = _ops(path, text)
        direct.apply_ops(ops)

        def where(start: int, end: int, file=file) -> Location:
            return Location.in_file(file, start, end)

        sent.apply_ops(decode_ops(marshal.loads(marshal.dumps(encode_ops(_ops(path, text)[0]))),
                                  where))
    for name in ("status", "total", "order_id"):
        a, b = direct.table("orders").columns[name], sent.table("orders").columns[name]
        assert (a.type, a.type_sql, a.type_changes) == (b.type, b.type_sql, b.type_changes)


def test_a_key_added_using_an_index_takes_the_index_and_its_columns():
    # The recipe of PGL510: build the index concurrently, then make it the key. PostgreSQL
    # renames the index to the constraint; the key's columns are the index's.
    sql = ("CREATE TABLE refs (id uuid, parent_id uuid, name text);\n"
           "CREATE UNIQUE INDEX CONCURRENTLY refs_tmp ON refs (id);\n"
           "ALTER TABLE refs ADD CONSTRAINT refs_pkey PRIMARY KEY USING INDEX refs_tmp;\n"
           "CREATE UNIQUE INDEX CONCURRENTLY refs_name_tmp ON refs (parent_id, name);\n"
           "ALTER TABLE refs ADD CONSTRAINT refs_parent_name_key UNIQUE USING INDEX "
           "refs_name_tmp;\n")
    catalog = Catalog()
    ops, _file = _ops("migrations/V1__refs.sql", sql)
    catalog.apply_ops(decode_ops(marshal.loads(marshal.dumps(encode_ops(ops))),
                                 lambda s, e: None))
    assert "refs_tmp" not in catalog.indexes and "refs_name_tmp" not in catalog.indexes
    primary, unique = catalog.indexes["refs_pkey"], catalog.indexes["refs_parent_name_key"]
    assert (primary.columns, primary.primary, primary.unique) == (["id"], True, True)
    assert (unique.columns, unique.primary, unique.unique) == (["parent_id", "name"], False, True)
    assert catalog.table("refs").columns["id"].not_null
    assert catalog.key_columns("refs") == [{"id"}, {"parent_id", "name"}]
