"""A schema catalog built by replaying DDL in migration order.

Only what rules need is kept: tables with columns, defaults, keys and storage options; indexes
with method and columns; sequences with their cache. Each object remembers where it was defined
so that a rule can report on the defining statement and fix it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pglint.model.location import Location
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes


@dataclass
class Column:
    name: str
    type: str  # lowercase type name as written: bigserial, int8, timestamptz, uuid
    default: str = ""  # "serial" | "identity" | "nextval" | "time" | "other" | ""
    not_null: bool = False
    location: Location | None = None

    @property
    def grows(self) -> bool:
        """Values only ever increase: sequence-backed or time-stamped on insert."""
        return self.default in ("serial", "identity", "nextval", "time")


@dataclass
class Index:
    name: str
    table: str
    columns: list[str | None]  # None for an expression
    method: str = "btree"
    unique: bool = False
    primary: bool = False
    partial: bool = False
    location: Location | None = None
    statement: Statement | None = None  # the defining CREATE INDEX, when there is one
    constraint: bool = False  # created by a PRIMARY KEY / UNIQUE constraint
    # Every column the index reads: keys, expressions, INCLUDE columns, a partial index's
    # predicate. An UPDATE of any of them cannot be HOT.
    reads: frozenset[str] = frozenset()


@dataclass
class Sequence:
    name: str
    cache: int = 1
    owned_by: tuple[str, str] | None = None  # (table, column)
    location: Location | None = None
    statement: Statement | None = None


@dataclass
class ForeignKey:
    table: str  # the referencing table
    columns: list[str]
    ref_table: str
    ref_columns: list[str]  # empty: the referenced table's primary key


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    partitioned: bool = False
    location: Location | None = None
    statement: Statement | None = None  # the CREATE TABLE
    path: str = ""  # the file of the CREATE TABLE

    @property
    def fillfactor(self) -> int | None:
        value = self.options.get("fillfactor")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


class Catalog:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.indexes: dict[str, Index] = {}
        self.sequences: dict[str, Sequence] = {}
        self.foreign_keys: list[ForeignKey] = []
        self.enums: dict[str, list[str]] = {}  # enum type name -> labels, in order
        self._lookups: _Lookups | None = None

    # -- queries -----------------------------------------------------------------------------
    # Rules ask these for every statement of every file, so they must not scan the catalog:
    # they read lookup tables built once, after replay.

    @property
    def lookups(self) -> "_Lookups":
        if self._lookups is None:
            self._lookups = _Lookups(self)
        return self._lookups

    def table(self, name: str | None) -> Table | None:
        return self.tables.get(name.lower()) if name else None

    def indexes_on(self, table: str) -> list[Index]:
        return self.lookups.indexes_by_table.get(table, [])

    def defined_by(self, stmt: Statement) -> list[Table | Index | Sequence]:
        """The catalog objects (in the final state) whose defining statement is `stmt`."""
        return self.lookups.by_statement.get(id(stmt), [])

    def references_to(self, table: str) -> list[ForeignKey]:
        """Foreign keys that reference `table`."""
        return self.lookups.references.get(table, [])

    def indexed_columns(self, table: str, include_brin: bool = True) -> set[str]:
        cols: set[str] = set()
        for index in self.indexes_on(table):
            if include_brin or index.method != "brin":
                cols.update(c for c in index.columns if c)
        return cols

    def key_columns(self, table: str) -> list[set[str]]:
        """Column sets of the table's primary key and unique indexes/constraints."""
        return [set(c for c in i.columns if c) for i in self.indexes_on(table)
                if (i.unique or i.primary) and not i.partial and all(i.columns)]

    # -- replay ------------------------------------------------------------------------------

    def apply(self, stmt: Statement, where: Callable[[int, int], Location]) -> None:
        """Replay one statement; `where(start, end)` makes a Location in the statement's file."""
        handler = getattr(self, "_" + stmt.kind, None)
        if handler is not None:
            self._lookups = None
            handler(stmt, stmt.body, where)

    def _CreateStmt(self, stmt: Statement, body: dict, where) -> None:
        name = n.relation_name(body.get("relation"))
        if not name or (body.get("if_not_exists") and name in self.tables):
            return
        loc = where(stmt.offset(body["relation"].get("location")), stmt.end)
        table = Table(name, location=loc, statement=stmt, path=loc.path,
                      partitioned=bool(body.get("partspec")))
        for opt, elem in n.def_elems(body.get("options")).items():
            table.options[opt] = n.def_value(elem)
        self.tables[name] = table
        for elt in body.get("tableElts", ()):
            if "ColumnDef" in elt:
                self._add_column(table, elt["ColumnDef"], stmt, where)
            elif "Constraint" in elt:
                self._add_constraint(table, elt["Constraint"], stmt, where)

    def _add_column(self, table: Table, coldef: dict, stmt: Statement, where) -> None:
        colname = coldef.get("colname", "")
        typ = n.type_name(coldef.get("typeName"))
        loc = where(stmt.offset(coldef.get("location")), stmt.end)
        column = Column(colname, typ, location=loc)
        if typ in n.SERIAL_TYPES:
            column.default = "serial"
            seq = _serial_sequence_name(table.name, colname)
            self.sequences[seq] = Sequence(seq, 1, (table.name, colname), loc, stmt)
        for item in coldef.get("constraints", ()):
            con = item.get("Constraint", {})
            contype = con.get("contype")
            if contype == "CONSTR_DEFAULT":
                expr = con.get("raw_expr")
                if n.is_nextval_default(expr):
                    column.default = "nextval"
                elif n.is_time_default(expr):
                    column.default = "time"
                else:
                    column.default = "other"
            elif contype == "CONSTR_IDENTITY":
                column.default = "identity"
                seq = _serial_sequence_name(table.name, colname)
                cache = n.def_value(n.def_elems(con.get("options")).get("cache")) or 1
                self.sequences[seq] = Sequence(seq, int(cache), (table.name, colname), loc, stmt)
            elif contype == "CONSTR_NOTNULL":
                column.not_null = True
            elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
                self._key_index(table, [colname], contype == "CONSTR_PRIMARY", con, stmt, where)
            elif contype == "CONSTR_FOREIGN":
                self._foreign_key(table, [colname], con)
        table.columns[colname] = column

    def _add_constraint(self, table: Table, con: dict, stmt: Statement, where) -> None:
        contype = con.get("contype")
        if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
            self._key_index(table, n.names(con.get("keys")), contype == "CONSTR_PRIMARY", con,
                            stmt, where)
        elif contype == "CONSTR_FOREIGN":
            self._foreign_key(table, n.names(con.get("fk_attrs")), con)

    def _foreign_key(self, table: Table, columns: list[str], con: dict) -> None:
        ref = n.relation_name(con.get("pktable"))
        if ref:
            self.foreign_keys.append(
                ForeignKey(table.name, columns, ref, n.names(con.get("pk_attrs"))))

    def _key_index(self, table: Table, columns: list[str], primary: bool, con: dict,
                   stmt: Statement, where) -> None:
        name = con.get("conname") or (
            f"{table.name.split('.')[-1]}_pkey" if primary
            else f"{table.name.split('.')[-1]}_{'_'.join(columns)}_key")
        loc = where(stmt.offset(con.get("location")), stmt.end)
        reads = set(columns) | set(n.names(con.get("including"))) | _columns_read(
            con.get("where_clause"))
        self.indexes[name] = Index(name, table.name, list(columns), "btree", unique=True,
                                   primary=primary, location=loc, statement=stmt,
                                   constraint=True, reads=frozenset(reads - {"*"}))
        if primary:
            for col in columns:
                if col in table.columns:
                    table.columns[col].not_null = True

    def _AlterTableStmt(self, stmt: Statement, body: dict, where) -> None:
        name = n.relation_name(body.get("relation"))
        objtype = body.get("objtype")
        if objtype == "OBJECT_INDEX":
            return
        table = self.tables.get(name or "")
        if table is None:
            return
        for item in body.get("cmds", ()):
            cmd = item.get("AlterTableCmd", {})
            subtype = cmd.get("subtype")
            definition = cmd.get("def") or {}
            if subtype == "AT_AddColumn" and "ColumnDef" in definition:
                self._add_column(table, definition["ColumnDef"], stmt, where)
            elif subtype == "AT_DropColumn":
                table.columns.pop(cmd.get("name", ""), None)
                for key, index in list(self.indexes.items()):
                    if index.table == table.name and cmd.get("name") in index.columns:
                        del self.indexes[key]
            elif subtype == "AT_SetRelOptions":
                for opt, elem in n.def_elems(definition.get("List", {}).get("items")).items():
                    table.options[opt] = n.def_value(elem)
            elif subtype == "AT_ResetRelOptions":
                for opt in n.def_elems(definition.get("List", {}).get("items")):
                    table.options.pop(opt, None)
            elif subtype == "AT_AddConstraint" and "Constraint" in definition:
                self._add_constraint(table, definition["Constraint"], stmt, where)
            elif subtype == "AT_DropConstraint":
                self.indexes.pop(cmd.get("name", ""), None)
            elif subtype == "AT_ColumnDefault":
                column = table.columns.get(cmd.get("name", ""))
                if column is not None:
                    expr = definition or None
                    column.default = ("" if expr is None else "nextval" if n.is_nextval_default(expr)
                                      else "time" if n.is_time_default(expr) else "other")
            elif subtype == "AT_AddIdentity":
                column = table.columns.get(cmd.get("name", ""))
                if column is not None:
                    column.default = "identity"
            elif subtype == "AT_AlterColumnType":
                column = table.columns.get(cmd.get("name", ""))
                if column is not None and "ColumnDef" in definition:
                    column.type = n.type_name(definition["ColumnDef"].get("typeName"))

    def _IndexStmt(self, stmt: Statement, body: dict, where) -> None:
        table = n.relation_name(body.get("relation"))
        if not table:
            return
        columns: list[str | None] = []
        for param in body.get("indexParams", ()):
            elem = param.get("IndexElem", {})
            columns.append(elem.get("name"))
        name = body.get("idxname") or f"{table.split('.')[-1]}_{'_'.join(c or 'expr' for c in columns)}_idx"
        if body.get("if_not_exists") and name in self.indexes:
            return
        loc = where(stmt.start, stmt.end)
        reads = _columns_read(body.get("indexParams")) | _columns_read(
            body.get("indexIncludingParams")) | _columns_read(body.get("whereClause"))
        self.indexes[name] = Index(
            name, table, columns, (body.get("accessMethod") or "btree").lower(),
            unique=bool(body.get("unique")), primary=bool(body.get("primary")),
            partial=bool(body.get("whereClause")), location=loc, statement=stmt,
            reads=frozenset(reads))

    def _CreateSeqStmt(self, stmt: Statement, body: dict, where) -> None:
        name = n.relation_name(body.get("sequence"))
        if not name or (body.get("if_not_exists") and name in self.sequences):
            return
        cache = n.def_value(n.def_elems(body.get("options")).get("cache")) or 1
        self.sequences[name] = Sequence(name, int(cache), None, where(stmt.start, stmt.end), stmt)

    def _AlterSeqStmt(self, stmt: Statement, body: dict, where) -> None:
        seq = self.sequences.get(n.relation_name(body.get("sequence")) or "")
        if seq is None:
            return
        cache = n.def_value(n.def_elems(body.get("options")).get("cache"))
        if cache is not None:
            seq.cache = int(cache)

    def _DropStmt(self, stmt: Statement, body: dict, where) -> None:
        kind = body.get("removeType")
        for obj in body.get("objects", ()):
            items = obj.get("List", {}).get("items") if isinstance(obj, dict) else None
            name = n.qualified(items).lower() if items else None
            if not name:
                continue
            if kind == "OBJECT_TABLE":
                self.tables.pop(name, None)
                self.foreign_keys = [fk for fk in self.foreign_keys if fk.table != name]
                for key, index in list(self.indexes.items()):
                    if index.table == name:
                        del self.indexes[key]
                for key, seq in list(self.sequences.items()):
                    if seq.owned_by and seq.owned_by[0] == name:
                        del self.sequences[key]
            elif kind == "OBJECT_INDEX":
                self.indexes.pop(name, None)
            elif kind == "OBJECT_SEQUENCE":
                self.sequences.pop(name, None)

    def _RenameStmt(self, stmt: Statement, body: dict, where) -> None:
        kind = body.get("renameType")
        new = body.get("newname")
        old = n.relation_name(body.get("relation"))
        if not new or not old:
            return
        if kind == "OBJECT_TABLE" and old in self.tables:
            table = self.tables.pop(old)
            table.name = new
            self.tables[new] = table
            for index in self.indexes.values():
                if index.table == old:
                    index.table = new
            for seq in self.sequences.values():
                if seq.owned_by and seq.owned_by[0] == old:
                    seq.owned_by = (new, seq.owned_by[1])
            for fk in self.foreign_keys:
                fk.table = new if fk.table == old else fk.table
                fk.ref_table = new if fk.ref_table == old else fk.ref_table
        elif kind == "OBJECT_COLUMN":
            table = self.tables.get(old)
            column = table.columns.pop(body.get("subname", ""), None) if table else None
            if table is not None and column is not None:
                column.name = new
                table.columns[new] = column
                for index in self.indexes_on(table.name):
                    index.columns = [new if c == body.get("subname") else c for c in index.columns]
                    if body.get("subname") in index.reads:
                        index.reads = (index.reads - {body.get("subname")}) | {new}
                for seq in self.sequences.values():
                    if seq.owned_by == (table.name, body.get("subname")):
                        seq.owned_by = (table.name, new)
        elif kind == "OBJECT_INDEX" and old in self.indexes:
            index = self.indexes.pop(old)
            index.name = new
            self.indexes[new] = index
        elif kind == "OBJECT_SEQUENCE" and old in self.sequences:
            seq = self.sequences.pop(old)
            seq.name = new
            self.sequences[new] = seq

    def _CreateEnumStmt(self, stmt: Statement, body: dict, where) -> None:
        self.enums[n.qualified(body.get("typeName")).lower()] = n.names(body.get("vals"))

    def _AlterEnumStmt(self, stmt: Statement, body: dict, where) -> None:
        labels = self.enums.get(n.qualified(body.get("typeName")).lower())
        new, neighbor = body.get("newVal"), body.get("newValNeighbor")
        if labels is None or not new or new in labels:
            return  # RENAME VALUE (oldVal) and unknown types are left alone
        if neighbor in labels:
            labels.insert(labels.index(neighbor) + (1 if body.get("newValIsAfter") else 0), new)
        else:
            labels.append(new)


