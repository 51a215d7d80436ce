"""Workload facts from ORM code: which model classes map to which tables, and what the code
writes through them.

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

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pglint.model.location import Location
from pglint.model.uses import Use
from pglint.model.workload import RECURRING_STAMP, Write

if TYPE_CHECKING:
    from pglint.python.screen import CodeIndex

ORM_PREFIX = "orm:"

# Model definitions (a `models.Model` or `Model` base, `db_table`, `__tablename__`, a `Table("name",
# metadata)`) and writes through a model class on one line (`Order.objects....update(`,
# `session.add(Order(`, `update(Order).values(`). Not `.update(` or `.add(` alone: every dict
# and set has them; not a bare `.objects.`: the ORM's own internals and docs are full of it.
# A write whose chain is split over lines is missed (it is only evidence, never a finding).
# Each pattern behind a substring that must be there (a regex without a literal start is
# tried at every position of every file).
_ORM_TEXT = (
    # `models.Model`, or `Model` imported from django.db.models (the screen resolves which).
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

_INSERTS = frozenset({"create", "bulk_create", "get_or_create", "update_or_create"})
_QUERYSET = frozenset({"filter", "exclude", "get", "select_for_update", "all", "using",
                       "order_by", "only", "defer", "select_related"})


def might_describe_orm(text: str) -> bool:
    """Whether a .py file may define models or write through an ORM (cheap text test)."""
    return any(literal in text and pattern.search(text) for literal, pattern in _ORM_TEXT)


def orm_screen(code: "CodeIndex") -> bool:
    """Whether CPython's tree of a file holds what `orm_facts` reads: a model class, a Table
    variable or an ORM write (the same conditions, without what needs libcst's tree)."""
    import ast

    from pglint.python.screen import dotted, is_string, last_name

    django_models: set[str] = set()
    for cls in code.nodes(ast.ClassDef):  # in file order, as `_model_tables` reads them
        for statement in cls.body:
            target = statement.targets[0] if isinstance(statement, ast.Assign) and len(
                statement.targets) == 1 else statement.target if isinstance(
                statement, ast.AnnAssign) else None
            if isinstance(target, ast.Name) and target.id == "__tablename__":
                return True
        if any(code.qualified(base) in ("django.db.models.Model", "models.Model", *django_models)
               or dotted(base) in django_models for base in cls.bases):
            django_models.add(cls.name)
            if not _abstract(cls):
                return True
    for assign in code.nodes(ast.Assign):
        value = assign.value
        if isinstance(value, ast.Call) and last_name(value.func) == "Table":
            # The first argument, positional or not (`Table(name="orders", ...)`).
            first = value.args[0] if value.args else (
                value.keywords[0].value if value.keywords else None)
            if isinstance(first, ast.Starred):
                first = first.value
            if is_string(first):
                return True
    for call in code.nodes(ast.Call):
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in ("insert", "update") and (call.args or call.keywords):
                return True
            continue
        if not isinstance(func, ast.Attribute):
            continue
        method = func.attr
        if method in _INSERTS or method in ("update", "delete"):
            node = func.value
            while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in _QUERYSET:
                node = node.func.value
            if isinstance(node, ast.Attribute) and node.attr in ("objects", "_default_manager") \
                    and isinstance(node.value, ast.Name):
                return True
        elif method == "values":  # `update(M).values(...)`, `t.insert().values(...)`
            node = func.value  # down the receiver, as `_statement_target` reads it
            while isinstance(node, ast.Call):
                inner = node.func
                given = bool(node.args or node.keywords)
                if isinstance(inner, ast.Name):
                    if inner.id in ("insert", "update") and given:
                        return True
                    break
                if not isinstance(inner, ast.Attribute):
                    break
                if inner.attr in ("insert", "update") and not given:
                    return True
                node = inner.value
        elif method in ("add", "add_all"):
            first = [*call.args[:1], *(k.value for k in call.keywords[:1])]
            for value in first:
                value = value.value if isinstance(value, ast.Starred) else value
                items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
                if any(isinstance(item, ast.Call) and isinstance(item.func, ast.Name)
                       and item.func.id[:1].isupper() for item in items):
                    return True
    return False


def _abstract(cls: Any) -> bool:
    """Whether `_meta` finds `abstract = True` in a model class (CPython's tree): the first
    `class Meta`, its last assignment of `abstract`, and not in a one-line body (`class Meta:
    abstract = True`), which `_class_body_assignments` does not read."""
    import ast

    for statement in cls.body:
        if isinstance(statement, ast.ClassDef) and statement.name == "Meta":
            if statement.body[0].lineno == statement.lineno:
                return False
            value = None
            for small in statement.body:
                if isinstance(small, ast.Assign) and len(small.targets) == 1:
                    target = small.targets[0]
                elif isinstance(small, ast.AnnAssign) and small.value is not None:
                    target = small.target
                else:
                    continue
                if isinstance(target, ast.Name) and target.id == "abstract":
                    value = small.value
            return isinstance(value, ast.Constant) and value.value is True
    return False


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


def orm_facts(tree: Any, path: Path, where: Callable[[int, int], Location],
              uses: bool = False) -> OrmFacts:
    """The file's model classes and Table variables, the writes through them, and (`uses`,
    for application code) the tables and columns its models map."""
    facts = OrmFacts()
    classes = model_classes(tree, path)
    _model_tables(tree, classes, facts.tables)
    if uses:
        from pglint.python.orm_uses import model_uses

        facts.uses = model_uses(tree, classes, where)
    reader = _Writes(tree, facts, where)
    for call in tree.nodes("Call"):
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


# -- model classes ----------------------------------------------------------------------------


def string_literal(tree: Any, node: Any) -> str | None:
    """The value of a plain (not bytes, not f-) string literal, else None."""
    cst = tree.cst
    if isinstance(node, cst.SimpleString) and "b" not in node.prefix.lower() \
            and "f" not in node.prefix.lower():
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _class_body_assignments(tree: Any, body: Any) -> dict[str, Any]:
    """`name = value` statements directly in a class body."""
    cst = tree.cst
    out: dict[str, Any] = {}
    for statement in getattr(body, "body", ()):
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
                    small.targets[0].target, cst.Name):
                out[small.targets[0].target.value] = small.value
            elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) \
                    and small.value is not None:
                out[small.target.value] = small.value
    return out


