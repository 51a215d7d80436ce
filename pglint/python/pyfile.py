"""One .py file as rules and readers see it: CPython's tree (`ast`), parsed once.

Every Python rule and fact reader reads this tree: nodes by class from one walk, parents,
imports and qualified names, and positions as file character offsets (pglint's unit
everywhere). libcst, five to ten times as costly to parse, is parsed only for a file where a
rule builds a fix: `fix_tree` is the file's libcst tree and `cst_of(node)` the libcst node at
an `ast` node's place, whose replacement the fix renders.

Positions. CPython counts 1-based lines (ending at `\\r\\n`, `\\r` or `\\n`) and columns in UTF-8
bytes of the text without its byte-order mark; `span` turns them into character offsets of the
file. An expression's span leaves its own parentheses out, as libcst's positions do.
"""

from __future__ import annotations

import ast
import io
from collections import defaultdict
import re
import tokenize
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, NamedTuple, TypeVar

from pglint.source import indent_at, line_starts

if TYPE_CHECKING:
    from pglint.finding import Edit
    from pglint.python.tree import PythonTree

Node = TypeVar("Node", bound=ast.AST)


def parse(text: str) -> ast.Module | None:
    """CPython's tree of a Python file, or None where CPython refuses it: a syntax error, or
    nesting too deep for its parser (where libcst's native parser can crash the process)."""
    source = text[1:] if text.startswith("\ufeff") else text
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


# Fields not walked: expression contexts (`Load`, `Store`) and operators are singletons that
# rules read from their nodes (`node.op`), never look up; `type_comment` is a string.
_NOT_WALKED = frozenset({"ctx", "op", "ops", "type_comment", "type_ignores"})
# Field types of CPython's grammar that are no nodes (names, strings, constants, flags).
_NOT_NODES = frozenset({"identifier", "string", "constant", "int"})
_SIGNATURE = re.compile(r"\w+\((.*)\)")


# Nodes whose fields CPython declares in another order than the code reads them: walked in the
# order of the text (a definition's decorators first, `a if test else b` from `a`), so that
# nodes come out in file order.
_TEXT_ORDER: dict[type, tuple[str, ...]] = {
    ast.FunctionDef: ("decorator_list", "type_params", "args", "returns", "body"),
    ast.AsyncFunctionDef: ("decorator_list", "type_params", "args", "returns", "body"),
    ast.ClassDef: ("decorator_list", "type_params", "bases", "keywords", "body"),
    ast.IfExp: ("body", "test", "orelse"),
}

# Node class -> a function `push(node, append, extend)` that puts the node's children on a
# stack, last first (so that they are popped in the order of the text), or None for a class
# without children. Made once per class, as code: the walk visits every node of each file
# parsed, and a loop over fields with an isinstance test per value cost twice as much.
_PUSHERS: dict[type, Callable[[Any, Callable, Callable], None] | None] = {}


def _push_dict_items(node: Any, append: Callable, extend: Callable) -> None:
    """A dict display's keys and values in the order written (`**x` has no key)."""
    keys, values = node.keys, node.values
    for i in range(len(values) - 1, -1, -1):
        append(values[i])
        if keys[i] is not None:
            append(keys[i])


def _field_types(kind: type) -> dict[str, str]:
    """Field name -> its type in CPython's grammar (`expr*`, `identifier`), read from the
    class's documented signature (`Name(identifier id, expr_context ctx)`); {} if unknown."""
    match = _SIGNATURE.fullmatch((kind.__doc__ or "").split("\n", 1)[0])
    if match is None or not match.group(1):
        return {}
    types = {}
    for part in match.group(1).split(", "):
        written, _, name = part.rpartition(" ")
        types[name] = written
    return types


def _pusher(kind: type) -> Callable[[Any, Callable, Callable], None] | None:
    if not (isinstance(kind, type) and issubclass(kind, ast.AST)):
        return None  # a None of a list such as `kw_defaults`: no node
    if kind is ast.Dict:
        return _push_dict_items
    order = _TEXT_ORDER.get(kind)
    types = _field_types(kind)
    lines = []
    for name in reversed([name for name in (order or kind._fields)
                          if name in kind._fields and name not in _NOT_WALKED]):
        written = types.get(name, "?")  # unknown: a node, a list or anything else
        if written.rstrip("*?") in _NOT_NODES:
            continue
        lines.append(f"    value = node.{name}")
        if written.endswith("*"):
            lines.append("    if value:\n        extend(value[::-1])")
        elif written.endswith("?") and name in types:
            lines.append("    if value is not None:\n        append(value)")
        elif name in types:
            lines.append("    append(value)")
        else:
            lines.append("    if value.__class__ is list:\n"
                         "        extend([v for v in value[::-1] if isinstance(v, AST)])\n"
                         "    elif isinstance(value, AST):\n        append(value)")
    if not lines:
        return None
    namespace: dict[str, Any] = {"AST": ast.AST}
    exec("def push(node, append, extend):\n" + "\n".join(lines), namespace)  # noqa: S102
    return namespace["push"]


