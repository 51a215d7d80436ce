"""A schema catalog built by replaying DDL in migration order.

Only what rules need is kept: tables with columns, defaults, keys and storage options; indexes
with method and columns; sequences with their cache. Each object remembers where it was defined
(`origin`, the defining statement's key, and a Location) so that a rule can report on the
defining statement and fix it. The catalog holds no parse trees: it is small, and it can be sent
to worker processes.
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
    default_sql: str = ""  # the default as SQL, when it is a simple value ('new', 0, now)

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
    constraint: bool = False  # created by a PRIMARY KEY / UNIQUE constraint
    # Every column the index reads: keys, expressions, INCLUDE columns, a partial index's
    # predicate. An UPDATE of any of them cannot be HOT.
    reads: frozenset[str] = frozenset()
    origin: str = ""  # Statement.origin of the defining statement
    predicate: dict[str, Any] | None = None  # a partial index's WHERE (pglast JSON tree)


@dataclass
class Sequence:
    name: str
    cache: int = 1
    owned_by: tuple[str, str] | None = None  # (table, column)
    location: Location | None = None
    origin: str = ""  # Statement.origin of the defining statement


@dataclass(frozen=True)
class Trigger:
    """`CREATE TRIGGER name ... ON table FOR EACH ROW EXECUTE FUNCTION function()`."""

    name: str
    table: str
    function: str  # the function's key (pglint.sql.nodes.function_key)
    events: tuple[str, ...]  # "insert", "update", "delete", "truncate"
    row: bool  # FOR EACH ROW (else once per statement)
    origin: str = ""


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
    path: str = ""  # the file of the CREATE TABLE
    origin: str = ""  # Statement.origin of the CREATE TABLE

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
        # Indexes that a `DROP INDEX` removed, by name (the last one dropped under each name):
        # the catalog is the final state, so a migration that drops an index finds it here.
        self.dropped_indexes: dict[str, Index] = {}
        # (table, column) -> the migration files where a valid constraint proved the column NOT
        # NULL (`CHECK (col IS NOT NULL)`, 18's `NOT NULL col`): PostgreSQL 12+ then sets NOT
        # NULL without a scan. Kept when the constraint is dropped later, since the usual recipe
        # drops it right after SET NOT NULL and the catalog is the final state.
        self.not_null_proofs: dict[tuple[str, str], set[str]] = {}
        self._not_null_constraints: dict[tuple[str, str], list[str]] = {}  # not yet valid
        self.enums: dict[str, list[str]] = {}  # enum type name -> labels, in order
        # Server-side defaults set with ALTER ROLE / ALTER DATABASE ... SET name = value
        # (the last one seen wins): name -> value as written ('30s', '0').
        self.role_settings: dict[str, str] = {}
        # Function key (pglint.sql.nodes.function_key) -> Statement.origin of its definition
        # in force; "" once dropped. A body replaced by CREATE OR REPLACE or dropped by a later
        # migration no longer runs: what it did is not workload, and not a finding.
        self.functions: dict[str, str] = {}
        # (table, trigger name) -> the trigger: which function it runs, on which writes.
        self.triggers: dict[tuple[str, str], Trigger] = {}
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
        return self.lookups.by_statement.get(stmt.origin, []) if stmt.origin else []

    def references_to(self, table: str) -> list[ForeignKey]:
        """Foreign keys that reference `table`."""
        return self.lookups.references.get(table, [])

    def key_columns(self, table: str) -> list[set[str]]:
        """Column sets of the table's primary key and unique indexes/constraints."""
        return [set(c for c in i.columns if c) for i in self.indexes_on(table)
                if (i.unique or i.primary) and not i.partial and all(i.columns)]

    # -- replay ------------------------------------------------------------------------------
    # Replay is split in two: `catalog_ops` reads one statement's tree into small operations
    # that need no catalog state (so worker processes can do it next to the parse), and
    # `apply_ops` applies them in migration order.

    def apply_ops(self, ops: list[tuple]) -> None:
        if ops:
            self._lookups = None
        for op in ops:
            getattr(self, "_op_" + op[0])(*op[1:])

    def unvalidated_not_null_check(self, table: str, column: str) -> str | None:
        """The name of a `CHECK (column IS NOT NULL) NOT VALID` on `table` that nothing has
        validated yet, or None."""
        return next((name for (owner, name), columns in self._not_null_constraints.items()
                     if owner == table and column in columns), None)

    def runs_this_definition(self, stmt: Statement) -> bool:
        """Whether the CREATE FUNCTION / PROCEDURE `stmt` is the definition in force at the end
        of replay (True for one the catalog never saw: application SQL is not replayed)."""
        current = self.functions.get(n.defined_function_key(stmt.body))
        return current is None or current == stmt.origin

    def body_runs(self, key: str, origin: str) -> bool:
        """runs_this_definition for a definition known by its key and origin."""
        current = self.functions.get(key)
        return current is None or current == origin

    def triggers_running(self, function: str) -> list[Trigger]:
        """The triggers that run the function of this key."""
        return [t for t in self.triggers.values() if t.function == function]

    def _op_define_trigger(self, name: str, table: str, function: str, events: tuple,
                           row: bool, origin: str) -> None:
        self.triggers[(table, name)] = Trigger(name, table, function, tuple(events), row, origin)

    def _op_drop_trigger(self, table: str, name: str) -> None:
        self.triggers.pop((table, name), None)

    def _op_define_function(self, key: str, origin: str) -> None:
        self.functions[key] = origin

    def _op_drop_function(self, keys: list[str]) -> None:
        for key in keys:
            if key.endswith("/*"):
                prefix = key[:-1]
                for known in [k for k in self.functions if k.startswith(prefix)]:
                    self.functions[known] = ""
            else:
                self.functions[key] = ""

    def sequence_users(self, sequence: str) -> set[str]:
        """The tables whose columns take their values from `sequence`."""
        return self.lookups.sequence_users.get(sequence, set())

    def _op_create_table(self, table: Table, parts: list[tuple], if_not_exists: bool) -> None:
        if if_not_exists and table.name in self.tables:
            return
        self.tables[table.name] = table
        for part in parts:
            self._table_part(table, part)

    def _table_part(self, table: Table, part: tuple) -> None:
        kind = part[0]
        if kind == "column":
            column = part[1]
            table.columns[column.name] = column
        elif kind == "sequence":
            self.sequences[part[1].name] = part[1]
        elif kind == "key":
            index: Index = part[1]
            self.indexes[index.name] = index
            if index.primary:
                for col in index.columns:
                    if col in table.columns:
                        table.columns[col].not_null = True
        elif kind == "foreign_key":
            self.foreign_keys.append(part[1])
        elif kind == "not_null_constraint":
            name, columns, valid, path = part[1:]
            if valid:
                for column in columns:
                    self.not_null_proofs.setdefault((table.name, column), set()).add(path)
            elif name:
                self._not_null_constraints[(table.name, name)] = columns
        elif kind == "validate_constraint":
            name, path = part[1:]
            for column in self._not_null_constraints.pop((table.name, name), ()):
                self.not_null_proofs.setdefault((table.name, column), set()).add(path)

    def _op_alter_table(self, name: str, commands: list[tuple]) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        for command in commands:
            kind, args = command[0], command[1:]
            if kind in ("column", "sequence", "key", "foreign_key", "not_null_constraint",
                        "validate_constraint"):
                self._table_part(table, command)
            elif kind == "drop_column":
                table.columns.pop(args[0], None)
                for key, index in list(self.indexes.items()):
                    if index.table == table.name and args[0] in index.columns:
                        del self.indexes[key]
            elif kind == "set_options":
                table.options.update(args[0])
            elif kind == "reset_options":
                for opt in args[0]:
                    table.options.pop(opt, None)
            elif kind == "drop_constraint":
                self.indexes.pop(args[0], None)
            elif kind == "column_default":
                column = table.columns.get(args[0])
                if column is not None:
                    column.default, column.default_sql = args[1], args[2]
            elif kind == "add_identity":
                column = table.columns.get(args[0])
                if column is not None:
                    column.default = "identity"
            elif kind == "alter_type":
                column = table.columns.get(args[0])
                if column is not None:
                    column.type = args[1]

    def _op_create_index(self, index: Index, if_not_exists: bool) -> None:
        if if_not_exists and index.name in self.indexes:
            return
        self.indexes[index.name] = index

    def _op_create_sequence(self, sequence: Sequence, if_not_exists: bool) -> None:
        if if_not_exists and sequence.name in self.sequences:
            return
        self.sequences[sequence.name] = sequence

    def _op_alter_sequence(self, name: str, cache: int | None,
                           owned_by: tuple[str, str] | None = None) -> None:
        seq = self.sequences.get(name)
        if seq is not None and cache is not None:
            seq.cache = cache
        if seq is not None and owned_by is not None:
            seq.owned_by = owned_by

    def _op_drop(self, kind: str, names: list[str]) -> None:
        for name in names:
            if kind == "OBJECT_TABLE":
                self.tables.pop(name, None)
                self.foreign_keys = [fk for fk in self.foreign_keys if fk.table != name]
                for key, index in list(self.indexes.items()):
                    if index.table == name:
                        del self.indexes[key]
                for key, seq in list(self.sequences.items()):
                    if seq.owned_by and seq.owned_by[0] == name:
                        del self.sequences[key]
                for key in [k for k in self.triggers if k[0] == name]:
                    del self.triggers[key]
            elif kind == "OBJECT_INDEX":
                index = self.indexes.pop(name, None)
                if index is not None:
                    self.dropped_indexes[name] = index
            elif kind == "OBJECT_SEQUENCE":
                self.sequences.pop(name, None)

    def _op_rename(self, kind: str, old: str, new: str, subname: str | None) -> None:
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
            column = table.columns.pop(subname or "", None) if table else None
            if table is not None and column is not None:
                column.name = new
                table.columns[new] = column
                for index in self.indexes.values():
                    if index.table != table.name:
                        continue
                    index.columns = [new if c == subname else c for c in index.columns]
                    if subname in index.reads:
                        index.reads = (index.reads - {subname}) | {new}
                for seq in self.sequences.values():
                    if seq.owned_by == (table.name, subname):
                        seq.owned_by = (table.name, new)
        elif kind == "OBJECT_INDEX" and old in self.indexes:
            index = self.indexes.pop(old)
            index.name = new
            self.indexes[new] = index
        elif kind == "OBJECT_SEQUENCE" and old in self.sequences:
            seq = self.sequences.pop(old)
            seq.name = new
            self.sequences[new] = seq

    def _op_role_setting(self, name: str, value: str) -> None:
        self.role_settings[name] = value

    def _op_create_enum(self, name: str, labels: list[str]) -> None:
        self.enums[name] = list(labels)

    def _op_alter_enum(self, name: str, new: str | None, neighbor: str | None,
                       after: bool) -> None:
        labels = self.enums.get(name)
        if labels is None or not new or new in labels:
            return  # RENAME VALUE (oldVal) and unknown types are left alone
        if neighbor in labels:
            labels.insert(labels.index(neighbor) + (1 if after else 0), new)
        else:
            labels.append(new)


