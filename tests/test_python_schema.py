"""Python migrations (Alembic, Django) replayed into the catalog, like SQL migrations."""

from __future__ import annotations

import marshal
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import discover
from pglint.model.catalog import Catalog
from pglint.model.catalog_codec import decode_ops, encode_ops
from pglint.model.location import Location
from pglint.python.embedded import parse_python
from pglint.python.schema import migration_kind, might_define_schema, schema_ops
from pglint.source import SourceFile


def _ops(text: str, path: str = "shop/migrations/0001_initial.py",
         replay_sql: bool = True) -> tuple[list[tuple], SourceFile]:
    parsed, tree = parse_python(text, wanted=True)
    assert tree is not None
    file = SourceFile(Path(path), text, "python", path)
    for stmt in parsed.statements:
        stmt.origin = f"{path}:{stmt.start}"

    def where(start: int, end: int) -> Location:
        return Location.in_file(file, start, end)

    return schema_ops(tree, where, parsed.statements if replay_sql else None, Path(path)), file


def _catalog(text: str, path: str = "shop/migrations/0001_initial.py",
             replay_sql: bool = True) -> Catalog:
    catalog = Catalog()
    catalog.apply_ops(_ops(text, path, replay_sql)[0])
    return catalog


def _code_at(file: SourceFile, location: Location | None) -> str:
    assert location is not None
    return file.text[location.start:location.end]


# -- Alembic ---------------------------------------------------------------------------------

EVENTS = '''"""create events

Revision ID: 1a2b3c4d
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "1a2b3c4d"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("key", postgresql.UUID(as_uuid=True), unique=True),
        sa.Column("status", sa.Text, server_default="new", index=True),
        sa.Column("seen_at", sa.TIMESTAMP(timezone=True), server_default=sa.text("now()")),
        postgresql_with={"fillfactor": 70},
    )
    op.execute("CREATE INDEX events_n_idx ON events (n)")


def downgrade() -> None:
    op.execute("DROP INDEX events_n_idx")
    op.drop_table("events")
'''


def test_alembic_create_table_columns_defaults_keys():
    ops, file = _ops(EVENTS, "alembic/versions/1a2b3c4d_events.py")
    catalog = Catalog()
    catalog.apply_ops(ops)
    events = catalog.table("events")
    assert events is not None and events.fillfactor == 70
    assert _code_at(file, events.location).startswith('op.create_table(\n        "events"')
    assert events.path == "alembic/versions/1a2b3c4d_events.py"
    cols = events.columns
    assert (cols["id"].type, cols["id"].default, cols["id"].not_null) == ("int8", "identity", True)
    assert (cols["created_at"].type, cols["created_at"].default) == ("timestamptz", "time")
    assert (cols["seen_at"].type, cols["seen_at"].default) == ("timestamptz", "time")
    assert (cols["n"].type, cols["n"].not_null, cols["n"].default) == ("int4", True, "")
    assert cols["key"].type == "uuid" and not cols["key"].not_null
    # A string server_default is an SQL string literal.
    assert (cols["status"].default, cols["status"].default_sql) == ("other", "'new'")
    assert _code_at(file, cols["n"].location) == 'sa.Column("n", sa.Integer, nullable=False)'
    assert catalog.sequences["events_id_seq"].owned_by == ("events", "id")
    pkey = catalog.indexes["events_pkey"]
    assert pkey.primary and pkey.columns == ["id"] and pkey.constraint and not pkey.origin
    assert catalog.indexes["events_key_key"].unique
    assert catalog.indexes["ix_events_status"].columns == ["status"]
    assert catalog.key_columns("events") == [{"id"}, {"key"}]
    # Objects defined in Python have no defining statement: rules that edit one ignore them.
    assert all(not o.origin for o in (events, pkey, catalog.sequences["events_id_seq"]))