def _meta(tree: Any, cls: Any) -> dict[str, Any]:
    cst = tree.cst
    for statement in cls.body.body:
        if isinstance(statement, cst.ClassDef) and statement.name.value == "Meta":
            return _class_body_assignments(tree, statement.body)
    return {}


@dataclass
class ModelClass:
    """A class of this file that maps a table: a Django model (`table` None when abstract, or
    a proxy of a model this file does not define) or a SQLAlchemy class with `__tablename__`."""

    name: str
    node: Any  # its ClassDef
    framework: str  # "django" or "sqlalchemy"
    table: str | None
    parents: list["ModelClass"] = field(default_factory=list)  # its Django bases of this file
    proxy: bool = False  # a Django proxy: its parent's table, no columns of its own


def _true(node: Any, tree: Any) -> bool:
    return isinstance(node, tree.cst.Name) and node.value == "True"


def model_classes(tree: Any, path: Path) -> list[ModelClass]:
    """The model classes of a file, in file order: the one place that names their tables (the
    workload's writes and the uses of pglint.python.orm_uses both read it)."""
    django: dict[str, ModelClass] = {}
    out: list[ModelClass] = []
    for cls in tree.nodes("ClassDef"):
        assigned = _class_body_assignments(tree, cls.body)
        tablename = string_literal(tree, assigned.get("__tablename__"))
        if tablename:  # SQLAlchemy declarative
            out.append(ModelClass(cls.name.value, cls, "sqlalchemy", tablename))
            continue
        bases = [tree.qualified(arg.value) for arg in cls.bases]
        if not any(b in ("django.db.models.Model", "models.Model") or b in django
                   for b in bases if b):
            continue
        model = ModelClass(cls.name.value, cls, "django", None,
                           [django[b] for b in bases if b in django])
        django[model.name] = model
        out.append(model)
        meta = _meta(tree, cls)
        if _true(meta.get("abstract"), tree):
            continue
        if _true(meta.get("proxy"), tree):
            # A proxy reads and writes its concrete parent's table, and has no table of its
            # own; a parent this file does not define is not known here.
            model.proxy = True
            model.table = next((p.table for p in model.parents if p.table), None)
            continue
        table = string_literal(tree, meta.get("db_table"))
        if not table:
            label = string_literal(tree, meta.get("app_label")) or app_label(path)
            table = f"{label}_{cls.name.value.lower()}"
        model.table = table
    return out


