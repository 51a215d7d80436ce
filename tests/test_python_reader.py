"""One tree per Python file: CPython's (`pglint.python.pyfile.PythonFile`), parsed at most once
for every rule and reader that wants the file; libcst only where a fix is built."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import Candidate, classify
from pglint.python import pyfile, tree
from pglint.registry import all_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def _package_sources(name: str) -> list[tuple[str, str]]:
    """The .py files of an installed package (the test extras install psycopg: a database
    driver's own code, full of connect and execute calls)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is a test dependency"
    folder = Path(next(iter(spec.submodule_search_locations)))
    return [(f"{name}/{p.relative_to(folder)}", p.read_text(encoding="utf-8"))
            for p in sorted(folder.rglob("*.py"))]


# Forms a screen once refused where its rule reports something, or a reader found something
# (found in review): small projects as (path, text) lists.
TRICKY = [
    # A locust user class reached through a module object, not an import (PGL401).
    [("load/scenarios.py",
      "import random\n\nimport pytest\n\nlocust = pytest.importorskip(\"locust\")\n\n\n"
      "class ShopUser(locust.HttpUser):\n    @locust.task\n    def view_product(self):\n"
      "        product_id = random.randint(1, 10000)\n"
      "        self.client.get(f\"/products/{product_id}\")\n")],
    # PGL101 through an aliased `update`.
    [
        ('app/models.py',
         'from sqlalchemy import Column, Integer, MetaData, Table, Text\n'
         'from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n'
         '\n'
         '\n'
         'class Base(DeclarativeBase):\n'
         '    pass\n'
         '\n'
         '\n'
         'class Account(Base):\n'
         '    __tablename__ = "accounts"\n'
         '    id: Mapped[int] = mapped_column(primary_key=True)\n'
         '    balance: Mapped[int] = mapped_column(default=0)\n'
         '\n'
         '\n'
         'metadata = MetaData()\n'
         'site_stats = Table("site_stats", metadata, Column("views", Integer),\n'
         '                   Column("name", Text))\n'),
        ('app/views.py',
         'from sqlalchemy import update as upd\n'
         '\n'
         'from app.models import site_stats\n'
         '\n'
         '\n'
         'def view(session):\n'
         '    session.execute(upd(site_stats).values(views=site_stats.c.views + 1))\n'),
    ],
    # a one-line `class Meta:` the reader does not read.
    [
        ('app/models.py',
         'from django.db import models\n'
         '\n'
         '\n'
         'class TimeStamped(models.Model):\n'
         '    created = models.DateTimeField(auto_now_add=True)\n'
         '\n'
         '    class Meta: abstract = True\n'),
    ],
    # `Table(name=...)`.
    [
        ('tables.py',
         'from sqlalchemy import Column, Integer, MetaData, Table\n'
         '\n'
         'metadata = MetaData()\n'
         '# was: orders = Table("orders", metadata, ...); columns are now added below\n'
         'orders = Table(name="orders", metadata=metadata)\n'
         'orders.append_column(Column("id", Integer, primary_key=True))\n'),
    ],
    # RunSQL's SQL after a `*args`.
    [
        ('app/migrations/0002_view.py',
         'from django.db import migrations\n'
         '\n'
         'FORWARD = "DROP INDEX IF EXISTS orders_note_idx"\n'
         'HINTS = ()\n'
         '\n'
         '\n'
         'class Migration(migrations.Migration):\n'
         '    dependencies = [("app", "0001_initial")]\n'
         '    operations = [\n'
         '        migrations.RunSQL(FORWARD, *HINTS, "ALTER TABLE orders ADD COLUMN note text"),\n'
         '    ]\n'),
    ],
]


def _projects() -> list[list[tuple[str, str]]]:
    """Small projects as (relative path, text) lists: every rule's Python examples with their
    context files, the fixture projects' .py files with their migrations, and psycopg."""
    projects = []
    for rule in all_rules():
        for example in (*rule.VALID, *rule.INVALID):
            if example.kind == "python":
                projects.append([*example.context.items(), ("app/example.py", example.sql)])
    for name in ("shop", "clean"):
        folder = FIXTURES / name
        projects.append([(str(p.relative_to(folder)), p.read_text(encoding="utf-8"))
                         for p in sorted(folder.rglob("*")) if p.suffix in (".py", ".sql")])
    projects.append(_package_sources("psycopg"))
    projects.extend(TRICKY)
    return projects


def _lint(project: list[tuple[str, str]]) -> list:
    """Every rule's findings (those off by default included) on one in-memory project."""
    settings = parse_settings({"select": [rule.code for rule in all_rules()]})
    files = []
    for rel, text in project:
        if rel.endswith(".py"):
            candidate = Candidate(Path(rel), rel, "python")
        else:
            kind, version, replay = classify(Path(rel), rel, settings)
            candidate = Candidate(Path(rel), rel, kind, version, replay)
        files.append(engine.load(candidate, text))
    files.sort(key=lambda f: (f.candidate.kind != "migration", f.candidate.version,
                              f.candidate.display))
    findings = engine.lint_loaded(files, settings)
    for loaded in files:
        engine.file_facts(loaded)  # the readers (ORM, migrations) read the same tree
    return findings


def test_each_file_is_parsed_once_and_libcst_only_for_a_fix(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    cpython: Counter[str] = Counter()
    libcst: Counter[str] = Counter()
    real_parse, real_tree = pyfile.PythonFile.parse.__func__, tree.PythonTree.parse.__func__

    def counted_parse(cls, text, path=""):
        cpython[text] += 1
        return real_parse(cls, text, path)

    def counted_tree(cls, text, screened=False):
        libcst[text] += 1
        return real_tree(cls, text, screened)

    monkeypatch.setattr(pyfile.PythonFile, "parse", classmethod(counted_parse))
    monkeypatch.setattr(tree.PythonTree, "parse", classmethod(counted_tree))
    found = fixed = 0
    for project in _projects():
        cpython.clear()
        libcst.clear()
        findings = _lint(project)
        texts = {text for rel, text in project if rel.endswith(".py")}
        # Every rule, the readers and the SQL finder share one CPython tree per file.
        assert all(count == 1 for count in cpython.values()), project[-1][0]
        assert set(cpython) <= texts
        # libcst parses a file at most once, and only one where some finding has a fix.
        assert all(count == 1 for count in libcst.values()), project[-1][0]
        with_fix = {text for rel, text in project
                    if any(f.fix is not None and f.path == rel for f in findings)}
        assert set(libcst) <= with_fix, project[-1][0]
        found += len(findings)
        fixed += len(libcst)
    assert found > 100  # the projects do exercise the rules
    assert fixed > 10  # ... and their fixes


def test_a_file_no_reader_wants_is_not_parsed() -> None:
    def load(text: str) -> engine.LoadedFile:
        return engine.load(Candidate(Path("app/util.py"), "app/util.py", "python"), text)

    assert load("def add(a, b):\n    return a + b\n").python_file is None
    # SQL strings are found on CPython's tree, with no libcst.
    select = load("def f(cur):\n    cur.execute('SELECT id FROM orders WHERE id = %s', (1,))\n")
    assert [s.kind for s in select.parsed.statements] == ["SelectStmt"]
    assert select.python_file is not None and not select.python_file.fix_tree_parsed
