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


def app_label(path: Path) -> str:
    """Django's default app label for a models module: the app's folder name."""
    if path.parent.name == "models":
        return path.parent.parent.name
    return path.parent.name


def orm_facts(tree: Any, path: Path, where: Callable[[int, int], Location]) -> OrmFacts:
    facts = OrmFacts()
    _model_tables(tree, path, facts.tables)
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


def _string(tree: Any, node: Any) -> str | None:
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


def _model_tables(tree: Any, path: Path, tables: dict[str, str]) -> None:
    cst = tree.cst
    django_models: set[str] = set()
    for cls in tree.nodes("ClassDef"):
        assigned = _class_body_assignments(tree, cls.body)
        tablename = _string(tree, assigned.get("__tablename__"))
        if tablename:  # SQLAlchemy declarative
            tables[cls.name.value] = tablename
            continue
        bases = [tree.qualified(arg.value) for arg in cls.bases]
        if not any(b in ("django.db.models.Model", "models.Model") or b in django_models
                   for b in bases if b):
            continue
        django_models.add(cls.name.value)
        meta = _meta(tree, cls)
        abstract = meta.get("abstract")
        if isinstance(abstract, cst.Name) and abstract.value == "True":
            continue
        table = _string(tree, meta.get("db_table"))
        if not table:
            label = _string(tree, meta.get("app_label")) or app_label(path)
            table = f"{label}_{cls.name.value.lower()}"
        tables[cls.name.value] = table
    for assign in tree.nodes("Assign"):  # orders = Table("orders", metadata, ...)
        value = assign.value
        if isinstance(value, cst.Call) and (tree.dotted(value.func) or "").split(".")[-1] \
                == "Table" and value.args and len(assign.targets) == 1 \
                and isinstance(assign.targets[0].target, cst.Name):
            name = _string(tree, value.args[0].value)
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
            return _string(self.tree, node.args[0].value) == column
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


# -- reading ORM code, for rules ----------------------------------------------------------------

# Django's F() expression under its import paths.
DJANGO_F = frozenset({"django.db.models.F", "django.db.models.expressions.F"})
# SQLAlchemy statement constructors: `select(M)`, `update(M)`, ... (core and the dialects').
_SA_STATEMENTS = frozenset({"select", "update", "insert", "delete"})


@dataclass
class Chain:
    """A method chain read from its root outwards: `M.objects.filter(a=1).select_for_update()
    [:10]` has the root `M.objects` and the steps filter, select_for_update, [] (a subscript);
    `select(M).where(...).limit(10)` has the root `select(M)`."""

    root: Any
    steps: list[tuple[str, Any]]  # (method name, its Call), or ("[]", the Subscript)
    outer: Any  # the outermost node of the chain

    def names(self) -> list[str]:
        return [name for name, _ in self.steps]

    def calls(self, method: str) -> list[Any]:
        return [node for name, node in self.steps if name == method]


def method_chain(tree: Any, node: Any) -> Chain:
    """The whole chain that `node` (any Call or Subscript of it, or its root) belongs to."""
    cst = tree.cst
    outer = node
    while True:
        parent = tree.parent(outer)
        if isinstance(parent, cst.Attribute) and parent.value is outer:
            call = tree.parent(parent)
            if isinstance(call, cst.Call) and call.func is parent:
                outer = call
                continue
        elif isinstance(parent, cst.Subscript) and parent.value is outer:
            outer = parent
            continue
        break
    steps: list[tuple[str, Any]] = []
    current = outer
    while True:
        if isinstance(current, cst.Call) and isinstance(current.func, cst.Attribute):
            steps.append((current.func.attr.value, current))
            current = current.func.value
        elif isinstance(current, cst.Subscript):
            steps.append(("[]", current))
            current = current.value
        else:
            break
    steps.reverse()
    return Chain(current, steps, outer)


def class_name(tree: Any, node: Any) -> str | None:
    """The class a Name refers to, through the file's imports (`O` after `from shop.models
    import Order as O` -> "Order"); None for anything but a Name."""
    if not isinstance(node, tree.cst.Name):
        return None
    return (tree.qualified(node) or node.value).rsplit(".", 1)[-1]


def django_model(tree: Any, chain: Chain) -> str | None:
    """The model class of a queryset chain rooted at `M.objects` / `M._default_manager`."""
    root = chain.root
    if isinstance(root, tree.cst.Attribute) and root.attr.value in ("objects", "_default_manager"):
        return class_name(tree, root.value)
    return None


def entity_name(tree: Any, node: Any) -> str | None:
    """The model class or Table variable an SQLAlchemy argument names: `M`, `M.__table__`,
    `M.id`, `t`, `t.c.id` -> "M" / "t"."""
    cst = tree.cst
    while isinstance(node, cst.Attribute):
        node = node.value
    return class_name(tree, node)


