"""Reading PostgreSQL connection options in Python code: literal values (f-string placeholders
kept as HOLE), module-level constants, libpq `options` strings and connection strings or URLs.

Also what one connection setup configures (`Setup`): its connect and statement timeouts, read
from the connection string and from the keywords of a call or the items of a dict (`Container`).

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


_INTERVAL = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|min|h|d)?\s*", re.IGNORECASE)
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(value: Any) -> float | None:
    """A PostgreSQL time setting in seconds (bare numbers are milliseconds), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0
    if not isinstance(value, str):
        return None
    found = _INTERVAL.fullmatch(value)  # fails on a placeholder (HOLE)
    if found is None:
        return None
    return float(found.group(1)) * _UNIT_SECONDS[(found.group(2) or "ms").lower()]


# -- what a connection setup sets ---------------------------------------------------------------

@dataclass
class Entry:
    """A keyword argument or a dict item: where a parameter is written."""

    name: str
    node: Any  # the Arg or DictElement
    value: Any  # its value node


@dataclass
class Container:
    """Where the fix writes parameters: a call's keywords or a dict literal's items."""

    node: Any  # Call or Dict
    entries: dict[str, Entry]
    opaque: bool  # **kwargs / **base: parameters we cannot see
    is_dict: bool


@dataclass
class Setup:
    """The timeouts one connection setup configures."""

    driver: str  # "libpq" or "asyncpg"
    connect: bool = False  # a positive connect timeout is set
    connect_zero: Entry | None = None  # an explicit connect_timeout=0 (waits for ever)
    statement: Any = None  # statement timeout: seconds, UNKNOWN when set to a hidden value
    client: float | None = None  # asyncpg command_timeout, seconds
    client_entry: Entry | None = None
    command: bool = False  # asyncpg command_timeout set (client-side statement limit)
    hidden_connect: bool = False  # parameters we cannot see could set it
    hidden_statement: bool = False
    dsn_options: bool = False  # the DSN sets `options`: a keyword would replace them
    options_entry: Entry | None = None  # a literal `options` keyword/item to extend
    settings_entry: Entry | None = None  # asyncpg server_settings dict literal

    def read_dsn(self, tree: Any, node: Any) -> None:
        value = value_of(tree, node)
        if value is None or value == "":
            return  # everything else comes from the PG* environment: judged on the keywords
        if not isinstance(value, str):
            self.hidden_connect = self.hidden_statement = True
            return
        dsn = parse_dsn(value)
        self.read_dsn_params(dsn)

    def read_dsn_params(self, dsn: Dsn) -> None:
        if dsn.opaque:
            self.hidden_connect = self.hidden_statement = True
        params = dsn.params
        if self.driver == "asyncpg":
            # asyncpg sends the query parameters it does not know as server settings.
            for key in ("statement_timeout", "command_timeout"):
                if key in params:
                    self._statement(params[key] if key == "statement_timeout" else UNKNOWN)
        elif "connect_timeout" in params:
            self._connect(params["connect_timeout"], None)
        if "options" in params:
            settings = option_settings(params["options"])
            if "statement_timeout" in settings:
                self._statement(settings["statement_timeout"])
            elif HOLE in params["options"]:
                self.hidden_statement = True
            else:
                self.dsn_options = True

    def _connect(self, value: Any, entry: Entry | None) -> None:
        if value is UNKNOWN:
            self.connect = True
            return
        try:
            positive = float(value) > 0
        except (TypeError, ValueError):
            positive = True  # not ours to judge
        if positive:
            self.connect = True
        elif entry is not None:
            self.connect_zero = entry

    def _statement(self, value: Any) -> None:
        found = seconds(value)
        self.statement = found if found is not None else UNKNOWN

    def read_keywords(self, tree: Any, container: Container) -> None:
        """Connection keywords (call keywords, connect_args, kwargs=, Django OPTIONS)."""
        if container.opaque:
            self.hidden_connect = self.hidden_statement = True
        entries = container.entries
        if self.driver == "libpq":
            # Keywords override the connection string's parameters of the same name.
            if "connect_timeout" in entries:
                entry = entries["connect_timeout"]
                self.hidden_connect = False
                self._connect(literal(tree, entry.value), entry)
            if "options" in entries:
                entry = entries["options"]
                self.hidden_statement = self.dsn_options = False
                self.statement = None
                value = literal(tree, entry.value)
                if not isinstance(value, str):
                    self.hidden_statement = True
                else:
                    settings = option_settings(value)
                    if "statement_timeout" in settings:
                        self._statement(settings["statement_timeout"])
                    elif HOLE in value:
                        self.hidden_statement = True
                    elif isinstance(entry.value, tree.cst.SimpleString):
                        self.options_entry = entry
                    else:
                        self.hidden_statement = True  # concatenated / f-string: not edited
            return
        if "command_timeout" in entries:
            entry = entries["command_timeout"]
            value = literal(tree, entry.value)
            if value is not None:
                self.command = True
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.client, self.client_entry = float(value), entry
        if "server_settings" in entries:
            entry = entries["server_settings"]
            settings = entry.value
            if not isinstance(settings, tree.cst.Dict):
                self.hidden_statement = True
                return
            items = dict_entries(tree, settings)
            if items.opaque:
                self.hidden_statement = True
            if "statement_timeout" in items.entries:
                self._statement(literal(tree, items.entries["statement_timeout"].value))
            elif "options" in items.entries:
                options = literal(tree, items.entries["options"].value)
                if not isinstance(options, str) or "statement_timeout" in options:
                    self.hidden_statement = True
            self.settings_entry = entry

    @property
    def has_statement(self) -> bool:
        return self.statement is not None or self.command

    def too_short(self) -> float | None:
        """The statement timeout (seconds) that the client-side timeout does not exceed."""
        if self.client is None or self.client <= 0 or not isinstance(self.statement, float):
            return None
        if self.statement <= 0:
            return None  # disabled: PGL302's business
        return self.statement if self.client <= self.statement else None


def call_keywords(call: Any) -> Container:
    entries = {a.keyword.value: Entry(a.keyword.value, a, a.value)
               for a in call.args if a.keyword is not None}
    opaque = any(a.star == "**" for a in call.args)
    return Container(call, entries, opaque, False)


def dict_entries(tree: Any, node: Any) -> Container:
    cst = tree.cst
    entries: dict[str, Entry] = {}
    opaque = False
    for element in node.elements:
        if isinstance(element, cst.DictElement):
            key = literal(tree, element.key)
            if isinstance(key, str) and HOLE not in key:
                entries[key] = Entry(key, element, element.value)
            else:
                opaque = True
        else:
            opaque = True  # **base
    return Container(node, entries, opaque, True)


def positional_argument(call: Any, index: int, keyword: str | None = None) -> Any:
    if keyword is not None:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                return arg.value
    plain = [a for a in call.args if a.keyword is None]
    for i, arg in enumerate(plain):
        if arg.star:
            return UNKNOWN  # *args: the position is hidden
        if i == index:
            return arg.value
    return None
