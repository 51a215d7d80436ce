"""Workload facts from ORM code: which model classes map to which tables, and what the code
writes through them, read on CPython's tree of the file (pglint.python.pyfile).

Django: `class M(models.Model)` maps to `Meta.db_table` or `<app_label>_<model name>` (the app
label is `Meta.app_label` or the app's folder); `M.objects.create/bulk_create/get_or_create/
update_or_create` insert, `M.objects.filter(...).update(col=...)` updates (`F("col") + 1` is an
increment, `timezone.now()` a time stamp), `.delete()` deletes. SQLAlchemy: `__tablename__`,
`name = Table("t", ...)`; `insert(M)`, `update(M).values(...).where(...)`,
`t.update().values(...)`, `session.add(M(...))`.

Writes name the model class as `orm:<Class>`; the project model resolves it with the classes
of every file (models live in one module, the code that writes in others). A class that no file
maps to a table is dropped: no evidence is invented.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pglint.model.location import Location
from pglint.model.uses import Use
from pglint.model.workload import RECURRING_STAMP, Write
from pglint.python.pyfile import (PythonFile, call_args, dotted, in_text_order, one_literal,
                                  plain_string)
from pglint.text_hints import needled

ORM_PREFIX = "orm:"

# Model definitions (a `models.Model` or `Model` base, `db_table`, `__tablename__`, a `Table("name",
# metadata)`) and writes through a model class on one line (`Order.objects....update(`,
# `session.add(Order(`, `update(Order).values(`). Not `.update(` or `.add(` alone: every dict
# and set has them; not a bare `.objects.`: the ORM's own internals and docs are full of it.
# A write whose chain is split over lines is missed (it is only evidence, never a finding).
# Each pattern behind a substring that must be there (a regex without a literal start is
# tried at every position of every file).
_ORM_TEXT = (
    # `models.Model`, or `Model` imported from django.db.models (the reader resolves which).
    ("Model", re.compile(r"class\s+\w+\s*\([^)]*\bModel\b")),
    ("db_table", re.compile(r"db_table\s*=\s*['\"]")),
    ("__tablename__", re.compile(r"__tablename__\s*=")),
    ("Table(", re.compile(r"Table\(\s*['\"]\w+['\"]\s*,\s*\w*meta")),
    # Through a model class (`Order.objects`), not an attribute (`self.model._default_manager`).
    (".objects.", re.compile(r"[A-Z]\w*\.objects\.(?:[^\n]*?\.)?(?:create|bulk_create"
                             r"|get_or_create|update_or_create|update|delete)\(")),
    ("_default_manager.", re.compile(r"[A-Z]\w*\._default_manager\.(?:[^\n]*?\.)?(?:create"
                                     r"|bulk_create|get_or_create|update_or_create|update|delete)\(")),
    ("ession", re.compile(r"ession\w*\.add(?:_all)?\(\s*[A-Z]")),
    (".values(", re.compile(r"(?:insert|update)\((?:\s*[A-Z]\w*\s*)?\)\s*\.values\(")),
    ("a.", re.compile(r"(?:sa|sqlalchemy)\.(?:insert|update)\(\s*[A-Z]")),
)
# A pattern without a literal prefix is tried only where a literal its matches start with is.
_ORM_TEXT = tuple((literal, needled(pattern)) for literal, pattern in _ORM_TEXT)

_INSERTS = frozenset({"create", "bulk_create", "get_or_create", "update_or_create"})
_QUERYSET = frozenset({"filter", "exclude", "get", "select_for_update", "all", "using",
                       "order_by", "only", "defer", "select_related"})


def might_describe_orm(text: str) -> bool:
    """Whether a .py file may define models or write through an ORM (cheap text test)."""
    return any(literal in text and pattern.search(text) for literal, pattern in _ORM_TEXT)


@dataclass
class OrmFacts:
    tables: dict[str, str] = field(default_factory=dict)  # class or Table variable -> table
    writes: list[Write] = field(default_factory=list)  # table = "orm:<Class>" or a table name
    uses: list[Use] = field(default_factory=list)  # the tables and columns its models map


def app_label(path: Path) -> str:
    """Django's default app label for a models module: the app's folder name."""
    if path.parent.name == "models":
        return path.parent.parent.name
    return path.parent.name


def orm_facts(code: PythonFile, path: Path, where: Callable[[int, int], Location],
              uses: bool = False) -> OrmFacts:
    """The file's model classes and Table variables, the writes through them, and (`uses`,
    for application code) the tables and columns its models map."""
    facts = OrmFacts()
    classes = model_classes(code, path)
    _model_tables(code, classes, facts.tables)
    if uses:
        from pglint.python.orm_uses import model_uses

        facts.uses = model_uses(code, classes, where)
    reader = _Writes(code, facts, where)
    for call in in_text_order(code.nodes(ast.Call)):
        reader.call(call)
    return facts


def resolve(writes: list[Write], tables: dict[str, str]) -> list[Write]:
    """Writes with `orm:<Class>` replaced by the class's table; unknown classes dropped."""
    import dataclasses

    out = []
    for write in writes:
        if write.table.startswith(ORM_PREFIX):
            table = tables.get(write.table[len(ORM_PREFIX):])
            if table is None:
                continue
            write = dataclasses.replace(write, table=table)
        out.append(write)
    return out