def sqlalchemy_statement(tree: Any, chain: Chain) -> tuple[Any, Any] | None:
    """The call of an SQLAlchemy chain that names what it works on, and that expression:
    `select(M)` / `sa.update(M)` -> (the call, `M`); `t.update()` / `M.__table__.select()` ->
    (the call, `t`); `session.query(M)` / `session.get(M, key)` -> (the call, `M`). Statement
    constructors count only when imported from sqlalchemy."""
    cst = tree.cst
    root = chain.root
    if isinstance(root, cst.Call):
        call = root
    elif chain.steps and chain.steps[0][0] != "[]":
        call = chain.steps[0][1]
    else:
        return None
    name = tree.call_name(call) or ""
    if name.startswith("sqlalchemy.") and name.rsplit(".", 1)[-1] in _SA_STATEMENTS:
        if call.args and call.args[0].keyword is None:
            return call, call.args[0].value
        return None
    if call is root:
        return None
    method = call.func.attr.value
    if method in _SA_STATEMENTS and not call.args:  # t.update(), M.__table__.select()
        return call, root
    if method in ("query", "get") and call.args and call.args[0].keyword is None:
        return call, call.args[0].value
    return None


def sqlalchemy_entity(tree: Any, chain: Chain) -> str | None:
    """The model class (or Table variable) an SQLAlchemy chain works on (see
    `sqlalchemy_statement`)."""
    found = sqlalchemy_statement(tree, chain)
    return entity_name(tree, found[1]) if found is not None else None


def f_field(tree: Any, node: Any) -> str | None:
    """The field of a Django `F("field")` expression, else None."""
    if isinstance(node, tree.cst.Call) and tree.call_name(node) in DJANGO_F and node.args:
        return _string(tree, node.args[0].value)
    return None


def runs_once(path: Path) -> bool:
    """Django data migrations and Alembic revisions run once, not at application run time."""
    parts = path.parts[:-1]
    return "migrations" in parts or ("versions" in parts and "alembic" in parts)


@dataclass(frozen=True)
class Origin:
    """Where a function's variable got the model instance the function changes."""

    orm: str  # "django" | "sqlalchemy"
    model: str | None  # the model class (for `orm_table`), when the code names it
    local: str | None  # ... as the code spells it (what a fix writes)
    locked: bool = False  # loaded with select_for_update() / with_for_update(): row locked
    fresh: bool = False  # created here (`M(...)`, `.create(...)`): no stored row to lose
    source: Any = None  # the expression that loaded it (a queryset or session call)


def sqlalchemy_update(tree: Any, node: Any, tables: Callable[[str], str | None]
                      ) -> tuple[Chain, str, Any, list[Any]] | None:
    """For the `.values(...)` call `node` of `update(M).where(...).values(...)` (or
    `t.update().values(...)`): its chain, the entity's name (`M`, `t`), the expression naming
    it, and the where/filter conditions. None when `node` is not that call, or names something
    no file maps (`tables`) in a file that does not import SQLAlchemy."""
    chain = method_chain(tree, node)
    statement = sqlalchemy_statement(tree, chain)
    if statement is None or statement[0] is not node:
        return None
    entity = entity_name(tree, statement[1])
    if entity is None or not node.args and not (
            tables(entity) or imports_orm(tree, "sqlalchemy")):
        return None  # t.update() of something no file maps, in a file without sqlalchemy
    wheres = [a.value for name, call in chain.steps if name in ("where", "filter")
              for a in call.args]
    return chain, entity, statement[1], wheres


def statement_values(tree: Any, chain: Chain) -> list[tuple[str, Any]]:
    """(column, value) pairs of an SQLAlchemy statement's `.values(...)`: keywords, or a dict
    keyed by names or columns."""
    cst = tree.cst
    out: list[tuple[str, Any]] = []
    for call in chain.calls("values"):
        for arg in call.args:
            if arg.keyword is not None:
                out.append((arg.keyword.value, arg.value))
            elif isinstance(arg.value, cst.Dict):
                for element in arg.value.elements:
                    if not isinstance(element, cst.DictElement):
                        continue
                    key = element.key
                    if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str):
                        out.append((key.evaluated_value, element.value))
                    elif isinstance(key, cst.Attribute):
                        out.append((key.attr.value, element.value))
    return out


def imports_orm(tree: Any, package: str) -> bool:
    """Whether the file imports from `package` ("django", "sqlalchemy") at all."""
    return any(full == package or full.startswith(package + ".")
               for full in tree.imports.values())


