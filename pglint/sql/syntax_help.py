"""What a syntax error in a file most likely means, and the small edit that mends it.

PostgreSQL names the token it stopped at, not the mistake. For mistakes seen in real
migrations (judged on public repositories) the message says what is wrong, and, where one
edit mends it, the edit comes as a repair: offered only when the statement parses after it,
so a repair never turns one syntax error into another. A repair is the likely intent, not a
certainty (a trailing `,` may stand for a column someone forgot), so it is applied only on
request (`--unsafe-fixes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pglast import parser as pg

from pglint.finding import Applicability, Edit, Fix
from pglint.sql.dialect_sections import KEYWORDS
from pglint.sql.lexer import SQL_COMMENT


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    offset: int  # file character offset
    # Edits of the file (character offsets) that make the failing statement parse.
    repair: Fix | None = None


def _blank_comments(text: str) -> str:
    """`text` with its comments as blanks of the same length: offsets kept."""
    return SQL_COMMENT.sub(lambda m: " " * len(m.group()), text)


# Words that begin a statement: one of them opening a line in the middle of a statement the
# parser rejects there is, most often, the next statement after a missing `;`.
_STATEMENT_WORDS = frozenset({"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "GRANT",
                              "REVOKE", "COMMENT", "TRUNCATE", "BEGIN", "COMMIT"})
_NEAR = re.compile(r'^syntax error at or near "(.*)"$')


# `DROP TABLE`, `ALTER INDEX`: the next statement, never one more action of an ALTER TABLE.
_STARTS_STATEMENT = re.compile(
    r"\w+\s+(?:TABLE|INDEX|VIEW|MATERIALIZED|SEQUENCE|TYPE|FUNCTION|PROCEDURE|SCHEMA|"
    r"EXTENSION|TRIGGER|DATABASE|ROLE|POLICY|DOMAIN)\b", re.IGNORECASE)


def _near(error: SyntaxProblem) -> str:
    """The token PostgreSQL stopped at, as it prints it ("" when the message names none)."""
    found = _NEAR.match(error.message)
    return found.group(1) if found is not None else ""


def _parses(text: str) -> bool:
    try:
        pg.parse_sql(text)
    except pg.ParseError:
        return False
    return True


@dataclass(frozen=True)
class _Statement:
    """The failing statement: file text (masked: placeholders as identifiers), what runs
    (the original), and where the statement lies in them."""

    masked: str
    original: str
    start: int
    end: int

    def repaired(self, title: str, *edits: Edit) -> Fix | None:
        """A repair of these edits, if the statement parses after them. The edits' text is the
        file's own, so a placeholder never ends up in the file as its stand-in."""
        if self.end - self.start > _REPAIRED_UP_TO:
            return None
        for edit in edits:
            if self.masked[edit.start:edit.end] != self.original[edit.start:edit.end]:
                return None
        text = self.masked[self.start:self.end]
        for edit in sorted(edits, reverse=True):
            text = text[:edit.start - self.start] + edit.content + text[edit.end - self.start:]
        return Fix(title, Applicability.UNSAFE, edits) if _parses(text) else None