# -- reading CPython's tree -------------------------------------------------------------------

# One string literal, prefix included (no implicit concatenation: `"a" "b"` is two).
def is_literal(code: PythonFile, node: ast.AST) -> bool:
    """An integer literal or one string (or bytes) literal: a value written in the code."""
    return isinstance(node, ast.Constant) and (type(node.value) is int or isinstance(
        node.value, (str, bytes)) and one_literal(code, node))


def is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unstarred(node: ast.expr) -> ast.expr:
    """`x` of `*x` (a base, an element), else the node."""
    return node.value if isinstance(node, ast.Starred) else node


def keyword_values(call: ast.Call) -> list[tuple[str | None, ast.expr]]:
    """A call's arguments in the order written, as (keyword, value): (None, x) for a
    positional `x`, `*x` and `**x`. Readers ask for "the first argument" whatever its kind."""
    return [(a.keyword, a.value) for a in call_args(call)]


def keywords(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg is not None}


def last_part(node: ast.AST) -> str:
    """`f` of `f`, `a.b.f`; "" for anything else (`x().f` included)."""
    return (dotted(node) or "").rsplit(".", 1)[-1]


def block(code: PythonFile, cls: ast.ClassDef) -> list[ast.stmt]:
    """The statements of a class's body when it is an indented block; none for a body on the
    `class` line (`class Meta: abstract = True`), which the readers have never read."""
    first = cls.body[0]
    start = code.offset(first.lineno, first.col_offset)
    if code.text[code.offset(first.lineno, 0):start].strip(" \t\f"):
        return []
    return cls.body


# -- model classes ----------------------------------------------------------------------------


def class_assignments(code: PythonFile, cls: ast.ClassDef) -> dict[str, ast.expr]:
    """`name = value` statements directly in a class body."""
    out: dict[str, ast.expr] = {}
    for statement in block(code, cls):
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(
                statement.targets[0], ast.Name):
            out[statement.targets[0].id] = statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) \
                and statement.value is not None:
            out[statement.target.id] = statement.value
    return out


def _meta(code: PythonFile, cls: ast.ClassDef) -> dict[str, ast.expr]:
    for statement in cls.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
            return class_assignments(code, statement)
    return {}


@dataclass
class ModelClass:
    """A class of this file that maps a table: a Django model (`table` None when abstract, or
    a proxy of a model this file does not define) or a SQLAlchemy class with `__tablename__`."""

    name: str
    node: ast.ClassDef
    framework: str  # "django" or "sqlalchemy"
    table: str | None
    parents: list["ModelClass"] = field(default_factory=list)  # its Django bases of this file
    proxy: bool = False  # a Django proxy: its parent's table, no columns of its own


