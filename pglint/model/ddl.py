"""DDL statements read into catalog operations: the tuples `Catalog.apply_ops` replays (`CREATE
TABLE`, `ALTER TABLE`, `CREATE INDEX`, sequences, functions, triggers, drops, renames, enums
and role settings), each object with the Location of its defining statement."""

from __future__ import annotations

from typing import Any, Callable

from pglint.model.catalog import Column, ForeignKey, Index, Sequence, Table
from pglint.model.location import Location
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, iter_nodes


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
    column = Column(colname, typ, location=loc, type_sql=n.type_spelling(coldef.get("typeName")))
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
    if contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and con.get("indexname"):
        # ADD CONSTRAINT c PRIMARY KEY USING INDEX i: PostgreSQL renames i to c and makes it
        # the key; its columns are i's.
        name = con.get("conname") or con["indexname"]
        return [("key_using_index", name, con["indexname"], contype == "CONSTR_PRIMARY")]
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
        elif subtype == "AT_SetNotNull" and target:
            commands.append(("set_not_null", target, where(stmt.start, stmt.end).path))
        elif subtype == "AT_ColumnDefault":
            commands.append(("column_default", target, *default_kind(definition or None)))
        elif subtype == "AT_AddIdentity":
            commands.append(("add_identity", target))
        elif subtype == "AT_AlterColumnType" and "ColumnDef" in definition:
            type_node = definition["ColumnDef"].get("typeName")
            commands.append(("alter_type", target, n.type_name(type_node),
                             n.type_spelling(type_node), where(stmt.start, stmt.end).path,
                             stmt.start))
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
        # As the parser folded it: `"Result_typebotId_idx"` (Prisma quotes every name) keeps
        # its case, as the CREATE that made it did.
        name = n.qualified(items) if items else None
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
