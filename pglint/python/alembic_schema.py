"""Catalog operations of an Alembic migration's `upgrade()` (`op.create_table`,
`op.create_index`, `op.add_column`, batch operations, `op.execute`), with SQLAlchemy's column
types and defaults as PostgreSQL ends up with them: see `pglint.python.schema`."""

from __future__ import annotations

import ast
import re
from typing import Any

from pglint.model.catalog import Column, ForeignKey, Index, Sequence, Table
from pglint.model.ddl import columns_read, serial_sequence_name
from pglint.python.schema_reader import (
    CallArgs, MigrationReader, bare_name, bool_value, default_of_sql, elements, is_none,
    literal_value, parse_expression, parse_predicate, schema_qualified, sql_literal, string_list,
    string_value, upgrade_function,
)

_SA = ("sqlalchemy", "sqlalchemy_utils", "geoalchemy2", "alembic")

# SQLAlchemy type names (lowercase) -> the type name the catalog stores for the SQL type.
_SA_TYPES = {
    "biginteger": "int8", "bigint": "int8", "integer": "int4", "int": "int4",
    "smallinteger": "int2", "smallint": "int2", "string": "varchar", "varchar": "varchar",
    "unicode": "varchar", "nvarchar": "varchar", "char": "bpchar", "nchar": "bpchar",
    "text": "text", "unicodetext": "text", "clob": "text", "boolean": "bool",
    "datetime": "timestamp", "timestamp": "timestamp", "date": "date", "time": "time",
    "interval": "interval", "float": "float8", "double": "float8", "double_precision": "float8",
    "real": "float4", "numeric": "numeric", "decimal": "numeric", "largebinary": "bytea",
    "bytea": "bytea", "binary": "bytea", "varbinary": "bytea", "json": "json",
    "jsonb": "jsonb", "uuid": "uuid", "uuidtype": "uuid", "inet": "inet", "cidr": "cidr",
    "macaddr": "macaddr", "money": "money", "oid": "oid", "tsvector": "tsvector",
    "hstore": "hstore", "citext": "citext", "bit": "bit", "enum": "",
}
_SA_INTEGERS = {"int8": "bigserial", "int4": "serial", "int2": "smallserial"}
# SQL-standard functions SQLAlchemy renders without parentheses (`sa.func.current_timestamp()`).
_NO_PARENS = {"current_timestamp", "current_date", "current_time", "localtimestamp", "localtime",
              "current_user", "session_user"}


