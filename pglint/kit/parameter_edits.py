"""Fixes that add connection parameters: keyword arguments of a call or items of a dict literal,
written in the quotes the surrounding code uses and laid out one item per line, as formatters
do, when the result would not fit on its line.

Detection reads CPython's tree (`ast`); the edits are rendered on the file's libcst tree, whose
nodes are looked up at the places of the `ast` nodes (`PythonFile.cst_of`)."""

from __future__ import annotations

import ast
from typing import Any

from pglint.finding import Edit
from pglint.kit.connections import Container, string_tokens
from pglint.python.pyfile import PythonFile

LINE_LENGTH = 88  # the common formatter default: fixed lines longer than this are laid out


def quoted_string(value: str, quote: str) -> str:
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def quote_of(code: PythonFile, node: ast.AST) -> str:
    """The quote character the surrounding code uses (double quotes by default): that of its
    first string written in single or double quotes (not triple ones)."""
    parts: set[int] = set()  # the text pieces of f-strings: read with their f-string
    for inner in code.descendants(node):
        if isinstance(inner, ast.JoinedStr):
            parts.update(id(part) for part in inner.values)
        elif not isinstance(inner, ast.Constant) or id(inner) in parts or \
                not isinstance(inner.value, (str, bytes)):
            continue
        for start, end in string_tokens(code, inner):
            quote = code.text[start:end].lstrip("rRbBuUfF")[:3]
            if quote not in ('"""', "'''"):
                return quote[0]
    return '"'


class ParameterEdits:
    """Changes to one container (`ast` nodes), rendered on libcst's tree as one replacement of
    its node. The replaced values are `ast` nodes; what replaces them is code, or a libcst node
    built by another ParameterEdits."""

    def __init__(self, code: PythonFile, container: Container, quote: str) -> None:
        self.code, self.container, self.quote = code, container, quote
        self.replaced: list[tuple[ast.AST, Any]] = []
        self.added: list[tuple[str, str]] = []

    def set(self, name: str, code: str) -> None:
        entry = self.container.entries.get(name)
        if entry is not None:
            self.replaced.append((entry.value, code))
        else:
            self.added.append((name, code))

    def replace(self, old: ast.AST, code: str) -> None:
        self.replaced.append((old, code))

    def build(self, explode: bool = False) -> Any:
        """The container's libcst node with the changes, or None where libcst cannot give the
        nodes. With `explode`, a one-line container is laid out one item per line, and an
        added dict too long for its line too (as formatters do)."""
        tree = self.code.fix_tree
        node = self.code.cst_of(self.container.node)
        if tree is None or node is None:
            return None
        cst = tree.cst
        one_line = "\n" not in tree.code(node)
        indent = tree.line_indent(tree.span(node)[0]) if explode else ""
        if explode and not one_line:
            items = node.elements if self.container.is_dict else node.args
            indent = tree.line_indent(tree.span(items[-1])[0]) if items else indent + "    "
        elif explode:
            indent += "    "
        for old, new in self.replaced:
            target = self.code.cst_of(old)
            if target is None or new is None:
                return None
            new = cst.parse_expression(new) if isinstance(new, str) else new
            node = node.deep_replace(target, new)
        for name, code in self.added:
            value = cst.parse_expression(code)
            if self.container.is_dict:
                item = cst.DictElement(cst.SimpleString(quoted_string(name, self.quote)), value)
            else:
                item = tree.keyword(name, value)
            if explode and isinstance(value, cst.Dict) and \
                    len(indent) + len(tree.code(item)) + 1 > LINE_LENGTH:
                exploded = one_item_per_line(cst, value, indent + "    ", indent)
                item = item.with_changes(value=exploded)
            node = tree.appended(node, item)
        if explode and one_line:
            node = one_item_per_line(cst, node, indent, indent[:-4])
        return node


def one_item_per_line(cst: Any, node: Any, inner: str, outer: str) -> Any:
    """A Call or Dict laid out one item per line at `inner`, closed at `outer`, with a
    trailing comma."""
    def newline(indent: str) -> Any:
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=[],
                                           indent=False, last_line=cst.SimpleWhitespace(indent))

    is_call = isinstance(node, cst.Call)
    items = list(node.args if is_call else node.elements)
    if not items:
        return node
    laid = []
    for i, item in enumerate(items):
        after = newline(outer if i == len(items) - 1 else inner)
        item = item.with_changes(comma=cst.Comma(whitespace_after=after))
        if is_call:
            item = item.with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
        laid.append(item)
    if is_call:
        return node.with_changes(args=laid, whitespace_before_args=newline(inner))
    return node.with_changes(elements=laid,
                             lbrace=node.lbrace.with_changes(whitespace_after=newline(inner)),
                             rbrace=node.rbrace.with_changes(
                                 whitespace_before=cst.SimpleWhitespace("")))


def too_long(code: PythonFile, edit: Edit) -> bool:
    """Whether the fixed lines would be longer than the usual line-length limit, when the lines
    they replace were not."""
    text = code.text
    start = text.rfind("\n", 0, edit.start) + 1
    end = text.find("\n", edit.end)
    end = len(text) if end < 0 else end
    before = text[start:end]
    after = text[start:edit.start] + edit.content + text[edit.end:end]
    longest = max(len(line) for line in before.split("\n"))
    return max(len(line) for line in after.split("\n")) > max(LINE_LENGTH, longest)
