"""Django and Alembic migration operations judged by the lock rules, end to end: a project in
git whose first migrations are applied (committed upstream) and whose new ones each hold one
operation, written the dangerous way (one finding, the SQL form's code) or the safe way (none).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pglint.python.operation_sql import OperationSource
from tests.test_cli import run
from tests.test_scope import _git

LOCK_CODES = ["PGL301"] + [f"PGL5{i:02d}" for i in range(1, 12)]

ALEMBIC_INIT = '''from alembic import op
import sqlalchemy as sa

revision = "a1"
down_revision = None


def upgrade():
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.BigInteger(), primary_key=True),
        sa.Column("email", sa.Text(), nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", sa.BigInteger(), primary_key=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("total", sa.Integer()),
        sa.Column("code", sa.Text()),
        sa.Column("legacy", sa.Text()),
    )
    op.create_index("orders_status_idx", "orders", ["status"])
    op.create_table("audit", sa.Column("audit_id", sa.BigInteger(), primary_key=True))


def downgrade():
    op.drop_table("orders")
    op.drop_table("customers")
'''

DJANGO_INIT = '''from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("email", models.TextField()),
            ],
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("status", models.CharField(max_length=20)),
                ("note", models.TextField(null=True)),
                ("total", models.IntegerField(null=True)),
                ("created", models.DateTimeField()),
                ("code", models.CharField(max_length=10, null=True)),
                ("legacy", models.TextField(null=True)),
            ],
            options={"indexes": [models.Index(fields=["status"], name="shop_order_status_idx")]},
        ),
        migrations.CreateModel(
            name="Audit",
            fields=[("id", models.BigAutoField(primary_key=True))],
        ),
    ]
'''

# (name, the operation written the dangerous way, the same change written the safe way, the
# code the dangerous one gets). Each goes in a migration of its own, after a lock_timeout.
ALEMBIC_CASES = [
    ("create_index",
     'op.create_index("orders_note_idx", "orders", ["note"])',
     'with op.get_context().autocommit_block():\n'
     '        op.create_index("orders_note_idx", "orders", ["note"],\n'
     '                        postgresql_concurrently=True)',
     "PGL501"),
    ("drop_index",
     'op.drop_index("orders_status_idx", table_name="orders")',
     'with op.get_context().autocommit_block():\n'
     '        op.drop_index("orders_status_idx", table_name="orders",\n'
     '                      postgresql_concurrently=True)',
     "PGL502"),
    ("create_foreign_key",
     'op.create_foreign_key("orders_customer_fk", "orders", "customers", ["customer_id"],\n'
     '                          ["customer_id"])',
     'op.create_foreign_key("orders_customer_fk", "orders", "customers", ["customer_id"],\n'
     '                          ["customer_id"], postgresql_not_valid=True)',
     "PGL505"),
    ("create_check_constraint",
     'op.create_check_constraint("orders_total_check", "orders", "total >= 0")',
     'op.create_check_constraint("orders_total_check", "orders", "total >= 0",\n'
     '                               postgresql_not_valid=True)',
     "PGL506"),
    ("create_unique_constraint",
     'op.create_unique_constraint("orders_note_key", "orders", ["note"])',
     'with op.get_context().autocommit_block():\n'
     '        op.create_index("orders_note_key", "orders", ["note"], unique=True,\n'
     '                        postgresql_concurrently=True)\n'
     '    op.execute("ALTER TABLE orders ADD CONSTRAINT orders_note_key "\n'
     '               "UNIQUE USING INDEX orders_note_key")',
     "PGL510"),
    ("add_column",
     'op.add_column("orders", sa.Column("flag", sa.Boolean(), nullable=False))',
     'op.add_column("orders", sa.Column("flag", sa.Boolean(), nullable=False,\n'
     '                                     server_default=sa.false()))',
     "PGL509"),
    ("alter_column_type",
     'op.alter_column("orders", "code", type_=sa.String(20))',
     'op.alter_column("orders", "code", type_=sa.Text())',
     "PGL508"),
    ("alter_column_not_null",
     'op.alter_column("orders", "note", nullable=False)',
     'op.execute("ALTER TABLE orders ADD CONSTRAINT orders_note_not_null "\n'
     '               "CHECK (note IS NOT NULL) NOT VALID")',
     "PGL507"),
    ("drop_column",
     'op.drop_column("orders", "legacy")',
     'op.drop_column("orders", "total")',
     "PGL511"),
    ("drop_table",
     'op.drop_table("audit")',
     'op.drop_table("customers")',
     "PGL511"),
]

DJANGO_CASES = [
    ("add_index",
     'migrations.AddIndex(\n'
     '            model_name="order",\n'
     '            index=models.Index(fields=["created"], name="shop_order_created_idx"),\n'
     '        )',
     'AddIndexConcurrently(\n'
     '            model_name="order",\n'
     '            index=models.Index(fields=["created"], name="shop_order_created_idx"),\n'
     '        )',
     "PGL501"),
    ("remove_index",
     'migrations.RemoveIndex(model_name="order", name="shop_order_status_idx")',
     'RemoveIndexConcurrently(model_name="order", name="shop_order_status_idx")',
     "PGL502"),
    ("check_constraint",
     'migrations.AddConstraint(\n'
     '            model_name="order",\n'
     '            constraint=models.CheckConstraint(condition=models.Q(total__gte=0),\n'
     '                                              name="shop_order_total_check"),\n'
     '        )',
     'migrations.SeparateDatabaseAndState(\n'
     '            state_operations=[migrations.AddConstraint(\n'
     '                model_name="order",\n'
     '                constraint=models.CheckConstraint(condition=models.Q(total__gte=0),\n'
     '                                                  name="shop_order_total_check"),\n'
     '            )],\n'
     '            database_operations=[migrations.RunSQL(\n'
     '                "ALTER TABLE shop_order ADD CONSTRAINT shop_order_total_check "\n'
     '                "CHECK (total >= 0) NOT VALID")],\n'
     '        )',
     "PGL506"),
    ("unique_constraint",
     'migrations.AddConstraint(\n'
     '            model_name="order",\n'
     '            constraint=models.UniqueConstraint(fields=["note"], name="shop_order_note_key"),\n'
     '        )',
     'migrations.SeparateDatabaseAndState(\n'
     '            state_operations=[migrations.AddConstraint(\n'
     '                model_name="order",\n'
     '                constraint=models.UniqueConstraint(fields=["note"],\n'
     '                                                   name="shop_order_note_key"),\n'
     '            )],\n'
     '            database_operations=[\n'
     '                migrations.RunSQL("CREATE UNIQUE INDEX CONCURRENTLY shop_order_note_key "\n'
     '                                  "ON shop_order (note)"),\n'
     '                migrations.RunSQL("ALTER TABLE shop_order ADD CONSTRAINT "\n'
     '                                  "shop_order_note_key UNIQUE USING INDEX "\n'
     '                                  "shop_order_note_key"),\n'
     '            ],\n'
     '        )',
     "PGL510"),
    ("add_field",
     'migrations.AddField(model_name="order", name="flag", field=models.BooleanField())',
     'migrations.AddField(model_name="order", name="flag",\n'
     '                            field=models.BooleanField(default=False))',
     "PGL509"),
    ("alter_field_type",
     'migrations.AlterField(model_name="order", name="code",\n'
     '                              field=models.BigIntegerField(null=True))',
     'migrations.AlterField(model_name="order", name="code",\n'
     '                              field=models.CharField(max_length=40, null=True))',
     "PGL508"),
    ("remove_field",
     'migrations.RemoveField(model_name="order", name="legacy")',
     'migrations.RemoveField(model_name="order", name="total")',
     "PGL511"),
    ("delete_model",
     'migrations.DeleteModel(name="Audit")',
     'migrations.DeleteModel(name="Customer")',
     "PGL511"),
]

# The application's SQL: what PGL511 sees still in use.
QUERIES = ("SELECT order_id, legacy FROM orders WHERE status = $1;\n"
           "SELECT audit_id FROM audit;\n"
           "SELECT id, legacy FROM shop_order WHERE status = $1;\n"
           "SELECT id FROM shop_audit;\n")


def _alembic(number: int, operation: str, safe: bool) -> str:
    return (f'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "r{number}"\n'
            f'down_revision = "a1"\n\n\ndef upgrade():\n'
            f'    op.execute("SET lock_timeout = \'5s\'")\n    {operation}\n\n\n'
            'def downgrade():\n    pass\n')


def _django(operation: str, safe: bool) -> str:
    return ('from django.contrib.postgres.operations import AddIndexConcurrently, '
            'RemoveIndexConcurrently\n'
            'from django.db import migrations, models\nimport django.db.models.deletion\n\n\n'
            'class Migration(migrations.Migration):\n'
            + ('    atomic = False\n' if safe else '')
            + '    dependencies = [("shop", "0001_initial")]\n'
            '    operations = [\n'
            '        migrations.RunSQL("SET lock_timeout = \'5s\'", migrations.RunSQL.noop),\n'
            f'        {operation},\n'
            '    ]\n')


def _project(tmp_path: Path, safe: bool, alembic_cases: list = ALEMBIC_CASES,
             django_cases: list = DJANGO_CASES) -> tuple[Path, dict[str, str]]:
    """A clone whose upstream holds the first Alembic revision and Django migration (applied),
    with one new migration per case; the expected code per new file ("" for none)."""
    upstream = tmp_path / "upstream"
    versions = upstream / "alembic" / "versions"
    django = upstream / "shop" / "migrations"
    versions.mkdir(parents=True)
    django.mkdir(parents=True)
    (django / "__init__.py").write_text("")
    (upstream / "pglint.toml").write_text(f"select = {LOCK_CODES!r}\n".replace("'", '"')
                                          + "size-evidence = false\n")
    (versions / "a1_init.py").write_text(ALEMBIC_INIT)
    (upstream / "queries").mkdir()
    (upstream / "queries" / "report.sql").write_text(QUERIES)
    (django / "0001_initial.py").write_text(DJANGO_INIT)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", ".")
    _git(upstream, "commit", "-q", "-m", "applied")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(upstream), str(clone))
    expected = {}
    for number, (name, dangerous, safe_form, code) in enumerate(alembic_cases, 2):
        rel = f"alembic/versions/r{number}_{name}.py"
        (clone / rel).write_text(_alembic(number, safe_form if safe else dangerous, safe))
        expected[rel] = "" if safe else code
    for number, (name, dangerous, safe_form, code) in enumerate(django_cases, 2):
        rel = f"shop/migrations/{number:04d}_{name}.py"
        (clone / rel).write_text(_django(safe_form if safe else dangerous, safe))
        expected[rel] = "" if safe else code
    return clone, expected


def _findings(clone: Path) -> dict[str, list[str]]:
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=clone)
    assert "Traceback" not in result.stderr and "crashed" not in result.stderr, result.stderr
    found: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        if ": PGL" in line:
            path, rest = line.split(":", 1)
            found.setdefault(path, []).append(rest.split(": ", 1)[1].split()[0])
    return found


@pytest.mark.parametrize("safe", [False, True], ids=["dangerous", "safe"])
def test_each_operation_gets_the_code_of_its_sql(tmp_path, monkeypatch, safe):
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone, expected = _project(tmp_path, safe)
    found = _findings(clone)
    # The applied migrations are history; each new one gets exactly its code, or nothing.
    assert {path: codes for path, codes in found.items()} == \
        {path: [code] for path, code in expected.items() if code}


def test_a_lock_taken_earlier_in_the_same_operation_counts(tmp_path, monkeypatch):
    # AddField(ForeignKey) sends ADD COLUMN, then builds the column's index: the index build
    # blocks nobody the ADD COLUMN's ACCESS EXCLUSIVE lock did not already block (PGL501 is
    # silent, as for the same two statements in SQL); the same for Alembic's add_column with
    # index=True.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    alembic = [("add_column_index",
                'op.add_column("orders", sa.Column("ref", sa.Text(), index=True))', "", "")]
    django = [("add_foreign_key",
               'migrations.AddField(model_name="order", name="customer",\n'
               '            field=models.ForeignKey(null=True, to="shop.customer",\n'
               '                                    on_delete=django.db.models.deletion.CASCADE))',
               "", "")]
    clone, expected = _project(tmp_path, False, alembic, django)
    assert len(expected) == 2
    assert _findings(clone) == {}


def test_dropped_constraints_and_renames_are_sent_too(tmp_path, monkeypatch):
    # op.drop_constraint takes ACCESS EXCLUSIVE: the foreign key added after it in the same
    # revision waits for nobody new (PGL505 silent, as in SQL). RenameField of a column the
    # application still reads breaks it (PGL511).
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    alembic = [("replace_fk",
                'op.drop_constraint("orders_customer_id_fkey", "orders", type_="foreignkey")\n'
                '    op.create_foreign_key(None, "orders", "customers", ["customer_id"],\n'
                '                          ["customer_id"], ondelete="CASCADE")', "", "")]
    django = [("rename_field",
               'migrations.RenameField(model_name="order", old_name="legacy", new_name="old")',
               "", "PGL511")]
    clone, expected = _project(tmp_path, False, alembic, django)
    assert _findings(clone) == {path: [code] for path, code in expected.items() if code}


def test_alter_field_sends_sql_only_when_the_type_changes(tmp_path, monkeypatch):
    # An AlterField that keeps the column's type (a help text, a default) sends nothing: no
    # lock for PGL301 to see, though this migration sets no lock_timeout.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    clone, expected = _project(tmp_path, False, [], [])
    # The project migrates a live database: an earlier migration bounds its lock waits.
    (clone / "migrations").mkdir()
    (clone / "migrations" / "V0__lock_timeout.sql").write_text("SET lock_timeout = '5s';\n")
    (clone / "shop" / "migrations" / "0002_help.py").write_text(
        'from django.db import migrations, models\n\n\n'
        'class Migration(migrations.Migration):\n'
        '    dependencies = [("shop", "0001_initial")]\n'
        '    operations = [\n'
        '        migrations.AlterField(model_name="order", name="code",\n'
        '            field=models.CharField(max_length=10, null=True, help_text="SKU")),\n'
        '    ]\n')
    assert _findings(clone) == {}
    (clone / "shop" / "migrations" / "0002_help.py").write_text(
        (clone / "shop" / "migrations" / "0002_help.py").read_text().replace(
            "max_length=10", "max_length=5"))
    assert _findings(clone) == {"shop/migrations/0002_help.py": ["PGL301", "PGL508"]}


def test_statements_of_operations_are_positioned_at_their_call(tmp_path):
    from pglint.discover import Candidate
    from pglint.loading import load
    from pglint.roles import RoleDecision

    path = tmp_path / "versions" / "b2_index.py"
    path.parent.mkdir()
    text = _alembic(2, ALEMBIC_CASES[0][1], False)
    path.write_text(text)
    candidate = Candidate(path, "versions/b2_index.py", "python",
                          role=RoleDecision("migration", "test"), rel="versions/b2_index.py")
    loaded = load(candidate)
    rendered = [s for s in loaded.parsed.statements if s.operation is not None]
    assert [s.sql for s in rendered] == ["CREATE INDEX orders_note_idx ON orders (note)"]
    stmt = rendered[0]
    assert stmt.operation == OperationSource("alembic", "create_index", stmt.start, stmt.end)
    assert text[stmt.start:stmt.end] == ALEMBIC_CASES[0][1]
    assert not stmt.exact
    # In file order with the SQL the revision runs itself, after its SET.
    assert [s.kind for s in loaded.parsed.statements] == ["VariableSetStmt", "IndexStmt"]


def test_reserved_words_are_quoted_in_the_rendered_sql(tmp_path):
    # A field called `order` is a column PostgreSQL only takes quoted: unquoted, the CREATE
    # TABLE would not parse, and the index built on the new table would look like one on an
    # existing table.
    from pglint.model.location import Location
    from pglint.python.operation_sql import operation_statements
    from pglint.python.pyfile import PythonFile

    text = ('from django.db import migrations, models\n\n\n'
            'class Migration(migrations.Migration):\n'
            '    operations = [\n'
            '        migrations.CreateModel(name="Lane", fields=[\n'
            '            ("id", models.BigAutoField(primary_key=True)),\n'
            '            ("order", models.BigIntegerField(db_index=True)),\n'
            '        ]),\n'
            '    ]\n')
    path = tmp_path / "board" / "migrations" / "0001_initial.py"
    rendered = operation_statements(PythonFile.parse(text), "django",
                                    lambda a, b: Location("x", 0, 0, a, b, None), path)
    assert [s.kind for s in rendered] == ["CreateStmt", "IndexStmt"]
    assert '"order" int8' in rendered[0].sql


def test_operations_for_another_database_are_not_sent_to_postgresql(tmp_path, monkeypatch):
    # A revision that also supports SQLite: the SQLite branch never reaches PostgreSQL.
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    alembic = [("other_database_branch",
                'if op.get_bind().dialect.name == "sqlite":\n'
                '        op.create_index("orders_note_idx", "orders", ["note"])\n'
                '    else:\n'
                '        op.drop_index("orders_status_idx", table_name="orders")', "", "PGL502"),
               ("negated_test",
                'if op.get_context().dialect.name != "postgresql":\n'
                '        op.create_index("orders_note_idx", "orders", ["note"])', "", "")]
    clone, expected = _project(tmp_path, False, alembic, [])
    assert _findings(clone) == {path: [code] for path, code in expected.items() if code}


def _rendered(text: str, kind: str, path: Path) -> list[str]:
    from pglint.model.location import Location
    from pglint.python.operation_sql import operation_statements
    from pglint.python.pyfile import PythonFile

    return [s.sql for s in operation_statements(
        PythonFile.parse(text), kind, lambda a, b: Location("x", 0, 0, a, b, None), path)]


def test_what_the_operations_send_runs_on_postgresql(postgres, tmp_path):
    # The SQL rendered for each operation (the first migrations, then each dangerous case, in
    # a database of its own) is SQL PostgreSQL accepts and runs on those tables.
    django_path = tmp_path / "shop" / "migrations"
    init = _rendered(ALEMBIC_INIT, "alembic", tmp_path / "a1_init.py") + \
        _rendered(DJANGO_INIT, "django", django_path / "0001_initial.py")
    assert len(init) >= 5
    setup = "".join(f"{sql};\n" for sql in init)
    cases = [(name, _rendered(_alembic(2, dangerous, False), "alembic", tmp_path / "r2.py"))
             for name, dangerous, _, _ in ALEMBIC_CASES]
    cases += [(name, _rendered(_django(dangerous, False), "django", django_path / "0002_x.py"))
              for name, dangerous, _, _ in DJANGO_CASES]
    for name, statements in cases:
        assert statements, name
        with postgres.database() as database:
            script = setup + "".join(f"{sql};\n" for sql in statements)
            result = postgres.psql(database, script)
        assert result.returncode == 0, (name, statements, result.stderr)


def test_an_autocommit_block_ends_the_revisions_transaction(tmp_path, monkeypatch):
    # Alembic commits before autocommit_block(): the DROP COLUMN in the block is no lock the
    # DROP INDEX before it shares a transaction with, so the drop waits on its own (PGL502);
    # without the block the transaction queues for the DROP COLUMN's lock anyway (silent).
    monkeypatch.delenv("PGLINT_ALL_MIGRATIONS", raising=False)
    drop = 'op.drop_index("orders_status_idx", table_name="orders")\n'
    alembic = [("in_block", drop + '    with op.get_context().autocommit_block():\n'
                '        op.drop_column("orders", "total")', "", "PGL502"),
               ("same_transaction", drop + '    op.drop_column("orders", "code")', "", "")]
    clone, expected = _project(tmp_path, False, alembic, [])
    assert _findings(clone) == {path: [code] for path, code in expected.items() if code}


def test_batch_operations_send_the_sql_of_their_table(tmp_path):
    # `batch_op.<method>` names no table: the reader puts batch_alter_table's where
    # `op.<method>` takes it, and what the operation sends reads the same arguments.
    text = ('from alembic import op\nimport sqlalchemy as sa\n\nrevision = "b1"\n'
            'down_revision = None\n\n\ndef upgrade():\n'
            '    with op.batch_alter_table("orders") as batch_op:\n'
            '        batch_op.add_column(sa.Column("paid", sa.Boolean(), nullable=False,\n'
            '                                      server_default=sa.false()))\n'
            '        batch_op.alter_column("status", type_=sa.String(50), nullable=False)\n'
            '        batch_op.create_check_constraint("ck_qty", "quantity > 0")\n')
    sent = " ".join(_rendered(text, "alembic", tmp_path / "b1_batch.py"))
    assert "ADD COLUMN paid" in sent and "DEFAULT false" in sent.replace("'false'", "false")
    assert "ALTER TABLE orders ALTER COLUMN status" in sent
    assert "ALTER TABLE orders ADD CONSTRAINT ck_qty CHECK (quantity > 0)" in sent


@pytest.mark.parametrize("code, migration", [
    # SQL of Alembic's downgrade() runs only when the revision is rolled back.
    ("PGL503", "from alembic import op\n\nrevision = \"b2\"\ndown_revision = \"a1\"\n\n\n"
               "def upgrade():\n    op.execute(\"REINDEX INDEX CONCURRENTLY orders_status_idx\")\n\n\n"
               "def downgrade():\n    op.execute(\"REINDEX INDEX orders_status_idx\")\n"),
    # Django's reverse_sql likewise.
    ("PGL502", "from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
               "    atomic = False\n    dependencies = [(\"app\", \"0001_initial\")]\n"
               "    operations = [migrations.RunSQL(\n"
               "        \"CREATE INDEX CONCURRENTLY orders_code_idx ON orders (status)\",\n"
               "        reverse_sql=\"DROP INDEX orders_status_idx\")]\n"),
])
def test_sql_run_only_on_rollback_is_not_judged(tmp_path, code, migration):
    from pglint.kit.example_projects import LIVE_MIGRATIONS
    from pglint.registry import rule_by_code
    from pglint.rule import Example
    from tests.examples import make_project

    context = {**LIVE_MIGRATIONS, "migrations/V1__init.sql": (
        "CREATE TABLE orders (order_id bigint PRIMARY KEY, status text);\n"
        "CREATE INDEX orders_status_idx ON orders (status);\n"),
        "queries/orders.sql": "SELECT * FROM orders WHERE status = $1;\n"}
    rolled_back = Example(migration, kind="python", context=context)
    assert make_project(tmp_path / "a", rule_by_code(code), rolled_back).lint(code) == []
    # The same statement sent on the way up is judged.
    forward = migration.replace(
        "    op.execute(\"REINDEX INDEX CONCURRENTLY orders_status_idx\")\n\n\n"
        "def downgrade():\n", "").replace(
        "\",\n        reverse_sql=\"", "\"),\n        migrations.RunSQL(\"")
    assert forward != migration
    assert make_project(tmp_path / "b", rule_by_code(code),
                        Example(forward, kind="python", context=context)).lint(code)