def test_alembic_replays_upgrade_sql_only():
    replayed = _catalog(EVENTS)
    index = replayed.indexes["events_n_idx"]
    assert index.columns == ["n"] and index.origin  # from the op.execute statement
    assert replayed.table("events") is not None  # downgrade()'s drop_table is not replayed
    assert "events_n_idx" not in _catalog(EVENTS, replay_sql=False).indexes



def test_call_arguments_in_the_order_written():
    # CPython's tree keeps positional and keyword arguments apart; a `*x` may follow a keyword.
    import ast

    from pglint.python.pyfile import call_args

    call = ast.parse("f(a, *b, c=1, *d, **e)").body[0].value
    assert [(k, ast.unparse(v), star) for k, v, star, _ in call_args(call)] == [
        (None, "a", ""), (None, "b", "*"), ("c", "1", ""), (None, "d", "*"), (None, "e", "**")]


def test_alembic_forms_cpythons_tree_spells_apart():
    # An `async def upgrade()`, an `async with` batch, `op.f()` with its name as a keyword
    # and `**{...}` keywords are read as their plain forms.
    text = ("from alembic import op\nimport sqlalchemy as sa\n\n\n"
            "async def upgrade():\n"
            "    op.create_index(op.f(name='ix_orders_n'), 'orders', ['n'], **{'unique': True})\n"
            "    async with op.batch_alter_table('orders') as batch:\n"
            "        batch.add_column(sa.Column('note', sa.Text, nullable=False))\n")
    ops = _ops(text, "alembic/versions/1_orders.py")[0]
    index = next(op[1] for op in ops if op[0] == "create_index")
    assert (index.name, index.table, index.columns, index.unique) == (
        "ix_orders_n", "orders", ["n"], True)
    altered = [op for op in ops if op[0] == "alter_table"]
    assert altered and altered[0][1] == "orders" and altered[0][2][0][1].name == "note"


def test_django_q_terms_in_the_order_written():
    text = ("from django.db import migrations, models\n\n\n"
            "class Migration(migrations.Migration):\n"
            "    operations = [\n"
            "        migrations.AddIndex(model_name='order', index=models.Index(\n"
            "            fields=['status'], name='order_open_idx',\n"
            "            condition=models.Q(('status', 'new'), paid=False, _connector='OR'))),\n"
            "    ]\n")
    index = _catalog(text).indexes["order_open_idx"]
    assert index.partial and index.reads == {"status", "paid"}
    # The condition as SQL: a tuple term, a keyword term, then the connector that joins them.
    import ast

    from pglint.python.django_schema import DjangoMigration, _Model
    from pglint.python.pyfile import PythonFile

    code = PythonFile.parse(text)
    assert code is not None
    reader = DjangoMigration(code, lambda a, b: Location("x", 0, 0, a, b, None), None,
                             Path("shop/migrations/0002_open.py"))
    q = next(c for c in code.nodes(ast.Call) if code.code(c.func) == "models.Q")
    assert reader._q_sql(_Model("shop_order"), q, set()) == \
        "(\"status\" = 'new' OR \"paid\" = false)"


AUTOINCREMENT = '''from alembic import op
import sqlalchemy as sa


def upgrade():
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.BigInteger, sa.ForeignKey("customers.id")),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table("big", sa.Column("id", sa.BigInteger, primary_key=True))
    op.create_table("manual", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False))
    op.create_table(
        "pairs",
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
    )
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.BigInteger, sa.Sequence("ticket_seq", cache=20), primary_key=True),
    )


def downgrade():
    pass
'''