def model_classes(code: PythonFile, path: Path) -> list[ModelClass]:
    """The model classes of a file, in file order: the one place that names their tables (the
    workload's writes and the uses of pglint.python.orm_uses both read it)."""
    django: dict[str, ModelClass] = {}
    out: list[ModelClass] = []
    for cls in code.nodes(ast.ClassDef):
        assigned = class_assignments(code, cls)
        tablename = plain_string(code, assigned.get("__tablename__"))
        if tablename:  # SQLAlchemy declarative
            out.append(ModelClass(cls.name, cls, "sqlalchemy", tablename))
            continue
        bases = [code.qualified(unstarred(base)) for base in cls.bases]
        if not any(b in ("django.db.models.Model", "models.Model") or b in django
                   for b in bases if b):
            continue
        model = ModelClass(cls.name, cls, "django", None,
                           [django[b] for b in bases if b in django])
        django[model.name] = model
        out.append(model)
        meta = _meta(code, cls)
        if is_true(meta.get("abstract")):
            continue
        if is_true(meta.get("proxy")):
            # A proxy reads and writes its concrete parent's table, and has no table of its
            # own; a parent this file does not define is not known here.
            model.proxy = True
            model.table = next((p.table for p in model.parents if p.table), None)
            continue
        table = plain_string(code, meta.get("db_table"))
        if not table:
            label = plain_string(code, meta.get("app_label")) or app_label(path)
            table = f"{label}_{cls.name.lower()}"
        model.table = table
    return out


def _model_tables(code: PythonFile, classes: list[ModelClass], tables: dict[str, str]) -> None:
    for model in classes:
        if model.table:
            tables[model.name] = model.table
    for assign in code.nodes(ast.Assign):  # orders = Table("orders", metadata, ...)
        value = assign.value
        if isinstance(value, ast.Call) and last_part(value.func) == "Table" \
                and len(assign.targets) == 1 and isinstance(assign.targets[0], ast.Name):
            args = keyword_values(value)
            name = plain_string(code, args[0][1]) if args else None
            if name:
                tables[assign.targets[0].id] = name


# -- writes -----------------------------------------------------------------------------------