def _missing_separator(error: SyntaxProblem, stmt: _Statement) -> SyntaxProblem:
    """`error` with the likely cause named when it sits on a word that begins a statement, at
    the start of a line, inside the statement: the line before it ends a statement without `;`
    (judged round 13: a Synapse delta whose two index builds ran together), or, inside an
    ALTER, an action without `,`."""
    text, start, offset = stmt.masked, stmt.start, error.offset
    word = _near(error).upper()
    # Inside an ALTER, the next action (ALTER/DROP/ADD COLUMN ...) follows a `,` as often as
    # the next statement follows a `;`.
    in_alter = text[start:offset].lstrip()[:5].upper() == "ALTER"
    if word not in _STATEMENT_WORDS and not (in_alter and word == "ADD") or \
            not text[start:offset].strip():
        return error
    line_start = text.rfind("\n", 0, offset) + 1
    if text[line_start:offset].strip():
        return error
    code = _blank_comments(text[start:line_start])
    end = len(code.rstrip())  # the end of the last code before the line
    if not end or code[end - 1] == ";":
        return error
    at = start + end
    line = text.count("\n", 0, at) + 1
    action = in_alter and word in ("ALTER", "DROP", "ADD") and \
        not _STARTS_STATEMENT.match(text, offset)
    separators = (",", ";") if action else (";",)
    repair = next(filter(None, (stmt.repaired(f"Add the `{mark}` that line {line} lacks",
                                              Edit.insert(at, mark))
                                for mark in separators)), None)
    if action:
        return SyntaxProblem(f"{error.message}: line {line} before it ends with no `,` (between "
                             "two actions of one ALTER) or `;`", offset, repair)
    return SyntaxProblem(f"{error.message}: the statement before it, ending on line {line}, "
                         "has no `;`", offset, repair)


@dataclass(frozen=True)
class _Hint:
    """A mistake seen in real migrations, and how to mend it: PostgreSQL stops at `near` (any
    word when empty), the statement's start matches `head` and the code before the error
    ends as `before` says."""

    near: str
    head: re.Pattern[str]
    before: re.Pattern[str] | None
    hint: str


_I = re.IGNORECASE
_HINTS = (
    _Hint("RAISE", re.compile(r"\Z"), None,
          "`RAISE` is PL/pgSQL: outside a function it runs in `DO $$ BEGIN ... END $$;`"),
    _Hint("COLUMN", re.compile(""), re.compile(r"\b(?:DROP|ADD)\s+IF\s+(?:NOT\s+)?EXISTS\s*$", _I),
          "the column comes first: `DROP COLUMN IF EXISTS name`, `ADD COLUMN IF NOT EXISTS "
          "name type`"),
    _Hint("(", re.compile(r"GRANT\b", _I), re.compile(r"\bON\s+(?:TABLE\s+)?[\w.\"]+\s*$", _I),
          "the column list follows the privilege: `GRANT UPDATE (col, ...) ON table`"),
    _Hint("CONSTRAINT", re.compile(r"DROP\s+\Z", _I), None,
          "a constraint is dropped by `ALTER TABLE table DROP CONSTRAINT name` (an index "
          "built by `CREATE INDEX`, by `DROP INDEX name`)"),
    _Hint("", re.compile(r"ALTER\s+TABLE\b(?=.*\bADD\b)", _I | re.DOTALL), re.compile(r",\s*$"),
          "each action of an ALTER TABLE names its own verb: `ADD COLUMN a int, ADD COLUMN b int`"),
)


def _hinted(error: SyntaxProblem, stmt: _Statement) -> SyntaxProblem:
    """`error` as PostgreSQL words it for the whole file, with the fix named for mistakes seen
    in real migrations (judged round 16: graph-node's, patchman-engine's and quickwit's down
    migrations)."""
    message, offset, text = error.message, error.offset, stmt.masked
    if message == "syntax error at end of input" and text[offset:offset + 1] == ";":
        # Parsed alone, the statement ends at its `;`; in the file PostgreSQL stops there.
        return SyntaxProblem('syntax error at or near ";": the statement ends before a part '
                             "it needs (a column's type, an aggregate's argument types, ...)",
                             offset, error.repair)
    near = _near(error).upper()
    if not _NEAR.match(message):
        return error
    before = SQL_COMMENT.sub(" ", text[stmt.start:offset])
    head = before.lstrip()
    for hint in _HINTS:
        if hint.near in ("", near) and hint.head.match(head) and \
                (hint.before is None or hint.before.search(before)):
            return SyntaxProblem(f"{message}: {hint.hint}", offset, error.repair)
    return error


