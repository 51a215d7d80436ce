"""A small SQL lexer: statement boundaries, comments, and psql masking.

pglast's parser rejects psql meta-commands (`\\set`, `\\i`, `\\connect`), psql variables
(`:name`) and the data lines of `COPY ... FROM stdin`. We blank them out with spaces (newlines
kept) so that every character offset in the masked text is the offset in the original file.
The same pass finds statement boundaries (top-level semicolons, outside quotes, comments and
parentheses) for error recovery, and the comments that carry suppressions.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

# Each alternative is something that changes the lexer's state, or is masked.
@functools.lru_cache(maxsize=None)
def _token_pattern() -> re.Pattern[str]:
    """The lexer's main pattern, compiled on first use: most files parse without lexing, and
    compiling it costs a pre-commit run about 10 ms."""
    return re.compile(r"""
    (?P<line_comment>--[^\r\n]*)
  | (?P<block_comment>/\*)
  | (?P<tdollar>(?<![\w$])\$\{[A-Za-z_]\w*\}\$)
  | (?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)
  | (?P<estring>(?<![\w$])[Ee]')
  | (?P<squote>')
  | (?P<dquote>")
  | (?P<semi>;)
  | (?P<backslash>\\)
  | (?P<psqlvar>(?<![\w\]:)]):(?:(?:i|v|t|sql|snip)\*?:[A-Za-z_][\w-]*|[A-Za-z_]\w*!?|'[A-Za-z_]\w*'|"[A-Za-z_]\w*"|\{\?[A-Za-z_]\w*\}))
  | (?P<template>@[A-Za-z_]\w*(?::[A-Za-z_]\w*)?@|\{\{.*?\}\}|\{%.*?%\}|\{\#.*?\#\}|\[%.*?%\]|\$\{[\w.:-]+\}|\{[A-Za-z_]\w*\}
                 |%\([A-Za-z_]\w*\)s|%[A-Za-z_]\w*%|(?<![\w%])%[sd](?!\w)|(?<![\w?])\?[A-Z]\w*)
  | (?P<qparam>(?<=[=(,<>\s])\?(?=\s*(?:[,);]|\Z|(?i:AND|OR|LIMIT|OFFSET|THEN|ELSE|END|ORDER|GROUP|WHERE)\b)))
  | (?P<open>\()
  | (?P<close>\))
    """,
    re.VERBOSE,)


_SQUOTE_END = re.compile(r"(?:[^']|'')*'")
_ESTRING_END = re.compile(r"(?:[^'\\]|''|\\.)*'", re.DOTALL)
_DQUOTE_END = re.compile(r'(?:[^"]|"")*"')
_BLOCK = re.compile(r"/\*|\*/")
_COPY_STDIN = re.compile(r"\bfrom\s+std(?:in|out)\b", re.IGNORECASE)
# psql meta-commands that send the query buffer, and so end a statement.
_SENDS_BUFFER = re.compile(r"\\(?:g\w*|crosstabview|watch)\b")
_VAR_ENDS_STATEMENT = re.compile(r"[ \t]*;")
_IN_BEFORE = re.compile(r"\bIN\s+$", re.IGNORECASE)
# A query file's query name: `-- name: get-user` (goyesql, aiosql), `-- :name get-user`
# (HugSQL), `-- get_user --`. (No
# nested quantifiers: a 200,000-character comment line must not backtrack quadratically.)
_QUERY_NAME_LINE = re.compile(r"^--[ \t]*(?:name:[ \t]*\S|:name[ \t]+\S|([\w-]+)[ \t]*--[ \t]*$)",
                              re.MULTILINE)
_LETTER = re.compile(r"[A-Za-z_]")
_BUN_SPLIT = "--migration:split"


def _names_a_query(match: re.Match | None) -> bool:
    """A `-- name: x` line, or `-- x --` where x has a letter (not a `-- ---- --` rule)."""
    return match is not None and (match.group(1) is None or bool(_LETTER.search(match.group(1))))


def has_query_names(text: str) -> bool:
    """Whether the file names its queries (two or more `-- name: x` or `-- x --` lines)."""
    if "--" not in text:
        return False
    count = 0
    for match in _QUERY_NAME_LINE.finditer(text):
        count += _names_a_query(match)
        if count >= 2:
            return True
    return False


@dataclass(frozen=True)
class Comment:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Lexed:
    masked: str
    statements: list[tuple[int, int]]  # char ranges of non-blank statements, without the ';'
    comments: list[Comment]
    # psql/pgbench meta-commands (`\set aid random(1, 100)`), masked in `masked` but kept here
    # for the rules that read them: (start, end, text) of each, to the end of its line.
    meta_commands: list[Comment] = field(default_factory=list)


def _blank(text: str) -> str:
    """Spaces for every character but newlines, so offsets and lines stay put."""
    return re.sub(r"[^\n]", " ", text)


def lex(text: str) -> Lexed:
    """The masked text, statement spans, comments and psql meta-commands of an SQL file.

    One loop over the tokens, on purpose: the statement start, the parenthesis depth and the
    masked output are state that most token kinds read or change, and this loop runs over every
    SQL file, so the rare, self-contained cases (block comments, psql variables) are helpers
    and the rest stays inline rather than a call and a state object per token.
    """
    token = _token_pattern()
    out: list[str] = []  # pieces of the masked text
    copied = 0  # how much of text has been appended to out
    statements: list[tuple[int, int]] = []
    comments: list[Comment] = []
    meta_commands: list[Comment] = []
    stmt_start = 0
    depth = 0
    pos = 0
    n = len(text)

    def put(start: int, end: int, content: str) -> None:
        """text[start:end] becomes `content` (of the same length) in the masked text."""
        nonlocal copied
        out.append(text[copied:start])
        out.append(content)
        copied = end

    def mask(start: int, end: int) -> None:
        put(start, end, _blank(text[start:end]))

    def end_statement(end: int, next_start: int) -> None:
        nonlocal stmt_start, depth
        if text[stmt_start:end].strip():
            statements.append((stmt_start, end))
        stmt_start = next_start
        depth = 0

    while pos < n:
        m = token.search(text, pos)
        if m is None:
            break
        kind = m.lastgroup
        start = m.start()
        pos = m.end()
        if kind == "line_comment":
            comments.append(Comment(start, pos, m.group()))
            if depth <= 0 and (_names_a_query(_QUERY_NAME_LINE.match(m.group())) or
                               m.group().startswith(_BUN_SPLIT)) and \
                    text[stmt_start:start].strip():
                # Query files (goyesql, aiosql, procrastinate) start each query with its name
                # and may leave out the `;` before it; bun's migrations split at a comment.
                end_statement(start, start)
        elif kind == "block_comment":
            pos = block_comment_end(text, pos)
            comments.append(Comment(start, pos, text[start:pos]))
            if _NAME_FOLLOWS.match(text, pos) and (
                    start == 0 or _NAME_MAY_START.match(text, start - 1)):
                # `ON /* SCHEMA_NAME_SENTINEL */."Team"`: a runner puts a schema name there;
                # blanked with its dot, the name reads as unqualified (the default schema).
                mask(start, pos + 1)
                pos += 1
        elif kind == "tdollar":
            # `DO ${outer_tag}$ ... ${outer_tag}$`: a dollar quote whose tag a format string
            # fills in (neon's compute SQL); both ends become the same plain tag.
            stand_in = "$" + "_" * (len(m.group()) - 2) + "$"
            put(start, pos, stand_in)
            close = text.find(m.group(), pos)
            if close < 0:
                pos = n
            else:
                put(close, close + len(m.group()), stand_in)
                pos = close + len(m.group())
        elif kind == "dollar":
            close = text.find(m.group(), pos)
            pos = n if close < 0 else close + len(m.group())
        elif kind in ("squote", "estring", "dquote"):
            pattern = {"squote": _SQUOTE_END, "estring": _ESTRING_END, "dquote": _DQUOTE_END}[kind]
            e = pattern.match(text, pos)
            pos = n if e is None else e.end()
        elif kind == "semi":
            if depth <= 0:
                began = stmt_start
                end_statement(start, pos)
                if _is_copy_from_stdin(text, began, start):
                    pos = _mask_copy_data(text, pos, mask)
                    stmt_start = pos
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        elif kind == "backslash" and text.startswith("\\;", start):
            # `\;` separates statements on one line (psql sends them together).
            meta_commands.append(Comment(start, start + 2, "\\;"))
            mask(start, start + 2)
            end_statement(start, start + 2)
            pos = start + 2
        elif kind == "backslash":
            line_end = text.find("\n", start)
            line_end = n if line_end < 0 else line_end
            command = text[start:line_end]
            meta_commands.append(Comment(start, line_end, command.rstrip("\r")))
            mask(start, line_end)
            if _SENDS_BUFFER.match(command):
                end_statement(start, line_end)
            elif not text[stmt_start:start].strip():
                stmt_start = line_end
            pos = line_end
        elif kind == "qparam":
            # A driver's `?` parameter (JDBC, sqlx's `Rebind`, database/sql): a query
            # parameter, written `$1` over the blank after an operator (`LIMIT ?`, `=?`: a literal).
            if start - 1 > copied and text[start - 1] in " \t" and \
                    not (text[start - 2].isalnum() or text[start - 2] in "_$"):
                put(start - 1, pos, "$1")
            else:
                put(start, pos, "0")
        elif kind == "template":
            put(start, pos, _template_stand_in(m.group()))
        elif kind == "psqlvar":
            put(start, pos, _psql_variable_stand_in(text, m.group(), start, pos, stmt_start))
    end_statement(n, n)
    out.append(text[copied:])
    return Lexed("".join(out), statements, comments, meta_commands)


def block_comment_end(text: str, pos: int) -> int:
    """Where a block comment opened just before `pos` ends (comments nest)."""
    n = len(text)
    level = 1
    while level and pos < n:
        b = _BLOCK.search(text, pos)
        if b is None:
            return n
        level += 1 if b.group() == "/*" else -1
        pos = b.end()
    return pos


def _psql_variable_stand_in(text: str, token: str, start: int, pos: int, stmt_start: int) -> str:
    """What a psql variable `token` (text[start:pos]) becomes in the masked text, of the same
    length."""
    var = token.rstrip("!")  # `:id!`: pgtyped's non-null parameter
    if re.match(r":i\*?:", var):
        return "_" * len(var)  # HugSQL's identifier parameter (`:i:table-name`)
    if re.match(r":(?:v|t|sql|snip)\*?:", var):
        return "$1".ljust(len(var))  # HugSQL's value, tuple and snippet parameters
    if _COPY_FILE.search(text, max(stmt_start, start - 400), start):
        # `COPY t FROM :source`: psql puts a file name there, a string.
        return "'" + "_" * (len(var) - 2) + "'" + " " * (len(token) - len(var))
    if var[1] in "'\"":
        # :'name' and :"name" become a quoted literal or identifier of the same length.
        return " " + var[1:]
    if var[1] == "{":
        # :{?name} is psql's "is name set": a boolean.
        return "true".ljust(len(var))
    if not text[stmt_start:start].strip() and _VAR_ENDS_STATEMENT.match(text, pos):
        # `:name;` alone: psql runs the SQL the variable holds, which we cannot see.
        return _blank(token)
    if _NAME_EXPECTED.search(text, max(stmt_start, start - 40), start) or \
            text.startswith(".", pos):
        # After SCHEMA, TABLE, FROM ...: the variable holds a name, not a value.
        return " " + var[1:]
    if _IN_BEFORE.search(text, max(stmt_start, start - 10), start) and pos - start >= 4:
        # `IN :ids` (pgtyped spreads a list there): a parenthesised parameter.
        return "(" + "$1".ljust(pos - start - 2) + ")"
    # :name becomes the parameter $1, which parses wherever a value may stand.
    return "$1".ljust(pos - start)


# Control statements of Jinja (`{% if %}`), Template Toolkit (`[% IF %]`), Go templates
# (`{{if .mysql}}`), the C preprocessor (`#include`), and openmaptiles' generated sections
# (`%%FIELD_MAPPING: class %%`).
_TEMPLATE_CONTROL = re.compile(r"\{%-?\s*(?:if|for|elif|else|macro|block)\b|"
                               r"\[%-?\s*(?:IF|FOREACH|ELSE|ELSIF|UNLESS|BLOCK)\b|%%[A-Z_]+:|"
                               # Go templates' conditions, the C preprocessor's (citus' scripts)
                               r"\{\{-?\s*(?:if|range|else|with)\b|"
                               r"^#(?:include|if|ifdef|ifndef|define)\b", re.MULTILINE)


def has_template_control(text: str) -> bool:
    """Whether `text` holds a template's control statements: then it is not the SQL that
    runs (every branch is in it), whatever its placeholders stand for."""
    return _TEMPLATE_CONTROL.search(text) is not None


def _template_stand_in(template: str) -> str:
    """What a template placeholder becomes for the parser, of the same length: extension
    scripts' `@extschema@`, Go/Jinja `{{ ... }}`, Flyway `${name}`, Python's `{name}` and
    `%(name)s`, Go's `%s`, `%name%` and bun's `?TableName` stand for names or values that are
    filled in before the SQL runs."""
    if template.startswith(("{%", "{#", "[%")):
        # A template's control statement or comment (Jinja, Template Toolkit): no SQL of its own.
        return " " * len(template)
    if template.startswith("%("):
        return "$1".ljust(len(template))  # a value, as a query parameter
    if len(template) == 2:
        return "_" + template[1]  # Go's fmt `%s`: a name or a value, spelled as a name
    return "_" * len(template) if not template[1:-1].isidentifier() else \
        "_" + template[1:-1] + "_"


# A comment standing where a schema name goes: `/* SCHEMA */."Team"`, `/* s */.users`.
_NAME_FOLLOWS = re.compile(r'\.[A-Za-z_"]')
_NAME_MAY_START = re.compile(r"[\s(,]")
_COPY_FILE = re.compile(r"\bCOPY\b[^;]*\b(?:FROM|TO)\s+$", re.IGNORECASE)
# Keywords after which a psql variable stands for a name (`REINDEX SCHEMA :s`, `FROM :tbl`).
_NAME_EXPECTED = re.compile(
    r"\b(?:schema|table|index|database|role|user|sequence|view|from|into|join|update|"
    r"truncate)\s+$", re.IGNORECASE)
# Blanks and comments before a statement (a comment ends at \n or \r, as in PostgreSQL).
# A comment, either kind (for text tests that must not read words in comments).
SQL_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
LEADING_TRIVIA = re.compile(r"(?:\s+|--[^\r\n]*|/\*.*?\*/)*", re.DOTALL)


# Where a file holding both directions starts its down part (goose, sql-migrate, dbmate), and
# where goose or sql-migrate goes back up.
_DOWN_MARKER = re.compile(r"^[ \t]*--[ \t]*(?:\+(?:goose|migrate)[ \t]+down|migrate:down)\b.*$",
                          re.MULTILINE | re.IGNORECASE)
_UP_MARKER = re.compile(r"^[ \t]*--[ \t]*(?:\+(?:goose|migrate)[ \t]+up|migrate:up)\b.*$",
                        re.MULTILINE | re.IGNORECASE)


# A client's statement delimiter (`delimiter d//`, the MySQL client's command, which some
# Java script runners also read) and the lines that are that delimiter (never a column
# named `delimiter`: the mark holds a punctuation character).
_CLIENT_DELIMITER = re.compile(r"^[ \t]*delimiter[ \t]+((?=[^\s(),]*[/|$;#@!%&*])[^\s(),]+)"
                               r"[ \t]*\r?$",
                               re.MULTILINE | re.IGNORECASE)


def mask_client_delimiters(text: str) -> str:
    """The text with `delimiter X` lines, and lines that are only X, blanked: the script
    runner reads them; the statements between them end with `;` as PostgreSQL's do."""
    if "elimiter" not in text and "ELIMITER" not in text:
        return text
    found = list(_CLIENT_DELIMITER.finditer(text))
    if not found:
        return text
    marks = {m.group(1) for m in found} - {";"}
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        bare = line.strip()
        if bare in marks or _CLIENT_DELIMITER.fullmatch(line.rstrip("\n")):
            line = _blank(line)
        out.append(line)
    return "".join(out)


def mask_down_sections(text: str) -> str:
    """The text with the down sections of a goose, sql-migrate or dbmate migration blanked
    (offsets kept): they run only on rollback, and are not part of what the migration does."""
    if "goose" not in text and "migrate" not in text:
        return text
    out, pos = [], 0
    for down in _DOWN_MARKER.finditer(text):
        if down.start() < pos:
            continue
        up = _UP_MARKER.search(text, down.end())
        end = up.start() if up else len(text)
        out.append(text[pos:down.end()])
        out.append(_blank(text[down.end():end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _is_copy_from_stdin(text: str, start: int, end: int) -> bool:
    """The statement is `COPY ... FROM STDIN` (its data follows in the script), not some other
    statement that mentions those words in a string or comment."""
    first = LEADING_TRIVIA.match(text, start, end).end()
    return text[first:first + 4].lower() == "copy" and bool(_COPY_STDIN.search(text, first, end))


def _mask_copy_data(text: str, pos: int, mask) -> int:
    """Blank the data lines after COPY ... FROM stdin, through the terminating `\\.` line."""
    line_start = text.find("\n", pos)
    if line_start < 0:
        return len(text)
    line_start += 1
    terminator = re.compile(r"^\\\.[ \t\r]*$", re.MULTILINE).search(text, line_start)
    end = len(text) if terminator is None else terminator.end()
    mask(line_start, end)
    return end
