"""The tables and columns that application models map, as uses (pglint.model.uses): an ORM
names every mapped column of a model whenever it loads one, so a column the model still maps
is used as surely as one a query names.

Django (the model classes and tables of pglint.python.orm.model_classes): the model's table;
each concrete field's column (`db_column`, else the field's name, `<name>_id` for a ForeignKey
or OneToOneField), the fields of its abstract bases of this file included, and the
`<parent>_ptr_id` link of a model deriving from a concrete one; a ManyToManyField without
`through=` maps its join table (`db_table`, else `<table>_<field>`) and that table's two
columns. A model with `managed = False` still maps its table; an abstract one maps none; a
proxy maps its parent's table and no column of its own.

SQLAlchemy: a `__tablename__` class maps its table (with `__table_args__`'s schema) and each
`Column(...)` / `mapped_column(...)` attribute (named by its first argument when that is a
string, else by the attribute) and each bare `Mapped[...]` annotation, those of its bases of
this file without a table (mixins, `__abstract__` classes) included; a subclass without
`__tablename__` adds its columns to its parent's table (single-table inheritance). A
`Table("name", metadata, Column("col", ...), ...)` maps its table and the columns it lists.

What cannot be read for certain (a `db_column` or schema that is not a string literal, a base
from another module) maps nothing: no use is invented.
"""

from __future__ import annotations

import ast
import re
from typing import Callable, Iterable

from pglint.model.location import Location
from pglint.model.uses import Use
from pglint.python.orm import (
    ModelClass, block, class_assignments, is_true, keyword_values, keywords, last_part,
    unstarred,
)
from pglint.python.pyfile import PythonFile, dotted, in_text_order, plain_string

_SA_COLUMNS = ("Column", "mapped_column")
_SA_WRAPPERS = ("deferred", "column_property")  # `deferred(Column(...))` is still a column
# Django fields whose column is the field's name with `_id` (mptt's TreeForeignKey,
# modelcluster's ParentalKey follow ForeignKey).
_RELATION_SUFFIXES = ("ForeignKey", "OneToOneField", "ParentalKey")
# Not columns: a generic relation reads two columns named elsewhere; a composite key is made
# of other fields.
_NOT_FIELDS = frozenset({"GenericForeignKey", "CompositePrimaryKey"})
_NOT_COLUMNS = frozenset({"__tablename__", "__table_args__", "__mapper_args__", "__abstract__"})
_MAX_NAME = 63  # PostgreSQL's identifier length: Django shortens longer join table names


_NAME = r"[^\W\d]\w*"  # a Python identifier
_CLASS_LINE = re.compile(rf"(?m)^[ \t]*class[ \t]+({_NAME})")