def test_alembic_integer_primary_key_is_serial_like_sqlalchemy():
    catalog = _catalog(AUTOINCREMENT)
    orders = catalog.table("orders")
    assert (orders.columns["id"].type, orders.columns["id"].default) == ("serial", "serial")
    assert catalog.sequences["orders_id_seq"].owned_by == ("orders", "id")
    assert catalog.indexes["orders_pkey"].columns == ["id"]
    assert catalog.references_to("customers")[0].columns == ["customer_id"]
    assert catalog.table("big").columns["id"].type == "bigserial"
    assert catalog.table("manual").columns["id"].default == ""
    # "auto" applies to a lone integer key, and not to a foreign key.
    assert [c.default for c in catalog.table("pairs").columns.values()] == ["", ""]
    assert catalog.indexes["pairs_pkey"].columns == ["a", "b"]
    assert catalog.table("profiles").columns["user_id"].default == ""
    tickets = catalog.table("tickets").columns["id"]
    assert (tickets.type, tickets.default) == ("int8", "nextval")
    assert catalog.sequences["ticket_seq"].cache == 20


ALTERATIONS = '''from alembic import op
import sqlalchemy as sa
from sqlalchemy import text


def upgrade():
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger, sa.Identity(cache=50), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("status", "run_at", name="jobs_status_run_key"),
        sa.Index("jobs_note_idx", "note"),
    )
    op.create_index(op.f("ix_jobs_pending"), "jobs", ["run_at"],
                    postgresql_where=text("status = 'pending'"))
    op.create_index("jobs_run_brin", "jobs", ["run_at"], postgresql_using="brin")
    op.create_index("jobs_lower_note", "jobs", [sa.text("lower(note)")], unique=True)
    op.add_column("jobs", sa.Column("attempts", sa.SmallInteger, server_default="0"))
    op.drop_column("jobs", "note")
    op.create_unique_constraint("jobs_attempts_key", "jobs", ["attempts"])
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("locked_by", sa.Text))
        batch_op.create_index("jobs_locked_by_idx", ["locked_by"])
    op.alter_column("jobs", "locked_by", new_column_name="worker")
    op.create_table("tmp", sa.Column("id", sa.Integer, primary_key=True))
    op.drop_table("tmp")
    op.drop_index("jobs_run_brin", table_name="jobs")


def downgrade():
    op.drop_table("jobs")
'''


def test_alembic_indexes_and_alterations():
    catalog = _catalog(ALTERATIONS)
    jobs = catalog.table("jobs")
    assert list(jobs.columns) == ["id", "status", "run_at", "attempts", "worker"]
    assert jobs.columns["status"].type == "varchar"
    assert (jobs.columns["attempts"].type, jobs.columns["attempts"].default_sql) == ("int2", "'0'")
    assert catalog.sequences["jobs_id_seq"].cache == 50
    pending = catalog.indexes["ix_jobs_pending"]
    assert pending.partial and pending.columns == ["run_at"]
    assert pending.reads == {"run_at", "status"} and pending.predicate is not None
    assert "jobs_run_brin" not in catalog.indexes  # dropped
    lower = catalog.indexes["jobs_lower_note"]
    assert lower.unique and lower.columns == [None] and lower.reads == {"note"}
    assert "jobs_lower_note" in catalog.indexes  # (the old column is dropped by name only)
    assert "jobs_note_idx" not in catalog.indexes  # went with its column
    assert catalog.indexes["jobs_status_run_key"].columns == ["status", "run_at"]
    assert catalog.indexes["jobs_attempts_key"].unique
    assert catalog.indexes["jobs_locked_by_idx"].columns == ["worker"]  # batch, then renamed
    assert catalog.table("tmp") is None


def test_alembic_brin_index_method():
    text = ALTERATIONS.replace('    op.drop_index("jobs_run_brin", table_name="jobs")\n', "")
    assert _catalog(text).indexes["jobs_run_brin"].method == "brin"