# -- reading statements into operations ------------------------------------------------------


def catalog_ops(stmt: Statement, where: Callable[[int, int], Location]) -> list[tuple]:
    """The catalog operations of one statement (empty for statements the catalog ignores)."""
    reader = _READERS.get(stmt.kind)
    return reader(stmt, stmt.body, where) if reader is not None else []


def _create_table(stmt: Statement, body: dict, where) -> list[tuple]:
    name = n.relation_name(body.get("relation"))
    if not name:
        return []
    loc = where(stmt.offset(body["relation"].get("location")), stmt.end)
    table = Table(name, location=loc, path=loc.path, partitioned=bool(body.get("partspec")),
                  origin=stmt.origin)
    for opt, elem in n.def_elems(body.get("options")).items():
        table.options[opt] = n.def_value(elem)
    parts: list[tuple] = []
    for elt in body.get("tableElts", ()):
        if "ColumnDef" in elt:
            parts.extend(_column_parts(name, elt["ColumnDef"], stmt, where))
        elif "Constraint" in elt:
            parts.extend(_constraint_parts(name, elt["Constraint"], stmt, where))
    return [("create_table", table, parts, bool(body.get("if_not_exists")))]


def _column_parts(table: str, coldef: dict, stmt: Statement, where) -> list[tuple]:
    colname = coldef.get("colname", "")
    typ = n.type_name(coldef.get("typeName"))
    loc = where(stmt.offset(coldef.get("location")), stmt.end)
    column = Column(colname, typ, location=loc)
    parts: list[tuple] = [("column", column)]
    if typ in n.SERIAL_TYPES:
        column.default = "serial"
        seq = serial_sequence_name(table, colname)
        parts.append(("sequence", Sequence(seq, 1, (table, colname), loc, stmt.origin)))
    for item in coldef.get("constraints", ()):
        con = item.get("Constraint", {})
        contype = con.get("contype")
        if contype == "CONSTR_DEFAULT":
            column.default, column.default_sql = default_kind(con.get("raw_expr"))
        elif contype == "CONSTR_IDENTITY":
            column.default = "identity"
            seq = serial_sequence_name(table, colname)
            cache = n.def_value(n.def_elems(con.get("options")).get("cache")) or 1
            parts.append(("sequence", Sequence(seq, int(cache), (table, colname), loc,
                                               stmt.origin)))
        elif contype == "CONSTR_NOTNULL":
            column.not_null = True
        elif contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
            parts.append(_key_part(table, [colname], contype == "CONSTR_PRIMARY", con, stmt,
                                   where))
            if contype == "CONSTR_PRIMARY":
                column.not_null = True
        elif contype == "CONSTR_FOREIGN":
            parts.extend(_foreign_key_part(table, [colname], con))
    return parts


