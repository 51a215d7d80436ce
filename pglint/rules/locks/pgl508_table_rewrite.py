"""PGL508 table-rewrite."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.kit.example_projects import LIVE_MIGRATIONS, ORDERS_ONLINE, alembic_revision
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, SIZE_EVIDENCE, SMALL_TABLE_ROWS,
                              big_table, shown_table)
from pglint.kit.orm_migrations import orm_recipe
from pglint.kit.rewrites import (VIRTUAL_GENERATED_SINCE, Rewrite, shown_type, table_rewrites,
                                 volatile_call)
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status varchar(20),\n"
           "                     total numeric(10,2), quantity int, placed_at timestamp,\n"
           "                     client_net cidr, note text);\n"
           "CREATE UNLOGGED TABLE carts (cart_id bigint PRIMARY KEY);\n")
_CONTEXT = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS}
# An earlier migration changed the type: the column's type when the example runs is that one.
_RETYPED = {**LIVE_MIGRATIONS, **ORDERS_ONLINE, "migrations/V1__init.sql": _ORDERS,
            "migrations/V2__status.sql": "ALTER TABLE orders ALTER COLUMN status TYPE text;\n"}
_SHOWN_ONLY = ("the recipe copies the table or the column while the application runs; it "
               "spans several transactions and needs a key to batch on")


class TableRewrite(Rule):
    """
    ## What it does
    Flags statements that make PostgreSQL write a new copy of a table that an earlier migration
    file created: `ALTER COLUMN ... TYPE` to a type the stored values must be converted to,
    `ADD COLUMN` with a default that differs for each row (`random()`, `clock_timestamp()`,
    `gen_random_uuid()`, `uuidv7()`, `nextval()`, a `serial`/`bigserial` or identity column),
    or with any default other than NULL before PostgreSQL 11, `ADD COLUMN ... GENERATED
    ALWAYS AS (...) STORED`, `SET TABLESPACE`, `SET LOGGED` / `SET UNLOGGED`, `VACUUM FULL`
    and `CLUSTER`. The type changes PostgreSQL makes in its catalog only are left alone:
    a varchar or varbit limit raised or removed, varchar to text and text to varchar (no
    limit), numeric precision raised at the same scale or removed, cidr to inet. The type a
    column has when the statement runs is the one the migrations before it gave it. Tables
    created in the same file, and tables not known from earlier migrations, are left alone.
    Alembic's `op.alter_column(..., type_=...)` and `op.add_column`, and Django's `AlterField`
    (when the column type changes) and `AddField`, are judged by the SQL they send.

    A table that `[tool.pglint.tables]` hints has fewer rows than `small-table-rows` (default
    10,000; `rows = 40`) is left alone too: its rewrite is over in moments. On a larger hinted
    table the message gives the size. Without a hint, only a table something shows to be big is
    judged (`size-evidence`, default true): another migration of the project builds an index
    on it `CONCURRENTLY`, which the message cites.

    ## Why is this bad?
    A rewrite holds an ACCESS EXCLUSIVE lock on the table from start to end: every read and
    write, `SELECT` included, waits while PostgreSQL copies every row and rebuilds every index,
    for a time proportional to the table's size (minutes to hours on a large table). A lock
    taken by an earlier statement of the same transaction does not make it cheaper: that lock
    was held for an instant, this one for the whole copy. `timestamp` to `timestamptz` is free
    only when the session's TimeZone is UTC; pglint cannot know it, and counts it as a
    rewrite.

    ## Example
    ```sql
    ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;
    ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();
    ```

    ## Use instead
    ```sql
    -- a new column, kept in step by a trigger, filled in batches, then swapped in
    ALTER TABLE orders ADD COLUMN quantity_new bigint;
    -- ... backfill in batches, each in its own transaction, then rename in a short one
    ALTER TABLE orders ADD COLUMN public_id uuid;
    ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();  -- new rows
    -- ... fill the existing rows in batches
    ```
    For `SET TABLESPACE`, `VACUUM FULL` and `CLUSTER`, pg_repack (or pg_squeeze) rebuilds the
    table online, holding ACCESS EXCLUSIVE only for a moment at each end.

    ## Fix safety
    Shown, never applied: the recipe copies the table or the column while the application
    runs, spans several transactions, and needs a key to batch on. From PostgreSQL 18 a
    generated column can be `VIRTUAL` (computed on read, no rewrite); the suggestion says so
    when `--target-version` is 18 or later.
    """

    code = "PGL508"
    name = "table-rewrite"
    summary = "A schema change that rewrites an existing table under an ACCESS EXCLUSIVE lock"
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES",
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES",
        "https://www.postgresql.org/docs/current/sql-cluster.html",
        "https://www.postgresql.org/docs/current/sql-vacuum.html",
    )
    squawk = ("adding-field-with-default", "changing-column-type", "prefer-repack")
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 8 of 12 findings on real repositories once it needed "
        "evidence that the table is big, and its recipe (a new column filled in batches and "
        "swapped in) was wrong for most of them: a popx file runs in one transaction, a "
        "unique index stays on the old column, a default cannot compute the value"
    )
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # Only a table known to be big: a hint, or the project's own concurrent build on it
    # (pglint.kit.locks.big_table).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, SIZE_EVIDENCE)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt", "VacuumStmt", "ClusterStmt")
    lock = "ACCESS EXCLUSIVE"
    lock_held = "rewrite"

    VALID = (
        # Changes made in the catalog only.
        Example("ALTER TABLE orders ALTER COLUMN status TYPE varchar(40);\n"
                "ALTER TABLE orders ALTER COLUMN note TYPE varchar;\n"
                "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);\n"
                "ALTER TABLE orders ALTER COLUMN client_net TYPE inet;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN status TYPE text;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN total TYPE numeric;\n", context=_CONTEXT),
        # The earlier migration made it text: text to unbounded varchar is free.
        Example("ALTER TABLE orders ALTER COLUMN status TYPE varchar;\n", context=_RETYPED),
        # Defaults stored once (PostgreSQL 11+): a constant, now().
        Example("ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n"
                "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();\n",
                context=_CONTEXT),
        # The default for new rows only, set after the column exists.
        Example("ALTER TABLE orders ADD COLUMN public_id uuid;\n"
                "ALTER TABLE orders ALTER COLUMN public_id SET DEFAULT gen_random_uuid();\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN total_cents bigint\n"
                "    GENERATED ALWAYS AS ((total * 100)::bigint) VIRTUAL;\n",
                context=_CONTEXT, target_version=18),
        # Plain VACUUM rewrites nothing.
        Example("VACUUM ANALYZE orders;\n", context=_CONTEXT),
        # A table created in this file, a table unknown.
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, body varchar(100));\n"
                "ALTER TABLE notes ALTER COLUMN body TYPE varchar(50);\n"
                "ALTER TABLE notes ADD COLUMN public_id uuid DEFAULT gen_random_uuid();\n"),
        Example("ALTER TABLE invoices ALTER COLUMN amount TYPE bigint;\n"),
        # Alembic: raising a varchar limit rewrites nothing.
        Example(alembic_revision("    op.alter_column(\"orders\", \"status\", "
                                 "type_=sa.String(50))\n", imports="import sqlalchemy as sa\n"),
                kind="python", context=_CONTEXT),
        # The hints say the table is small: the rewrite is over in moments.
        Example("ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 200}}}),
    )
    INVALID = (
        Example("ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n", context=_CONTEXT),
        # A shorter limit: every value is checked and the table rewritten.
        Example("ALTER TABLE orders ALTER COLUMN status TYPE varchar(10);\n", context=_CONTEXT),
        # The type the earlier migration gave it: text to a bounded varchar.
        Example("ALTER TABLE orders ALTER COLUMN status TYPE varchar(20);\n", context=_RETYPED),
        # Twice in one file: the first change is free, the second starts from text.
        Example("ALTER TABLE orders ALTER COLUMN status TYPE text;\n"
                "ALTER TABLE orders ALTER COLUMN status TYPE varchar(5);\n", context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,3);\n", context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamptz;\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ALTER COLUMN note TYPE text USING trim(note);\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN public_id uuid DEFAULT gen_random_uuid();\n",
                context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN line_no bigserial;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN total_cents bigint\n"
                "    GENERATED ALWAYS AS ((total * 100)::bigint) STORED;\n", context=_CONTEXT),
        Example("ALTER TABLE orders ADD COLUMN total_cents bigint\n"
                "    GENERATED ALWAYS AS ((total * 100)::bigint) STORED;\n", context=_CONTEXT,
                target_version=18),
        # Indexed by the next statement: PostgreSQL 18 indexes no VIRTUAL column, so the
        # suggestion is the column filled beside the live table instead.
        Example("ALTER TABLE orders ADD COLUMN total_cents bigint\n"
                "    GENERATED ALWAYS AS ((total * 100)::bigint) STORED;\n"
                "CREATE INDEX orders_total_cents ON orders (total_cents);\n",
                context=_CONTEXT, target_version=18),
        Example("ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu';\n", context=_CONTEXT,
                target_version=10),
        Example("ALTER TABLE orders SET UNLOGGED;\n", context=_CONTEXT),
        Example("ALTER TABLE carts SET LOGGED;\n", context=_CONTEXT,
                config={"tables": {"carts": {"rows": 3_000_000}}}),
        Example("CLUSTER orders USING orders_pkey;\n", context=_CONTEXT),
        Example("VACUUM FULL orders;\n", context=_CONTEXT),
        Example("ALTER TABLE orders SET TABLESPACE fast_disk;\n", context=_CONTEXT),
        # Alembic's op.alter_column(type_=...) sends the same ALTER COLUMN ... TYPE: the recipe
        # is shown as op.execute() calls.
        Example(alembic_revision("    op.alter_column(\"orders\", \"quantity\", "
                                 "type_=sa.BigInteger())\n", imports="import sqlalchemy as sa\n"),
                kind="python", context=_CONTEXT),
        # A large table, by the hints: the message says how large.
        Example("ALTER TABLE orders ALTER COLUMN quantity TYPE bigint;\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 50_000_000}}}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        version = ctx.settings.target_version
        catalog = ctx.model.catalog
        for rewrite in table_rewrites(ctx, stmt):
            table = catalog.table_or_former(rewrite.table)
            size = None if table is None else big_table(ctx, table, rewrite.table)
            if size is not None:
                virtual = _virtual_twin(ctx, stmt, rewrite) \
                    if version >= VIRTUAL_GENERATED_SINCE else None
                yield self._report(ctx, stmt, rewrite.table, rewrite.what, rewrite.why,
                                   _recipe(rewrite, version, virtual), size)

    def _report(self, ctx: FileContext, stmt: Statement, table: str, what: str, why: str,
                fix: Fix, size: str) -> Finding:
        message = (f"{what} rewrites every row of {shown_table(ctx, table)} under an ACCESS "
                   "EXCLUSIVE lock: "
                   f"{BLOCKED_BY['ACCESS EXCLUSIVE']}, reads and writes alike, waits for the "
                   "whole rewrite, which takes as long as copying the table and its indexes"
                   + (f"; {size}" if size else ""))
        help = ((why[0].upper() + why[1:] + ". ") if why else "") + (
            "A rewrite copies every row into a new file and rebuilds every index while "
            "holding ACCESS EXCLUSIVE, so the time every query waits grows with the table's "
            "size. Do the work beside the live table instead: a new column filled in batches "
            "and swapped in, or an online rebuild (pg_repack).")
        if why.startswith("a STORED") and ctx.settings.target_version >= VIRTUAL_GENERATED_SINCE:
            help += (" On PostgreSQL 18 a `VIRTUAL` generated column is computed on read and "
                     "rewrites nothing.")
        # `op.alter_column(..., type_=...)`: the recipe in Alembic's or Django's terms.
        return self.finding(ctx, message, orm_recipe(ctx, stmt, fix), help, node=stmt)


def _virtual_twin(ctx: FileContext, stmt: Statement, rewrite: Rewrite) -> str | None:
    """The statement as written with the added column's `STORED` made `VIRTUAL`, or None: not
    such a column, a column some index reads (PostgreSQL 18 indexes no virtual column), or SQL
    not verbatim in the file (a migration operation's, a string literal split in parts)."""
    cmd = rewrite.command or {}
    coldef = (cmd.get("def") or {}).get("ColumnDef") or {}
    column = coldef.get("colname")
    generated = any((c.get("Constraint") or {}).get("contype") == "CONSTR_GENERATED"
                    for c in coldef.get("constraints") or ())
    table = ctx.model.catalog.table_or_former(rewrite.table)
    if cmd.get("subtype") != "AT_AddColumn" or not column or not generated or \
            not stmt.exact or stmt.operation is not None or table is None or \
            any(column in index.reads for index in ctx.model.catalog.indexes_on(table.name)):
        return None
    tokens = ctx.code_tokens(stmt)
    named = next((i for i, t in enumerate(tokens)
                  if (t.text[1:-1] if t.text.startswith('"') else t.text.lower()) == column), None)
    stored = next((t for t in tokens[named or 0:] if t.upper == "STORED"), None)
    if named is None or stored is None:
        return None
    return ctx.text[stmt.start:stored.start] + "VIRTUAL" + ctx.text[stored.end:stmt.end] + ";"


def _recipe(rewrite: Rewrite, version: int, virtual: str | None = None) -> Fix:
    """The way around the rewrite: a new column filled in batches, or an online rebuild;
    `virtual`, the statement with its generated column made VIRTUAL, when that can be."""
    cmd = rewrite.command or {}
    subtype = cmd.get("subtype")
    if subtype == "AT_AlterColumnType":
        return _new_column_recipe(rewrite.table, cmd.get("name") or "", rewrite.new_type)
    if subtype == "AT_AddColumn":
        return _added_column_recipe(rewrite.table, (cmd.get("def") or {}).get("ColumnDef") or {},
                                    version, virtual)
    return _repack_recipe(rewrite.table, rewrite.what.strip("`"),
                          cmd.get("name") if subtype == "AT_SetTableSpace" else None)


def _new_column_recipe(table: str, column: str, new_type: str) -> Fix:
    target, col = n.quote_qualified(table), n.quote_ident(column)
    new_col, old_col = n.quote_ident(f"{column}_new"), n.quote_ident(f"{column}_old")
    return Fix.display(
        "Add a column of the new type, fill it in batches, then swap it in",
        f"ALTER TABLE {target} ADD COLUMN {new_col} {new_type};\n"
        f"-- a trigger keeps {new_col} equal to {col} on INSERT and UPDATE; then, in batches, "
        "each in its own transaction:\n"
        f"UPDATE {target} SET {new_col} = {col} WHERE <key range> AND {new_col} IS NULL;\n"
        f"-- give {new_col} the default of {col}, and its NOT NULL through a validated CHECK\n"
        f"-- then, in one short transaction: drop the trigger, swap the names, and free the old\n"
        f"-- column, which new rows no longer fill\n"
        f"ALTER TABLE {target} RENAME COLUMN {col} TO {old_col};\n"
        f"ALTER TABLE {target} RENAME COLUMN {new_col} TO {col};\n"
        f"ALTER TABLE {target} ALTER COLUMN {old_col} DROP NOT NULL,\n"
        f"    ALTER COLUMN {old_col} DROP DEFAULT;\n"
        f"-- drop {old_col} once no code reads it")


def _added_column_recipe(table: str, coldef: dict[str, Any], version: int,
                         virtual: str | None) -> Fix:
    target = n.quote_qualified(table)
    col = n.quote_ident(coldef.get("colname") or "")
    typ = shown_type(n.type_spelling(coldef.get("typeName"))) or "<type>"
    constraints = [c.get("Constraint") or {} for c in coldef.get("constraints") or ()]
    generated = next((c for c in constraints if c.get("contype") == "CONSTR_GENERATED"), None)
    if generated is not None and version >= VIRTUAL_GENERATED_SINCE and virtual is not None:
        return Fix.display("Make the generated column VIRTUAL (PostgreSQL 18)", virtual)
    if n.type_name(coldef.get("typeName")) in n.SERIAL_TYPES or any(
            c.get("contype") == "CONSTR_IDENTITY" for c in constraints):
        return _numbered_column_recipe(target, table, coldef.get("colname") or "", typ)
    default = next((c.get("raw_expr") for c in constraints
                    if c.get("contype") == "CONSTR_DEFAULT"), None)
    value = f"{volatile_call(default)}()" if volatile_call(default) else "<value>"
    if generated is not None:
        value = "<the expression>"
    lines = [f"ALTER TABLE {target} ADD COLUMN {col} {typ};"]
    if default is not None and generated is None:
        lines.append(f"ALTER TABLE {target} ALTER COLUMN {col} SET DEFAULT {value};  "
                     "-- new rows only")
    else:
        lines.append(f"-- new rows: a default or trigger that sets {col}")
    lines.append("-- then, in batches, each in its own transaction:")
    lines.append(f"UPDATE {target} SET {col} = {value} WHERE <key range> AND {col} IS NULL;")
    return Fix.display("Add the column without the default, then fill it in batches",
                       "\n".join(lines))


def _numbered_column_recipe(target: str, table: str, column: str, typ: str) -> Fix:
    # What `serial` does, in steps: the sequence numbers new rows at once and old rows in
    # batches, and no statement holds the lock for more than an instant.
    col = n.quote_ident(column)
    sequence = f"{table.split('.')[-1]}_{column}_seq"
    qualified = n.quote_qualified(f"{table.rsplit('.', 1)[0]}.{sequence}" if "." in table
                                  else sequence)
    literal = "'" + qualified.replace("'", "''") + "'"
    return Fix.display(
        "Add the column plainly, number new rows from a sequence, then the old ones in batches",
        f"ALTER TABLE {target} ADD COLUMN {col} {typ};\n"
        f"CREATE SEQUENCE {qualified} OWNED BY {target}.{col};\n"
        f"ALTER TABLE {target} ALTER COLUMN {col} SET DEFAULT nextval({literal});\n"
        "-- then, in batches, each in its own transaction:\n"
        f"UPDATE {target} SET {col} = nextval({literal}) WHERE <key range> AND {col} IS NULL;")


def _repack_recipe(table: str, what: str, tablespace: str | None) -> Fix:
    if what in ("SET LOGGED", "SET UNLOGGED"):
        return Fix.display(
            f"Copy into a new {'logged' if what == 'SET LOGGED' else 'unlogged'} table in "
            "batches, then swap the names",
            f"CREATE {'' if what == 'SET LOGGED' else 'UNLOGGED '}TABLE "
            f"{n.quote_qualified(table + '_new')} (LIKE {n.quote_qualified(table)} "
            "INCLUDING ALL);\n"
            "-- copy the rows in batches (a trigger forwards new writes), then rename both "
            "tables in one short transaction")
    option = f" --tablespace={tablespace}" if tablespace else ""
    order = " --order-by=<columns>" if what == "CLUSTER" else ""
    return Fix.display(
        "Rebuild the table online with pg_repack",
        f"-- from a shell, not in the migration:\n"
        f"-- pg_repack --table={table}{option}{order} <database>")
