"""SQL embedded in Python code: find it, decode it, parse it, map positions into the .py file.

Three steps, cheapest first:

1. `might_contain_sql(text)`: substring searches and an anchored pattern over the file text
   (libcst is not imported). It is true only where a database call (`.execute(`,
   `.executemany(`, asyncpg's `.fetch(`/`.fetchrow(`/`.fetchval(`, `text(`, `.raw(`,
   `sql.SQL(`) takes a string literal that starts like an
   SQL statement, or where `RunSQL(` or `.extra(` appear (their SQL can be a list, or a fragment
   such as a WHERE condition). Most files of a code base fail it and are never parsed.
2. `extract_sql(text)`: libcst (imported lazily) parses the file into the `PythonTree` the
   Python rules share (or the engine passes that tree in); every string literal
   handed to one of those calls becomes an `EmbeddedSQL`: the SQL as the database sees it, with a
   `PositionMap` from each of its characters to the file. Only literals are taken: f-strings,
   `%`/`.format()`-ed strings, `+` concatenations, variables and byte strings are skipped
   (computed SQL is not guessed at, so it raises no false alarm). Literals are located by text
   search where that is provably exact, else by libcst's PositionProvider (see `_Locator`).
3. `parse_embedded(embedded)`: pglast parses the SQL; the `Statement`s it returns give FILE
   character offsets from `stmt.offset(node["location"])`, like statements of .sql files.
   A syntax error at a placeholder is retried with the placeholder as a literal, then as a list
   (`IN %s`, `SET x = %s`); a placeholder that is neither (a table name) means computed SQL: skip.

Position units. libcst's `PositionProvider` gives 1-based lines and 0-based columns counted in
characters (code points), lines ending at `\\r\\n`, `\\r` or `\\n`; its `ByteSpanPositionProvider`
counts UTF-8 bytes (not used). pglast gives node locations in UTF-8 bytes of the parsed SQL and
syntax-error positions in characters. The `PositionMap` absorbs everything between the SQL text and
the file: escapes (`\\n`, `\\'`, `\\u00e9` are one SQL character spanning several file
characters), implicit concatenation (`"SELECT " "1"`: the quotes between the pieces are skipped),
line continuations, and placeholder rewrites.

Placeholders are rewritten into PostgreSQL parameters so that pglast accepts the SQL; a rewrite is
padded with spaces to the placeholder's length where it is shorter, so positions of the rest of the
line stay the same, and the map covers the cases where it is longer:

    ==============  ====================  ===========================================  ==========
    placeholder     used by               becomes                                      for calls
    ==============  ====================  ===========================================  ==========
    %s, %b, %t      psycopg, Django       $1, $2 ... (numbered in order)               pyformat
    %(name)s        psycopg, Django       $N padded with spaces (one N per name)       pyformat
    %%              psycopg, Django       %  (only when parameters are passed: without
                                          them the driver sends %% unchanged)          pyformat
    :name           SQLAlchemy text()     $N padded with spaces (one N per name)       colon
    \\:             SQLAlchemy text()     :  (an escaped colon)                        colon
    ?               sqlite3-style qmark   $N, where it stands for a value (after = ( ,
                                          an operator or a keyword such as LIMIT); the
                                          jsonb operators ? ?| ?& are left alone       qmark
    $1              asyncpg, psycopg      unchanged (already PostgreSQL)               all
    ==============  ====================  ===========================================  ==========

    pyformat: execute, executemany, raw, extra, sql.SQL, RunSQL (with params); colon: text,
    op.execute (Alembic wraps a string in text()), execute; qmark: execute, executemany.

Placeholders are only rewritten outside SQL quotes, quoted identifiers, comments and dollar
quotes (function bodies); `%%` is also rewritten inside single quotes (`LIKE 'a%%'`), as the
driver does. psycopg `sql.SQL` strings with `{}` fields are composed at run time: skipped.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from pglast import parser as pg

from pglint.source import ByteToChar
from pglint.sql.parse import LEADING_TRIVIA, Statement, SyntaxProblem

if TYPE_CHECKING:
    from pglint.python.screen import CodeIndex
    from pglint.python.tree import PythonTree

# --------------------------------------------------------------------------------------------
# The textual pre-filter
# --------------------------------------------------------------------------------------------

# Words that can start an SQL statement (what a literal handed to execute() starts with).
_STATEMENT_WORDS = (
    "select|insert|update|delete|with|create|alter|drop|truncate|lock|set|reset|show|begin|"
    "start|commit|rollback|savepoint|release|end|abort|vacuum|analyze|analyse|reindex|cluster|"
    "copy|grant|revoke|comment|refresh|do|call|merge|declare|fetch|move|close|listen|notify|"
    "unlisten|explain|prepare|execute|deallocate|discard|values|table|import|security|"
    "checkpoint|load|reassign"
)
# Blanks and SQL comments, then a statement's first word (or a parenthesized query).
_SQL_START = (r"(?:\s|--[^\n]*(?:\n|$)|/\*[\s\S]*?\*/)*"
              r"(?:\(\s*)*(?i:" + _STATEMENT_WORDS + r")(?![\w$])")
_LOOKS_LIKE_SQL = re.compile(_SQL_START)

# Cheap substring searches first (str.find is much faster than a regular expression scanning
# every position); each hit is then checked by an anchored pattern.
_NEEDLES = ("execute", "text(", "SQL(", ".raw(", "RunSQL(", ".extra(", ".fetch")
_CALL_WITH_SQL = re.compile(
    # A call taking SQL, then (optionally a parenthesis and a keyword argument) a str literal
    # (prefix r/u, never b or f) whose text starts like a statement.
    r"(?:(?<!\w)(?:executemany|execute|text|SQL)|\.raw|\.fetch(?:row|val)?)\s*\("
    r"\s*\(?\s*(?:\w+\s*=\s*)?[rRuU]?(?:\"\"\"|'''|\"|')" + _SQL_START
    # Django: RunSQL takes lists and (sql, params) pairs, extra() takes WHERE fragments.
    + r"|RunSQL\(|\.extra\("
)
# Python comments and string literals, to skip calls shown in docstrings and comments.
_PY_STRING_OR_COMMENT = re.compile(r"#[^\r\n]*|(?:\"\"\"|'''|\"|')")
_PY_STRING_END = {
    '"""': re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""', re.DOTALL),
    "'''": re.compile(r"(?:[^'\\]|\\.|'(?!''))*'''", re.DOTALL),
    '"': re.compile(r'(?:[^"\\\r\n]|\\.)*"', re.DOTALL),
    "'": re.compile(r"(?:[^'\\\r\n]|\\.)*'", re.DOTALL),
}