def default_kind(expr: dict | None) -> tuple[str, str]:
    """(kind, SQL text) of a column default: nextval / time / other."""
    if expr is None:
        return "", ""
    kind = "nextval" if n.is_nextval_default(expr) else "time" if n.is_time_default(expr) \
        else "other"
    if kind == "nextval":
        return kind, n.nextval_sequence(expr) or ""  # the sequence: evidence of what uses it
    literal = n.sql_literal(expr)
    return kind, "" if literal == "..." else literal


def _constraint_parts(table: str, con: dict, stmt: Statement, where) -> list[tuple]:
    contype = con.get("contype")
    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE"):
        return [_key_part(table, n.names(con.get("keys")), contype == "CONSTR_PRIMARY", con,
                          stmt, where)]
    if contype == "CONSTR_FOREIGN":
        return _foreign_key_part(table, n.names(con.get("fk_attrs")), con)
    columns = n.not_null_columns(con)
    if columns:
        # A CREATE TABLE's constraints hold on an empty table: valid whatever they say.
        valid = stmt.kind == "CreateStmt" or not con.get("skip_validation")
        return [("not_null_constraint", con.get("conname") or "", columns, valid,
                 where(stmt.start, stmt.end).path)]
    return []


def _foreign_key_part(table: str, columns: list[str], con: dict) -> list[tuple]:
    ref = n.relation_name(con.get("pktable"))
    if not ref:
        return []
    return [("foreign_key", ForeignKey(table, columns, ref, n.names(con.get("pk_attrs"))))]


