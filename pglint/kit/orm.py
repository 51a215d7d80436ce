"""Reading Django and SQLAlchemy code, for rules: method chains on managers and statements,
model classes, `F()` fields, where an object came from, and whether a file runs once.

Everything here reads CPython's tree of the file (`pglint.python.pyfile.PythonFile`). The facts
the project model takes from ORM code (tables, writes) live in `pglint.python.orm`.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from pglint.python.pyfile import (  # noqa: F401 - call_args and the rest: the rules' too
    Argument, PythonFile, call_args, children, one_literal, plain_string,
)

# Django's F() expression under its import paths.
DJANGO_F = frozenset({"django.db.models.F", "django.db.models.expressions.F"})
# SQLAlchemy statement constructors: `select(M)`, `update(M)`, ... (core and the dialects').
_SA_STATEMENTS = frozenset({"select", "update", "insert", "delete"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def first_arg(call: ast.Call) -> Argument | None:
    """The call's first argument as written, or None."""
    if not call.args and not call.keywords:
        return None
    return call_args(call)[0]


def is_text(node: ast.AST | None) -> bool:
    """A string or bytes literal (side by side or not) or an f-string: `+` on it is text."""
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(
        node.value, (str, bytes))


def walk(node: ast.AST) -> Iterator[ast.AST]:
    """Every node under `node` (not itself) in the order of the text, where CPython's fields
    differ from it: a definition's decorators before its signature and body, a dict's keys
    and values in turn, `a if b else c` from `a`, a call's arguments as written."""
    stack = _in_text_order(node)[::-1]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_in_text_order(current)))


def _in_text_order(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, _FUNCTIONS):
        return [*node.decorator_list, node.args, *([node.returns] if node.returns else []),
                *node.body]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords, *node.body]
    if isinstance(node, ast.Dict):
        return [part for key, value in zip(node.keys, node.values, strict=True)
                for part in ((key, value) if key is not None else (value,))]
    if isinstance(node, ast.IfExp):
        return [node.body, node.test, node.orelse]
    if isinstance(node, ast.Call):
        return [node.func, *(a.node for a in call_args(node))]
    return children(node)


@dataclass
class Chain:
    """A method chain read from its root outwards: `M.objects.filter(a=1).select_for_update()
    [:10]` has the root `M.objects` and the steps filter, select_for_update, [] (a subscript);
    `select(M).where(...).limit(10)` has the root `select(M)`."""

    root: ast.expr
    steps: list[tuple[str, Any]]  # (method name, its Call), or ("[]", the Subscript)
    outer: ast.expr  # the outermost node of the chain

    def names(self) -> list[str]:
        return [name for name, _ in self.steps]

    def calls(self, method: str) -> list[ast.Call]:
        return [node for name, node in self.steps if name == method]


def method_chain(code: PythonFile, node: ast.AST) -> Chain:
    """The whole chain that `node` (any Call or Subscript of it, or its root) belongs to."""
    outer = node
    while True:
        parent = code.parent(outer)
        if isinstance(parent, ast.Attribute) and parent.value is outer:
            call = code.parent(parent)
            if isinstance(call, ast.Call) and call.func is parent:
                outer = call
                continue
        elif isinstance(parent, ast.Subscript) and parent.value is outer:
            outer = parent
            continue
        break
    steps: list[tuple[str, Any]] = []
    current = outer
    while True:
        if isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
            steps.append((current.func.attr, current))
            current = current.func.value
        elif isinstance(current, ast.Subscript):
            steps.append(("[]", current))
            current = current.value
        else:
            break
    steps.reverse()
    return Chain(current, steps, outer)  # type: ignore[arg-type]


def class_name(code: PythonFile, node: ast.AST) -> str | None:
    """The class a Name refers to, through the file's imports (`O` after `from shop.models
    import Order as O` -> "Order"); None for anything but a Name."""
    if not isinstance(node, ast.Name):
        return None
    return (code.qualified(node) or node.id).rsplit(".", 1)[-1]


def django_model(code: PythonFile, chain: Chain) -> str | None:
    """The model class of a queryset chain rooted at `M.objects` / `M._default_manager`."""
    root = chain.root
    if isinstance(root, ast.Attribute) and root.attr in ("objects", "_default_manager"):
        return class_name(code, root.value)
    return None


