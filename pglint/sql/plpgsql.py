"""PL/pgSQL and SQL bodies of functions, procedures and DO blocks, linted as SQL in place.

libpg_query's PL/pgSQL parser gives each embedded query's text and the body line it starts on.
We find that text in the body (verbatim for dollar-quoted bodies), parse it, and map its
positions back into the file. LANGUAGE sql bodies are plain SQL: a quoted body is parsed here,
and a `BEGIN ATOMIC` body arrives already parsed in the CREATE FUNCTION's tree.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from pglast import parser as pg

from pglint.sql import nodes as n
from pglint.sql.lexer import lex
from pglint.sql.parse import (Statement, SyntaxProblem, parse_fragment, plpgsql_tree, sql_tree,
                              statements_of)

# libpg_query's RawParseMode values for `target := expression` (PLPGSQL_ASSIGN1..3).
_ASSIGNMENT_MODES = {3, 4, 5}
_ASSIGNMENT = re.compile(r":=|=")
_CATALOG_LIMITS = re.compile(
    r"not implemented|pseudo-type|does not exist|cannot accept type|"
    r"record variable cannot be part of|VARIADIC parameter must be an array|"
    r"is not a scalar variable", re.IGNORECASE)
_DO_WRAPPER = "CREATE FUNCTION pglint_do_block() RETURNS void LANGUAGE plpgsql AS "


_UNKNOWN_FIELD = re.compile(r'"(\w+)\.\w+" is not a known variable')


def _field_of_declared(message: str, body: str) -> bool:
    """`sw._where := ...` where the body declares `sw search_wheres%ROWTYPE` (or of a table's
    type): the row's fields come from the catalog, which the parser has not got."""
    m = _UNKNOWN_FIELD.search(message)
    return m is not None and re.search(
        rf"(?<![\w.]){re.escape(m.group(1))}\s+[\w.\"]+(?:%ROWTYPE)?\s*(?:;|:=|DEFAULT\b)",
        body, re.IGNORECASE) is not None


def _option(items: list[dict[str, Any]] | None, name: str) -> list[str]:
    """The strings of a function or DO option (`LANGUAGE plpgsql`, `AS 'body'`)."""
    arg = (n.def_elems(items).get(name) or {}).get("arg")
    if isinstance(arg, dict) and "List" in arg:
        return [i["String"]["sval"] for i in arg["List"].get("items", ()) if "String" in i]
    if isinstance(arg, dict) and "String" in arg:
        return [arg["String"]["sval"]]
    return []


def plpgsql_body(stmt: Statement) -> str | None:
    """The PL/pgSQL source of a CREATE FUNCTION/PROCEDURE or DO statement, if it has one."""
    if stmt.kind == "CreateFunctionStmt":
        options = stmt.body.get("options")
        language = _option(options, "language")
        if not language or language[0].lower() != "plpgsql":
            return None
    elif stmt.kind == "DoStmt":
        options = stmt.body.get("args")
        language = _option(options, "language")
        if language and language[0].lower() != "plpgsql":
            return None
    else:
        return None
    body = _option(options, "as")
    return body[0] if body else None


Holder = tuple[str, dict[str, Any], str]  # (PL/pgSQL statement type, its fields, field name)


def _exprs(node: Any) -> Iterator[tuple[int, dict[str, Any], Holder | None]]:
    """(line, PLpgSQL_expr, holder) in body order; the holder is the PL/pgSQL statement the
    expression belongs to and the field it sits in, e.g. ("PLpgSQL_stmt_if", {...}, "cond")."""
    stack: list[tuple[Any, int, Holder | None]] = [(node, 0, None)]
    while stack:
        item, lineno, holder = stack.pop()
        if isinstance(item, dict):
            line = item.get("lineno")
            if isinstance(line, int):
                lineno = line
            children = []
            for key, value in item.items():
                if key == "datums":
                    continue  # variable declarations: NEW/OLD records and the like
                if key == "PLpgSQL_expr":
                    yield lineno, value, holder
                elif key.startswith("PLpgSQL_stmt_") and isinstance(value, dict):
                    children.append((value, lineno, (key, value, "")))
                elif isinstance(value, (dict, list)):
                    inner = (holder[0], holder[1], key) if holder and holder[1] is item else holder
                    children.append((value, lineno, inner))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend((child, lineno, holder) for child in reversed(item))


def _line_offsets(text: str) -> list[int]:
    offsets = [0]
    i = text.find("\n")
    while i >= 0:
        offsets.append(i + 1)
        i = text.find("\n", i + 1)
    return offsets


_FRAGMENT_TAG = "$pglint_fragment$"
# PL/pgSQL's own control statements at the start of a line (a lone `RAISE` outside a function
# is a mistake, not a fragment).
_PLPGSQL_CONTROL = re.compile(r"^[ \t]*(?:END[ \t]+(?:IF|LOOP)[ \t]*;|PERFORM\b|ELSIF\b)",
                              re.IGNORECASE | re.MULTILINE)


