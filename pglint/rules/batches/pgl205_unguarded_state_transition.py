"""PGL205 unguarded-state-transition."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable, Iterator

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.kit.orm import (
    Chain,
    call_args,
    django_model,
    imports_orm,
    method_chain,
    object_origin,
    plain_string,
    saved_names,
    snippet,
    sqlalchemy_update,
    statement_values,
    walk,
)
from pglint.kit.roles import runs_once
from pglint.kit.state_machines import (
    attribute_mentions,
    cte_guarded,
    django_guarded_update,
    django_mentions,
    loaded_by_state,
    mentions,
    set_or_tested_before,
    sql_guarded_update,
    sqlalchemy_guarded_update,
    sqlalchemy_transitions,
    state_literal,
)
from pglint.kit.sql_tokens import first_top_level
from pglint.kit.triggers import in_trigger_function
from pglint.model.catalog import Column
from pglint.python.pyfile import PythonFile, is_int
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

STATE_NAMES = {"status", "state", "phase", "stage"}
# No prior state could be guessed: no fix is shown (a placeholder is not a state).
PLACEHOLDER = "'<prior state>'"
_ORDERS = ("CREATE TABLE orders (order_id bigserial PRIMARY KEY, status text NOT NULL DEFAULT "
           "'new',\n    shipped_at timestamptz);")
_DJANGO_ORDERS = {
    "app/models.py": ("from django.db import models\n\n\n"
                      "class Order(models.Model):\n"
                      "    status = models.TextField(default=\"new\")\n"
                      "    shipped_at = models.DateTimeField(null=True)\n\n"
                      "    class Meta:\n"
                      "        db_table = \"orders\"\n"),
    "migrations/V1__orders.sql": _ORDERS,
}
_SA_ORDERS = {
    "app/models.py": ("from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
                      "class Base(DeclarativeBase):\n"
                      "    pass\n\n\n"
                      "class Order(Base):\n"
                      "    __tablename__ = \"orders\"\n"
                      "    order_id: Mapped[int] = mapped_column(primary_key=True)\n"
                      "    status: Mapped[str] = mapped_column(default=\"new\")\n"),
    "migrations/V1__orders.sql": _ORDERS,
}
_PARCELS = ("CREATE TYPE parcel_lifecycle AS ENUM ('placed', 'packed', 'sent', 'delivered');\n"
            "CREATE TABLE parcels (parcel_id bigint PRIMARY KEY,\n"
            "    lifecycle parcel_lifecycle NOT NULL DEFAULT 'placed');")


class UnguardedStateTransition(Rule):
    """
    ## What it does
    Flags an `UPDATE` that moves a state column — named `status`, `state`, `phase`, `stage` (or
    `..._status`), or typed by an enum from `CREATE TYPE ... AS ENUM` — to one known state (a
    literal) while its `WHERE` does not constrain the column's prior value, in application SQL
    and function bodies (statements that run over and over, not one-off migration statements),
    when another run-time `UPDATE` of the same file does check the prior value of that column.
    That other write is the evidence that the column is a state machine whose transitions the
    project guards; a column's name is not.

    It stays silent when the `WHERE` tests the same column (`AND status = 'paid'`,
    `status IN (...)`, `status <> 'cancelled'`), when the new value is computed from the old
    one (`SET status = CASE WHEN status = ... END`), when the rows come from a CTE that tests
    the state and locks them (`WITH c AS (SELECT ... WHERE status = 'todo' ... FOR UPDATE SKIP
    LOCKED) UPDATE ... FROM c`: a claim), when the new value is a parameter, a lookup or `NULL`
    (a generic setter or a reset, where any state may follow any other), and when no write of
    the file checks the column's prior state (an unsubscribe, an admin's review status, a
    mirror of another system's lifecycle).

    In Python: Django `M.objects.filter(pk=x).update(status="shipped")` with no `status=` /
    `status__in=` (or any `status__...` lookup, `exclude(status=...)`, `Q(status=...)`) in the
    queryset; `obj.status = "shipped"` followed by `obj.save()` in the same function (the prior
    state was read without a lock and is not checked by the write); SQLAlchemy
    `update(M).where(M.id == x).values(status=...)` (or `update(t)`, `t.update()`) without
    `M.status` in the `where`; each only when the file has a guarded update of the same model's
    column (`filter(status=...).update(status=...)`, `where(M.status == ...)`) and the new
    state is a literal or a choices member (`Order.Status.SHIPPED`), not a variable. It stays
    silent on objects created in the function, on objects loaded with `select_for_update()`
    whose state the function tests before changing it, on a function that tests
    `obj.status` before the assignment or set it earlier itself (a task's success and failure
    paths after it marked the object as processing), on plain Python objects (no `save()`),
    and in Django data migrations and Alembic revisions.

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
    ```python
    order = Order.objects.get(pk=order_id)
    order.status = "shipped"
    order.save()
    ```

    ## Use instead
    ```sql
    UPDATE orders SET status = 'shipped', shipped_at = now()
    WHERE order_id = $1 AND status = 'paid';
    -- check the affected row count: 0 means the transition was invalid
    ```
    ```python
    updated = Order.objects.filter(pk=order_id, status="paid").update(status="shipped")
    if updated == 0:
        raise InvalidTransition(order_id)  # not "paid", or no such order
    ```
    In SQLAlchemy, add `Order.status == "paid"` to the `where` and test the result's
    `rowcount`.

    ## Fix safety
    Display only: which prior states allow the transition is business logic, and the caller
    must handle 0 affected rows. pglint guesses the prior state from the enum's order, the
    guarded transitions of the same file, or the column's default, and shows the ORM call to
    write in Python files; with no guess, it shows no fix (a placeholder is not a state).
    """

    code = "PGL205"
    name = "unguarded-state-transition"
    summary = "UPDATE of a state column without checking the prior state"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 8 sampled findings on real repositories (two rounds: "
        "generic setters and admin actions); since it needs a file whose other writes guard "
        "the state it fires on none of the 35 corpus repositories, so it is not measured again"
    )
    references = (
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
        "https://www.postgresql.org/docs/current/sql-update.html",
    )
    statements = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = (ast.Call, ast.Assign)
    # update(...) forms may set an enum-typed column of any name; save() forms need a state word.
    # A state column given a value, and a write: a manager's update(), save(), update(Model).
    python_hint = (("status", "state", "phase", "stage"),
                   re.compile(r"(?:status|state|phase|stage)\s*=(?!=)\s*(?:['\"]|[A-Z])"),
                   re.compile(r"\.objects\.|\.save\(|\bupdate\(\s*[A-Z]\w*\s*\)|\.update\(\)"))

    VALID = (
        # A trigger copying the new row's state: part of the write that fired it.
        Example("CREATE FUNCTION mirror_status() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE order_summaries SET status = NEW.status WHERE order_id = NEW.order_id;\n"
                "  RETURN NEW;\nEND $$;",
                context={"migrations/V1__orders.sql": _ORDERS +
                         "\nCREATE TABLE order_summaries (order_id bigint PRIMARY KEY, "
                         "status text NOT NULL DEFAULT 'new');"}),
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
        # A generic setter (the new state is a parameter), a lookup and a reset: no transition
        # from one known state to another.
        Example("UPDATE jobs SET job_status = $2 WHERE job_id = $1;\n"
                "UPDATE jobs SET job_status = 'done' WHERE job_id = $1 AND job_status = 'running';\n"
                "UPDATE jobs SET job_status = (SELECT code FROM job_codes WHERE name = $2)\n"
                "WHERE job_id = $1;\n"
                "UPDATE jobs SET job_status = NULL WHERE job_id = $1;", kind="sql"),
        # A claim: the CTE tests the prior state and locks the rows the UPDATE joins on.
        Example("WITH picked AS (\n"
                "  SELECT id FROM tasks WHERE status = 'queued' ORDER BY id LIMIT 10\n"
                "  FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE tasks SET status = 'running' FROM picked WHERE tasks.id = picked.id;\n"
                "WITH picked AS (\n"
                "  SELECT id FROM tasks WHERE status = 'running' AND lease < now() LIMIT 10\n"
                "  FOR UPDATE SKIP LOCKED\n)\n"
                "UPDATE tasks SET status = 'queued' WHERE id IN (SELECT id FROM picked);",
                kind="sql"),
        # No write of the file checks the column's prior state: a status any state may move to
        # (an unsubscribe, an admin's review), not a guarded state machine. Skipping the rows
        # that already hold the new value only avoids a rewrite.
        Example("UPDATE subscriptions SET status = 'unsubscribed', updated_at = now()\n"
                "WHERE subscriber_id = $1;\n"
                "UPDATE subscriptions SET status = 'unsubscribed' WHERE list_id = $1\n"
                "  AND status <> 'unsubscribed';", kind="sql"),
        # The state of another table in a subquery is no guard, but this sets no state column.
        Example("UPDATE parcels SET parcel_id = parcel_id WHERE parcel_id = $1;", kind="sql",
                context={"migrations/V1__parcels.sql": _PARCELS}),
        # Python: the prior state in the queryset or the where clause.
        Example("from app.models import Order\n\n\n"
                "def ship(order_id):\n"
                "    Order.objects.filter(pk=order_id, status=\"paid\").update(status=\"shipped\")\n"
                "    Order.objects.filter(pk=order_id, status__in=[\"new\", \"paid\"]).update(\n"
                "        status=\"cancelled\")\n"
                "    Order.objects.filter(pk=order_id).exclude(status=\"open\").update(\n"
                "        status=\"archived\")\n", kind="python", context=_DJANGO_ORDERS),
        Example("from sqlalchemy import update\n\nfrom app.models import Order\n\n\n"
                "def ship(session, order_id):\n"
                "    session.execute(update(Order).where(Order.order_id == order_id,\n"
                "                                        Order.status == \"paid\")\n"
                "                    .values(status=\"shipped\"))\n",
                kind="python", context=_SA_ORDERS),
        # Locked, and the prior state tested before the change.
        Example("from django.db import transaction\n\nfrom app.models import Order\n\n\n"
                "def ship(order_id):\n"
                "    with transaction.atomic():\n"
                "        order = Order.objects.select_for_update().get(pk=order_id)\n"
                "        if order.status != \"paid\":\n"
                "            raise ValueError(order.status)\n"
                "        order.status = \"shipped\"\n"
                "        order.save()\n", kind="python", context=_DJANGO_ORDERS),
        # No write of the file guards the column: a lifecycle mirror or a setter, where any
        # state may follow any other (a task-started signal handler, say).
        Example("from app.models import Order\n\n\n"
                "def on_shipped(order_id):\n"
                "    Order.objects.filter(pk=order_id).update(status=\"shipped\")\n",
                kind="python", context=_DJANGO_ORDERS),
        # With a guarded transition in the file: a generic setter, the owning task's own
        # success and failure paths after it set the state, and a prior state tested first.
        Example("from django.db import transaction\n\nfrom app.models import Order\n\n\n"
                "def pay(order_id):\n"
                "    Order.objects.filter(pk=order_id, status=\"new\").update(status=\"paid\")\n\n\n"
                "def set_status(order_id, new_status):\n"
                "    order = Order.objects.get(pk=order_id)\n"
                "    order.status = new_status\n"
                "    order.save()\n\n\n"
                "def pack(order_id):\n"
                "    with transaction.atomic():\n"
                "        order = Order.objects.select_for_update().filter(status=\"paid\").get(\n"
                "            pk=order_id)\n"
                "        order.status = \"packing\"\n"
                "        order.save()\n"
                "    try:\n"
                "        build_parcel(order)\n"
                "        order.status = \"packed\"\n"
                "        order.save()\n"
                "    except Exception:\n"
                "        order.status = \"failed\"\n"
                "        order.save()\n\n\n"
                "def reopen(order_id):\n"
                "    order = Order.objects.get(pk=order_id)\n"
                "    if order.status in (\"new\", \"open\"):\n"
                "        return\n"
                "    order.status = \"open\"\n"
                "    order.save()\n\n\n"
                "def build_parcel(order):\n"
                "    pass\n", kind="python", context=_DJANGO_ORDERS),
        # A new row, and a plain object (the chapter's circuit breaker).
        Example("from app.models import Order\n\n\n"
                "def place():\n"
                "    order = Order()\n"
                "    order.status = \"new\"\n"
                "    order.save()\n", kind="python", context=_DJANGO_ORDERS),
        Example("class CircuitBreaker:\n"
                "    def on_success(self):\n"
                "        self.state = \"CLOSED\"\n"
                "        self.failures = 0\n", kind="python"),
    )
    INVALID = (
        Example("UPDATE orders SET status = 'paid' WHERE order_id = $1 AND status = 'new';\n"
                "UPDATE orders SET status = 'shipped' WHERE order_id = $1;", kind="sql",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # A pgtyped query file: the guard goes after the whole parameter name.
        Example("/* @name pay */\n"
                "UPDATE orders SET status = 'paid' WHERE order_id = :orderId! AND status = 'new';\n\n"
                "/* @name ship */\n"
                "UPDATE orders SET status = 'shipped' WHERE order_id = :orderId!\n"
                "RETURNING order_id;", kind="sql",
                context={"migrations/V1__orders.sql": _ORDERS}),
        # An enum-typed column, whatever its name.
        Example("UPDATE parcels SET lifecycle = 'packed' WHERE parcel_id = $1\n"
                "  AND lifecycle = 'placed';\n"
                "UPDATE parcels SET lifecycle = 'sent' WHERE parcel_id = $1;", kind="sql",
                context={"migrations/V1__parcels.sql": _PARCELS}),
        Example("CREATE FUNCTION pay(p_order bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  UPDATE orders SET status = 'paid' WHERE order_id = p_order AND status = 'new';\n"
                "END $$;\n"
                "CREATE FUNCTION ship(p_order bigint) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  UPDATE orders SET status = 'shipped', shipped_at = now() WHERE order_id = p_order;\n"
                "END $$;", context={"migrations/V1__orders.sql": _ORDERS}),
        # A guard on another table's status is not a guard on this row's.
        Example("UPDATE orders SET status = 'new' WHERE order_id = $1 AND status = 'draft';\n"
                "UPDATE orders SET status = 'paid'\n"
                "WHERE order_id IN (SELECT order_id FROM payments WHERE status = 'settled');",
                kind="sql"),
        # A CTE that tests the state without locking the rows is no guard: they may have moved.
        Example("WITH due AS (SELECT id FROM sessions WHERE state = 'active' AND expires_at < now())\n"
                "UPDATE sessions SET state = 'expired' FROM due WHERE sessions.id = due.id;\n"
                "UPDATE sessions SET state = 'closed' WHERE id = $1 AND state = 'active';",
                kind="sql"),
        # Python: Django queryset update, read-modify-write with save(), SQLAlchemy update().
        Example("from app.models import Order\n\n\n"
                "def pay(order_id):\n"
                "    Order.objects.filter(pk=order_id, status=\"new\").update(status=\"paid\")\n\n\n"
                "def ship(order_id):\n"
                "    Order.objects.filter(pk=order_id).update(status=\"shipped\")\n",
                kind="python", context=_DJANGO_ORDERS),
        Example("from django.utils import timezone\n\nfrom app.models import Order\n\n\n"
                "def pay(order_id):\n"
                "    Order.objects.filter(pk=order_id, status=\"new\").update(status=\"paid\")\n\n\n"
                "def ship(order_id):\n"
                "    order = Order.objects.get(pk=order_id)\n"
                "    order.status = \"shipped\"\n"
                "    order.shipped_at = timezone.now()\n"
                "    order.save()\n", kind="python", context=_DJANGO_ORDERS),
        Example("from sqlalchemy import update\n\nfrom app.models import Order\n\n\n"
                "def pay(session, order_id):\n"
                "    session.execute(update(Order).where(Order.order_id == order_id,\n"
                "                                        Order.status == \"new\")\n"
                "                    .values(status=\"paid\"))\n\n\n"
                "def ship(session, order_id):\n"
                "    session.execute(\n"
                "        update(Order).where(Order.order_id == order_id).values(status=\"shipped\"))\n",
                kind="python", context=_SA_ORDERS),
        Example("from sqlalchemy import Column, MetaData, Table, Text\n\n"
                "metadata = MetaData()\n"
                "orders = Table(\"orders\", metadata, Column(\"status\", Text))\n\n\n"
                "def pay(conn, order_id):\n"
                "    conn.execute(orders.update().where(orders.c.order_id == order_id,\n"
                "                                       orders.c.status == \"new\")\n"
                "                 .values(status=\"paid\"))\n\n\n"
                "def cancel(conn, order_id):\n"
                "    conn.execute(orders.update().where(orders.c.order_id == order_id)\n"
                "                 .values(status=\"cancelled\"))\n",
                kind="python", context={"migrations/V1__orders.sql": _ORDERS}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt) or in_trigger_function(stmt):
            return  # a trigger copies the state of the write that fired it
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
            if mentions(res.get("val"), column, qualifiers) or \
                    mentions(where, column, qualifiers):
                continue
            is_const, value = n.constant(res.get("val"))
            if not is_const or value is None:
                continue  # a parameter, a lookup or NULL: a generic setter or a reset
            if cte_guarded(node, table, column):
                continue  # the rows come from a CTE that tests the state and locks them
            sibling = sql_guarded_update(ctx, stmt, table, column)
            if sibling is None:
                continue  # no write of the file treats the column as a guarded state machine
            yield self._finding(ctx, stmt, node, table, column, res.get("val"), sibling)
            return

    def _finding(self, ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str,
                 column: str, value: dict[str, Any] | None, sibling: int) -> Finding:
        new = n.sql_literal(value)
        shown = new if new != "..." else "a new value"
        message = (f"Sets state column `{column}` to {shown} without checking its prior value, "
                   f"so an invalid transition succeeds silently")
        prior, why = _prior_state(ctx, table, column, new)
        help = (
            "Requests race and get retried. Without the prior state in the WHERE, the "
            "transition succeeds from any state: a late request can, say, ship an order that "
            "was cancelled meanwhile, and a retry applies it again, with nothing telling the "
            "caller. Guarding the WHERE with the expected prior state makes the UPDATE a "
            "compare-and-set: under READ COMMITTED a concurrent writer's change is re-checked "
            "once its row lock is released, so exactly one conflicting transition wins, and 0 "
            f"rows affected means the transition was invalid. Line {sibling} of this file "
            f"checks the prior `{column}` in its UPDATE; this one does not. {why}")
        fix = Fix.display(f"Check the prior `{column}` in the WHERE and the affected row count",
                          _guarded(ctx, stmt, node, column, prior)) if prior != PLACEHOLDER \
            else None
        return self.finding(ctx, message, fix, help, node=stmt)

    # -- Python forms ------------------------------------------------------------------------

    def check_python(self, node: ast.Call | ast.Assign, ctx: FileContext
                     ) -> Iterable[Finding]:
        code = ctx.python_file
        if isinstance(node, ast.Assign):
            found = self._saved_state(ctx, node)
        elif isinstance(node.func, ast.Attribute):
            if node.func.attr != "update":
                return
            if not (node.args or node.keywords) or (
                    code.call_name(node) or "").startswith("sqlalchemy."):
                found = self._sqlalchemy_update(ctx, node)  # t.update(), sa.update(M)
            elif any(k.arg is not None for k in node.keywords):
                found = self._django_update(ctx, node)
            else:
                return
        elif isinstance(node.func, ast.Name) and (node.args or node.keywords) \
                and (code.call_name(node) or "").rsplit(".", 1)[-1] == "update":
            found = self._sqlalchemy_update(ctx, node)
        else:
            return
        if found is not None and not runs_once(ctx):
            yield found

    def _django_update(self, ctx: FileContext, node: ast.Call) -> Finding | None:
        """`M.objects.filter(...).update(status=...)` without the prior status in the queryset."""
        code = ctx.python_file
        chain = method_chain(code, node)
        model = django_model(code, chain)
        if model is None or chain.outer is not node:
            return None
        queryset = [a for name, call in chain.steps[:-1] if name in ("filter", "exclude")
                    for a in call_args(call)]
        arguments = call_args(node)
        if any(a.star for a in (*queryset, *arguments)):
            return None  # **lookups: cannot tell
        table = ctx.model.orm_table(model)
        for arg in arguments:
            column = arg.keyword
            if column is None:
                return None  # update() takes keywords only
            if not _is_state_column(ctx, table, column) or any(
                    django_mentions(code, a, column) for a in (arg.value, *(
                        q.node for q in queryset))):
                continue
            sibling = django_guarded_update(code, model, column, skip=node)
            if not state_literal(arg.value) or sibling is None:
                continue  # a generic setter, or a column no write of the file guards
            new = _sql_value(code, arg.value)
            prior, why = _prior_state(ctx, table, column, new,
                                      _django_transitions(ctx, model, column))
            suggestion = _guarded_update(code, node, chain, column, prior) \
                if prior != PLACEHOLDER else None  # libcst parses only for a fix
            return self._python_finding(ctx, node, column, arg.value, why, suggestion,
                                        "update()", sibling)
        return None

    def _sqlalchemy_update(self, ctx: FileContext, node: ast.Call) -> Finding | None:
        """`update(M).where(M.id == x).values(status=...)` without `M.status` in the where."""
        code = ctx.python_file
        update = sqlalchemy_update(code, node, ctx.model.orm_table)
        if update is None:
            return None
        chain, entity, named, wheres = update
        table = ctx.model.orm_table(entity)
        for column, value in statement_values(code, chain):
            if not _is_state_column(ctx, table, column) or any(
                    attribute_mentions(w, column) for w in (value, *wheres)):
                continue
            sibling = sqlalchemy_guarded_update(code, entity, column, ctx.model.orm_table,
                                                skip=chain.outer)
            if not state_literal(value) or sibling is None:
                continue  # a generic setter, or a column no write of the file guards
            new = _sql_value(code, value)
            prior, why = _prior_state(ctx, table, column, new, sqlalchemy_transitions(
                code, entity, column, ctx.model.orm_table, lambda v: _sql_value(code, v)))
            suggestion = _guarded_statement(code, node, chain, named, column, prior) \
                if prior != PLACEHOLDER else None
            return self._python_finding(ctx, chain.outer, column, value, why, suggestion,
                                        "rowcount", sibling)
        return None

    def _saved_state(self, ctx: FileContext, node: ast.Assign) -> Finding | None:
        """`obj.status = "shipped"` then `obj.save()`: the prior state is never checked."""
        code = ctx.python_file
        if len(node.targets) != 1:
            return None
        target = node.targets[0]
        if not isinstance(target, ast.Attribute) or not isinstance(target.value, ast.Name):
            return None
        obj, column = target.value.id, target.attr
        if obj not in saved_names(code):
            return None  # cheap: no `obj.save()` anywhere in the file
        lowered = column.lower()
        if lowered not in STATE_NAMES and not lowered.endswith("_status") \
                and not ctx.model.catalog.enums:
            return None  # cheap: neither a state name nor any enum type to be typed by
        function = code.enclosing(node, ast.FunctionDef, ast.AsyncFunctionDef)
        if function is None:
            return None
        nodes = list(walk(function))
        at = next(i for i, item in enumerate(nodes) if item is node)
        save = next((item for item in nodes[at + 1:] if isinstance(item, ast.Call) and isinstance(
            item.func, ast.Attribute) and item.func.attr == "save" and isinstance(
            item.func.value, ast.Name) and item.func.value.id == obj), None)
        if save is None:
            return None
        origin = object_origin(code, function, obj, node, ctx.model.orm_table)
        if origin is None and not imports_orm(code, "django"):
            return None
        if origin is not None and (origin.fresh or origin.orm != "django"):
            return None
        table = ctx.model.orm_table(origin.model) if origin is not None and origin.model \
            else None
        if not _is_state_column(ctx, table, column) or not state_literal(node.value):
            return None  # a generic setter (`obj.status = new_status`) or a reset
        if set_or_tested_before(nodes, at, obj, column):
            return None  # the function tested the prior state, or owns it (set it earlier)
        sibling = django_guarded_update(code, origin.model, column) \
            if origin is not None and origin.model else None
        if sibling is None:
            return None  # no write of the file guards this column: no state machine in view
        read = any(isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name)
                   and item.value.id == obj and item.attr == column for item in nodes[:at])
        if origin is not None and origin.locked and (read or loaded_by_state(
                code, origin.source, column)):
            return None  # locked, and the state tested before the change (or by the query)
        new = _sql_value(code, node.value)
        model = origin.model if origin is not None else None
        prior, why = _prior_state(ctx, table, column, new,
                                  _django_transitions(ctx, model, column) if model else ())
        changes: dict[str, str] = {}
        for item in nodes[:nodes.index(save)]:
            if not isinstance(item, ast.Assign) or len(item.targets) != 1:
                continue
            changed = item.targets[0]
            if isinstance(changed, ast.Attribute) and isinstance(changed.value, ast.Name) \
                    and changed.value.id == obj:
                changes.setdefault(changed.attr, snippet(code, item.value))
        manager = f"{origin.local}.objects" if origin is not None and origin.local \
            else f"type({obj})._default_manager"
        sets = ", ".join(f"{k}={v}" for k, v in changes.items())
        suggestion = (f"updated = {manager}.filter(pk={obj}.pk, {column}={_py_value(prior)})"
                      f".update({sets})\n"
                      "if updated == 0:\n"
                      f"    ...  # `{column}` was not {_py_value(prior)} (or no such row): "
                      "the transition is invalid")
        return self._python_finding(ctx, node, column, node.value, why, suggestion, "save()",
                                    sibling)

    def _python_finding(self, ctx: FileContext, node: ast.AST, column: str, value: ast.expr,
                        why: str, suggestion: str | None, form: str, sibling: int) -> Finding:
        """The finding of a Python form; `suggestion` None where libcst could not render it."""
        code = ctx.python_file
        written = code.code(value).strip()
        shown = f"`{written}`" if len(written) <= 30 and "\n" not in written else "a new value"
        if form == "save()":
            target = code.code(node.targets[0]).strip()  # type: ignore[attr-defined]
            message = (f"`{target}` is set to {shown} and saved without checking the prior state, "
                       f"so an invalid transition succeeds silently")
        else:
            message = (f"Sets state column `{column}` to {shown} without checking its prior "
                       f"value, so an invalid transition succeeds silently")
        checked = {"save()": "the row count `update()` returns",
                   "update()": "the row count `update()` returns",
                   "rowcount": "the result's `rowcount`"}[form]
        help = (
            "Requests race and get retried. Without the prior state in the UPDATE's WHERE, the "
            "transition succeeds from any state: a late request can, say, ship an order that "
            "was cancelled meanwhile, and a retry applies it again, with nothing telling the "
            "caller. " + ("Reading the object and testing its state in Python does not help "
                          "without a lock: the state can change between the read and the save. "
                          if form == "save()" else "") +
            "Putting the expected prior state in the filter makes the UPDATE a compare-and-set: "
            "under READ COMMITTED a concurrent writer's change is re-checked once its row lock "
            f"is released, so exactly one conflicting transition wins, and {checked} is 0 when "
            f"the transition was invalid. Line {sibling} of this file checks the prior "
            f"`{column}` in its update; this one does not. {why}")
        fix = Fix.display(f"Check the prior `{column}` in the filter and the updated row count",
                          suggestion) if suggestion is not None and PLACEHOLDER[1:-1] not in \
            suggestion else None  # a placeholder is not a state
        return self.finding(ctx, message, fix, help, node=node)


def _is_state_column(ctx: FileContext, table: str | None, column: str) -> bool:
    name = column.lower()
    if name in STATE_NAMES or name.endswith("_status"):
        return True
    col = _column(ctx, table, column)
    return col is not None and col.type in ctx.model.catalog.enums


def _transitions(ctx: FileContext, table: str | None, column: str) -> Iterator[tuple[str, str]]:
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


def _column(ctx: FileContext, table: str | None, column: str) -> Column | None:
    known = ctx.model.catalog.table(table)
    return known.columns.get(column) if known is not None else None


def _prior_state(ctx: FileContext, table: str | None, column: str, new: str,
                 extra: Iterable[tuple[str, str]] = ()) -> tuple[str, str]:
    """A guess at the state the transition leaves, and why it was guessed (`extra`: more
    guarded (prior, new) transitions, from ORM code)."""
    col = _column(ctx, table, column)
    labels = ctx.model.catalog.enums.get(col.type) if col else None
    if labels:
        quoted = [n.quote_literal(v) for v in labels]
        listed = ", ".join(quoted)
        if new in quoted and quoted.index(new) > 0:
            return quoted[quoted.index(new) - 1], (
                f"The prior state shown is the label before {new} in the enum "
                f"({listed}): list the states this transition may really leave.")
        return quoted[0], f"The enum's states are {listed}: list those this transition may leave."
    edges = [(a, b) for a, b in (*_transitions(ctx, table, column), *extra) if b != new]
    if edges:
        sources = {a for a, _ in edges}
        reached = [b for _, b in edges if b not in sources] or [b for _, b in edges]
        return reached[-1], (f"The prior state shown is where this file's guarded transitions "
                             f"of `{column}` lead ({reached[-1]}): adjust it to your state machine.")
    default = (col.default_sql or None) if col is not None else None
    if default and default != new:
        return default, (f"The prior state shown is `{column}`'s default ({default}): adjust it "
                         "to your state machine.")
    return PLACEHOLDER, "Write the state(s) this transition may leave."


def _guarded(ctx: FileContext, stmt: Statement, node: dict[str, Any], column: str,
             prior: str) -> str:
    tokens = ctx.tokens(stmt)
    returning = first_top_level(tokens, "RETURNING")
    last = tokens[(returning if returning is not None else len(tokens)) - 1]
    end = last.end
    # A parameter masked for the parser (`:orderId!` read as `$1` and blanks) ends where the
    # text's does, not where its stand-in does: never write inside its name.
    while end < stmt.end and (ctx.text[end].isalnum() or ctx.text[end] in "_!"):
        end += 1
    text = ctx.text[stmt.start:end]
    tail = ctx.text[end:stmt.end]
    where = node.get("whereClause")
    guard = f"{n.quote_ident(column)} = {prior}"
    if where is None:
        text += f"\nWHERE {guard}"
    elif "BoolExpr" in where and where["BoolExpr"].get("boolop") == "OR_EXPR":
        at = next(t for t in tokens if t.name == "WHERE" and t.start >= stmt.start)
        head = ctx.text[stmt.start:at.end]
        text = f"{head} ({ctx.text[at.end:end].strip()})\n  AND {guard}"
    else:
        text += f"\n  AND {guard}"
    text += tail
    if stmt.parent is not None and stmt.parent.plpgsql is not None:  # a PL/pgSQL body
        return (text + ";\nIF NOT FOUND THEN\n"
                f"    RAISE EXCEPTION 'invalid transition: {column} was not {prior.strip(chr(39))}';\n"
                "END IF;")
    return (text + ";\n-- Check the affected row count: 0 means the transition was invalid "
            "(wrong prior state, or no such row).")


# -- Python helpers -----------------------------------------------------------------------------


def _sql_value(code: PythonFile, value: ast.AST) -> str:
    """A Python literal as SQL (for the prior-state guess), `...` for anything else."""
    text = plain_string(code, value)
    if text is not None:
        return n.quote_literal(text)
    if is_int(value):
        return code.code(value)
    return "..."


def _py_value(sql: str) -> str:
    """An SQL literal (or the `'<prior state>'` placeholder) as Python."""
    import json

    if len(sql) >= 2 and sql[0] == "'" and sql[-1] == "'":
        return json.dumps(sql[1:-1].replace("''", "'"), ensure_ascii=False)
    return sql.split("::")[0]


def _django_transitions(ctx: FileContext, model: str, column: str) -> Iterator[tuple[str, str]]:
    """(prior, new) SQL literal pairs of the file's guarded Django transitions of `model`."""
    code = ctx.python_file
    updates = [call for call in code.nodes(ast.Call)
               if isinstance(call.func, ast.Attribute) and call.func.attr == "update"]
    # In the order of the text (a chain's outer call first, as the walk found it).
    updates.sort(key=lambda call: (call.lineno, call.col_offset))
    for call in updates:
        new = next((_sql_value(code, a.value) for a in call_args(call) if a.keyword == column),
                   "...")
        if new == "...":
            continue
        chain = method_chain(code, call)
        if django_model(code, chain) != model:
            continue
        for filter_call in chain.calls("filter"):
            for arg in call_args(filter_call):
                if arg.keyword in (column, f"{column}__exact"):
                    prior = _sql_value(code, arg.value)
                    if prior != "...":
                        yield prior, new


