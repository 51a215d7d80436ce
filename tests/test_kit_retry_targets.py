"""What a retry retries (pglint.kit.retry_targets): database work or something else."""

from __future__ import annotations

import ast

import pytest

from pglint.kit import retry_targets
from pglint.python.pyfile import PythonFile


def _code(source: str) -> PythonFile:
    return PythonFile.parse(source, "app/retry.py")


def _loop(code: PythonFile) -> ast.AST:
    return [n for n in (*code.nodes(ast.For), *code.nodes(ast.While))
            if any(isinstance(c, ast.Try) for c in ast.walk(n))][-1]


def _reaches(source: str) -> bool:
    code = _code(source)
    return retry_targets.reaches_database(code, _loop(code).body)


LOOP = "    for attempt in range(5):\n        try:\n            {call}\n        except E:\n            pass\n"


@pytest.mark.parametrize("imports,call,expected", [
    ("import psycopg\n", "return conn.execute('SELECT 1')", True),
    ("import psycopg\n", "return psycopg.connect(dsn)", True),
    ("from django.db import transaction\n", "return Job.objects.filter(id=1).update(x=2)", True),
    ("import psycopg\n", "return helper(conn)", True),  # through the file's own function
    ("", "return conn.execute('SELECT 1')", False),  # no PostgreSQL library in the file
    ("import psycopg\nimport requests\n", "return requests.get(url)", False),
    ("import psycopg\n", "return self.store.get_cluster()", False),
    ("", "return func()", True),  # a generic helper: returns what its caller's function does
    ("import psycopg\n", "client = func()", False),  # a parameter called, not the result
])
def test_reaches_database(imports, call, expected):
    source = (imports + "\n\ndef helper(conn):\n    return conn.execute('SELECT 1')\n\n\n"
              "def retried(self, conn, dsn, url, func):\n" + LOOP.format(call=call))
    assert _reaches(source) == expected


def test_a_retry_inside_an_endless_loop_is_a_daemons():
    code = _code("def run():\n    while True:\n        for attempt in range(3):\n"
                 "            try:\n                f()\n            except E:\n"
                 "                pass\n")
    assert retry_targets.in_daemon_loop(code, code.nodes(ast.For)[0])
    code = _code("def run():\n    for attempt in range(3):\n        try:\n            f()\n"
                 "        except E:\n            pass\n")
    assert not retry_targets.in_daemon_loop(code, code.nodes(ast.For)[0])


@pytest.mark.parametrize("stop,few", [
    ("stop_after_attempt(3)", True), ("stop_after_attempt(5)", False),
    ("stop_after_delay(10) | stop_after_attempt(2)", True), ("None", False),
])
def test_few_tenacity_attempts(stop, few):
    code = _code(f"from tenacity import *\n\nx = {stop}\n")
    value = code.nodes(ast.Assign)[0].value
    assert retry_targets.few_tenacity_attempts(code, value) == few


@pytest.mark.parametrize("caught,other", [
    ("redis.exceptions.LockError", True),
    ("(redis.exceptions.LockError, smtplib.SMTPException)", True),
    ("(redis.exceptions.LockError, psycopg.OperationalError)", False),
    ("Exception", False),  # a builtin may be a database error
    ("LocalError", False),  # the file's own class may wrap one
])
def test_other_errors_only(caught, other):
    code = _code("import psycopg\nimport redis\nimport smtplib\n\n"
                 f"try:\n    f()\nexcept {caught}:\n    pass\n")
    handler = code.nodes(ast.ExceptHandler)[0]
    assert retry_targets.other_errors_only(code, handler.type) == other
