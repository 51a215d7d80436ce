"""Pieces of example projects that rules' VALID/INVALID examples share."""

from __future__ import annotations


def app_inserts(table: str) -> dict[str, str]:
    """An example's context in which the application inserts into `table` at run time: the
    evidence a log-like name alone never is."""
    return {f"queries/{table.split('.')[-1]}_inserts.sql": f"INSERT INTO {table} DEFAULT VALUES;"}


def app_consumes(table: str) -> dict[str, str]:
    """An example's context in which workers take rows out of `table` at run time: what makes a
    queue-like name a queue."""
    return {f"queries/{table.split('.')[-1]}_done.sql":
            f"DELETE FROM {table} WHERE id = $1;"}


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
