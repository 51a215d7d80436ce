"""PGL506 check-without-not-valid."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding
from pglint.kit.example_projects import (DJANGO_ORDERS, LIVE_MIGRATIONS, ORDERS_ONLINE,
                                         alembic_revision, django_migration)
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, SIZE_EVIDENCE, SMALL_TABLE_ROWS,
                              big_table, constraint_span, not_valid_fix, shown_table,
                              validated_on_existing_table)
from pglint.kit.orm_migrations import orm_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL,\n"
           "                     total_cents int NOT NULL DEFAULT 0);\n")
_CONTEXT = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS}


class CheckWithoutNotValid(Rule):
    """
    ## What it does
    Flags `ALTER TABLE ... ADD CONSTRAINT ... CHECK (...)` without `NOT VALID` on a table that
    an earlier migration file created. A table created earlier in the same file has no rows to
    check and is left alone, as is one the replayed migrations do not show.
    Alembic's `op.create_check_constraint` and Django's `AddConstraint(CheckConstraint(...))`
    are judged by the `ALTER TABLE` they send; the fix is shown in the framework's terms.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its scan is over in moments. On a larger hinted
    table the message gives the size. Without a hint, only a table something shows to be big is
    judged (`size-evidence`, default true): another migration of the project builds an index
    on it `CONCURRENTLY`, which the message cites.

    ## Why is this bad?
    Adding a check constraint evaluates it on every existing row while holding an ACCESS
    EXCLUSIVE lock on the table: every query on it, `SELECT` included, waits for the whole
    scan. Added `NOT VALID`, the constraint takes that lock only for an instant (new and
    updated rows are checked from then on); `ALTER TABLE ... VALIDATE CONSTRAINT` then checks
    the old rows under a SHARE UPDATE EXCLUSIVE lock, which blocks no reads or writes.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative CHECK (total_cents >= 0);
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative CHECK (total_cents >= 0) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT orders_total_nonnegative;
    ```

    ## Fix safety
    Unsafe: pglint adds `NOT VALID` and a `VALIDATE CONSTRAINT` statement after it (after the
    `COMMIT` when the file's own transaction block holds it). Where the runner is known to
    wrap the whole file in one transaction (goose and dbmate unless they opt out, Flyway's
    versioned scripts, Prisma, Diesel, golang-migrate, sqlx, Django, Alembic), a `VALIDATE` in
    the same file would keep the `ADD`'s lock for the whole scan: the fix is then shown, with
    the `VALIDATE` in a later migration. The fix is also shown, not applied, for an unnamed constraint, an `ALTER TABLE` that changes
    other things too, and a DO block.
    """

    code = "PGL506"
    name = "check-without-not-valid"
    summary = "ADD CHECK without NOT VALID blocks every query on the table for a full scan"
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html",
        "https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-CHECK-CONSTRAINTS",
    )
    squawk = ("constraint-missing-not-valid",)
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories, and in 0 of 1 "
        "once it needed evidence that the table is big (a table the same transaction already "
        "held locked for longer)"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # Only a table known to be big: a hint, or the project's own concurrent build on it
    # (pglint.kit.locks.big_table).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, SIZE_EVIDENCE)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt",)
    lock = "ACCESS EXCLUSIVE"
    lock_held = "scan"

    VALID = (
        Example("ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative\n"
                "    CHECK (total_cents >= 0) NOT VALID;\n"
                "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_nonnegative;\n",
                context=_CONTEXT),
        Example("CREATE TABLE refunds (refund_id bigint PRIMARY KEY, amount_cents int);\n"
                "ALTER TABLE refunds ADD CONSTRAINT refunds_amount_positive "
                "CHECK (amount_cents > 0);\n"),
        Example("ALTER TABLE invoices ADD CONSTRAINT invoices_total_check CHECK (total >= 0);\n"),
        # NOT ENFORCED (PostgreSQL 18) checks nothing, now or later.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_status_known\n"
                "    CHECK (status IN ('new', 'paid')) NOT ENFORCED;\n", context=_CONTEXT),
        # Alembic: SQLAlchemy adds the check NOT VALID.
        Example(alembic_revision(
            "    op.create_check_constraint(\"orders_total_check\", \"orders\",\n"
            "                               \"total_cents >= 0\", postgresql_not_valid=True)\n"),
            kind="python", context=_CONTEXT),
        # The hints say the table is small: the scan is over in moments.
        Example("ALTER TABLE orders ADD CHECK (total_cents >= 0), ADD COLUMN note text;\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        # Flyway runs a versioned migration in one transaction: the VALIDATE goes in a later
        # migration, shown rather than applied.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative "
                "CHECK (total_cents >= 0);\n",
                context=_CONTEXT),
        # Files run outside a transaction: validated right after.
        Example("-- +goose NO TRANSACTION\n"
                "ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative "
                "CHECK (total_cents >= 0);\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "ALTER TABLE orders ADD CONSTRAINT orders_total_nonnegative "
                      "CHECK (total_cents >= 0) NOT VALID;\n"
                      "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_nonnegative;\n",
                context=_CONTEXT),
        Example("-- +goose NO TRANSACTION\n"
                "  ALTER TABLE IF EXISTS orders\n"
                "    ADD CONSTRAINT orders_status_known CHECK (status IN ('new', 'paid'));"
                "  -- see ticket 12\n"
                "  SELECT 1;\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "  ALTER TABLE IF EXISTS orders\n"
                      "    ADD CONSTRAINT orders_status_known CHECK (status IN ('new', 'paid'))"
                      " NOT VALID;  -- see ticket 12\n"
                      "  ALTER TABLE IF EXISTS orders VALIDATE CONSTRAINT orders_status_known;\n"
                      "  SELECT 1;\n",
                context=_CONTEXT),
        # Unnamed, and with a second change in the same ALTER: the recipe is shown.
        Example("ALTER TABLE orders ADD CHECK (total_cents >= 0), ADD COLUMN note text;\n",
                context=_CONTEXT),
        # Django's AddConstraint(CheckConstraint) sends the same ALTER TABLE; Django cannot
        # say NOT VALID: the fix shown runs the SQL in SeparateDatabaseAndState.
        Example(django_migration(
            "        migrations.AddConstraint(\n"
            "            model_name=\"order\",\n"
            "            constraint=models.CheckConstraint(\n"
            "                condition=models.Q((\"status\", \"\"), _negated=True),\n"
            "                name=\"app_order_status_check\"),\n"
            "        ),\n"), kind="python", context=DJANGO_ORDERS,
            config={"tables": {"app_order": {"rows": 3_000_000}}}),
        # A large table, by the hints: the message says how large.
        Example("ALTER TABLE orders ADD CHECK (total_cents >= 0), ADD COLUMN note text;\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 50_000_000}}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        found = validated_on_existing_table(ctx, stmt, node, "CONSTR_CHECK")
        if found is None:
            return
        table, constraints = found
        # Named as the statement names it (a later migration may rename the table).
        written = n.relation_name(node.get("relation")) or table.name
        size = big_table(ctx, table, written)
        if size is None:
            return
        shown = f"`{written}`"
        for constraint in constraints:
            message = (f"`ADD CHECK` without `NOT VALID` checks every row of "
                       f"{shown_table(ctx, table.name, written)} while "
                       f"holding an ACCESS EXCLUSIVE lock: {BLOCKED_BY['ACCESS EXCLUSIVE']} on "
                       f"{shown} waits for the scan" + (f"; {size}" if size else ""))
            help = (
                "PostgreSQL validates a new check constraint by scanning the whole table under "
                "an ACCESS EXCLUSIVE lock. Add it `NOT VALID` (the lock lasts an instant; new "
                "and updated rows are checked from then on), then run `ALTER TABLE ... VALIDATE "
                "CONSTRAINT` as a separate statement, in its own transaction: it scans under "
                "SHARE UPDATE EXCLUSIVE, which blocks no reads or writes.")
            fix, why_shown = not_valid_fix(
                ctx, stmt, constraint, "Add the check `NOT VALID`, then validate it separately")
            fix = orm_recipe(ctx, stmt, fix)  # `AddConstraint(CheckConstraint(...))` too
            yield self.finding(ctx, message, fix, help + why_shown, node=stmt,
                               span=constraint_span(ctx, stmt, constraint))
