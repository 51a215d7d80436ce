"""A Python file's libcst tree, parsed only to build a fix (`PythonFile.fix_tree`): rules find
what they report on CPython's tree (pglint.python.pyfile) and render their edits here.

One walk records every node's parent and indexes the nodes by class name (libcst's visitor
machinery costs about as much as parsing). Positions are file
character offsets, like everywhere else in pglint: libcst's `PositionProvider` (1-based lines,
0-based columns counted in characters) is converted here, and computed only when a rule asks
for a span, since it regenerates the code of the whole module.

Fixes are libcst replacements rendered back over the replaced node's span: `replace(old, new)`
gives the `Edit`, `add_import(...)` the one-line import to insert (or nothing if the name is
already imported).
"""

from __future__ import annotations

import operator
import sys
from typing import Any, Iterator

from pglint.finding import Edit
from pglint.python.pyfile import local_name, resolved
from pglint.source import indent_at, line_starts

# Fields of libcst nodes that never hold a node worth visiting.
_NOT_WALKED = frozenset({
    "lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer", "comma",
    "semicolon", "dot", "equal", "colon", "newline", "asynchronous",
    "trailing_whitespace", "default_indent", "default_newline", "encoding",
    "has_trailing_newline", "star",
})
_FIELDS: dict[type, tuple[str, ...]] = {}
# Deeper trees are not linted (see PythonTree.parse); positions and rendering recurse about
# three Python frames per level.
MAX_DEPTH = 250
# Nodes whose fields are declared in another order than their code reads: walked in the order
# of the text, so that nodes come out in file order.
_TEXT_ORDER = {
    "Arg": ("keyword", "value"),
    "IfExp": ("body", "test", "orelse"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "FunctionDef": ("decorators", "name", "type_parameters", "params", "returns", "body"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "MatchCase": ("pattern", "guard", "body"),
    "Parameters": ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params",
                   "star_kwarg"),
}


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        import dataclasses

        names = tuple(f.name for f in dataclasses.fields(cls)
                      if f.name not in _NOT_WALKED and "whitespace" not in f.name)
        order = _TEXT_ORDER.get(cls.__name__)
        if order is not None:
            names = tuple(n for n in order if n in names) + tuple(
                n for n in names if n not in order)
        _FIELDS[cls] = names
    return names


def _separator(ws: Any, cst: Any) -> Any:
    """Whitespace after a comma between items: a layout's newline and indent without its
    comment, or one blank on one line."""
    if isinstance(ws, cst.ParenthesizedWhitespace):
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=[],
                                           indent=ws.indent, last_line=ws.last_line)
    return cst.SimpleWhitespace(" ")


# Node class -> (its name, a function returning the values of its walked fields as a tuple,
# or None when it has none).
_READERS: dict[type, tuple[str, Any]] = {}


def _reader(cls: type) -> tuple[str, Any]:
    names = _fields(cls)
    if not names:
        return cls.__name__, None
    if len(names) == 1:
        only = operator.attrgetter(names[0])
        return cls.__name__, lambda node: (only(node),)
    return cls.__name__, operator.attrgetter(*names)


