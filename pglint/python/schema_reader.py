"""What the Alembic and Django migration readers share: a call's arguments, Python literals
and their SQL spelling, SQL snippets parsed by PostgreSQL's parser, and `MigrationReader`, which
collects catalog operations in file order and replays the embedded SQL a migration runs.

The readers read CPython's tree of the file (`pglint.python.pyfile.PythonFile`)."""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterable

from pglint.model.ddl import catalog_ops, default_kind
from pglint.model.location import Location
from pglint.python.pyfile import PythonFile, call_args, dotted, last_name
from pglint.sql.nodes import quote_literal

Where = Callable[[int, int], Location]


def first_argument(call: ast.Call) -> ast.expr | None:
    """The value of a call's first argument as written (a keyword's, `*x`'s `x`), or None."""
    found = call_args(call)
    return found[0].value if found else None


def elements(node: Any) -> list[ast.expr]:
    """The items of a list, tuple or set display (`*x` as `x`), the values of a dict
    display (`**x` as `x`); [] for anything else."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [e.value if isinstance(e, ast.Starred) else e for e in node.elts]
    if isinstance(node, ast.Dict):
        return list(node.values)
    return []


class CallArgs:
    """A call's arguments: positional values and keywords (`**{...}` literal dicts included).
    A positional value may be a plain string standing for an argument that is not in the call
    (the table of a batch operation)."""

    def __init__(self, call: ast.Call) -> None:
        self.pos: list[Any] = []
        self.kw: dict[str, Any] = {}
        for keyword, value, star, _ in call_args(call):
            if keyword is not None:
                self.kw[keyword] = value
            elif star == "**" and isinstance(value, ast.Dict):
                for key, item in zip(value.keys, value.values):
                    name = string_value(key)
                    if name is not None:
                        self.kw[name] = item
            elif not star:
                self.pos.append(value)

    def get(self, index: int, name: str | None = None) -> Any:
        if name is not None and name in self.kw:
            return self.kw[name]
        return self.pos[index] if index < len(self.pos) else None


def string_value(node: Any) -> str | None:
    """A string literal's value (`op.f("name")` and `conv("name")` included), else None."""
    if isinstance(node, str):
        return node
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)) and \
            last_name(node.func) in ("f", "conv"):
        first = first_argument(node)
        return string_value(first) if first is not None else None
    return None


def string_list(node: Any) -> list[str] | None:
    """A list/tuple of string literals (a single string counts as one), else None."""
    single = string_value(node)
    if single is not None:
        return [single]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = [string_value(e) for e in elements(node)]
        return [s for s in out if s is not None] if all(s is not None for s in out) else None
    return None


def bool_value(node: Any) -> bool | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    return None


def is_none(node: Any) -> bool:
    """The literal `None`."""
    return isinstance(node, ast.Constant) and node.value is None


def literal_value(node: Any) -> Any:
    """A literal (string, number, boolean, None, or a dict/list of them) as Python, or None."""
    if isinstance(node, ast.Constant):
        value = node.value
        # Bytes, complex numbers and `...` are no literal an SQL reader takes.
        return value if value is None or isinstance(value, (str, bool, int, float)) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
            isinstance(node.operand, ast.Constant) and \
            type(node.operand.value) in (int, float):
        return -node.operand.value
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values):
            name = string_value(key)
            if name is not None:
                out[name] = literal_value(value)
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal_value(e) for e in elements(node)]
    return None


