"""SQL embedded in Python code: find it, decode it, parse it, map positions into the .py file.

Three steps, cheapest first:

1. `might_contain_sql(text)`: substring searches and an anchored pattern over the file text
   (nothing is parsed). It is true only where a database call (`.execute(`,
   `.executemany(`, asyncpg's `.fetch(`/`.fetchrow(`/`.fetchval(`, `text(`, `.raw(`,
   `sql.SQL(`) takes a string literal that starts like an
   SQL statement, or where `RunSQL(` or `.extra(` appear (their SQL can be a list, or a fragment
   such as a WHERE condition). Most files of a code base fail it and are never parsed.
2. `extract_sql(text)`: CPython's parser (`ast`, through `pglint.python.pyfile`) reads the
   file; every string literal handed to one of those calls becomes an `EmbeddedSQL`: the SQL as
   the database sees it, with a `PositionMap` from each of its characters to the file. Only
   literals are taken: f-strings, `%`/`.format()`-ed strings, `+` concatenations, variables and
   byte strings are skipped (computed SQL is not guessed at, so it raises no false alarm). The
   literal's tokens are read from the text where CPython's positions put the literal (its
   pieces, when implicitly concatenated, in between). No libcst tree is needed (libcst costs
   five to ten times as much); the engine parses one only for the rules and readers that want
   it.
3. `parse_embedded(embedded)`: pglast parses the SQL; the `Statement`s it returns give FILE
   character offsets from `stmt.offset(node["location"])`, like statements of .sql files.
   A syntax error at a placeholder is retried with the placeholder as a literal, then as a list
   (`IN %s`, `SET x = %s`); a placeholder that is neither (a table name) means computed SQL: skip.

Position units. CPython gives 1-based lines (ending at `\r\n`, `\r` or `\n`) and columns
counted in UTF-8 bytes (`_Source` turns them into characters). pglast gives node locations in
UTF-8 bytes of the parsed SQL and
syntax-error positions in characters. The `PositionMap` absorbs everything between the SQL text and
the file: escapes (`\n`, `\'`, `\u00e9` are one SQL character spanning several file
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

import ast
import bisect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from pglast import parser as pg

from pglint.python.placeholders import PLACEHOLDER_STYLES, apply_edits, placeholder_edits
from pglint.source import ByteToChar, line_starts
from pglint.sql.parse import LEADING_TRIVIA, Statement, SyntaxProblem, sql_tree

if TYPE_CHECKING:
    from pglint.python.pyfile import PythonFile

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
    # A call taking SQL, then (optionally a parenthesis and a keyword argument, comments in
    # between) a str literal (prefix r/u, never b or f) whose text starts like a statement.
    r"(?:(?<!\w)(?:executemany|execute|text|SQL)|\.raw|\.fetch(?:row|val)?)\s*\("
    r"(?:\s|#[^\n]*)*(?:\((?:\s|#[^\n]*)*)?(?:\w+\s*=\s*)?[rRuU]?(?:\"\"\"|'''|\"|')" + _SQL_START
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
# Finding the calls (libcst)
# --------------------------------------------------------------------------------------------

_SQL_KEYWORDS = frozenset({"sql", "query", "operation", "statement", "sqltext", "raw_query",
                           "text"})
_PARAM_KEYWORDS = frozenset({"params", "parameters", "args", "vars", "vars_list",
                             "seq_of_parameters", "param_list", "multiparams"})
_TEXT_RECEIVERS = frozenset({"sa", "sqlalchemy", "sql", "expression", "db", "sqla"})
_GATED = frozenset({"execute", "executemany", "text", "op.execute", "raw", "sql.SQL", "fetch"})


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        name = func.attr
        if name in ("execute", "executemany"):
            if name == "execute" and isinstance(func.value, ast.Name) and func.value.id == "op":
                return "op.execute"
            return name
        if name == "SQL":
            return "sql.SQL"
        if name == "text":
            # sa.text, sqlalchemy.sql.expression.text, db.text (Flask-SQLAlchemy); not
            # page.text(...) of some other library.
            receiver = func.value
            last = receiver.id if isinstance(receiver, ast.Name) else \
                receiver.attr if isinstance(receiver, ast.Attribute) else None
            return name if last in _TEXT_RECEIVERS else None
        if name in ("raw", "extra", "RunSQL"):
            return name
        if name in ("fetch", "fetchrow", "fetchval"):  # asyncpg's query methods
            return "fetch"
        return None
    if isinstance(func, ast.Name):
        name = func.id
        if name in ("text", "RunSQL"):
            return name
        if name == "SQL":
            return "sql.SQL"
    return None


@dataclass
class _Piece:
    """One string token of a literal (`"SELECT "` of `"SELECT " "1"`), as written."""

    value: str  # the token: prefix, quotes and body
    prefix: str
    quote: str
    raw_value: str  # the body between the quotes, escapes undecoded
    start: int  # file character offset of the token


# A string token's start: its prefix (never b or f here: CPython made a str of it) and quote.
_TOKEN_START = re.compile(r"[A-Za-z]*(\"\"\"|\'\'\'|\"|\')")


class _Source:
    """A file's text with CPython's positions (1-based lines, UTF-8 byte columns of the text
    without its byte-order mark) turned into character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.shift = 1 if text.startswith("\ufeff") else 0
        self.lines = line_starts(text, self.shift)  # as CPython counts them

    def offset(self, line: int, byte_column: int) -> int:
        start = self.lines[line - 1]
        head = self.text[start:start + byte_column]  # no fewer characters than bytes before
        if head.isascii():
            return start + byte_column
        return start + len(head.encode("utf-8")[:byte_column].decode("utf-8"))

    def pieces(self, node: ast.expr) -> list[_Piece] | None:
        """The string tokens of a str literal (implicit concatenation included), or None if
        `node` is anything else: f-string, bytes, operator, call, name..."""
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            return None
        text = self.text
        at = self.offset(node.lineno, node.col_offset)
        end = self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[arg-type]
        pieces = []
        while True:
            token = _TOKEN_START.match(text, at)
            if token is None:
                return None
            quote = token.group(1)
            close = _PY_STRING_END[quote].match(text, token.end())
            if close is None:
                return None
            pieces.append(_Piece(text[at:close.end()], text[at:token.start(1)], quote,
                                 text[token.end():close.end() - len(quote)], at))
            if close.end() >= end:
                return pieces if close.end() == end else None
            at = _BETWEEN_PIECES.match(text, close.end()).end()


