"""PGL510 unique-constraint-built-in-place."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.example_projects import (DJANGO_ORDERS, LIVE_MIGRATIONS, ORDERS_ONLINE,
                                         alembic_revision, django_migration)
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, RUNNER_OPT_OUT, SIZE_EVIDENCE,
                              SMALL_TABLE_ROWS, added_as, big_table, constraint_span,
                              runs_in_migration,
                              shown_table, table_before_file)
from pglint.kit.orm_migrations import orm_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint NOT NULL, reference text NOT NULL,\n"
           "                     customer_id bigint);\n")
_CONTEXT = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS}
_KEYS = {"CONSTR_UNIQUE": "UNIQUE", "CONSTR_PRIMARY": "PRIMARY KEY"}


class UniqueConstraintBuiltInPlace(Rule):
    """
    ## What it does
    Flags `ALTER TABLE ... ADD CONSTRAINT ... UNIQUE (...)` and `... PRIMARY KEY (...)` on a
    table that an earlier migration file created, when the constraint builds its own index
    (no `USING INDEX`), and `ADD COLUMN ... UNIQUE`, whose index is built the same way. Tables
    created in the same file are left alone.
    Alembic's `op.create_unique_constraint` and Django's `AddConstraint(UniqueConstraint(...))`
    and `AddField(unique=True)` are judged by the SQL they send.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its index build is over in moments. On a larger hinted
    table the message gives the size. Without a hint, only a table something shows to be big is
    judged (`size-evidence`, default true): another migration of the project builds an index
    on it `CONCURRENTLY`, which the message cites.

    ## Why is this bad?
    The constraint's unique index is built while the `ALTER TABLE` holds an ACCESS EXCLUSIVE
    lock on the table: every query, `SELECT` included, waits for the whole build, which reads
    and sorts every row. A unique index built `CONCURRENTLY` beforehand blocks no reads or
    writes, and `ADD CONSTRAINT ... USING INDEX` then turns it into the constraint in an
    instant.

    ## Example
    ```sql
    ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);
    ```

    ## Use instead
    ```sql
    CREATE UNIQUE INDEX CONCURRENTLY orders_reference_key ON orders (reference);
    ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE USING INDEX orders_reference_key;
    ```
    The `CREATE INDEX CONCURRENTLY` must run outside a transaction block (its own migration
    step, or a file the runner leaves unwrapped). For a primary key, the columns should be
    `NOT NULL` already: otherwise `USING INDEX` sets NOT NULL and scans the table for it.

    ## Fix safety
    Shown, never applied: the index build must leave the migration's transaction (most
    runners wrap each file in one) and be retried by hand if it fails, which leaves an invalid
    index behind to drop. A partitioned table cannot build an index concurrently nor attach
    one with `USING INDEX`: the suggestion says so.
    """

    code = "PGL510"
    name = "unique-constraint-built-in-place"
    summary = "ADD UNIQUE / PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock"
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html",
        "https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY",
    )
    squawk = ("disallowed-unique-constraint", "adding-serial-primary-key-field")
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 4 of 8 findings on real repositories once it needed "
        "evidence that the table is big: tables small when the migration ran, and constraints "
        "added by a statement that already holds the lock for longer"
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
    lock_held = "build"

    VALID = (
        Example("CREATE UNIQUE INDEX CONCURRENTLY orders_reference_key ON orders (reference);\n"
                "ALTER TABLE orders ADD CONSTRAINT orders_reference_key\n"
                "    UNIQUE USING INDEX orders_reference_key;\n", context=_CONTEXT),
        Example("CREATE TABLE notes (note_id bigint NOT NULL, slug text);\n"
                "ALTER TABLE notes ADD PRIMARY KEY (note_id);\n"
                "ALTER TABLE notes ADD CONSTRAINT notes_slug_key UNIQUE (slug);\n"),
        Example("ALTER TABLE invoices ADD CONSTRAINT invoices_number_key UNIQUE (number);\n"),
        # The new column without UNIQUE, its index built concurrently: the recipe.
        Example("ALTER TABLE orders ADD COLUMN external_id text;\n", context=_CONTEXT),
        # NOT NULL without a default fails on the first row: PGL509's finding, not this one.
        Example("ALTER TABLE orders ADD COLUMN external_id text NOT NULL UNIQUE;\n",
                context=_CONTEXT),
        # The hints say the table is small: the build is over in moments.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        Example("ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD PRIMARY KEY (order_id);\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD CONSTRAINT orders_customer_reference_key\n"
                "    UNIQUE (customer_id, reference);\n", context=_CONTEXT),
        # A new column declared UNIQUE: its index too is built from every row, under the lock.
        Example("ALTER TABLE orders ADD COLUMN external_id text UNIQUE;\n", context=_CONTEXT),
        # Alembic's op.create_unique_constraint and Django's AddConstraint(UniqueConstraint)
        # send the same ALTER TABLE: the recipe is shown in their terms.
        Example(alembic_revision(
            "    op.create_unique_constraint(\"orders_reference_key\", \"orders\",\n"
            "                                [\"reference\"])\n"), kind="python",
            context=_CONTEXT),
        Example(django_migration(
            "        migrations.AddConstraint(\n"
            "            model_name=\"order\",\n"
            "            constraint=models.UniqueConstraint(fields=[\"status\", \"created\"],\n"
            "                                               name=\"app_order_status_key\"),\n"
            "        ),\n"), kind="python", context=DJANGO_ORDERS,
            config={"tables": {"app_order": {"rows": 3_000_000}}}),
        # A large table, by the hints: the message says how large.
        Example("ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);\n",
                context=_CONTEXT, config={"tables": {"orders": {"rows": 50_000_000}}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("objtype") != "OBJECT_TABLE" or not runs_in_migration(stmt):
            return
        keys: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for item in node.get("cmds") or ():
            cmd = item.get("AlterTableCmd") or {}
            constraint = (cmd.get("def") or {}).get("Constraint") or {}
            if cmd.get("subtype") == "AT_AddConstraint" and \
                    constraint.get("contype") in _KEYS and not constraint.get("indexname"):
                keys.append((constraint, None))
            elif cmd.get("subtype") == "AT_AddColumn":
                keys.extend(_unique_new_column((cmd.get("def") or {}).get("ColumnDef") or {}))
        if not keys:
            return
        written = n.relation_name(node.get("relation"))
        table = table_before_file(ctx, stmt, written)
        if table is None:
            return
        # Named as the statement names it (a later migration may rename the table): in the
        # message and in the recipe's SQL, which runs where this statement does.
        written = written or table.name
        size = big_table(ctx, table, written)
        if size is None:
            return
        for constraint, column in keys:
            kind = _KEYS[constraint["contype"]]
            added = added_as(constraint, kind) if column is None else \
                f"ADD COLUMN {column['colname']} ... UNIQUE"
            message = (f"`{added}` builds its unique index on "
                       f"{shown_table(ctx, table.name, written)} under an ACCESS "
                       f"EXCLUSIVE lock: {BLOCKED_BY['ACCESS EXCLUSIVE']} on `{written}` "
                       "waits for the whole build" + (f"; {size}" if size else ""))
            help = ("Build the unique index with `CREATE UNIQUE INDEX CONCURRENTLY` first (no "
                    "reads or writes blocked), then attach it with `ADD CONSTRAINT ... "
                    f"{kind} USING INDEX` (an instant lock). The index build cannot run in a "
                    f"transaction block: give it a migration step of its own "
                    f"({RUNNER_OPT_OUT}).")
            if kind == "PRIMARY KEY":
                help += (" Make the key columns NOT NULL first (PGL507's recipe): `USING INDEX` "
                         "would otherwise set it with a scan under the same lock.")
            if table.partitioned:
                help += (f" `{written}` is partitioned: build the index on each partition "
                         "concurrently, then create it on the parent (it attaches them).")
            fix = orm_recipe(ctx, stmt, _recipe(written, constraint, kind, column))
            yield self.finding(ctx, message, fix, help,
                               node=stmt, span=constraint_span(ctx, stmt, constraint))


def _unique_new_column(column: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(constraint, column) for an added nullable column declared UNIQUE: its index is built
    from every row under the ALTER TABLE's lock too. A NOT NULL one (a PRIMARY KEY included)
    is PGL509's or PGL508's statement already: without a default it fails on the first row,
    with a constant one on the second (duplicates), and a volatile one rewrites the table."""
    constraints = [c.get("Constraint") or {} for c in column.get("constraints") or ()]
    if not column.get("colname") or any(
            c.get("contype") in ("CONSTR_NOTNULL", "CONSTR_PRIMARY") for c in constraints):
        return []
    return [(c, column) for c in constraints if c.get("contype") == "CONSTR_UNIQUE"]