class PythonTree:
    """The parsed module with parents, an index by node type, imports and positions."""

    def __init__(self, text: str, module: Any) -> None:
        import libcst as cst

        self.cst = cst
        self.text = text
        self.module = module
        # libcst does not see a byte-order mark: its positions start after it.
        self.shift = 1 if text.startswith("\ufeff") else 0
        self.parents: dict[int, Any] = {}
        self.by_type: dict[str, list[Any]] = {}
        self._walk()
        self.imports = self._imports()
        self._positions: Any = None
        self._inclusive: Any = None
        self._line_starts: list[int] = []
        # Top-level statement id -> (its file offset, positions within it), or None.
        self._tops: dict[int, Any] = {}

    @classmethod
    def parse(cls, text: str, screened: bool = False) -> "PythonTree | None":
        """The tree of a Python file, or None if libcst cannot parse it (Python syntax errors
        are the Python linters' business). `screened`: CPython's parser already accepted it."""
        import libcst as cst  # lazily: about 0.1 s to import

        from pglint.python.pyfile import parse as cpython_parse

        # CPython's own parser first (a fifth of libcst's cost): it refuses pathological
        # nesting (too many parentheses, 20,000 chained operators) with an exception where
        # libcst's native parser can crash the process.
        if not screened and cpython_parse(text) is None:
            return None
        source = text[1:] if text.startswith("\ufeff") else text
        try:
            module = cst.parse_module(source)
        except Exception:  # ParserSyntaxError, and RecursionError on pathological nesting
            return None
        tree = cls(text, module)
        # libcst renders and positions nodes recursively: a tree deeper than this (hundreds of
        # nested brackets or `elif`s, thousands of `+` terms) is generated code, not read.
        return tree if tree.depth <= MAX_DEPTH else None

    # -- structure -----------------------------------------------------------------------------

    def _walk(self) -> None:
        node_type = self.cst.CSTNode
        parents, by_type = self.parents, self.by_type
        stack = [(self.module, 0)]
        pop, push = stack.pop, stack.append
        deepest = 0
        while stack:
            node, depth = pop()
            kind = type(node)
            read = _READERS.get(kind)
            if read is None:
                read = _READERS[kind] = _reader(kind)
            name, getter = read
            found = by_type.get(name)
            if found is None:
                by_type[name] = [node]
            else:
                found.append(node)
            if depth > deepest:
                deepest = depth
            if getter is None:
                continue
            children = []
            for value in getter(node):
                if isinstance(value, node_type):
                    children.append(value)
                elif isinstance(value, (tuple, list)):
                    children.extend(v for v in value if isinstance(v, node_type))
            depth += 1
            for child in reversed(children):  # popped in pre-order: file order
                parents[id(child)] = node
                push((child, depth))
        self.depth = deepest

    def nodes(self, type_name: str) -> list[Any]:
        """Every node of a libcst class (by name), in file order."""
        return self.by_type.get(type_name, [])

    def parent(self, node: Any) -> Any:
        return self.parents.get(id(node))

    def names_variable(self, name: Any) -> bool:
        """Whether a Name node names a variable: not an attribute (`x.name`), not a keyword
        argument (`f(name=1)`)."""
        parent = self.parents.get(id(name))
        return not (isinstance(parent, self.cst.Attribute) and parent.attr is name
                    or isinstance(parent, self.cst.Arg) and parent.keyword is name)

    def ancestors(self, node: Any) -> Iterator[Any]:
        node = self.parents.get(id(node))
        while node is not None:
            yield node
            node = self.parents.get(id(node))

    def enclosing(self, node: Any, *types: type) -> Any:
        """The nearest ancestor of one of `types`, or None."""
        return next((a for a in self.ancestors(node) if isinstance(a, types)), None)

    def statement(self, node: Any) -> Any:
        """The statement holding `node`: a SimpleStatementLine or a compound statement."""
        cst = self.cst
        if isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            return node
        return self.enclosing(node, cst.SimpleStatementLine, cst.BaseCompoundStatement)

    def descendants(self, node: Any) -> Iterator[Any]:
        node_type = self.cst.CSTNode
        stack = [node]
        while stack:
            current = stack.pop()
            children = []
            for name in _fields(type(current)):
                value = getattr(current, name)
                if isinstance(value, node_type):
                    children.append(value)
                elif isinstance(value, (tuple, list)):
                    children.extend(v for v in value if isinstance(v, node_type))
            stack.extend(reversed(children))
            if current is not node:
                yield current

    # -- names ---------------------------------------------------------------------------------

    def _imports(self) -> dict[str, str]:
        """Local name -> what it was imported as: `sleep` -> `time.sleep`, `tn` -> `tenacity`.

        Imports anywhere in the file count (function-level imports are common in scripts)."""
        cst = self.cst
        names: dict[str, str] = {}
        for node in self.nodes("Import"):
            for alias in node.names:
                full = self.dotted(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    names[alias.asname.name.value] = full
                else:
                    names[full.split(".")[0]] = full.split(".")[0]
        for node in self.nodes("ImportFrom"):
            if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
                continue
            base = self.dotted(node.module) or ""
            for alias in node.names:
                name = self.dotted(alias.name) or ""
                local = alias.asname.name.value if alias.asname is not None and isinstance(
                    alias.asname.name, cst.Name) else name
                names[local] = f"{base}.{name}"
        return names

    def dotted(self, node: Any) -> str | None:
        """`a.b.c` of a Name/Attribute chain as written, or None for anything else."""
        cst = self.cst
        parts = []
        while isinstance(node, cst.Attribute):
            parts.append(node.attr.value)
            node = node.value
        if not isinstance(node, cst.Name):
            return None
        parts.append(node.value)
        return ".".join(reversed(parts))

    def qualified(self, node: Any) -> str | None:
        """The dotted name with its first part resolved through the file's imports:
        `sleep` -> `time.sleep` after `from time import sleep`; names not imported stay as
        written (`obj.save`)."""
        name = self.dotted(node)
        if name is None:
            return None
        return resolved(self.imports, name)

    def call_name(self, call: Any) -> str | None:
        """The qualified name of what a Call calls (None for computed callees)."""
        return self.qualified(call.func)

    def is_imported(self, module: str, name: str | None = None) -> str | None:
        """The local name under which `module` (or `module.name`) is usable, or None."""
        return local_name(self.imports, module, name)

    # -- positions -----------------------------------------------------------------------------

    def _offset(self, position: Any) -> int:
        return self._offset_at(0, position)

    def span(self, node: Any) -> tuple[int, int]:
        """File character offsets of the node's code (its own leading/trailing blanks excluded).

        Found by text search where that is provably exact (much cheaper than libcst's
        positions, which regenerate the whole module's code): code that occurs once in the
        file can only be there; else, inside the nearest enclosing expression whose code occurs
        once, the occurrences of the node's code are exactly the nodes with that code when
        their numbers agree (every node's code is in the text at its place), in file order.
        Otherwise libcst's PositionProvider decides.
        """
        # Once a top-level statement's positions are known, its nodes are looked up there
        # (rendering a node's code to search for it costs more than the lookup).
        found = self._in_top_statement(node, compute=False)
        if found is None:
            code = self._searchable(node)
            found = self._by_text(node, code) if code else None
        if found is None:
            found = self._in_top_statement(node)
        if found is not None:
            return found
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            # Skipping the copy keeps node identity with the nodes already indexed.
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._positions = wrapper.resolve(PositionProvider)
        where = self._positions[node]
        return self._offset(where.start), self._offset(where.end)

    def _in_top_statement(self, node: Any, compute: bool = True) -> tuple[int, int] | None:
        """The node's span from libcst's positions over its top-level statement alone (whose
        code, rendered on its own, is the file's text from its first line): a fraction of the
        whole module's code to regenerate. None where that statement's code is not unique (or,
        unless `compute`, where its positions are not known yet)."""
        top = node
        parent = self.parents.get(id(top))
        while parent is not None and parent is not self.module:
            top, parent = parent, self.parents.get(id(parent))
        if parent is None or top is node:
            return None
        tops = self._tops
        if id(top) not in tops:
            if not compute:
                return None
            tops[id(top)] = None
            from libcst.metadata import MetadataWrapper, PositionProvider

            alone = top.with_changes(leading_lines=())
            code = self.module.code_for_node(alone)
            at = self.text.find(code)
            if at >= 0 and self.text.find(code, at + 1) < 0:
                single = self.cst.Module(body=[alone], header=[], footer=[],
                                         default_indent=self.module.default_indent,
                                         default_newline=self.module.default_newline)
                positions = MetadataWrapper(single, unsafe_skip_copy=True).resolve(
                    PositionProvider)
                tops[id(top)] = (at, positions)
        found = tops[id(top)]
        if found is None:
            return None
        at, positions = found
        where = positions.get(node)
        if where is None:
            return None
        first = self._line_of(at)
        return (self._offset_at(first, where.start), self._offset_at(first, where.end))

    @property
    def _lines(self) -> list[int]:
        """Where each line starts (the first after a byte-order mark, as libcst counts)."""
        if not self._line_starts:
            self._line_starts = line_starts(self.text, self.shift)
        return self._line_starts

    def _line_of(self, offset: int) -> int:
        """The 0-based line (as `_offset` counts them) holding a file offset."""
        import bisect

        return bisect.bisect_right(self._lines, offset) - 1

    def _offset_at(self, first_line: int, position: Any) -> int:
        """A position of a statement's own positions, whose line 1 is file line `first_line`."""
        return self._lines[first_line + position.line - 1] + position.column

    def _searchable(self, node: Any) -> str:
        """The node's code as libcst's positions delimit it, if a text search can place it:
        expressions only (a statement's code includes the comment lines above it), without
        their own parentheses (positions leave them out)."""
        if not isinstance(node, self.cst.BaseExpression):
            return ""
        if getattr(node, "lpar", ()):
            try:
                node = node.with_changes(lpar=[], rpar=[])
            except Exception:  # an empty tuple, say, cannot lose its parentheses
                return ""
        return self.module.code_for_node(node).strip()

    def _by_text(self, node: Any, code: str) -> tuple[int, int] | None:
        text = self.text
        at = text.find(code)
        if at < 0:
            return None
        if len(code) >= 8 and text.find(code, at + 1) < 0:
            return at, at + len(code)
        for depth, anchor in enumerate(self.ancestors(node)):
            if depth >= 6:
                break
            anchor_code = self._searchable(anchor)
            if len(anchor_code) < 8:
                continue
            start = text.find(anchor_code)
            if start < 0 or text.find(anchor_code, start + 1) >= 0:
                continue
            kind = type(node)
            same = [d for d in self.descendants(anchor) if type(d) is kind
                    and (d is node or self._searchable(d) == code)]
            hits = []
            i = text.find(code, start)
            while 0 <= i and i + len(code) <= start + len(anchor_code):
                hits.append(i)
                i = text.find(code, i + 1)
            if len(hits) != len(same):
                return None
            k = next(j for j, d in enumerate(same) if d is node)
            return hits[k], hits[k] + len(code)
        return None

    def _inclusive_span(self, node: Any) -> tuple[int, int]:
        if self._inclusive is None:
            from libcst.metadata import MetadataWrapper, WhitespaceInclusivePositionProvider

            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._inclusive = wrapper.resolve(WhitespaceInclusivePositionProvider)
        where = self._inclusive[node]
        return self._offset(where.start), self._offset(where.end)

    def code(self, node: Any) -> str:
        """The node's source (as libcst renders it: the text of the file for unchanged nodes)."""
        return self.module.code_for_node(node)

    def line_indent(self, offset: int) -> str:
        return indent_at(self.text, offset)

    # -- fixes ---------------------------------------------------------------------------------

    def replace(self, old: Any, new: Any) -> Edit:
        """An edit that renders `new` (usually `old.with_changes(...)`) over `old`'s text."""
        start, end = self._inclusive_span(old)
        return Edit(start, end, self.render(new, at=old))

    def render(self, node: Any, at: Any = None) -> str:
        """The code of `node` as it would print where `at` is: continuation lines inside
        brackets, and the lines of a block, carry the indentation of the blocks around `at`
        (`code()` renders a node as if it stood at the module's top level)."""
        from libcst._nodes.internal import CodegenState

        indents = []
        if at is not None:
            for ancestor in self.ancestors(at):
                if isinstance(ancestor, self.cst.IndentedBlock):
                    indents.append(self.module.default_indent if ancestor.indent is None
                                   else ancestor.indent)
        state = CodegenState(default_indent=self.module.default_indent,
                             default_newline=self.module.default_newline,
                             indent_tokens=list(reversed(indents)))
        node._codegen(state)
        return "".join(state.tokens)

    def keyword(self, name: str, value: Any) -> Any:
        """A keyword argument `name=value` formatted as PEP 8 wants (no blanks around `=`)."""
        return keyword_arg(self.cst, name, value)

    def appended(self, node: Any, item: Any) -> Any:
        """`node` with `item` added last, in its layout (see appended_item)."""
        return appended_item(self.cst, node, item)

    def add_import(self, module: str, name: str | None = None) -> tuple[str, Edit | None]:
        """How to refer to `module` (or `module.name`) in this file, and the import to insert
        if the file does not import it yet.

        Where isort (and ruff's `I` rules) would put it, as far as the file's own layout
        allows: a standard-library `import x` among the top-level standard-library imports in
        name order (`import` lines before `from` lines); anything else after the last top-level
        import; with no import at all, after the docstring and `from __future__` lines.
        """
        local = self.is_imported(module, name)
        if local is not None:
            return local, None
        cst = self.cst
        line = f"from {module} import {name}" if name else f"import {module}"
        imports: list[Any] = []
        docstring = None
        for statement in self.module.body:
            if isinstance(statement, cst.SimpleStatementLine) and statement.body and all(
                    isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body):
                imports.append(statement)
            elif not imports and docstring is None and isinstance(
                    statement, cst.SimpleStatementLine) and len(statement.body) == 1 and \
                    isinstance(statement.body[0], cst.Expr) and isinstance(
                        statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)):
                docstring = statement
            else:
                break
        newline = self.module.default_newline
        if name is not None:
            merged = self._merge_from_import(module, name, imports)
            if merged is not None:
                return name, merged
        before = self._stdlib_place(module, imports) if name is None else None
        if before is not None:
            # Above the comment lines that belong to that statement, below blank lines.
            at = self._inclusive_span(before)[0]
            while True:
                eol = self.text.find("\n", at)
                if eol < 0 or self.text[at:eol].strip():
                    break
                at = eol + 1
            separate = not self._is_stdlib_import(before)  # a section of its own
            return name or module, Edit.insert(at, line + newline + (newline if separate else ""))
        after = imports[-1] if imports else docstring
        if after is None:
            # Before the first statement: after a shebang, an encoding line or a header comment.
            at = self._inclusive_span(self.module.body[0])[0] if self.module.body \
                else len(self.text)
            return name or module, Edit.insert(at, line + newline)
        end = self._inclusive_span(after)[1]
        if end > 0 and self.text[end - 1] not in "\r\n":
            return name or module, Edit.insert(end, newline + line)
        return name or module, Edit.insert(end, line + newline)

    def _merge_from_import(self, module: str, name: str, imports: list[Any]) -> Edit | None:
        """`from module import a, c` becomes `from module import a, b, c` (isort's order: by
        type, then name), when that statement is one line without parentheses."""
        cst = self.cst
        for statement in imports:
            node = statement.body[0]
            if not (len(statement.body) == 1 and isinstance(node, cst.ImportFrom)
                    and not node.relative and node.module is not None
                    and self.dotted(node.module) == module
                    and not isinstance(node.names, cst.ImportStar) and node.lpar is None):
                continue
            names = [self.dotted(a.name) or "" for a in node.names]
            if any(a.asname is not None for a in node.names) or "\n" in self.code(node):
                return None
            names.append(name)
            names.sort(key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))
            line = f"from {module} import {', '.join(names)}"
            if len(self.line_indent(0)) + len(line) > 88:
                return None
            start, end = self.span(node)
            return Edit(start, end, line)
        return None

    def _stdlib_place(self, module: str, imports: list[Any]) -> Any:
        """The top-level `import` statement a new standard-library `import module` goes
        before, or None (then it goes after the last import)."""
        if module.split(".")[0] not in sys.stdlib_module_names:
            return None
        group = []  # the leading run of standard-library imports
        for statement in imports:
            root = self._import_root(statement)
            if root.split(".")[0] == "__future__":
                continue
            if root.split(".")[0] not in sys.stdlib_module_names:
                break
            group.append((statement, isinstance(statement.body[0], self.cst.Import), root))
        for statement, plain, root in group:
            if not plain or root > module:
                return statement
        if group:
            return None if group[-1][0] is imports[-1] else self._next_of(group[-1][0], imports)
        return next((s for s in imports if not self._is_future(s)), None)

    def _import_root(self, statement: Any) -> str:
        """The module an import line imports (its first name, for `import a, b`)."""
        first = statement.body[0]
        if isinstance(first, self.cst.Import):
            return self.dotted(first.names[0].name) or ""
        return self.dotted(first.module) or ""  # None for `from . import x`

    def _is_stdlib_import(self, statement: Any) -> bool:
        return self._import_root(statement).split(".")[0] in sys.stdlib_module_names

    def _next_of(self, statement: Any, imports: list[Any]) -> Any:
        return imports[imports.index(statement) + 1]

    def _is_future(self, statement: Any) -> bool:
        return isinstance(statement.body[0], self.cst.ImportFrom) and \
            self._import_root(statement) == "__future__"


