"""The screens on CPython's tree (pglint.python.screen; Rule.screen_python) decide only whether
libcst parses a file: with and without them, pglint must find the same."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import Candidate, classify
from pglint.python import screen
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


def _lint(project: list[tuple[str, str]]) -> tuple[list[tuple], list[str], int]:
    """(findings, facts, files parsed with libcst) of one in-memory project."""
    # Every rule, those off by default included: screens must not change what any rule finds.
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
    facts = []
    for loaded in files:
        found = engine.file_facts(loaded)
        facts.append(repr((loaded.candidate.display, found.ops, found.writes, found.orm_tables,
                           found.revision)))
    found = sorted((f.path, f.start, f.end, f.code, f.message, repr(f.fix)) for f in findings)
    return found, facts, sum(f.python is not None for f in files)


def test_screens_change_what_is_parsed_not_what_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    projects = _projects()
    screened = [_lint(project) for project in projects]
    monkeypatch.setattr(engine.PythonScreen, "__call__", lambda self, code: bool(self))
    unscreened = [_lint(project) for project in projects]
    for project, ours, theirs in zip(projects, screened, unscreened):
        where = project[-1][0]
        assert ours[0] == theirs[0], f"findings differ with screens in {where}"
        assert ours[1] == theirs[1], f"facts differ with screens in {where}"
    findings = sum(len(s[0]) for s in screened)
    assert findings > 100  # the corpus does exercise the rules
    # ... and the screens do spare libcst some files (psycopg's driver code, at least).
    assert sum(s[2] for s in screened) < sum(u[2] for u in unscreened)


def test_every_python_rule_screens_the_files_its_examples_fire_in() -> None:
    """Each rule's screen passes its own INVALID Python examples (run through the engine, a
    refusing screen would already fail the examples' tests; this names the screen at fault)."""
    for rule in all_rules():
        if not rule.python_node_types:
            continue
        for example in rule.INVALID:
            if example.kind == "python":
                module = screen.parse(example.sql)
                assert module is not None
                assert rule().screen_python(screen.CodeIndex(module)), (rule.code, example.sql)


def test_code_index_resolves_names_through_imports_like_the_libcst_tree() -> None:
    source = ("import django.db.models as m\nfrom psycopg import connect as pg_connect\n"
              "import tenacity\n\nclass A(m.Model):\n    pass\n\npg_connect(dsn)\n"
              "tenacity.retry()\n")
    code = screen.CodeIndex(ast.parse(source))
    cls = code.nodes(ast.ClassDef)[0]
    assert code.qualified(cls.bases[0]) == "django.db.models.Model"
    assert [code.qualified(c.func) for c in code.nodes(ast.Call)] == [
        "psycopg.connect", "tenacity.retry"]
    assert [c.func.id for c in code.calls("pg_connect")] == ["pg_connect"]


def test_cpython_refusals_are_not_parsed_by_libcst() -> None:
    assert screen.parse("def f(:\n") is None
    assert screen.parse("x = " + "(" * 300 + ")" * 300 + "\n") is None  # too deeply nested
    assert screen.parse("\ufeffx = 1\n") is not None  # a byte-order mark is not code


def test_sql_strings_need_no_libcst_tree_unless_an_sql_rule_reads_it() -> None:
    def load(text: str) -> engine.LoadedFile:
        return engine.load(Candidate(Path("app/q.py"), "app/q.py", "python"), text)

    select = load("def f(cur):\n    cur.execute('SELECT id FROM orders WHERE id = %s', (1,))\n")
    assert [s.kind for s in select.parsed.statements] == ["SelectStmt"]
    assert select.python is None  # found on CPython's tree alone
    # PGL201 reads CPython's tree around an INSERT (a one-off script, a check-then-act's insert).
    insert = load("def f(cur):\n    cur.execute('INSERT INTO orders (id) VALUES (%s)', (1,))\n")
    assert [s.kind for s in insert.parsed.statements] == ["InsertStmt"]
    assert insert.python is None and insert.python_file is not None
    # PGL108 reads CPython's tree around a pg_try_advisory_lock() call.
    lock = load("def f(cur):\n    cur.execute('SELECT pg_try_advisory_lock(1)')\n")
    assert [s.kind for s in lock.parsed.statements] == ["SelectStmt"]
    assert lock.python is None and lock.python_file is not None