def children(node: ast.AST) -> list[ast.AST]:
    """A node's child nodes in the order of their fields (the text's order)."""
    kind = type(node)
    try:
        push = _PUSHERS[kind]
    except KeyError:
        push = _PUSHERS[kind] = _pusher(kind)
    if push is None:
        return []
    found: list[Any] = []
    push(node, found.append, found.extend)
    found.reverse()
    if None in found:  # `kw_defaults` holds None for keyword-only arguments without default
        return [child for child in found if child is not None]
    return found


def _by_type(module: ast.Module) -> dict[type, list[ast.AST]]:
    """Every node under `module` (itself included) by class, each class's in pre-order: the
    order of the text."""
    by_type: defaultdict[type, list[Any]] = defaultdict(list)
    stack: list[Any] = [module]
    pop, append, extend = stack.pop, stack.append, stack.extend
    pushers = _PUSHERS
    while stack:
        node = pop()
        kind = node.__class__
        by_type[kind].append(node)
        try:
            push = pushers[kind]
        except KeyError:
            push = pushers[kind] = _pusher(kind)
        if push is not None:
            push(node, append, extend)
    by_type.pop(type(None), None)  # from `kw_defaults`
    for kind in [kind for kind in by_type if not issubclass(kind, ast.AST)]:
        del by_type[kind]  # a value of a field whose type was unknown
    return dict(by_type)


# libcst's class names for the `ast` classes a fix may replace (cst_of); others are looked up
# under their own name.
_CST_NAMES: dict[type, tuple[str, ...]] = {
    ast.keyword: ("Arg",),
    ast.Starred: ("Arg", "StarredElement"),
    ast.Constant: ("SimpleString", "ConcatenatedString", "Integer", "Float", "Imaginary", "Name",
                   "Ellipsis"),
    ast.JoinedStr: ("FormattedString", "ConcatenatedString"),
    ast.BinOp: ("BinaryOperation",),
    ast.UnaryOp: ("UnaryOperation",),
    ast.BoolOp: ("BooleanOperation",),
    ast.Compare: ("Comparison",),
    ast.AsyncFunctionDef: ("FunctionDef",),
    ast.AsyncWith: ("With",),
    ast.AsyncFor: ("For",),
    ast.IfExp: ("IfExp",),
    ast.Expr: ("Expr",),
}