def keyword_arg(cst: Any, name: str, value: Any) -> Any:
    """A keyword argument `name=value` formatted as PEP 8 wants (no blanks around `=`)."""
    return cst.Arg(value, keyword=cst.Name(name), equal=cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")))


def appended_item(cst: Any, node: Any, item: Any) -> Any:
    """A Call (or Dict) with `item` (an Arg or DictElement) added last, in its layout: one
    item per line stays one per line (a trailing comma kept, comments left on their lines),
    one line stays one line. Callers check for `*args`/`**kwargs` first."""
    is_call = isinstance(node, cst.Call)
    items = list(node.args if is_call else node.elements)
    if not items:
        return node.with_changes(**{"args" if is_call else "elements": [item]})
    last = items[-1]
    trailing = last.comma if isinstance(last.comma, cst.Comma) else None
    # Where the blank (or the newline and indent) before the closing bracket lives.
    if is_call:
        in_comma = trailing is not None
        closing = trailing.whitespace_after if trailing is not None \
            else last.whitespace_after_arg
    else:
        in_comma = trailing is not None and isinstance(trailing.whitespace_after,
                                                       cst.ParenthesizedWhitespace)
        closing = trailing.whitespace_after if in_comma else node.rbrace.whitespace_before
    between = items[-2].comma.whitespace_after if len(items) >= 2 and isinstance(
        items[-2].comma, cst.Comma) else (node.whitespace_before_args if is_call
                                          else node.lbrace.whitespace_after)
    separator = _separator(between, cst)
    if isinstance(closing, cst.ParenthesizedWhitespace) and isinstance(
            separator, cst.ParenthesizedWhitespace):
        # The old last line keeps its comment; the new item takes the closing layout.
        after_old = separator.with_changes(first_line=closing.first_line)
        closing = closing.with_changes(first_line=cst.TrailingWhitespace())
    else:
        after_old = separator
    comma = trailing if trailing is not None else cst.Comma()
    items[-1] = last.with_changes(comma=comma.with_changes(whitespace_after=after_old))
    if is_call and trailing is None:
        items[-1] = items[-1].with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
    if trailing is not None:
        item = item.with_changes(comma=trailing.with_changes(
            whitespace_after=closing if in_comma else trailing.whitespace_after))
    elif is_call:
        item = item.with_changes(whitespace_after_arg=closing)
    if is_call:
        return node.with_changes(args=[*items, item])
    if not in_comma:
        node = node.with_changes(rbrace=node.rbrace.with_changes(whitespace_before=closing))
    return node.with_changes(elements=[*items, item])