class _Lookups:
    """Indexes over the catalog's final state, built once after replay."""

    def __init__(self, catalog: Catalog) -> None:
        self.indexes_by_table: dict[str, list[Index]] = {}
        self.by_statement: dict[int, list] = {}
        self.references: dict[str, list[ForeignKey]] = {}
        for index in catalog.indexes.values():
            self.indexes_by_table.setdefault(index.table, []).append(index)
        for obj in (*catalog.tables.values(), *catalog.indexes.values(),
                    *catalog.sequences.values()):
            if obj.statement is not None:
                self.by_statement.setdefault(id(obj.statement), []).append(obj)
        for fk in catalog.foreign_keys:
            self.references.setdefault(fk.ref_table, []).append(fk)


def _columns_read(node: Any) -> set[str]:
    """Column names an index definition part reads (index elements, expressions, predicates)."""
    columns: set[str] = set()
    if not node:
        return columns
    for kind, body in iter_nodes(node):
        if kind == "IndexElem" and body.get("name"):
            columns.add(body["name"])
        elif kind == "ColumnRef":
            name = n.column_ref({"ColumnRef": body})
            if name:
                columns.add(name)
    return columns


def _serial_sequence_name(table: str, column: str) -> str:
    """PostgreSQL's name for a serial/identity column's sequence (ignoring truncation clashes)."""
    base = table.split(".")[-1]
    schema = table.rsplit(".", 1)[0] + "." if "." in table else ""
    return f"{schema}{base}_{column}_seq"