class _Writes:
    def __init__(self, code: PythonFile, facts: OrmFacts,
                 where: Callable[[int, int], Location]) -> None:
        self.code, self.facts, self.where = code, facts, where

    def add(self, node: ast.AST, table: str, op: str, **kw: Any) -> None:
        start, end = self.code.span(node)
        self.facts.writes.append(Write(table, op, self.where(start, end), **kw))

    def call(self, call: ast.Call) -> None:
        func = call.func
        if not isinstance(func, ast.Attribute):
            if isinstance(func, ast.Name) and func.id in ("insert", "update") \
                    and not isinstance(self.code.parent(call), ast.Attribute):
                args = keyword_values(call)
                target = self._table_ref(args[0][1]) if args else None
                if target:  # insert(M) / update(M) without .values(): still a write
                    self.add(call, target, func.id)
            return
        method = func.attr
        if method in _INSERTS or method in ("update", "delete"):
            model, filters = self._manager_chain(func.value)
            if model is not None:
                self._django(call, model, method, filters)
                return
        if method == "values":
            self._sqlalchemy_values(call)
        elif method in ("add", "add_all") and (call.args or call.keywords):
            self._session_add(call)

    # Django -----------------------------------------------------------------------------------

    def _manager_chain(self, node: ast.expr) -> tuple[str | None, list[tuple[str | None, Any]]]:
        """For `M.objects.filter(a=1).exclude(...)`: ("M", [filter args...])."""
        filters: list[tuple[str | None, Any]] = []
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _QUERYSET:
            if node.func.attr in ("filter", "get"):
                filters.extend(keyword_values(node))
            node = node.func.value
        if isinstance(node, ast.Attribute) and node.attr in ("objects", "_default_manager") \
                and isinstance(node.value, ast.Name):
            return node.value.id, filters
        return None, filters

    def _django(self, call: ast.Call, model: str, method: str,
                filters: list[tuple[str | None, Any]]) -> None:
        table = ORM_PREFIX + model
        given = keywords(call)
        if method in _INSERTS:
            self.add(call, table, "insert", columns=frozenset(
                k for k in given if k not in ("defaults", "create_defaults")))
            return
        by_key, literal = self._pins(filters)
        if method == "delete":
            self.add(call, table, "delete", by_key=by_key, literal_key=literal)
            return
        increments = {c for c, v in given.items() if self._increment(c, v)}
        stamps = {c for c, v in given.items()
                  if c not in increments and self._is_now(v) and RECURRING_STAMP.search(c)}
        self.add(call, table, "update", columns=frozenset(given),
                 increments=frozenset(increments), timestamps=frozenset(stamps),
                 by_key=by_key, literal_key=literal)

    def _pins(self, filters: list[tuple[str | None, Any]]) -> tuple[bool, bool]:
        """The filters are equalities only (no `__gt` lookups, no Q objects); all literal."""
        if not filters:
            return False, False
        literal = True
        for name, value in filters:
            if name is None:
                return False, False
            parts = name.split("__")
            if len(parts) > 1 and parts[-1] not in ("exact", "pk", "id"):
                return False, False
            literal = literal and is_literal(self.code, value)
        return True, literal

    def _increment(self, column: str, value: ast.expr) -> bool:
        """`F("col") + x`, `x + F("col")`, `F("col") - x` (Django); `M.col + x`, `t.c.col + x`
        (SQLAlchemy)."""
        if not isinstance(value, ast.BinOp) or not isinstance(value.op, (ast.Add, ast.Sub)):
            return False
        if self._refers_to(value.left, column):
            return True
        return isinstance(value.op, ast.Add) and self._refers_to(value.right, column)

    def _refers_to(self, node: ast.expr, column: str) -> bool:
        if isinstance(node, ast.Call) and last_part(node.func) == "F":
            args = keyword_values(node)
            return bool(args) and plain_string(self.code, args[0][1]) == column
        return isinstance(node, ast.Attribute) and node.attr == column

    @staticmethod
    def _is_now(value: ast.expr) -> bool:
        return isinstance(value, ast.Call) and last_part(value.func) in ("now", "utcnow", "Now")

    # SQLAlchemy -------------------------------------------------------------------------------

    @staticmethod
    def _table_ref(node: ast.expr) -> str | None:
        """`M` / `t` / `M.__table__` -> "orm:M" or a Table variable's table."""
        if isinstance(node, ast.Attribute) and node.attr == "__table__":
            node = node.value
        if isinstance(node, ast.Name):
            return ORM_PREFIX + node.id
        return None

    def _statement_target(self, node: ast.expr) -> tuple[str | None, str | None, list[Any]]:
        """For the receiver of `.values(...)`: (op, table, where-args) of `update(M)`,
        `insert(M)`, `t.update()`, `t.insert()`, `M.__table__.update()`, through `.where()`."""
        wheres: list[Any] = []
        while isinstance(node, ast.Call):
            func = node.func
            args = keyword_values(node)
            if isinstance(func, ast.Name) and func.id in ("insert", "update") and args:
                return func.id, self._table_ref(args[0][1]), wheres
            if isinstance(func, ast.Attribute):
                if func.attr in ("insert", "update") and not args:
                    return func.attr, self._table_ref(func.value), wheres
                if func.attr in ("where", "filter", "filter_by"):
                    wheres.extend(value for _, value in args)
                node = func.value
                continue
            break
        return None, None, wheres

    def _sqlalchemy_values(self, call: ast.Call) -> None:
        assert isinstance(call.func, ast.Attribute)
        op, table, wheres = self._statement_target(call.func.value)
        if op is None or table is None:
            return
        # .where() may also follow .values()
        parent = self.code.parent(call)
        while isinstance(parent, ast.Attribute):
            outer = self.code.parent(parent)
            if not isinstance(outer, ast.Call) or outer.func is not parent:
                break
            if parent.attr == "where":
                wheres.extend(value for _, value in keyword_values(outer))
            parent = self.code.parent(outer)
        given = keywords(call)
        if op == "insert":
            self.add(call, table, "insert", columns=frozenset(given))
            return
        increments = {c for c, v in given.items() if self._increment(c, v)}
        stamps = {c for c, v in given.items()
                  if c not in increments and self._is_now(v) and RECURRING_STAMP.search(c)}
        by_key = bool(wheres) and all(
            isinstance(value, ast.Compare) and all(isinstance(o, ast.Eq) for o in value.ops)
            for value in wheres)
        self.add(call, table, "update", columns=frozenset(given),
                 increments=frozenset(increments), timestamps=frozenset(stamps), by_key=by_key)

    def _session_add(self, call: ast.Call) -> None:
        value = keyword_values(call)[0][1]
        items = [unstarred(e) for e in value.elts] if isinstance(value, (ast.List, ast.Tuple)) \
            else [value]
        for item in items:
            if isinstance(item, ast.Call) and isinstance(item.func, ast.Name) \
                    and item.func.id[:1].isupper():
                self.add(item, ORM_PREFIX + item.func.id, "insert",
                         columns=frozenset(keywords(item)))