def sql_literal(value: Any) -> str | None:
    """A Python literal as an SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return quote_literal(value)
    return None


def parse_expression(sql: str) -> dict | None:
    """An SQL expression's pglast tree, or None if PostgreSQL's parser rejects it."""
    from pglint.sql.parse import parse_sql

    parsed = parse_sql(f"SELECT {sql}")
    if parsed.errors or len(parsed.statements) != 1:
        return None
    targets = parsed.statements[0].body.get("targetList") or ()
    return targets[0].get("ResTarget", {}).get("val") if len(targets) == 1 else None


def parse_predicate(sql: str) -> dict | None:
    """An SQL condition's pglast tree (an index's WHERE), or None."""
    from pglint.sql.parse import parse_sql

    parsed = parse_sql(f"SELECT WHERE {sql}")
    if parsed.errors or len(parsed.statements) != 1:
        return None
    return parsed.statements[0].body.get("whereClause")


def default_of_sql(sql: str) -> tuple[str, str]:
    """(default kind, SQL) of a default written as SQL, as the catalog reads `DEFAULT <sql>`."""
    expr = parse_expression(sql)
    return default_kind(expr) if expr is not None else ("other", "")


def schema_qualified(name: str, schema: str | None) -> str:
    return f"{schema}.{name}" if schema and schema != "public" else name


def bare_name(table: str) -> str:
    return table.split(".")[-1]


class MigrationReader:
    def __init__(self, tree: PythonFile, where: Where, statements: Iterable[Any] | None
                 ) -> None:
        self.tree, self.where = tree, where
        # The SQL the migration runs itself; the statements rendered from its operations
        # (pglint.python.operation_sql) are those operations, already read from the calls.
        self.statements = [s for s in statements or () if getattr(s, "parent", None) is None
                           and getattr(s, "operation", None) is None]
        # (file offset, order, operations): sorted into file order at the end.
        self.items: list[tuple[int, int, list[tuple]]] = []
        # (call, operation name, catalog operations) of each operation call read, in the order
        # read: what pglint.python.operation_sql renders as the SQL the operation sends.
        self.calls: list[tuple[Any, str, list[tuple]]] = []
        # id(call) -> the arguments as read, where they differ from the call's own (a batch
        # operation gets its table from `batch_alter_table`).
        self.call_args: dict[int, Any] = {}

    def at(self, node: Any) -> Location:
        return self.where(*self.tree.span(node))

    def emit(self, offset: int, ops: list[tuple]) -> None:
        if ops:
            self.items.append((offset, len(self.items), ops))

    def emit_call(self, call: Any, name: str, ops: list[tuple], args: Any = None) -> None:
        """The catalog operations of the operation call `call` (`create_index`, `AddIndex`),
        with the arguments read when they are not the call's own."""
        self.calls.append((call, name, ops))
        if args is not None:
            self.call_args[id(call)] = args
        self.emit(self.tree.span(call)[0], ops)

    def replay_sql(self, start: int, end: int) -> None:
        """Replay the embedded statements that start within [start, end)."""
        for stmt in self.statements:
            if start <= stmt.start < end:
                self.emit(stmt.start, catalog_ops(stmt, self.where))

    def result(self) -> list[tuple]:
        return [op for _, _, ops in sorted(self.items, key=lambda i: (i[0], i[1])) for op in ops]

    def name(self, node: Any, libraries: tuple[str, ...]) -> str | None:
        """The last part of a callee/type name that resolves to one of `libraries` (or is not
        imported at all: `Column` after a star import)."""
        target = node.func if isinstance(node, ast.Call) else node
        qualified = self.tree.qualified(target)
        if qualified is None:
            return None
        if qualified == dotted(target) or qualified.startswith(libraries):
            return qualified.rsplit(".", 1)[-1]
        return None  # imported from another library


def upgrade_function(tree: PythonFile) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module's own `upgrade()` (an Alembic revision's), or None."""
    for statement in tree.module.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and statement.name == "upgrade":
            return statement
    return None


_MIGRATION_BASES = ("django.db.migrations.Migration", "migrations.Migration", "Migration")


def django_migration_class(tree: PythonFile) -> ast.ClassDef | None:
    """The module's class deriving from Django's `Migration`, or None."""
    for statement in tree.module.body:
        if isinstance(statement, ast.ClassDef) and any(
                (tree.qualified(base.value if isinstance(base, ast.Starred) else base) or "")
                in _MIGRATION_BASES for base in statement.bases):
            return statement
    return None
