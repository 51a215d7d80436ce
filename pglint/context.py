"""What a rule sees of a file while it is checked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from pglast import parser as pg

from pglint.config import Settings
from pglint.model.project import ProjectModel
from pglint.source import SourceFile
from pglint.sql.parse import ParsedSQL, Statement
from pglint.sql.session import SessionState, session_states

if TYPE_CHECKING:
    from pglint.python.pyfile import PythonFile


@dataclass(frozen=True)
class Token:
    start: int  # file character offsets, end exclusive
    end: int
    name: str  # pglast token name: IDENT, ASCII_40 for '(', WITH, ...
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def is_comment(self) -> bool:
        return self.name in ("SQL_COMMENT", "C_COMMENT")


@dataclass
class FileContext:
    file: SourceFile
    parsed: ParsedSQL
    model: ProjectModel
    settings: Settings
    body_statements: list[Statement] = field(default_factory=list)
    python_file: "PythonFile | None" = None  # a .py file's CPython tree (Python rules)
    _tokens: dict[int, list[Token]] = field(default_factory=dict, repr=False)
    _states: list[SessionState] | None = field(default=None, repr=False)
    _by_expr: dict[int, Statement] | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.file.text

    @property
    def kind(self) -> str:
        return self.file.kind

    @property
    def role(self) -> str:
        """What the file is to the project: migration, application, test, ... (pglint.roles)."""
        return self.file.role

    @property
    def statements(self) -> list[Statement]:
        """The file's top-level statements, in order."""
        return self.parsed.statements

    def all_statements(self) -> Iterator[Statement]:
        """Top-level statements, each followed by the statements of its PL/pgSQL body."""
        bodies: dict[int, list[Statement]] = {}
        for s in self.body_statements:
            if s.parent is not None:
                bodies.setdefault(id(s.parent), []).append(s)
        for s in self.parsed.statements:
            yield s
            yield from bodies.get(id(s), ())

    def session(self, stmt: Statement) -> SessionState:
        """Transaction block, SETs in force and tables created so far, just before `stmt`.

        A statement of a PL/pgSQL body sees the state of the CREATE FUNCTION / DO holding it.
        """
        if self._states is None:
            self._states = session_states(self.parsed.statements)
        top = stmt.parent if stmt.parent is not None else stmt
        return self._states[top.index] if top.index < len(self._states) else SessionState()

    def statement_for_expr(self, expr: dict) -> Statement | None:
        """The parsed statement of a PL/pgSQL expression (a `PLpgSQL_expr` of `parent.plpgsql`)."""
        if self._by_expr is None:
            self._by_expr = {id(s.plpgsql_expr): s for s in self.body_statements
                             if s.plpgsql_expr is not None}
        return self._by_expr.get(id(expr))

    def tokens(self, stmt: Statement) -> list[Token]:
        """The statement's tokens with file offsets (comments included)."""
        cached = self._tokens.get(id(stmt))
        if cached is None:
            # A statement not verbatim in the file is scanned from its own text; its token
            # positions are then approximate (fixes on it are shown, never applied).
            source = self.parsed.masked[stmt.start:stmt.end] if stmt.exact or not stmt.sql \
                else stmt.sql
            try:
                scanned = pg.scan(source)
            except pg.ParseError:
                scanned = []
            if stmt.operation is not None:
                # SQL a migration operation sends is not in the file: every token is the call.
                cached = [Token(stmt.start, stmt.end, t.name, source[t.start:t.end + 1])
                          for t in scanned]
            else:
                cached = [Token(stmt.start + t.start, stmt.start + t.end + 1, t.name,
                                source[t.start:t.end + 1]) for t in scanned]
            self._tokens[id(stmt)] = cached
        return cached

    def code_tokens(self, stmt: Statement) -> list[Token]:
        """The statement's tokens without comments."""
        return [t for t in self.tokens(stmt) if not t.is_comment]

    def statement_text(self, stmt: Statement) -> str:
        """The statement as written; for SQL a migration operation sends, that SQL."""
        if stmt.operation is not None:
            return stmt.sql
        return self.text[stmt.start:stmt.end]

    def tokens_text(self, tokens: list[Token]) -> str:
        """A run of a statement's tokens as SQL on one line: as written where only blanks
        separate them; else (SQL in Python string literals joined one after the other, whose
        quotes sit between the tokens) from the tokens, spaced as people write SQL."""
        code = [t for t in tokens if not t.is_comment]
        if any(self.text[a.end:b.start].strip() for a, b in zip(code, code[1:])):
            out = ""
            for token in code:
                tight = out.endswith(("(", ".", "::")) or token.text in (")", ",", ".", "::") \
                    or (token.text == "(" and out[-1:].isalnum())
                out += token.text if not out or tight else " " + token.text
            return out
        return " ".join(self.text[tokens[0].start:tokens[-1].end].split())

    def statement_end(self, stmt: Statement) -> int:
        """Offset just after the statement's terminating ';' (or its end if it has none)."""
        i = stmt.end
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        return i + 1 if i < len(self.text) and self.text[i] == ";" else stmt.end

    def line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def indent_of(self, offset: int) -> str:
        start = self.line_start(offset)
        i = start
        while i < len(self.text) and self.text[i] in " \t":
            i += 1
        return self.text[start:i]


def runs_repeatedly(ctx: FileContext, stmt: Statement) -> bool:
    """True when the statement runs at application run time, not once in a migration.

    Application SQL and code and pgbench scripts run over and over (DO blocks in them too); so
    do the bodies of functions, even when a migration defines them. Migration statements, DO
    blocks in migrations and one-off scripts run once; tests and seed data are not production.
    """
    if ctx.role in ("application", "load-test"):
        return True
    if ctx.role not in ("migration", "schema-dump"):
        return False
    # A body that a later migration replaced (CREATE OR REPLACE) or dropped no longer runs.
    return stmt.parent is not None and stmt.parent.kind == "CreateFunctionStmt" and \
        ctx.model.catalog.runs_this_definition(stmt.parent)