class _Quoted:
    """Spans of a Python file's string literals and comments, lexed as far as asked."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._pos = 0  # lexed up to here
        self._done = False

    def __contains__(self, offset: int) -> bool:
        self._lex(offset)
        i = bisect.bisect_right(self._starts, offset) - 1
        return i >= 0 and offset < self._ends[i]

    def string_starts(self) -> list[int]:
        """Offsets of the opening quotes of the file's string literals, in file order."""
        self._lex(len(self._text))
        return [start for start in self._starts if self._text[start] != "#"]

    def _lex(self, offset: int) -> None:
        text = self._text
        pos = self._pos
        while not self._done and pos <= offset:
            m = _PY_STRING_OR_COMMENT.search(text, pos)
            if m is None:
                self._done = True
                break
            token = m.group()
            if token[0] == "#":
                end = m.end()
            else:
                close = _PY_STRING_END[token].match(text, m.end())
                if close is not None:
                    end = close.end()
                elif len(token) == 3:
                    end = len(text)
                else:
                    newline = text.find("\n", m.end())
                    end = len(text) if newline < 0 else newline
            self._starts.append(m.start())
            self._ends.append(end)
            pos = max(end, m.end())
        self._pos = pos


def might_contain_sql(text: str) -> bool:
    """True if `text` (a Python file) may hand an SQL string literal to a database call.

    Cheap (substring searches, then a pattern at each hit; no parsing) and conservative: every
    literal that `extract_sql` returns passes it, except a statement split by implicit
    concatenation before its first word (`"SEL" "ECT"`). Calls inside string literals
    (docstrings, doctests) and comments do not count.
    """
    quoted: _Quoted | None = None
    for needle in _NEEDLES:
        at = text.find(needle)
        while at >= 0:
            if _CALL_WITH_SQL.match(text, at) is not None:
                if quoted is None:
                    quoted = _Quoted(text)
                if at not in quoted:
                    return True
            at = text.find(needle, at + 1)
    return False


_SQL_CALLS = frozenset({"execute", "executemany", "SQL", "text", "raw", "extra", "RunSQL",
                        "fetch", "fetchrow", "fetchval"})