def plpgsql_fragment(text: str) -> bool:
    """Whether `text`, which does not parse as SQL, is the body of a PL/pgSQL block that other
    code puts it in (`IF ... THEN CREATE VIEW ...; END IF;`, omnigres' included catalog)."""
    if _FRAGMENT_TAG in text or len(text) > 1_000_000 or not _PLPGSQL_CONTROL.search(text):
        return False
    try:
        plpgsql_tree(f"{_DO_WRAPPER}{_FRAGMENT_TAG} BEGIN\n{text}\nEND {_FRAGMENT_TAG}")
    except pg.ParseError:
        return False
    return True


def _body_tree(stmt: Statement, sql: str, source: str, body: str,
               found: int) -> tuple[Any, str] | None:
    """The PL/pgSQL tree of `sql` and the body as parsed; None when only what a placeholder
    stands for could tell. `found`: where the body sits in `source` (-1: not verbatim)."""
    try:
        return plpgsql_tree(sql), body
    except pg.ParseError:
        # A template placeholder or psql variable in the body (`@extschema@.jobs`,
        # `:APP_SCHEMA.jobs`), filled in before the SQL runs: masked in place, as in the
        # statement around it.
        masked = lex(body).masked
        if masked == body or found < 0:
            raise
    tag = "$pglint_do$"
    sql = source[:found] + masked + source[found + len(body):] \
        if stmt.kind != "DoStmt" else f"{_DO_WRAPPER}{tag}{masked}{tag}"
    try:
        return plpgsql_tree(sql), masked
    except pg.ParseError:
        # What a placeholder stands for decides whether the body parses
        # (`CREATE ROLE x {privileges}`): nothing says the SQL that runs is wrong.
        return None


def expand_plpgsql(stmt: Statement, file_text: str) -> tuple[list[Statement], list[SyntaxProblem]]:
    """Statements embedded in a PL/pgSQL body, positioned in the file."""
    body = plpgsql_body(stmt)
    if body is None:
        return [], []
    source = file_text[stmt.start:stmt.end]
    found = source.find(body)
    exact = found >= 0
    body_start = stmt.start + found if exact else stmt.start
    if stmt.kind == "DoStmt":
        tag = "$pglint_do$"
        sql = f"{_DO_WRAPPER}{tag}{body}{tag}"
    else:
        sql = source
    try:
        parsed = _body_tree(stmt, sql, source, body, found if exact else -1)
        if parsed is None:
            return [], []
        tree, body = parsed
    except pg.ParseError as exc:
        message = str(exc.args[0] if exc.args else exc)
        if _CATALOG_LIMITS.search(message) or not stmt.exact or _field_of_declared(message, body):
            # The PL/pgSQL parser works without a database: `%TYPE`, polymorphic pseudo-types,
            # array and extension types need the catalog. PostgreSQL accepts these bodies; we
            # just cannot look inside. A string's escapes (`\\'` in a Python literal) make the
            # file's text not the SQL that runs: embedded SQL the parser rejects is skipped.
            return [], []
        return [], [SyntaxProblem(f"PL/pgSQL: {message}", body_start)]
    stmt.plpgsql = tree
    lines = _line_offsets(body)
    statements: list[Statement] = []
    cursor = 0
    for lineno, expr, holder in _exprs(tree):
        query = expr.get("query", "")
        mode = expr.get("parseMode", 0)
        if mode != 0 and "(" not in query:
            continue  # `NEW`, `x + 1`, `n > 0`: no call or subquery, nothing a rule looks for
        # Only whole statements and boolean conditions can hold what rules look for; plain
        # assignments (`x := 1`) are expressions too, but parse the same way.
        prefix = "SELECT " if mode != 0 else ""
        text = query
        if mode in _ASSIGNMENT_MODES:
            # `target := expression`: lint the expression; the target is not SQL.
            split = _ASSIGNMENT.search(query)
            if split is None:
                continue
            text = query[split.end():]
        if mode == 0 and query.startswith("SELECT ") and body.find(query, cursor) < 0:
            prefix, text = "SELECT ", query[len("SELECT "):]  # PERFORM x is given as SELECT x
        line_start = lines[lineno - 1] if 0 < lineno <= len(lines) else 0
        at = body.find(text, max(cursor, line_start)) if exact else -1
        if at < 0 and exact:
            at = body.find(text)
        located = exact and at >= 0
        if located:
            cursor = at
            base = body_start + at
        else:
            base = body_start + line_start if exact else stmt.start
        parsed, error = parse_fragment(text, base, prefix=prefix, exact=located, parent=stmt)
        if error is not None:
            # The PL/pgSQL parser accepted it; anything we cannot re-parse alone is not a
            # syntax error of the user's file.
            continue
        for inner in parsed:
            inner.plpgsql_holder = holder
            inner.plpgsql_expr = expr
        statements.extend(parsed)
    return statements, []


# --- LANGUAGE sql bodies --------------------------------------------------------------------

_COMMENT_TOKENS = {"SQL_COMMENT", "C_COMMENT"}