def _spans_by_name(matches: Iterable[re.Match[str]]) -> dict[str, list[tuple[int, int]]]:
    """Group 1 of each match (a name) -> the spans where it was found, in order."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for match in matches:
        spans.setdefault(match.group(1), []).append(match.span(1))
    return spans


class _Reader:
    def __init__(self, code: PythonFile, where: Callable[[int, int], Location]) -> None:
        self.code, self.where = code, where
        self.uses: list[Use] = []
        # id of a field's value (or bare annotation) -> (its class, its attribute name)
        self.owners: dict[int, tuple[ast.ClassDef, str]] = {}
        self.bodies: dict[int, tuple[str, int, int] | None] = {}  # id of a class -> body()
        # Every `class Name` line and every body's `name =` lines, found in one scan each:
        # a pattern per name would scan the text once per class and field (seconds on a
        # models module of a thousand fields).
        self.class_lines: dict[str, list[tuple[int, int]]] | None = None
        self.field_lines: dict[int, dict[str, list[tuple[int, int]]]] = {}  # id of a class

    def add(self, table: str, column: str | None, node: ast.AST, mapped: str) -> None:
        start, end = self.span(node)
        self.uses.append(Use(table, column.lower() if column else None, (),
                             self.where(start, end), mapped))

    def span(self, node: ast.AST) -> tuple[int, int]:
        """Where a node is: a class at its name, a field at its attribute's name. A class is
        found by its `class Name` line and a field by its `name =` line in the class's body,
        when either is unique there (the same field code recurs in a models module); else by
        the node's own position."""
        found = None
        if isinstance(node, ast.ClassDef):
            found = self.header(node)
        elif id(node) in self.owners:
            found = self.field_line(*self.owners[id(node)])
        if found is not None:
            return found
        if isinstance(node, ast.ClassDef):
            # The name after `class` (only blanks and line continuations between them).
            start = self.code.text.find(node.name, self.code.span(node)[0] + len("class"))
            return start, start + len(node.name)
        return self.code.span(node)

    def header(self, cls: ast.ClassDef) -> tuple[int, int] | None:
        """The span of a class's name on its `class` line, if no other line defines it."""
        if self.class_lines is None:
            self.class_lines = _spans_by_name(_CLASS_LINE.finditer(self.code.text))
        found = self.class_lines.get(cls.name, ())
        return found[0] if len(found) == 1 else None

    def field_line(self, cls: ast.ClassDef, attr: str) -> tuple[int, int] | None:
        """The span of `attr` where the class's body assigns it, if that is the one line of
        the body's indentation starting so."""
        if id(cls) not in self.field_lines:
            body = self.body(cls)
            self.field_lines[id(cls)] = {} if body is None else _spans_by_name(
                re.compile(rf"(?m)^{re.escape(body[0])}({_NAME})[ \t]*(?::|=(?!=))")
                .finditer(self.code.text, body[1], body[2]))
        found = self.field_lines[id(cls)].get(attr, ())
        return found[0] if len(found) == 1 else None

    def body(self, cls: ast.ClassDef) -> tuple[str, int, int] | None:
        """(indentation, start, end) of a class's body in the text: from its first line
        indented as the body is to the first line indented no more than the class (a string
        that reaches the margin ends it early: its fields are then placed by their own
        positions)."""
        if id(cls) in self.bodies:
            return self.bodies[id(cls)]
        self.bodies[id(cls)] = None
        code, text = self.code, self.code.text
        header = self.header(cls)
        if header is None:
            return None
        line = text.rfind("\n", 0, header[0]) + 1
        indent = text[line:header[0]][:len(text[line:header[0]]) - len(
            text[line:header[0]].lstrip(" \t"))]
        # The body's indentation relative to the class's (the blanks its first statement
        # has beyond those of the `class` line).
        first = cls.body[0]
        own = text[code.offset(cls.lineno, 0):code.offset(cls.lineno, cls.col_offset)]
        body = indent + text[code.offset(first.lineno, 0) + len(own):
                             code.offset(first.lineno, first.col_offset)]
        found = re.compile(rf"\n{re.escape(body)}\S").search(text, header[1])
        if found is None:
            return None
        end = re.compile(rf"(?m)^(?![ \t]*(?:#|$))(?!{re.escape(indent)}[ \t])").search(
            text, found.start() + 1)
        self.bodies[id(cls)] = (body, found.start() + 1, end.start() if end else len(text))
        return self.bodies[id(cls)]

    # Django -----------------------------------------------------------------------------------

    def django(self, model: ModelClass) -> None:
        if model.table is None:
            return
        self.add(model.table, None, model.node, model.name)
        if model.proxy:
            return
        fields = self.django_fields(model)
        for attr, call in fields.items():
            self.django_field(model, attr, call)
        linked = any(is_true(keywords(call).get("parent_link")) for call in fields.values())
        for parent in model.parents:
            if parent.table and not parent.proxy and not linked:
                # Multi-table inheritance: the child's row links to its parent's.
                link = f"{parent.name.lower()}_ptr"
                self.add(model.table, f"{link}_id", model.node, f"{model.name}.{link}")

    def django_fields(self, model: ModelClass) -> dict[str, ast.Call]:
        """Field name -> its call: the abstract bases' fields first, the model's own last (a
        field redefined by the model is the model's)."""
        fields: dict[str, ast.Call] = {}
        for parent in model.parents:
            if parent.table is None and not parent.proxy:  # abstract: its fields are ours
                fields.update(self.django_fields(parent))
        for attr, value in class_assignments(self.code, model.node).items():
            if isinstance(value, ast.Call) and _is_django_field(last_part(value.func)):
                fields[attr] = value
                self.owners[id(value)] = (model.node, attr)
        return fields

    def django_field(self, model: ModelClass, attr: str, call: ast.Call) -> None:
        assert model.table is not None
        kind = last_part(call.func)
        given = keywords(call)
        mapped = f"{model.name}.{attr}"
        if kind.endswith("ManyToManyField"):
            self.many_to_many(model, attr, call, given, mapped)
            return
        column: str | None = attr + "_id" if kind.endswith(_RELATION_SUFFIXES) else attr
        if "db_column" in given:
            column = plain_string(self.code, given["db_column"])
            if not column:
                return
        self.add(model.table, column, call, mapped)

    def many_to_many(self, model: ModelClass, attr: str, call: ast.Call,
                     given: dict[str, ast.expr], mapped: str) -> None:
        """The join table Django makes for the field (a `through=` model maps its own)."""
        if "through" in given:
            return
        table: str | None
        if "db_table" in given:
            table = plain_string(self.code, given["db_table"])
        else:
            table = f"{model.table}_{attr}"
            table = table if len(table) <= _MAX_NAME else None
        if not table:
            return
        self.add(table, None, call, mapped)
        args = keyword_values(call)
        target = self.model_name(args[0][1] if args and args[0][0] is None
                                 else given.get("to"))
        if target is None:
            return
        source = model.name.lower()
        target = source if target == "self" else target
        if source == target:
            source, target = f"from_{source}", f"to_{target}"
        self.add(table, f"{source}_id", call, mapped)
        self.add(table, f"{target}_id", call, mapped)

    def model_name(self, node: ast.expr | None) -> str | None:
        """The lowercase model name a relation points to: `"app.Order"`, `"self"`, `Order`."""
        if node is None:
            return None
        text = plain_string(self.code, node)
        if text is None:
            text = dotted(node)
            if text is None or "." in text:  # settings.AUTH_USER_MODEL and the like
                return None
        return text.rsplit(".", 1)[-1].lower() or None

    # SQLAlchemy -------------------------------------------------------------------------------

    def sqlalchemy(self, classes: list[ModelClass]) -> None:
        mapped = {m.name: m for m in classes if m.framework == "sqlalchemy"}
        nodes = {cls.name: cls for cls in self.code.nodes(ast.ClassDef)}
        tables: dict[str, str | None] = {}  # class name -> the table it maps, None: none

        def table_of(name: str) -> str | None:
            if name in tables:
                return tables[name]
            tables[name] = None  # a cycle of names maps nothing
            cls = nodes[name]
            assigned = class_assignments(self.code, cls)
            parent = next((t for t in map(table_of, self.bases(cls, nodes)) if t), None)
            if name in mapped and (parent is None or self.declares_columns(cls)):
                tables[name] = self.schema_table(mapped[name].table, assigned)
            elif name in mapped:
                # A subclass with a __tablename__ but no column: no table of its own (a table
                # needs a key; Flask-SQLAlchemy makes it single-table inheritance).
                tables[name] = parent
            elif not is_true(assigned.get("__abstract__")):
                # No __tablename__: single-table inheritance from a mapped base, if any.
                tables[name] = parent
            return tables[name]

        for name in nodes:
            table = table_of(name)
            if table is None:
                continue
            cls = nodes[name]
            if name in mapped:
                self.add(table, None, cls, name)
            for attr, column, node in self.sa_columns(cls, nodes, tables, table_of):
                self.add(table, column, node, f"{name}.{attr}")

    def declares_columns(self, cls: ast.ClassDef) -> bool:
        return any(self.sa_column(statement) is not None
                   for statement in block(self.code, cls))

    @staticmethod
    def bases(cls: ast.ClassDef, nodes: dict[str, ast.ClassDef]) -> list[str]:
        """The bases of a class that are classes of this file."""
        names = [dotted(unstarred(base)) for base in cls.bases]
        return [b for b in names if b in nodes and b != cls.name]

    def schema_table(self, table: str | None, assigned: dict[str, ast.expr]) -> str | None:
        """The table as the catalog keys it, with `__table_args__`'s schema; None when the
        schema is not a literal."""
        args = assigned.get("__table_args__")
        if isinstance(args, ast.Tuple) and args.elts:
            args = unstarred(args.elts[-1])
        if not isinstance(args, ast.Dict) or table is None:
            return table
        for key, value in zip(args.keys, args.values):
            if key is not None and plain_string(self.code, key) == "schema":
                schema = plain_string(self.code, value)
                if schema is None:
                    return None
                return table if schema == "public" else f"{schema}.{table}"
        return table

    def sa_columns(self, cls: ast.ClassDef, nodes: dict[str, ast.ClassDef],
                   tables: dict[str, str | None], table_of: Callable[[str], str | None],
                   seen: frozenset[str] = frozenset()) -> list[tuple[str, str, ast.AST]]:
        """(attribute, column, node) of a class's columns: its bases' without a table of
        their own first (mixins, abstract classes), then its own."""
        out: list[tuple[str, str, ast.AST]] = []
        for base in self.bases(cls, nodes):
            if base not in seen and table_of(base) is None:
                out.extend(self.sa_columns(nodes[base], nodes, tables, table_of,
                                           seen | {cls.name}))
        for statement in block(self.code, cls):
            found = self.sa_column(statement)
            if found is not None:
                out.append(found)
                self.owners[id(found[2])] = (cls, found[0])
        return out

    def sa_column(self, statement: ast.stmt) -> tuple[str, str, ast.AST] | None:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target, value = statement.targets[0], statement.value
        elif isinstance(statement, ast.AnnAssign):
            target, value = statement.target, statement.value
        else:
            return None
        if not isinstance(target, ast.Name) or target.id in _NOT_COLUMNS:
            return None
        attr = target.id
        if value is None:  # `total: Mapped[int]`: a column in SQLAlchemy 2's declarative
            assert isinstance(statement, ast.AnnAssign)
            return (attr, attr, target) if self.bare_mapped(statement.annotation) else None
        call = self.column_call(value)
        if call is None:
            return None
        name = self.column_name(call)
        if name is False:
            return None
        return attr, name or attr, call

    def column_call(self, value: ast.expr) -> ast.Call | None:
        """The `Column(...)` / `mapped_column(...)` call of a value, through `deferred()`."""
        if not isinstance(value, ast.Call):
            return None
        kind = last_part(value.func)
        if kind in _SA_WRAPPERS:
            args = keyword_values(value)
            if args:
                return self.column_call(args[0][1])
        return value if kind in _SA_COLUMNS else None

    def column_name(self, call: ast.Call) -> str | None | bool:
        """A column call's name: its first argument if a string, `name=`; None: unnamed (the
        attribute's); False: a name that cannot be read."""
        args = keyword_values(call)
        first = args[0][1] if args and args[0][0] is None else None
        if first is not None and (isinstance(first, ast.JoinedStr) or isinstance(
                first, ast.Constant) and isinstance(first.value, (str, bytes))):
            return plain_string(self.code, first) or False
        named = keywords(call).get("name")
        if named is not None:
            return plain_string(self.code, named) or False
        return None

    def bare_mapped(self, annotation: ast.expr) -> bool:
        """`Mapped[int]`, `Mapped[str | None]`: a column; not `Mapped["Other"]` or
        `Mapped[list[...]]`, a relationship that needs relationship() (or is an error)."""
        if not isinstance(annotation, ast.Subscript) or last_part(annotation.value) != "Mapped":
            return False
        inner = annotation.slice
        if isinstance(inner, ast.Slice) or isinstance(inner, ast.Tuple) and not (
                self.code.code(inner).startswith("(")):
            return False  # `Mapped[a, b]`, `Mapped[a:b]`: not one type
        if isinstance(inner, ast.Constant) and isinstance(inner.value, (str, bytes)):
            return False
        if isinstance(inner, ast.Subscript) and last_part(inner.value).lower() in (
                "list", "set", "dict", "sequence", "writeonlymapped", "dynamicmapped"):
            return False
        return True

    def table_objects(self) -> None:
        """`Table("orders", metadata, Column("total", ...), schema=...)` calls."""
        for call in in_text_order(self.code.nodes(ast.Call)):
            if last_part(call.func) != "Table":
                continue
            args = keyword_values(call)
            if len(args) < 2 or any(name is not None for name, _ in args[:2]):
                continue
            name = plain_string(self.code, args[0][1])
            columns = [value for keyword, value in args[2:] if keyword is None and isinstance(
                value, ast.Call) and last_part(value.func) == "Column"]
            meta = (dotted(args[1][1]) or "").lower()
            if not name or not (columns or "meta" in meta):
                continue  # another library's Table (rich, docx, prettytable)
            schema_node = keywords(call).get("schema")
            schema = plain_string(self.code, schema_node) if schema_node is not None else ""
            if schema is None:
                continue
            table = f"{schema}.{name}" if schema and schema != "public" else name
            parent = self.code.parent(call)
            variable = parent.targets[0] if isinstance(parent, ast.Assign) and len(
                parent.targets) == 1 else None
            owner = variable.id if isinstance(variable, ast.Name) else f'Table("{name}")'
            self.add(table, None, call, owner)
            for column in columns:
                first = keyword_values(column)
                col = plain_string(self.code, first[0][1]) if first else None
                if col:
                    self.add(table, col, column, f"{owner}.c.{col}")


def _is_django_field(kind: str) -> bool:
    return kind.endswith(("Field", *_RELATION_SUFFIXES)) and kind not in _NOT_FIELDS


def model_uses(code: PythonFile, classes: list[ModelClass],
               where: Callable[[int, int], Location]) -> list[Use]:
    """The uses of a file's models (`classes`, from pglint.python.orm.model_classes) and
    Table objects, located at the class, field or column that maps each."""
    reader = _Reader(code, where)
    for model in classes:
        if model.framework == "django":
            reader.django(model)
    if any(m.framework == "sqlalchemy" for m in classes):
        reader.sqlalchemy(classes)
    reader.table_objects()
    return reader.uses
