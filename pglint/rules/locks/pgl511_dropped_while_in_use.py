"""PGL511 dropped-while-in-use."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix, Severity
from pglint.kit.example_projects import django_migration
from pglint.kit.locks import defined_elsewhere, runs_in_migration
from pglint.kit.orm_migrations import as_written
from pglint.model.uses import Use
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL,\n"
           "                     legacy_total numeric);\n"
           "CREATE TABLE customers (customer_id bigint PRIMARY KEY, status text);\n")
_QUERIES = ("-- name: OrderTotals :many\n"
            "SELECT order_id, legacy_total FROM orders WHERE status = $1;\n")
_CONTEXT = {"migrations/V1__init.sql": _ORDERS, "queries/orders.sql": _QUERIES}


def _django(fields: str) -> dict[str, str]:
    """The schema and a Django model of `orders` with these fields (over the SQL schema:
    `managed = False`, still a mapping of the table)."""
    return {"migrations/V1__init.sql": _ORDERS, "shop/models.py": (
        "from django.db import models\n\n\n"
        "class Order(models.Model):\n"
        "    order_id = models.BigAutoField(primary_key=True)\n"
        "    status = models.TextField()\n"
        f"{fields}\n"
        "    class Meta:\n"
        "        db_table = \"orders\"\n"
        "        managed = False\n")}


def _sqlalchemy(columns: str) -> dict[str, str]:
    """The schema and a SQLAlchemy declarative model of `orders` with these columns."""
    return {"migrations/V1__init.sql": _ORDERS, "shop/models.py": (
        "from sqlalchemy import BigInteger, Numeric, Text\n"
        "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
        "class Base(DeclarativeBase):\n"
        "    pass\n\n\n"
        "class Order(Base):\n"
        "    __tablename__ = \"orders\"\n"
        "    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)\n"
        "    status: Mapped[str] = mapped_column(Text)\n"
        f"{columns}")}


class DroppedWhileInUse(Rule):
    """
    ## What it does
    Flags a migration that drops or renames a table or a column that the application's SQL
    (its query files and the SQL strings in its code) still names, or that its Django or
    SQLAlchemy models still map: `ALTER TABLE ... DROP COLUMN`, `RENAME COLUMN`, `DROP TABLE`,
    `ALTER TABLE ... RENAME TO`. Only tables and columns that an earlier migration created and
    that are gone once every migration has run count; a column the application names only in
    a query over several tables that another of those tables also has is left alone, and
    `SELECT *` names no column. A model maps its table (a Django model's `db_table` or
    `<app>_<model>`, `managed = False` included; a SQLAlchemy `__tablename__` or `Table(...)`)
    and each field's column (`db_column`, `<name>_id` of a `ForeignKey`, a `ManyToManyField`'s
    join table; a `Column(...)` / `mapped_column(...)` attribute, named by its first argument
    when that is a string); only application code counts, not migrations, tests or scripts.
    Alembic's `op.drop_column`, `op.drop_table`, `op.rename_table` and Django's `RemoveField`,
    `DeleteModel`, `RenameField`, `RenameModel` are judged by the SQL they send.

    ## Why is this bad?
    The migration and the code that still names the column ship together, but they do not
    switch over together: from the moment the migration commits, every query that names the
    column fails (SQLSTATE 42703, undefined_column; 42P01, undefined_table, for a table) until
    the new code is deployed everywhere, and a rollback of the code does not bring the column
    back. The safe order is the other way round: ship code that no longer names it, then drop
    it in a later release (expand, then contract). A rename is a drop for the code that uses
    the old name. (The statement itself takes an ACCESS EXCLUSIVE lock on the table, for an
    instant once granted: PGL301's `lock_timeout` is what bounds its wait.)

    ## Example
    ```sql
    ALTER TABLE orders DROP COLUMN legacy_total;
    ```
    while `queries/orders.sql` still says `SELECT order_id, legacy_total FROM orders`, or
    `shop/models.py` still has `legacy_total = models.DecimalField(...)` on `Order` (Django
    and SQLAlchemy name every mapped column whenever they load the model: every query of
    `Order` fails, not only the code that reads the field).

    ## Use instead
    Remove `legacy_total` from the application's queries and models and ship that first; drop
    the column in a later migration. (Where Django's migrations own the schema, the migration
    of the removed field is a `SeparateDatabaseAndState` that keeps the column.)

    ## Fix safety
    Display only: what to change is the code, and the order of releases.
    """

    code = "PGL511"
    name = "dropped-while-in-use"
    summary = ("A migration drops or renames a table or column the application's SQL still "
               "names or its models still map")
    references = (
        "https://www.postgresql.org/docs/current/sql-altertable.html",
        "https://www.postgresql.org/docs/current/errcodes-appendix.html",
    )
    severity = Severity.ERROR
    default_enabled = False
    off_by_default = (
        "not yet judged; on the ecosystem corpus with every migration new it reports 5 "
        "findings, none among each repository's last 3 migrations: 4 on columns a later "
        "migration adds back through SQL pglint cannot read (an f-string over a loop of table "
        "names), 1 on a model that no code queries any more")
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("AlterTableStmt", "RenameStmt", "DropStmt")
    lock = "ACCESS EXCLUSIVE"
    lock_held = "instant"

    VALID = (
        # Nothing names the column any more.
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n", context={
            "migrations/V1__init.sql": _ORDERS,
            "queries/orders.sql": "SELECT order_id FROM orders WHERE status = $1;\n"}),
        # Dropped, then added again by a later statement: it exists once the migrations ran.
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n"
                "ALTER TABLE orders ADD COLUMN legacy_total numeric;\n", context=_CONTEXT),
        # `status` in a two-table query may be the other table's: not evidence.
        Example("ALTER TABLE orders DROP COLUMN status;\n", context={
            "migrations/V1__init.sql": _ORDERS,
            "queries/orders.sql": "SELECT status FROM orders JOIN customers USING (customer_id)"
                                  ";\n"}),
        # A table created in the same file has no users yet.
        Example("CREATE TABLE notes (note_id bigint, body text);\n"
                "ALTER TABLE notes DROP COLUMN body;\n",
                context={"queries/notes.sql": "SELECT body FROM notes;\n"}),
        # SELECT * names no column.
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n", context={
            "migrations/V1__init.sql": _ORDERS,
            "queries/orders.sql": "SELECT * FROM orders;\n"}),
        # The field left the Django model in an earlier release: nothing maps the column.
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n", context=_django("")),
        # The SQLAlchemy model already maps the new name.
        Example("ALTER TABLE orders RENAME COLUMN legacy_total TO total;\n",
                context=_sqlalchemy("    total: Mapped[float | None] = mapped_column(Numeric)\n")),
    )

    INVALID = (
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n", context=_CONTEXT),
        Example("ALTER TABLE orders RENAME COLUMN legacy_total TO total;\n", context=_CONTEXT),
        Example("DROP TABLE customers;\n", context={
            "migrations/V1__init.sql": _ORDERS,
            "queries/customers.sql": "UPDATE customers SET status = $2 WHERE customer_id = $1;\n"}),
        Example("ALTER TABLE customers RENAME TO clients;\n", context={
            "migrations/V1__init.sql": _ORDERS,
            "queries/customers.sql": "SELECT c.status FROM customers c;\n"}),
        # Django selects every field's column whenever it loads an Order.
        Example("ALTER TABLE orders DROP COLUMN legacy_total;\n", context=_django(
            "    legacy_total = models.DecimalField(max_digits=12, decimal_places=2, "
            "null=True)\n")),
        # The SQLAlchemy model still maps the old name (the column's name is mapped_column's
        # first argument).
        Example("ALTER TABLE orders RENAME COLUMN legacy_total TO total;\n", context=_sqlalchemy(
            "    total: Mapped[float | None] = mapped_column(\"legacy_total\", Numeric)\n")),
        Example("DROP TABLE orders;\n", context=_django("")),
        # Django's RemoveField sends the same DROP COLUMN: the later release is the operation.
        Example(django_migration("        migrations.RemoveField(model_name=\"order\", "
                                 "name=\"status\"),\n"),
                kind="python", context={
                    "migrations/V1__init.sql":
                        "CREATE TABLE app_order (id bigint PRIMARY KEY, status text);\n",
                    "queries/orders.sql": "SELECT id FROM app_order WHERE status = $1;\n"}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_in_migration(stmt):
            return
        for table, column, what, new in _removed(stmt.kind, node):
            if not _existed_elsewhere(ctx, stmt, table, column, new):
                continue
            uses = _uses(ctx, table, column)
            if uses:
                yield self._report(ctx, stmt, table, column, what, uses)

    def _report(self, ctx: FileContext, stmt: Statement, table: str, column: str | None,
                what: str, uses: list[Use]) -> Finding:
        named = f"`{table}.{column}`" if column else f"table `{table}`"
        error = "42703 undefined_column" if column else "42P01 undefined_table"
        sql = [u for u in uses if not u.mapped]
        mapped = _mappings([u for u in uses if u.mapped])
        if not sql:
            return self._report_mapped(ctx, stmt, named, what, error, mapped, column is not None)
        where = _listed([str(u.location) for u in sql])
        message = (f"{what} removes {named} (an instant ACCESS EXCLUSIVE lock), but the "
                   f"application's SQL still names it ({where}): those statements fail "
                   f"({error}) from the moment the migration commits")
        if mapped:
            message += f"; it is also still mapped in {mapped}"
        help = ("The code that names it and this migration do not switch over together: "
                "between the migration and the last deploy of the new code (and after a "
                "rollback of the code) every such statement fails. Ship code that no longer "
                "names it first, then drop or rename it in a later release; for a rename, add "
                "the new name first (a new column kept in step, or a view under the new name) "
                "and move the code over.")
        written, comment = as_written(ctx, stmt)  # `RemoveField(...)`: in the file's terms
        fix = Fix.display(f"Stop naming {named} in the application first",
                          f"{comment} first release: remove {named} from {where}\n"
                          f"{comment} a later release: {written}")
        return self.finding(ctx, message, fix, help, node=stmt)

    def _report_mapped(self, ctx: FileContext, stmt: Statement, named: str, what: str,
                       error: str, mapped: str, is_column: bool) -> Finding:
        """The finding when only the application's models still map it."""
        verb = "renamed" if what.startswith("`RENAME") else "dropped"
        # Django and SQLAlchemy select every mapped column whenever they load a model: one
        # mapping breaks every query of the model, not only the code that reads the field.
        why = ("the ORM names every mapped column whenever it loads the model" if is_column
               else "every query the ORM makes of the model names it")
        message = (f"{named} is {verb} here ({what}, an instant ACCESS EXCLUSIVE lock) but still "
                   f"mapped in {mapped}: {why}, and those queries fail ({error}) from the "
                   f"moment the migration commits")
        if is_column:
            remove = ("(Django: remove the field, and where Django's migrations own the "
                      "schema, make its migration a `SeparateDatabaseAndState` that keeps the "
                      "column; SQLAlchemy: remove the attribute or the `Column`)")
        else:
            remove = ("(Django: remove the model, and where Django's migrations own the "
                      "schema, make its migration a `SeparateDatabaseAndState` that keeps the "
                      "table; SQLAlchemy: remove the class or the `Table`)")
        help = ("The model and this migration do not switch over together: between the "
                "migration and the last deploy of the new code (and after a rollback of the "
                "code) every query of the model fails. Remove the mapping first and ship it "
                f"{remove}, then drop or rename it in a later release; for a rename, add the "
                "new name first (a new column kept in step, or a view under the new name) and "
                "move the model over.")
        fix = Fix.display(f"Stop mapping {named} in the application first",
                          f"-- first release: remove the mapping in {mapped}\n"
                          f"-- a later release: {ctx.statement_text(stmt).strip()};")
        return self.finding(ctx, message, fix, help, node=stmt)


def _listed(items: list[str]) -> str:
    """The first three, and how many more."""
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")


def _mappings(uses: list[Use]) -> str:
    """`shop/models.py:41` (`Order.legacy_total`), ...: each model mapping once."""
    seen: dict[str, str] = {}
    for use in uses:
        seen.setdefault(use.mapped, f"`{use.location}` (`{use.mapped}`)")
    return _listed(list(seen.values()))


def _removed(kind: str, node: dict[str, Any]) -> list[tuple[str, str | None, str, str | None]]:
    """(table, column or None, how the statement says it, the new name of a rename) of what
    the statement removes under its old name."""
    if kind == "AlterTableStmt" and node.get("objtype") == "OBJECT_TABLE":
        table = n.relation_name(node.get("relation"))
        return [(table, cmd["name"].lower(), f"`DROP COLUMN {cmd['name']}`", None)
                for cmd in (c.get("AlterTableCmd") or {} for c in node.get("cmds") or ())
                if table and cmd.get("subtype") == "AT_DropColumn" and cmd.get("name")]
    if kind == "RenameStmt":
        table = n.relation_name(node.get("relation"))
        new = (node.get("newname") or "").lower()
        if not table or not new:
            return []
        if node.get("renameType") == "OBJECT_COLUMN" and node.get("subname"):
            return [(table, node["subname"].lower(),
                     f"`RENAME COLUMN {node['subname']} TO {node['newname']}`", new)]
        if node.get("renameType") == "OBJECT_TABLE":
            schema = (node.get("relation") or {}).get("schemaname")
            return [(table, None, f"`RENAME TO {node['newname']}`", n.catalog_key(schema, new))]
        return []
    if kind == "DropStmt" and node.get("removeType") == "OBJECT_TABLE":
        return [(name, None, f"`DROP TABLE {name}`", None) for name in n.dropped_names(node)
                if name]
    return []


def _existed_elsewhere(ctx: FileContext, stmt: Statement, table: str, column: str | None,
                       new: str | None) -> bool:
    """Whether what the statement removes was made by a migration that has run (another file,
    not a new one) and is still gone once every migration has run. The catalog holds that
    final state, and what drops removed."""
    catalog = ctx.model.catalog
    if table in ctx.session(stmt).created_tables or ctx.model.created_by_new_migration(table):
        return False
    final = catalog.tables.get(table)
    if column is None:  # the table itself
        made = catalog.tables.get(new) if new else catalog.dropped_tables.get(table)
        return final is None and made is not None and _elsewhere(ctx, made.path)
    if final is None or column in final.columns:
        return False
    made = final.columns.get(new) if new else catalog.dropped_columns.get((table, column))
    return made is not None and made.location is not None and \
        _elsewhere(ctx, made.location.path)


def _elsewhere(ctx: FileContext, path: str) -> bool:
    """Made by another migration file, one that has run when pglint knows which have (the
    catalog no longer holds what was dropped: existing_table cannot answer)."""
    new = ctx.model.new_migration_paths
    return defined_elsewhere(ctx, path) and (new is None or path not in new)


def _uses(ctx: FileContext, table: str, column: str | None) -> list[Use]:
    """Where the application names the table (or its column) for certain: an unqualified
    column of a several-table statement counts only when none of the other tables has it."""
    tables = ctx.model.catalog.tables
    out = []
    for use in ctx.model.uses.get((table, column), ()):
        if column is not None and any(
                other in tables and column in tables[other].columns for other in use.others):
            continue
        out.append(use)
    return out
