"""ORM code as workload evidence: model classes mapped to tables, writes through them, and
findings on SQL migrations that cite the Python line."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import discover

SCHEMA = """CREATE TABLE shop_product (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    views bigint NOT NULL DEFAULT 0
);
CREATE TABLE page_hits (id bigint PRIMARY KEY, hits bigint NOT NULL DEFAULT 0);
CREATE TABLE audit_events (id bigserial PRIMARY KEY, payload jsonb,
    created_at timestamptz DEFAULT now());
CREATE INDEX audit_events_created ON audit_events (created_at);
"""

MODELS = '''from django.db import models


class Base(models.Model):
    class Meta:
        abstract = True


class Product(Base):
    name = models.TextField()
    views = models.BigIntegerField(default=0)


class PageHit(models.Model):
    hits = models.BigIntegerField(default=0)

    class Meta:
        db_table = "page_hits"
'''

EVENTS = '''"""Événements: non-ASCII text before the write."""
from sqlalchemy import MetaData, Table, insert, update
from sqlalchemy.orm import DeclarativeBase


class Model(DeclarativeBase):
    pass


class Session(Model):
    __tablename__ = "user_sessions"


metadata = MetaData()
audit = Table("audit_events", metadata)


def record(conn, payload):
    conn.execute(insert(audit).values(payload=payload))


def touch(session, sid, now):
    session.execute(update(Session).where(Session.id == sid).values(last_seen_at=now()))
'''

VIEWS = '''from django.db.models import F
from django.utils import timezone

from shop.models import PageHit, Product
from elsewhere import Unknown


def show(request, pk):
    Product.objects.filter(pk=pk).update(views=F("views") + 1)
    PageHit.objects.create(hits=1)
    Unknown.objects.filter(pk=pk).update(n=F("n") + 1)
    Base.objects.filter(name__startswith="a").update(touched_at=timezone.now())
'''


def _project(root: Path) -> Path:
    files = {"migrations/V1__schema.sql": SCHEMA, "shop/models.py": MODELS,
             "app/events.py": EVENTS, "app/views.py": VIEWS}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _model(root: Path):
    settings = parse_settings({}).with_overrides(root=root)
    candidates, errors = discover([root], settings)
    assert not errors
    return engine.build_model([engine.load(c) for c in candidates], settings)


def test_models_map_to_tables(tmp_path):
    model = _model(_project(tmp_path))
    # Django default name <app label>_<model>, Meta.db_table, SQLAlchemy __tablename__ and
    # Table(); the abstract base maps to nothing.
    assert model.orm_tables == {"Product": "shop_product", "PageHit": "page_hits",
                                "Session": "user_sessions", "audit": "audit_events"}


def test_orm_writes_are_workload_facts(tmp_path):
    model = _model(_project(tmp_path))
    [bump] = model.workload.of("shop_product", "update")
    assert (bump.columns, bump.increments, bump.by_key) == ({"views"}, {"views"}, True)
    assert str(bump.location).replace("\\", "/").endswith("app/views.py:9")
    [insert] = model.workload.of("page_hits", "insert")
    assert insert.columns == {"hits"}
    [touch] = model.workload.of("user_sessions", "update")
    assert touch.by_key and touch.columns == {"last_seen_at"}
    [record] = model.workload.of("audit_events", "insert")
    assert record.location.line == 19 and record.location.column == 18
    # Classes no file maps to a table are dropped, not guessed.
    assert set(model.workload.writes) == {"shop_product", "page_hits", "user_sessions",
                                          "audit_events"}


def test_migration_findings_cite_python_writes(tmp_path):
    root = _project(tmp_path)
    # How many sessions insert at once is declared; the findings cite the Python inserts.
    settings = parse_settings({"select": ["PGL102", "PGL103", "PGL104"],
                               "tables": {"audit_events": "insert-heavy"}}).with_overrides(
        root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors
    by_code = {f.code: f for f in result.findings}
    assert set(by_code) == {"PGL102", "PGL103", "PGL104"}
    assert all(f.path.endswith("V1__schema.sql") for f in result.findings)
    # The fillfactor finding on shop_product rests on the F() increment in views.py.
    assert "app/views.py:9" in by_code["PGL104"].message.replace("\\", "/")
    assert "app/events.py:19" in by_code["PGL102"].message.replace("\\", "/")


def test_without_python_evidence_the_migration_is_quiet(tmp_path):
    root = _project(tmp_path)
    (root / "app" / "views.py").unlink()
    settings = parse_settings({"select": ["PGL104"]}).with_overrides(root=root)
    assert engine.lint([root], settings).findings == []


def test_a_model_deriving_from_an_imported_model_class_maps_to_a_table(tmp_path):
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "models.py").write_text(
        "from django.db.models import Model, TextField\n\n\n"
        "class Order(Model):\n    note = TextField()\n", encoding="utf-8")
    assert _model(tmp_path).orm_tables == {"Order": "shop_order"}


def test_models_and_writes_are_read_on_cpythons_tree_alone(tmp_path):
    """The ORM reader reads CPython's tree: a file with models or ORM writes and nothing for a
    libcst rule costs no libcst parse, and a file libcst refuses (a generated constant of 900
    terms is deeper than it renders) still maps its models."""
    from pglint.facts import file_facts

    root = _project(tmp_path)
    (root / "shop" / "generated.py").write_text(
        "from django.db import models\n\nWEIGHTS = " + " + ".join(["1"] * 900) + "\n\n\n"
        "class Weight(models.Model):\n    value = models.IntegerField()\n", encoding="utf-8")
    settings = parse_settings({}).with_overrides(root=root)
    candidates, _ = discover([root], settings)
    loaded = {c.rel.replace("\\", "/"): engine.load(c) for c in candidates}
    tables = {}
    for rel in ("shop/models.py", "shop/generated.py", "app/events.py"):
        assert not loaded[rel].python_file.fix_tree_parsed, rel  # no libcst parse
        tables.update(file_facts(loaded[rel]).orm_tables)
    assert tables == {"Product": "shop_product", "PageHit": "page_hits",
                      "Weight": "shop_weight", "Session": "user_sessions",
                      "audit": "audit_events"}
    writes = file_facts(loaded["app/views.py"]).writes
    assert [(w.table, w.op, w.location.line) for w in writes] == [
        ("orm:Product", "update", 9), ("orm:PageHit", "insert", 10),
        ("orm:Unknown", "update", 11), ("orm:Base", "update", 12)]


def _read(text: str, path: str = "shop/models.py"):
    """The ORM facts of one file, each location as the text it spans."""
    from pglint.python.orm import orm_facts
    from pglint.python.pyfile import PythonFile

    code = PythonFile.parse(text, path)
    assert code is not None
    return orm_facts(code, Path(path), lambda start, end: text[start:end], uses=True)


def test_names_are_plain_string_literals_read_where_they_are_written():
    facts = _read(
        "from django.db import models\nfrom sqlalchemy import Column, MetaData, Table\n\n\n"
        "class Joined(models.Model):\n  a = models.IntegerField()\n  b = models.IntegerField()\n"
        "  c = models.TextField(db_column=f'see')\n\n  class Meta:\n    db_table = 'jo' 'ined'\n"
        "\n\nclass Old:\n    __tablename__ = b'old'\n\n\nclass New:\n"
        "    __tablename__ = r'new'\n    x = Column('x' 'y')\n    y = Column(name='why')\n\n\n"
        "tagged = Table(name='tags', *columns)\n")
    # A concatenation, an f-string or bytes names nothing: Django's default name stands.
    assert facts.tables == {"Joined": "shop_joined", "New": "new", "tagged": "tags"}
    # Each use at the class's name or the field's name (two blanks of indentation here).
    assert [(u.table, u.column, u.location) for u in facts.uses] == [
        ("shop_joined", None, "Joined"), ("shop_joined", "a", "a"), ("shop_joined", "b", "b"),
        ("new", None, "New"), ("new", "why", "y")]


def test_writes_come_in_the_order_of_the_text():
    # `ast` walks a definition's decorators after its body, a conditional's test first.
    facts = _read(
        "@cached(Order.objects.create(a=1))\ndef view(pk):\n"
        "    Order.objects.filter(pk=pk).delete()\n"
        "    return Order.objects.filter(pk=1).update(n=1) if Order.objects.get_or_create(b=2) "
        "else None\n", "app/views.py")
    assert [(w.op, w.location) for w in facts.writes] == [
        ("insert", "Order.objects.create(a=1)"), ("delete", "Order.objects.filter(pk=pk).delete()"),
        ("update", "Order.objects.filter(pk=1).update(n=1)"),
        ("insert", "Order.objects.get_or_create(b=2)")]
    assert [w.literal_key for w in facts.writes if w.op != "insert"] == [False, True]