def _arguments(call: ast.Call) -> tuple[list[ast.expr], dict[str, ast.expr]]:
    positional = [a for a in call.args if not isinstance(a, ast.Starred)]
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    return positional, keywords


def _element(node: ast.expr) -> ast.expr:
    return node.value if isinstance(node, ast.Starred) else node


@dataclass
class _Candidate:
    node: ast.Call
    call: str
    argument: str
    parts: list[_Piece]
    has_params: bool
    prefix: str = ""


def _candidates(call: ast.Call, name: str, source: _Source) -> Iterator[_Candidate]:
    positional, keywords = _arguments(call)
    if name == "RunSQL":
        for index, argument in ((0, "sql"), (1, "reverse_sql")):
            value = positional[index] if len(positional) > index else keywords.get(argument)
            if value is None:
                continue
            items = [_element(e) for e in value.elts] \
                if isinstance(value, (ast.List, ast.Tuple)) else [value]
            for item in items:
                has_params = False
                if isinstance(item, ast.Tuple) and item.elts:  # (sql, params)
                    item, has_params = _element(item.elts[0]), len(item.elts) > 1
                parts = source.pieces(item)
                if parts:
                    yield _Candidate(call, name, argument, parts, has_params)
        return
    if name == "extra":
        has_params = "params" in keywords or "select_params" in keywords or len(positional) > 2
        select = positional[0] if positional else keywords.get("select")
        if isinstance(select, ast.Dict):
            for value in select.values:  # `**other` entries: a name, never a literal
                parts = source.pieces(value)
                if parts:
                    yield _Candidate(call, name, "select", parts, has_params, "SELECT ")
        where = positional[1] if len(positional) > 1 else keywords.get("where")
        if isinstance(where, (ast.List, ast.Tuple)):
            for element in where.elts:
                parts = source.pieces(_element(element))
                if parts:
                    yield _Candidate(call, name, "where", parts, has_params, "SELECT WHERE ")
        return
    value = positional[0] if positional else next(
        (v for k, v in keywords.items() if k in _SQL_KEYWORDS), None)
    if value is None:
        return
    parts = source.pieces(value)
    if parts:
        has_params = len(positional) > 1 or any(k in _PARAM_KEYWORDS for k in keywords)
        yield _Candidate(call, name, "sql", parts, has_params)


