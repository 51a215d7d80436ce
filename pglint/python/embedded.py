"""Python files as pglint sees them: the SQL strings handed to database calls, as statements
positioned in the .py file, and the `# pglint:` comments that suppress findings."""

from __future__ import annotations

import io
import re
import tokenize
from typing import TYPE_CHECKING

from pglint.sql.lexer import Comment, Lexed
from pglint.sql.parse import ParsedSQL, Statement

if TYPE_CHECKING:
    from pglint.python.pyfile import PythonFile

_DIRECTIVE = re.compile(r"#\s*pglint:")


def parse_python(text: str, path: str = "", wanted: bool = False
                 ) -> tuple[ParsedSQL, "PythonFile | None"]:
    """The embedded SQL of a Python file as a ParsedSQL over the file's text, and CPython's tree
    of the file (`PythonFile`, at `path`) when it was parsed: when the file may hold SQL
    (`might_contain_sql`) or some rule or reader `wanted` it (their text hints matched).
    libcst is never parsed here: only a fix asks for it (`PythonFile.fix_tree`).

    A statement is `exact` only when its string literal holds the SQL verbatim (no escapes, no
    implicit concatenation, no rewritten placeholders): only then can a fix edit the file.
    Embedded SQL that PostgreSQL's parser rejects is skipped, not reported: applications talk to
    other databases too, and a string is not always the whole statement.
    """
    statements: list[Statement] = []
    from pglint.python.frontend import might_contain_sql

    has_sql = might_contain_sql(text)
    code = None
    if has_sql or wanted:
        from pglint.python.frontend import statements_in
        from pglint.python.pyfile import PythonFile

        code = PythonFile.parse(text, path)
        if code is not None and has_sql:
            for embedded, found, _problem in statements_in(text, code):
                verbatim = text[embedded.start:embedded.end] == embedded.sql \
                    and not embedded.prefix
                opening = text[embedded.literal_start:embedded.start]
                literal = (embedded.start, embedded.end, opening) if verbatim else None
                for stmt in found:
                    stmt.exact = verbatim
                    stmt.python_literal = literal
                    stmt.rollback = embedded.argument == "reverse_sql"
                    if not verbatim:
                        stmt.sql = embedded.sql
                    statements.append(stmt)
    for i, stmt in enumerate(statements):
        stmt.index = i
    comments = python_comments(text) if _DIRECTIVE.search(text) else []
    return ParsedSQL(text, statements, [], Lexed(text, [], comments), text), code


def python_comments(text: str) -> list[Comment]:
    """`#` comments with character offsets (tokenize knows strings from comments)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    comments = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                start = starts[token.start[0] - 1] + token.start[1]
                comments.append(Comment(start, start + len(token.string), token.string))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # a file Python cannot tokenize keeps the comments found so far
    return comments
