"""When a re-run of an ORM insert finds the row it committed (pglint.kit.orm_inserts): an
earlier lookup of the model that the insert's branch tests, a helper's check with an early
return, and a later `except IntegrityError` in the same function; not the row's own
constructor, nor a lookup of another model."""

from __future__ import annotations

import ast

import pytest

from pglint.kit.orm_inserts import checked_first, drawn_in_attempt, handles_conflict
from pglint.python.pyfile import PythonFile


def _add(source: str) -> tuple[PythonFile, ast.Call]:
    code = PythonFile.parse(source)
    assert code is not None
    [call] = [c for c in code.nodes(ast.Call) if getattr(c.func, "attr", None) == "add"]
    return code, call


@pytest.mark.parametrize("source, expected", [
    ("def f(s, k):\n    row = s.query(M).filter_by(k=k).first()\n    if row is None:\n"
     "        s.add(M(k=k))\n", True),
    ("def f(k):\n    if not M.objects.filter(k=k).exists():\n        s.add(M(k=k))\n", True),
    ("class C:\n    def seen(self, k):\n        return self.s.get(M, k) is not None\n\n"
     "    def f(self, k):\n        if self.seen(k):\n            return\n"
     "        self.s.add(M(k=k))\n", True),
    # The row's own constructor is no lookup, nor is a lookup of another model.
    ("def f(s, k):\n    row = M(k=k)\n    if row.valid:\n        s.add(row)\n", False),
    ("def f(s, k):\n    other = s.query(N).filter_by(k=k).first()\n    if other is None:\n"
     "        s.add(M(k=k))\n", False),
    # A check after the insert does not guard it.
    ("def f(s, k):\n    s.add(M(k=k))\n    if s.query(M).get(k):\n        return\n", False),
])
def test_checked_first(source: str, expected: bool) -> None:
    code, call = _add(source)
    assert checked_first(code, call, "M") is expected


@pytest.mark.parametrize("source, expected", [
    ("def f(s, k):\n    try:\n        s.add(M(k=k))\n    except IntegrityError:\n"
     "        pass\n", True),
    ("def f(s, k):\n    s.add(M(k=k))\n    try:\n        s.flush()\n"
     "    except IntegrityError:\n        raise Conflict()\n", True),
    ("def f(s, k):\n    s.add(M(k=k))\n    try:\n        s.flush()\n"
     "    except ValueError:\n        pass\n", False),
    # A handler in another function does not handle this insert.
    ("def f(s, k):\n    s.add(M(k=k))\n\n\ndef g(s):\n    try:\n        s.flush()\n"
     "    except IntegrityError:\n        pass\n", False),
])
def test_handles_conflict(source: str, expected: bool) -> None:
    code, call = _add(source)
    assert handles_conflict(code, call) is expected


@pytest.mark.parametrize("source, expected", [
    # A sequence read through the insert's session, a row id from the attempt's own insert.
    ("def f(s):\n    k = s.scalar(q)\n    s.add(M(k=k))\n", True),
    ("def f(cur, s):\n    k = seq.get_next_id(s)\n    s.add(M(k=k))\n", True),
    ("def f(s):\n    p = P()\n    s.add(p)\n    s.flush()\n    s.add(M(k=p.id))\n", True),
    # The caller's value, or one computed without the database, is the same on a re-run.
    ("def f(s, k):\n    s.add(M(k=k))\n", False),
    ("def f(s, body):\n    k = make_key(body)\n    s.add(M(k=k))\n", False),
    ("def f(s, p):\n    s.add(M(k=p.id))\n", False),
])
def test_drawn_in_attempt(source: str, expected: bool) -> None:
    code = PythonFile.parse(source)
    assert code is not None
    call = [c for c in code.nodes(ast.Call) if getattr(c.func, "attr", None) == "add"][-1]
    [value] = [k.value for k in call.args[0].keywords]
    assert drawn_in_attempt(code, value, call) is expected