def _recipe(table: str, constraint: dict[str, Any], kind: str,
            column: dict[str, Any] | None = None) -> Fix:
    if column is not None:  # a new column's UNIQUE: its key is the column
        constraint = {**constraint, "keys": [{"String": {"sval": column["colname"]}}]}
    columns = n.names(constraint.get("keys"))
    bare = table.split(".")[-1]
    # PostgreSQL's own names for an unnamed constraint (truncation of long names aside).
    name = constraint.get("conname") or (f"{bare}_pkey" if kind == "PRIMARY KEY"
                                         else f"{bare}_{'_'.join(columns)}_key")
    target, index = n.quote_qualified(table), n.quote_ident(name)
    listed = ", ".join(n.quote_ident(c) for c in columns)
    first = "" if column is None else (
        f"ALTER TABLE {target} ADD COLUMN {n.quote_ident(column['colname'])} "
        f"{n.type_spelling(column.get('typeName'))};\n"
        "-- then, in a migration step outside a transaction block:\n")
    return Fix.display(
        f"Build the index concurrently, then add the {kind} constraint using it",
        f"{first}CREATE UNIQUE INDEX CONCURRENTLY {index} ON {target} ({listed});\n"
        f"-- then, in a separate migration step:\n"
        f"ALTER TABLE {target} ADD CONSTRAINT {index} {kind} USING INDEX {index};")