class AlembicMigration(MigrationReader):
    def ops(self) -> list[tuple]:
        upgrade = upgrade_function(self.tree)
        if upgrade is None:
            return []
        batches: dict[str, tuple[str, Any]] = {}  # `batch_op` -> (table, schema node)
        for node in self.tree.descendants(upgrade):
            if isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and self._op(call) == "batch_alter_table" \
                            and isinstance(item.optional_vars, ast.Name):
                        args = CallArgs(call)
                        table = string_value(args.get(0, "table_name"))
                        if table:
                            batches[item.optional_vars.id] = (table, args.kw.get("schema"))
            elif isinstance(node, ast.Call):
                method, batch = self._op(node), None
                func = node.func
                if method is None and isinstance(func, ast.Attribute) and isinstance(
                        func.value, ast.Name) and func.value.id in batches:
                    method, batch = func.attr, batches[func.value.id]
                if method is not None:
                    self._call(node, method, batch)
        if self.statements:
            # From the first decorator, as the function's code goes.
            first = upgrade.decorator_list[0] if upgrade.decorator_list else upgrade
            self.replay_sql(self.tree.span(first)[0], self.tree.span(upgrade)[1])
        return self.result()

    def _op(self, call: Any) -> str | None:
        """`create_table` for `op.create_table(...)` (through the file's imports)."""
        qualified = self.tree.qualified(call.func) or ""
        if qualified.startswith("alembic.op."):
            return qualified[len("alembic.op."):]
        if qualified.startswith("op.") and qualified.count(".") == 1 and self._op_parameter:
            return qualified[len("op."):]  # `op` handed to upgrade() by a plugin runner
        return None

    @property
    def _op_parameter(self) -> bool:
        """Whether `upgrade()` is handed Alembic's `op` by its runner (and `op` is no import)."""
        if "_takes_op" not in self.__dict__:
            upgrade = upgrade_function(self.tree)
            self.__dict__["_takes_op"] = "op" not in self.tree.import_names and \
                upgrade is not None and any(a.arg == "op" for a in upgrade.args.args)
        return self.__dict__["_takes_op"]

    def _call(self, call: Any, method: str, batch: tuple[str, Any] | None) -> None:
        handler = getattr(self, "_op_" + method, None)
        if handler is None:
            return
        args = CallArgs(call)
        schema_node = args.kw.get("schema")
        if batch is not None:
            # A batch operation names no table: put it where `op.<method>` takes it.
            slot = _BATCH_TABLE_SLOT.get(method)
            if slot is None:
                return
            args.pos.insert(slot, batch[0])
            schema_node = batch[1]
        schema = string_value(schema_node)
        self.emit_call(call, method, handler(call, args, schema),
                       args if batch is not None else None)

    # -- operations ------------------------------------------------------------------------

    def _op_create_table(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "table_name"))
        if not name:
            return []
        table_name = schema_qualified(name, schema)
        loc = self.at(call)
        table = Table(table_name, location=loc, path=loc.path)
        with_ = literal_value(args.kw.get("postgresql_with"))
        if isinstance(with_, dict):
            table.options.update({k.lower(): v for k, v in with_.items()})
        table.partitioned = "postgresql_partition_by" in args.kw
        columns, constraints, indexes = self._elements(table_name, args.pos[1:])
        # The primary key: columns flagged primary_key=True and a PrimaryKeyConstraint.
        pk = [c.name for c, _, info in columns if info["primary"]]
        pk_name, pk_node = None, next((n for _, n, info in columns if info["primary"]), None)
        for con in constraints:
            if con[0] == "primary":
                pk = list(dict.fromkeys(pk + con[1]))
                pk_name, pk_node = con[2], con[3]
        parts: list[tuple] = []
        ops_after: list[tuple] = []
        for column, _, info in columns:
            self._autoincrement(table_name, column, info, pk, parts)
        if pk and pk_node is not None:
            parts.append(self._key(table_name, pk, True, pk_name, pk_node))
        for column, node, info in columns:
            parts.extend(self._column_extras(table_name, column, node, info, ops_after))
        for con in constraints:
            if con[0] != "primary":
                parts.extend(self._constraint(table_name, con))
        ops_after.extend(("create_index", index, False) for index in indexes)
        exists = bool_value(args.kw.get("if_not_exists")) or False
        return [("create_table", table, parts, exists)] + ops_after

    def _op_add_column(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "table_name"))
        node = args.get(1, "column")
        if not name or not isinstance(node, ast.Call):
            return []
        table_name = schema_qualified(name, schema)
        read = self._column(table_name, node)
        if read is None:
            return []
        column, info = read
        commands: list[tuple] = []
        ops_after: list[tuple] = []
        self._autoincrement(table_name, column, info, [column.name] if info["primary"] else [],
                            commands)
        commands.extend(self._column_extras(table_name, column, node, info, ops_after))
        if info["primary"]:
            commands.append(self._key(table_name, [column.name], True, None, node))
        return [("alter_table", table_name, commands)] + ops_after

    def _op_drop_column(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "table_name"))
        column = string_value(args.get(1, "column_name"))
        if not name or not column:
            return []
        return [("alter_table", schema_qualified(name, schema), [("drop_column", column)])]

    def _op_drop_table(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "table_name"))
        return [("drop", "OBJECT_TABLE", [schema_qualified(name, schema)])] if name else []

    def _op_drop_index(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "index_name"))
        return [("drop", "OBJECT_INDEX", [name])] if name else []

    def _op_rename_table(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        old = string_value(args.get(0, "old_table_name"))
        new = string_value(args.get(1, "new_table_name"))
        if not old or not new:
            return []
        return [("rename", "OBJECT_TABLE", schema_qualified(old, schema), new, None)]

    def _op_create_index(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "index_name"))
        table = string_value(args.get(1, "table_name"))
        columns = args.get(2, "columns")
        if not table or columns is None:
            return []
        items = elements(columns) if isinstance(columns, (ast.List, ast.Tuple)) else [columns]
        index = self._index(schema_qualified(table, schema), name, items, args.kw, call)
        exists = bool_value(args.kw.get("if_not_exists")) or False
        return [("create_index", index, exists)] if index is not None else []

    def _op_create_unique_constraint(self, call: Any, args: CallArgs,
                                     schema: str | None) -> list[tuple]:
        return self._add_key(call, args, schema, primary=False)

    def _op_create_check_constraint(self, call: Any, args: CallArgs,
                                    schema: str | None) -> list[tuple]:
        return []  # the catalog keeps no checks; the call's SQL is rendered (operation_sql)

    def _op_create_primary_key(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        return self._add_key(call, args, schema, primary=True)

    def _add_key(self, call: Any, args: CallArgs, schema: str | None, primary: bool) -> list[tuple]:
        name = string_value(args.get(0, "constraint_name"))
        table = string_value(args.get(1, "table_name"))
        columns = string_list(args.get(2, "columns"))
        if not table or not columns:
            return []
        table_name = schema_qualified(table, schema)
        return [("alter_table", table_name, [self._key(table_name, columns, primary, name,
                                                        call)])]

    def _op_create_foreign_key(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        source = string_value(args.get(1, "source_table"))
        referent = string_value(args.get(2, "referent_table"))
        local = string_list(args.get(3, "local_cols"))
        remote = string_list(args.get(4, "remote_cols")) or []
        if not source or not referent or not local:
            return []
        ref_schema = string_value(args.kw.get("referent_schema"))
        table_name = schema_qualified(source, schema)
        return [("alter_table", table_name, [("foreign_key", ForeignKey(
            table_name, local, schema_qualified(referent, ref_schema), remote))])]

    def _op_drop_constraint(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        name = string_value(args.get(0, "constraint_name"))
        table = string_value(args.get(1, "table_name"))
        if not name or not table:
            return []
        return [("alter_table", schema_qualified(table, schema), [("drop_constraint", name)])]

    def _op_alter_column(self, call: Any, args: CallArgs, schema: str | None) -> list[tuple]:
        table = string_value(args.get(0, "table_name"))
        column = string_value(args.get(1, "column_name"))
        if not table or not column:
            return []
        table_name = schema_qualified(table, schema)
        commands: list[tuple] = []
        if "type_" in args.kw:
            typ = self._type(args.kw["type_"])[0]
            if typ:
                # Placed like an SQL `ALTER COLUMN ... TYPE` (pglint.kit.rewrites reads it).
                commands.append(("alter_type", column, typ,
                                 self._spelling(args.kw["type_"], typ), self.at(call).path,
                                 self.tree.span(call)[0]))
        if "server_default" in args.kw:
            node = args.kw["server_default"]
            kind, sql = ("", "") if is_none(node) \
                else self._server_default(node)
            commands.append(("column_default", column, kind, sql))
        ops: list[tuple] = [("alter_table", table_name, commands)] if commands else []
        new = string_value(args.kw.get("new_column_name"))
        if new:
            ops.append(("rename", "OBJECT_COLUMN", table_name, new, column))
        return ops

    # -- tables ----------------------------------------------------------------------------

    def _elements(self, table: str, nodes: list[Any]
                  ) -> tuple[list[tuple[Column, Any, dict]], list[tuple], list[Index]]:
        """The columns, constraints and indexes among `op.create_table`'s arguments."""
        columns: list[tuple[Column, Any, dict]] = []
        constraints: list[tuple] = []
        indexes: list[Index] = []
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            kind = self.name(node, _SA)
            if kind == "Column":
                read = self._column(table, node)
                if read is not None:
                    columns.append((read[0], node, read[1]))
            elif kind in ("PrimaryKeyConstraint", "UniqueConstraint"):
                args = CallArgs(node)
                cols = [s for s in (string_value(p) for p in args.pos) if s]
                if cols:
                    constraints.append(("primary" if kind == "PrimaryKeyConstraint" else "unique",
                                        cols, string_value(args.kw.get("name")), node))
            elif kind == "ForeignKeyConstraint":
                args = CallArgs(node)
                local = string_list(args.get(0, "columns"))
                remote = string_list(args.get(1, "refcolumns"))
                if local and remote:
                    ref_table, ref_columns = _split_reference(remote)
                    if ref_table:
                        constraints.append(("foreign", local, ref_table, ref_columns))
            elif kind == "Index":
                args = CallArgs(node)
                index = self._index(table, string_value(args.get(0, "name")),
                                    args.pos[1:], args.kw, node)
                if index is not None:
                    indexes.append(index)
        return columns, constraints, indexes

    def _column(self, table: str, call: Any) -> tuple[Column, dict] | None:
        """The column of an `sa.Column(...)` call and what else it declares."""
        args = CallArgs(call)
        name = string_value(args.get(0, "name"))
        if not name:
            return None
        type_node = args.kw.get("type_")
        rest = args.pos[1:]
        if type_node is None and rest and string_value(rest[0]) is None and not (
                isinstance(rest[0], ast.Call) and self.name(rest[0], _SA) in (
                    "ForeignKey", "Identity", "Sequence", "Computed")):
            type_node, rest = rest[0], rest[1:]
        typ, integer = self._type(type_node) if type_node is not None else ("", False)
        loc = self.at(call)
        column = Column(name, typ, location=loc, type_sql=self._spelling(type_node, typ))
        info: dict[str, Any] = {
            "primary": bool_value(args.kw.get("primary_key")) or False,
            "unique": bool_value(args.kw.get("unique")) or False,
            "index": bool_value(args.kw.get("index")) or False,
            "integer": integer, "identity": None, "sequence": None, "foreign": [],
            "autoincrement": "auto", "client_default": "default" in args.kw,
            "server_default": "server_default" in args.kw, "loc": loc,
        }
        auto = args.kw.get("autoincrement")
        if auto is not None:
            flag = bool_value(auto)
            info["autoincrement"] = flag if flag is not None \
                else (string_value(auto) or "auto")
        nullable = bool_value(args.kw.get("nullable"))
        column.not_null = info["primary"] or nullable is False
        if info["server_default"]:
            column.default, column.default_sql = self._server_default(args.kw["server_default"])
        for item in rest:
            kind = self.name(item, _SA) if isinstance(item, ast.Call) else None
            if kind == "ForeignKey":
                target = string_value(CallArgs(item).get(0, "column"))
                if target:
                    info["foreign"].append(target)
            elif kind == "Identity":
                info["identity"] = CallArgs(item)
            elif kind == "Sequence":
                info["sequence"] = CallArgs(item)
        return column, info

    def _autoincrement(self, table: str, column: Column, info: dict, pk: list[str],
                       parts: list[tuple]) -> None:
        """Identity, Sequence() and SQLAlchemy's SERIAL for an autoincrementing integer key."""
        parts.append(("column", column))
        sequence_name = serial_sequence_name(table, column.name)
        if info["identity"] is not None:
            column.default, column.default_sql = "identity", ""
            cache = literal_value(info["identity"].kw.get("cache"))
            parts.append(("sequence", Sequence(sequence_name, int(cache or 1),
                                               (table, column.name), info["loc"])))
            return
        if info["sequence"] is not None:
            args = info["sequence"]
            name = string_value(args.get(0, "name"))
            if name:
                seq_schema = string_value(args.kw.get("schema"))
                cache = literal_value(args.kw.get("cache"))
                column.default, column.default_sql = "nextval", ""
                parts.append(("sequence", Sequence(schema_qualified(name, seq_schema),
                                                   int(cache or 1), None, info["loc"])))
            return
        auto = info["autoincrement"]
        if column.name not in pk or not info["integer"] or auto is False or \
                info["server_default"] or info["client_default"]:
            return
        if len(pk) > 1 and auto is not True:
            return  # "auto" applies to a single-column integer primary key only
        if info["foreign"] and auto not in (True, "ignore_fk"):
            return
        serial = _SA_INTEGERS.get(column.type)
        if serial:
            column.type, column.default, column.default_sql = serial, "serial", ""
            parts.append(("sequence", Sequence(sequence_name, 1, (table, column.name),
                                               info["loc"])))

    def _column_extras(self, table: str, column: Column, node: Any, info: dict,
                       ops_after: list[tuple]) -> list[tuple]:
        """The unique key and foreign keys a column declares (not its part of the primary
        key); its index goes to `ops_after`."""
        parts: list[tuple] = []
        if info["unique"] and not info["index"]:
            parts.append(self._key(table, [column.name], False, None, node))
        if info["index"]:
            bare = bare_name(table)
            ops_after.append(("create_index", Index(
                f"ix_{bare}_{column.name}", table, [column.name], unique=info["unique"],
                location=info["loc"], reads=frozenset({column.name})), False))
        for target in info["foreign"]:
            ref_table, ref_columns = _split_reference([target])
            if ref_table:
                parts.append(("foreign_key", ForeignKey(table, [column.name], ref_table,
                                                        ref_columns)))
        return parts

    def _constraint(self, table: str, con: tuple) -> list[tuple]:
        if con[0] == "foreign":
            return [("foreign_key", ForeignKey(table, con[1], con[2], con[3]))]
        return [self._key(table, con[1], con[0] == "primary", con[2], con[3])]

    def _key(self, table: str, columns: list[str], primary: bool, name: str | None,
             node: Any) -> tuple:
        bare = bare_name(table)
        name = name or (f"{bare}_pkey" if primary else f"{bare}_{'_'.join(columns)}_key")
        return ("key", Index(name, table, list(columns), "btree", unique=True, primary=primary,
                             location=self.at(node), constraint=True,
                             reads=frozenset(columns)))

    def _index(self, table: str, name: str | None, elements: list[Any], kw: dict[str, Any],
               node: Any) -> Index | None:
        """An `sa.Index(...)` / `op.create_index(...)`: names or SQL text per element."""
        columns: list[str | None] = []
        reads: set[str] = set()
        for element in elements:
            text = string_value(element)
            if text is not None and re.fullmatch(r"\w+", text):
                columns.append(text)
                reads.add(text)
                continue
            sql = text if text is not None else self._text(element)
            columns.append(None)
            expr = parse_expression(sql) if sql else None
            if expr is not None:
                reads |= columns_read(expr)
        if not columns:
            return None
        include = string_list(kw.get("postgresql_include")) or []
        reads |= set(include)
        predicate = None
        partial = "postgresql_where" in kw
        if partial:
            sql = self._text(kw["postgresql_where"])
            predicate = parse_predicate(sql) if sql else None
            if predicate is not None:
                reads |= columns_read(predicate)
        method = (string_value(kw.get("postgresql_using")) or "btree").lower()
        if not name:
            name = f"{bare_name(table)}_{'_'.join(c or 'expr' for c in columns)}_idx"
        return Index(name, table, columns, method,
                     unique=bool(bool_value(kw.get("unique"))),
                     partial=partial, location=self.at(node), reads=frozenset(reads - {"*"}),
                     predicate=predicate)

    # -- types and defaults ----------------------------------------------------------------

    def _type(self, node: Any) -> tuple[str, bool]:
        """(catalog type name, integer affinity) of an SQLAlchemy type (class or instance)."""
        call = node if isinstance(node, ast.Call) else None
        name = self.name(call if call is not None else node, _SA)
        if name is None:
            return "", False
        lowered = name.lower()
        args = CallArgs(call) if call is not None else None
        if lowered == "array" and args is not None and args.get(0, "item_type") is not None:
            return self._type(args.get(0, "item_type"))
        if lowered in ("enum",):
            enum_name = string_value(args.kw.get("name")) if args is not None else None
            return (enum_name or "").lower(), False
        typ = _SA_TYPES.get(lowered, lowered)
        if typ in ("timestamp", "time") and args is not None and bool_value(
                args.get(0, "timezone")):
            typ += "tz"
        return typ, typ in _SA_INTEGERS

    def _spelling(self, node: Any, typ: str) -> str:
        """The type with its modifiers, as pglint.sql.nodes.type_spelling spells SQL types:
        `String(50)` -> `varchar(50)`, `Numeric(10, 2)` -> `numeric(10,2)`; "" for an array
        or a modifier that is not a literal."""
        if not typ or node is None:
            return ""
        if not isinstance(node, ast.Call):
            return typ
        if (self.name(node, _SA) or "").lower() == "array":
            return ""
        args = CallArgs(node)
        slots = {"varchar": ("length",), "bpchar": ("length",), "bit": ("length",),
                 "numeric": ("precision", "scale"), "float8": (), "float4": ()}.get(typ)
        if slots is None:
            return typ
        mods = []
        for i, slot in enumerate(slots):
            value = literal_value(args.get(i, slot))
            if value is None:
                break
            if not isinstance(value, int) or isinstance(value, bool):
                return ""
            mods.append(str(value))
        return f"{typ}({','.join(mods)})" if mods else typ

    def _server_default(self, node: Any) -> tuple[str, str]:
        """(kind, SQL) of a `server_default=`: a string is a literal, text()/func are SQL."""
        literal = string_value(node)
        if literal is not None:
            return default_of_sql(sql_literal(literal) or "")
        sql = self._text(node)
        return default_of_sql(sql) if sql else ("other", "")

    def _text(self, node: Any) -> str | None:
        """SQL for `sa.text("...")`, `sa.literal_column("...")`, `sa.func.now()`,
        `sa.true()`/`sa.false()`/`sa.null()`; None for anything else."""
        if not isinstance(node, ast.Call):
            return None
        qualified = self.tree.qualified(node.func) or ""
        name = self.name(node, _SA)
        args = CallArgs(node)
        if name in ("text", "literal_column", "DefaultClause"):
            value = args.get(0)
            return string_value(value) if string_value(value) is not None \
                else self._text(value)
        if name in ("true", "false", "null") and not args.pos:
            return name
        parts = qualified.split(".")
        if "func" in parts[:-1]:
            function = parts[-1]
            if function.lower() in _NO_PARENS and not args.pos:
                return function.upper()
            values = [sql_literal(literal_value(a))
                      if literal_value(a) is not None else self._text(a)
                      for a in args.pos]
            if any(v is None for v in values):
                return None
            return f"{function}({', '.join(values)})"  # type: ignore[arg-type]
        return None


# op.<method>'s positional slot of the table name: where a batch operation's table goes.
_BATCH_TABLE_SLOT = {
    "add_column": 0, "drop_column": 0, "alter_column": 0, "create_index": 1,
    "create_unique_constraint": 1, "create_check_constraint": 1, "create_primary_key": 1,
    "create_foreign_key": 1, "drop_constraint": 1, "drop_index": 1,
}


def _split_reference(targets: list[str]) -> tuple[str | None, list[str]]:
    """`["customers.id"]` / `["billing.customers.id"]` -> ("customers", ["id"])."""
    tables, columns = set(), []
    for target in targets:
        parts = target.split(".")
        if len(parts) < 2:
            return None, []
        tables.add(schema_qualified(parts[-2], parts[-3] if len(parts) > 2 else None))
        columns.append(parts[-1])
    return (tables.pop(), columns) if len(tables) == 1 else (None, [])
