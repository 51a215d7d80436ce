"""The SQL forms of check-then-act (PGL204): `INSERT ... SELECT ... WHERE NOT EXISTS`, PL/pgSQL's
`IF NOT EXISTS (...) THEN INSERT` and `SELECT ... INTO; IF NOT FOUND THEN INSERT`, read as a
`Check`; and their fixes: the check replaced by `ON CONFLICT ... DO NOTHING` where the shape is
exact, else the unique constraint and the INSERT to write."""

from __future__ import annotations

import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Fix
from pglint.kit.check_then_act_fixes import constraint_name
from pglint.kit.sql_tokens import matching_paren
from pglint.kit.upserts import (
    NOT_FOUND, Check, conflict_point, conflict_target, end_of_previous, exists_sublink,
    has_returning, locate_plpgsql, lookup_equalities, single_table,
)
from pglint.model.catalog import Index
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_IF_BEFORE = re.compile(r"\bIF\s*$", re.IGNORECASE)
_END_IF_AFTER = re.compile(r"\s*END\s+IF\s*;", re.IGNORECASE)


# What follows a PL/pgSQL INSERT's text up to its `;`: `INTO [STRICT] target[, ...]`.
_INTO_AFTER = re.compile(r"\s+(into\s+(?:strict\s+)?[\w.\"]+(?:\s*,\s*[\w.\"]+)*)\s*;",
                         re.IGNORECASE)


def insert_where_not_exists(stmt: Statement) -> Check | None:
    """`INSERT INTO t ... SELECT ... WHERE NOT EXISTS (SELECT ... FROM t WHERE ...)`."""
    body = stmt.body
    table = n.relation_name(body.get("relation"))
    select = (body.get("selectStmt") or {}).get("SelectStmt")
    if not table or not select or body.get("onConflictClause"):
        return None
    parts = n.conjuncts(select.get("whereClause"))
    for part in parts:
        sub = _not_exists(part)
        if sub is None:
            continue
        lookup = lookup_equalities(sub, table)
        if lookup is None:
            continue
        return Check("`INSERT ... WHERE NOT EXISTS`", table, lookup[0],
                     lookup[1] and len(parts) == 1, stmt, partial=not lookup[1])
    return None


def if_not_exists(ctx: FileContext, stmt: Statement) -> Check | None:
    """PL/pgSQL `IF NOT EXISTS (SELECT ... FROM t ...) THEN INSERT INTO t ...`, or
    `IF EXISTS (...) THEN ... ELSE INSERT INTO t ...`."""
    _, if_stmt, field_name = stmt.plpgsql_holder  # type: ignore[misc]
    if field_name != "cond":
        return None
    targets = stmt.body.get("targetList") or ()
    if len(targets) != 1:
        return None
    value = targets[0].get("ResTarget", {}).get("val") or {}
    sub = _not_exists(value)
    branch = "then_body"
    if sub is None:
        sub = exists_sublink(value)
        branch = "else_body"
    if sub is None:
        return None
    table = single_table(sub)
    lookup = lookup_equalities(sub, table) if table else None
    if lookup is None:
        return None
    insert = _insert_into(ctx, if_stmt.get(branch) or (), table)
    if insert is None:
        return None
    shape = "`IF NOT EXISTS` then `INSERT`" if branch == "then_body" \
        else "`IF EXISTS ... ELSE INSERT`"
    exact = (branch == "then_body" and lookup[1] and len(if_stmt.get("then_body") or ()) == 1
             and not if_stmt.get("else_body") and not if_stmt.get("elsif_list"))
    return Check(shape, table, lookup[0], exact, insert, partial=not lookup[1])


