"""What the Alembic and Django migration readers share: a call's arguments, Python literals
and their SQL spelling, SQL snippets parsed by PostgreSQL's parser, and `MigrationReader`, which
collects catalog operations in file order and replays the embedded SQL a migration runs."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from pglint.model.ddl import catalog_ops, default_kind
from pglint.model.location import Location
from pglint.sql.nodes import quote_literal

Where = Callable[[int, int], Location]


class CallArgs:
    """A call's arguments: positional values and keywords (`**{...}` literal dicts included).
    A positional value may be a plain string standing for an argument that is not in the call
    (the table of a batch operation)."""

    def __init__(self, cst: Any, call: Any) -> None:
        self.pos: list[Any] = []
        self.kw: dict[str, Any] = {}
        for arg in call.args:
            if arg.keyword is not None:
                self.kw[arg.keyword.value] = arg.value
            elif arg.star == "**" and isinstance(arg.value, cst.Dict):
                for element in arg.value.elements:
                    key = string_value(cst, getattr(element, "key", None))
                    if key is not None:
                        self.kw[key] = element.value
            elif not arg.star:
                self.pos.append(arg.value)

    def get(self, index: int, name: str | None = None) -> Any:
        if name is not None and name in self.kw:
            return self.kw[name]
        return self.pos[index] if index < len(self.pos) else None


def string_value(cst: Any, node: Any) -> str | None:
    """A string literal's value (`op.f("name")` and `conv("name")` included), else None."""
    if isinstance(node, str):
        return node
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.Call) and isinstance(node.func, (cst.Attribute, cst.Name)) and \
            (node.func.attr.value if isinstance(node.func, cst.Attribute) else node.func.value) \
            in ("f", "conv") and node.args:
        return string_value(cst, node.args[0].value)
    return None


def string_list(cst: Any, node: Any) -> list[str] | None:
    """A list/tuple of string literals (a single string counts as one), else None."""
    single = string_value(cst, node)
    if single is not None:
        return [single]
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        out = [string_value(cst, e.value) for e in node.elements]
        return [s for s in out if s is not None] if all(s is not None for s in out) else None
    return None


def bool_value(cst: Any, node: Any) -> bool | None:
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def literal_value(cst: Any, node: Any) -> Any:
    """A literal (string, number, boolean, None, or a dict/list of them) as Python, or None."""
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        return string_value(cst, node)
    if isinstance(node, (cst.Integer, cst.Float)):
        return node.evaluated_value
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) and \
            isinstance(node.expression, (cst.Integer, cst.Float)):
        return -node.expression.evaluated_value
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Dict):
        out = {}
        for element in node.elements:
            key = string_value(cst, getattr(element, "key", None))
            if key is not None:
                out[key] = literal_value(cst, element.value)
        return out
    if isinstance(node, (cst.List, cst.Tuple)):
        return [literal_value(cst, e.value) for e in node.elements]
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
    def __init__(self, tree: Any, where: Where, statements: Iterable[Any] | None) -> None:
        self.tree, self.cst, self.where = tree, tree.cst, where
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
        target = node.func if isinstance(node, self.cst.Call) else node
        qualified = self.tree.qualified(target)
        if qualified is None:
            return None
        if qualified == self.tree.dotted(target) or qualified.startswith(libraries):
            return qualified.rsplit(".", 1)[-1]
        return None  # imported from another library


def upgrade_function(tree: Any) -> Any:
    cst = tree.cst
    for statement in tree.module.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "upgrade":
            return statement
    return None


def django_migration_class(tree: Any) -> Any:
    cst = tree.cst
    for statement in tree.module.body:
        if isinstance(statement, cst.ClassDef) and any(
                (tree.qualified(base.value) or "") in (
                    "django.db.migrations.Migration", "migrations.Migration", "Migration")
                for base in statement.bases):
            return statement
    return None
