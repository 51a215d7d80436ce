"""Parse SQL files with pglast into statements with positions in the original file.

The whole masked file is parsed in one call (fast path). If PostgreSQL's parser rejects it, the
file is split by the lexer and each statement is parsed alone, so one bad statement becomes one
syntax-error finding and the rest of the file is still linted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator

from pglast import parser as pg

from pglint.source import ByteToChar
from pglint.sql.dialect_sections import (mask_front_matter, mask_opening_prose,
                                         mask_other_dialect_sections)
from pglint.sql.lexer import (LEADING_TRIVIA, Comment, Lexed, has_query_names, lex,
                               mask_client_delimiters, mask_down_sections)
from pglint.sql.syntax_help import SyntaxProblem, explain


@dataclass(eq=False)
class Statement:
    """One parsed statement.

    `node` is pglast's JSON tree of the statement, e.g. ``{"UpdateStmt": {...}}``. Node
    ``location`` values are UTF-8 byte offsets into the text that was parsed; `offset()` turns
    them into character offsets into the file.
    """

    node: dict[str, Any]
    start: int  # file character offset of the first token
    end: int  # file character offset just after the last token (before any ';')
    char_base: int  # file character offset where the parsed text begins
    chars: ByteToChar  # byte -> character offsets within the parsed text
    byte_base: int = 0  # subtracted from node locations before mapping
    exact: bool = True  # False when positions are approximate (e.g. a quoted function body)
    parent: "Statement | None" = None  # the CREATE FUNCTION / DO that holds this statement
    plpgsql: list[dict[str, Any]] | None = field(default=None, repr=False)
    index: int = 0  # position among the file's top-level statements
    # For a statement of a PL/pgSQL body: the PL/pgSQL statement holding it and the field it sits
    # in, e.g. ("PLpgSQL_stmt_if", {...}, "cond") for `IF NOT EXISTS (SELECT ...) THEN`, and the
    # PLpgSQL_expr it was parsed from (rules match the parent's `plpgsql` tree by identity).
    plpgsql_holder: tuple[str, dict[str, Any], str] | None = field(default=None, repr=False)
    plpgsql_expr: dict[str, Any] | None = field(default=None, repr=False)
    # "path:offset", set by the engine: names the statement across processes (the catalog
    # records which statement defined each object by it).
    origin: str = ""
    # The statement's own text when it is not verbatim in the file (`exact` is False: a body in
    # an E'...' string, say), for text filters; positions then point at the enclosing statement.
    sql: str = ""
    # For SQL held verbatim in a Python string literal: (first, end) character offsets of the
    # literal's content and its opening (prefix and quote: `'`, `r"""`). An edit there must
    # not end the literal early or change what it decodes to.
    python_literal: tuple[int, int, str] | None = field(default=None, repr=False)
    # For a statement that a Django or Alembic migration operation sends (`op.create_index`,
    # `AddIndex`): where it comes from (pglint.python.operation_sql.OperationSource). Such a
    # statement is not in the file: it is positioned at the operation's call, `exact` False.
    operation: Any = field(default=None, repr=False)
    # For SQL a migration runs only when it is rolled back (Django's RunSQL `reverse_sql`, SQL
    # in Alembic's `downgrade()`): not sent by the migration, so not judged as its statement.
    rollback: bool = field(default=False, repr=False)
    # The node's type ("UpdateStmt") and its fields: asked for by every rule, so kept.
    kind: str = field(init=False)
    body: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = next(iter(self.node))
        self.body = self.node[self.kind]

    def offset(self, location: int | None) -> int:
        """A node's byte `location` as a file character offset (statement start if unknown)."""
        if location is None or location < 0:
            return self.start
        return self.char_base + self.chars(location - self.byte_base)


@dataclass
class ParsedSQL:
    masked: str
    statements: list[Statement]
    errors: list[SyntaxProblem]
    _lexed: Lexed | None = None
    _text: str = ""

    @property
    def lexed(self) -> Lexed:
        """The lexer's view of the file, computed on first use: most files parse as they are,
        and only suppressions and meta-command rules need comments and meta-commands."""
        if self._lexed is None:
            self._lexed = lex(self._text)
        return self._lexed

    @property
    def comments(self) -> list[Comment]:
        return self.lexed.comments

    @property
    def meta_commands(self) -> list[Comment]:
        """psql/pgbench backslash commands, with their positions."""
        return self.lexed.meta_commands


def _trim(masked: str, original: str, start: int, end: int) -> tuple[int, int]:
    """Skip leading blanks and comments (in the masked text, where meta-commands are blank);
    drop trailing blanks of the original text (a masked `:name` variable is not blank there)."""
    if start < end and masked[start] in " \t\r\n-/":
        start = LEADING_TRIVIA.match(masked, start, end).end()
    while end > start and original[end - 1].isspace():
        end -= 1
    return start, end


def _error(exc: Exception, char_base: int, end: int | None = None) -> SyntaxProblem:
    # Unlike node locations (UTF-8 bytes), pglast reports a parse error's position as a
    # character index into the text it was given; none for "syntax error at end of input",
    # which is where the text ends (`end`, when known: not the blank line before it).
    message = exc.args[0] if exc.args else str(exc)
    location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
    if location is None:
        return SyntaxProblem(str(message), end if end is not None else char_base)
    return SyntaxProblem(str(message), char_base + location)


def statements_of(tree: dict, masked: str, original: str, base: int, limit: int,
                  **fields: Any) -> list[Statement]:
    """Statements of a pglast parse of masked[base:limit], positioned in the file (character
    offsets), trimmed of surrounding blanks and comments. `fields` go to every Statement."""
    chars = ByteToChar(masked[base:limit])  # a whole-text slice is the text itself: no copy
    out = []
    for raw in tree.get("stmts", ()):
        byte_start = raw.get("stmt_location", 0)
        byte_len = raw.get("stmt_len", 0)
        start = base + chars(byte_start)
        end = base + chars(byte_start + byte_len) if byte_len else limit
        start, end = _trim(masked, original, start, end)
        out.append(Statement(raw["stmt"], start, end, base, chars, **fields))
    return out


TOO_DEEP = "too deeply nested to analyse"


def sql_tree(text: str) -> dict:
    """pglast's parse tree of `text`. A tree nested past what the JSON reader recurses into
    (generated SQL: hundreds of nested subqueries or operators) is a ParseError of its own, so
    the file gets a finding and the run goes on."""
    try:
        return json.loads(pg.parse_sql_json(text))
    except RecursionError:
        raise pg.ParseError(TOO_DEEP, 0) from None


def plpgsql_tree(text: str) -> Any:
    """pglast's PL/pgSQL tree of a CREATE FUNCTION or DO text; see `sql_tree`."""
    try:
        return json.loads(pg.parse_plpgsql_json(text))
    except RecursionError:
        raise pg.ParseError(TOO_DEEP, 0) from None


def _parse_whole(text: str, failed: dict[str, pg.ParseError]) -> dict | None:
    """The tree of the whole text; None when it does not parse (the error kept in `failed`)."""
    try:
        return sql_tree(text)
    except pg.ParseError as exc:
        failed[text] = exc
        return None


def _at_placeholder(offset: int, masked: str, original: str) -> bool:
    """Whether a syntax error sits on a template placeholder (`WITH subs AS (%query%)`,
    `VALUES :rows`), or just after one (`path_id :in (:ids)`, where the placeholder is an
    operator), which stands for SQL filled in at run time: the statement cannot be analysed,
    but nothing says it is wrong, so it is not reported."""
    if offset < len(masked) and masked[offset] != original[offset]:
        return True
    before = offset - 1  # the last character written before the error
    while before >= 0 and masked[before].isspace() and offset - before < 10_000:
        before -= 1
    return before >= 0 and masked[before] != original[before]


def statement_count(text: str, limit: int) -> int:
    """The number of statements in `text`, counted exactly only when it may exceed `limit`:
    a file with at most `limit` semicolons cannot hold more (the common case, no work). The
    count comes from PostgreSQL's scanner (pglast's split), which builds no parse tree: what
    it keeps is one slice per statement, not the gigabytes of a whole file's tree."""
    if text.count(";") < limit:
        return 0
    if "\\" in text:
        # psql meta-commands or COPY data (ended by `\.`), whose semicolons PostgreSQL's
        # scanner would count: pglint's own lexer knows them (slower, as bounded).
        return len(lex(text).statements)
    try:
        return len(pg.split(text, with_parser=False, only_slices=True))
    except pg.ParseError:  # the scanner stopped (an unterminated quote): count what ends
        return text.count(";")


def parse_sql(text: str) -> ParsedSQL:
    if text.startswith("\ufeff"):
        text = " " + text[1:]  # a byte-order mark is one character: a blank keeps offsets
    # Fast path: most files are plain SQL. psql meta-commands, psql variables and COPY data
    # never parse, so a file that parses as it is needs no masking.
    # A goose or dbmate file's down section is not what the migration does: blanked.
    # So are the sections a multi-database script writes for another database (`-- MySQL`).
    # So is a sentence that opens the file to stop psql from running it (an archive's guard).
    # So are a script runner's `delimiter` commands.
    # And a YAML front matter that a loader strips.
    up_only = mask_opening_prose(mask_other_dialect_sections(mask_down_sections(
        mask_client_delimiters(mask_front_matter(text)))))
    # A query file that names its queries is split at the names, never parsed whole: without
    # `;` between them, `SELECT 1 <name> DELETE FROM t` would parse as one SELECT.
    named = has_query_names(up_only)
    # Texts that failed to parse whole, with their error: a file that is one broken statement
    # (a file of `/*`) is not parsed a second time as that statement.
    failed: dict[str, pg.ParseError] = {}
    tree = None if named else _parse_whole(up_only, failed)
    lexed = None
    masked = up_only
    if tree is None:
        lexed = lex(up_only)
        masked = lexed.masked
        if masked != up_only and not named:
            tree = _parse_whole(masked, failed)
    statements: list[Statement] = []
    errors: list[SyntaxProblem] = []
    if tree is not None:
        statements = statements_of(tree, masked, up_only, 0, len(masked))
    else:
        assert lexed is not None
        for a, b in lexed.statements:
            try:
                known = failed.get(masked[a:b])
                if known is not None:
                    raise known
                tree = sql_tree(masked[a:b])
            except pg.ParseError as exc:
                error = _error(exc, a, end=a + len(masked[a:b].rstrip()))
                if not _at_placeholder(error.offset, masked, up_only):
                    errors.append(explain(error, masked, up_only, a, b))
                continue
            statements.extend(statements_of(tree, masked, up_only, a, b))
    for i, stmt in enumerate(statements):
        stmt.index = i
    return ParsedSQL(masked, statements, errors, lexed, up_only)


def parse_fragment(sql: str, char_base: int, prefix: str = "", exact: bool = True,
                   parent: Statement | None = None) -> tuple[list[Statement], SyntaxProblem | None]:
    """Parse SQL that sits at `char_base` in a file (a PL/pgSQL query, later a string literal).

    `prefix` is text prepended to make an expression a statement ("SELECT "); positions inside it
    map to just before `char_base`.
    """
    parsed_text = prefix + sql
    chars = ByteToChar(parsed_text)
    base = char_base - len(prefix)
    try:
        tree = sql_tree(parsed_text)
    except pg.ParseError as exc:
        return [], _error(exc, base, end=char_base + len(sql.rstrip()))
    out = []
    for raw in tree.get("stmts", ()):
        out.append(Statement(raw["stmt"], char_base, char_base + len(sql), base, chars,
                             exact=exact, parent=parent, sql="" if exact else sql))
    return out, None


def iter_nodes(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every wrapped node under `node` (included), depth first, as (type, body) pairs."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if len(item) == 1:
                key = next(iter(item))
                value = item[key]
                if isinstance(value, dict) and key[:1].isupper():
                    yield key, value
                    stack.append(value)
                    continue
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(reversed(item))
