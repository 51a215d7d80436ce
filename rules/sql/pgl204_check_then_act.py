"""PGL204 check-then-act."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.model.catalog import Index
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_NOT_FOUND = re.compile(r"^\s*NOT\s+FOUND\s*$", re.IGNORECASE)
_IF_BEFORE = re.compile(r"\bIF\s*$", re.IGNORECASE)
_END_IF_AFTER = re.compile(r"\s*END\s+IF\s*;", re.IGNORECASE)
_MAX_IDENT = 63  # PostgreSQL truncates longer names, so a guessed constraint name may be wrong

_CUSTOMERS = ("CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,\n"
              "    name text);\n")
_TAGS = ("CREATE TABLE tags (id bigserial PRIMARY KEY, tenant_id int NOT NULL,\n"
         "    label text NOT NULL);\n")
_SUBSCRIPTIONS = ("CREATE TABLE subscriptions (user_id bigint, list_id bigint,\n"
                  "    PRIMARY KEY (user_id, list_id));\n")


@dataclass
class Check:
    """A check-then-insert: the lookup, the insert it guards, and where they are."""

    shape: str  # how the user wrote it, for the message
    table: str
    lookup: list[tuple[str, dict[str, Any]]]  # (column, compared value) of the lookup
    only_equalities: bool  # the lookup is nothing but `col = value` conjuncts
    insert: Statement | None  # the guarded INSERT statement


class CheckThenAct(Rule):
    """
    ## What it does
    Flags an insert guarded by a separate existence check on the same table, where the code runs
    repeatedly (query files, function bodies, pgbench scripts):
    `IF NOT EXISTS (SELECT ... FROM t WHERE ...) THEN INSERT INTO t ...` and
    `SELECT ... INTO ... FROM t WHERE ...; IF NOT FOUND THEN INSERT INTO t ...` in PL/pgSQL, and
    `INSERT INTO t ... SELECT ... WHERE NOT EXISTS (SELECT 1 FROM t WHERE ...)` in SQL. The
    message says whether the catalog has a unique constraint or index on the lookup columns.

    ## Why is this bad?
    The check and the insert are two steps. Under `READ COMMITTED` two concurrent sessions both
    see "no row" (neither sees the other's uncommitted insert) and both insert: a duplicate
    row, or, when a unique constraint exists, a unique violation (23505) the caller did not
    expect. `INSERT ... WHERE NOT EXISTS` in one statement races the same way: its subquery reads
    a snapshot and does not wait for concurrent inserts. Only a unique constraint or index
    settles the race; `INSERT ... ON CONFLICT` uses it to skip (or update) the existing row
    atomically.

    ## Example
    ```sql
    CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN
        INSERT INTO customers (email, name) VALUES (p_email, p_name);
      END IF;
    END $$;
    ```

    ## Use instead
    A unique constraint on the lookup columns, and one statement that relies on it:
    ```sql
    INSERT INTO customers (email, name) VALUES (p_email, p_name)
    ON CONFLICT (email) DO NOTHING;
    ```

    ## Fix safety
    Unsafe, and only where the shape is exact: the lookup is equalities on exactly the columns
    of a unique constraint or index (per the catalog), the insert supplies the same values, and
    the check guards nothing but that insert. pglint then removes the check (the `IF ... THEN` /
    `END IF`, or the `WHERE NOT EXISTS (...)`) and appends `ON CONFLICT (cols) DO NOTHING`. A
    concurrent duplicate is then skipped silently instead of inserted or failing, and in
    PL/pgSQL `FOUND` / `GET DIAGNOSTICS` report 0 rows for it. Other shapes get the upsert as a
    suggestion, with the `CREATE UNIQUE INDEX` it needs when the catalog shows none.
    """

    code = "PGL204"
    name = "check-then-act"
    summary = "Existence check followed by an insert races: concurrent sessions both insert"
    section = "40.2.2 Idempotency Patterns"
    node_types = ("SelectStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        # The upsert itself.
        Example("INSERT INTO customers (email, name) VALUES ('a@example.com', 'A')\n"
                "ON CONFLICT (email) DO NOTHING;",
                kind="sql", context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The NOT EXISTS reads another table: a filter, not a duplicate check.
        Example("INSERT INTO customers (email, name)\n"
                "SELECT email, name FROM signups s\n"
                "WHERE NOT EXISTS (SELECT 1 FROM blocked_emails b WHERE b.email = s.email);",
                kind="sql"),
        # A one-off migration statement runs once, alone.
        Example("INSERT INTO customers (email, name)\n"
                "SELECT 'admin@example.com', 'Admin'\n"
                "WHERE NOT EXISTS (SELECT 1 FROM customers WHERE email = 'admin@example.com');",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The check guards an error, not an insert.
        Example("CREATE FUNCTION must_exist(p_email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    RAISE EXCEPTION 'unknown customer %', p_email;\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # A DO block runs once.
        Example("DO $$\nBEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = 'ops@example.com') THEN\n"
                "    INSERT INTO customers (email, name) VALUES ('ops@example.com', 'Ops');\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The guarded insert writes another table.
        Example("CREATE FUNCTION audit_new(p_email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    INSERT INTO audit_log (message) VALUES ('unknown ' || p_email);\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
    )
    INVALID = (
        # IF NOT EXISTS ... THEN INSERT with a unique constraint: exact shape, unsafe fix.
        Example("CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void\n"
                "LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    INSERT INTO customers (email, name) VALUES (p_email, p_name);\n"
                "  END IF;\n"
                "END $$;",
                fixed="CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void\n"
                      "LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n"
                      "  INSERT INTO customers (email, name) VALUES (p_email, p_name)"
                      " ON CONFLICT (email) DO NOTHING;\n"
                      "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # No unique constraint on the lookup columns: display, with the index it needs.
        Example("CREATE FUNCTION add_tag(p_tenant int, p_label text) RETURNS void\n"
                "LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM tags\n"
                "                 WHERE tenant_id = p_tenant AND label = p_label) THEN\n"
                "    INSERT INTO tags (tenant_id, label) VALUES (p_tenant, p_label);\n"
                "  END IF;\n"
                "END $$;",
                context={"migrations/V1__tags.sql": _TAGS}),
        # SELECT ... INTO; IF NOT FOUND THEN INSERT: the record is used after, so display.
        Example("CREATE FUNCTION customer_id(p_email text) RETURNS bigint\n"
                "LANGUAGE plpgsql AS $$\n"
                "DECLARE v_id bigint;\n"
                "BEGIN\n"
                "  SELECT id INTO v_id FROM customers WHERE email = p_email;\n"
                "  IF NOT FOUND THEN\n"
                "    INSERT INTO customers (email) VALUES (p_email) RETURNING id INTO v_id;\n"
                "  END IF;\n"
                "  RETURN v_id;\n"
                "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # INSERT ... WHERE NOT EXISTS on the same table, with a matching primary key.
        Example("INSERT INTO subscriptions (user_id, list_id)\n"
                "SELECT 42, 7\n"
                "WHERE NOT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = 42 AND list_id = 7)"
                "\nRETURNING user_id;",
                fixed="INSERT INTO subscriptions (user_id, list_id)\n"
                      "SELECT 42, 7 ON CONFLICT (user_id, list_id) DO NOTHING\n"
                      "RETURNING user_id;",
                kind="sql", context={"migrations/V1__subscriptions.sql": _SUBSCRIPTIONS}),
        # Same, without a unique constraint on the compared columns: display with the index.
        Example("INSERT INTO tags (tenant_id, label)\n"
                "SELECT 1, 'vip'\n"
                "WHERE NOT EXISTS (SELECT 1 FROM tags WHERE tenant_id = 1 AND label = 'vip');",
                kind="sql", context={"migrations/V1__tags.sql": _TAGS}),
        # A function parameter named like the key column: `ON CONFLICT (email)` would be
        # ambiguous in PL/pgSQL, so the fix names the constraint.
        Example("CREATE FUNCTION register(email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers c WHERE c.email = register.email) THEN\n"
                "    INSERT INTO customers (email) VALUES (register.email);\n"
                "  END IF;\n"
                "END $$;",
                fixed="CREATE FUNCTION register(email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n"
                      "  INSERT INTO customers (email) VALUES (register.email)"
                      " ON CONFLICT ON CONSTRAINT customers_email_key DO NOTHING;\n"
                      "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # An unknown table: the constraint is unknown, so display only.
        Example("INSERT INTO newsletter (email)\n"
                "SELECT $1\n"
                "WHERE NOT EXISTS (SELECT 1 FROM newsletter WHERE email = $1);", kind="sql"),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None or not runs_repeatedly(ctx, stmt):
            return
        if stmt.kind == "InsertStmt":
            found = _insert_where_not_exists(stmt)
        elif stmt.plpgsql_holder is None:
            return
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_if":
            found = _if_not_exists(ctx, stmt)
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_execsql":
            found = _select_into_not_found(ctx, stmt)
        else:
            return
        if found is None:
            return
        yield self._report(ctx, stmt, found)

    def _report(self, ctx: FileContext, stmt: Statement, check: Check) -> Finding:
        catalog = ctx.model.catalog
        bare = ctx.model.bare(check.table)
        cols = [c for c, _ in check.lookup]
        shown = ", ".join(cols)
        known = catalog.table(check.table) is not None
        keys = catalog.key_columns(check.table)
        lookup = set(cols)
        exact_key = next((i for i in unique_indexes(ctx, check.table) if set(i.columns) == lookup),
                         None)
        guarded = any(k <= lookup for k in keys)
        if exact_key is not None or guarded:
            key = shown if exact_key is not None else ", ".join(
                sorted(next(k for k in keys if k <= lookup)))
            message = (f"{check.shape} on `{bare}` races: concurrent callers both pass, one fails "
                       f"on unique ({key})")
            state = f"`{bare}` has a unique constraint on ({key})"
        elif known:
            message = (f"{check.shape} on `{bare}` races: concurrent callers both insert a "
                       f"duplicate (no unique constraint on {shown})")
            state = f"`{bare}` has no unique constraint on ({shown})"
        else:
            message = (f"{check.shape} on `{bare}` races: concurrent callers both insert "
                       f"(unique constraint on {shown} unknown)")
            state = f"pglint's catalog does not know `{bare}`: whether ({shown}) is unique is open"
        help = (f"{state}. The check and the insert are separate steps: under READ COMMITTED "
                "neither session sees the other's uncommitted row, so both pass the check. "
                "Only a UNIQUE constraint or index on the lookup columns settles the race; "
                "`INSERT ... ON CONFLICT (cols) DO NOTHING` uses it to skip an existing row "
                "atomically (`ON CONFLICT` needs a unique index or constraint on exactly those "
                "columns). With `DO NOTHING`, a skipped row is not returned by `RETURNING`: "
                "select it afterwards, or use `DO UPDATE SET col = EXCLUDED.col` to get it "
                "back (that writes a new row version).")
        fix = None
        if exact_key is not None and check.only_equalities and check.insert is not None:
            fix = _exact_fix(ctx, stmt, check, exact_key)
        if fix is None:
            fix = Fix.display("Rely on a unique constraint with INSERT ... ON CONFLICT",
                              _suggestion(ctx, check, exact_key is not None, known))
        return self.finding(ctx, stmt.start, stmt.end, message, fix, help)


# -- shapes --------------------------------------------------------------------------------------

def _insert_where_not_exists(stmt: Statement) -> Check | None:
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
        lookup = _lookup(sub, table)
        if lookup is None:
            continue
        return Check("`INSERT ... WHERE NOT EXISTS`", table, lookup[0],
                     lookup[1] and len(parts) == 1, stmt)
    return None


def _if_not_exists(ctx: FileContext, stmt: Statement) -> Check | None:
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
        sub = _exists(value)
        branch = "else_body"
    if sub is None:
        return None
    table = _single_table(sub)
    lookup = _lookup(sub, table) if table else None
    if lookup is None:
        return None
    insert = _insert_into(ctx, if_stmt.get(branch) or (), table)
    if insert is None:
        return None
    shape = "`IF NOT EXISTS` then `INSERT`" if branch == "then_body" \
        else "`IF EXISTS ... ELSE INSERT`"
    exact = (branch == "then_body" and lookup[1] and len(if_stmt.get("then_body") or ()) == 1
             and not if_stmt.get("else_body") and not if_stmt.get("elsif_list"))
    return Check(shape, table, lookup[0], exact, insert)


def _select_into_not_found(ctx: FileContext, stmt: Statement) -> Check | None:
    """PL/pgSQL `SELECT ... INTO ... FROM t WHERE ...; IF NOT FOUND THEN INSERT INTO t ...`."""
    _, execsql, _ = stmt.plpgsql_holder  # type: ignore[misc]
    if not execsql.get("into") or stmt.parent is None or stmt.parent.plpgsql is None:
        return None
    table = _single_table(stmt.body)
    if not table:
        return None
    lookup = _lookup(stmt.body, table)
    if lookup is None:
        return None
    place = _locate(stmt.parent.plpgsql, execsql)
    if place is None:
        return None
    siblings, i, _ = place
    following = siblings[i + 1] if i + 1 < len(siblings) else {}
    if_stmt = following.get("PLpgSQL_stmt_if") if isinstance(following, dict) else None
    if not if_stmt:
        return None
    cond = (if_stmt.get("cond") or {}).get("PLpgSQL_expr", {}).get("query", "")
    if not _NOT_FOUND.match(cond):
        return None
    insert = _insert_into(ctx, if_stmt.get("then_body") or (), table)
    if insert is None:
        return None
    # The SELECT's INTO target is used after the IF: rewriting it is a judgement call.
    return Check("`SELECT INTO`, `IF NOT FOUND` then `INSERT`", table, lookup[0], False, insert)


def _exists(node: dict[str, Any]) -> dict[str, Any] | None:
    link = node.get("SubLink")
    if link and link.get("subLinkType") == "EXISTS_SUBLINK":
        return (link.get("subselect") or {}).get("SelectStmt")
    return None


def _not_exists(node: dict[str, Any]) -> dict[str, Any] | None:
    """The subquery of `NOT EXISTS (subquery)`."""
    expr = node.get("BoolExpr")
    if not expr or expr.get("boolop") != "NOT_EXPR" or len(expr.get("args") or ()) != 1:
        return None
    return _exists(expr["args"][0])


def _single_table(select: dict[str, Any]) -> str | None:
    items = select.get("fromClause") or ()
    if len(items) != 1 or "RangeVar" not in items[0]:
        return None
    return n.relation_name(items[0]["RangeVar"])


def _lookup(select: dict[str, Any], table: str
            ) -> tuple[list[tuple[str, dict[str, Any]]], bool] | None:
    """The `col = value` conjuncts of a lookup on `table` (and whether that is all it has)."""
    items = select.get("fromClause") or ()
    if len(items) != 1 or "RangeVar" not in items[0]:
        return None
    rangevar = items[0]["RangeVar"]
    if n.relation_name(rangevar) != table:
        return None
    alias = (rangevar.get("alias") or {}).get("aliasname") or rangevar.get("relname")
    parts = n.conjuncts(select.get("whereClause"))
    found: list[tuple[str, dict[str, Any]]] = []
    for part in parts:
        eq = _inner_equality(part, alias)
        if eq is not None and eq[0] not in (c for c, _ in found):
            found.append(eq)
    if not found:
        return None
    return found, len(found) == len(parts) and not select.get("groupClause")


def _inner_equality(node: dict[str, Any], alias: str) -> tuple[str, dict[str, Any]] | None:
    """`col = value` where `col` is a column of the lookup's table (qualified by its alias or
    not qualified) and `value` is anything else."""
    expr = node.get("A_Expr")
    if not expr or expr.get("kind") != "AEXPR_OP" or n.operator(expr) != "=":
        return None
    sides = [expr.get("lexpr") or {}, expr.get("rexpr") or {}]
    for own, other in (sides, sides[::-1]):
        ref = own.get("ColumnRef")
        if not ref:
            continue
        parts = n.names(ref.get("fields"))
        if len(parts) == 1 or (len(parts) == 2 and parts[0] == alias):
            other_ref = other.get("ColumnRef")
            other_parts = n.names(other_ref.get("fields")) if other_ref else []
            if len(parts) == 1 and len(other_parts) == 2 and other_parts[0] == alias:
                continue  # `x = t.col`: the qualified side is the table's
            return parts[-1], other
    return None


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


def _locate(tree: Any, target: dict[str, Any]) -> tuple[list, int, dict | None] | None:
    """The PL/pgSQL statement list holding `target` (a statement's fields), its index there, and
    the fields of the PL/pgSQL statement that owns the list (an IF for `then_body`)."""
    stack: list[tuple[Any, dict | None]] = [(tree, None)]
    while stack:
        item, owner = stack.pop()
        if isinstance(item, list):
            for i, child in enumerate(item):
                if isinstance(child, dict) and len(child) == 1 and \
                        next(iter(child.values())) is target:
                    return item, i, owner
            stack.extend((child, owner) for child in item if isinstance(child, (dict, list)))
        elif isinstance(item, dict):
            for key, value in item.items():
                if key != "datums" and isinstance(value, (dict, list)):
                    stack.append((value, item))
    return None


def guarded_by_check(ctx: FileContext, stmt: Statement) -> bool:
    """True for a PL/pgSQL INSERT that sits in an `IF` testing `EXISTS` or `FOUND`: the insert
    is the act of a check-then-act, which this rule reports."""
    holder = stmt.plpgsql_holder
    if holder is None or holder[0] != "PLpgSQL_stmt_execsql" or stmt.parent is None \
            or stmt.parent.plpgsql is None:
        return False
    place = _locate(stmt.parent.plpgsql, holder[1])
    if place is None or place[2] is None:
        return False
    owner = place[2]
    if place[0] is not owner.get("then_body") and place[0] is not owner.get("else_body"):
        return False
    cond = (owner.get("cond") or {}).get("PLpgSQL_expr", {}).get("query", "").lower()
    table = n.relation_name(stmt.body.get("relation")) or ""
    return bool(_NOT_FOUND.match(cond)) or ("exists" in cond and table.split(".")[-1] in cond)


# -- fixes ---------------------------------------------------------------------------------------

def unique_indexes(ctx: FileContext, table: str) -> list[Index]:
    """Non-partial unique indexes and constraints on plain columns, primary key first."""
    found = [i for i in ctx.model.catalog.indexes_on(table)
             if (i.unique or i.primary) and not i.partial and all(i.columns)]
    return sorted(found, key=lambda i: not i.primary)


def plpgsql_variables(stmt: Statement) -> set[str]:
    """Names of the variables and parameters of the PL/pgSQL body holding `stmt`."""
    tree = stmt.parent.plpgsql if stmt.parent is not None else None
    out: set[str] = set()
    for function in tree or ():
        for datum in (function.get("PLpgSQL_function") or {}).get("datums") or ():
            for fields in datum.values():
                name = fields.get("refname") if isinstance(fields, dict) else None
                if name:
                    out.add(name.lower())
    return out


def conflict_target(stmt: Statement, index: Index) -> str | None:
    """`(cols)` for ON CONFLICT, or `ON CONSTRAINT name` where a PL/pgSQL variable of the same
    name as a key column would make `(cols)` ambiguous; None when neither works."""
    columns = [c for c in index.columns if c]
    if stmt.parent is not None and set(c.lower() for c in columns) & plpgsql_variables(stmt):
        if index.constraint and len(index.name) <= _MAX_IDENT:
            return f"ON CONSTRAINT {n.quote_ident(index.name)}"
        return None
    return "(" + ", ".join(n.quote_ident(c) for c in columns) + ")"


def conflict_point(ctx: FileContext, stmt: Statement) -> int:
    """Where `ON CONFLICT ...` goes in an INSERT: before a top-level RETURNING, else at its end."""
    if has_returning(stmt.body):
        depth = 0
        for token in ctx.tokens(stmt):
            if token.name == "ASCII_40":
                depth += 1
            elif token.name == "ASCII_41":
                depth -= 1
            elif depth == 0 and token.name == "RETURNING":
                return _end_of_previous(ctx, stmt, token.start)
    return stmt.end


def has_returning(body: dict[str, Any]) -> bool:
    return bool(n.returning(body))


def _end_of_previous(ctx: FileContext, stmt: Statement, offset: int) -> int:
    previous = [t for t in ctx.tokens(stmt) if t.end <= offset and not t.name.endswith("COMMENT")]
    return previous[-1].end if previous else offset


def _values_match(ctx: FileContext, insert: Statement, lookup: list[tuple[str, dict]]) -> bool:
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


def _exact_fix(ctx: FileContext, stmt: Statement, check: Check, index: Index) -> Fix | None:
    insert = check.insert
    assert insert is not None
    if insert.body.get("onConflictClause") or not insert.exact or not stmt.exact or \
            not _values_match(ctx, insert, check.lookup):
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
    depth, close = 0, None
    for token in tokens:
        if token.start < not_at:
            continue
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
            if depth == 0:
                close = token.end
                break
    if close is None:
        return None
    start = _end_of_previous(ctx, stmt, where_token.start)
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


def _suggestion(ctx: FileContext, check: Check, has_key: bool, known: bool) -> str:
    bare = ctx.model.bare(check.table)
    cols = ", ".join(n.quote_ident(c) for c, _ in check.lookup)
    lines = []
    if not has_key:
        index = f"{bare}_{'_'.join(c for c, _ in check.lookup)}_key"[:_MAX_IDENT]
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
        lines.append(text + ";")
    else:
        lines.append(f"INSERT INTO {check.table} ({cols}, ...) VALUES (...)\n"
                     f"ON CONFLICT ({cols}) DO NOTHING;")
    if check.shape.startswith("`SELECT"):
        lines.append("-- DO NOTHING returns no row on a conflict: when nothing was inserted,\n"
                     "-- read the existing row with the SELECT.")
    return "\n".join(lines)
