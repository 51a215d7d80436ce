"""Reading PostgreSQL connection options in Python code: literal values (f-string placeholders
kept as HOLE), module-level constants, libpq `options` strings and connection strings or URLs.

Not a rule (no Rule subclass): PGL304 and PGL302 import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

HOLE = "\x00"  # stands for an f-string placeholder in a string's visible text
# `-c name=value` or `--name=value` in a libpq `options` string.
_OPTION = re.compile(r"(?:^|\s)(?:-c\s*|--)([A-Za-z_][\w.]*)\s*=\s*((?:\\.|[^\s\\])*)")
_URL = re.compile(r"^\s*([\w+.\-" + HOLE + r"]*)://")
_KEYWORD_VALUE = re.compile(r"\s*([^\s=]+)\s*=\s*('(?:[^'\\]|\\.)*'|(?:\\.|[^\s'\\])*)")


class _Unknown:
    """A value the code computes at run time."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


def literal(tree: Any, node: Any) -> Any:
    """The Python value of a literal (strings with f-string placeholders as HOLE), else UNKNOWN."""
    cst = tree.cst
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else UNKNOWN
    if isinstance(node, cst.ConcatenatedString):
        left, right = literal(tree, node.left), literal(tree, node.right)
        return left + right if isinstance(left, str) and isinstance(right, str) else UNKNOWN
    if isinstance(node, cst.FormattedString):
        if "b" in node.prefix.lower():
            return UNKNOWN
        out = []
        for part in node.parts:
            out.append(part.value if isinstance(part, cst.FormattedStringText) else HOLE)
        return "".join(out)
    if isinstance(node, cst.Integer):
        return int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Float):
        try:
            return float(node.value.replace("_", ""))
        except ValueError:
            return UNKNOWN
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[node.value]
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal(tree, node.expression)
        return -inner if isinstance(inner, (int, float)) and not isinstance(inner, bool) \
            else UNKNOWN
    return UNKNOWN


def module_constant(tree: Any, use: Any) -> Any:
    """The value a name (a Name node where it is read) is bound to, when that is a module-level
    `name = <expr>`, the only binding of the name in the file, not shadowed by a parameter of
    an enclosing function; else None."""
    cst = tree.cst
    name = use.value
    for scope in tree.ancestors(use):
        if isinstance(scope, (cst.FunctionDef, cst.Lambda)) and any(
                param.name.value == name for param in _parameters(cst, scope.params)):
            return None
    found = None
    for kind in ("Assign", "AnnAssign", "AugAssign"):
        for node in tree.nodes(kind):
            targets = [t.target for t in node.targets] if kind == "Assign" else [node.target]
            if not any(isinstance(t, cst.Name) and t.value == name for t in targets):
                if any(name in {n.value for n in _names_in(tree, t)} for t in targets):
                    return None  # bound inside a tuple target or the like
                continue
            if found is not None or kind == "AugAssign" or len(targets) != 1:
                return None
            if not isinstance(tree.parent(tree.statement(node)), cst.Module):
                return None
            found = node.value
    return found


def value_of(tree: Any, node: Any) -> Any:
    """The value of a literal, or of a name bound to one by a module-level constant
    (`module_constant`); else UNKNOWN."""
    if isinstance(node, tree.cst.Name):
        bound = module_constant(tree, node)
        return literal(tree, bound) if bound is not None else UNKNOWN
    return literal(tree, node)


def _parameters(cst: Any, params: Any) -> list[Any]:
    found = [*params.posonly_params, *params.params, *params.kwonly_params]
    found.extend(p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param))
    return found


def _names_in(tree: Any, node: Any) -> list[Any]:
    cst = tree.cst
    out = [node] if isinstance(node, cst.Name) else []
    out.extend(d for d in tree.descendants(node) if isinstance(d, cst.Name))
    return out


def option_settings(options: str) -> dict[str, str]:
    """`-c name=value` / `--name=value` settings of a libpq `options` string."""
    return {m.group(1).lower(): m.group(2).replace("\\", "") for m in _OPTION.finditer(options)}


@dataclass
class Dsn:
    """What a connection string shows: its parameters, and whether a part is hidden."""

    params: dict[str, str] = field(default_factory=dict)
    scheme: str = ""  # of a URL ("postgresql+asyncpg"); "" for key=value strings
    opaque: bool = False  # a placeholder could add parameters we cannot see
    is_url: bool = False


def parse_dsn(text: str) -> Dsn:
    """A libpq key=value string or a URL (placeholders as HOLE) as parameters."""
    from urllib.parse import parse_qsl

    found = _URL.match(text)
    if found is not None:
        dsn = Dsn(scheme=found.group(1).lower(), is_url=True)
        if HOLE in dsn.scheme or not dsn.scheme:
            dsn.opaque = True
            return dsn
        rest = text[found.end():]
        query = rest.partition("?")[2].partition("#")[0]
        for key, value in parse_qsl(query, keep_blank_values=True):
            if HOLE in key:
                dsn.opaque = True
            dsn.params[key.lower()] = value
        return dsn
    dsn = Dsn()
    at = 0
    for match in _KEYWORD_VALUE.finditer(text):
        if text[at:match.start()].strip():
            dsn.opaque = True
        at = match.end()
        key, value = match.group(1), match.group(2)
        if HOLE in key:
            dsn.opaque = True
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            value = value[1:-1]
        dsn.params[key.lower()] = re.sub(r"\\(.)", r"\1", value)
    if text[at:].strip():
        dsn.opaque = True
    return dsn