# The name of a table, an index or a column as written: `t`, `public.t`, `"Order"`.
_NAME = r'(?:"[^"]+"|\w+)(?:\s*\.\s*(?:"[^"]+"|\w+))*'
# A column dropped in an ALTER TABLE (`DROP name`, `DROP COLUMN IF EXISTS name`), never the
# object-type word of another drop (`DROP CONSTRAINT c`, `DROP COLUMN order`: a keyword).
_DROPPED_COLUMN = re.compile(
    rf"\A\s*ALTER\s+TABLE\b.*\bDROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?"
    rf"(?!(?:COLUMN|CONSTRAINT|IF|TABLE|INDEX|VIEW|SEQUENCE|TYPE|TRIGGER)\b)({_NAME})\s*\Z",
    _I | re.DOTALL)
_ACTION_END = re.compile(r"[,;]|\Z|\b(?:CASCADE|RESTRICT)\b", _I)
# Anchored at the statement's start, so the search is one pass (`[^;]*?`, not `.*`).
_INDEX_ON = re.compile(rf"\A\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b[^;]*?\bON\s+(?:ONLY\s+)?{_NAME}"
                       rf"\s*(?P<columns>\()", _I)
_USING = re.compile(r"USING\s+\w+\s*", _I)
_TABLE_NAMED = re.compile(rf"\A\s*CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|"
                          rf"UNLOGGED\s+)?(?:TABLE|INDEX|SEQUENCE|VIEW)\s+(?P<name>{_NAME})\s*\Z",
                          _I)
_DROP_NAMED = re.compile(rf"\A\s*DROP\s+(?:MATERIALIZED\s+)?(?:TABLE|INDEX|VIEW|SEQUENCE|TYPE|"
                         rf"SCHEMA|EXTENSION|DOMAIN)\s+(?:CONCURRENTLY\s+)?(?P<name>{_NAME})\s*\Z",
                         _I)
_IF_NOT_EXISTS = re.compile(r"IF\s+NOT\s+EXISTS\s*", _I)
_IF_EXISTS = re.compile(r"IF\s+EXISTS\s*", _I)
_IF_EXISTS_FIRST = re.compile(r"\b(?:DROP|ADD)\s+(?P<if>IF\s+(?:NOT\s+)?EXISTS\s+)\Z", _I)
_COLUMN = re.compile(r"COLUMN\s+", _I)
# A statement longer than this gets its error explained, not repaired: each candidate edit
# parses the statement again (a 300 KB seed INSERT that fails would be parsed once per try).
_REPAIRED_UP_TO = 20_000


@dataclass(frozen=True)
class _At:
    """Where a syntax error sits in its statement: the code before it (comments blanked,
    from the statement's start), where that code ends (trailing blanks aside), and the
    statement's text from the error on."""

    stmt: _Statement
    offset: int
    code: str
    before: int
    after: str


def _trailing_comma(at: _At) -> Fix | None:
    """`(a int, b int,)`, `SELECT a, b, FROM`: the `,` that ends the list goes."""
    if not at.before or at.code[at.before - 1] != ",":
        return None
    comma = at.stmt.start + at.before - 1
    return at.stmt.repaired("Remove the `,` that ends the list", Edit.delete(comma, comma + 1))


def _type_after_dropped_column(at: _At) -> Fix | None:
    """`DROP COLUMN ports jsonb`: the type, up to the action's end, goes."""
    if not _DROPPED_COLUMN.search(at.code):
        return None
    stmt, offset = at.stmt, at.offset
    end = offset + _ACTION_END.search(at.after).start()
    while end > offset and stmt.masked[end - 1].isspace():
        end -= 1
    return stmt.repaired("Remove the type after the dropped column's name",
                         Edit.delete(stmt.start + at.before, end))


def _using_after_columns(at: _At) -> Fix | None:
    """`ON t (col) USING brin`: the method comes before the columns."""
    using = _USING.match(at.after)
    index_on = _INDEX_ON.search(at.code) if using is not None else None
    if using is None or index_on is None:
        return None
    stmt = at.stmt
    method = " ".join(using.group().split())
    columns = stmt.start + index_on.start("columns")
    space = "" if stmt.masked[columns - 1].isspace() else " "
    return stmt.repaired(f"Write `{method}` before the column list",
                         Edit.insert(columns, f"{space}{method} "),
                         Edit.delete(stmt.start + at.before,
                                     at.offset + len(using.group().rstrip())))


