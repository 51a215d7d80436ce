"""Reading one file into what the rules and the model read: its text, kind and role, its
parsed statements (PL/pgSQL and SQL bodies included) and its syntax problems (PGL901).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from pglint.discover import Candidate, detect_kind
from pglint.dispatch import _hints, hints_match
from pglint.finding import Finding, Severity
from pglint.loader import LoadProblem, read_text
from pglint.registry import all_rules
from pglint.roles import APPLICATION, DOWN_MIGRATION, LINTED_ROLES, MIGRATION, SCHEMA_DUMP, \
    SCRIPT, TEST, refuses_rollback, role_from_text, skipped_by_runner
from pglint.rule import Rule
from pglint.source import SourceFile
from pglint.sql.lexer import has_template_control
from pglint.sql.parse import ParsedSQL, Statement, SyntaxProblem, parse_sql, statement_count

if TYPE_CHECKING:
    from pglint.python.pyfile import PythonFile

SYNTAX_ERROR = ("PGL901", "syntax-error")


@dataclass
class LoadedFile:
    candidate: Candidate
    file: SourceFile | None = None
    parsed: ParsedSQL | None = None
    body_statements: list[Statement] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # PGL901 findings from loading/parsing
    python_file: "PythonFile | None" = None  # a .py file's CPython tree, when it was parsed
    python_rules: frozenset[str] = frozenset()  # the Python rules whose text hints it passes
    python_orm: bool = False  # the ORM reader's text test passes it (it reads `python_file`)


@lru_cache(maxsize=1)
def _python_rules() -> tuple[tuple[Rule, tuple[tuple, ...]], ...]:
    """Every Python rule with its text hints (selected or not: a file is loaded once)."""
    return tuple((rule(), _hints(rule.python_hint)) for rule in all_rules() if rule.python_nodes)


@dataclass
class PythonReaders:
    """Who reads a .py file's CPython tree, by the words in its text: the Python rules whose
    text hints match, the ORM reader, the migration readers (the embedded-SQL finder asks on
    its own, `might_contain_sql`). A file none of them wants is never parsed."""

    rules: frozenset[str]
    orm: bool
    schema: bool

    @classmethod
    def of(cls, text: str) -> "PythonReaders":
        from pglint.python.orm import might_describe_orm
        from pglint.python.schema import might_define_schema

        return cls(frozenset(rule.code for rule, hints in _python_rules()
                             if hints_match(hints, text)),
                   might_describe_orm(text), might_define_schema(text))

    def __bool__(self) -> bool:
        return bool(self.rules) or self.orm or self.schema


def _problem(candidate: Candidate, message: str, offset: int = 0, line: int = 0,
             column: int = 0) -> Finding:
    """A PGL901 finding: at a character offset, or at a known line/column (unreadable file)."""
    finding = Finding(SYNTAX_ERROR[0], SYNTAX_ERROR[1], message, candidate.display, offset, offset,
                      Severity.ERROR)
    if line:
        finding.row, finding.column = line, column
    return finding


def _source_file(candidate: Candidate, text: str) -> SourceFile:
    """A candidate's text as a SourceFile, its kind and role settled by the text (pgbench
    scripts, dumps, files of another dialect)."""
    kind = detect_kind(candidate.kind, text)
    decision = role_from_text(candidate.role, kind, text)
    if decision.role == SCHEMA_DUMP and kind == "sql":
        kind = "migration"  # a dump's statements run once, and build the catalog
    skipped = decision.role == MIGRATION and skipped_by_runner(text)
    return SourceFile(candidate.path, text, kind, candidate.display, role=decision.role,
                      role_reason=decision.reason, applied=candidate.applied or skipped,
                      skipped_by_runner=skipped, project_path=candidate.rel)


def _migration_statements(loaded: LoadedFile, parsed: ParsedSQL, kind: str) -> None:
    """A Python migration's statements as it sends them: without the SQL it runs only when it
    is rolled back (Alembic's `downgrade()`, Django's `reverse_sql`), with the SQL its
    operations send (`op.create_index`, `AddIndex`; pglint.python.operation_sql), in file
    order."""
    import ast
    from functools import partial

    from pglint.model.location import Location
    from pglint.python.operation_sql import operation_statements

    code = loaded.python_file
    if kind == "alembic":
        for found in code.module.body:
            if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    found.name == "downgrade":
                start, end = code.span(found)
                for stmt in parsed.statements:
                    stmt.rollback = stmt.rollback or start <= stmt.start < end
    kept = [stmt for stmt in parsed.statements if not stmt.rollback]
    where = partial(Location.in_file, loaded.file)
    rendered = operation_statements(code, kind, where, loaded.candidate.path)
    if rendered or len(kept) < len(parsed.statements):
        parsed.statements = sorted(kept + rendered, key=lambda s: s.start)
        for i, stmt in enumerate(parsed.statements):
            stmt.index = i


def load(candidate: Candidate, text: str | None = None,
         problem: LoadProblem | None = None) -> LoadedFile:
    """Parse one file (reading it unless `text` is given); problems become PGL901 findings."""
    loaded = LoadedFile(candidate)
    if text is None and problem is None:
        text, problem = read_text(candidate.path)
    if problem is not None or text is None:
        problem = problem or LoadProblem("cannot read file")
        loaded.problems.append(_problem(candidate, problem.message, 0, problem.line,
                                        problem.column))
        return loaded
    file = loaded.file = _source_file(candidate, text)
    if file.role not in LINTED_ROLES or (candidate.kind == "python" and file.role == TEST):
        # Another dialect is not PostgreSQL; Python tests hold no production SQL or workload.
        return loaded
    if candidate.kind == "python":
        from pglint.python.embedded import parse_python

        readers = PythonReaders.of(text)
        parsed, loaded.python_file = parse_python(text, file.display_path, bool(readers))
        loaded.python_rules, loaded.python_orm = readers.rules, readers.orm
        kind = ""
        if readers.schema and loaded.python_file is not None:
            from pglint.python.schema import migration_kind

            kind = migration_kind(loaded.python_file)
        if kind:
            # An Alembic or Django migration: its SQL runs once, as a migration's does.
            file.kind, file.framework = "migration", kind
            if file.role in (APPLICATION, SCRIPT):
                file.role, file.role_reason = MIGRATION, "Alembic or Django migration"
            if file.role == MIGRATION:
                _migration_statements(loaded, parsed, kind)
        elif file.role in (APPLICATION, SCRIPT) and "revision" in text:
            from pglint.python.schema import alembic_revision

            if alembic_revision(text) is not None:
                # An Alembic revision the readers do not take for a migration (a merge of two
                # heads that imports nothing): still a link of the revision chain the catalog
                # is replayed along.
                file.kind = "migration"
                file.role, file.role_reason = MIGRATION, "Alembic revision"
    else:
        count = statement_count(text, candidate.max_statements)
        if count > candidate.max_statements:
            loaded.problems.append(_problem(
                candidate, f"too large to analyse: {count:,} statements, limit "
                f"{candidate.max_statements:,} (`max-statements`)"))
            return loaded
        parsed = parse_sql(text)
    loaded.parsed = parsed
    errors = list(parsed.errors)
    for stmt in parsed.statements:
        if stmt.kind in ("CreateFunctionStmt", "DoStmt"):
            from pglint.sql.plpgsql import (
                expand_body,  # only files with functions need it
            )

            # The masked text: a placeholder in the function's name or options
            # (`:APP_SCHEMA.f()`) stands in as in the statement's own parse.
            inner, body_errors = expand_body(stmt, parsed.masked
                                             if len(parsed.masked) == len(text) else text)
            loaded.body_statements.extend(inner)
            errors.extend(body_errors)
    for stmt in (*parsed.statements, *loaded.body_statements):
        stmt.origin = f"{candidate.display}:{stmt.start}"
    if errors:
        _report_syntax_errors(loaded, file, parsed, sorted(errors, key=lambda e: e.offset))
    return loaded


def _report_syntax_errors(loaded: LoadedFile, file: SourceFile, parsed: ParsedSQL,
                          errors: list[SyntaxProblem]) -> None:
    """The file's first syntax error, as PostgreSQL stops at it (running the file in a
    transaction, or psql with ON_ERROR_STOP), saying how many more statements fail; none where
    the text is not what runs (see `_not_postgres_as_written`)."""
    why = _not_postgres_as_written(file, parsed, errors)
    if why:
        if file.kind != "python":
            file.role_reason += f"; {why}: its syntax errors are not reported"
        return
    first = errors[0]
    more = len(errors) - 1
    message = first.message + (f" (and {more} more statement{'s' * (more > 1)} PostgreSQL "
                               "cannot parse)" if more else "")
    finding = _problem(loaded.candidate, message, first.offset)
    if first.repair is not None:
        # The likely intent, not a certainty: applied on request only.
        finding.fix = first.repair
    loaded.problems.append(finding)


def _not_postgres_as_written(file: SourceFile, parsed: ParsedSQL,
                             errors: list[SyntaxProblem]) -> str:
    """Why the file's syntax errors say nothing about the SQL that runs, or ""."""
    text = file.text
    if file.role == DOWN_MIGRATION and refuses_rollback(text):
        return "a down migration written to refuse the rollback"
    if has_template_control(text):
        # Every branch of `{% if %}` is in the text; no database runs it as written.
        return "a template's control statements"
    if file.kind == "python":
        return ""
    statement_errors = sum(1 for e in errors if not e.message.startswith(("PL/pgSQL", "SQL ")))
    from pglint.sql.plpgsql import plpgsql_fragment  # only files with errors need it

    if statement_errors and plpgsql_fragment(parsed.masked):
        return "a PL/pgSQL body that other code includes in a function or DO block"
    if statement_errors >= 3 and statement_errors >= len(parsed.statements):
        # A mistake is local; another database's SQL or a template fails everywhere.
        return (f"{statement_errors} of {statement_errors + len(parsed.statements)} statements "
                "do not parse as PostgreSQL (another database's SQL, or a template)")
    return ""