def sql_screen(code: CodeIndex) -> bool:
    """Whether CPython's tree of a file that `might_contain_sql` holds a call that takes SQL
    with a str literal where `statements_in` reads one (`_candidates`, loosened): the first
    positional or any keyword argument, an element of a list or tuple (RunSQL, extra's
    `where`), a value of a dict (extra's `select`). `execute("..." % table)` has none."""
    import ast

    def literal(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str)
        if isinstance(node, (ast.List, ast.Tuple)):
            return any(literal(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return any(literal(v) for v in node.values)
        return False

    for call in code.calls(*_SQL_CALLS):
        positional = [a for a in call.args if not isinstance(a, ast.Starred)]
        if any(literal(a) for a in positional[:2]) or any(literal(k.value)
                                                          for k in call.keywords):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class PositionMap:
    """File character offsets of each character of an extracted SQL text.

    `start(i)` is where SQL character `i` begins in the file (for `i == len(sql)`: just after the
    last character); `end(i)` is where the text `sql[:i]` ends in the file, i.e. just after
    character `i - 1`. They differ when a character comes from an escape sequence (`\\n` is one
    SQL character, two file characters), a placeholder rewrite, or when a concatenation seam lies
    between two characters.
    """

    __slots__ = ("_starts", "_ends")

    def __init__(self, starts: list[int], ends: list[int]) -> None:
        self._starts = starts
        self._ends = ends

    def start(self, i: int) -> int:
        if i >= len(self._starts):
            return self._ends[-1] if self._ends else 0
        return self._starts[max(i, 0)]

    def end(self, i: int) -> int:
        if i <= 0:
            return self._starts[0] if self._starts else 0
        return self._ends[min(i, len(self._ends)) - 1]


@dataclass(eq=False)
class EmbeddedSQL:
    """One SQL string found in a Python file."""

    sql: str  # the SQL as pglast will parse it (escapes decoded, placeholders rewritten)
    start: int  # file character offset of the first character of the string's content
    end: int  # file character offset just after the last character of the content
    offsets: PositionMap  # character of `sql` -> file character offset
    call: str  # execute | executemany | text | op.execute | RunSQL | raw | extra | sql.SQL
    line: int  # 1-based line of `start`
    argument: str = "sql"  # which argument: sql, reverse_sql (RunSQL), select, where (extra)
    prefix: str = ""  # parsed before `sql` to make a fragment a statement ("SELECT WHERE ")
    literal_start: int = 0  # file offset of the whole literal expression (prefix and quote)
    literal_end: int = 0  # file offset just after its closing quote
    # Spans in `sql` of the parameters written for driver placeholders (`$1  ` for `%(id)s`).
    parameters: tuple[tuple[int, int], ...] = ()


# --------------------------------------------------------------------------------------------
# Python string literals
# --------------------------------------------------------------------------------------------

_ESCAPE = re.compile(
    r"\\(?:\r\n|[\n\r\\'\"abfnrtv]|[0-7]{1,3}|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}"
    r"|N\{[^}\n]*\})"
)


def _decode_literal(raw: str, base: int, is_raw: bool,
                    chars: list[str], starts: list[int], ends: list[int]) -> bool:
    """Append the value of a literal's body `raw` (at file offset `base`) to `chars`, with each
    character's file span. False if the literal does not decode."""
    if is_raw or "\\" not in raw:
        chars.append(raw)
        starts.extend(range(base, base + len(raw)))
        ends.extend(range(base + 1, base + len(raw) + 1))
        return True
    at = 0
    for match in _ESCAPE.finditer(raw):
        if match.start() > at:
            piece = raw[at:match.start()]
            chars.append(piece)
            starts.extend(range(base + at, base + match.start()))
            ends.extend(range(base + at + 1, base + match.start() + 1))
        escape = match.group()
        if escape[1] in "\r\n":
            value = ""  # a line continuation
        else:
            try:
                value = escape.encode("ascii").decode("unicode_escape")
            except (UnicodeError, ValueError):
                return False
        chars.append(value)
        starts.extend([base + match.start()] * len(value))
        ends.extend([base + match.end()] * len(value))
        at = match.end()
    if at < len(raw):
        chars.append(raw[at:])
        starts.extend(range(base + at, base + len(raw)))
        ends.extend(range(base + at + 1, base + len(raw) + 1))
    return True


# --------------------------------------------------------------------------------------------
# Placeholders
# --------------------------------------------------------------------------------------------

_PYFORMAT, _COLON, _QMARK = 1, 2, 4
_STYLES = {
    "execute": _PYFORMAT | _COLON | _QMARK,
    "executemany": _PYFORMAT | _COLON | _QMARK,
    "raw": _PYFORMAT,
    "extra": _PYFORMAT,
    "sql.SQL": _PYFORMAT,
    "RunSQL": _PYFORMAT,
    "text": _COLON,
    "op.execute": _COLON,
    "fetch": 0,  # asyncpg: PostgreSQL's own $1 parameters
}

_SQL_SCAN = re.compile(r"""
    (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)
  | (?P<estring>(?<![\w$])[Ee]')
  | (?P<squote>')
  | (?P<dquote>")
  | (?P<pct>%%|%\((?P<pname>[^()]*)\)[sbt]|%[sbt])
  | (?P<colon>(?<![:\w\\]):(?P<cname>\w+)(?!\w))
  | (?P<bscolon>\\:)
  | (?P<qmark>\?(?![|&\-#?]))
    """, re.VERBOSE)
_SQUOTE_BODY = re.compile(r"(?:[^']|'')*'")
_ESTRING_BODY = re.compile(r"(?:[^'\\]|''|\\.)*'", re.DOTALL)
_DQUOTE_BODY = re.compile(r'(?:[^"]|"")*"')
_BLOCK = re.compile(r"/\*|\*/")
_DOUBLE_PERCENT = re.compile("%%")
# Words after which a `?` is a value, not the jsonb operator.
_VALUE_AFTER = frozenset("""
    limit offset and or not between then else when select set values by is like ilike in any
    all some return case where distinct from to as on having fetch first next rows interval
    array escape similar returning
""".split())
_PREVIOUS_WORD = re.compile(r"(\w+)\s*$")


def _is_value_position(sql: str, at: int) -> bool:
    """Whether a `?` at `at` stands where a value goes (a qmark parameter)."""
    i = at - 1
    while i >= 0 and sql[i].isspace():
        i -= 1
    if i < 0:
        return True
    if sql[i] in "=<>(,+-*/%[|":
        return True
    word = _PREVIOUS_WORD.search(sql, max(0, i - 40), i + 1)
    return word is not None and word.group(1).lower() in _VALUE_AFTER


_Edit = tuple[int, int, str, bool]  # start, end, replacement, whether it is a parameter


def _placeholder_edits(sql: str, styles: int, has_params: bool) -> list[_Edit]:
    """Edits turning driver placeholders into PostgreSQL syntax."""
    edits: list[_Edit] = []
    numbers: dict[str, int] = {}

    def parameter(name: str | None, length: int) -> str:
        if name is None:
            numbers[f"\0{len(numbers)}"] = number = len(numbers) + 1
        else:
            number = numbers.setdefault(name, len(numbers) + 1)
        return f"${number}".ljust(length)

    percent_in_quotes = bool(styles & _PYFORMAT) and has_params
    pos = 0
    n = len(sql)
    while pos < n:
        m = _SQL_SCAN.search(sql, pos)
        if m is None:
            break
        kind = m.lastgroup if m.lastgroup not in ("pname", "cname") else None
        if kind is None:  # a named group inside pct/colon matched last
            kind = "pct" if m.group("pct") is not None else "colon"
        pos = m.end()
        if kind == "line_comment":
            continue
        if kind == "block_comment":
            depth = 1
            while depth and pos < n:
                b = _BLOCK.search(sql, pos)
                if b is None:
                    return edits
                depth += 1 if b.group() == "/*" else -1
                pos = b.end()
            continue
        if kind == "dollar":
            close = sql.find(m.group(), pos)
            if close < 0:
                return edits
            pos = close + len(m.group())
            continue
        if kind in ("squote", "estring"):
            body = (_SQUOTE_BODY if kind == "squote" else _ESTRING_BODY).match(sql, pos)
            if body is None:
                return edits
            if percent_in_quotes:
                edits.extend((p.start(), p.end(), "%", False)
                             for p in _DOUBLE_PERCENT.finditer(sql, pos, body.end()))
            pos = body.end()
            continue
        if kind == "dquote":
            body = _DQUOTE_BODY.match(sql, pos)
            if body is None:
                return edits
            pos = body.end()
            continue
        if kind == "pct":
            if not styles & _PYFORMAT:
                pos = m.start() + 1
                continue
            text = m.group()
            if text == "%%":
                if has_params:
                    edits.append((m.start(), m.end(), "%", False))
            else:
                edits.append((m.start(), m.end(), parameter(m.group("pname"), len(text)), True))
        elif kind == "colon":
            if styles & _COLON:
                name = m.group("cname")
                edits.append((m.start(), m.end(), parameter(name, len(m.group())), True))
        elif kind == "bscolon":
            if styles & _COLON:
                edits.append((m.start(), m.end(), ":", False))
        elif kind == "qmark":
            if styles & _QMARK and _is_value_position(sql, m.start()):
                edits.append((m.start(), m.end(), parameter(None, 1), True))
    return edits


def _apply_edits(sql: str, starts: list[int], ends: list[int], edits: list[_Edit]
                 ) -> tuple[str, list[int], list[int], list[tuple[int, int]]]:
    """Apply sorted, non-overlapping edits to `sql` and its file spans; also return the spans of
    the parameters written, in the new text."""
    if not edits:
        return sql, starts, ends, []
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    parameters: list[tuple[int, int]] = []
    at = 0
    length = 0
    for a, b, replacement, is_parameter in edits:
        out.append(sql[at:a])
        new_starts.extend(starts[at:a])
        new_ends.extend(ends[at:a])
        length += a - at
        width = b - a
        last = len(replacement) - 1
        for j in range(len(replacement)):
            k = a + min(j, width - 1)
            new_starts.append(starts[k])
            # The last character of a replacement ends where the placeholder ends.
            new_ends.append(ends[b - 1] if j == last else ends[k])
        out.append(replacement)
        if is_parameter:
            parameters.append((length, length + len(replacement)))
        length += len(replacement)
        at = b
    out.append(sql[at:])
    new_starts.extend(starts[at:])
    new_ends.extend(ends[at:])
    return "".join(out), new_starts, new_ends, parameters


# --------------------------------------------------------------------------------------------
# Finding the calls (libcst)
# --------------------------------------------------------------------------------------------

_SQL_KEYWORDS = frozenset({"sql", "query", "operation", "statement", "sqltext", "raw_query",
                           "text"})
_PARAM_KEYWORDS = frozenset({"params", "parameters", "args", "vars", "vars_list",
                             "seq_of_parameters", "param_list", "multiparams"})
_TEXT_RECEIVERS = frozenset({"sa", "sqlalchemy", "sql", "expression", "db", "sqla"})
_GATED = frozenset({"execute", "executemany", "text", "op.execute", "raw", "sql.SQL", "fetch"})


def _call_name(func: Any, cst: Any) -> str | None:
    if isinstance(func, cst.Attribute):
        name = func.attr.value
        if name in ("execute", "executemany"):
            if name == "execute" and isinstance(func.value, cst.Name) and func.value.value == "op":
                return "op.execute"
            return name
        if name == "SQL":
            return "sql.SQL"
        if name == "text":
            # sa.text, sqlalchemy.sql.expression.text, db.text (Flask-SQLAlchemy); not
            # page.text(...) of some other library.
            receiver = func.value
            last = receiver.value if isinstance(receiver, cst.Name) else \
                receiver.attr.value if isinstance(receiver, cst.Attribute) else None
            return name if last in _TEXT_RECEIVERS else None
        if name in ("raw", "extra", "RunSQL"):
            return name
        if name in ("fetch", "fetchrow", "fetchval"):  # asyncpg's query methods
            return "fetch"
        return None
    if isinstance(func, cst.Name):
        name = func.value
        if name in ("text", "RunSQL"):
            return name
        if name == "SQL":
            return "sql.SQL"
    return None


def _literal_parts(node: Any, cst: Any) -> list[Any] | None:
    """The SimpleString pieces of a str literal (implicit concatenation included), or None if
    `node` is anything else: f-string, bytes, operator, call, name..."""
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix.lower()
        return None if "b" in prefix or "f" in prefix else [node]
    if isinstance(node, cst.ConcatenatedString):
        left = _literal_parts(node.left, cst)
        right = _literal_parts(node.right, cst) if left is not None else None
        return None if right is None else left + right
    return None


def _arguments(call: Any) -> tuple[list[Any], dict[str, Any]]:
    positional = [a.value for a in call.args if a.keyword is None and not a.star]
    keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    return positional, keywords


@dataclass
class _Candidate:
    node: Any  # the libcst Call
    call: str
    argument: str
    parts: list[Any]
    has_params: bool
    prefix: str = ""


def _candidates(call: Any, name: str, cst: Any) -> Iterator[_Candidate]:
    positional, keywords = _arguments(call)
    if name == "RunSQL":
        for index, argument in ((0, "sql"), (1, "reverse_sql")):
            value = positional[index] if len(positional) > index else keywords.get(argument)
            if value is None:
                continue
            items = [e.value for e in value.elements] \
                if isinstance(value, (cst.List, cst.Tuple)) else [value]
            for item in items:
                has_params = False
                if isinstance(item, cst.Tuple) and item.elements:  # (sql, params)
                    item, has_params = item.elements[0].value, len(item.elements) > 1
                parts = _literal_parts(item, cst)
                if parts:
                    yield _Candidate(call, name, argument, parts, has_params)
        return
    if name == "extra":
        has_params = "params" in keywords or "select_params" in keywords or len(positional) > 2
        select = positional[0] if positional else keywords.get("select")
        if isinstance(select, cst.Dict):
            for element in select.elements:
                parts = _literal_parts(getattr(element, "value", None), cst)
                if parts:
                    yield _Candidate(call, name, "select", parts, has_params, "SELECT ")
        where = positional[1] if len(positional) > 1 else keywords.get("where")
        if isinstance(where, (cst.List, cst.Tuple)):
            for element in where.elements:
                parts = _literal_parts(element.value, cst)
                if parts:
                    yield _Candidate(call, name, "where", parts, has_params, "SELECT WHERE ")
        return
    value = positional[0] if positional else next(
        (v for k, v in keywords.items() if k in _SQL_KEYWORDS), None)
    if value is None:
        return
    parts = _literal_parts(value, cst)
    if parts:
        has_params = len(positional) > 1 or any(k in _PARAM_KEYWORDS for k in keywords)
        yield _Candidate(call, name, "sql", parts, has_params)


def _calls(tree: PythonTree) -> list[tuple[Any, str]]:
    """The file's calls that take SQL, with their API name, in file order. A `sql.SQL(...)`
    composed into larger SQL (`sql.SQL("...") + ...`, `sql.SQL(", ").join(...)`,
    `[sql.SQL("..."), name]`) is left out: what runs is the composition."""
    cst = tree.cst
    calls: list[tuple[Any, str]] = []
    for call in tree.nodes("Call"):
        name = _call_name(call.func, cst)
        if name is not None and not (name == "sql.SQL" and _composed(tree, call)):
            calls.append((call, name))
    return calls


def _composed(tree: PythonTree, call: Any) -> bool:
    cst = tree.cst
    parent = tree.parent(call)
    kind = type(parent)
    if kind is cst.BinaryOperation:
        return type(parent.operator) is cst.Add
    if kind is cst.Attribute:
        return parent.value is call and parent.attr.value in ("join", "format")
    if kind is cst.Element or kind is cst.StarredElement:
        return type(tree.parent(parent)) in (cst.List, cst.Tuple)
    return False


# Between two pieces of an implicitly concatenated literal: blanks, comments, continuations.
_BETWEEN_PIECES = re.compile(r"(?:[ \t\f\r\n]|\\\r?\n|#[^\r\n]*)*")


class _Locator:
    """File character offsets of the pieces of the candidates' literals.

    libcst's PositionProvider regenerates the code of the whole module (about twice the cost of
    parsing), so pieces are placed by text search first, which is exact where it answers:

    - a piece whose source text occurs once in the file can only be there, and the pieces of an
      implicit concatenation follow each other with only blanks, comments and continuations
      between;
    - the same literal repeated (the same query run in several places): if every occurrence of
      its text at the start of a string token is the first piece of a candidate, and all those
      candidates are alike (same call, argument, pieces), they take the occurrences in file order:
      whichever is which, the results are the same.

    The tree's `span` is the last resort (libcst's PositionProvider where its own text search
    cannot tell; computed once per file, for the rules too).
    """

    def __init__(self, tree: PythonTree) -> None:
        self._tree = tree
        self._text = tree.text
        self._strings: dict[str, int] | None = None  # a literal's source text -> its nodes

    def locate(self, candidates: list[_Candidate]) -> list[list[int]]:
        out: list[list[int] | None] = [None] * len(candidates)
        pending: dict[tuple, list[int]] = {}
        for i, candidate in enumerate(candidates):
            out[i] = self._by_unique_text(candidate.parts)
            if out[i] is None:
                key = (candidate.call, candidate.argument, candidate.prefix, candidate.has_params,
                       tuple(part.value for part in candidate.parts))
                pending.setdefault(key, []).append(i)
        if pending:
            quoted = _Quoted(self._text)
            string_starts = quoted.string_starts()
            for key, indexes in pending.items():
                first = candidates[indexes[0]].parts[0]
                found = self._by_repetition(first, candidates, indexes, string_starts)
                for i, offsets in zip(indexes, found):
                    out[i] = offsets
        return [o if o is not None else [self._tree.span(p)[0] for p in c.parts]
                for o, c in zip(out, candidates)]

    def _by_unique_text(self, parts: list[Any]) -> list[int] | None:
        text = self._text
        for k, part in enumerate(parts):
            at = text.find(part.value)
            if at >= 0 and text.find(part.value, at + 1) < 0:
                return self._from_anchor(parts, k, at)
        return None

    def _by_repetition(self, first: Any, candidates: list[_Candidate], indexes: list[int],
                       string_starts: list[int]) -> list[list[int] | None]:
        text = self._text
        value = first.value
        skip = len(first.prefix)
        occurrences = [q - skip for q in string_starts
                       if text.startswith(value, q - skip)
                       and not (q - skip > 0 and (text[q - skip - 1].isalnum()
                                                  or text[q - skip - 1] == "_"))]
        if self._strings is None:
            self._strings = {}
            for node in self._tree.nodes("SimpleString"):
                self._strings[node.value] = self._strings.get(node.value, 0) + 1
        if not (len(occurrences) == len(indexes) == self._strings.get(value, 0)):
            return [None] * len(indexes)
        return [self._from_anchor(candidates[i].parts, 0, at)
                for i, at in zip(indexes, occurrences)]

    def _from_anchor(self, parts: list[Any], k: int, at: int) -> list[int] | None:
        text = self._text
        offsets = [0] * len(parts)
        offsets[k] = at
        for i in range(k + 1, len(parts)):
            at = _BETWEEN_PIECES.match(text, offsets[i - 1] + len(parts[i - 1].value)).end()
            if not text.startswith(parts[i].value, at):
                return None
            offsets[i] = at
        for i in range(k - 1, -1, -1):
            value = parts[i].value
            at = text.rfind(value, 0, offsets[i + 1])
            between = text[at + len(value):offsets[i + 1]] if at >= 0 else "#"
            if "#" in between or between.strip(" \t\f\r\n\\"):
                return None  # a comment might hold the same text: let libcst decide
            offsets[i] = at
        return offsets


def _is_sql(candidate: _Candidate) -> bool:
    """Whether the candidate's literal holds SQL we can lint (checked before it is located)."""
    chars: list[str] = []
    for part in candidate.parts:
        if not _decode_literal(part.raw_value, 0, "r" in part.prefix.lower(), chars, [], []):
            return False
    sql = "".join(chars)
    if not sql.strip():
        return False
    if candidate.call in _GATED and not _LOOKS_LIKE_SQL.match(sql):
        return False  # e.g. `shell.execute("ls -l")`, or a text() fragment such as "id > 5"
    if candidate.call == "sql.SQL" and ("{" in sql or "}" in sql):
        return False  # composed with .format() at run time
    return True


def _embedded(candidate: _Candidate, text: str, offsets: list[int]) -> EmbeddedSQL | None:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for part, at in zip(candidate.parts, offsets):
        if not text.startswith(part.value, at):
            return None  # positions disagree with the text: never report at a wrong place
        body_at = at + len(part.prefix) + len(part.quote)
        if not _decode_literal(part.raw_value, body_at, "r" in part.prefix.lower(),
                               chars, starts, ends):
            return None
    sql = "".join(chars)
    edits = _placeholder_edits(sql, _STYLES[candidate.call], candidate.has_params)
    sql, starts, ends, parameters = _apply_edits(sql, starts, ends, edits)
    start = starts[0]
    return EmbeddedSQL(sql=sql, start=start, end=ends[-1], offsets=PositionMap(starts, ends),
                       call=candidate.call, line=text.count("\n", 0, start) + 1,
                       argument=candidate.argument, prefix=candidate.prefix,
                       literal_start=offsets[0],
                       literal_end=offsets[-1] + len(candidate.parts[-1].value),
                       parameters=tuple(parameters))


def extract_sql(text: str, tree: PythonTree | None = None) -> list[EmbeddedSQL]:
    """The SQL string literals handed to database calls in a Python file, in file order.

    `tree` is the file's PythonTree if it was parsed already. A file that cannot be parsed
    yields nothing (reporting Python syntax errors is the Python linters' job).
    """
    if tree is None:
        from pglint.python.tree import PythonTree  # lazily: libcst takes 0.1 s to import

        tree = PythonTree.parse(text)
        if tree is None:
            return []
    cst = tree.cst
    found = [candidate for call, name in _calls(tree)
             for candidate in _candidates(call, name, cst) if _is_sql(candidate)]
    if not found:
        return []
    located = _Locator(tree).locate(found)
    out = [e for e in map(_embedded, found, [text] * len(found), located) if e is not None]
    out.sort(key=lambda e: e.start)
    return out


# --------------------------------------------------------------------------------------------
# Parsing the SQL
# --------------------------------------------------------------------------------------------


class _FileOffsets:
    """Byte offset in the parsed text (prefix + sql) -> file character offset.

    Stands in for `ByteToChar` in `Statement.chars` (with `char_base = byte_base = 0`), so that
    `Statement.offset(location)` gives file offsets through escapes and concatenation seams.
    """

    __slots__ = ("_chars", "_map", "_skip")

    def __init__(self, parsed: str, offsets: PositionMap, prefix_len: int) -> None:
        self._chars = ByteToChar(parsed)
        self._map = offsets
        self._skip = prefix_len

    def char(self, char_offset: int) -> int:
        """Character offset in the parsed text -> file character offset."""
        return self._map.start(max(char_offset - self._skip, 0))

    def end(self, char_offset: int) -> int:
        """File offset just after the parsed text up to `char_offset` (exclusive)."""
        return self._map.end(max(char_offset - self._skip, 0))

    def __call__(self, byte_offset: int) -> int:
        return self.char(self._chars(byte_offset))


# When PostgreSQL rejects a parameter where a placeholder sits, the driver was filling in
# something else: psycopg2 turns a tuple into `(1, 2)` (`IN %s`), and SET, PREPARE TRANSACTION or
# INTERVAL take a literal, not a parameter. Tried in this order.
_PARAMETER_STANDS_FOR = ("'1'", "({})")


def parse_embedded(embedded: EmbeddedSQL) -> tuple[list[Statement], SyntaxProblem | None]:
    """Parse an embedded SQL string; statement spans and node locations are file offsets.

    A syntax error AT a placeholder is retried with the placeholder as a literal, then as a
    parenthesized list; if neither parses, the placeholder stands for an identifier or a clause
    (computed SQL), and the string is skipped: ([], None), no false alarm.
    """
    sql = embedded.sql
    offsets = embedded.offsets
    parameters = list(embedded.parameters)
    tried = [0] * len(parameters)
    written = [sql[a:b].strip() for a, b in parameters]  # "$1"
    plen = len(embedded.prefix)
    while True:
        parsed = embedded.prefix + sql
        files = _FileOffsets(parsed, offsets, plen)
        try:
            tree = json.loads(pg.parse_sql_json(parsed))
            break
        except pg.ParseError as exc:
            # A parse error's position is a character index (node locations are bytes).
            location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
            message = exc.args[0] if exc.args else str(exc)
            at = location - plen
            hit = next((i for i, (a, b) in enumerate(parameters) if a <= at < b), None)
            if hit is None:
                return [], SyntaxProblem(str(message), files.char(location))
            if tried[hit] == len(_PARAMETER_STANDS_FOR):
                return [], None
            a, b = parameters[hit]
            replacement = _PARAMETER_STANDS_FOR[tried[hit]].format(written[hit]).ljust(b - a)
            tried[hit] += 1
            placeholder_at = offsets.start(a)
            sql, starts, ends, _ = _apply_edits(sql, offsets._starts, offsets._ends,
                                                [(a, b, replacement, True)])
            # Whatever the parameter became, every character of it is the placeholder's.
            starts[a:a + len(replacement)] = [placeholder_at] * len(replacement)
            offsets = PositionMap(starts, ends)
            delta = len(replacement) - (b - a)
            parameters = [(x, y) if x < a else (x + delta, y + delta) for x, y in parameters]
            parameters[hit] = (a, a + len(replacement))
    chars = ByteToChar(parsed)
    statements = []
    for raw in tree.get("stmts", ()):
        byte_start = raw.get("stmt_location", 0)
        byte_len = raw.get("stmt_len", 0)
        start = chars(byte_start)
        end = chars(byte_start + byte_len) if byte_len else len(parsed)
        start, end = _trim(parsed, max(start, 0), end, plen)
        statements.append(Statement(raw["stmt"], files.char(start), files.end(end), 0,
                                    files))  # type: ignore[arg-type]
    return statements, None


def _trim(parsed: str, a: int, b: int, prefix_len: int) -> tuple[int, int]:
    """Skip blanks and comments around a statement; a statement that begins in the prefix
    ("SELECT WHERE " of an extra() fragment) begins, in the file, where the fragment does."""
    a = max(a, prefix_len)
    a = LEADING_TRIVIA.match(parsed, a, b).end()
    while b > a and parsed[b - 1].isspace():
        b -= 1
    return a, b


def statements_in(text: str, tree: PythonTree | None = None
                  ) -> Iterator[tuple[EmbeddedSQL, list[Statement], SyntaxProblem | None]]:
    """Every embedded SQL string of a Python file, parsed; `tree` is the file's PythonTree if
    it was parsed already. Callers run the pre-filter (`might_contain_sql`) first."""
    for embedded in extract_sql(text, tree):
        statements, problem = parse_embedded(embedded)
        yield embedded, statements, problem


__all__ = ["EmbeddedSQL", "PositionMap", "extract_sql", "might_contain_sql", "parse_embedded",
           "statements_in"]
