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

import re
from typing import Any, Callable

from pglint.model.location import Location
from pglint.model.uses import Use
from pglint.python.orm import ModelClass, _class_body_assignments, _true, string_literal

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


class _Reader:
    def __init__(self, tree: Any, where: Callable[[int, int], Location]) -> None:
        self.tree, self.cst, self.where = tree, tree.cst, where
        self.uses: list[Use] = []
        # id of a field's value (or bare annotation) -> (its class, its attribute name)
        self.owners: dict[int, tuple[Any, str]] = {}
        self.headers: dict[int, tuple[int, int] | None] = {}  # id of a class -> header()
        self.bodies: dict[int, tuple[str, int, int] | None] = {}  # id of a class -> body()

    def add(self, table: str, column: str | None, node: Any, mapped: str) -> None:
        start, end = self.span(node)
        self.uses.append(Use(table, column.lower() if column else None, (),
                             self.where(start, end), mapped))

    def span(self, node: Any) -> tuple[int, int]:
        """Where a node is. Placing a node by libcst's positions renders its whole class, and
        the same field code (`models.DateTimeField(auto_now_add=True)`) recurs in a models
        module: a class is found by its `class Name` line and a field by its `name =` line
        in the class's body, when either is unique there."""
        found = None
        if isinstance(node, self.cst.ClassDef):
            found = self.header(node)
        elif id(node) in self.owners:
            found = self.field_line(*self.owners[id(node)])
        if found is not None:
            return found
        return self.tree.span(node.name if isinstance(node, self.cst.ClassDef) else node)

    def header(self, cls: Any) -> tuple[int, int] | None:
        """The span of a class's name on its `class` line, if no other line defines it."""
        if id(cls) not in self.headers:
            pattern = rf"(?m)^[ \t]*class[ \t]+({re.escape(cls.name.value)})\b"
            found = list(re.finditer(pattern, self.tree.text))
            self.headers[id(cls)] = found[0].span(1) if len(found) == 1 else None
        return self.headers[id(cls)]

    def field_line(self, cls: Any, attr: str) -> tuple[int, int] | None:
        """The span of `attr` where the class's body assigns it, if that is the one line of
        the body's indentation starting so."""
        body = self.body(cls)
        if body is None:
            return None
        indent, start, stop = body
        pattern = rf"(?m)^{re.escape(indent)}({re.escape(attr)})[ \t]*(?::|=(?!=))"
        found = list(re.compile(pattern).finditer(self.tree.text, start, stop))
        return found[0].span(1) if len(found) == 1 else None

    def body(self, cls: Any) -> tuple[str, int, int] | None:
        """(indentation, start, end) of a class's body in the text: from its first line
        indented as the body is to the first line indented no more than the class (a string
        that reaches the margin ends it early: its fields are then placed by libcst)."""
        if id(cls) in self.bodies:
            return self.bodies[id(cls)]
        self.bodies[id(cls)] = None
        text = self.tree.text
        header = self.header(cls)
        if header is None:
            return None
        line = text.rfind("\n", 0, header[0]) + 1
        indent = text[line:header[0]][:len(text[line:header[0]]) - len(
            text[line:header[0]].lstrip(" \t"))]
        body = indent + (getattr(cls.body, "indent", None) or self.tree.module.default_indent)
        first = re.compile(rf"\n{re.escape(body)}\S").search(text, header[1])
        if first is None:
            return None
        end = re.compile(rf"(?m)^(?![ \t]*(?:#|$))(?!{re.escape(indent)}[ \t])").search(
            text, first.start() + 1)
        self.bodies[id(cls)] = (body, first.start() + 1, end.start() if end else len(text))
        return self.bodies[id(cls)]

    def last_name(self, node: Any) -> str:
        return (self.tree.dotted(node) or "").rsplit(".", 1)[-1]

    def keywords(self, call: Any) -> dict[str, Any]:
        return {a.keyword.value: a.value for a in call.args if a.keyword is not None}

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
        linked = any(_true_keyword(self, call, "parent_link") for call in fields.values())
        for parent in model.parents:
            if parent.table and not parent.proxy and not linked:
                # Multi-table inheritance: the child's row links to its parent's.
                link = f"{parent.name.lower()}_ptr"
                self.add(model.table, f"{link}_id", model.node, f"{model.name}.{link}")

    def django_fields(self, model: ModelClass) -> dict[str, Any]:
        """Field name -> its call: the abstract bases' fields first, the model's own last (a
        field redefined by the model is the model's)."""
        fields: dict[str, Any] = {}
        for parent in model.parents:
            if parent.table is None and not parent.proxy:  # abstract: its fields are ours
                fields.update(self.django_fields(parent))
        for attr, value in _class_body_assignments(self.tree, model.node.body).items():
            if isinstance(value, self.cst.Call) and _is_django_field(self.last_name(value.func)):
                fields[attr] = value
                self.owners[id(value)] = (model.node, attr)
        return fields

    def django_field(self, model: ModelClass, attr: str, call: Any) -> None:
        kind = self.last_name(call.func)
        keywords = self.keywords(call)
        mapped = f"{model.name}.{attr}"
        if kind.endswith("ManyToManyField"):
            self.many_to_many(model, attr, call, keywords, mapped)
            return
        column = attr + "_id" if kind.endswith(_RELATION_SUFFIXES) else attr
        if "db_column" in keywords:
            column = string_literal(self.tree, keywords["db_column"])
            if not column:
                return
        self.add(model.table, column, call, mapped)

    def many_to_many(self, model: ModelClass, attr: str, call: Any, keywords: dict[str, Any],
                     mapped: str) -> None:
        """The join table Django makes for the field (a `through=` model maps its own)."""
        if "through" in keywords:
            return
        if "db_table" in keywords:
            table = string_literal(self.tree, keywords["db_table"])
        else:
            table = f"{model.table}_{attr}"
            table = table if len(table) <= _MAX_NAME else None
        if not table:
            return
        self.add(table, None, call, mapped)
        target = self.model_name(call.args[0].value if call.args and call.args[0].keyword
                                 is None else keywords.get("to"))
        if target is None:
            return
        source = model.name.lower()
        target = source if target == "self" else target
        if source == target:
            source, target = f"from_{source}", f"to_{target}"
        self.add(table, f"{source}_id", call, mapped)
        self.add(table, f"{target}_id", call, mapped)

    def model_name(self, node: Any) -> str | None:
        """The lowercase model name a relation points to: `"app.Order"`, `"self"`, `Order`."""
        if node is None:
            return None
        text = string_literal(self.tree, node)
        if text is None:
            text = self.tree.dotted(node)
            if text is None or "." in text:  # settings.AUTH_USER_MODEL and the like
                return None
        return text.rsplit(".", 1)[-1].lower() or None

    # SQLAlchemy -------------------------------------------------------------------------------

    def sqlalchemy(self, classes: list[ModelClass]) -> None:
        mapped = {m.name: m for m in classes if m.framework == "sqlalchemy"}
        nodes = {cls.name.value: cls for cls in self.tree.nodes("ClassDef")}
        tables: dict[str, str | None] = {}  # class name -> the table it maps, None: none

        def table_of(name: str) -> str | None:
            if name in tables:
                return tables[name]
            tables[name] = None  # a cycle of names maps nothing
            cls = nodes[name]
            assigned = _class_body_assignments(self.tree, cls.body)
            parent = next((t for t in map(table_of, self.bases(cls, nodes)) if t), None)
            if name in mapped and (parent is None or self.declares_columns(cls)):
                tables[name] = self.schema_table(mapped[name].table, assigned)
            elif name in mapped:
                # A subclass with a __tablename__ but no column: no table of its own (a table
                # needs a key; Flask-SQLAlchemy makes it single-table inheritance).
                tables[name] = parent
            elif not _true(assigned.get("__abstract__"), self.tree):
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

    def declares_columns(self, cls: Any) -> bool:
        return any(self.sa_column(small) is not None for statement in
                   getattr(cls.body, "body", ()) if isinstance(statement, self.cst.SimpleStatementLine)
                   for small in statement.body)

    def bases(self, cls: Any, nodes: dict[str, Any]) -> list[str]:
        """The bases of a class that are classes of this file."""
        names = [self.tree.dotted(arg.value) for arg in cls.bases]
        return [b for b in names if b in nodes and b != cls.name.value]

    def schema_table(self, table: str | None, assigned: dict[str, Any]) -> str | None:
        """The table as the catalog keys it, with `__table_args__`'s schema; None when the
        schema is not a literal."""
        args = assigned.get("__table_args__")
        if isinstance(args, self.cst.Tuple) and args.elements:
            args = args.elements[-1].value
        if not isinstance(args, self.cst.Dict) or table is None:
            return table
        for element in args.elements:
            if isinstance(element, self.cst.DictElement) and \
                    string_literal(self.tree, element.key) == "schema":
                schema = string_literal(self.tree, element.value)
                if schema is None:
                    return None
                return table if schema == "public" else f"{schema}.{table}"
        return table

    def sa_columns(self, cls: Any, nodes: dict[str, Any], tables: dict[str, str | None],
                   table_of: Callable[[str], str | None], seen: frozenset[str] = frozenset()
                   ) -> list[tuple[str, str, Any]]:
        """(attribute, column, node) of a class's columns: its bases' without a table of
        their own first (mixins, abstract classes), then its own."""
        out: list[tuple[str, str, Any]] = []
        for base in self.bases(cls, nodes):
            if base not in seen and table_of(base) is None:
                out.extend(self.sa_columns(nodes[base], nodes, tables, table_of,
                                           seen | {cls.name.value}))
        for statement in getattr(cls.body, "body", ()):
            if not isinstance(statement, self.cst.SimpleStatementLine):
                continue
            for small in statement.body:
                found = self.sa_column(small)
                if found is not None:
                    out.append(found)
                    self.owners[id(found[2])] = (cls, found[0])
        return out

    def sa_column(self, small: Any) -> tuple[str, str, Any] | None:
        cst = self.cst
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
        elif isinstance(small, cst.AnnAssign):
            target, value = small.target, small.value
        else:
            return None
        if not isinstance(target, cst.Name) or target.value in _NOT_COLUMNS:
            return None
        attr = target.value
        if value is None:  # `total: Mapped[int]`: a column in SQLAlchemy 2's declarative
            return (attr, attr, target) if self.bare_mapped(small.annotation.annotation) \
                else None
        call = self.column_call(value)
        if call is None:
            return None
        name = self.column_name(call)
        if name is False:
            return None
        return attr, name or attr, call

    def column_call(self, value: Any) -> Any:
        """The `Column(...)` / `mapped_column(...)` call of a value, through `deferred()`."""
        if not isinstance(value, self.cst.Call):
            return None
        kind = self.last_name(value.func)
        if kind in _SA_WRAPPERS and value.args:
            return self.column_call(value.args[0].value)
        return value if kind in _SA_COLUMNS else None

    def column_name(self, call: Any) -> str | None | bool:
        """A column call's name: its first argument if a string, `name=`; None: unnamed (the
        attribute's); False: a name that cannot be read."""
        first = call.args[0] if call.args and call.args[0].keyword is None else None
        if first is not None and isinstance(first.value, (self.cst.SimpleString,
                                                          self.cst.ConcatenatedString,
                                                          self.cst.FormattedString)):
            return string_literal(self.tree, first.value) or False
        named = self.keywords(call).get("name")
        if named is not None:
            return string_literal(self.tree, named) or False
        return None

    def bare_mapped(self, annotation: Any) -> bool:
        """`Mapped[int]`, `Mapped[str | None]`: a column; not `Mapped["Other"]` or
        `Mapped[list[...]]`, a relationship that needs relationship() (or is an error)."""
        cst = self.cst
        if not isinstance(annotation, cst.Subscript) or self.last_name(annotation.value) \
                != "Mapped" or len(annotation.slice) != 1:
            return False
        inner = annotation.slice[0].slice
        inner = getattr(inner, "value", None)
        if inner is None or isinstance(inner, (cst.SimpleString, cst.ConcatenatedString)):
            return False
        if isinstance(inner, cst.Subscript) and self.last_name(inner.value).lower() in (
                "list", "set", "dict", "sequence", "writeonlymapped", "dynamicmapped"):
            return False
        return True

    def table_objects(self) -> None:
        """`Table("orders", metadata, Column("total", ...), schema=...)` calls."""
        cst = self.cst
        for call in self.tree.nodes("Call"):
            if self.last_name(call.func) != "Table" or len(call.args) < 2 or any(
                    a.keyword is not None for a in call.args[:2]):
                continue
            name = string_literal(self.tree, call.args[0].value)
            columns = [a.value for a in call.args[2:] if a.keyword is None and isinstance(
                a.value, cst.Call) and self.last_name(a.value.func) == "Column"]
            meta = (self.tree.dotted(call.args[1].value) or "").lower()
            if not name or not (columns or "meta" in meta):
                continue  # another library's Table (rich, docx, prettytable)
            schema_node = self.keywords(call).get("schema")
            schema = string_literal(self.tree, schema_node) if schema_node is not None else ""
            if schema is None:
                continue
            table = f"{schema}.{name}" if schema and schema != "public" else name
            parent = self.tree.parent(call)
            variable = parent.targets[0].target if isinstance(parent, cst.Assign) and len(
                parent.targets) == 1 else None
            owner = variable.value if isinstance(variable, cst.Name) else f'Table("{name}")'
            self.add(table, None, call, owner)
            for column in columns:
                col = string_literal(self.tree, column.args[0].value) if column.args else None
                if col:
                    self.add(table, col, column, f"{owner}.c.{col}")


def _is_django_field(kind: str) -> bool:
    return kind.endswith(("Field", *_RELATION_SUFFIXES)) and kind not in _NOT_FIELDS


def _true_keyword(reader: _Reader, call: Any, name: str) -> bool:
    return _true(reader.keywords(call).get(name), reader.tree)


def model_uses(tree: Any, classes: list[ModelClass], where: Callable[[int, int], Location]
               ) -> list[Use]:
    """The uses of a file's models (`classes`, from pglint.python.orm.model_classes) and
    Table objects, located at the class, field or column that maps each."""
    reader = _Reader(tree, where)
    for model in classes:
        if model.framework == "django":
            reader.django(model)
    if any(m.framework == "sqlalchemy" for m in classes):
        reader.sqlalchemy(classes)
    reader.table_objects()
    return reader.uses