def _if_exists_after_name(at: _At) -> Fix | None:
    """`CREATE TABLE t IF NOT EXISTS (`, `drop index x if exists`: before the name."""
    for clause, named in ((_IF_NOT_EXISTS, _TABLE_NAMED), (_IF_EXISTS, _DROP_NAMED)):
        found, name = clause.match(at.after), named.search(at.code)
        if found is not None and name is not None:
            words = " ".join(found.group().upper().split())
            return at.stmt.repaired(
                f"Write `{words}` before the name",
                Edit.insert(at.stmt.start + name.start("name"), words + " "),
                Edit.delete(at.stmt.start + at.before, at.offset + len(found.group().rstrip())))
    return None


def _column_after_if_exists(at: _At) -> Fix | None:
    """`ADD IF NOT EXISTS COLUMN x`: `COLUMN` comes first."""
    column, if_first = _COLUMN.match(at.after), _IF_EXISTS_FIRST.search(at.code)
    if column is None or if_first is None:
        return None
    return at.stmt.repaired("Write `COLUMN` before `IF EXISTS`",
                            Edit.insert(at.stmt.start + if_first.start("if"), "COLUMN "),
                            Edit.delete(at.offset, at.offset + column.end()))


_IN_PLACE = (_trailing_comma, _type_after_dropped_column, _using_after_columns,
             _if_exists_after_name, _column_after_if_exists)


def _repair_in_place(error: SyntaxProblem, stmt: _Statement) -> Fix | None:
    """The edit that mends a mistake of the statement's own, seen in real migrations (the
    first of `_IN_PLACE` whose edit makes the statement parse), else a name that is a
    keyword, quoted."""
    if stmt.end - stmt.start > _REPAIRED_UP_TO:
        return None  # (no edit would be tried: `_Statement.repaired`)
    code = _blank_comments(stmt.masked[stmt.start:error.offset])
    before = len(code.rstrip())
    at = _At(stmt, error.offset, code, before, stmt.masked[error.offset:stmt.end])
    for candidate in _IN_PLACE:
        repair = candidate(at)
        if repair is not None:
            return repair
    return _quoted_keyword(stmt, error.offset, code[:before])


_WORD_AT = re.compile(r"[A-Za-z_]\w*")
_WORD_BEFORE = re.compile(r"[A-Za-z_]\w*\Z")


def _quoted_keyword(stmt: _Statement, offset: int, code_before: str) -> Fix | None:
    """A name that PostgreSQL reads as a keyword (`order`, `user`; `json` since 16), where the
    parser stops at it or just after it: quoted, if the statement then parses. Quoting keeps
    the name as an unquoted one reads (folded to lower case)."""
    at = _WORD_AT.match(stmt.masked, offset, stmt.end)
    before = _WORD_BEFORE.search(code_before)
    words = [(offset, at.end())] if at is not None else []
    if before is not None:
        words.append((stmt.start + before.start(), stmt.start + before.end()))
    for start, end in words:
        word = stmt.masked[start:end]
        if word.lower() in KEYWORDS:
            repair = stmt.repaired(f"Quote `{word}`, which PostgreSQL reads as a keyword there",
                                   Edit(start, end, f'"{word.lower()}"'))
            if repair is not None:
                return repair
    return None


def explain(error: SyntaxProblem, masked: str, original: str, start: int,
            end: int) -> SyntaxProblem:
    """`error`, raised by the statement at masked[start:end], with its likely cause in the
    message and, where one edit mends it, that edit."""
    stmt = _Statement(masked, original, start, end)
    explained = _missing_separator(error, stmt)
    if explained is error and _near(error):
        repair = _repair_in_place(error, stmt)
        if repair is not None:
            explained = SyntaxProblem(error.message, error.offset, repair)
    return _hinted(explained, stmt)
