"""ORM models as uses of tables and columns (pglint.python.orm_uses): what Django and
SQLAlchemy models map, where, from application code only, kept in the per-file facts, and
PGL511's findings on a migration that drops or renames what a model still maps."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import discover
from pglint.facts import decode_facts, encode_facts, file_facts
from pglint.facts_cache import from_json, to_json

DJANGO = '''from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models


class Stamped(models.Model):
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Customer(Stamped):
    email = models.TextField(db_column="mail")


class Order(Stamped):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT)
    legacy_total = models.DecimalField(max_digits=12, decimal_places=2)
    tags = models.ManyToManyField("Tag")
    peers = models.ManyToManyField("self")
    lines = models.ManyToManyField("Line", through="OrderLine")
    target = GenericForeignKey("content_type", "object_id")

    class Meta:
        db_table = "orders"
        managed = False


class OpenOrder(Order):
    class Meta:
        proxy = True


class Special(Order):
    note = models.TextField()
'''

SQLALCHEMY = '''import sqlalchemy as sa
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

metadata = MetaData()
users = Table("users", metadata, Column("user_id", Integer), Column("name", String),
              schema="auth")


class Base(DeclarativeBase):
    pass


class Timestamps:
    created_at = Column(sa.DateTime)


class Invoice(Timestamps, Base):
    __tablename__ = "invoices"
    __table_args__ = (sa.Index("invoices_total"), {"schema": "billing"})
    id: Mapped[int] = mapped_column(primary_key=True)
    total = Column("total_cents", Integer)
    note: Mapped[str | None]
    lines: Mapped[list["Line"]] = relationship()
    body = deferred(Column(sa.Text))


class Line(Base):
    __tablename__ = "lines"
    kind = Column(String)


class SpecialLine(Line):
    extra = Column(String)


class AdminLine(Line):
    __tablename__ = "admin_lines"
    __mapper_args__ = {"polymorphic_identity": "admin"}
'''


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _model(root: Path):
    settings = parse_settings({}).with_overrides(root=root)
    candidates, errors = discover([root], settings)
    assert not errors
    return engine.build_model([engine.load(c) for c in candidates], settings)


def _mapped(model) -> dict[tuple[str, str | None], set[tuple[str, str]]]:
    """(table, column) -> {(where, mapping)} of the model's ORM uses."""
    out: dict[tuple[str, str | None], set[tuple[str, str]]] = {}
    for key, uses in model.uses.items():
        for use in uses:
            if use.mapped:
                out.setdefault(key, set()).add((str(use.location), use.mapped))
    return out


def test_django_models_map_tables_and_columns(tmp_path: Path) -> None:
    model = _model(_write(tmp_path, {"shop/models.py": DJANGO}))
    # A proxy writes its parent's table too (not a table named after the proxy).
    assert model.orm_tables == {"Customer": "shop_customer", "Order": "orders",
                                "OpenOrder": "orders", "Special": "shop_special"}
    mapped = _mapped(model)
    m = "shop/models.py"
    assert mapped == {
        # managed = False still maps the table; the abstract base maps none, but its fields
        # are its children's columns.
        ("orders", None): {(f"{m}:16", "Order"), (f"{m}:29", "OpenOrder")},  # proxy: parent's
        ("orders", "created"): {(f"{m}:6", "Order.created")},
        ("orders", "customer_id"): {(f"{m}:17", "Order.customer")},
        ("orders", "legacy_total"): {(f"{m}:18", "Order.legacy_total")},
        # A ManyToManyField without through= maps its join table (<table>_<field>).
        ("orders_tags", None): {(f"{m}:19", "Order.tags")},
        ("orders_tags", "order_id"): {(f"{m}:19", "Order.tags")},
        ("orders_tags", "tag_id"): {(f"{m}:19", "Order.tags")},
        ("orders_peers", None): {(f"{m}:20", "Order.peers")},
        ("orders_peers", "from_order_id"): {(f"{m}:20", "Order.peers")},
        ("orders_peers", "to_order_id"): {(f"{m}:20", "Order.peers")},
        ("shop_customer", None): {(f"{m}:12", "Customer")},
        ("shop_customer", "created"): {(f"{m}:6", "Customer.created")},
        ("shop_customer", "mail"): {(f"{m}:13", "Customer.email")},  # db_column
        # Multi-table inheritance: its own fields and the link to its parent.
        ("shop_special", None): {(f"{m}:34", "Special")},
        ("shop_special", "note"): {(f"{m}:35", "Special.note")},
        ("shop_special", "order_ptr_id"): {(f"{m}:34", "Special.order_ptr")},
    }