def _is_sql_function(stmt: Statement) -> bool:
    if stmt.kind != "CreateFunctionStmt":
        return False
    language = _option(stmt.body.get("options"), "language")
    if language:
        return language[0].lower() == "sql"
    return stmt.body.get("sql_body") is not None  # BEGIN ATOMIC / RETURN: SQL by default


def _scan(text: str) -> list[Any]:
    try:
        return [t for t in pg.scan(text) if t.name not in _COMMENT_TOKENS]
    except pg.ParseError:
        return []


def _atomic_statements(stmt: Statement, file_text: str) -> list[Statement]:
    """The statements of a `BEGIN ATOMIC ... END` or `RETURN expr` body (PostgreSQL 14+).

    The parser already parsed them into `sql_body`, with locations in the parent's parsed text,
    so they share the parent's position mapping; their spans come from the parent's tokens.
    """
    sql_body = stmt.body.get("sql_body")
    source = file_text[stmt.start:stmt.end]
    tokens = _scan(source)
    if "ReturnStmt" in sql_body:
        # `RETURN expr` is the last clause of the statement.
        at = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].name == "RETURN"), None)
        spans = [(tokens[at].start, tokens[-1].end + 1)] if at is not None else []
        nodes = [sql_body]
    else:
        outer = (sql_body.get("List") or {}).get("items") or [{}]
        nodes = (outer[0].get("List") or {}).get("items") or []
        spans = []
        begin = next((i for i in range(len(tokens) - 1)
                      if tokens[i].name == "BEGIN_P" and tokens[i + 1].name == "ATOMIC"), None)
        if begin is not None:
            piece: list[Any] = []
            for token in tokens[begin + 2:]:
                if token.name == "ASCII_59":
                    if piece:
                        spans.append((piece[0].start, piece[-1].end + 1))
                    piece = []
                else:
                    piece.append(token)
    exact = len(spans) == len(nodes)
    out = []
    for i, node in enumerate(nodes):
        start, end = (stmt.start + spans[i][0], stmt.start + spans[i][1]) if exact \
            else (stmt.start, stmt.end)
        out.append(Statement(node, start, end, stmt.char_base, stmt.chars, stmt.byte_base,
                             exact=exact, parent=stmt))
    return out


def _string_body_start(stmt: Statement, file_text: str, body: str) -> tuple[int, bool]:
    """File offset of a quoted function body's first character, and whether the body appears
    there verbatim (dollar quotes, or single quotes with nothing escaped)."""
    for token in _scan(file_text[stmt.start:stmt.end]):
        if token.name != "SCONST":
            continue
        text = file_text[stmt.start + token.start:stmt.start + token.end + 1]
        if text.startswith("$"):
            tag = text[:text.find("$", 1) + 1]
            inner, skip = text[len(tag):len(text) - len(tag)], len(tag)
        elif text.startswith("'"):
            inner, skip = text[1:-1], 1
        else:
            continue  # E'...', U&'...': escapes, so the body is not verbatim
        if inner == body:
            return stmt.start + token.start + skip, True
        if inner.replace("''", "'") == body:
            return stmt.start + token.start + skip, False
    return stmt.start, False


def expand_sql_body(stmt: Statement, file_text: str) -> tuple[list[Statement], list[SyntaxProblem]]:
    """Statements of a LANGUAGE sql function or procedure body, positioned in the file.

    Both forms: a string body (`AS $$ UPDATE ...; SELECT ... $$`), parsed here, and a
    PostgreSQL 14+ `BEGIN ATOMIC ... END` / `RETURN expr` body, which the parser already parsed.
    """
    if not _is_sql_function(stmt):
        return [], []
    if stmt.body.get("sql_body") is not None:
        return _atomic_statements(stmt, file_text), []
    body = _option(stmt.body.get("options"), "as")
    if not body:
        return [], []
    text = body[0]
    base, exact = _string_body_start(stmt, file_text, text)
    try:
        try:
            tree = sql_tree(text)
        except pg.ParseError:
            masked = lex(text).masked  # placeholders filled in before the SQL runs
            if masked == text:
                raise
            tree = sql_tree(masked)
            text = masked
    except pg.ParseError as exc:
        # PostgreSQL parses a SQL function's body when the function is created.
        location = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        message = exc.args[0] if exc.args else str(exc)
        return [], [SyntaxProblem(f"SQL function body: {message}",
                                  base + location if exact else base)]
    statements = statements_of(tree, text, text, 0, len(text), exact=exact, parent=stmt)
    for inner in statements:
        # Positions are relative to the body: move them to the file.
        if not exact:
            inner.sql = text[inner.start:inner.end]
        inner.start, inner.end = base + inner.start, min(base + inner.end, stmt.end)
        inner.char_base = base
    return statements, []


def expand_body(stmt: Statement, file_text: str) -> tuple[list[Statement], list[SyntaxProblem]]:
    """Statements of a function, procedure or DO body (PL/pgSQL or SQL), positioned in the file."""
    if _is_sql_function(stmt):
        return expand_sql_body(stmt, file_text)
    return expand_plpgsql(stmt, file_text)
