"""Reading Django and SQLAlchemy code, for rules: method chains on managers and statements,
model classes, `F()` fields, where an object came from, and whether a file runs once.

The facts the project model takes from ORM code (tables, writes) live in `pglint.python.orm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pglint.python.orm import string_literal

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
        return string_literal(tree, node.args[0].value)
    return None


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
