"""The Python forms of check-then-act (PGL204) and of retried ORM inserts (PGL201) read
CPython's tree the way a reader of the code does: statements joined by `;` are one line, a
one-line body belongs to its `if`, an `elif` has only its own test, and calls are taken in the
text's order (CPython's fields are not always in it). Each case pins where the finding starts
and what kind of fix it gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pglint import engine
from pglint.config import parse_settings

_SCHEMA = ("CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,\n"
           "    name text);\n"
           "CREATE TABLE events (event_id text PRIMARY KEY, payload text);\n")
_DJANGO = ("from django.db import models\n\n\n"
           "class Customer(models.Model):\n"
           "    email = models.TextField(unique=True)\n"
           "    name = models.TextField(null=True)\n\n"
           "    class Meta:\n"
           "        db_table = \"customers\"\n")
_SQLALCHEMY = ("from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
               "class Base(DeclarativeBase):\n    pass\n\n\n"
               "class Customer(Base):\n"
               "    __tablename__ = \"customers\"\n"
               "    id: Mapped[int] = mapped_column(primary_key=True)\n"
               "    email: Mapped[str]\n"
               "    name: Mapped[str | None]\n\n\n"
               "class Event(Base):\n"
               "    __tablename__ = \"events\"\n"
               "    event_id: Mapped[str] = mapped_column(primary_key=True)\n"
               "    payload: Mapped[str]\n")
_CUSTOMER = "from app.models import Customer\n\n\n"
_EVENT = "from app.models import Customer, Event\n\n\n"


def _lint(tmp_path: Path, models: str, source: str) -> tuple[str, list]:
    for name, text in {"migrations/V1__schema.sql": _SCHEMA, "app/models.py": models,
                       "app/views.py": source}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    settings = parse_settings({"select": ["PGL201", "PGL204"]}).with_overrides(root=tmp_path)
    result = engine.lint([tmp_path], settings)
    assert not result.internal_errors
    return source, result.findings


def _retried(source: str) -> str:
    """The source with `f` under tenacity's `@retry`: PGL201 needs to see the insert re-run."""
    source = source.replace("async def f(", "@retry\nasync def f(") if "async def f(" in source \
        else source.replace("def f(", "@retry\ndef f(")
    return "from tenacity import retry\n" + source


def _where(source: str, findings: list) -> list[tuple[str, str, str]]:
    """(code, the first line of the finding's code, the fix's applicability) of each finding."""
    return [(f.code, source[f.start:f.end].split("\n")[0], f.fix.applicability.value)
            for f in findings]


@pytest.mark.parametrize("source, expected", [
    # An elif has only its own test before it.
    (_CUSTOMER + "def f(email, admin):\n    if admin:\n        return None\n"
     "    elif not Customer.objects.filter(email=email).exists():\n"
     "        Customer.objects.create(email=email)\n",
     [("PGL204", "elif not Customer.objects.filter(email=email).exists():", "unsafe")]),
    # An `if` alone in an else block reads the statements before it there.
    (_CUSTOMER + "def f(email, admin):\n    if admin:\n        return None\n    else:\n"
     "        if not Customer.objects.filter(email=email).exists():\n"
     "            Customer.objects.create(email=email)\n",
     [("PGL204", "if not Customer.objects.filter(email=email).exists():", "unsafe")]),
    # The create in the else of a found row.
    (_CUSTOMER + "def f(email):\n    found = Customer.objects.filter(email=email).first()\n"
     "    if found:\n        return found\n    else:\n"
     "        return Customer.objects.create(email=email)\n",
     [("PGL204", "found = Customer.objects.filter(email=email).first()", "display")]),
    # A lookup on a line with another statement: the finding starts with the line.
    (_CUSTOMER + "def f(email):\n    n = 0; found = Customer.objects.filter(email=email).first()\n"
     "    if found is None:\n        Customer.objects.create(email=email)\n",
     [("PGL204", "n = 0; found = Customer.objects.filter(email=email).first()", "display")]),
    (_CUSTOMER + "def f(email):\n    found = Customer.objects.filter(email=email).first(); "
     "found = None\n    if found is None:\n        Customer.objects.create(email=email)\n",
     [("PGL204", "found = Customer.objects.filter(email=email).first(); found = None",
       "display")]),
    (_CUSTOMER + "def f(email):\n    try:\n"
     "        n = 0; customer = Customer.objects.get(email=email)\n"
     "    except Customer.DoesNotExist:\n"
     "        customer = Customer.objects.create(email=email)\n    return customer\n",
     [("PGL204", "try:", "display")]),
    # 0 written as 0x0 is not the test of a missing row for PGL204; the create still follows
    # a lookup of the row, so a re-run finds it and PGL201 is silent too.
    (_CUSTOMER + "def f(email):\n"
     "    if Customer.objects.filter(email=email).count() == 0x0:\n"
     "        Customer.objects.create(email=email)\n",
     []),
    (_CUSTOMER + "def f(email):\n    if 0 == Customer.objects.filter(email=email).count():\n"
     "        Customer.objects.create(email=email)\n",
     [("PGL204", "if 0 == Customer.objects.filter(email=email).count():", "unsafe")]),
    (_CUSTOMER + "def f(email):\n    if not Customer.objects.filter(email=email).exists(): "
     "Customer.objects.create(email=email)\n",
     [("PGL204", "if not Customer.objects.filter(email=email).exists(): "
       "Customer.objects.create(email=email)", "display")]),
    # A create in a function or lambda defined in the branch runs later: not the act.
    (_CUSTOMER + "def f(email):\n    if not Customer.objects.filter(email=email).exists():\n"
     "        def later():\n            Customer.objects.create(email=email)\n"
     "        return later\n",
     [("PGL201", "Customer.objects.create(email=email)", "unsafe")]),
    (_CUSTOMER + "def f(email):\n    if not Customer.objects.filter(email=email).exists():\n"
     "        run(lambda: Customer.objects.create(email=email))\n",
     [("PGL201", "Customer.objects.create(email=email)", "unsafe")]),
    # The first insert in the text's order decides: get_or_create() settles the race (CPython
    # reads `a if b else c` test first); the create behind the lookup is no retried insert.
    (_CUSTOMER + "def f(email, a):\n    if not Customer.objects.filter(email=email).exists():\n"
     "        x = Customer.objects.get_or_create(email=email) if a else "
     "Customer.objects.create(email=email)\n",
     []),
    # A keyword before `*args`: the arguments in the order written.
    (_CUSTOMER + "def f(email, rest):\n    if not Customer.objects.filter(email=email).exists():\n"
     "        Customer.objects.create(email=email, *rest)\n",
     [("PGL204", "if not Customer.objects.filter(email=email).exists():", "display")]),
    ("def f(cur, email):\n"
     "    x = 1; cur.execute(\"SELECT id FROM customers WHERE email = %s\", (email,))\n"
     "    if cur.fetchone() is None:\n"
     "        cur.execute(\"INSERT INTO customers (email) VALUES (%s)\", (email,))\n",
     [("PGL204", "x = 1; cur.execute(\"SELECT id FROM customers WHERE email = %s\", (email,))",
       "display")]),
])
def test_django_and_raw_sql_checks_read_as_written(tmp_path: Path, source: str,
                                                   expected: list) -> None:
    assert _where(*_lint(tmp_path, _DJANGO, _retried(source))) == expected