# -- Python fixes: the call to write, rendered by libcst ------------------------------------


def _guarded_update(code: PythonFile, node: ast.Call, chain: Chain, column: str,
                    prior: str) -> str | None:
    """The Django update with `column=<prior>` in its (last) filter, and the row count test."""
    tree, update = code.fix_tree, code.cst_of(node)
    filters = [code.cst_of(call) for call in chain.calls("filter")[-1:]]
    if tree is None or update is None or any(f is None for f in filters):
        return None
    kw = tree.keyword(column, tree.cst.parse_expression(_py_value(prior)))
    if filters:
        guarded = update.deep_replace(filters[-1], tree.appended(filters[-1], kw))
    else:
        receiver = update.func.value
        guarded = update.with_changes(func=update.func.with_changes(value=tree.cst.Call(
            func=tree.cst.Attribute(value=receiver, attr=tree.cst.Name("filter")),
            args=[kw])))
    result = _assigned_name(code, node) or "updated"
    return (f"{result} = {tree.code(guarded).strip()}\n"
            f"if {result} == 0:\n"
            f"    ...  # `{column}` was not {_py_value(prior)} (or no such row): "
            "the transition is invalid")


def _guarded_statement(code: PythonFile, node: ast.Call, chain: Chain, named: ast.expr,
                       column: str, prior: str) -> str | None:
    """The SQLAlchemy statement with `<entity>.<column> == <prior>` in its (last) where, run by
    the same executor, and the row count test."""
    tree = code.fix_tree
    outer, values = code.cst_of(chain.outer), code.cst_of(node)
    where_calls = [code.cst_of(call) for call in chain.calls("where")[-1:]]
    if tree is None or outer is None or values is None or any(w is None for w in where_calls):
        return None
    cst = tree.cst
    spelled = code.code(named).strip()
    bare_class = isinstance(named, ast.Name) and spelled[:1].isupper()
    col = f"{spelled}.{column}" if bare_class else f"{spelled}.c.{column}"
    guard = cst.Arg(cst.parse_expression(f"{col} == {_py_value(prior)}"))
    if where_calls:
        guarded = outer.deep_replace(where_calls[-1], tree.appended(where_calls[-1], guard))
    else:
        guarded = outer.deep_replace(values, cst.Call(
            func=cst.Attribute(value=values, attr=cst.Name("where")), args=[guard]))
    executor = _executor(code, chain.outer) or "session"
    return (f"result = {executor}.execute(\n    {tree.code(guarded).strip()})\n"
            "if result.rowcount == 0:\n"
            f"    ...  # `{column}` was not {_py_value(prior)} (or no such row): "
            "the transition is invalid")


def _assigned_name(code: PythonFile, node: ast.AST) -> str | None:
    """`n` in `n = <node>`."""
    parent = code.parent(node)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0].id
    return None


def _executor(code: PythonFile, statement: ast.AST) -> str | None:
    """`session` / `conn` in `session.execute(<statement>)`."""
    arg = code.parent(statement)
    if isinstance(arg, ast.Call):
        call, arg = arg, statement
    else:
        call = code.parent(arg) if isinstance(arg, (ast.keyword, ast.Starred)) else None
    if isinstance(call, ast.Call) and call.func is not arg and isinstance(
            call.func, ast.Attribute) and call.func.attr == "execute":
        return snippet(code, call.func.value)
    return None
