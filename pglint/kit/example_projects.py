"""Pieces of example projects that rules' VALID/INVALID examples share."""

from __future__ import annotations


def insert_heavy(*tables: str) -> dict[str, dict[str, str]]:
    """An example's config declaring `tables` insert-heavy (`[tool.pglint.tables]`): what tells
    pglint that many sessions insert at once, which neither a log-like name nor run-time inserts
    do."""
    return {"tables": {t: "insert-heavy" for t in tables}}


def app_consumes(table: str) -> dict[str, str]:
    """An example's context in which workers take rows out of `table` at run time: what makes a
    queue-like name a queue."""
    return {f"queries/{table.split('.')[-1]}_done.sql":
            f"DELETE FROM {table} WHERE id = $1;"}


def app_counts_attempts(table: str, counter: str) -> dict[str, str]:
    """An example's context in which the application counts a failed attempt of a job of
    `table` in `counter`: what makes an attempt counter one this queue keeps."""
    return {f"queries/{table.split('.')[-1]}_failed.sql":
            f"UPDATE {table} SET {counter} = {counter} + 1 WHERE id = $1;"}


def alembic_revision(upgrade: str, imports: str = "") -> str:
    """An Alembic revision (the example's `app/example.py`) whose `upgrade()` body is
    `upgrade` (lines indented by four spaces)."""
    return (f"from alembic import op\n{imports}\nrevision = \"b2\"\ndown_revision = \"a1\"\n\n\n"
            f"def upgrade():\n{upgrade}")


# An Alembic revision that builds `orders_status_idx` concurrently, in an autocommit block:
# outside the revision's transaction, as Alembic's documentation asks.
ALEMBIC_CONCURRENT_BUILD = alembic_revision(
    "    with op.get_context().autocommit_block():\n"
    "        op.create_index(\"orders_status_idx\", \"orders\", [\"status\"],\n"
    "                        postgresql_concurrently=True)\n")


def django_migration(operations: str, atomic: bool = True, imports: str = "") -> str:
    """A Django migration of the app `app` (the example's `app/example.py`) whose `operations`
    list holds `operations` (items indented by eight spaces)."""
    return (f"from django.db import migrations, models\n{imports}\n\n"
            "class Migration(migrations.Migration):\n"
            + ("" if atomic else "    atomic = False\n")
            + "    dependencies = [(\"app\", \"0001_initial\")]\n"
            f"    operations = [\n{operations}    ]\n")


# The first migration of that app: the table `app_order`, with an index on its status.
DJANGO_ORDERS = {"migrations/V0__lock_timeout.sql": "SET lock_timeout = '5s';\n",
                 "app/migrations/0001_initial.py": (
    "from django.db import migrations, models\n\n\n"
    "class Migration(migrations.Migration):\n"
    "    initial = True\n"
    "    operations = [\n"
    "        migrations.CreateModel(\n"
    "            name=\"Order\",\n"
    "            fields=[\n"
    "                (\"id\", models.BigAutoField(primary_key=True)),\n"
    "                (\"status\", models.CharField(max_length=20)),\n"
    "                (\"created\", models.DateTimeField()),\n"
    "            ],\n"
    "            options={\"indexes\": [models.Index(fields=[\"status\"],\n"
    "                                              name=\"app_order_status_idx\")]},\n"
    "        ),\n"
    "    ]\n")}


def alembic_env(*settings: str) -> dict[str, str]:
    """An example's context with an Alembic `env.py` that sets `settings` (`"lock_timeout =
    4000"`) on the connection every migration runs on: the runner's decision."""
    lines = "".join(f'    connection.execute(text("SET {s}"))\n' for s in settings)
    return {"migrations/env.py": (
        "from alembic import context\nfrom sqlalchemy import text\n\n\n"
        "def run_migrations_online(connection):\n" + lines +
        "    context.configure(connection=connection)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n")}


# The first migration of an example project that migrates a live database: it bounds its lock
# waits (pglint.model.online). Without such evidence the lock rules stay silent: a project whose
# migrations never do it migrates before it serves.
LIVE_MIGRATIONS = {"migrations/V0__lock_timeout.sql": "SET lock_timeout = '5s';\n"}
# A later migration of the example project builds an index on `orders` concurrently: its team
# knows the table is too big for a plain build, the evidence the lock rules whose lock lasts as
# long as the table is big ask for (pglint.kit.locks.big_table).
ORDERS_ONLINE = {"migrations/V8__orders_online.sql":
                 "CREATE INDEX CONCURRENTLY orders_online_idx ON orders (order_id);\n"}
