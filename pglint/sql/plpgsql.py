"""PL/pgSQL bodies of functions, procedures and DO blocks, linted as SQL in place.

libpg_query's PL/pgSQL parser gives each embedded query's text and the body line it starts on.
We find that text in the body (verbatim for dollar-quoted bodies), parse it, and map its
positions back into the file.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from pglast import parser as pg

from pglint.sql.parse import Statement, SyntaxProblem, parse_fragment

# libpg_query's RawParseMode values for `target := expression` (PLPGSQL_ASSIGN1..3).
_ASSIGNMENT_MODES = {3, 4, 5}
_ASSIGNMENT = re.compile(r":=|=")
_DO_WRAPPER = "CREATE FUNCTION pglint_do_block() RETURNS void LANGUAGE plpgsql AS "


def _def_elems(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    out = {}
    for item in items or ():
        elem = item.get("DefElem")
        if elem:
            out[elem.get("defname")] = elem.get("arg")
    return out


def _string_list(arg: Any) -> list[str]:
    if isinstance(arg, dict) and "List" in arg:
        return [i["String"]["sval"] for i in arg["List"].get("items", ()) if "String" in i]
    if isinstance(arg, dict) and "String" in arg:
        return [arg["String"]["sval"]]
    return []


def plpgsql_body(stmt: Statement) -> str | None:
    """The PL/pgSQL source of a CREATE FUNCTION/PROCEDURE or DO statement, if it has one."""
    if stmt.kind == "CreateFunctionStmt":
        opts = _def_elems(stmt.body.get("options"))
        language = _string_list(opts.get("language"))
        if not language or language[0].lower() != "plpgsql":
            return None
        body = _string_list(opts.get("as"))
        return body[0] if body else None
    if stmt.kind == "DoStmt":
        opts = _def_elems(stmt.body.get("args"))
        language = _string_list(opts.get("language"))
        if language and language[0].lower() != "plpgsql":
            return None
        body = _string_list(opts.get("as"))
        return body[0] if body else None
    return None


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
        tree = json.loads(pg.parse_plpgsql_json(sql))
    except pg.ParseError as exc:
        return [], [SyntaxProblem(f"PL/pgSQL: {exc.args[0] if exc.args else exc}", body_start)]
    stmt.plpgsql = tree
    lines = _line_offsets(body)
    statements: list[Statement] = []
    errors: list[SyntaxProblem] = []
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
    return statements, errors