def _model_tables(tree: Any, classes: list[ModelClass], tables: dict[str, str]) -> None:
    cst = tree.cst
    for model in classes:
        if model.table:
            tables[model.name] = model.table
    for assign in tree.nodes("Assign"):  # orders = Table("orders", metadata, ...)
        value = assign.value
        if isinstance(value, cst.Call) and (tree.dotted(value.func) or "").split(".")[-1] \
                == "Table" and value.args and len(assign.targets) == 1 \
                and isinstance(assign.targets[0].target, cst.Name):
            name = string_literal(tree, value.args[0].value)
            if name:
                tables[assign.targets[0].target.value] = name


# -- writes -----------------------------------------------------------------------------------


class _Writes:
    def __init__(self, tree: Any, facts: OrmFacts, where: Callable[[int, int], Location]) -> None:
        self.tree, self.cst, self.facts, self.where = tree, tree.cst, facts, where

    def add(self, node: Any, table: str, op: str, **kw: Any) -> None:
        start, end = self.tree.span(node)
        self.facts.writes.append(Write(table, op, self.where(start, end), **kw))

    def call(self, call: Any) -> None:
        cst = self.cst
        func = call.func
        if not isinstance(func, cst.Attribute):
            if isinstance(func, cst.Name) and func.value in ("insert", "update") \
                    and not isinstance(self.tree.parent(call), cst.Attribute):
                target = self._table_ref(call.args[0].value) if call.args else None
                if target:  # insert(M) / update(M) without .values(): still a write
                    self.add(call, target, func.value)
            return
        method = func.attr.value
        if method in _INSERTS or method in ("update", "delete"):
            model, filters = self._manager_chain(func.value)
            if model is not None:
                self._django(call, model, method, filters)
                return
        if method == "values":
            self._sqlalchemy_values(call)
        elif method in ("add", "add_all") and call.args:
            self._session_add(call)

    # Django -----------------------------------------------------------------------------------

    def _manager_chain(self, node: Any) -> tuple[str | None, list[Any]]:
        """For `M.objects.filter(a=1).exclude(...)`: ("M", [filter args...])."""
        cst = self.cst
        filters: list[Any] = []
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in _QUERYSET:
            if node.func.attr.value in ("filter", "get"):
                filters.extend(node.args)
            node = node.func.value
        if isinstance(node, cst.Attribute) and node.attr.value in ("objects", "_default_manager") \
                and isinstance(node.value, cst.Name):
            return node.value.value, filters
        return None, filters

    def _django(self, call: Any, model: str, method: str, filters: list[Any]) -> None:
        table = ORM_PREFIX + model
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        if method in _INSERTS:
            self.add(call, table, "insert", columns=frozenset(
                k for k in keywords if k not in ("defaults", "create_defaults")))
            return
        by_key, literal = self._pins(filters)
        if method == "delete":
            self.add(call, table, "delete", by_key=by_key, literal_key=literal)
            return
        increments = {c for c, v in keywords.items() if self._increment(c, v)}
        stamps = {c for c, v in keywords.items()
                  if c not in increments and self._is_now(v) and RECURRING_STAMP.search(c)}
        self.add(call, table, "update", columns=frozenset(keywords),
                 increments=frozenset(increments), timestamps=frozenset(stamps),
                 by_key=by_key, literal_key=literal)

    def _pins(self, filters: list[Any]) -> tuple[bool, bool]:
        """The filters are equalities only (no `__gt` lookups, no Q objects); all literal."""
        if not filters:
            return False, False
        literal = True
        for arg in filters:
            if arg.keyword is None:
                return False, False
            parts = arg.keyword.value.split("__")
            if len(parts) > 1 and parts[-1] not in ("exact", "pk", "id"):
                return False, False
            literal = literal and isinstance(arg.value, (self.cst.Integer, self.cst.SimpleString))
        return True, literal

    def _increment(self, column: str, value: Any) -> bool:
        """`F("col") + x`, `x + F("col")`, `F("col") - x` (Django); `M.col + x`, `t.c.col + x`
        (SQLAlchemy)."""
        cst = self.cst
        if not isinstance(value, cst.BinaryOperation) or not isinstance(
                value.operator, (cst.Add, cst.Subtract)):
            return False
        if self._refers_to(value.left, column):
            return True
        return isinstance(value.operator, cst.Add) and self._refers_to(value.right, column)

    def _refers_to(self, node: Any, column: str) -> bool:
        cst = self.cst
        if isinstance(node, cst.Call) and (self.tree.dotted(node.func) or "").split(".")[-1] \
                == "F" and node.args:
            return string_literal(self.tree, node.args[0].value) == column
        return isinstance(node, cst.Attribute) and node.attr.value == column

    def _is_now(self, value: Any) -> bool:
        cst = self.cst
        if not isinstance(value, cst.Call):
            return False
        name = (self.tree.dotted(value.func) or "").split(".")[-1]
        return name in ("now", "utcnow", "Now")

    # SQLAlchemy -------------------------------------------------------------------------------

    def _table_ref(self, node: Any) -> str | None:
        """`M` / `t` / `M.__table__` -> "orm:M" or a Table variable's table."""
        cst = self.cst
        if isinstance(node, cst.Attribute) and node.attr.value == "__table__":
            node = node.value
        if isinstance(node, cst.Name):
            return ORM_PREFIX + node.value
        return None

    def _statement_target(self, node: Any) -> tuple[str | None, str | None, list[Any]]:
        """For the receiver of `.values(...)`: (op, table, where-args) of `update(M)`,
        `insert(M)`, `t.update()`, `t.insert()`, `M.__table__.update()`, through `.where()`."""
        cst = self.cst
        wheres: list[Any] = []
        while isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Name) and func.value in ("insert", "update") and node.args:
                return func.value, self._table_ref(node.args[0].value), wheres
            if isinstance(func, cst.Attribute):
                if func.attr.value in ("insert", "update") and not node.args:
                    return func.attr.value, self._table_ref(func.value), wheres
                if func.attr.value in ("where", "filter", "filter_by"):
                    wheres.extend(node.args)
                node = func.value
                continue
            break
        return None, None, wheres

    def _sqlalchemy_values(self, call: Any) -> None:
        op, table, wheres = self._statement_target(call.func.value)
        # .where() may also follow .values()
        parent = self.tree.parent(call)
        while isinstance(parent, self.cst.Attribute):
            outer = self.tree.parent(parent)
            if not isinstance(outer, self.cst.Call):
                break
            if parent.attr.value == "where":
                wheres.extend(outer.args)
            parent = self.tree.parent(outer)
        if op is None or table is None:
            return
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        if op == "insert":
            self.add(call, table, "insert", columns=frozenset(keywords))
            return
        increments = {c for c, v in keywords.items() if self._increment(c, v)}
        stamps = {c for c, v in keywords.items()
                  if c not in increments and self._is_now(v) and RECURRING_STAMP.search(c)}
        by_key = bool(wheres) and all(
            isinstance(a.value, self.cst.Comparison) and all(
                isinstance(t.operator, self.cst.Equal) for t in a.value.comparisons)
            for a in wheres)
        self.add(call, table, "update", columns=frozenset(keywords),
                 increments=frozenset(increments), timestamps=frozenset(stamps), by_key=by_key)

    def _session_add(self, call: Any) -> None:
        cst = self.cst
        value = call.args[0].value
        items = [e.value for e in value.elements] if isinstance(value, (cst.List, cst.Tuple)) \
            else [value]
        for item in items:
            if isinstance(item, cst.Call) and isinstance(item.func, cst.Name) \
                    and item.func.value[:1].isupper():
                keywords = frozenset(a.keyword.value for a in item.args if a.keyword is not None)
                self.add(item, ORM_PREFIX + item.func.value, "insert", columns=keywords)