def entity_name(code: PythonFile, node: ast.AST) -> str | None:
    """The model class or Table variable an SQLAlchemy argument names: `M`, `M.__table__`,
    `M.id`, `t`, `t.c.id` -> "M" / "t"."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return class_name(code, node)


def sqlalchemy_statement(code: PythonFile, chain: Chain) -> tuple[ast.Call, ast.expr] | None:
    """The call of an SQLAlchemy chain that names what it works on, and that expression:
    `select(M)` / `sa.update(M)` -> (the call, `M`); `t.update()` / `M.__table__.select()` ->
    (the call, `t`); `session.query(M)` / `session.get(M, key)` -> (the call, `M`). Statement
    constructors count only when imported from sqlalchemy."""
    root = chain.root
    if isinstance(root, ast.Call):
        call = root
    elif chain.steps and chain.steps[0][0] != "[]":
        call = chain.steps[0][1]
    else:
        return None
    name = code.call_name(call) or ""
    first = first_arg(call)
    if name.startswith("sqlalchemy.") and name.rsplit(".", 1)[-1] in _SA_STATEMENTS:
        if first is not None and first.keyword is None:
            return call, first.value
        return None
    if call is root:
        return None
    method = call.func.attr  # type: ignore[attr-defined]
    if method in _SA_STATEMENTS and first is None:  # t.update(), M.__table__.select()
        return call, root
    if method in ("query", "get") and first is not None and first.keyword is None:
        return call, first.value
    return None


def sqlalchemy_entity(code: PythonFile, chain: Chain) -> str | None:
    """The model class (or Table variable) an SQLAlchemy chain works on (see
    `sqlalchemy_statement`)."""
    found = sqlalchemy_statement(code, chain)
    return entity_name(code, found[1]) if found is not None else None


def f_field(code: PythonFile, node: ast.AST) -> str | None:
    """The field of a Django `F("field")` expression, else None."""
    if isinstance(node, ast.Call) and code.call_name(node) in DJANGO_F:
        first = first_arg(node)
        if first is not None:
            return plain_string(code, first.value)
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


def sqlalchemy_update(code: PythonFile, node: ast.Call, tables: Callable[[str], str | None]
                      ) -> tuple[Chain, str, ast.expr, list[ast.expr]] | None:
    """For the `.values(...)` call `node` of `update(M).where(...).values(...)` (or
    `t.update().values(...)`): its chain, the entity's name (`M`, `t`), the expression naming
    it, and the where/filter conditions. None when `node` is not that call, or names something
    no file maps (`tables`) in a file that does not import SQLAlchemy."""
    chain = method_chain(code, node)
    statement = sqlalchemy_statement(code, chain)
    if statement is None or statement[0] is not node:
        return None
    entity = entity_name(code, statement[1])
    if entity is None or not (node.args or node.keywords) and not (
            tables(entity) or imports_orm(code, "sqlalchemy")):
        return None  # t.update() of something no file maps, in a file without sqlalchemy
    wheres = [a.value for name, call in chain.steps if name in ("where", "filter")
              for a in call_args(call)]
    return chain, entity, statement[1], wheres


def statement_values(code: PythonFile, chain: Chain) -> list[tuple[str, ast.expr]]:
    """(column, value) pairs of an SQLAlchemy statement's `.values(...)`: keywords, or a dict
    keyed by names or columns."""
    out: list[tuple[str, ast.expr]] = []
    for call in chain.calls("values"):
        for arg in call_args(call):
            if arg.keyword is not None:
                out.append((arg.keyword, arg.value))
            elif isinstance(arg.value, ast.Dict):
                for key, value in zip(arg.value.keys, arg.value.values, strict=True):
                    if key is None:
                        continue  # {**other}
                    name = plain_string(code, key) if isinstance(key, ast.Constant) else None
                    if name is not None:
                        out.append((name, value))
                    elif isinstance(key, ast.Attribute):
                        out.append((key.attr, value))
    return out


def imports_orm(code: PythonFile, package: str) -> bool:
    """Whether the file imports from `package` ("django", "sqlalchemy") at all."""
    return any(full == package or full.startswith(package + ".")
               for full in code.import_names.values())


def _bound_by(node: ast.AST, name: str) -> tuple[bool, Any, bool]:
    """Whether `node` binds `name` in `object_origin`'s sense, to what, and whether that is an
    annotation (a parameter's)."""
    if isinstance(node, ast.arg):
        if node.arg == name:
            return True, node.annotation, True
    elif isinstance(node, ast.Assign):
        hit: tuple[bool, Any, bool] = (False, None, False)
        for target in node.targets:
            if isinstance(target, ast.Tuple) and target.elts:
                target = target.elts[0]  # obj, created = M.objects.get_or_create(...)
                if isinstance(target, ast.Starred):
                    target = target.value
            if isinstance(target, ast.Name) and target.id == name:
                hit = (True, node.value, False)
        return hit
    elif isinstance(node, (ast.For, ast.AsyncFor)) and isinstance(node.target, ast.Name) \
            and node.target.id == name:
        return True, node.iter, False
    return False, None, False


def object_origin(code: PythonFile, function: ast.AST, name: str, use: ast.AST,
                  tables: Callable[[str], str | None], _depth: int = 0) -> Origin | None:
    """How variable `name` got its value in `function` before the node `use`: a Django
    queryset (`M.objects....get()`, `get_object_or_404(M, ...)`, a `for` over a queryset), an
    SQLAlchemy session (`session.get(M, key)`, `session.query(M)...first()`,
    `session.scalars(select(M)...).one()`), a parameter annotated with a model class, `self`
    in a model's method, or a constructor. `tables` maps a class name to its table (None when
    it is no model the project maps). None when nothing shows a model instance."""
    bound: Any = None
    annotated = False
    for node in walk(function):
        if node is use:
            break
        hit, value, annotation = _bound_by(node, name)
        if hit:
            bound, annotated = value, annotation
    if isinstance(bound, ast.Await):
        bound = bound.value
    # list(qs), next(iter(qs)): the objects of the queryset inside.
    while isinstance(bound, ast.Call) and isinstance(bound.func, ast.Name) \
            and bound.func.id in ("list", "tuple", "iter", "next", "sorted", "reversed") \
            and (bound.args or bound.keywords):
        bound = first_arg(bound).value  # type: ignore[union-attr]
    if isinstance(bound, ast.Name) and not annotated:  # batch = ...; for job in batch:
        if _depth >= 3 or bound.id == name:
            return None
        return object_origin(code, function, bound.id, use, tables, _depth + 1)
    if bound is None and name == "self":
        cls = code.enclosing(function, ast.ClassDef)
        if cls is not None and tables(cls.name):
            orm = "sqlalchemy" if imports_orm(code, "sqlalchemy") and not imports_orm(
                code, "django") else "django"
            return Origin(orm, cls.name, cls.name)
        return None
    if isinstance(bound, ast.Name):  # a parameter's annotation
        model = class_name(code, bound)
        if model and tables(model):
            orm = "sqlalchemy" if imports_orm(code, "sqlalchemy") else "django"
            return Origin(orm, model, bound.id)
        return None
    if not isinstance(bound, (ast.Call, ast.Subscript)):
        return None
    origin = _call_origin(code, bound, tables)
    if origin is None:
        return None
    return dataclasses.replace(origin, source=bound)


def _call_origin(code: PythonFile, call: ast.Call | ast.Subscript,
                 tables: Callable[[str], str | None]) -> Origin | None:
    """The origin of an object loaded by `call` (a Call, or a Subscript of a queryset)."""
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
        first = first_arg(call)
        if code.call_name(call) == "django.shortcuts.get_object_or_404" and first is not None:
            if isinstance(first.value, ast.Name):
                return Origin("django", class_name(code, first.value), first.value.id)
            chain = method_chain(code, first.value)
            model = django_model(code, chain)
            if model:
                return Origin("django", model, chain.root.value.id,  # type: ignore[attr-defined]
                              locked="select_for_update" in chain.names())
            return None
        model = class_name(code, call.func)
        if model and tables(model):  # M(...): a new row
            return Origin("django" if imports_orm(code, "django") else "sqlalchemy", model,
                          call.func.id, fresh=True)
        return None
    chain = method_chain(code, call)
    names = chain.names()
    model = django_model(code, chain)
    if model:
        return Origin("django", model, chain.root.value.id,  # type: ignore[attr-defined]
                      locked="select_for_update" in names, fresh=names[-1:] == ["create"])
    if not chain.steps or chain.steps[0][0] == "[]":
        return None
    method, first = chain.steps[0]
    arguments = call_args(first)
    if method in ("scalars", "execute", "scalar") and arguments:
        inner = method_chain(code, arguments[0].value)
        statement = sqlalchemy_statement(code, inner)
        entity = entity_name(code, statement[1]) if statement is not None else None
        if entity:
            return Origin("sqlalchemy", entity, _spelled(statement[1]),  # type: ignore[index]
                          locked="with_for_update" in inner.names())
        return None
    entity = sqlalchemy_entity(code, chain)
    if entity is None or not (tables(entity) or imports_orm(code, "sqlalchemy")):
        return None
    if method == "get" and len(arguments) < 2:
        return None  # session.get(M, key); a dict's get(key) has no model argument
    locked = "with_for_update" in names or any(
        a.keyword == "with_for_update" and not (
            isinstance(a.value, ast.Constant) and (a.value.value is False or a.value.value is None))
        for a in arguments)
    return Origin("sqlalchemy", entity, _spelled(arguments[0].value), locked=locked)


def _spelled(node: ast.AST) -> str | None:
    """The model class of an SQLAlchemy entity argument as the code spells it."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def method_calls(code: PythonFile, method: str) -> list[ast.Call]:
    """The file's `x.method(...)` calls (any receiver), in file order; kept per file, for the
    rules that ask before reading a function (is there a `save()` at all?)."""
    key = f"kit.orm.method_calls.{method}"
    found = code.derived.get(key)
    if found is None:
        found = code.derived[key] = [call for call in code.calls(method)
                                     if isinstance(call.func, ast.Attribute)]
    return found


def saved_names(code: PythonFile) -> frozenset[str]:
    """The names `x` of the file's `x.save(...)` calls."""
    found = code.derived.get("kit.orm.saved_names")
    if found is None:
        found = code.derived["kit.orm.saved_names"] = frozenset(
            call.func.value.id for call in method_calls(code, "save")  # type: ignore[attr-defined]
            if isinstance(call.func.value, ast.Name))  # type: ignore[attr-defined]
    return found


def snippet(code: PythonFile, node: ast.AST) -> str:
    """A node's code to show on its own, in a suggestion: as written, but a node over several
    lines as libcst renders it, without the indentation of the blocks around it (taken from
    the text, the continuation lines would be indented for the place the node stands in)."""
    text = code.code(node).strip()
    if "\n" not in text:
        return text
    tree, found = code.fix_tree, code.cst_of(node)
    return tree.code(found).strip() if tree is not None and found is not None else text
