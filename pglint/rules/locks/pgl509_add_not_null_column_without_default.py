"""PGL509 add-not-null-column-without-default."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix, Severity
from pglint.kit.example_projects import DJANGO_ORDERS, alembic_revision, django_migration
from pglint.kit.locks import (LOCK_EVIDENCE, existing_table, hinted_rows, runs_in_migration,
                              shown_table)
from pglint.kit.rewrites import FAST_DEFAULT_SINCE
from pglint.kit.orm_migrations import default_recipe, orm_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_CONTEXT = {"migrations/V1__init.sql":
            "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL);\n"}
SCAN_SKIPPED_SINCE = 12  # a valid CHECK (col IS NOT NULL) spares SET NOT NULL its scan
# Constraint kinds that give the new column a value on every existing row.
_FILLED = {"CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"}


class AddNotNullColumnWithoutDefault(Rule):
    """
    ## What it does
    Flags `ALTER TABLE ... ADD COLUMN c T NOT NULL` (or `PRIMARY KEY`) without a `DEFAULT` on
    a table that an earlier migration file created. A column with a default, an identity,
    serial or generated column, and tables created in the same file are left alone, as is a
    table that `[tool.pglint.tables]` (or the `tables-file` `pglint tables` writes) gives 0
    rows: the statement succeeds on it.
    Alembic's `op.add_column` and Django's `AddField` are judged by the `ADD COLUMN` they send;
    the fix shown gives the operation a default (`server_default=`, `default=`).

    ## Why is this bad?
    Every existing row gets NULL in the new column, which NOT NULL forbids: on a table that
    holds a single row the statement fails (`column "c" of relation "t" contains null
    values`), after taking an ACCESS EXCLUSIVE lock on it. It passes on a developer's empty
    table and breaks the deployment on the production one. This is an error, not a slow lock.

    ## Example
    ```sql
    ALTER TABLE orders ADD COLUMN region text NOT NULL;
    ```

    ## Use instead
    ```sql
    -- a constant default: stored once, no rewrite (PostgreSQL 11+)
    ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';
    ```
    Or add the column nullable, fill it in batches, and prove it NOT NULL with a check
    validated in its own transaction, so that `SET NOT NULL` skips its scan (12+).

    ## Fix safety
    Shown, never applied: the default value is the project's choice. The suggestion follows
    `--target-version`: before 11 a default is written into every row (a rewrite), so it
    suggests the nullable column and a validated check instead.
    """

    code = "PGL509"
    name = "add-not-null-column-without-default"
    summary = "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows"
    severity = Severity.ERROR
    references = (
        "https://www.postgresql.org/docs/current/ddl-alter.html#DDL-ALTER-ADDING-A-COLUMN",
        "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES",
    )
    squawk = ("adding-required-field",)
    default_enabled = False
    off_by_default = (
        "not yet judged; on the ecosystem corpus with every migration new it reports 77 "
        "findings in 16 repositories, none among each repository's last 3 migrations (none "
        "a pull request would have shown)"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    options = (LOCK_EVIDENCE,)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt",)
    lock = "ACCESS EXCLUSIVE"
    lock_held = "instant"

    VALID = (
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN region text;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN line_no bigint GENERATED ALWAYS AS IDENTITY;\n",
                context=_CONTEXT),
        # Created in this file: no rows yet.
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY);\n"
                "ALTER TABLE notes ADD COLUMN author text NOT NULL;\n"),
        Example("ALTER TABLE invoices ADD COLUMN due_at date NOT NULL;\n"),
        # Production's table is empty (`pglint tables` measured it): no row to fail on.
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 0}}}),
        # Django sends a default for the existing rows (and drops it after): nothing fails.
        Example(django_migration(
            "        migrations.AddField(model_name=\"order\", name=\"paid\",\n"
            "                            field=models.BooleanField(default=False)),\n"),
            kind="python", context=DJANGO_ORDERS),
        # A server default written as an expression (`str(20)`, `Precision.FLOAT.name`): a
        # constant all the same, which fills the existing rows.
        Example(alembic_revision("    op.add_column(\"orders\", sa.Column(\"tries\", sa.Integer(),"
                                 " nullable=False,\n"
                                 "                                      server_default=str(20)))\n",
                                 imports="import sqlalchemy as sa\n"),
                kind="python", context=_CONTEXT),
        # A field class of the project's own: its null, its default, even whether it is a
        # column (a ManyToManyField subclass adds a join table) are not known.
        Example("import shop.fields\n" + django_migration(
            "        migrations.AddField(model_name=\"order\", name=\"tags\",\n"
            "                            field=shop.fields.TagField(to=\"shop.Tag\")),\n"),
            kind="python", context=DJANGO_ORDERS),
    )
    INVALID = (
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL;\n", context=_CONTEXT,
                target_version=11),
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL;\n", context=_CONTEXT,
                target_version=10),
        # Measured with rows: certain to fail; the message gives the size.
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 1_200}}}),
        # Alembic's op.add_column and Django's AddField send the same ADD COLUMN: the fix shown
        # gives the operation a default.
        Example(alembic_revision("    op.add_column(\"orders\", sa.Column(\"paid\", sa.Boolean(), "
                                 "nullable=False))\n", imports="import sqlalchemy as sa\n"),
                kind="python", context=_CONTEXT),
        Example(django_migration(
            "        migrations.AddField(model_name=\"order\", name=\"paid\",\n"
            "                            field=models.BooleanField()),\n"),
            kind="python", context=DJANGO_ORDERS),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("objtype") != "OBJECT_TABLE" or not runs_in_migration(stmt):
            return
        added = [((c.get("AlterTableCmd") or {}).get("def") or {}).get("ColumnDef") or {}
                 for c in node.get("cmds") or ()
                 if (c.get("AlterTableCmd") or {}).get("subtype") == "AT_AddColumn"]
        columns = [d for d in added if _not_null_without_value(d)]
        if not columns:
            return
        # The statement fails on a table with rows, whether or not it runs beside live traffic.
        written = n.relation_name(node.get("relation"))
        table = existing_table(ctx, stmt, written, live=False)
        rows = None if table is None else hinted_rows(ctx, table.name)
        if table is None or rows == 0:
            return  # (production's table measured empty: no row to leave NULL)
        # Named as the statement names it (a later migration may rename the table): in the
        # message and in the recipe's SQL, which runs where this statement does.
        written = written or table.name
        version = ctx.settings.target_version
        for coldef in columns:
            column = coldef.get("colname") or ""
            fails_on = (f"{shown_table(ctx, table.name, written)}, whose rows would all get NULL"
                        if rows else
                        f"`{written}` as soon as it holds a row (every row would get NULL)")
            message = (f"`ADD COLUMN {column} ... NOT NULL` without a DEFAULT fails on "
                       f"{fails_on}: "
                       "the migration stops with an error after taking an ACCESS EXCLUSIVE "
                       "lock on it")
            help = ("The statement works on an empty table (a fresh test database) and fails "
                    "on one with rows. Give the column a constant default, or add it "
                    "nullable, fill it, and set NOT NULL once every row has a value.")
            if version < FAST_DEFAULT_SINCE:
                help += (f" Before PostgreSQL {FAST_DEFAULT_SINCE} a default is written into "
                         "every row, rewriting the table: prefer the nullable column.")
            fix = _recipe(written, coldef, version)
            if version >= FAST_DEFAULT_SINCE:  # `op.add_column`, `AddField`: a default there
                fix = default_recipe(ctx, stmt, "Give it a constant default (stored once, no "
                                     "rewrite)") or orm_recipe(ctx, stmt, fix)
            else:
                fix = orm_recipe(ctx, stmt, fix)
            yield self.finding(ctx, message, fix, help, node=stmt)


def _not_null_without_value(coldef: dict[str, Any]) -> bool:
    if n.type_name(coldef.get("typeName")) in n.SERIAL_TYPES:
        return False
    kinds = {(c.get("Constraint") or {}).get("contype") for c in coldef.get("constraints") or ()}
    return bool(kinds & {"CONSTR_NOTNULL", "CONSTR_PRIMARY"}) and not kinds & _FILLED


def _recipe(table: str, coldef: dict[str, Any], version: int) -> Fix:
    target, col = n.quote_qualified(table), n.quote_ident(coldef.get("colname") or "")
    typ = n.type_spelling(coldef.get("typeName")) or "<type>"
    check = n.quote_ident(f"{table.split('.')[-1]}_{coldef.get('colname')}_not_null_check")
    nullable = (f"ALTER TABLE {target} ADD COLUMN {col} {typ};\n"
                f"-- fill it in batches, each in its own transaction:\n"
                f"UPDATE {target} SET {col} = <value> WHERE <key range> AND {col} IS NULL;\n"
                f"ALTER TABLE {target} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) "
                f"NOT VALID;\n"
                f"ALTER TABLE {target} VALIDATE CONSTRAINT {check};")
    if version < FAST_DEFAULT_SINCE:
        return Fix.display("Add it nullable, fill it, and enforce it with a validated check",
                           nullable)
    constant = f"ALTER TABLE {target} ADD COLUMN {col} {typ} NOT NULL DEFAULT <value>;"
    if version < SCAN_SKIPPED_SINCE:
        return Fix.display("Give it a constant default (stored once, no rewrite)", constant)
    return Fix.display(
        "Give it a constant default, or add it nullable and set NOT NULL after a validated "
        "check",
        f"{constant}\n-- or, without a default:\n{nullable}\n"
        f"ALTER TABLE {target} ALTER COLUMN {col} SET NOT NULL;  -- no scan: the check proves "
        f"it\nALTER TABLE {target} DROP CONSTRAINT {check};")
