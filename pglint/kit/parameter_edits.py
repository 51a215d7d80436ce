"""Fixes that add connection parameters: keyword arguments of a call or items of a dict literal,
written in the quotes the surrounding code uses and laid out one item per line, as formatters
do, when the result would not fit on its line."""

from __future__ import annotations

from typing import Any

from pglint.finding import Edit
from pglint.kit.connections import Container

LINE_LENGTH = 88  # the common formatter default: fixed lines longer than this are laid out


def quoted_string(value: str, quote: str) -> str:
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def quote_of(tree: Any, node: Any) -> str:
    """The quote character the surrounding code uses (double quotes by default)."""
    cst = tree.cst
    for inner in tree.descendants(node):
        if isinstance(inner, cst.SimpleString) and inner.quote in ("'", '"'):
            return inner.quote
        if isinstance(inner, cst.FormattedString) and inner.end in ("'", '"'):
            return inner.end
    return '"'


class ParameterEdits:
    """Changes to one container, rendered as one replacement of its node."""

    def __init__(self, tree: Any, container: Container, quote: str) -> None:
        self.tree, self.container, self.quote = tree, container, quote
        self.replaced: list[tuple[Any, Any]] = []
        self.added: list[tuple[str, str]] = []

    def set(self, name: str, code: str) -> None:
        entry = self.container.entries.get(name)
        if entry is not None:
            self.replaced.append((entry.value, self.tree.cst.parse_expression(code)))
        else:
            self.added.append((name, code))

    def replace(self, old: Any, code: str) -> None:
        self.replaced.append((old, self.tree.cst.parse_expression(code)))

    def build(self, explode: bool = False) -> Any:
        """The container with the changes. With `explode`, a one-line container is laid out one
        item per line, and an added dict too long for its line too (as formatters do)."""
        tree, cst = self.tree, self.tree.cst
        node = self.container.node
        one_line = "\n" not in tree.code(node)
        indent = tree.line_indent(tree.span(node)[0]) if explode else ""
        if explode and not one_line:
            items = node.elements if self.container.is_dict else node.args
            indent = tree.line_indent(tree.span(items[-1])[0]) if items else indent + "    "
        elif explode:
            indent += "    "
        for old, new in self.replaced:
            node = node.deep_replace(old, new)
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


def too_long(tree: Any, edit: Edit) -> bool:
    """Whether the fixed lines would be longer than the usual line-length limit, when the lines
    they replace were not."""
    text = tree.text
    start = text.rfind("\n", 0, edit.start) + 1
    end = text.find("\n", edit.end)
    end = len(text) if end < 0 else end
    before = text[start:end]
    after = text[start:edit.start] + edit.content + text[edit.end:end]
    longest = max(len(line) for line in before.split("\n"))
    return max(len(line) for line in after.split("\n")) > max(LINE_LENGTH, longest)