@pytest.mark.parametrize("source, expected", [
    # The row assigned on a line of its own before the add() ...
    (_EVENT + "def f(session, event_id):\n    obj = Event(event_id=event_id, payload='x')\n"
     "    session.add(obj)\n",
     [("PGL201", "session.add(obj)", "unsafe")]),
    (_EVENT + "def f(session, event_id, flag):\n    if flag:\n        pass\n    else:\n"
     "        obj = Event(event_id=event_id, payload='x')\n        session.add(obj)\n",
     [("PGL201", "session.add(obj)", "unsafe")]),
    # ... not on the add()'s own line, nor in a one-line body.
    (_EVENT + "def f(session, event_id):\n"
     "    obj = Event(event_id=event_id, payload='x'); session.add(obj)\n", []),
    (_EVENT + "def f(session, event_id, flag):\n"
     "    if flag: obj = Event(event_id=event_id, payload='x'); session.add(obj)\n", []),
    # A duplicate key handled where the add() runs, or a key made up on each attempt.
    (_EVENT + "def f(session, event_id):\n    try:\n"
     "        session.add(Event(event_id=event_id, payload='x'))\n"
     "    except (ValueError, IntegrityError):\n        pass\n", []),
    (_EVENT + "import uuid\n\n\ndef f(session):\n    key = uuid.uuid4()\n"
     "    session.add(Event(event_id=key, payload='x'))\n"
     "    session.add(Event(event_id=None, payload='x'))\n", []),
    # In a coroutine, the rewrite is shown only.
    (_EVENT + "async def f(session, event_id):\n"
     "    session.add(Event(event_id=event_id, payload='x'))\n",
     [("PGL201", "session.add(Event(event_id=event_id, payload='x'))", "display")]),
])
def test_sqlalchemy_inserts_read_as_written(tmp_path: Path, source: str, expected: list) -> None:
    assert _where(*_lint(tmp_path, _SQLALCHEMY, _retried(source))) == expected


def test_suggestions_quote_code_without_the_indentation_around_it(tmp_path: Path) -> None:
    # Continuation lines lose the block's indentation; a string's own lines are kept.
    source, [finding] = _lint(tmp_path, _DJANGO, (
        "def f(cur, email, name):\n"
        "    cur.execute(\"SELECT id FROM customers WHERE email = %s\", (email,))\n"
        "    if cur.fetchone() is None:\n"
        "        cur.execute(\n            \"\"\"\n"
        "            INSERT INTO customers (email, name)\n            VALUES (%s, %s)\n"
        "            \"\"\",\n            (email, name),\n        )\n"))
    assert finding.fix.suggestion.split("\n")[1:8] == [
        "cur.execute(", "    \"\"\"", "            INSERT INTO customers (email, name)",
        "            VALUES (%s, %s) ON CONFLICT (email) DO NOTHING", "            \"\"\",",
        "    (email, name),", ")"]
    source, [finding] = _lint(tmp_path, _SQLALCHEMY, (
        _CUSTOMER + "def f(session, email, name):\n"
        "    customer = session.query(Customer).filter_by(email=email).first()\n"
        "    if customer is None:\n"
        "        session.add(\n            Customer(\n                email=email,\n"
        "                name=name,\n            )\n        )\n"))
    assert "    .values(email=email,\n        name=name,)\n" in finding.fix.suggestion
