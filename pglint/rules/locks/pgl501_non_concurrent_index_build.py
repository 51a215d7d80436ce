"""PGL501 non-concurrent-index-build."""

from __future__ import annotations

from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.example_projects import (ALEMBIC_CONCURRENT_BUILD, DJANGO_ORDERS,
                                         LIVE_MIGRATIONS, alembic_env, alembic_revision,
                                         django_migration)
from pglint.kit.locks import (BLOCKED_BY, LOCK_EVIDENCE, OWN_MIGRATION_HELP, SIZE_EVIDENCE,
                              SMALL_TABLE_ROWS, big_table, built_before, concurrent_twin,
                              in_transaction_block, keyword,
                              later_in_transaction, locked_earlier, online_build, opt_out_line,
                              runner_wraps_file, runs_in_migration,
                              runs_outside_transaction, shown_table, table_before_file)
from pglint.kit.orm_migrations import (concurrent_help, concurrent_recipe, orm_recipe,
                                      outside_transaction_recipe, sql_of)
from pglint.kit.changes import is_popx_chunk, postgres_autocommit_name
from pglint.kit.roles import may_run_elsewhere
from pglint.roles import MIGRATION
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_ORDERS = ("CREATE TABLE orders (order_id bigint PRIMARY KEY, status text NOT NULL,\n"
           "                     created_at timestamptz NOT NULL DEFAULT now());\n")
# The project builds an index on `orders` concurrently in another migration: its team knows
# the table is too big for a plain build (the size evidence, pglint.kit.locks.size_evidence).
_ORDERS_ONLINE = {"migrations/V8__orders_created.sql":
                  "CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);\n"}
_CONTEXT = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS, **_ORDERS_ONLINE}
# A build after a plain DROP INDEX of the same transaction runs under the drop's ACCESS
# EXCLUSIVE lock (tests/test_lock_rules.py reads it from pg_locks).
REBUILD = ("DROP INDEX orders_created_at_idx;\n"
           "CREATE INDEX orders_created_at_idx ON orders (created_at, order_id);\n")
# A rename written as a build and a drop: the same definition under a new name.
RENAME_COPY = ("CREATE INDEX orders_created_idx ON orders (created_at);\n"
               "DROP INDEX orders_created_at_idx;\n")
_DJANGO_ORDERS = {**DJANGO_ORDERS, "migrations/V8__orders_created.sql":
                  "CREATE INDEX CONCURRENTLY app_order_created_id_idx\n"
                  "    ON app_order (created, id);\n"}
_PARTITIONED = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": (
    "CREATE TABLE events (event_id bigint, kind text, created_at timestamptz NOT NULL)\n"
    "    PARTITION BY RANGE (created_at);\n"
    "CREATE TABLE events_2025 PARTITION OF events\n"
    "    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\n")}
_ADD_INDEX = ("        {}(\n"
              "            model_name=\"order\",\n"
              "            index=models.Index(fields=[\"created\"], name=\"app_order_created_idx\"),\n"
              "        ),\n")