def _key_part(table: str, columns: list[str], primary: bool, con: dict, stmt: Statement,
              where) -> tuple:
    bare = table.split(".")[-1]
    name = con.get("conname") or (f"{bare}_pkey" if primary
                                  else f"{bare}_{'_'.join(columns)}_key")
    loc = where(stmt.offset(con.get("location")), stmt.end)
    reads = set(columns) | set(n.names(con.get("including"))) | columns_read(
        con.get("where_clause"))
    return ("key", Index(name, table, list(columns), "btree", unique=True, primary=primary,
                         location=loc, constraint=True, reads=frozenset(reads - {"*"}),
                         origin=stmt.origin))


def _alter_table(stmt: Statement, body: dict, where) -> list[tuple]:
    name = n.relation_name(body.get("relation"))
    if not name or body.get("objtype") == "OBJECT_INDEX":
        return []
    commands: list[tuple] = []
    for item in body.get("cmds", ()):
        cmd = item.get("AlterTableCmd", {})
        subtype = cmd.get("subtype")
        definition = cmd.get("def") or {}
        target = cmd.get("name", "")
        if subtype == "AT_AddColumn" and "ColumnDef" in definition:
            commands.extend(_column_parts(name, definition["ColumnDef"], stmt, where))
        elif subtype == "AT_DropColumn":
            commands.append(("drop_column", target))
        elif subtype == "AT_SetRelOptions":
            options = n.def_elems(definition.get("List", {}).get("items"))
            commands.append(("set_options", {k: n.def_value(v) for k, v in options.items()}))
        elif subtype == "AT_ResetRelOptions":
            commands.append(("reset_options",
                             list(n.def_elems(definition.get("List", {}).get("items")))))
        elif subtype == "AT_AddConstraint" and "Constraint" in definition:
            commands.extend(_constraint_parts(name, definition["Constraint"], stmt, where))
        elif subtype == "AT_DropConstraint":
            commands.append(("drop_constraint", target))
        elif subtype == "AT_ValidateConstraint" and target:
            commands.append(("validate_constraint", target, where(stmt.start, stmt.end).path))
        elif subtype == "AT_ColumnDefault":
            commands.append(("column_default", target, *default_kind(definition or None)))
        elif subtype == "AT_AddIdentity":
            commands.append(("add_identity", target))
        elif subtype == "AT_AlterColumnType" and "ColumnDef" in definition:
            commands.append(("alter_type", target,
                             n.type_name(definition["ColumnDef"].get("typeName"))))
    return [("alter_table", name, commands)] if commands else []