def test_sqlalchemy_models_and_tables_map_tables_and_columns(tmp_path: Path) -> None:
    mapped = _mapped(_model(_write(tmp_path, {"app/models.py": SQLALCHEMY})))
    m = "app/models.py"
    assert mapped == {
        ("auth.users", None): {(f"{m}:6", "users")},
        ("auth.users", "user_id"): {(f"{m}:6", "users.c.user_id")},
        ("auth.users", "name"): {(f"{m}:6", "users.c.name")},
        # __table_args__'s schema; a mixin's columns; Column's first string names the column;
        # a bare Mapped[...] is a column, a relationship is not.
        ("billing.invoices", None): {(f"{m}:18", "Invoice")},
        ("billing.invoices", "created_at"): {(f"{m}:15", "Invoice.created_at")},
        ("billing.invoices", "id"): {(f"{m}:21", "Invoice.id")},
        ("billing.invoices", "total_cents"): {(f"{m}:22", "Invoice.total")},
        ("billing.invoices", "note"): {(f"{m}:23", "Invoice.note")},
        ("billing.invoices", "body"): {(f"{m}:25", "Invoice.body")},
        # A __tablename__ subclass without a column of its own has no table of its own.
        ("lines", None): {(f"{m}:28", "Line"), (f"{m}:37", "AdminLine")},
        ("lines", "kind"): {(f"{m}:30", "Line.kind")},
        # Single-table inheritance: the subclass's columns are its parent's table's.
        ("lines", "extra"): {(f"{m}:34", "SpecialLine.extra")},
    }


def test_only_application_models_are_uses(tmp_path: Path) -> None:
    # The same models in tests, in a one-off script and beside migrations map nothing.
    root = _write(tmp_path, {"tests/models.py": DJANGO, "scripts/models.py": DJANGO,
                             "migrations/models.py": SQLALCHEMY,
                             "queries/orders.sql": "SELECT legacy_total FROM orders;\n"})
    model = _model(root)
    assert _mapped(model) == {}
    assert [u.mapped for u in model.uses[("orders", "legacy_total")]] == [""]


def test_model_uses_keep_their_mapping_through_the_facts_cache(tmp_path: Path) -> None:
    root = _write(tmp_path, {"shop/models.py": DJANGO})
    settings = parse_settings({}).with_overrides(root=root)
    [candidate], _ = discover([root], settings)
    loaded = engine.load(candidate)
    facts = file_facts(loaded)
    assert any(u.mapped == "Order.legacy_total" for u in facts.uses)
    again = decode_facts(from_json(to_json(encode_facts(facts))), lambda: loaded.file)
    assert [(u.table, u.column, u.mapped, str(u.location)) for u in again.uses] == \
        [(u.table, u.column, u.mapped, str(u.location)) for u in facts.uses]


SCHEMA = """CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint,
    legacy_total numeric, created timestamptz);
CREATE TABLE lines (id bigint PRIMARY KEY, kind text, extra text);
"""


