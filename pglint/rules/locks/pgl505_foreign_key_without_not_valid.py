"""PGL505 foreign-key-without-not-valid."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.example_projects import LIVE_MIGRATIONS, ORDERS_ONLINE, alembic_revision
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, SIZE_EVIDENCE, SMALL_TABLE_ROWS,
                              big_table, constraint_span, not_valid_fix, shown_table,
                              validated_on_existing_table)
from pglint.kit.orm_migrations import orm_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_SCHEMA = ("CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text NOT NULL);\n"
           "CREATE TABLE orders (order_id bigint PRIMARY KEY, customer_id bigint NOT NULL);\n")
_CONTEXT = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _SCHEMA}
_PARTITIONED = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": (
    "CREATE TABLE customers (customer_id bigint PRIMARY KEY);\n"
    "CREATE TABLE visits (customer_id bigint, seen_at timestamptz NOT NULL)\n"
    "    PARTITION BY RANGE (seen_at);\n")}
NOT_VALID_ON_PARTITIONED_SINCE = 18


class ForeignKeyWithoutNotValid(Rule):
    """
    ## What it does
    Flags `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY` (or `REFERENCES`) without
    `NOT VALID` on a table that an earlier migration file created. A table created earlier in
    the same file has no rows to check and is left alone, as is one the replayed migrations do
    not show.
    Alembic's `op.create_foreign_key` is judged by the `ALTER TABLE` it sends; the fix shown
    passes `postgresql_not_valid=True` and validates in a later revision.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its scan is over in moments. On a larger hinted
    table the message gives the size. Without a hint, only a table something shows to be big is
    judged (`size-evidence`, default true): another migration of the project builds an index
    on it `CONCURRENTLY`, which the message cites.

    ## Why is this bad?
    Adding a foreign key checks every existing row of the table against the referenced table,
    and does it while holding a SHARE ROW EXCLUSIVE lock on both tables: every `INSERT`,
    `UPDATE` and `DELETE` on either table waits for the whole scan. Added `NOT VALID`, the
    constraint takes the same locks only for an instant (new rows are checked from then on);
    `ALTER TABLE ... VALIDATE CONSTRAINT` then checks the old rows under a SHARE UPDATE
    EXCLUSIVE lock on the table and a ROW SHARE lock on the referenced one, which block no
    reads or writes. Before PostgreSQL 18, a partitioned table cannot take a `NOT VALID`
    foreign key.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
        FOREIGN KEY (customer_id) REFERENCES customers (customer_id);
    ```

    ## Use instead
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_customer_fk
        FOREIGN KEY (customer_id) REFERENCES customers (customer_id) NOT VALID;
    ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;
    ```

    ## Fix safety
    Unsafe: pglint adds `NOT VALID` and a `VALIDATE CONSTRAINT` statement after it (after the
    `COMMIT` when the file's own transaction block holds it). Where the runner is known to
    wrap the whole file in one transaction (goose and dbmate unless they opt out, Flyway's
    versioned scripts, Prisma, Diesel, golang-migrate, sqlx, Django, Alembic), a `VALIDATE` in
    the same file would keep the `ADD`'s lock for the whole scan: the fix is then shown, with
    the `VALIDATE` in a later migration. The fix is also shown, not applied, for an unnamed constraint, an `ALTER TABLE` that changes
    other things too, a DO block, and a partitioned table before PostgreSQL 18.
    """

    code = "PGL505"
    name = "foreign-key-without-not-valid"
    summary = "ADD FOREIGN KEY without NOT VALID blocks writes to both tables for a full scan"
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html",
        "https://www.postgresql.org/docs/current/ddl-constraints.html#DDL-CONSTRAINTS-FK",
    )
    squawk = ("adding-foreign-key-constraint", "constraint-missing-not-valid")
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories, and in 0 of 3 "
        "once it needed evidence that the table is big: a key on a column the migration has "
        "just added (NULL in every row, nothing to check), a table empty when it ran"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # Only a table known to be big: a hint, or the project's own concurrent build on it
    # (pglint.kit.locks.big_table).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, SIZE_EVIDENCE)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt",)
    lock = "SHARE ROW EXCLUSIVE"  # on both tables
    lock_held = "scan"

    VALID = (
        Example("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
                "    FOREIGN KEY (customer_id) REFERENCES customers (customer_id) NOT VALID;\n"
                "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n",
                context=_CONTEXT),
        Example("CREATE TABLE payments (payment_id bigint PRIMARY KEY, order_id bigint);\n"
                "ALTER TABLE payments ADD CONSTRAINT payments_order_fk\n"
                "    FOREIGN KEY (order_id) REFERENCES orders (order_id);\n",
                context=_CONTEXT),
        Example("ALTER TABLE invoices ADD CONSTRAINT invoices_order_fk\n"
                "    FOREIGN KEY (order_id) REFERENCES orders (order_id);\n"),
        # Alembic: SQLAlchemy adds the foreign key NOT VALID.
        Example(alembic_revision(
            "    op.create_foreign_key(\"orders_customer_fk\", \"orders\", \"customers\",\n"
            "                          [\"customer_id\"], [\"customer_id\"],\n"
            "                          postgresql_not_valid=True)\n"), kind="python",
            context=_CONTEXT),
        # The hints say the table is small: the scan is over in moments.
        Example("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        # Flyway runs a versioned migration in one transaction: the VALIDATE goes in a later
        # migration, shown rather than applied.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
                "    FOREIGN KEY (customer_id) REFERENCES customers (customer_id);\n",
                context=_CONTEXT),
        # A file run outside a transaction: validated right after.
        Example("-- +goose NO TRANSACTION\n"
                "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
                "    FOREIGN KEY (customer_id) REFERENCES customers (customer_id);\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n"
                      "    FOREIGN KEY (customer_id) REFERENCES customers (customer_id)"
                      " NOT VALID;\n"
                      "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n",
                context=_CONTEXT),
        # In the file's transaction block: validated after the COMMIT.
        Example("BEGIN;\n"
                "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id)\n"
                "    REFERENCES customers ON DELETE CASCADE; -- orders go with the customer\n"
                "COMMIT;\n",
                fixed="BEGIN;\n"
                      "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY "
                      "(customer_id)\n"
                      "    REFERENCES customers ON DELETE CASCADE NOT VALID; "
                      "-- orders go with the customer\n"
                      "COMMIT;\n"
                      "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n",
                context=_CONTEXT),
        # Unnamed: the VALIDATE would need a name, so the recipe is shown.
        Example("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;\n",
                context=_CONTEXT),
        Example("ALTER TABLE visits ADD CONSTRAINT visits_customer_fk\n"
                "    FOREIGN KEY (customer_id) REFERENCES customers;\n",
                context=_PARTITIONED, target_version=17,
                config={"tables": {"visits": {"rows": 80_000_000}}}),
        # Alembic's op.create_foreign_key sends the same ALTER TABLE: the fix shown passes
        # `postgresql_not_valid=True` and validates in a later revision.
        Example(alembic_revision(
            "    op.create_foreign_key(\"orders_customer_fk\", \"orders\", \"customers\",\n"
            "                          [\"customer_id\"], [\"customer_id\"])\n"),
            kind="python", context=_CONTEXT),
        # A large table, by the hints: the message says how large.
        Example("ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 50_000_000}}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        found = validated_on_existing_table(ctx, stmt, node, "CONSTR_FOREIGN")
        if found is None:
            return
        table, constraints = found
        # Named as the statement names it (a later migration may rename the table).
        written = n.relation_name(node.get("relation")) or table.name
        size = big_table(ctx, table, written)
        if size is None:
            return
        for constraint in constraints:
            referenced = n.relation_name(constraint.get("pktable")) or "the referenced table"
            both = f"`{written}` and `{referenced}`"
            message = (f"`ADD FOREIGN KEY` without `NOT VALID` checks every row of "
                       f"{shown_table(ctx, table.name, written)} while holding SHARE ROW EXCLUSIVE "
                       f"locks on {both}: "
                       f"{BLOCKED_BY['SHARE ROW EXCLUSIVE']} on either table waits for the scan"
                       + (f"; {size}" if size else ""))
            help = (
                "PostgreSQL validates a new foreign key by scanning the whole table under a "
                "SHARE ROW EXCLUSIVE lock on it and on the referenced table. Add it `NOT VALID` "
                "(the locks last an instant; new rows are checked from then on), then run "
                "`ALTER TABLE ... VALIDATE CONSTRAINT` as a separate statement, in its own "
                "transaction: it scans under SHARE UPDATE EXCLUSIVE and ROW SHARE, which block "
                "no reads or writes.")
            title = "Add the foreign key `NOT VALID`, then validate it separately"
            if table.partitioned and ctx.settings.target_version < NOT_VALID_ON_PARTITIONED_SINCE:
                version = ctx.settings.target_version
                fix = Fix.display(
                    f"On PostgreSQL {version}, add the foreign key to each partition "
                    "`NOT VALID` and validate it there first",
                    "-- for each partition:\n"
                    f"ALTER TABLE <partition> ADD CONSTRAINT <partition>_fk "
                    f"FOREIGN KEY (...) REFERENCES {n.quote_qualified(referenced)} NOT VALID;\n"
                    "ALTER TABLE <partition> VALIDATE CONSTRAINT <partition>_fk;")
                help += (f" `{written}` is partitioned, and before PostgreSQL 18 a "
                         "partitioned table cannot take a `NOT VALID` foreign key.")
            else:
                fix, why_shown = not_valid_fix(ctx, stmt, constraint, title)
                help += why_shown
            fix = orm_recipe(ctx, stmt, fix)  # `op.create_foreign_key(...)`: Alembic's way
            yield self.finding(ctx, message, fix, help, node=stmt,
                               span=constraint_span(ctx, stmt, constraint))