def select_into_not_found(ctx: FileContext, stmt: Statement) -> Check | None:
    """PL/pgSQL `SELECT ... INTO ... FROM t WHERE ...; IF NOT FOUND THEN INSERT INTO t ...`."""
    _, execsql, _ = stmt.plpgsql_holder  # type: ignore[misc]
    if not execsql.get("into") or stmt.parent is None or stmt.parent.plpgsql is None:
        return None
    table = single_table(stmt.body)
    if not table:
        return None
    lookup = lookup_equalities(stmt.body, table)
    if lookup is None:
        return None
    place = locate_plpgsql(stmt.parent.plpgsql, execsql)
    if place is None:
        return None
    siblings, i, _ = place
    following = siblings[i + 1] if i + 1 < len(siblings) else {}
    if_stmt = following.get("PLpgSQL_stmt_if") if isinstance(following, dict) else None
    if not if_stmt:
        return None
    cond = (if_stmt.get("cond") or {}).get("PLpgSQL_expr", {}).get("query", "")
    if not NOT_FOUND.match(cond):
        return None
    insert = _insert_into(ctx, if_stmt.get("then_body") or (), table)
    if insert is None:
        return None
    # The SELECT's INTO target is used after the IF: rewriting it is a judgement call.
    return Check("`SELECT INTO`, `IF NOT FOUND` then `INSERT`", table, lookup[0], False, insert,
                 partial=not lookup[1])


def _not_exists(node: dict[str, Any]) -> dict[str, Any] | None:
    """The subquery of `NOT EXISTS (subquery)`."""
    expr = node.get("BoolExpr")
    if not expr or expr.get("boolop") != "NOT_EXPR" or len(expr.get("args") or ()) != 1:
        return None
    return exists_sublink(expr["args"][0])


def _insert_into(ctx: FileContext, body: Iterable[dict[str, Any]], table: str) -> Statement | None:
    """The first `INSERT INTO table` directly in a PL/pgSQL statement list."""
    for item in body:
        execsql = item.get("PLpgSQL_stmt_execsql") if isinstance(item, dict) else None
        expr = (execsql or {}).get("sqlstmt", {}).get("PLpgSQL_expr")
        if expr is None:
            continue
        inner = ctx.statement_for_expr(expr)
        if inner is not None and inner.kind == "InsertStmt" and \
                n.relation_name(inner.body.get("relation")) == table:
            # An insert that handles conflicts itself is settled by the unique constraint.
            return None if inner.body.get("onConflictClause") else inner
    return None


# -- fixes ---------------------------------------------------------------------------------------

def _values_match(insert: Statement, lookup: list[tuple[str, dict]]) -> bool:
    """The INSERT puts into each looked-up column the value the lookup compared it with."""
    body = insert.body
    columns = [t.get("ResTarget", {}).get("name") for t in body.get("cols") or ()]
    select = (body.get("selectStmt") or {}).get("SelectStmt") or {}
    rows = select.get("valuesLists")
    if rows:
        if len(rows) != 1:
            return False
        values = rows[0].get("List", {}).get("items") or []
    else:
        values = [t.get("ResTarget", {}).get("val") for t in select.get("targetList") or ()]
    if len(values) != len(columns):
        return False
    supplied = dict(zip(columns, values))
    return all(c in supplied and _same(supplied[c], v) for c, v in lookup)