class NonConcurrentIndexBuild(Rule):
    """
    ## What it does
    Flags `CREATE INDEX` without `CONCURRENTLY` on a table that an earlier migration file
    created. A table created earlier in the same file, or one the replayed migrations do not
    show, is left alone.
    Alembic's `op.create_index` and Django's `AddIndex` are judged by the `CREATE INDEX` they
    send; their fix is shown in the framework's terms (`postgresql_concurrently=True` in an
    autocommit block, `AddIndexConcurrently` in a migration with `atomic = False`).

    It reports only a table known to be big, since a build on a small one is over in moments
    (`size-evidence`, on by default): `[tool.pglint.tables]` gives it at least
    `small-table-rows` rows (default 10,000; the message gives the size), or another migration
    of the project builds an index on it `CONCURRENTLY` (or reindexes it so), under any name
    the table has had: its team already knows a plain build there blocks too long, and the
    message cites that statement. Only a migration its author could see counts: one before
    it in its stream, or one of the same change; a build written later says the table grew
    since. A table hinted smaller is left alone, and so is `CREATE INDEX IF NOT EXISTS` of an
    index an earlier migration built (it builds nothing) and a plain build whose twin in
    another branch of the file is concurrent.

    After a plain `DROP INDEX` of the same transaction the build runs under the ACCESS
    EXCLUSIVE lock the drop took (reads wait too): the suggestion builds the new index
    concurrently first and drops the old one after. A build of the very index the migration
    drops under another name is a rename: the suggestion is `ALTER INDEX ... RENAME TO`.

    ## Why is this bad?
    A plain `CREATE INDEX` takes a SHARE lock on the table for the whole build: every `INSERT`,
    `UPDATE` and `DELETE` on it waits until the index is built, which on a large table is
    minutes of a stalled application (reads still run). `CREATE INDEX CONCURRENTLY` takes a
    SHARE UPDATE EXCLUSIVE lock instead, which lets reads and writes go on: it scans the table
    twice and waits for the transactions that were running to finish, so it takes longer, but
    nobody waits for it.

    `CONCURRENTLY` cannot run inside a transaction block (SQLSTATE 25001), nor in a DO block or
    a function, nor on a partitioned table (build the index `ON ONLY` the parent, each
    partition's index concurrently, then `ALTER INDEX ... ATTACH PARTITION`).

    ## Example
    ```sql
    CREATE INDEX orders_status_idx ON orders (status);
    ```

    ## Use instead
    ```sql
    CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);
    ```

    ## Fix safety
    Unsafe: pglint adds `CONCURRENTLY`, which fails (SQLSTATE 25001) when the file runs inside a
    transaction. Many migration runners wrap each file in one (Flyway by default on
    PostgreSQL, Diesel, sqlx, Rails, Django): turn that off for this migration (Flyway
    `executeInTransaction=false`, Diesel `run_in_transaction = false` in `metadata.toml`, sqlx
    `-- no-transaction`, Rails `disable_ddl_transaction!`, Django `atomic = False`), ideally
    with the index alone in its migration. A concurrent build that fails (a deadlock, a
    uniqueness violation) leaves an INVALID index behind: drop it and build it again. Inside
    the file's own `BEGIN ... COMMIT`, in a DO block, or on a partitioned table the fix is shown,
    not applied.
    Applied (unsafe) only when the file says its runner leaves it outside a transaction (goose
    `-- +goose NO TRANSACTION`, dbmate `transaction:false`, an ory/popx `.autocommit.` file);
    otherwise shown, with what each runner needs.
    """

    code = "PGL501"
    name = "non-concurrent-index-build"
    summary = "CREATE INDEX without CONCURRENTLY blocks writes to an existing table for the build"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 1 of 13 findings on repositories it was not tuned on (round "
        "18; 12 of 46 in round 16, before its size evidence was narrowed): the other tables "
        "were moderate, or the projects upgrade with their services stopped; whether migrations "
        "run against a live database under load is rarely in the code. Turn it on where they do"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY",
    )
    squawk = ("require-concurrent-index-creation",)
    # On by default: once it needed evidence that the table is big, 12 of 18 findings drawn
    # from the corpus were judged worth acting on (benchmarks/ecosystem/judged.md, round 8;
    # 11 of 31 before, round 7).
    file_kinds = frozenset({"migration"})
    roles = frozenset({MIGRATION})
    # Only a table known to be big: a hint, or the project's own concurrent build on it
    # (pglint.kit.locks.big_table).
    options = (LOCK_EVIDENCE, SMALL_TABLE_ROWS, SIZE_EVIDENCE)
    judges_applied_migrations = False
    judges_operations = True  # the SQL of Django and Alembic operations too
    statements = ("IndexStmt",)
    # The strongest lock it takes on the table, and for how long (tests/test_lock_rules.py).
    lock = "SHARE"
    lock_held = "build"

    VALID = (
        # The same transaction already holds ACCESS EXCLUSIVE on the table: the build blocks
        # nobody the ALTER TABLE did not already block.
        Example("ALTER TABLE orders ADD COLUMN shipped_at timestamptz;\n"
                "CREATE INDEX orders_shipped_at_idx ON orders (shipped_at);\n", context=_CONTEXT),
        # History is known (V1 has run) and the table comes from a migration that has not:
        # nobody uses it yet.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**LIVE_MIGRATIONS,
                         "migrations/V1__init.sql": "CREATE TABLE settings (k text);\n",
                         "migrations/V2__orders.sql": _ORDERS},
                config={"applied-migrations": "V1__*"}),
        Example("CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        # The migration itself has run: history, whatever it locked then.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n", context=_CONTEXT,
                config={"applied-migrations": "V900__*"}),
        # Its role, as configured: a down migration runs only to roll back.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n", context=_CONTEXT,
                config={"roles": {"migrations/V900__*": "down-migration"}}),
        # A table created earlier in the same file has no users to block.
        Example("CREATE TABLE notes (note_id bigint PRIMARY KEY, author text);\n"
                "CREATE INDEX notes_author_idx ON notes (author);\n"),
        # No evidence the table exists before this file: silent.
        Example("CREATE INDEX invoices_due_idx ON invoices (due_at);\n"),
        # `ON ONLY` a partitioned table: an invalid index, made at once, no build.
        Example("CREATE INDEX events_kind_idx ON ONLY events (kind);\n", context=_PARTITIONED),
        # No migration of the project shows it runs against a live database (no CONCURRENTLY,
        # NOT VALID or lock_timeout anywhere): it migrates before it serves.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={"migrations/V1__init.sql": _ORDERS}),
        # pglint reads the application, which never names `orders`: nothing waits on it
        # (`lock-evidence`).
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**_CONTEXT, "queries/carts.sql": "SELECT 1 FROM carts WHERE id = $1;\n"}),
        # Alembic: a concurrent build, outside the revision's transaction.
        Example(ALEMBIC_CONCURRENT_BUILD, kind="python", context=_CONTEXT),
        # `IF NOT EXISTS` of an index an earlier migration built: it builds nothing.
        Example("CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at);\n",
                context=_CONTEXT),
        # Two branches of one revision: concurrent where production runs it, plain elsewhere.
        Example(alembic_revision(
            "    if os.environ.get(\"MIGRATION_MODE\") == \"managed\":\n"
            "        with op.get_context().autocommit_block():\n"
            "            op.create_index(\"orders_status_idx\", \"orders\", [\"status\"],\n"
            "                            postgresql_concurrently=True)\n"
            "    else:\n"
            "        op.create_index(\"orders_status_idx\", \"orders\", [\"status\"])\n",
            imports="import os\n"), kind="python", context=_CONTEXT),
        # Alembic: a table the same revision creates.
        Example(alembic_revision(
            "    op.create_table(\"notes\", sa.Column(\"note_id\", sa.BigInteger(), "
            "primary_key=True),\n"
            "                    sa.Column(\"author\", sa.Text()))\n"
            "    op.create_index(\"notes_author_idx\", \"notes\", [\"author\"])\n",
            imports="import sqlalchemy as sa\n"), kind="python"),
        # Django: AddIndexConcurrently in a migration that is not atomic.
        Example(django_migration(
            _ADD_INDEX.format("AddIndexConcurrently"), atomic=False,
            imports="from django.contrib.postgres.operations import AddIndexConcurrently\n"),
            kind="python", context=DJANGO_ORDERS),
        # The hints say the table is small: the build is over in moments.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 200}}}),
        # Nothing says `orders` is big (no hint, no concurrent build of the project's on it):
        # the build may be over in moments (`size-evidence`).
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS}),
    )
    INVALID = (
        # Alembic, SQL of its own: the concurrent build goes in an autocommit block.
        Example(alembic_revision(
            "    op.execute(\"CREATE INDEX orders_status_idx ON orders (status)\")\n"),
            kind="python", context=_CONTEXT),
        # The table's migration has run: production writes it.
        Example("-- +goose NO TRANSACTION\n"
                "CREATE INDEX orders_status_idx ON orders (status);\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\n",
                context={**LIVE_MIGRATIONS,
                         "migrations/V1__init.sql": "CREATE TABLE settings (k text);\n",
                         "migrations/V2__orders.sql": _ORDERS, **_ORDERS_ONLINE},
                config={"applied-migrations": "V2__*"}),
        # Most runners wrap a file in a transaction, where CONCURRENTLY fails: shown only,
        # with what each runner needs to leave the file outside one.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n", context=_CONTEXT),
        # goose wraps the file in a transaction: the suggestion names its way out.
        Example("-- +goose Up\nCREATE INDEX orders_status_idx ON orders (status);\n",
                context=_CONTEXT),
        # The application reads `orders`: its writes wait for the build.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**_CONTEXT, "queries/orders.sql":
                         "SELECT order_id FROM orders WHERE status = $1;\n"}),
        Example("-- +goose NO TRANSACTION\n"
                "CREATE UNIQUE INDEX IF NOT EXISTS orders_created_idx\n"
                "    ON orders (created_at, order_id); -- newest first\n",
                fixed="-- +goose NO TRANSACTION\n"
                      "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_created_idx\n"
                      "    ON orders (created_at, order_id); -- newest first\n",
                context=_CONTEXT),
        # Inside the file's own transaction block CONCURRENTLY is an error: shown only.
        Example("BEGIN;\nCREATE INDEX orders_status_idx ON orders (status);\nCOMMIT;\n",
                context=_CONTEXT),
        # A partitioned table cannot be indexed concurrently: the recipe is shown (the hints
        # say it is big).
        Example("CREATE INDEX events_kind_idx ON events (kind);\n", context=_PARTITIONED,
                config={"tables": {"events": {"rows": 80_000_000}}}),
        # Alembic's op.create_index sends the same CREATE INDEX: the fix shown is
        # `postgresql_concurrently=True` in an autocommit block.
        Example(alembic_revision("    op.create_index(\"orders_status_idx\", \"orders\", "
                                 "[\"status\"])\n"), kind="python", context=_CONTEXT),
        # Django's AddIndex too: the fix shown is AddIndexConcurrently with `atomic = False`.
        Example(django_migration(_ADD_INDEX.format("migrations.AddIndex")), kind="python",
                context=_DJANGO_ORDERS),
        # Alembic's env.py bounds every statement at 5 s: the recipe raises the bound first,
        # or the concurrent build is cancelled and leaves an INVALID index.
        Example(alembic_revision("    op.create_index(\"orders_status_idx\", \"orders\", "
                                 "[\"status\"])\n"), kind="python",
                context={**_CONTEXT, **alembic_env("statement_timeout = 5000")}),
        # A large table, by the hints: the message says how large.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n", context=_CONTEXT,
                config={"tables": {"orders": {"rows": 50_000_000}}}),
        # The file says it runs outside a transaction, but the project runs its migrations on
        # SQLite too and the path does not say PostgreSQL: CONCURRENTLY is shown, not applied.
        Example("-- +goose NO TRANSACTION\n"
                "CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**_CONTEXT, "migrations/sqlite/V1__init.sql": _ORDERS}),
        # `size-evidence = false`: every existing table the lock evidence allows.
        Example("CREATE INDEX orders_status_idx ON orders (status);\n",
                context={**LIVE_MIGRATIONS, "migrations/V1__init.sql": _ORDERS},
                config={"size-evidence": False}),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("concurrent") or not runs_in_migration(stmt):
            return
        name = n.relation_name(node.get("relation"))
        table = table_before_file(ctx, stmt, name)
        if table is None:
            return
        if table.partitioned and not (node.get("relation") or {}).get("inh"):
            return  # `ON ONLY` the parent: an invalid index, made at once, no build
        if built_before(ctx, node.get("idxname")) and node.get("if_not_exists") or \
                concurrent_twin(ctx, stmt, node.get("idxname")):
            return  # it builds nothing; or another branch of the file builds it concurrently
        evidence = big_table(ctx, table, name)
        if evidence is None:
            return  # hinted small, or nothing says it is big: the build may be over in moments
        # Named as the statement names it: a later migration may have renamed the table.
        written = name or table.name
        shown = f"`{written}`"
        after = _held_after(ctx, stmt)
        message = (f"`CREATE INDEX` on {shown_table(ctx, table.name, written)} without "
                   "`CONCURRENTLY` holds a SHARE lock for the whole build"
                   + (f" and {after}: {BLOCKED_BY['SHARE']} on {shown} waits until then"
                      if after else f": {BLOCKED_BY['SHARE']} on {shown} waits until it ends"))
        if evidence:
            message += f"; {evidence}"
        help = (
            "A plain index build locks the table in SHARE mode from start to end; writes queue "
            "behind it (and, while it waits for its own lock, every later query too). "
            "`CREATE INDEX CONCURRENTLY` takes SHARE UPDATE EXCLUSIVE, which lets reads and "
            "writes go on: it scans the table twice and waits for running transactions, so it "
            "is slower but blocks nobody. It cannot run inside a transaction block, a DO block "
            "or a function (SQLSTATE 25001); if it fails it leaves an INVALID index to drop "
            "(which `IF NOT EXISTS` would keep on a second run).")
        index = node.get("idxname")
        if table.partitioned:
            yield self.finding(ctx, message, *_partitioned(index, written, help), node=stmt)
            return
        copied = _copy_of_dropped(ctx, node)
        if copied is not None:  # a rename written as build-then-drop (or drop-then-build)
            yield self._rename(ctx, stmt, node, written, copied)
            return
        drop = locked_earlier(ctx, stmt, table.name, index_drops=True)
        if drop is not None:  # a DROP INDEX (an ALTER TABLE holder left it alone above)
            yield self._under_drop(ctx, stmt, node, table.name, written, drop)
            return
        title = "Build the index with `CONCURRENTLY`"
        fix, help = self._fix(ctx, stmt, table, name, help)
        recipe = concurrent_recipe(ctx, stmt, title)
        if recipe is not None:  # `op.create_index(...)`, `AddIndex(...)`: the ORM's way
            fix, help = recipe, help + concurrent_help(stmt)
        yield self.finding(ctx, message, fix, help, node=stmt)

    def _fix(self, ctx: FileContext, stmt: Statement, table: Any, name: str | None,
             help: str) -> tuple[Fix, str]:
        """The fix of a plain build, and its help: `CONCURRENTLY` written in where the file
        runs outside a transaction, else shown (the runner's way out, the framework's recipe
        for a SQL string of an Alembic or Django migration)."""
        after = keyword(ctx, stmt, "INDEX")
        title = "Build the index with `CONCURRENTLY`"
        if after is None or in_transaction_block(ctx, stmt) or not runs_outside_transaction(ctx):
            shown = _with_concurrently(ctx, stmt)
            line = opt_out_line(ctx)
            if line and not in_transaction_block(ctx, stmt):
                # The runner's own way out, for the new migration (judged round 13: goose).
                shown = f"-- in a migration of its own, marked `{line}`:\n{shown}"
            elif ctx.file.path.name == "migration.sql" and len(_top_level(ctx)) > 1:
                # Pasted in place it fails: Prisma sends the file as one query, one implicit
                # transaction (judged round 16: langfuse, typebot, civitai).
                shown = ("-- in a migration.sql of its own, holding only this statement (Prisma "
                         "sends a migration's file as one query):\n" + shown)
            fix = Fix.display(title + ", outside any transaction block", shown)
            if stmt.operation is None and not in_transaction_block(ctx, stmt):
                # A SQL string of an Alembic or Django migration: the framework's way out.
                fix = outside_transaction_recipe(
                    ctx, stmt, _with_concurrently(ctx, stmt, sql_of(ctx, stmt))) or fix
            if in_transaction_block(ctx, stmt):
                help += (" This statement runs inside a transaction block (the file's own "
                         "`BEGIN`, or a DO block): move it out, into its own migration, "
                         "before adding `CONCURRENTLY`.")
            else:
                where = online_build(ctx, table, name)
                # The project's own concurrent build shows its runner's way better than the
                # list of every runner's.
                help += OWN_MIGRATION_HELP if where is None else (
                    " `CONCURRENTLY` cannot run in a transaction, and most migration runners "
                    "wrap each file in one: put it in a migration of its own that the runner "
                    f"leaves outside a transaction, as the project's own concurrent build does "
                    f"({where}).")
                if may_run_elsewhere(ctx):
                    help += _elsewhere_help(ctx)
        elif may_run_elsewhere(ctx):  # SQLite and MySQL know no CONCURRENTLY
            fix = Fix.display(title + ", where the runner talks to PostgreSQL",
                              _with_concurrently(ctx, stmt))
            help += _elsewhere_help(ctx)
        else:
            fix = Fix(title, Applicability.UNSAFE, (Edit.insert(after.end, " CONCURRENTLY"),))
        return fix, help

    def _rename(self, ctx: FileContext, stmt: Statement, node: dict[str, Any], written: str,
                copied: str) -> Finding:
        """A build of an index the migration also drops under another name, with the same
        definition: a rename, done with `ALTER INDEX ... RENAME TO` and no build (round 8:
        warehouse fixing a typo in an index name on its largest table)."""
        new = node.get("idxname") or ""
        message = (f"`CREATE INDEX` on `{written}` builds a copy of `{copied}`, which this "
                   f"migration drops: {BLOCKED_BY['SHARE']} on `{written}` waits for the whole "
                   f"build, where renaming `{copied}` is instant")
        rename = f"ALTER INDEX {n.quote_qualified(copied)} RENAME TO {n.quote_ident(new)};"
        if stmt.operation is not None and stmt.operation.framework == "alembic":
            rename = f'op.execute("{rename[:-1]}")  # instead of create_index and drop_index'
        help = (f"`{new}` has the table, columns and kind of `{copied}`, which the same "
                "migration drops: the two statements rename an index by building it again, "
                "holding a SHARE lock (writes wait) for the build. `ALTER INDEX ... RENAME TO` "
                "changes the name in the catalog only, under a lock held for an instant; "
                "remove both the build and the drop.")
        fix = Fix.display(f"Rename `{copied}` instead of building a copy", rename)
        return self.finding(ctx, message, fix, help, node=stmt)

    def _under_drop(self, ctx: FileContext, stmt: Statement, node: dict[str, Any], table: str,
                    written: str, drop: Statement) -> Finding:
        """The build after a plain `DROP INDEX` of the same transaction: it runs under the
        ACCESS EXCLUSIVE lock the drop took, so reads wait too, and `CONCURRENTLY` on the
        build alone cannot help: build the new index concurrently first, then drop the old
        one (the judges' remedy for Hydra's drop-and-rebuild migrations, round 8)."""
        line = ctx.file.position(drop.start)[0]
        catalog = ctx.model.catalog
        # Every index of the table the transaction drops before the build: the build replaces
        # one of them, and each is dropped concurrently once the new index serves.
        top = stmt.parent if stmt.parent is not None else stmt
        dropped = [name for earlier in ctx.statements if drop.index <= earlier.index < top.index
                   and earlier.kind == "DropStmt" and not earlier.body.get("concurrent")
                   for name in n.dropped_names(earlier.body)
                   if getattr(catalog.indexes.get(name) or catalog.dropped_indexes.get(name),
                              "table", None) == table]
        after = _held_after(ctx, stmt)
        message = (f"`CREATE INDEX` on `{written}` runs under the ACCESS EXCLUSIVE lock the "
                   f"`DROP INDEX` at line {line} took: every query on `{written}`, reads "
                   "included, waits " + (f"for the build and {after}" if after else
                                         "until the build ends"))
        build = _with_concurrently(ctx, stmt)
        index = node.get("idxname")
        rename = ""
        if index and index in dropped and build.count(index) == 1:
            build = build.replace(index, f"{index}_new")
            rename = (f"\nALTER INDEX {n.quote_ident(index + '_new')} "
                      f"RENAME TO {n.quote_ident(index)};")
        # Each build drops what it replaces (its own name); the last one, what no build
        # replaces. Every finding listing every drop broke when applied together (judged
        # round 16: Skyvern's four rebuilds of `artifacts`).
        builds = [s for s in ctx.statements if top.index <= s.index and s.parent is None
                  and s.kind == "IndexStmt" and not s.body.get("concurrent")
                  and n.relation_name(s.body.get("relation")) == n.relation_name(
                      node.get("relation"))]
        later = {s.body.get("idxname") for s in builds if s is not top}
        earlier = {s.body.get("idxname") for s in ctx.statements
                   if drop.index < s.index < top.index and s.kind == "IndexStmt"}
        last = all(s is top for s in builds)
        dropped = [name for name in dropped if name == index or last and
                   name not in later | earlier | {index}]
        # One statement per migration: some runners send a file as one query string, which
        # PostgreSQL runs as one transaction (ory/popx, golang-migrate).
        where = ("-- each statement in a migration of its own, outside any transaction block"
                 + (", that only PostgreSQL runs" if may_run_elsewhere(ctx) else "")
                 + (" (ory/popx: a `.postgres.autocommit.up.sql` file each, of a version "
                    "of its own with a `.down.sql`: popx refuses a version without one)"
                    if is_popx_chunk(ctx.file.project_path) else "") + ":\n")
        # The drops keep the original's `IF EXISTS` (judged round 17: without it a database
        # lacking the index fails where the migration only noted it).
        if_exists = {name for earlier in ctx.statements
                     if earlier.kind == "DropStmt" and earlier.body.get("missing_ok")
                     for name in n.dropped_names(earlier.body)}
        suggestion = (where + f"{build};\n"
                      + "".join(f"DROP INDEX CONCURRENTLY "
                                f"{'IF EXISTS ' if name in if_exists else ''}"
                                f"{n.quote_qualified(name)};\n"
                                for name in dropped)).rstrip("\n") + rename
        help = ("A plain `DROP INDEX` takes ACCESS EXCLUSIVE on the index's table and keeps it to "
                "the end of the transaction, so the build that follows it runs under that lock: "
                "reads wait as well as writes, for the whole build. Adding `CONCURRENTLY` to the "
                "build alone fails in the transaction and lifts nothing. Build the new index "
                "concurrently while the old one still serves, then drop the old one "
                "concurrently (and rename the new one if the name matters).")
        fix = Fix.display("Build the new index concurrently first, then drop the old one"
                          if dropped else "Build the new index concurrently first (the drops "
                          "follow the file's last build)", suggestion)
        return self.finding(ctx, message, orm_recipe(ctx, stmt, fix), help, node=stmt)


def _held_after(ctx: FileContext, stmt: Statement) -> str:
    """How long a lock the statement takes outlasts it, for a message: "" when the statement
    ends its transaction (the last of a file the runner wraps, or a file run statement by
    statement), else "on to the end of its transaction (N more statements)" (judged round
    13: a reader counts only the build, where the migration's next builds keep the lock)."""
    if not (runner_wraps_file(ctx) or in_transaction_block(ctx, stmt)):
        return ""
    later = [s for s in later_in_transaction(ctx, stmt) if s.kind != "TransactionStmt"]
    if not later:
        return ""
    return (f"on to the end of its transaction ({len(later)} more statement"
            f"{'s' if len(later) > 1 else ''})")


def _elsewhere_help(ctx: FileContext) -> str:
    """What to tell of a migration that other databases run too, where CONCURRENTLY is an
    error (pglint.kit.roles.may_run_elsewhere)."""
    popx = postgres_autocommit_name(ctx.file.project_path)
    # Said as known only when migration code or another dialect's migrations show it; a URL
    # in the application's settings may be a mode that never runs them (Skyvern's SQLite).
    known = ctx.model.migrations_elsewhere
    return ((" The project runs its migrations on another database too" if known else
             " The project also talks to another database (SQLite or MySQL, in its code); if "
             "its migrations run there too")
            + ", and nothing in this file's path says it is PostgreSQL's: `CONCURRENTLY` is an "
            "error there. Put the concurrent build in a migration only PostgreSQL runs"
            + (f" (ory/popx: `{popx}` beside this file, which PostgreSQL runs instead)"
               if popx else "") + ".")


def _copy_of_dropped(ctx: FileContext, node: dict[str, Any]) -> str | None:
    """The index the file drops (a plain or concurrent `DROP INDEX`) that the index this
    statement builds copies under another name: same table, columns, method, uniqueness and
    predicate; None when there is none (or the index has expressions, which the catalog does
    not compare)."""
    name = (node.get("idxname") or "").lower()
    catalog = ctx.model.catalog
    built = catalog.indexes.get(name) or catalog.dropped_indexes.get(name)
    if not name or built is None or None in built.columns:
        return None
    for other in ctx.statements:
        if other.kind != "DropStmt" or other.body.get("removeType") != "OBJECT_INDEX":
            continue
        for dropped in n.dropped_names(other.body):
            old = catalog.indexes.get(dropped) or catalog.dropped_indexes.get(dropped)
            if old is not None and dropped != name and (
                    old.table, old.columns, old.method, old.unique, old.predicate) == (
                    built.table, built.columns, built.method, built.unique, built.predicate):
                return dropped
    return None


def _top_level(ctx: FileContext) -> list[Statement]:
    return [s for s in ctx.statements if s.parent is None]


def _with_concurrently(ctx: FileContext, stmt: Statement, text: str | None = None) -> str:
    """The statement's text (or `text`) with `CONCURRENTLY` after its first `INDEX`."""
    text = ctx.statement_text(stmt) if text is None else text
    at = text.upper().find("INDEX")
    return text[:at + 5] + " CONCURRENTLY" + text[at + 5:] if at >= 0 else text


def _partitioned(index: str | None, written: str, help: str) -> tuple[Fix, str]:
    """The recipe and help for a partitioned table, which no index is built concurrently on:
    the index `ON ONLY` the parent, each partition's built concurrently and attached."""
    parent_index = index or f"{written.split('.')[-1]}_idx"
    fix = Fix.display(
        "Build each partition's index concurrently and attach it",
        f"CREATE INDEX {n.quote_ident(parent_index)} ON ONLY "
        f"{n.quote_qualified(written)} (...);\n"
        f"-- for each partition:\nCREATE INDEX CONCURRENTLY <partition>_idx ON "
        f"<partition> (...);\nALTER INDEX {n.quote_ident(parent_index)} "
        "ATTACH PARTITION <partition>_idx;")
    help += (f" `{written}` is partitioned, and PostgreSQL cannot build an index concurrently "
             "on a partitioned table: create it `ON ONLY` the parent (instant, invalid until "
             "every partition is attached), build each partition's index concurrently, and "
             "attach them.")
    return fix, help
