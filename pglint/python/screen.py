"""CPython's view of a .py file: the second screen before libcst.

libcst costs five to ten times what CPython's own parser does, and the text hints pass every
file that merely mentions what a rule looks for (the ORM's own sources are full of `.save(`
and `select_for_update`). So a file that passes the text hints is parsed with `ast` first
(which also keeps pathological nesting away from libcst's native parser, see `parse`). The
embedded-SQL finder reads the SQL strings on this tree, and each consumer that wanted the file
(a Python rule's `screen_python`, the ORM and migration readers) looks at the `CodeIndex` to
say whether it can find anything there. libcst parses only the files some consumer still
wants.

A screen is a necessary condition, never a second implementation of the rule: it may pass a
file in which the rule then finds nothing, it must not refuse one in which the rule finds
something. The tests lint the same sources with and without screens and compare.
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Callable, Iterable, TypeVar

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
# screens read from their nodes (`node.op`), never look up; `type_comment` is a string.
_NOT_WALKED = frozenset({"ctx", "op", "ops", "type_comment", "type_ignores"})
# Node class -> a function returning its walked fields' values as a tuple, or None for none.
_READERS: dict[type, Callable[[ast.AST], tuple] | None] = {}


def _reader(kind: type) -> Callable[[ast.AST], tuple] | None:
    names = [name for name in kind._fields if name not in _NOT_WALKED]
    if not names:
        return None
    if len(names) == 1:
        only = operator.attrgetter(names[0])
        return lambda node: (only(node),)
    return operator.attrgetter(*names)


class CodeIndex:
    """The nodes of a module by class, from one walk in pre-order (statements in file order)."""

    __slots__ = ("module", "path", "derived", "_by_type", "_imports")

    def __init__(self, module: ast.Module, path: str = "") -> None:
        self.module = module
        self.path = path  # the file's path as shown (rules that judge a file by its name)
        # What screens derive from the file, by name, when several share it.
        self.derived: dict[str, Any] = {}
        by_type: dict[type, list[ast.AST]] = {}
        stack: list[ast.AST] = [module]
        pop, extend = stack.pop, stack.extend
        node_class = ast.AST
        while stack:
            node = pop()
            kind = type(node)
            found = by_type.get(kind)
            if found is None:
                by_type[kind] = [node]
            else:
                found.append(node)
            read = _READERS.get(kind)
            if read is None:
                read = _READERS[kind] = _reader(kind)
            if read is None:
                continue
            children = []
            for value in read(node):
                if isinstance(value, list):
                    children.extend(v for v in value if isinstance(v, node_class))
                elif isinstance(value, node_class):
                    children.append(value)
            extend(reversed(children))  # popped in pre-order: statements in file order
        self._by_type = by_type
        self._imports: dict[str, str] | None = None

    def nodes(self, kind: type[Node]) -> list[Node]:
        """Every node of one `ast` class."""
        return self._by_type.get(kind, [])  # type: ignore[return-value]

    def calls(self, *names: str) -> Iterable[ast.Call]:
        """Calls whose callee ends in one of `names`: `f(...)`, `x.y.f(...)`."""
        wanted = frozenset(names)
        for call in self.nodes(ast.Call):
            if last_name(call.func) in wanted:
                yield call


    def qualified(self, node: ast.AST) -> str | None:
        """The dotted name with its first part resolved through the file's imports (anywhere
        in the file, as `PythonTree.qualified` resolves them)."""
        name = dotted(node)
        if name is None:
            return None
        if self._imports is None:
            self._imports = {}
            for statement in self.nodes(ast.Import):
                for alias in statement.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self._imports[local] = alias.name if alias.asname else local
            for found in self.nodes(ast.ImportFrom):
                if found.level or found.module is None:
                    continue
                for alias in found.names:
                    if alias.name != "*":
                        self._imports[alias.asname or alias.name] = f"{found.module}.{alias.name}"
        head, _, rest = name.partition(".")
        full = self._imports.get(head)
        if full is None:
            return name
        return f"{full}.{rest}" if rest else full


    def imports(self, roots: Iterable[str]) -> bool:
        """Whether the file imports (absolutely, anywhere) one of the top-level packages
        `roots` or a module under one."""
        wanted = frozenset(roots)
        return any(alias.name.split(".")[0] in wanted
                   for statement in self.nodes(ast.Import) for alias in statement.names) or any(
            not found.level and found.module is not None
            and found.module.split(".")[0] in wanted for found in self.nodes(ast.ImportFrom))


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
    return next((k.value for k in call.keywords if k.arg == name), None)


def is_string(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def arguments(call: ast.Call) -> list[ast.expr]:
    """Every argument value of a call in order, `*x` and `**x` as `x`: what libcst's
    `call.args` hold (`Arg.value`), where CPython splits positional and keyword arguments."""
    return [a.value if isinstance(a, ast.Starred) else a for a in call.args] + \
        [k.value for k in call.keywords]


def has_star(call: ast.Call) -> bool:
    """`*args` or `**kwargs` among a call's arguments (`retry.has_star` on CPython's tree)."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(
        k.arg is None for k in call.keywords)


def manager_root(node: ast.AST) -> bool:
    """The method chain under `node` ends at `M.objects` / `M._default_manager` (the root
    `pglint.kit.orm.method_chain` and `django_model` read)."""
    while True:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            break
    return isinstance(node, ast.Attribute) and node.attr in ("objects", "_default_manager") \
        and isinstance(node.value, ast.Name)