@pytest.mark.parametrize("written, expected", [
    ("sa.BigInteger", "int8"), ("sa.Integer()", "int4"), ("sa.SmallInteger", "int2"),
    ("sa.DateTime()", "timestamp"), ("sa.DateTime(timezone=True)", "timestamptz"),
    ("sa.Text", "text"), ("sa.String(64)", "varchar"), ("sa.Boolean", "bool"),
    ("postgresql.UUID(as_uuid=True)", "uuid"), ("sa.Uuid", "uuid"), ("postgresql.JSONB", "jsonb"),
    ("sa.Numeric(10, 2)", "numeric"), ("sa.Float", "float8"), ("sa.Date", "date"),
    ("sa.Enum('new', 'done', name='job_state')", "job_state"),
    ("postgresql.ARRAY(sa.Text)", "text"), ("sa.LargeBinary", "bytea"),
])
def test_alembic_types(written, expected):
    text = ("from alembic import op\nimport sqlalchemy as sa\n"
            "from sqlalchemy.dialects import postgresql\n\n\ndef upgrade():\n"
            f"    op.create_table('t', sa.Column('c', {written}))\n")
    assert _catalog(text).table("t").columns["c"].type == expected


# -- Django ----------------------------------------------------------------------------------

SHOP = '''# Generated by Django 3.2.25 on 2024-05-01 12:00

import django.contrib.postgres.indexes
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False)),
                ("email", models.EmailField(max_length=254, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("key", models.CharField(max_length=64, unique=True)),
                ("status", models.CharField(default="new", max_length=16)),
                ("total", models.DecimalField(decimal_places=2, max_digits=10, null=True)),
                ("uid", models.UUIDField()),
                ("n", models.PositiveIntegerField(default=0)),
                ("customer", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, to="shop.customer")),
                ("owner", models.ForeignKey(
                    on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL,
                    db_column="owner_ref")),
            ],
            options={
                "db_table": "orders",
                "unique_together": {("customer", "created")},
                "indexes": [
                    models.Index(fields=["-created"], name="orders_created_idx"),
                    django.contrib.postgres.indexes.BrinIndex(
                        fields=["created"], name="orders_created_brin"),
                    models.Index(condition=models.Q(("status", "pending")), fields=["created"],
                                 name="orders_pending_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("customer", "uid"), name="orders_uid_uniq"),
                ],
            },
        ),
        migrations.AddField(
            model_name="customer",
            name="last_seen",
            field=models.DateTimeField(null=True, db_index=True),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["customer", "status"], name="orders_customer_status"),
        ),
        migrations.RemoveField(model_name="order", name="total"),
        migrations.RunSQL(
            sql="ALTER TABLE orders SET (fillfactor = 80);",
            reverse_sql="ALTER TABLE orders RESET (fillfactor);",
        ),
        migrations.RunPython(migrations.RunPython.noop),
    ]
'''


def test_django_create_model_tables_columns_keys():
    ops, file = _ops(SHOP)
    catalog = Catalog()
    catalog.apply_ops(ops)
    customer = catalog.table("shop_customer")  # <app label>_<model>: the app's folder
    assert customer is not None
    assert _code_at(file, customer.location).startswith('migrations.CreateModel(\n'
                                                        '            name="Customer"')
    assert (customer.columns["id"].type, customer.columns["id"].default) == ("serial", "serial")
    assert catalog.sequences["shop_customer_id_seq"].owned_by == ("shop_customer", "id")
    assert customer.columns["email"].type == "varchar" and customer.columns["email"].not_null
    assert catalog.indexes["shop_customer_email_key"].unique
    assert not customer.columns["last_seen"].not_null  # null=True
    orders = catalog.table("orders")  # options["db_table"]
    cols = orders.columns
    assert (cols["id"].type, cols["id"].default) == ("bigserial", "serial")
    # auto_now_add is set by Django, not by a column default.
    assert (cols["created"].type, cols["created"].default) == ("timestamptz", "")
    assert cols["status"].default == ""  # default= is applied by Django too
    assert cols["uid"].type == "uuid" and cols["n"].type == "int4"
    assert "total" not in cols  # RemoveField
    # A ForeignKey is <name>_id, typed like the key it references, indexed, constrained.
    assert cols["customer_id"].type == "int4"
    assert "owner_ref" in cols and "owner_id" not in cols  # db_column
    assert [fk.table for fk in catalog.references_to("shop_customer")] == ["orders"]
    assert catalog.references_to("auth_user") == []  # a swappable model is not guessed
    fk_index = next(i for i in catalog.indexes_on("orders") if i.columns == ["customer_id"])
    assert fk_index.name.startswith("orders_customer_id_") and not fk_index.unique
    assert _code_at(file, cols["key"].location) == "models.CharField(max_length=64, unique=True)"
    assert orders.fillfactor == 80  # RunSQL's sql, not its reverse_sql