def _calls(code: PythonFile) -> list[tuple[ast.Call, str]]:
    """The file's calls that take SQL, with their API name. A `sql.SQL(...)` composed into
    larger SQL (`sql.SQL("...") + ...`, `sql.SQL(", ").join(...)`, `[sql.SQL("..."), name]`)
    is left out: what runs is the composition."""
    calls = [(call, name) for call in code.nodes(ast.Call)
             if (name := _call_name(call.func)) is not None]
    if any(name == "sql.SQL" for _, name in calls):
        composed = _composed(code)
        calls = [(call, name) for call, name in calls
                 if name != "sql.SQL" or id(call) not in composed]
    return calls


def _composed(code: PythonFile) -> set[int]:
    """Ids of the calls that are a term of a `+`, the object of `.join()`/`.format()`, or an
    element of a list or tuple."""
    ids = set()
    for operation in code.nodes(ast.BinOp):
        if isinstance(operation.op, ast.Add):
            ids.update((id(operation.left), id(operation.right)))
    for attribute in code.nodes(ast.Attribute):
        if attribute.attr in ("join", "format"):
            ids.add(id(attribute.value))
    for kind in (ast.List, ast.Tuple):
        for sequence in code.nodes(kind):
            ids.update(id(_element(e)) for e in sequence.elts)
    return ids


# Between two pieces of an implicitly concatenated literal: blanks, comments, continuations.
_BETWEEN_PIECES = re.compile(r"(?:[ \t\f\r\n]|\\\r?\n|#[^\r\n]*)*")


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


def _embedded(candidate: _Candidate, text: str, offsets: list[int],
              newlines: list[int]) -> EmbeddedSQL | None:
    """The SQL of one candidate call, positioned in the file; `newlines` are the offsets of the
    file's "\n" characters (counted once per file: counting per string was quadratic)."""
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
    edits = placeholder_edits(sql, PLACEHOLDER_STYLES[candidate.call], candidate.has_params)
    sql, starts, ends, parameters = apply_edits(sql, starts, ends, edits)
    start = starts[0]
    return EmbeddedSQL(sql=sql, start=start, end=ends[-1], offsets=PositionMap(starts, ends),
                       call=candidate.call, line=bisect.bisect_left(newlines, start) + 1,
                       argument=candidate.argument, prefix=candidate.prefix,
                       literal_start=offsets[0],
                       literal_end=offsets[-1] + len(candidate.parts[-1].value),
                       parameters=tuple(parameters))


def extract_sql(text: str, code: PythonFile | None = None) -> list[EmbeddedSQL]:
    """The SQL string literals handed to database calls in a Python file, in file order.

    Read on CPython's tree (`code`, if the file was parsed already): the literals' tokens are
    where its positions say, so no libcst tree is needed. A file that cannot be parsed yields
    nothing (reporting Python syntax errors is the Python linters' job).
    """
    if code is None:
        from pglint.python.pyfile import PythonFile, parse

        module = parse(text)
        if module is None:
            return []
        code = PythonFile(module, text=text)
    source = _Source(text)
    found = [candidate for call, name in _calls(code)
             for candidate in _candidates(call, name, source) if _is_sql(candidate)]
    newlines = [m.start() for m in re.finditer("\n", text)] if found else []
    out = [e for e in (_embedded(c, text, [p.start for p in c.parts], newlines) for c in found)
           if e is not None]
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
    if not sql.isascii():
        try:
            sql.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (`"\ud83d"` in Python source) is no text PostgreSQL could be
            # sent: nothing to analyse, as for computed SQL.
            return [], None
    offsets = embedded.offsets
    parameters = list(embedded.parameters)
    tried = [0] * len(parameters)
    written = [sql[a:b].strip() for a, b in parameters]  # "$1"
    plen = len(embedded.prefix)
    while True:
        parsed = embedded.prefix + sql
        files = _FileOffsets(parsed, offsets, plen)
        try:
            tree = sql_tree(parsed)
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
            sql, starts, ends, _ = apply_edits(sql, offsets._starts, offsets._ends,
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


def statements_in(text: str, code: PythonFile | None = None
                  ) -> Iterator[tuple[EmbeddedSQL, list[Statement], SyntaxProblem | None]]:
    """Every embedded SQL string of a Python file, parsed; `code` is CPython's tree of the file
    if it was parsed already. Callers run the pre-filter (`might_contain_sql`) first."""
    for embedded in extract_sql(text, code):
        statements, problem = parse_embedded(embedded)
        yield embedded, statements, problem


__all__ = ["EmbeddedSQL", "PositionMap", "extract_sql", "might_contain_sql", "parse_embedded",
           "statements_in"]
