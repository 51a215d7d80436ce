"""PGL504 concurrently-in-transaction."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix, Severity
from pglint.kit.example_projects import (ALEMBIC_CONCURRENT_BUILD, DJANGO_ORDERS,
                                         alembic_revision, django_migration)
from pglint.kit.locks import one_query_runner, opt_out_line, runner_transaction, \
    statements_in_one_query
from pglint.kit.orm_migrations import outside_transaction_recipe
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL);\n"
_CONTEXT = {"migrations/V1__init.sql": _ORDERS}
_ADD_INDEX = ("        AddIndexConcurrently(\n"
              "            \"order\",\n"
              "            models.Index(fields=[\"created\"], name=\"app_order_created_idx\"),\n"
              "        ),\n")
_POSTGRES_OPERATIONS = "from django.contrib.postgres.operations import AddIndexConcurrently\n"


class ConcurrentlyInTransaction(Rule):
    """
    ## What it does
    Flags `CREATE INDEX CONCURRENTLY`, `DROP INDEX CONCURRENTLY`, `REINDEX ... CONCURRENTLY`
    and `ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY` inside the file's own transaction
    block (`BEGIN ... COMMIT`), a DO block or a function body; in the transaction a migration
    runner known to wrap the file opened (a goose file without `-- +goose NO TRANSACTION`, a
    dbmate file without `transaction:false`, a sql-migrate file without `-- +migrate Up
    notransaction`, an Alembic revision outside an autocommit block,
    a Django migration without `atomic = False`: their operations too, `AddIndexConcurrently`,
    `op.create_index(..., postgresql_concurrently=True)`); or beside other statements in an
    ory/popx `.autocommit.` file or a postgres-migrations file marked `-- postgres-migrations
    disable-transaction` (both runners send the file as one query string, which PostgreSQL runs
    as one implicit transaction). Runners that may leave a file outside a transaction by
    themselves are not judged: golang-migrate sends an `.up.sql` in one Exec, Flyway runs a
    script of non-transactional statements outside one.

    ## Why is this bad?
    PostgreSQL refuses them there: `CREATE INDEX CONCURRENTLY cannot run inside a transaction
    block` (SQLSTATE 25001, active_sql_transaction), or `... cannot be executed from a function`.
    A concurrent build commits several transactions of its own and waits for other transactions
    between them, which a surrounding transaction would make impossible. The migration fails
    when it runs; this is not a matter of style.

    ## Example
    ```sql
    BEGIN;
    CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
    COMMIT;
    ```

    ## Use instead
    ```sql
    CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
    ```
    Outside any transaction block, ideally alone in its migration, and with the runner's own
    per-file transaction turned off (Flyway `executeInTransaction=false`, Diesel
    `run_in_transaction = false`, sqlx `-- no-transaction`, Rails `disable_ddl_transaction!`,
    Django `atomic = False`). On a table created earlier in the same file, drop `CONCURRENTLY`:
    nobody uses that table yet.

    ## Fix safety
    Unsafe, and only for an index on a table created earlier in the same file: pglint removes
    `CONCURRENTLY` (a plain build of a brand-new table blocks nobody). Otherwise the fix is
    shown: moving the statement out of the transaction changes what commits together, which is
    the author's call. It names the runner's way out: goose's, dbmate's or sql-migrate's
    opt-out line on a migration of its own, Alembic's `op.get_context().autocommit_block()`,
    Django's `atomic = False`.
    """

    code = "PGL504"
    name = "concurrently-in-transaction"
    summary = "CONCURRENTLY inside a transaction block, DO block or function fails (25001)"
    references = (
        "https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY",
        "https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY",
    )
    squawk = ("ban-concurrent-index-creation-in-transaction",)
    severity = Severity.ERROR
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("IndexStmt", "DropStmt", "ReindexStmt", "AlterTableStmt")
    # No lock to verify: the statement never runs inside a transaction, where pg_locks could be
    # read (tests/test_lock_rules.py checks that it fails there instead).
    lock = None

    VALID = (
        Example("CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        Example("BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;\n"
                "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);\n",
                context=_CONTEXT),
        # REFRESH MATERIALIZED VIEW CONCURRENTLY may run in a transaction block.
        Example("CREATE MATERIALIZED VIEW order_counts AS\n"
                "    SELECT status, count(*) AS n FROM orders GROUP BY status;\n"
                "CREATE UNIQUE INDEX order_counts_status_idx ON order_counts (status);\n"
                "BEGIN;\nREFRESH MATERIALIZED VIEW CONCURRENTLY order_counts;\nCOMMIT;\n",
                context=_CONTEXT),
        # The runner's transaction turned off: goose, Alembic (an autocommit block, or after
        # the revision commits its transaction itself), Django (`atomic = False`).
        Example("-- +goose Up\n-- +goose NO TRANSACTION\n"
                "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        Example("-- +migrate Up notransaction\n"
                "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
                "-- +migrate Down\nDROP INDEX CONCURRENTLY orders_status_idx;\n",
                context=_CONTEXT),
        Example(ALEMBIC_CONCURRENT_BUILD, kind="python", context=_CONTEXT),
        Example(alembic_revision(
            "    op.execute(\"COMMIT\")\n"
            "    op.execute(\"CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)\")\n"),
            kind="python", context=_CONTEXT),
        Example(django_migration(_ADD_INDEX, atomic=False, imports=_POSTGRES_OPERATIONS),
                kind="python", context=DJANGO_ORDERS),
        # The revision's connection switched to autocommit before the build (faraday).
        Example(alembic_revision(
            "    op.get_bind().execution_options(isolation_level=\"AUTOCOMMIT\")\n"
            "    op.create_index(\"orders_status_idx\", \"orders\", [\"status\"],\n"
            "                    postgresql_concurrently=True)\n"),
            kind="python", context=_CONTEXT),
    )
    INVALID = (
        # Runners that wrap each file in a transaction of their own.
        Example("-- +goose Up\n"
                "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        Example("-- +migrate Up\n"
                "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
                "-- +migrate Down\nDROP INDEX orders_status_idx;\n",
                context=_CONTEXT),
        Example(alembic_revision(
            "    op.create_index(\"orders_status_idx\", \"orders\", [\"status\"],\n"
            "                    postgresql_concurrently=True)\n"),
            kind="python", context=_CONTEXT),
        Example(django_migration(_ADD_INDEX, imports=_POSTGRES_OPERATIONS),
                kind="python", context=DJANGO_ORDERS),
        Example(django_migration(
            "        migrations.RunSQL(\"CREATE INDEX CONCURRENTLY app_order_created_idx \"\n"
            "                          \"ON app_order (created)\"),\n"),
            kind="python", context=DJANGO_ORDERS),
        Example("BEGIN;\nCREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n"
                "COMMIT;\n", context=_CONTEXT),
        Example("START TRANSACTION;\nDROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;\n"
                "COMMIT;\n", context=_CONTEXT),
        Example("DO $$\nBEGIN\n  REINDEX TABLE CONCURRENTLY orders;\nEND $$;\n",
                context=_CONTEXT),
        # A table created in the same transaction: a plain build blocks nobody.
        Example("BEGIN;\nCREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                "CREATE INDEX CONCURRENTLY notes_author_idx ON notes (author);\nCOMMIT;\n",
                fixed="BEGIN;\nCREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                      "CREATE INDEX notes_author_idx ON notes (author);\nCOMMIT;\n"),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        what = _concurrent(stmt.kind, node)
        if what is None:
            return
        session = ctx.session(stmt)
        outcome = "the migration fails"
        wrapper = None
        if stmt.parent is not None:
            holder = "a DO block" if stmt.parent.kind == "DoStmt" else "a function"
            error = f"`{what} CONCURRENTLY cannot be executed from a function`"
            if stmt.parent.kind != "DoStmt":
                outcome = "every call of the function fails"
        elif session.in_transaction:
            holder = "the transaction block opened"
            begin = session.transaction_start
            if begin is not None:
                line = ctx.file.position(begin.start)[0]
                holder += f" on line {line}"
            error = f"`{what} CONCURRENTLY cannot run inside a transaction block`"
        elif (count := statements_in_one_query(ctx)) > 1:
            holder = (f"{one_query_runner(ctx)} of {count} statements, which the runner sends "
                      "as one query string (PostgreSQL runs it as one implicit transaction)")
            error = f"`{what} CONCURRENTLY cannot run inside a transaction block`"
        elif (wrapper := runner_transaction(ctx, stmt)) is not None:
            holder = wrapper
            error = f"`{what} CONCURRENTLY cannot run inside a transaction block`"
        else:
            return
        rejecter, code = "PostgreSQL", " (SQLSTATE 25001)"
        if stmt.operation is not None and "Django" in holder:
            # AddIndexConcurrently and the like: Django refuses before sending any SQL.
            rejecter, error, code = "Django", "`NotSupportedError` (set `atomic = False`)", ""
        message = (f"`{what} CONCURRENTLY` inside {holder}: {rejecter} rejects it with "
                   f"{error}{code} and {outcome}")
        help = (
            "A concurrent index build, drop or rebuild (and a concurrent partition detach) "
            "commits transactions of its own and waits for other transactions between them, so "
            "PostgreSQL refuses to run it inside a transaction block, a DO block or a function. "
            "Run it on its own, outside any transaction, with the migration runner's per-file "
            "transaction turned off for this migration.")
        table = n.relation_name(node.get("relation")) if stmt.kind == "IndexStmt" else None
        concurrently = next((i for i, t in enumerate(ctx.code_tokens(stmt))
                             if t.upper == "CONCURRENTLY"), None)
        if table is not None and table in session.created_tables and stmt.parent is None \
                and concurrently:
            tokens = ctx.code_tokens(stmt)
            fix = Fix("Build the new table's index without `CONCURRENTLY`", Applicability.UNSAFE,
                      (Edit.delete(tokens[concurrently - 1].end, tokens[concurrently].end),))
            help += (f" `{table}` is created earlier in this file, so nobody uses it yet: a "
                     "plain build is as good and may stay in the transaction.")
        elif wrapper is not None:
            line = opt_out_line(ctx)
            if line is not None and "goose" in line:
                line += "\n-- +goose Up"  # the new file's header, as goose's docs write it
            fix = outside_transaction_recipe(ctx, stmt) or Fix.display(
                "Run it in a migration of its own, outside the runner's transaction",
                (f"{line}\n" if line else "") + ctx.statement_text(stmt) + ";")
        else:
            fix = Fix.display("Run it outside any transaction block, in its own migration",
                              ctx.statement_text(stmt) + ";")
        yield self.finding(ctx, message, fix, help, node=stmt)


def _concurrent(kind: str, node: dict[str, Any]) -> str | None:
    """The statement's name when it is a CONCURRENTLY form that refuses a transaction block."""
    if kind == "IndexStmt" and node.get("concurrent"):
        return "CREATE INDEX"
    if kind == "DropStmt" and node.get("concurrent"):
        return "DROP INDEX"
    if kind == "ReindexStmt" and "concurrently" in n.def_elems(node.get("params")):
        return "REINDEX"
    if kind == "AlterTableStmt":
        for item in node.get("cmds") or ():
            cmd = item.get("AlterTableCmd", {})
            partition = (cmd.get("def") or {}).get("PartitionCmd") or {}
            if cmd.get("subtype") == "AT_DetachPartition" and partition.get("concurrent"):
                return "ALTER TABLE ... DETACH"
    return None