def test_django_options_indexes_and_constraints():
    catalog = _catalog(SHOP)
    keys = catalog.key_columns("orders")
    assert {"id"} in keys and {"key"} in keys
    assert {"customer_id", "created"} in keys  # unique_together, by column
    assert {"customer_id", "uid"} in keys  # UniqueConstraint
    indexes = catalog.indexes
    assert indexes["orders_created_idx"].columns == ["created"]  # "-created": descending
    assert indexes["orders_created_brin"].method == "brin"
    pending = indexes["orders_pending_idx"]
    assert pending.partial and pending.reads == {"created", "status"}
    assert pending.predicate is not None
    assert indexes["orders_customer_status"].columns == ["customer_id", "status"]
    assert "shop_customer_last_seen_" in next(
        i.name for i in catalog.indexes_on("shop_customer") if i.columns == ["last_seen"])


def test_django_identity_columns_from_4_1():
    text = SHOP.replace("Generated by Django 3.2.25", "Generated by Django 4.2.7")
    catalog = _catalog(text)
    column = catalog.table("orders").columns["id"]
    assert (column.type, column.default) == ("int8", "identity")
    assert catalog.sequences["orders_id_seq"].owned_by == ("orders", "id")


LATER = '''from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):

    dependencies = [("shop", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="joined",
            field=models.DateTimeField(db_default=Now()),
        ),
        migrations.AddField(
            model_name="customer",
            name="plan",
            field=models.ForeignKey(on_delete=models.CASCADE, to="billing.plan", null=True),
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                condition=models.Q(("joined__isnull", False)), fields=("email",),
                name="customer_email_joined"),
        ),
        migrations.DeleteModel(name="Coupon"),
        migrations.AlterModelTable(name="customer", table="customers"),
    ]
'''


def test_django_later_migration_uses_default_names():
    catalog = Catalog()
    catalog.apply_ops(_ops(SHOP)[0])
    catalog.apply_ops(_ops(LATER, "shop/migrations/0002_more.py")[0])
    assert catalog.table("shop_customer") is None  # AlterModelTable renamed it
    customer = catalog.table("customers")
    assert customer.columns["joined"].default == "time"  # db_default is a column default
    assert customer.columns["plan_id"].type == "int8"
    assert catalog.references_to("billing_plan")[0].columns == ["plan_id"]
    unique = catalog.indexes["customer_email_joined"]
    assert unique.unique and unique.partial and not unique.constraint


def test_only_migrations_define_schema():
    models = ("from django.db import models\n\n\nclass Counter(models.Model):\n"
              "    n = models.IntegerField()\n")
    script = "def upgrade():\n    op.create_table('t')\n"
    assert _ops(models, "shop/models.py")[0] == []
    assert _ops(script, "tools/upgrade.py")[0] == []
    assert not might_define_schema(models) and not might_define_schema(script)
    assert might_define_schema(EVENTS) and might_define_schema(SHOP)
    tree = parse_python(EVENTS, wanted=True)[1]
    assert migration_kind(tree) == "alembic"


