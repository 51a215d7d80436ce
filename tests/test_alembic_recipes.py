"""PGL501's Alembic recipe fits the env.py it runs under: it lifts the bounds env.py puts on
every statement, and ends the transaction env.py's own SQL opened before Alembic began its own
(autocommit_block() cannot leave that one)."""

from __future__ import annotations

from tests.examples import lint_files

_REVISION = (
    "from alembic import op\n\nrevision = \"b2\"\ndown_revision = None\n\n\n"
    "def upgrade():\n    op.create_index(\"orders_status_idx\", \"orders\", [\"status\"])\n")


def _env(before: str, inside: str = "") -> str:
    return ("from alembic import context\nfrom sqlalchemy import text\n\n\n"
            "def run_migrations_offline():\n    context.configure(url='x')\n"
            "    with context.begin_transaction():\n        context.run_migrations()\n\n\n"
            "def run_migrations_online(connection):\n" + before +
            "    context.configure(connection=connection)\n"
            "    with context.begin_transaction():\n" + inside +
            "        context.run_migrations()\n")


def _suggestion(root, env: str) -> str:
    files = {"migrations/V0__orders.sql":
             "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text);\n"
             "CREATE INDEX CONCURRENTLY orders_id_idx ON orders (order_id, status);\n",
             "alembic/env.py": env, "alembic/versions/b2_status.py": _REVISION,
             "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n",
             "pglint.toml": 'select = ["PGL501"]\n'}
    [finding] = lint_files(root, files)
    return finding.fix.suggestion


def test_sql_env_py_sends_first_is_committed_before_the_autocommit_block(tmp_path):
    shown = _suggestion(tmp_path / "a", _env(
        '    connection.execute(text("SET statement_timeout = 5000"))\n'
        '    connection.execute(text("SET lock_timeout = 4000"))\n'))
    lines = shown.splitlines()
    assert lines.index("op.get_bind().commit()") < \
        lines.index("with op.get_context().autocommit_block():")
    # Both bounds lifted inside the block, before the build.
    assert "    op.execute(\"SET statement_timeout = '1h'\")" in lines
    assert "    op.execute(\"SET lock_timeout = '1h'\")" in lines
    build = next(i for i, line in enumerate(lines) if line.startswith("    op.create_index("))
    assert "postgresql_concurrently=True" in lines[build]
    # env.py's bounds put back for the revisions that follow in the same session.
    assert lines[build + 1:] == ['    op.execute("SET statement_timeout = 5000")  # env.py\'s '
                                 'bound again',
                                 '    op.execute("SET lock_timeout = 4000")  # env.py\'s bound again']


def test_sql_inside_alembics_transaction_needs_no_commit(tmp_path):
    shown = _suggestion(tmp_path / "b", _env(
        "", '        connection.execute(text("SET lock_timeout = 4000"))\n'))
    assert "commit()" not in shown
    assert shown.startswith("with op.get_context().autocommit_block():\n")
    assert "SET lock_timeout = '1h'" in shown
    # Nothing set: the plain recipe.
    plain = _suggestion(tmp_path / "c", _env(""))
    assert plain == ("with op.get_context().autocommit_block():\n"
                     "    op.create_index(\"orders_status_idx\", \"orders\", [\"status\"], "
                     "postgresql_concurrently=True)")


def test_pgl507s_recipe_keeps_the_operations_other_changes_and_lifts_the_timeout(tmp_path):
    """`op.alter_column(..., server_default=..., nullable=False)`: the recipe keeps the default
    (it replaced the whole call and dropped it), and validates with env.py's statement_timeout
    lifted for its transaction (a 5 s bound cancels the scan of a big table)."""
    lines = _pgl507_suggestion(tmp_path, "    op.alter_column(\n"
                               "        \"orders\", \"placed_at\", server_default=sa.func.now(), "
                               "nullable=False\n    )\n").splitlines()
    assert lines[:3] == ["# the operation's other changes, without nullable=False",
                         "op.alter_column(",
                         '    "orders", "placed_at", server_default=sa.func.now())']
    # The validation runs outside the revision's transaction (env.py's SQL opened it, so it is
    # ended first), with env.py's bound lifted around it.
    validate = next(i for i, line in enumerate(lines) if "VALIDATE CONSTRAINT" in line)
    assert lines[validate - 4:validate] == [
        "op.get_bind().commit()", "with op.get_context().autocommit_block():",
        "    # env.py sets statement_timeout = 5000, which would cancel the scan",
        "    op.execute(\"SET statement_timeout = '1h'\")"]
    assert lines[validate + 1] == \
        "    op.execute(\"SET statement_timeout = 5000\")  # env.py's bound again"
    assert lines[validate + 2].startswith("op.execute(\"ALTER TABLE orders ALTER COLUMN")
    assert "nullable=False" not in "\n".join(lines[1:])


def test_settings_the_revision_made_are_kept_across_the_block(tmp_path):
    """The autocommit block commits the revision's transaction: its `SET LOCAL lock_timeout`
    is gone after it, so the recipe sets it again before the ACCESS EXCLUSIVE steps that follow
    (judged round 13: polar); a bound the revision itself raised (`SET statement_timeout =
    120000`) is the value put back, not env.py's (warehouse)."""
    suggestion = _pgl507_suggestion(tmp_path, (
        "    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
        "    op.execute(\"SET statement_timeout = 120000\")\n"
        "    op.alter_column(\"orders\", \"placed_at\", nullable=False)\n\n\n"
        "def downgrade():\n    op.execute(\"SET LOCAL lock_timeout = '9s'\")\n"))
    lines = suggestion.splitlines()
    validate = next(i for i, line in enumerate(lines) if "VALIDATE CONSTRAINT" in line)
    assert lines[validate + 1] == \
        "    op.execute(\"SET statement_timeout = 120000\")  # the revision's value again"
    assert lines[validate + 2:validate + 5] == [
        "# the block committed the revision's SET LOCAL: set again for what follows",
        "op.execute(\"SET LOCAL lock_timeout = '5s'\")",
        "op.execute(\"ALTER TABLE orders ALTER COLUMN placed_at SET NOT NULL\")"]
    assert "'9s'" not in suggestion  # downgrade() is not sent by upgrade()


def _pgl507_suggestion(root, upgrade: str) -> str:
    """PGL507's one suggestion for an Alembic revision whose upgrade() is `upgrade`, under an
    env.py that sets a 5 s statement_timeout first, on a big `orders` table."""
    revision = ("from alembic import op\nimport sqlalchemy as sa\n\nrevision = \"b3\"\n"
                "down_revision = None\n\n\ndef upgrade():\n" + upgrade)
    files = {"migrations/V0__orders.sql":
             "CREATE TABLE orders (order_id bigint PRIMARY KEY, placed_at timestamptz);\n"
             "CREATE INDEX CONCURRENTLY orders_id_idx ON orders (order_id, placed_at);\n",
             "alembic/env.py":
             _env('    connection.execute(text("SET statement_timeout = 5000"))\n'),
             "alembic/versions/b3_placed.py": revision,
             "queries/orders.sql": "SELECT * FROM orders WHERE placed_at > $1;\n",
             "pglint.toml": 'select = ["PGL507"]\n'}
    [finding] = lint_files(root, files)
    return finding.fix.suggestion