def _pgl511(root: Path) -> list[tuple[str, int, str]]:
    settings = parse_settings({"select": ["PGL511"], "all-migrations": True}).with_overrides(
        root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors
    return sorted((Path(f.path).name, f.row, f.message) for f in result.findings)


def test_a_sql_migration_dropping_what_a_model_maps_names_the_mapping(tmp_path: Path) -> None:
    root = _write(tmp_path, {
        "migrations/V1__init.sql": SCHEMA, "shop/models.py": DJANGO,
        "app/models.py": SQLALCHEMY,
        "migrations/V2__drop.sql": "ALTER TABLE orders DROP COLUMN legacy_total;\n"
                                   "ALTER TABLE orders RENAME COLUMN created TO created_on;\n"
                                   "DROP TABLE lines;\n"})
    found = _pgl511(root)
    assert [(name, row) for name, row, _ in found] == [
        ("V2__drop.sql", 1), ("V2__drop.sql", 2), ("V2__drop.sql", 3)]
    assert "`orders.legacy_total` is dropped here" in found[0][2]
    assert "still mapped in `shop/models.py:18` (`Order.legacy_total`)" in found[0][2]
    assert "`orders.created` is renamed here" in found[1][2]
    assert "`shop/models.py:6` (`Order.created`)" in found[1][2]
    assert "table `lines` is dropped here" in found[2][2]
    assert "`app/models.py:28` (`Line`)" in found[2][2]


def test_a_model_that_no_longer_maps_it_or_maps_the_new_name_is_silent(tmp_path: Path) -> None:
    models = DJANGO.replace("    legacy_total = models.DecimalField(max_digits=12, "
                            "decimal_places=2)\n", "").replace(
        "created = models.DateTimeField(", "created = models.DateTimeField(db_column="
                                           "\"created_on\", ")
    root = _write(tmp_path, {
        "migrations/V1__init.sql": SCHEMA, "shop/models.py": models,
        "migrations/V2__drop.sql": "ALTER TABLE orders DROP COLUMN legacy_total;\n"
                                   "ALTER TABLE orders RENAME COLUMN created TO created_on;\n"})
    assert _pgl511(root) == []


DJANGO_0001 = '''from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                ("status", models.TextField()),
                ("legacy_total", models.DecimalField(max_digits=12, decimal_places=2)),
            ],
        ),
    ]
'''


def _django_project(root: Path, models: str, second: str) -> Path:
    return _write(root, {
        "shop/__init__.py": "", "shop/models.py": models,
        "shop/migrations/__init__.py": "", "shop/migrations/0001_initial.py": DJANGO_0001,
        "shop/migrations/0002_drop_legacy_total.py": (
            "from django.db import migrations\n\n\n"
            "class Migration(migrations.Migration):\n"
            "    dependencies = [(\"shop\", \"0001_initial\")]\n"
            f"    operations = [\n        {second},\n    ]\n")})


def test_django_migrations_after_the_field_left_the_model_are_silent(tmp_path: Path) -> None:
    models = ("from django.db import models\n\n\n"
              "class Order(models.Model):\n    status = models.TextField()\n")
    root = _django_project(tmp_path, models,
                           'migrations.RemoveField(model_name="order", name="legacy_total")')
    assert _pgl511(root) == []
    sql = _django_project(tmp_path / "sql", models, 'migrations.RunSQL('
                          '"ALTER TABLE shop_order DROP COLUMN legacy_total")')
    assert _pgl511(sql) == []


def test_a_django_migration_dropping_a_field_the_model_still_maps_is_reported(
        tmp_path: Path) -> None:
    models = ("from django.db import models\n\n\n"
              "class Order(models.Model):\n    status = models.TextField()\n"
              "    legacy_total = models.DecimalField(max_digits=12, decimal_places=2)\n")
    root = _django_project(tmp_path, models, 'migrations.RunSQL('
                           '"ALTER TABLE shop_order DROP COLUMN legacy_total")')
    [(name, _, message)] = _pgl511(root)
    assert name == "0002_drop_legacy_total.py"
    assert "still mapped in `shop/models.py:6` (`Order.legacy_total`)" in message


def test_a_scoped_run_reads_the_models_uses_from_the_facts_cache(tmp_path: Path,
                                                                 monkeypatch) -> None:
    """`--project migration.sql` after an edit of the models: the migration's finding follows
    the models' cached facts, and their new facts once they change."""
    import shutil

    shop = tmp_path / "shop"
    shutil.copytree(Path(__file__).resolve().parent.parent / "fixtures" / "shop", shop)
    (shop / "queries" / "orders.sql").write_text(
        (shop / "queries" / "orders.sql").read_text().replace(
            "SELECT order_id, shipped_at FROM", "SELECT order_id FROM"))
    migration = (shop / "migrations" / "V90__retire_shipped_at.sql").resolve()
    settings = parse_settings({"select": ["PGL511"], "all-migrations": True}).with_overrides(
        root=shop)
    cache = tmp_path / "cache"
    engine.lint([shop], settings, cache, only=lambda c: False)  # every file's facts, cached

    parsed: list[str] = []
    load = engine.load
    monkeypatch.setattr(engine, "load", lambda c, *a: parsed.append(c.path.name) or load(c, *a))

    def scoped() -> list[str]:
        parsed.clear()
        result = engine.lint([shop], settings, cache,
                             only=lambda c: c.path.resolve() == migration)
        return [f.message for f in result.findings]

    [message] = scoped()
    assert parsed == ["V90__retire_shipped_at.sql"]  # the models' uses came from the cache
    assert "still mapped in `app/shop/models.py:19` (`Order.shipped_at`)" in message
    models = shop / "app" / "shop" / "models.py"
    models.write_text(models.read_text().replace(
        "    shipped_at = models.DateTimeField(null=True)\n", ""))
    assert scoped() == []
    assert sorted(parsed) == ["V90__retire_shipped_at.sql", "models.py"]