def test_operations_travel_between_processes():
    ops, file = _ops(SHOP)

    def where(start: int, end: int) -> Location:
        return Location.in_file(file, start, end)

    decoded = decode_ops(marshal.loads(marshal.dumps(encode_ops(ops))), where)
    direct, sent = Catalog(), Catalog()
    direct.apply_ops(ops)
    sent.apply_ops(decoded)
    assert direct.tables.keys() == sent.tables.keys()
    assert direct.indexes.keys() == sent.indexes.keys()
    assert sent.table("orders").columns["key"].location == direct.table("orders") \
        .columns["key"].location


# -- the catalog-backed rules see Python migrations ------------------------------------------
# The engine parses a .py file's tree only when something can read it: a migration must count.


def test_migrations_are_parsed():
    from pglint.loading import PythonReaders

    assert PythonReaders.of(EVENTS).schema and PythonReaders.of(SHOP).schema


@pytest.mark.parametrize(("path", "text"), [("alembic/versions/1a2b3c4d_events.py", EVENTS),
                                            ("shop/migrations/0001_initial.py", SHOP)])
def test_migrations_are_read_on_cpythons_tree_alone(path: str, text: str):
    # The readers need no libcst tree: a migration that no libcst rule wants is not parsed
    # with it, and its operations and what they send are read all the same.
    from pglint.discover import Candidate

    loaded = engine.load(Candidate(Path(path), path, "python"), text)
    assert loaded.python_file is not None and not loaded.python_file.fix_tree_parsed
    assert loaded.file is not None and loaded.file.kind == "migration"
    assert any(s.operation is not None for s in loaded.parsed.statements)
    assert engine.file_facts(loaded).ops


ALEMBIC_PROJECT = {
    "alembic/versions/1a2b3c4d_events.py": '''"""events and jobs"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "1a2b3c4d"
down_revision = None


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    )


def downgrade():
    op.drop_table("jobs")
    op.drop_table("events")
''',
    "app/ingest.py": '''import backoff


@backoff.on_exception(backoff.expo, OSError, max_tries=3)
def record(cur, event_id, payload):
    cur.execute("INSERT INTO events (id, payload) VALUES (%s, %s)", (event_id, payload))


def claim(cur):
    cur.execute("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 "
                "FOR UPDATE SKIP LOCKED")
    # The worker takes the job: what makes `jobs` a work queue, not only its name.
    cur.execute("UPDATE jobs SET status = 'running' WHERE id = %s", (1,))
''',
}

DJANGO_PROJECT = {
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": '''# Generated by Django 5.0.6 on 2024-06-01 10:00

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="PageCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("page", models.CharField(max_length=200, unique=True)),
                ("n", models.BigIntegerField(default=0)),
            ],
        ),
    ]
''',
    "shop/models.py": '''from django.db import models


class PageCounter(models.Model):
    page = models.CharField(max_length=200, unique=True)
    n = models.BigIntegerField(default=0)
''',
    "shop/views.py": '''from celery import shared_task
from django.db import connection
from django.db.models import F

from shop.models import PageCounter


def hit(page):
    PageCounter.objects.filter(page=page).update(n=F("n") + 1)


@shared_task(autoretry_for=(ConnectionError,))
def start(page):
    with connection.cursor() as cur:
        cur.execute("INSERT INTO shop_pagecounter (page, n) VALUES (%s, 0)", [page])
