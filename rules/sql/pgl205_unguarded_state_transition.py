"""PGL205 unguarded-state-transition."""

from __future__ import annotations

from typing import Any, Iterable, Iterator

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

STATE_NAMES = {"status", "state", "phase", "stage"}
_ORDERS = ("CREATE TABLE orders (order_id bigserial PRIMARY KEY, status text NOT NULL DEFAULT "
           "'new',\n    shipped_at timestamptz);")
_PARCELS = ("CREATE TYPE parcel_lifecycle AS ENUM ('placed', 'packed', 'sent', 'delivered');\n"
            "CREATE TABLE parcels (parcel_id bigint PRIMARY KEY,\n"
            "    lifecycle parcel_lifecycle NOT NULL DEFAULT 'placed');")


class UnguardedStateTransition(Rule):
    """
    ## What it does
    Flags an `UPDATE` that sets a state column — named `status`, `state`, `phase`, `stage` (or
    `..._status`), or typed by an enum from `CREATE TYPE ... AS ENUM` — whose `WHERE` does not
    constrain the column's prior value, in application SQL and function bodies (statements that
    run over and over, not one-off migration statements).

    It stays silent when the `WHERE` tests the same column (`AND status = 'paid'`,
    `status IN (...)`, `status <> 'cancelled'`), or when the new value is computed from the old
    one (`SET status = CASE WHEN status = ... END`).

    ## Why is this bad?
    Requests race and get retried. Without the prior state in the `WHERE`, every transition
    succeeds from any state: a "ship" that arrives after a "cancel" ships the cancelled order, a
    retried request applies its transition twice, and nothing tells the caller. With the guard
    the `UPDATE` is a compare-and-set: under READ COMMITTED a concurrent writer's change is
    re-checked once its row lock is released, so exactly one conflicting transition wins, and
    0 rows affected means the transition was invalid.

    ## Example
    ```sql
    UPDATE orders SET status = 'shipped', shipped_at = now() WHERE order_id = $1;
    ```

    ## Use instead
    ```sql
    UPDATE orders SET status = 'shipped', shipped_at = now()
    WHERE order_id = $1 AND status = 'paid';
    -- check the affected row count: 0 means the transition was invalid
    ```

    ## Fix safety
    Display only: which prior states allow the transition is business logic, and the caller
    must handle 0 affected rows. pglint guesses the prior state from the enum's order, the
    guarded transitions of the same file, or the column's default.
    """

    code = "PGL205"
    name = "unguarded-state-transition"
    summary = "UPDATE of a state column without checking the prior state"
    section = "40.2.2 Idempotency Patterns"
    node_types = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})

    VALID = (
        # The chapter's state machine.
        Example("UPDATE orders\nSET status = 'shipped', shipped_at = now()\n"
                "WHERE order_id = 123\n  AND status = 'paid';", kind="sql",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("UPDATE orders SET status = 'cancelled' WHERE order_id = $1\n"
                "  AND status IN ('new', 'paid');", kind="sql"),
        Example("UPDATE orders SET status = 'archived' WHERE order_id = $1 AND status <> 'open';",
                kind="sql"),
        Example("UPDATE jobs SET state = CASE WHEN state = 'failed' THEN 'queued' ELSE state END\n"
                "WHERE job_id = $1;", kind="sql"),
        # A one-off data fix in a migration.
        Example("UPDATE orders SET status = 'new' WHERE order_id = 1;",
                context={"migrations/V1__orders.sql": _ORDERS}),
        Example("UPDATE orders SET shipped_at = now() WHERE order_id = $1;", kind="sql"),
        # The state of another table in a subquery is no guard, but this sets no state column.
        Example("UPDATE parcels SET parcel_id = parcel_id WHERE parcel_id = $1;", kind="sql",
                context={"migrations/V1__parcels.sql": _PARCELS}),
    )
    INVALID = (
        Example("UPDATE orders SET status = 'paid' WHERE order_id = $1 AND status = 'new';\n"
                "UPDATE orders SET status = 'shipped' WHERE order_id = $1;", kind="sql",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # An enum-typed column, whatever its name.
        Example("UPDATE parcels SET lifecycle = 'sent' WHERE parcel_id = $1;", kind="sql",
                context={"migrations/V1__parcels.sql": _PARCELS}),
        Example("CREATE FUNCTION ship(p_order bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  UPDATE orders SET status = 'shipped', shipped_at = now() WHERE order_id = p_order;\n"
                "END $$;", context={"migrations/V1__orders.sql": _ORDERS}),
        Example("UPDATE jobs SET job_status = $2 WHERE job_id = $1;", kind="sql"),
        # A guard on another table's status is not a guard on this row's.
        Example("UPDATE orders SET status = 'paid'\n"
                "WHERE order_id IN (SELECT order_id FROM payments WHERE status = 'settled');",
                kind="sql"),
        Example("UPDATE sessions SET state = 'expired' WHERE expires_at < now();", kind="sql"),
    )

    def check(self, node: dict[str, Any], ctx: FileContext) -> Iterable[Finding]:
        stmt = ctx.stmt
        if stmt is None or not runs_repeatedly(ctx, stmt):
            return
        table = n.relation_name(node.get("relation"))
        if not table:
            return
        alias = ((node.get("relation") or {}).get("alias") or {}).get("aliasname")
        qualifiers = {None, ctx.model.bare(table), alias}
        where = node.get("whereClause")
        for target in node.get("targetList", ()):
            res = target.get("ResTarget", {})
            column = res.get("name")
            if not column or not _is_state_column(ctx, table, column):
                continue
            if _mentions(res.get("val"), column, qualifiers) or \
                    _mentions(where, column, qualifiers):
                continue
            yield self._finding(ctx, stmt, node, table, column, res.get("val"))
            return

    def _finding(self, ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str,
                 column: str, value: dict[str, Any] | None) -> Finding:
        new = n.sql_literal(value)
        shown = new if new != "..." else "a new value"
        message = (f"Sets state column `{column}` to {shown} without checking its prior value, "
                   f"so an invalid transition succeeds silently")
        prior, why = _prior_state(ctx, stmt, table, column, new)
        help = (
            "Requests race and get retried. Without the prior state in the WHERE, the "
            "transition succeeds from any state: a late request can, say, ship an order that "
            "was cancelled meanwhile, and a retry applies it again, with nothing telling the "
            "caller. Guarding the WHERE with the expected prior state makes the UPDATE a "
            "compare-and-set: under READ COMMITTED a concurrent writer's change is re-checked "
            "once its row lock is released, so exactly one conflicting transition wins, and 0 "
            f"rows affected means the transition was invalid. {why}")
        fix = Fix.display(f"Check the prior `{column}` in the WHERE and the affected row count",
                          _guarded(ctx, stmt, node, column, prior))
        return self.finding(ctx, stmt.start, stmt.end, message, fix, help)


def _is_state_column(ctx: FileContext, table: str, column: str) -> bool:
    name = column.lower()
    if name in STATE_NAMES or name.endswith("_status"):
        return True
    known = ctx.model.catalog.table(table)
    col = known.columns.get(column) if known else None
    return col is not None and col.type in getattr(ctx.model.catalog, "enums", {})


def _mentions(node: Any, column: str, qualifiers: set[str | None]) -> bool:
    """A reference to the updated row's `column` under node, not counting subqueries."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "SubLink" in item:
                stack.append(item["SubLink"].get("testexpr"))
                continue
            if "ColumnRef" in item:
                parts = n.names(item["ColumnRef"].get("fields"))
                if parts and parts[-1] == column and \
                        (len(parts) == 1 or parts[-2] in qualifiers):
                    return True
                continue
            stack.extend(v for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _transitions(ctx: FileContext, table: str, column: str) -> Iterator[tuple[str, str]]:
    """(prior, new) literal pairs of the file's guarded transitions of `table.column`."""
    for other in ctx.all_statements():
        if other.kind != "UpdateStmt" or n.relation_name(other.body.get("relation")) != table:
            continue
        new = next((n.sql_literal(t["ResTarget"].get("val")) for t in other.body.get(
            "targetList", ()) if t.get("ResTarget", {}).get("name") == column), None)
        if not new or new == "...":
            continue
        for cond in n.conjuncts(other.body.get("whereClause")):
            eq = n.equality(cond)
            if eq and eq[0] == column and n.constant(eq[1])[0]:
                yield n.sql_literal(eq[1]), new


def _column_default(ctx: FileContext, table: str, column: str) -> str | None:
    known = ctx.model.catalog.table(table)
    col = known.columns.get(column) if known is not None else None
    return (col.default_sql or None) if col is not None else None


def _prior_state(ctx: FileContext, stmt: Statement, table: str, column: str,
                 new: str) -> tuple[str, str]:
    """A guess at the state the transition leaves, and why it was guessed."""
    known = ctx.model.catalog.table(table)
    col = known.columns.get(column) if known else None
    labels = getattr(ctx.model.catalog, "enums", {}).get(col.type) if col else None
    if labels:
        quoted = ["'" + v.replace("'", "''") + "'" for v in labels]
        listed = ", ".join(quoted)
        if new in quoted and quoted.index(new) > 0:
            return quoted[quoted.index(new) - 1], (
                f"The prior state shown is the label before {new} in the enum "
                f"({listed}): list the states this transition may really leave.")
        return quoted[0], f"The enum's states are {listed}: list those this transition may leave."
    edges = [(a, b) for a, b in _transitions(ctx, table, column) if b != new]
    if edges:
        sources = {a for a, _ in edges}
        reached = [b for _, b in edges if b not in sources] or [b for _, b in edges]
        return reached[-1], (f"The prior state shown is where this file's guarded transitions "
                             f"of `{column}` lead ({reached[-1]}): adjust it to your state machine.")
    default = _column_default(ctx, table, column)
    if default and default != new:
        return default, (f"The prior state shown is `{column}`'s default ({default}): adjust it "
                         "to your state machine.")
    return "'<prior state>'", "Write the state(s) this transition may leave."


def _guarded(ctx: FileContext, stmt: Statement, node: dict[str, Any], column: str,
             prior: str) -> str:
    tokens = ctx.tokens(stmt)
    depth, returning = 0, None
    for i, t in enumerate(tokens):
        if t.name == "ASCII_40":
            depth += 1
        elif t.name == "ASCII_41":
            depth -= 1
        elif depth == 0 and t.name == "RETURNING":
            returning = i
            break
    last = tokens[(returning if returning is not None else len(tokens)) - 1]
    text = ctx.text[stmt.start:last.end]
    tail = ctx.text[last.end:stmt.end]
    where = node.get("whereClause")
    guard = f"{n.quote_ident(column)} = {prior}"
    if where is None:
        text += f"\nWHERE {guard}"
    elif "BoolExpr" in where and where["BoolExpr"].get("boolop") == "OR_EXPR":
        at = next(t for t in tokens if t.name == "WHERE" and t.start >= stmt.start)
        head = ctx.text[stmt.start:at.end]
        text = f"{head} ({ctx.text[at.end:last.end].strip()})\n  AND {guard}"
    else:
        text += f"\n  AND {guard}"
    text += tail
    if stmt.parent is not None and stmt.parent.plpgsql is not None:  # a PL/pgSQL body
        return (text + ";\nIF NOT FOUND THEN\n"
                f"    RAISE EXCEPTION 'invalid transition: {column} was not {prior.strip(chr(39))}';\n"
                "END IF;")
    return (text + ";\n-- Check the affected row count: 0 means the transition was invalid "
            "(wrong prior state, or no such row).")