def _create_index(stmt: Statement, body: dict, where) -> list[tuple]:
    table = n.relation_name(body.get("relation"))
    if not table:
        return []
    columns: list[str | None] = [p.get("IndexElem", {}).get("name")
                                 for p in body.get("indexParams", ())]
    name = body.get("idxname") or \
        f"{table.split('.')[-1]}_{'_'.join(c or 'expr' for c in columns)}_idx"
    reads = columns_read(body.get("indexParams")) | columns_read(
        body.get("indexIncludingParams")) | columns_read(body.get("whereClause"))
    index = Index(name, table, columns, (body.get("accessMethod") or "btree").lower(),
                  unique=bool(body.get("unique")), primary=bool(body.get("primary")),
                  partial=bool(body.get("whereClause")), location=where(stmt.start, stmt.end),
                  reads=frozenset(reads), origin=stmt.origin,
                  predicate=body.get("whereClause"))
    return [("create_index", index, bool(body.get("if_not_exists")))]


def _create_sequence(stmt: Statement, body: dict, where) -> list[tuple]:
    name = n.relation_name(body.get("sequence"))
    if not name:
        return []
    cache = n.def_value(n.def_elems(body.get("options")).get("cache")) or 1
    sequence = Sequence(name, int(cache), None, where(stmt.start, stmt.end), stmt.origin)
    return [("create_sequence", sequence, bool(body.get("if_not_exists")))]