''',
}


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _lint(root: Path, select: list[str]):
    settings = parse_settings({"select": select}).with_overrides(root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors
    return result, engine.build_model(result.files, settings)


def test_alembic_tables_feed_the_rules(tmp_path):
    root = _project(tmp_path, ALEMBIC_PROJECT)
    result, model = _lint(root, ["PGL201", "PGL307"])
    found = {(f.code, Path(f.path).name, f.row) for f in result.findings}
    # The catalog knows events.id is the primary key, and that jobs has no index for the poll.
    assert found == {("PGL201", "ingest.py", 6), ("PGL307", "ingest.py", 10)}
    pgl201 = next(f for f in result.findings if f.code == "PGL201")
    assert "primary key (id)" in pgl201.message
    # What PGL102/PGL103 judge on SQL statements: a growing key on an insert-heavy table. The
    # key is read from the Alembic table; the Python inserts alone do not make it insert-heavy
    # (only [tool.pglint.tables] says how many sessions insert at once).
    key = model.catalog.table("events").columns["id"]
    assert key.grows and key.default == "identity"
    assert model.workload.of("events", "insert")
    assert model.insert_heavy("events") is None


def test_django_counter_table_feeds_the_rules(tmp_path):
    root = _project(tmp_path, DJANGO_PROJECT)
    result, model = _lint(root, ["PGL201"])
    [finding] = result.findings
    assert Path(finding.path).name == "views.py" and "unique key (page)" in finding.message
    table = model.catalog.table("shop_pagecounter")
    assert table is not None and table.fillfactor is None
    assert table.columns["n"].type == "int8"
    # What PGL104 judges: frequent in-place updates of a column no index covers.
    columns, writes, _ = model.frequent_updates("shop_pagecounter")
    assert columns == {"n"} and writes
    blocking = set().union(*model.hot_blocking_columns("shop_pagecounter", 18).values())
    assert blocking == {"id", "page"}


def test_alembic_revisions_replay_in_down_revision_order(tmp_path):
    # Revision files are named by hash: the one that adds a column sorts before the one that
    # creates the table, but runs after it.
    files = {
        "alembic/versions/0b7e_add_status.py": (
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            "revision = '0b7e'\ndown_revision = 'f3a1'\n\n\n"
            "def upgrade():\n"
            "    op.add_column('jobs', sa.Column('status', sa.Text(), nullable=False))\n"),
        "alembic/versions/f3a1_jobs.py": (
            "from alembic import op\nimport sqlalchemy as sa\n\n"
            "revision = 'f3a1'\ndown_revision = None\n\n\n"
            "def upgrade():\n"
            "    op.create_table('jobs', sa.Column('id', sa.BigInteger(), primary_key=True))\n"),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    settings = parse_settings({}).with_overrides(root=tmp_path)
    candidates, _ = discover([tmp_path], settings)
    assert [c.path.name for c in candidates] == ["0b7e_add_status.py", "f3a1_jobs.py"]
    model = engine.build_model([engine.load(c) for c in candidates], settings)
    assert set(model.catalog.table("jobs").columns) == {"id", "status"}


PLUGIN_REVISIONS = {
    "migrations/versions/0001_base.py": (
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        "revision = \"0001\"\ndown_revision = None\n\n\n"
        "def upgrade():\n"
        "    op.create_table(\"challenges\", sa.Column(\"id\", sa.Integer(), primary_key=True))\n"),
    # A plugin's revision: its runner hands `op` to upgrade() instead of an import.
    "plugins/scoring/migrations/0002_scoring.py": (
        "import sqlalchemy as sa\n\n"
        "revision = \"0002\"\ndown_revision = \"0001\"\n\n\n"
        "def upgrade(op=None):\n"
        "    op.add_column(\"challenges\", sa.Column(\"decay\", sa.Integer(), nullable=True))\n\n\n"
        "def downgrade(op=None):\n"
        "    op.execute(\"UPDATE challenges SET decay = NULL\")\n"
        "    op.drop_column(\"challenges\", \"decay\")\n"),
}


def test_a_plugin_revision_handed_op_by_its_runner_is_an_alembic_migration(tmp_path):
    root = _project(tmp_path, PLUGIN_REVISIONS)
    result, model = _lint(root, ["PGL202"])
    plugin = next(f.file for f in result.files if f.candidate.path.name == "0002_scoring.py")
    assert (plugin.kind, plugin.role, plugin.role_reason) == (
        "migration", "migration", "Alembic or Django migration")
    # Its operations are read (the column exists), its downgrade() is not judged as sent.
    assert "decay" in model.catalog.table("challenges").columns
    assert result.findings == []