class PythonFile:
    """CPython's tree of one file, with the nodes by class (one walk, in file order), parents,
    imports, qualified names and positions, and the libcst bridge for fixes."""

    __slots__ = ("module", "path", "text", "derived", "_by_type", "_imports", "_parents",
                 "_lines", "_shift", "_fix_tree", "_fix_tree_read")

    def __init__(self, module: ast.Module, path: str = "", text: str = "") -> None:
        self.module = module
        self.path = path  # the file's path as shown (rules that judge a file by its name)
        self.text = text
        # What rules and readers derive from the file, by name, when several share it.
        self.derived: dict[str, Any] = {}
        self._by_type = _by_type(module)
        self._imports: dict[str, str] | None = None
        self._parents: dict[int, ast.AST] | None = None
        self._lines: list[int] | None = None
        self._shift = 1 if text.startswith("\ufeff") else 0
        self._fix_tree: "PythonTree | None" = None
        self._fix_tree_read = False

    @classmethod
    def parse(cls, text: str, path: str = "") -> "PythonFile | None":
        """The file's tree, or None where CPython refuses the text (see `parse`)."""
        module = parse(text)
        return None if module is None else cls(module, path, text)

    # -- structure -----------------------------------------------------------------------------

    def nodes(self, kind: type[Node]) -> list[Node]:
        """Every node of one `ast` class, in file order (of where each starts; a call's
        keyword arguments after its positional ones)."""
        return self._by_type.get(kind, [])  # type: ignore[return-value]

    def calls(self, *names: str) -> Iterable[ast.Call]:
        """Calls whose callee ends in one of `names`: `f(...)`, `x.y.f(...)`."""
        wanted = frozenset(names)
        for call in self.nodes(ast.Call):
            if last_name(call.func) in wanted:
                yield call

    def parent(self, node: ast.AST) -> ast.AST | None:
        if self._parents is None:
            parents: dict[int, ast.AST] = {}
            for kind, found in self._by_type.items():
                if _PUSHERS.get(kind) is None:
                    continue
                for above in found:
                    for below in children(above):
                        parents[id(below)] = above
            self._parents = parents
        return self._parents.get(id(node))

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        above = self.parent(node)
        while above is not None:
            yield above
            above = self.parent(above)

    def enclosing(self, node: ast.AST, *kinds: type) -> Any:
        """The nearest ancestor of one of `kinds`, or None."""
        return next((a for a in self.ancestors(node) if isinstance(a, kinds)), None)

    def statement(self, node: ast.AST) -> ast.stmt | None:
        """The statement holding `node` (itself, if it is one)."""
        if isinstance(node, ast.stmt):
            return node
        return self.enclosing(node, ast.stmt)

    def in_with_block(self, node: ast.AST, method: str, within: ast.AST | None = None) -> bool:
        """Whether `node` runs inside a `with <anything>.<method>(...):` block (one inside
        `within`, when given): `autocommit_block()`, `session.begin()`."""
        for ancestor in self.ancestors(node):
            if ancestor is within:
                return False
            if isinstance(ancestor, (ast.With, ast.AsyncWith)) and any(
                    isinstance(item.context_expr, ast.Call)
                    and isinstance(item.context_expr.func, ast.Attribute)
                    and item.context_expr.func.attr == method for item in ancestor.items):
                return True
        return False

    @staticmethod
    def descendants(node: ast.AST) -> Iterator[ast.AST]:
        """Every node under `node` (not itself), in pre-order: file order."""
        stack = children(node)[::-1]
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(children(current)))

    # -- names ---------------------------------------------------------------------------------

    @property
    def import_names(self) -> dict[str, str]:
        """Local name -> what it was imported as: `sleep` -> `time.sleep`, `tn` -> `tenacity`.
        Imports anywhere in the file count (function-level imports are common in scripts)."""
        if self._imports is None:
            names: dict[str, str] = {}
            for statement in self.nodes(ast.Import):
                for alias in statement.names:
                    local = alias.asname or alias.name.split(".")[0]
                    names[local] = alias.name if alias.asname else local
            for found in self.nodes(ast.ImportFrom):
                if found.level or found.module is None:
                    continue
                for alias in found.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = f"{found.module}.{alias.name}"
            self._imports = names
        return self._imports

    def qualified(self, node: ast.AST) -> str | None:
        """The dotted name with its first part resolved through the file's imports:
        `sleep` -> `time.sleep` after `from time import sleep`; names not imported stay as
        written (`obj.save`); None for computed expressions."""
        name = dotted(node)
        if name is None:
            return None
        return resolved(self.import_names, name)

    def call_name(self, call: ast.Call) -> str | None:
        """The qualified name of what a call calls (None for computed callees)."""
        return self.qualified(call.func)

    def is_imported(self, module: str, name: str | None = None) -> str | None:
        """The local name under which `module` (or `module.name`) is usable, or None."""
        return local_name(self.import_names, module, name)

    def imports(self, roots: Iterable[str]) -> bool:
        """Whether the file imports (absolutely, anywhere) one of the top-level packages
        `roots` or a module under one."""
        wanted = frozenset(roots)
        return any(alias.name.split(".")[0] in wanted
                   for statement in self.nodes(ast.Import) for alias in statement.names) or any(
            not found.level and found.module is not None
            and found.module.split(".")[0] in wanted for found in self.nodes(ast.ImportFrom))

    # -- positions -----------------------------------------------------------------------------

    def offset(self, line: int, byte_column: int) -> int:
        """The file character offset of a CPython position (1-based line, UTF-8 byte column)."""
        if self._lines is None:
            self._lines = line_starts(self.text, self._shift)
        start = self._lines[line - 1]
        head = self.text[start:start + byte_column]  # no fewer characters than bytes before
        if head.isascii():
            return start + byte_column
        return start + len(head.encode("utf-8")[:byte_column].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        """File character offsets of a node's code: an expression's own parentheses left out
        (with the blanks and comments just inside a tuple's, whose position CPython gives with
        them), as libcst's positions do; a decorated definition from its `def`/`class`."""
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        if isinstance(node, ast.Tuple) and self.text.startswith("(", start) and \
                self.text[end - 1:end] == ")":
            inner = _inside_parentheses(self.text[start:end])
            if inner is not None:
                return start + inner[0], start + inner[1]
        return start, end

    def code(self, node: ast.AST) -> str:
        """The node's code as written."""
        start, end = self.span(node)
        return self.text[start:end]

    def line_indent(self, offset: int) -> str:
        """The indentation of the line holding `offset`."""
        return indent_at(self.text, offset)

    # -- fixes: the libcst tree, parsed only when a fix is built ---------------------------

    def expression_edit(self, node: ast.expr, rewrite: Callable[[Any, Any], Any]
                        ) -> "Edit | None":
        """The edit that replaces the expression `node` by `rewrite(cst, expression)`: libcst's
        tree of the expression's own code (parsed alone, a fraction of the whole file's cost,
        comments and layout inside it kept), rewritten and rendered in its place. None where
        libcst refuses that code."""
        import libcst as cst

        from pglint.finding import Edit

        start, end = self.span(node)
        try:
            expression = cst.parse_expression(self.text[start:end])
        except Exception:  # ParserSyntaxError; RecursionError on pathological nesting
            return None
        return Edit(start, end, cst.Module(body=[]).code_for_node(rewrite(cst, expression)))

    def keyword_added(self, call: ast.Call, name: str, value: str) -> "Edit | None":
        """The edit that adds the keyword argument `name=value` (`value` is code) last to a
        call without `*args`/`**kwargs`, in the call's layout (`appended_item`). A call written
        with nothing between its parentheses, `Queue()`, gets it written in: no libcst tree is
        needed for that (importing libcst alone costs a fifth of a second), and libcst renders
        such a call the same way. None where libcst refuses the call's code."""
        if not call.args and not call.keywords:
            start, end = self.span(call)
            if self.text.startswith("()", end - 2):
                from pglint.finding import Edit

                return Edit(start, end, f"{self.text[start:end - 1]}{name}={value})")

        def rewrite(cst: Any, node: Any) -> Any:
            from pglint.python.tree import appended_item, keyword_arg

            return appended_item(cst, node, keyword_arg(cst, name, cst.parse_expression(value)))

        return self.expression_edit(call, rewrite)

    @property
    def fix_tree_parsed(self) -> bool:
        """Whether libcst has parsed the file (for a fix)."""
        return self._fix_tree_read

    @property
    def fix_tree(self) -> "PythonTree | None":
        """The file's libcst tree, to build a fix with (parsed on first use), or None where
        libcst cannot parse the file."""
        if not self._fix_tree_read:
            from pglint.python.tree import PythonTree

            self._fix_tree_read = True
            self._fix_tree = PythonTree.parse(self.text, screened=True)
        return self._fix_tree

    def cst_of(self, node: ast.AST) -> Any:
        """The libcst node that stands where `node` stands (same span, matching class), or None
        where libcst cannot parse the file or no node matches."""
        tree = self.fix_tree
        if tree is None:
            return None
        want = self.span(node)
        names = _CST_NAMES.get(type(node), (type(node).__name__,))
        for name in names:
            found = _cst_at(tree, tree.nodes(name), want)
            if found is not None:
                return found
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # libcst's definition starts at its first decorator.
            for candidate in tree.nodes(names[0]):
                if tree.span(candidate)[1] == want[1]:
                    return candidate
        return None


def _inside_parentheses(text: str) -> tuple[int, int] | None:
    """Where the code inside `(...)` starts and ends (offsets in `text`), when the parenthesis
    opening `text` is the one closing it; else None."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    depth = 0
    first = last = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT,
                              tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            at = starts[token.start[0] - 1] + token.start[1]
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth == 0:
                    if at != len(text) - 1:
                        return None
                    return (first, last) if first is not None else (1, 1)  # `()`
            if at > 0:
                first = at if first is None else first
                last = starts[token.end[0] - 1] + token.end[1]
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def resolved(imports: dict[str, str], name: str) -> str:
    """A dotted name with its first part resolved through `imports` (local name -> what it was
    imported as): `sleep` -> `time.sleep`; names not imported stay as written."""
    head, _, rest = name.partition(".")
    full = imports.get(head)
    if full is None:
        return name
    return f"{full}.{rest}" if rest else full


def local_name(imports: dict[str, str], module: str, name: str | None = None) -> str | None:
    """The local name under which `module` (or `module.name`) is usable after `imports`, or
    None."""
    target = f"{module}.{name}" if name else module
    for local, full in imports.items():
        if full == target:
            return local
    if name:
        base = local_name(imports, module)
        if base is not None:
            return f"{base}.{name}"
    return None


class Argument(NamedTuple):
    """One argument of a call as written: its keyword (None for a positional argument, `*x`
    and `**x`), its value (`x` of `*x` and `**x`), its star ("", "*" or "**") and its own node
    (the expression, the `Starred` or the `keyword`)."""

    keyword: str | None
    value: ast.expr
    star: str
    node: ast.AST


def call_args(call: ast.Call) -> list[Argument]:
    """A call's arguments in the order written: CPython keeps positional and keyword
    arguments apart, and a `*x` may stand among the keywords (`f(a=1, *b)`)."""
    found = [Argument(None, a.value, "*", a) if isinstance(a, ast.Starred)
             else Argument(None, a, "", a) for a in call.args]
    found += [Argument(k.arg, k.value, "**" if k.arg is None else "", k) for k in call.keywords]
    if call.keywords and any(isinstance(a, ast.Starred) for a in call.args):
        found.sort(key=lambda a: (a.node.lineno, a.node.col_offset))  # type: ignore[attr-defined]
    return found


def in_text_order(nodes: Iterable[Any]) -> list[Any]:
    """Nodes in the order of the text (an enclosing node before the nodes it starts with)."""
    return sorted(nodes, key=lambda node: (node.lineno, node.col_offset))


# One string (or bytes) literal of any quoting, with its prefix: not several side by side.
_ONE_LITERAL = re.compile("|".join((
    r"[A-Za-z]*'''(?:[^'\\]|\\.|'(?!''))*'''",
    r'[A-Za-z]*"""(?:[^"\\]|\\.|"(?!""))*"""',
    r"[A-Za-z]*'(?:[^'\\\r\n]|\\(?:\r\n|.))*'",
    r'[A-Za-z]*"(?:[^"\\\r\n]|\\(?:\r\n|.))*"',
)), re.S)


def one_literal(code: PythonFile, node: ast.AST | None) -> bool:
    """A str or bytes constant written as one literal, not as `"a" "b"` (one constant in
    CPython's tree), nor an f-string."""
    return isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and \
        _ONE_LITERAL.fullmatch(code.code(node)) is not None


def plain_string(code: PythonFile, node: ast.AST | None) -> str | None:
    """The value of one plain string literal: not bytes, not an f-string, not several
    literals side by side."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and one_literal(code, node):
        return node.value
    return None


def last_name(node: ast.AST) -> str | None:
    """`f` of `f`, `a.b.f`; None for computed callees."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` of a Name/Attribute chain, or None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of a call's keyword argument `name`, or None."""
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_string(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def string_value(node: ast.AST | None) -> str | None:
    """The value of a str literal (implicit concatenation included), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def is_int(node: ast.AST | None) -> bool:
    """An integer literal (not a bool)."""
    return isinstance(node, ast.Constant) and type(node.value) is int


def arguments(call: ast.Call) -> list[ast.expr]:
    """Every argument value of a call in order, `*x` and `**x` as `x`."""
    return [a.value if isinstance(a, ast.Starred) else a for a in call.args] + \
        [k.value for k in call.keywords]


def positional(call: ast.Call) -> list[ast.expr]:
    """The positional arguments up to the first `*args` (after it, positions are unknown)."""
    found = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            break
        found.append(arg)
    return found


def has_star(call: ast.Call) -> bool:
    """`*args` or `**kwargs` among a call's arguments."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords)


def _cst_at(tree: "PythonTree", candidates: list[Any], want: tuple[int, int]) -> Any:
    """The candidate (libcst nodes of one class, in the text's order) spanning `want`, or None.
    A span costs libcst's positions of its statement: bisection looks at a few candidates, not
    at every one before the node (a linear scan decides where the order is not the text's)."""
    low, high = 0, len(candidates)
    while low < high:
        middle = (low + high) // 2
        if tree.span(candidates[middle])[0] < want[0]:
            low = middle + 1
        else:
            high = middle
    for candidate in candidates[low:]:
        span = tree.span(candidate)
        if span == want:
            return candidate
        if span[0] > want[0]:
            break
    return next((c for c in candidates if tree.span(c) == want), None)