def _alter_sequence(stmt: Statement, body: dict, where) -> list[tuple]:
    name = n.relation_name(body.get("sequence"))
    options = n.def_elems(body.get("options"))
    cache = n.def_value(options.get("cache"))
    owner = n.names(((options.get("owned_by") or {}).get("arg") or {}).get("List", {})
                    .get("items"))
    # OWNED BY schema.table.column (pg_dump writes one after each CREATE SEQUENCE); NONE unties.
    owned_by = (n.catalog_key(owner[-3] if len(owner) > 2 else None, owner[-2]), owner[-1]) \
        if len(owner) >= 2 else None
    if not name or (cache is None and owned_by is None):
        return []
    return [("alter_sequence", name, int(cache) if cache is not None else None, owned_by)]


def _define_function(stmt: Statement, body: dict, where) -> list[tuple]:
    return [("define_function", n.defined_function_key(body), stmt.origin)] if stmt.origin \
        else []


_TRIGGER_EVENTS = ((4, "insert"), (8, "delete"), (16, "update"), (32, "truncate"))


def _define_trigger(stmt: Statement, body: dict, where) -> list[tuple]:
    table = n.relation_name(body.get("relation"))
    if not table or not body.get("trigname"):
        return []
    events = tuple(name for bit, name in _TRIGGER_EVENTS if body.get("events", 0) & bit)
    return [("define_trigger", body["trigname"], table, n.function_key(body.get("funcname"), 0),
             events, bool(body.get("row")), stmt.origin)]


def _drop(stmt: Statement, body: dict, where) -> list[tuple]:
    if body.get("removeType") == "OBJECT_TRIGGER":
        ops = []
        for obj in body.get("objects", ()):
            parts = n.names((obj.get("List") or {}).get("items")) if isinstance(obj, dict) else []
            if len(parts) >= 2:
                table = n.catalog_key(parts[-3] if len(parts) > 2 else None, parts[-2])
                ops.append(("drop_trigger", table, parts[-1]))
        return ops
    if body.get("removeType") in ("OBJECT_FUNCTION", "OBJECT_PROCEDURE", "OBJECT_ROUTINE"):
        keys = []
        for obj in body.get("objects", ()):
            target = obj.get("ObjectWithArgs") if isinstance(obj, dict) else None
            if target:
                count = None if target.get("args_unspecified") else \
                    len(target.get("objargs") or ())
                keys.append(n.function_key(target.get("objname"), count))
        return [("drop_function", keys)] if keys else []
    names = []
    for obj in body.get("objects", ()):
        items = obj.get("List", {}).get("items") if isinstance(obj, dict) else None
        name = n.qualified(items).lower() if items else None
        if name:
            names.append(name)
    return [("drop", body.get("removeType"), names)] if names else []


def _rename(stmt: Statement, body: dict, where) -> list[tuple]:
    new = body.get("newname")
    old = n.relation_name(body.get("relation"))
    if not new or not old:
        return []
    return [("rename", body.get("renameType"), old, new, body.get("subname"))]


def _create_enum(stmt: Statement, body: dict, where) -> list[tuple]:
    return [("create_enum", n.qualified(body.get("typeName")).lower(), n.names(body.get("vals")))]


def _alter_enum(stmt: Statement, body: dict, where) -> list[tuple]:
    return [("alter_enum", n.qualified(body.get("typeName")).lower(), body.get("newVal"),
             body.get("newValNeighbor"), bool(body.get("newValIsAfter")))]


# Statements that set a role's or database's defaults: read from any SQL file, not only
# migrations (they live in setup scripts as often).
ROLE_SETTING_KINDS = frozenset({"AlterRoleSetStmt", "AlterDatabaseSetStmt"})


