"""The SQL that Django and Alembic migration operations send, as statements of the .py file.

`op.create_index(...)` and `migrations.AddIndex(...)` are statements PostgreSQL receives, as much
as the SQL in `op.execute("...")` is: this module renders each operation of a migration's
`upgrade()` (Alembic) or `operations` (Django) into the SQL the ORM sends for it, as
`sqlmigrate` or Alembic's offline mode would print it for PostgreSQL (SQLAlchemy's PostgreSQL
dialect, Django's PostgreSQL schema editor), parsed by PostgreSQL's parser. Each statement is
positioned at the operation's call (`exact` False, its SQL in `stmt.sql`) and says where it
comes from (`stmt.operation`, an `OperationSource`): the SQL rules see it in file order with the
SQL the migration runs itself, and a rule can offer the ORM's own recipe as its fix.

What the operation means is read once, by the schema readers (`alembic_schema`,
`django_schema`): the catalog operations they replay for the call are rendered here, with the
few arguments that change the SQL but not the catalog (`postgresql_concurrently=True`,
`AddIndexConcurrently`). The statements never feed the catalog a second time: the readers skip
statements that carry an `operation`.

Only what can lock a table is rendered, and only in the form the SQL rules judge: a table's
columns and foreign keys (not its defaults or comments), an index's columns (an expression
is `(NULL)`, a condition is left out). What an operation sends can depend on the state an
earlier migration left: a Django AlterField changes the column type only when it differs,
which the engine decides with the catalog (`statements_sent`); its NOT NULL, UNIQUE and foreign
key changes, AlterUniqueTogether and AlterIndexTogether (the catalog keeps no record of what
they were before) are not rendered. Neither are operations in a branch for another database
(`if op.get_bind().dialect.name == "sqlite":`), Alembic's `downgrade()`, nor RunPython.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from pglint.model.catalog import Index, Table
from pglint.sql import nodes as n
from pglint.sql.parse import Statement, parse_sql

if TYPE_CHECKING:
    from pglint.python.pyfile import PythonFile


@dataclass(frozen=True)
class OperationSource:
    """The migration operation a statement comes from."""

    framework: str  # "alembic" or "django"
    name: str  # the operation: "create_index" (op.create_index), "AddIndex"
    start: int  # the call's span in the file
    end: int
    # Alembic: the call runs inside `with op.get_context().autocommit_block():`, outside the
    # revision's transaction.
    autocommit: bool = False
    # (table, column, type): the statement is sent only when the column's type before the
    # operation is known and differs (Django's AlterField compares the old and new field);
    # `statements_sent` decides, once the catalog is known.
    unless_type: tuple[str, str, str] | None = None


class _AtCall:
    """Every byte of the rendered SQL maps to the call's first character: a finding on any
    node of the statement points at the operation."""

    def __call__(self, byte_offset: int) -> int:
        return 0

    def char(self, char_offset: int) -> int:
        return 0

    def end(self, char_offset: int) -> int:
        return 0


_AT_CALL = _AtCall()


def operation_statements(tree: PythonFile, kind: str, where: Callable, path: Any
                         ) -> list[Statement]:
    """The statements the operations of the migration `tree` (CPython's tree of the file, of
    `kind` "alembic" or "django", see schema.migration_kind) send, in file order, positioned
    at their calls."""
    if kind == "alembic":
        from pglint.python.alembic_schema import AlembicMigration

        reader: Any = AlembicMigration(tree, where, None)
        renderers = _ALEMBIC
    elif kind == "django":
        from pglint.python.django_schema import DjangoMigration

        reader = DjangoMigration(tree, where, None, path)
        renderers = _DJANGO
    else:
        return []
    reader.ops()
    out: list[Statement] = []
    for call, name, ops in reader.calls:
        render = renderers.get(name)
        if render is None or _other_dialect_branch(tree, call):
            continue
        start, end = tree.span(call)
        source = OperationSource(kind, name, start, end,
                                 kind == "alembic" and _in_autocommit_block(tree, call))
        for sql in render(reader, call, ops):
            if isinstance(sql, tuple):  # (SQL, (table, column, type)): see unless_type
                sql, unless = sql
                out.extend(_statements(sql, replace(source, unless_type=unless)))
            else:
                out.extend(_statements(sql, source))
    out.sort(key=lambda s: s.start)
    return out


def statements_sent(parsed: Any, catalog: Any, path: str) -> Any:
    """`parsed` (a ParsedSQL) without the statements of operations that send them only on a
    condition the catalog says is not met: a Django AlterField whose column had the same type
    before (or one pglint cannot tell) changes no type. The catalog records, for each column,
    the type before each change and where it was made (this file's path, the call's offset)."""
    kept = []
    for stmt in parsed.statements:
        condition = stmt.operation.unless_type if stmt.operation is not None else None
        if condition is not None:
            table = catalog.table(condition[0])
            column = table.columns.get(condition[1]) if table is not None else None
            before = next((b for b, where, start in column.type_changes
                           if where == path and start == stmt.operation.start), None) \
                if column is not None else None
            if not before or before == condition[2]:
                continue
        kept.append(stmt)
    if len(kept) == len(parsed.statements):
        return parsed
    for i, stmt in enumerate(kept):
        stmt.index = i
    return replace(parsed, statements=kept)


def _statements(sql: str, source: OperationSource) -> list[Statement]:
    parsed = parse_sql(sql)
    if parsed.errors:
        return []  # a rendering PostgreSQL rejects (an odd name): nothing rather than noise
    out = []
    for stmt in parsed.statements:
        text = sql[stmt.start:stmt.end]
        out.append(Statement(stmt.node, source.start, source.end, source.start,
                             _AT_CALL, exact=False, sql=text,  # type: ignore[arg-type]
                             operation=source))
    return out


_POSTGRESQL = re.compile(r"""["'](?:postgresql|postgres|psycopg2?)["']""")
_OTHER_DIALECT = re.compile(r"""["'](?:sqlite|mysql|mariadb|mssql|oracle)["']""")


def _other_dialect_branch(tree: PythonFile, call: ast.Call) -> bool:
    """Whether `call` sits in the branch of an `if` on the database dialect that runs on
    another database (`if op.get_bind().dialect.name == "sqlite":`, or the `else` of a
    PostgreSQL test): PostgreSQL never receives that SQL."""
    child: ast.AST = call
    for ancestor in tree.ancestors(call):
        if isinstance(ancestor, ast.If):
            test = tree.code(ancestor.test)
            postgres, other = _POSTGRESQL.search(test), _OTHER_DIALECT.search(test)
            if "dialect" in test and bool(postgres) != bool(other):
                true_is_postgres = bool(postgres) != ("!=" in test or "not " in test)
                in_body = any(statement is child for statement in ancestor.body)
                if in_body != true_is_postgres:
                    return True
        child = ancestor
    return False


def _in_autocommit_block(tree: PythonFile, call: ast.Call) -> bool:
    """Whether `call` runs in a `with ...autocommit_block():` (Alembic's way out of the
    revision's transaction)."""
    return tree.in_with_block(call, "autocommit_block")


def _flag(reader: Any, call: Any, keyword: str) -> bool:
    from pglint.python.schema_reader import bool_value

    return bool_value(_args(reader, call).kw.get(keyword)) is True


# -- rendering catalog operations --------------------------------------------------------------


def _type(name: str) -> str:
    """A plain type name the catalog stores (`int8`, `varchar`, an enum's name), else `text`
    (the lock rules do not read a created table's column types)."""
    return name if name and _plain(name) else "text"


def _plain(name: str) -> bool:
    return name.replace("_", "a").isalnum() and name.isascii() and name == name.lower() \
        and not name[0].isdigit()


def _columns(columns: list) -> str:
    return ", ".join(n.quote_ident(c) if c else "(NULL)" for c in columns)


def index_sql(index: Index, concurrently: bool = False, if_not_exists: bool = False) -> str:
    """`CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON table [USING m] (...)`."""
    using = f" USING {index.method}" if index.method and index.method != "btree" else ""
    return (f"CREATE {'UNIQUE ' if index.unique else ''}INDEX "
            f"{'CONCURRENTLY ' if concurrently else ''}{'IF NOT EXISTS ' if if_not_exists else ''}"
            f"{n.quote_ident(index.name)} ON {n.quote_qualified(index.table)}{using} "
            f"({_columns(index.columns)})")


def table_sql(table: Table, parts: list[tuple], exists: bool, foreign_keys: bool) -> str:
    """`CREATE TABLE` with the table's columns and keys (and its foreign keys when they are
    inline)."""
    elements = [f"{n.quote_ident(p[1].name)} {_type(p[1].type)}" for p in parts
                if p[0] == "column"]
    elements += [key_sql(p[1]) for p in parts if p[0] == "key"]
    if foreign_keys:
        elements += [foreign_key_sql(p[1]) for p in parts if p[0] == "foreign_key"]
    return (f"CREATE TABLE {'IF NOT EXISTS ' if exists else ''}"
            f"{n.quote_qualified(table.name)} ({', '.join(elements)})")


def foreign_key_sql(fk: Any) -> str:
    referenced = f" ({_columns(fk.ref_columns)})" if fk.ref_columns else ""
    return (f"FOREIGN KEY ({_columns(fk.columns)}) REFERENCES "
            f"{n.quote_qualified(fk.ref_table)}{referenced}")


def _creates(ops: list[tuple], concurrently: bool, foreign_keys: bool) -> list[str]:
    """CREATE TABLE and CREATE INDEX operations as SQL (others are left to their renderer)."""
    out = []
    for op in ops:
        if op[0] == "create_table":
            out.append(table_sql(op[1], op[2], op[3], foreign_keys))
        elif op[0] == "create_index":
            out.append(index_sql(op[1], concurrently, op[2]))
    return out


def key_sql(index: Index) -> str:
    """`CONSTRAINT name UNIQUE (...)` / `PRIMARY KEY (...)` of a key the catalog keeps."""
    kind = "PRIMARY KEY" if index.primary else "UNIQUE"
    return f"CONSTRAINT {n.quote_ident(index.name)} {kind} ({_columns(index.columns)})"


def _add_keys(ops: list[tuple]) -> list[str]:
    """`ALTER TABLE ... ADD CONSTRAINT ... UNIQUE` for the keys of `alter_table` operations."""
    return [f"ALTER TABLE {n.quote_qualified(op[1])} ADD {key_sql(command[1])}"
            for op in ops if op[0] == "alter_table" for command in op[2] if command[0] == "key"]


def _args(reader: Any, call: Any) -> Any:
    """The arguments of `call` as the reader read them (a batch operation's table put where
    `op.<method>` takes it), or as written for a call it did not record (a nested column)."""
    from pglint.python.schema_reader import CallArgs

    return reader.call_args.get(id(call)) or CallArgs(call)


def _name(reader: Any, node: Any) -> str | None:
    from pglint.python.schema_reader import string_value

    return string_value(node)


def _constraint(name: str | None) -> str:
    return f"CONSTRAINT {n.quote_ident(name)} " if name else ""


def _dropped_indexes(ops: list[tuple]) -> list[str]:
    return [name for op in ops if op[0] == "drop" and op[1] == "OBJECT_INDEX" for name in op[2]]


# -- Alembic (SQLAlchemy's PostgreSQL dialect) -------------------------------------------------


def _alembic_create_table(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _creates(ops, False, True)  # SQLAlchemy writes foreign keys in the CREATE TABLE


def _alembic_create_index(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _creates(ops, _flag(reader, call, "postgresql_concurrently"), False)


def _alembic_drop_index(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    concurrently = "CONCURRENTLY " if _flag(reader, call, "postgresql_concurrently") else ""
    exists = "IF EXISTS " if _flag(reader, call, "if_exists") else ""
    return [f"DROP INDEX {concurrently}{exists}{n.quote_qualified(name)}"
            for name in _dropped_indexes(ops)]


def _not_valid(reader: Any, call: Any) -> str:
    return " NOT VALID" if _flag(reader, call, "postgresql_not_valid") else ""


def _alembic_create_foreign_key(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    name = _name(reader, _args(reader, call).get(0, "constraint_name"))
    return [f"ALTER TABLE {n.quote_qualified(op[1])} ADD {_constraint(name)}"
            f"{foreign_key_sql(command[1])}{_not_valid(reader, call)}"
            for op in ops if op[0] == "alter_table" for command in op[2]
            if command[0] == "foreign_key"]


def _alembic_create_check_constraint(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    from pglint.python.schema_reader import schema_qualified

    args = _args(reader, call)
    table = _name(reader, args.get(1, "table_name"))
    if not table:
        return []
    condition = args.get(2, "condition")
    sql = _name(reader, condition)
    if sql is None:
        sql = reader._text(condition) if condition is not None else None
    table = schema_qualified(table, _name(reader, args.kw.get("schema")))
    return [f"ALTER TABLE {n.quote_qualified(table)} ADD "
            f"{_constraint(_name(reader, args.get(0, 'constraint_name')))}"
            f"CHECK ({sql or 'true'}){_not_valid(reader, call)}"]


def _alembic_add_keys(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _add_keys(ops)


def _alembic_server_default(reader: Any, node: Any) -> str | None:
    """The SQL of a `server_default=`: a string is a literal, `sa.text()`/`sa.func` SQL."""
    from pglint.python.schema_reader import sql_literal

    literal = _name(reader, node)
    if literal is not None:
        return sql_literal(literal)
    return reader._text(node)


def _column_sql(column: Any, default: str | None) -> str:
    """A column definition: name, type (with its modifiers), default, NOT NULL."""
    typ = column.type if column.default == "serial" else (column.type_sql or _type(column.type))
    typ = typ if _plain(typ.split("(")[0].rstrip("[]")) else "text"
    sql = f"{n.quote_ident(column.name)} {typ}"
    if column.default == "identity":
        sql += " GENERATED BY DEFAULT AS IDENTITY"
    elif default:
        sql += f" DEFAULT {default}"
    return sql + (" NOT NULL" if column.not_null else "")


def _alembic_add_column(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """`ADD COLUMN` with the column's server default and NOT NULL, then its constraints
    (ALTER TABLEs of their own) and its index, as Alembic sends them."""
    from pglint.python.schema_reader import bool_value, is_none

    node = _args(reader, call).get(1, "column")
    server_default = _args(reader, node).kw.get("server_default") \
        if isinstance(node, ast.Call) else None
    default = _alembic_server_default(reader, server_default) \
        if server_default is not None else None
    if default is None and server_default is not None and not is_none(server_default) and \
            bool_value(server_default) is not False:
        # An expression pglint does not evaluate (`str(20)`, `Precision.FLOAT.name`): a
        # constant default all the same, which fills the existing rows.
        default = "NULL"
    out = []
    for op in ops:
        if op[0] != "alter_table":
            continue
        table = n.quote_qualified(op[1])
        for command in op[2]:
            if command[0] == "column":
                out.append(f"ALTER TABLE {table} ADD COLUMN "
                           f"{_column_sql(command[1], default or None)}")
        out += _add_keys([op])
        out += [f"ALTER TABLE {table} ADD {foreign_key_sql(command[1])}" for command in op[2]
                if command[0] == "foreign_key"]
    return out + _creates(ops, False, False)


def _alembic_alter_column(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """One ALTER TABLE per change, as Alembic sends them: type (USING), NOT NULL, default,
    name."""
    from pglint.python.schema_reader import bool_value, is_none, schema_qualified

    args = _args(reader, call)
    table, column = _name(reader, args.get(0, "table_name")), _name(reader, args.get(1,
                                                                                    "column_name"))
    if not table or not column:
        return []
    target = n.quote_qualified(schema_qualified(table, _name(reader, args.kw.get("schema"))))
    alter = f"ALTER TABLE {target} ALTER COLUMN {n.quote_ident(column)}"
    out = []
    for op in ops:
        for command in op[2] if op[0] == "alter_table" else ():
            if command[0] == "alter_type":
                spelled = command[3] if len(command) > 3 and command[3] else command[2]
                using = _name(reader, args.kw.get("postgresql_using"))
                out.append(f"{alter} TYPE {spelled}" + (f" USING {using}" if using else ""))
    nullable = bool_value(args.kw.get("nullable"))
    if nullable is not None:
        out.append(f"{alter} {'DROP' if nullable else 'SET'} NOT NULL")
    if "server_default" in args.kw:
        node = args.kw["server_default"]
        default = None if is_none(node) or bool_value(node) is False \
            else _alembic_server_default(reader, node)
        out.append(f"{alter} SET DEFAULT {default}" if default else f"{alter} DROP DEFAULT")
    new = _name(reader, args.kw.get("new_column_name"))
    if new:
        out.append(f"ALTER TABLE {target} RENAME COLUMN {n.quote_ident(column)} TO "
                   f"{n.quote_ident(new)}")
    return out


def _alembic_drop_column(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return [f"ALTER TABLE {n.quote_qualified(op[1])} DROP COLUMN {n.quote_ident(command[1])}"
            for op in ops if op[0] == "alter_table" for command in op[2]
            if command[0] == "drop_column"]


def _drop_tables(ops: list[tuple], cascade: str = "") -> list[str]:
    return [f"DROP TABLE {n.quote_qualified(name)}{cascade}" for op in ops
            if op[0] == "drop" and op[1] == "OBJECT_TABLE" for name in op[2]]


def _alembic_drop_table(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _drop_tables(ops)


def _drop_constraints(ops: list[tuple]) -> list[str]:
    return [f"ALTER TABLE {n.quote_qualified(op[1])} DROP CONSTRAINT {n.quote_ident(command[1])}"
            for op in ops if op[0] == "alter_table" for command in op[2]
            if command[0] == "drop_constraint"]


def _renames(ops: list[tuple]) -> list[str]:
    """`ALTER TABLE ... RENAME TO` / `RENAME COLUMN` of the catalog's rename operations."""
    out = []
    for op in ops:
        if op[0] != "rename":
            continue
        kind, target, new, old = op[1:5]
        if kind == "OBJECT_TABLE":
            out.append(f"ALTER TABLE {n.quote_qualified(target)} RENAME TO {n.quote_ident(new)}")
        elif kind == "OBJECT_COLUMN":
            out.append(f"ALTER TABLE {n.quote_qualified(target)} RENAME COLUMN "
                       f"{n.quote_ident(old)} TO {n.quote_ident(new)}")
    return out


def _sent_drop_constraints(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """Alembic's drop_constraint, Django's RemoveConstraint (a conditional UniqueConstraint is
    an index, dropped with DROP INDEX: the same lock)."""
    return _drop_constraints(ops)


def _sent_renames(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """Alembic's rename_table, Django's RenameField, RenameModel and AlterModelTable."""
    return _renames(ops)


_ALEMBIC: dict[str, Callable[[Any, Any, list[tuple]], list[str]]] = {
    "drop_constraint": _sent_drop_constraints,
    "rename_table": _sent_renames,
    "add_column": _alembic_add_column,
    "alter_column": _alembic_alter_column,
    "drop_column": _alembic_drop_column,
    "drop_table": _alembic_drop_table,
    "create_table": _alembic_create_table,
    "create_index": _alembic_create_index,
    "drop_index": _alembic_drop_index,
    "create_foreign_key": _alembic_create_foreign_key,
    "create_check_constraint": _alembic_create_check_constraint,
    "create_unique_constraint": _alembic_add_keys,
    "create_primary_key": _alembic_add_keys,
}


# -- Django (its PostgreSQL schema editor) -----------------------------------------------------


def _django_create_model(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    # Django adds a new table's foreign keys after it (deferred ALTER TABLEs of the new table).
    return _creates(ops, False, False)


def _django_add_index(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _creates(ops, False, False)


def _django_add_index_concurrently(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _creates(ops, True, False)


def _django_remove_index(reader: Any, call: Any, ops: list[tuple],
                         concurrently: bool = False) -> list[str]:
    word = "CONCURRENTLY " if concurrently else ""
    return [f"DROP INDEX {word}IF EXISTS {n.quote_qualified(name)}"
            for name in _dropped_indexes(ops)]


def _django_remove_index_concurrently(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _django_remove_index(reader, call, ops, True)


def _django_add_constraint(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """A UniqueConstraint is a key (or, with a condition or expressions, a unique index, as
    the reader says); a CheckConstraint an `ADD CONSTRAINT ... CHECK`."""
    out = _add_keys(ops) + _creates(ops, False, False)
    args = _args(reader, call)
    node = args.get(1, "constraint")
    if isinstance(node, ast.Call) and reader.name(node, ("django",)) == "CheckConstraint":
        check = _args(reader, node)
        model = reader._model(_name(reader, args.get(0, "model_name")))
        condition = check.kw.get("condition", check.kw.get("check"))
        sql = reader._q_sql(model, condition, set()) if condition is not None else None
        out.append(f"ALTER TABLE {n.quote_qualified(model.table)} ADD "
                   f"{_constraint(_name(reader, check.kw.get('name')))}CHECK ({sql or 'true'})")
    return out


# Field classes whose empty value is the empty string: a NOT NULL one with `blank=True` and
# no default gets '' for the existing rows (Django's effective default).
_STRING_FIELDS = frozenset({"CharField", "TextField", "SlugField", "EmailField", "URLField",
                            "FileField", "ImageField", "FilePathField", "CICharField",
                            "CIEmailField", "CITextField", "GenericIPAddressField"})


def _django_default(reader: Any, field: Any, column: Any) -> str | None:
    """The default Django's schema editor puts on a column it adds for the existing rows
    (dropped right after), as SQL: `default=` (a literal as it is, anything else a constant
    Django computes once), '' for a blank string field, the time for `auto_now(_add)`."""
    from pglint.python.schema_reader import literal_value, sql_literal

    kind = reader.name(field, ("django",)) or ""
    args = _args(reader, field)
    if "default" in args.kw:
        value = literal_value(args.kw["default"])
        return (sql_literal(value) if value is not None else None) or "'<default>'"
    if column.not_null and literal_value(args.kw.get("blank")) is True and \
            kind in _STRING_FIELDS:
        return "''"
    if literal_value(args.kw.get("auto_now")) is True or \
            literal_value(args.kw.get("auto_now_add")) is True:
        return "'<now>'"  # computed by Django once: a constant for the database
    return None


def _django_add_field(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    """`ADD COLUMN` with the default Django sends for the existing rows (then dropped), its
    UNIQUE and its foreign key inline, then the index Django builds for it."""
    field = _args(reader, call).get(2, "field")
    if not isinstance(field, ast.Call):
        return []
    out = []
    for op in ops:
        if op[0] != "alter_table":
            continue
        table = n.quote_qualified(op[1])
        commands = op[2]
        for command in commands:
            if command[0] != "column":
                continue
            column = command[1]
            db_default = column.default_sql if column.default not in ("", "serial",
                                                                       "identity") else ""
            default = db_default or _django_default(reader, field, column)
            sql = f"ALTER TABLE {table} ADD COLUMN {_column_sql(column, default)}"
            if any(c[0] == "key" and not c[1].primary for c in commands):
                sql += " UNIQUE"
            for fk in (c[1] for c in commands if c[0] == "foreign_key"):
                referenced = f" ({_columns(fk.ref_columns)})" if fk.ref_columns else ""
                sql += (f" REFERENCES {n.quote_qualified(fk.ref_table)}{referenced} "
                        "DEFERRABLE INITIALLY DEFERRED")
            out.append(sql)
            if default and not db_default:
                out.append(f"ALTER TABLE {table} ALTER COLUMN {n.quote_ident(column.name)} "
                           "DROP DEFAULT")
    return out + _creates(ops, False, False)


def _django_alter_field(reader: Any, call: Any, ops: list[tuple]) -> list[Any]:
    """`ALTER COLUMN ... TYPE ... USING col::type`, as Django sends it when the field's column
    type changes (only then: see statements_sent). What else an AlterField may send (NOT NULL,
    UNIQUE, a foreign key) depends on the field as an earlier migration left it, which the
    catalog does not record: not rendered."""
    out: list[Any] = []
    for op in ops:
        for command in op[2] if op[0] == "alter_table" else ():
            if command[0] != "alter_type" or len(command) < 4 or not command[3]:
                continue
            column, spelled = n.quote_ident(command[1]), command[3]
            if not _plain(spelled.split("(")[0]):
                continue
            out.append((f"ALTER TABLE {n.quote_qualified(op[1])} ALTER COLUMN {column} TYPE "
                        f"{spelled} USING {column}::{spelled}", (op[1], command[1], spelled)))
    return out


def _django_remove_field(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return [f"ALTER TABLE {n.quote_qualified(op[1])} DROP COLUMN {n.quote_ident(command[1])} "
            "CASCADE" for op in ops if op[0] == "alter_table" for command in op[2]
            if command[0] == "drop_column"]


def _django_delete_model(reader: Any, call: Any, ops: list[tuple]) -> list[str]:
    return _drop_tables(ops, " CASCADE")


_DJANGO: dict[str, Callable[[Any, Any, list[tuple]], list[Any]]] = {
    "RenameField": _sent_renames,
    "RenameModel": _sent_renames,
    "AlterModelTable": _sent_renames,
    "RemoveConstraint": _sent_drop_constraints,
    "AddField": _django_add_field,
    "AlterField": _django_alter_field,
    "RemoveField": _django_remove_field,
    "DeleteModel": _django_delete_model,
    "AddConstraint": _django_add_constraint,
    "CreateModel": _django_create_model,
    "AddIndex": _django_add_index,
    "AddIndexConcurrently": _django_add_index_concurrently,
    "RemoveIndex": _django_remove_index,
    "RemoveIndexConcurrently": _django_remove_index_concurrently,
}

__all__ = ["OperationSource", "foreign_key_sql", "index_sql", "operation_statements",
           "statements_sent", "table_sql"]