def _same(a: Any, b: Any) -> bool:
    """Structural equality of two expression trees, ignoring positions."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"location"}
        return all(_same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def on_conflict_fix(ctx: FileContext, stmt: Statement, check: Check, index: Index) -> Fix | None:
    insert = check.insert
    assert insert is not None
    if insert.body.get("onConflictClause") or not insert.exact or not stmt.exact or \
            not _values_match(insert, check.lookup):
        return None
    target = conflict_target(insert, index)
    if target is None:
        return None
    clause = f" ON CONFLICT {target} DO NOTHING"
    at = conflict_point(ctx, insert)
    if insert is stmt:
        edits = _drop_where_not_exists(ctx, stmt, at, clause)
    else:
        if has_returning(insert.body):
            return None  # `RETURNING ... INTO` would leave its target unset on conflict
        edits = _drop_if(ctx, stmt, insert, at, clause)
    if edits is None:
        return None
    return Fix("Replace the check with INSERT ... ON CONFLICT DO NOTHING", Applicability.UNSAFE,
               tuple(edits), isolation=f"insert-conflict:{insert.start}")


def _drop_where_not_exists(ctx: FileContext, stmt: Statement, at: int,
                           clause: str) -> list[Edit] | None:
    select = stmt.body["selectStmt"]["SelectStmt"]
    where = select["whereClause"]
    not_at = stmt.offset(where["BoolExpr"].get("location"))
    tokens = ctx.tokens(stmt)
    where_token = next((t for t in reversed(tokens) if t.end <= not_at and t.name == "WHERE"),
                       None)
    if where_token is None:
        return None
    opening = next((i for i, t in enumerate(tokens) if t.start >= not_at and t.text == "("),
                   None)
    closing = matching_paren(tokens, opening) if opening is not None else None
    if closing is None:
        return None
    close = tokens[closing].end
    start = end_of_previous(ctx, stmt, where_token.start)
    if close == at:
        return [Edit(start, close, clause)]
    return [Edit.delete(start, close), Edit.insert(at, clause)]


def _drop_if(ctx: FileContext, cond: Statement, insert: Statement, at: int,
             clause: str) -> list[Edit] | None:
    text = ctx.text
    keyword = _IF_BEFORE.search(text, 0, cond.start)
    after = ctx.statement_end(insert)
    end_if = _END_IF_AFTER.match(text, after)
    if keyword is None or end_if is None or after == insert.end:
        return None
    return [Edit.delete(keyword.start(), insert.start), Edit.insert(at, clause),
            Edit.delete(after, end_if.end())]


def plpgsql_into(ctx: FileContext, insert: Statement) -> str:
    """The ` INTO target` that PL/pgSQL strips from an `INSERT ... RETURNING ... INTO target`
    (the statement's text ends before it), or "": a rewrite without it fails at run time
    ("query has no destination for result data")."""
    if insert.plpgsql_holder is None:
        return ""
    found = _INTO_AFTER.match(ctx.text, insert.end)
    return " " + found.group(1) if found else ""


def on_conflict_suggestion(ctx: FileContext, check: Check, has_key: bool, known: bool) -> str:
    bare = ctx.model.bare(check.table)
    cols = ", ".join(n.quote_ident(c) for c, _ in check.lookup)
    lines = []
    if not has_key:
        index = constraint_name(bare, [c for c, _ in check.lookup])
        why = "there is none yet" if known else \
            "create it unless one exists (pglint does not know the table)"
        lines += [f"-- ON CONFLICT needs a unique index on exactly ({cols}): {why}.",
                  "-- Remove existing duplicates first; CONCURRENTLY cannot run in a transaction.",
                  f"CREATE UNIQUE INDEX CONCURRENTLY {n.quote_ident(index)} "
                  f"ON {check.table} ({cols});", ""]
    lines.append("-- Then, instead of checking first:")
    insert = check.insert
    if insert is not None and insert.exact:
        at = conflict_point(ctx, insert)
        clause = f" ON CONFLICT ({cols}) DO NOTHING"
        edits = [Edit.insert(at, clause)]
        if insert.kind == "InsertStmt" and check.only_equalities and \
                check.shape.startswith("`INSERT"):
            edits = _drop_where_not_exists(ctx, insert, at, clause) or edits
        text = ctx.text[insert.start:insert.end]
        for edit in sorted(edits, reverse=True):
            text = text[:edit.start - insert.start] + edit.content + text[edit.end - insert.start:]
        lines.append(text + plpgsql_into(ctx, insert) + ";")
    else:
        lines.append(f"INSERT INTO {check.table} ({cols}, ...) VALUES (...)\n"
                     f"ON CONFLICT ({cols}) DO NOTHING;")
    if check.shape.startswith("`SELECT"):
        lines.append("-- DO NOTHING returns no row on a conflict: when nothing was inserted,\n"
                     "-- read the existing row with the SELECT.")
    return "\n".join(lines)