def object_origin(tree: Any, function: Any, name: str, use: Any,
                  tables: Callable[[str], str | None], _depth: int = 0) -> Origin | None:
    """How variable `name` got its value in `function` before the node `use`: a Django
    queryset (`M.objects....get()`, `get_object_or_404(M, ...)`, a `for` over a queryset), an
    SQLAlchemy session (`session.get(M, key)`, `session.query(M)...first()`,
    `session.scalars(select(M)...).one()`), a parameter annotated with a model class, `self`
    in a model's method, or a constructor. `tables` maps a class name to its table (None when
    it is no model the project maps). None when nothing shows a model instance."""
    cst = tree.cst
    bound: Any = None
    annotated = False
    for node in tree.descendants(function):
        if node is use:
            break
        if isinstance(node, cst.Param) and node.name.value == name:
            bound = node.annotation.annotation if node.annotation is not None else None
            annotated = True
        elif isinstance(node, cst.Assign):
            for target in node.targets:
                t = target.target
                if isinstance(t, cst.Tuple) and t.elements:
                    t = t.elements[0].value  # obj, created = M.objects.get_or_create(...)
                if isinstance(t, cst.Name) and t.value == name:
                    bound, annotated = node.value, False
        elif isinstance(node, cst.For) and isinstance(node.target, cst.Name) \
                and node.target.value == name:
            bound, annotated = node.iter, False
    if isinstance(bound, cst.Await):
        bound = bound.expression
    # list(qs), next(iter(qs)): the objects of the queryset inside.
    while isinstance(bound, cst.Call) and isinstance(bound.func, cst.Name) and bound.args \
            and bound.func.value in ("list", "tuple", "iter", "next", "sorted", "reversed"):
        bound = bound.args[0].value
    if isinstance(bound, cst.Name) and not annotated:  # batch = ...; for job in batch:
        if _depth >= 3 or bound.value == name:
            return None
        return object_origin(tree, function, bound.value, use, tables, _depth + 1)
    if bound is None and name == "self":
        cls = tree.enclosing(function, cst.ClassDef)
        if cls is not None and tables(cls.name.value):
            orm = "sqlalchemy" if imports_orm(tree, "sqlalchemy") and not imports_orm(
                tree, "django") else "django"
            return Origin(orm, cls.name.value, cls.name.value)
        return None
    if isinstance(bound, cst.Name):  # a parameter's annotation
        model = class_name(tree, bound)
        if model and tables(model):
            orm = "sqlalchemy" if imports_orm(tree, "sqlalchemy") else "django"
            return Origin(orm, model, bound.value)
        return None
    if not isinstance(bound, (cst.Call, cst.Subscript)):
        return None
    origin = _call_origin(tree, bound, tables)
    if origin is None:
        return None
    import dataclasses

    return dataclasses.replace(origin, source=bound)


def _call_origin(tree: Any, call: Any, tables: Callable[[str], str | None]) -> Origin | None:
    """The origin of an object loaded by `call` (a Call, or a Subscript of a queryset)."""
    cst = tree.cst
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Name):
        if tree.call_name(call) == "django.shortcuts.get_object_or_404" and call.args:
            first = call.args[0].value
            if isinstance(first, cst.Name):
                return Origin("django", class_name(tree, first), first.value)
            chain = method_chain(tree, first)
            model = django_model(tree, chain)
            if model:
                return Origin("django", model, chain.root.value.value,
                              locked="select_for_update" in chain.names())
            return None
        model = class_name(tree, call.func)
        if model and tables(model):  # M(...): a new row
            return Origin("django" if imports_orm(tree, "django") else "sqlalchemy", model,
                          call.func.value, fresh=True)
        return None
    chain = method_chain(tree, call)
    names = chain.names()
    model = django_model(tree, chain)
    if model:
        return Origin("django", model, chain.root.value.value,
                      locked="select_for_update" in names, fresh=names[-1:] == ["create"])
    if not chain.steps or chain.steps[0][0] == "[]":
        return None
    method, first = chain.steps[0]
    if method in ("scalars", "execute", "scalar") and first.args:
        inner = method_chain(tree, first.args[0].value)
        statement = sqlalchemy_statement(tree, inner)
        entity = entity_name(tree, statement[1]) if statement is not None else None
        if entity:
            return Origin("sqlalchemy", entity, _spelled(tree, statement[1]),
                          locked="with_for_update" in inner.names())
        return None
    entity = sqlalchemy_entity(tree, chain)
    if entity is None or not (tables(entity) or imports_orm(tree, "sqlalchemy")):
        return None
    if method == "get" and len(first.args) < 2:
        return None  # session.get(M, key); a dict's get(key) has no model argument
    locked = "with_for_update" in names or any(
        a.keyword is not None and a.keyword.value == "with_for_update"
        and not (isinstance(a.value, cst.Name) and a.value.value in ("False", "None"))
        for a in first.args)
    return Origin("sqlalchemy", entity, _spelled(tree, first.args[0].value), locked=locked)


def _spelled(tree: Any, node: Any) -> str | None:
    """The model class of an SQLAlchemy entity argument as the code spells it."""
    cst = tree.cst
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else None