def role_setting_ops(stmt: Statement, body: dict, where=None) -> list[tuple]:
    """`ALTER ROLE/DATABASE ... SET name = value` as ("role_setting", name, value); RESET and
    SET ... TO DEFAULT clear nothing here (the value before them is unknown)."""
    setstmt = body.get("setstmt") or {}
    if setstmt.get("kind") != "VAR_SET_VALUE" or not setstmt.get("name"):
        return []
    values = [n.sql_literal(a).strip("'") for a in setstmt.get("args") or ()]
    return [("role_setting", setstmt["name"].lower(), " ".join(values))]


_READERS: dict[str, Callable[[Statement, dict, Callable], list[tuple]]] = {
    "CreateStmt": _create_table,
    "AlterTableStmt": _alter_table,
    "IndexStmt": _create_index,
    "CreateSeqStmt": _create_sequence,
    "AlterSeqStmt": _alter_sequence,
    "DropStmt": _drop,
    "CreateFunctionStmt": _define_function,
    "CreateTrigStmt": _define_trigger,
    "RenameStmt": _rename,
    "CreateEnumStmt": _create_enum,
    "AlterEnumStmt": _alter_enum,
    **{kind: role_setting_ops for kind in ROLE_SETTING_KINDS},
}


class _Lookups:
    """Indexes over the catalog's final state, built once after replay."""

    def __init__(self, catalog: Catalog) -> None:
        self.indexes_by_table: dict[str, list[Index]] = {}
        self.by_statement: dict[str, list] = {}
        self.references: dict[str, list[ForeignKey]] = {}
        for index in catalog.indexes.values():
            self.indexes_by_table.setdefault(index.table, []).append(index)
        for obj in (*catalog.tables.values(), *catalog.indexes.values(),
                    *catalog.sequences.values()):
            if obj.origin:
                self.by_statement.setdefault(obj.origin, []).append(obj)
        for fk in catalog.foreign_keys:
            self.references.setdefault(fk.ref_table, []).append(fk)
        # Sequence -> the tables whose columns draw from it (OWNED BY, DEFAULT nextval()).
        self.sequence_users: dict[str, set[str]] = {}
        for seq in catalog.sequences.values():
            if seq.owned_by:
                self.sequence_users.setdefault(seq.name, set()).add(seq.owned_by[0])
        for table in catalog.tables.values():
            for column in table.columns.values():
                if column.default == "nextval" and column.default_sql:
                    self.sequence_users.setdefault(column.default_sql, set()).add(table.name)


def columns_read(node: Any) -> set[str]:
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


def serial_sequence_name(table: str, column: str) -> str:
    """PostgreSQL's name for a serial/identity column's sequence (ignoring truncation clashes)."""
    base = table.split(".")[-1]
    schema = table.rsplit(".", 1)[0] + "." if "." in table else ""
    return f"{schema}{base}_{column}_seq"


# -- sending operations to another process ---------------------------------------------------
# Worker processes exchange the operations of the files they parsed (see pglint.parallel). As
# plain tuples, strings and numbers they cost a fraction of pickling the objects. A Location
# travels as its (start, end) in the file whose operations these are: the receiver has that
# file's text and rebuilds it with `where`, so no line is computed that no message reads.
# The encoders name every field, in order: a field added to a class must be added here too
# (the check below fails the import until it is).

def _span(loc: Location | None) -> tuple[int, int] | None:
    return (loc.start, loc.end) if loc is not None else None


def _at(span: tuple[int, int] | None, where: Callable[[int, int], Location]) -> Location | None:
    return where(span[0], span[1]) if span is not None else None


def _encode_column(c: Column) -> tuple:
    return (c.name, c.type, c.default, c.not_null, _span(c.location), c.default_sql)


def _decode_column(t: tuple, where) -> Column:
    return Column(t[0], t[1], t[2], t[3], _at(t[4], where), t[5])


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
    Column: ("name", "type", "default", "not_null", "location", "default_sql"),
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
