"""Reading PostgreSQL connection options in Python code: literal values (f-string placeholders
kept as HOLE), module-level constants, libpq `options` strings and connection strings or URLs.

Also what one connection setup configures (`Setup`): its connect and statement timeouts, read
from the connection string and from the keywords of a call or the items of a dict (`Container`).

Not a rule (no Rule subclass): PGL304 and PGL302 import it.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from pglint.python.pyfile import PythonFile

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


def literal(code: PythonFile, node: ast.AST | None) -> Any:
    """The Python value of a literal (strings with f-string placeholders as HOLE), else UNKNOWN."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, (str, int, float)) or value is None:  # bool is an int
            return value
        return UNKNOWN  # bytes, complex, `...`
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else HOLE
                       for part in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = literal(code, node.operand)
        return -inner if isinstance(inner, (int, float)) and not isinstance(inner, bool) \
            else UNKNOWN
    return UNKNOWN


def module_constant(code: PythonFile, use: ast.Name) -> ast.expr | None:
    """The value a name (a Name node where it is read) is bound to, when that is a module-level
    `name = <expr>`, the only binding of the name in the file, not shadowed by a parameter of
    an enclosing function; else None."""
    name = use.id
    for scope in code.ancestors(use):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and any(
                param.arg == name for param in _parameters(scope.args)):
            return None
    found = None
    for kind in (ast.Assign, ast.AnnAssign, ast.AugAssign):
        for node in code.nodes(kind):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                if any(name in _names_in(t) for t in targets):
                    return None  # bound inside a tuple target or the like
                continue
            if found is not None or kind is ast.AugAssign or len(targets) != 1:
                return None
            if not isinstance(code.parent(node), ast.Module):
                return None
            found = node.value
    return found


def value_of(code: PythonFile, node: ast.AST | None) -> Any:
    """The value of a literal, or of a name bound to one by a module-level constant
    (`module_constant`); else UNKNOWN."""
    if isinstance(node, ast.Name):
        bound = module_constant(code, node)
        return literal(code, bound) if bound is not None else UNKNOWN
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool)):
        return UNKNOWN  # `None`, `True`: names, which no module constant binds
    return literal(code, node)


def _parameters(params: ast.arguments) -> list[ast.arg]:
    found = [*params.posonlyargs, *params.args, *params.kwonlyargs]
    found.extend(p for p in (params.vararg, params.kwarg) if p is not None)
    return found


def _names_in(node: ast.AST) -> set[str]:
    """The names a target mentions: variables, and attribute names (`x.name = ...`)."""
    found = set()
    for inner in (node, *PythonFile.descendants(node)):
        if isinstance(inner, ast.Name):
            found.add(inner.id)
        elif isinstance(inner, ast.Attribute):
            found.add(inner.attr)
    return found


def string_tokens(code: PythonFile, node: ast.AST) -> list[tuple[int, int]]:
    """The string tokens of a literal as file character offsets: one, or several implicitly
    concatenated (`"a" "b"`, `"a" f"{b}"`); none for anything else."""
    import io
    import tokenize

    start, _ = code.span(node)
    source = "(" + code.code(node) + ")"  # inside brackets, line breaks between pieces are free
    lines = [0]
    for line in source.splitlines(keepends=True):
        lines.append(lines[-1] + len(line))
    found = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.STRING:
                first = lines[token.start[0] - 1] + token.start[1] - 1
                last = lines[token.end[0] - 1] + token.end[1] - 1
                found.append((start + first, start + last))
    except (tokenize.TokenError, SyntaxError):
        return []
    return found


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
    node: ast.AST  # the keyword, or the dict item's key
    value: ast.expr  # its value node


@dataclass
class Container:
    """Where the fix writes parameters: a call's keywords or a dict literal's items."""

    node: ast.Call | ast.Dict
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

    def read_dsn(self, code: PythonFile, node: ast.AST) -> None:
        value = value_of(code, node)
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

    def read_keywords(self, code: PythonFile, container: Container) -> None:
        """Connection keywords (call keywords, connect_args, kwargs=, Django OPTIONS)."""
        if container.opaque:
            self.hidden_connect = self.hidden_statement = True
        entries = container.entries
        if self.driver == "libpq":
            # Keywords override the connection string's parameters of the same name.
            if "connect_timeout" in entries:
                entry = entries["connect_timeout"]
                self.hidden_connect = False
                self._connect(literal(code, entry.value), entry)
            if "options" in entries:
                entry = entries["options"]
                self.hidden_statement = self.dsn_options = False
                self.statement = None
                value = literal(code, entry.value)
                if not isinstance(value, str):
                    self.hidden_statement = True
                else:
                    settings = option_settings(value)
                    if "statement_timeout" in settings:
                        self._statement(settings["statement_timeout"])
                    elif HOLE in value:
                        self.hidden_statement = True
                    elif is_one_string(code, entry.value):
                        self.options_entry = entry
                    else:
                        self.hidden_statement = True  # concatenated / f-string: not edited
            return
        if "command_timeout" in entries:
            entry = entries["command_timeout"]
            value = literal(code, entry.value)
            if value is not None:
                self.command = True
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.client, self.client_entry = float(value), entry
        if "server_settings" in entries:
            entry = entries["server_settings"]
            settings = entry.value
            if not isinstance(settings, ast.Dict):
                self.hidden_statement = True
                return
            items = dict_entries(code, settings)
            if items.opaque:
                self.hidden_statement = True
            if "statement_timeout" in items.entries:
                self._statement(literal(code, items.entries["statement_timeout"].value))
            elif "options" in items.entries:
                options = literal(code, items.entries["options"].value)
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


def is_one_string(code: PythonFile, node: ast.AST) -> bool:
    """A str literal of one token (not `"a" "b"`, not an f-string), as a fix can rewrite it."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        len(string_tokens(code, node)) == 1


def call_keywords(call: ast.Call) -> Container:
    entries = {k.arg: Entry(k.arg, k, k.value) for k in call.keywords if k.arg is not None}
    opaque = any(k.arg is None for k in call.keywords)
    return Container(call, entries, opaque, False)


def dict_entries(code: PythonFile, node: ast.Dict) -> Container:
    entries: dict[str, Entry] = {}
    opaque = False
    for key, value in zip(node.keys, node.values):
        if key is None:
            opaque = True  # **base
            continue
        name = literal(code, key)
        if isinstance(name, str) and HOLE not in name:
            entries[name] = Entry(name, key, value)
        else:
            opaque = True
    return Container(node, entries, opaque, True)


def positional_argument(call: ast.Call, index: int, keyword: str | None = None) -> Any:
    """The argument at a position (or passed as `keyword`); UNKNOWN where `*args` or `**kw`
    hides the position, None where there is none."""
    if keyword is not None:
        for item in call.keywords:
            if item.arg == keyword:
                return item.value
    # `**kw` can only follow the positional arguments: it hides the positions after them.
    plain: list[ast.AST] = [*call.args, *(k for k in call.keywords if k.arg is None)]
    for i, arg in enumerate(plain):
        if isinstance(arg, (ast.Starred, ast.keyword)):
            return UNKNOWN  # *args: the position is hidden
        if i == index:
            return arg
    return None
