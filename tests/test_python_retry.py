"""The shared retry reading of PGL207/PGL208/PGL209 (pglint.kit.retries), and the promise that
their Python fixes introduce nothing ruff flags."""

from __future__ import annotations

import ast
import json
import subprocess
from collections import Counter

import pytest

from pglint.finding import Edit
from pglint.kit import retries, retry_libraries, retry_loops
from pglint.kit.python_edits import add_keyword, remove_argument, rename_call
from pglint.python.pyfile import PythonFile
from pglint.python.tree import PythonTree
from pglint.registry import all_rules


def _tree(source: str) -> PythonTree:
    tree = PythonTree.parse(source)
    assert tree is not None
    return tree


def _code(source: str) -> PythonFile:
    code = PythonFile.parse(source)
    assert code is not None
    return code


def _loop_nodes(code: PythonFile) -> list[ast.AST]:
    return [n for n in code.descendants(code.module) if isinstance(n, retries.LOOPS)]


def _loops(source: str) -> list[retry_loops.RetryLoop | None]:
    code = _code(source)
    return [retry_loops.retry_loop(code, loop) for loop in _loop_nodes(code)]


def _apply(text: str, *edits: Edit) -> str:
    for edit in sorted(edits, reverse=True):
        text = text[:edit.start] + edit.content + text[edit.end:]
    return text


# -- hand-written retry loops ----------------------------------------------------------------

RANGE_LOOP = """\
import time

def run(conn):
    for attempt in range(5):
        try:
            return conn.execute("SELECT 1")
        except OSError:
            time.sleep(2 ** attempt)
"""


def test_for_range_retry_loop():
    (found,) = _loops(RANGE_LOOP)
    assert found is not None and not found.forever
    assert found.counter.id == "attempt"
    assert len(found.sleeps) == 1 and len(found.handlers) == 1


def test_async_while_true_with_sleep_imported_by_name():
    source = ("from asyncio import sleep as pause\n\n"
              "async def run(pool):\n"
              "    while True:\n"
              "        try:\n"
              "            rows = await pool.fetch('SELECT 1')\n"
              "            break\n"
              "        except ConnectionError:\n"
              "            await pause(1)\n"
              "    return rows\n")
    (found,) = _loops(source)
    assert found is not None and found.forever and found.counter is None


@pytest.mark.parametrize("header", [
    "for delay in (0.1, 0.5, 2):",
    "for attempt in itertools.count():",
    "while not done:",
])
def test_other_retry_loop_headers(header):
    source = ("import itertools\nimport time\n\ndef run(f):\n"
              "    done = False\n"
              f"    {header}\n"
              "        try:\n"
              "            f()\n"
              "            done = True\n"
              "            break\n"
              "        except OSError:\n"
              "            time.sleep(1)\n")
    (found,) = _loops(source)
    assert found is not None
    assert found.forever == header.startswith("for attempt in itertools")


@pytest.mark.parametrize("source", [
    # A worker loop: it never leaves on success.
    "import time\nwhile True:\n    try:\n        work()\n    except Exception:\n"
    "        time.sleep(5)\n",
    # No sleep: not a backoff.
    "for attempt in range(3):\n    try:\n        return_value = f()\n        break\n"
    "    except OSError:\n        pass\n",
    # The handler always raises: nothing is retried.
    "import time\nfor attempt in range(3):\n    try:\n        f()\n        break\n"
    "    except OSError:\n        time.sleep(1)\n        raise\n",
    # Fail-over over hosts, not a retry of the same thing.
    "import time\nfor host in hosts:\n    try:\n        connect(host)\n        break\n"
    "    except OSError:\n        time.sleep(1)\n",
    # A read loop: it leaves only when a condition holds.
    "import socket\nimport time\nwhile True:\n    try:\n        data = sock.recv(1024)\n"
    "    except socket.timeout:\n        time.sleep(0.1)\n        continue\n"
    "    if not data:\n        break\n    handle(data)\n",
    # A sleep that is not time's or asyncio's.
    "for attempt in range(3):\n    try:\n        f()\n        break\n"
    "    except OSError:\n        clock.sleep(1)\n",
])
def test_not_retry_loops(source):
    assert _loops(source) == [None]


def test_nested_loops_each_own_their_sleep():
    source = ("import time\n\ndef worker(queue):\n"
              "    while True:\n"
              "        job = queue.get()\n"
              "        for attempt in range(3):\n"
              "            try:\n"
              "                job.run()\n"
              "                break\n"
              "            except OSError:\n"
              "                time.sleep(1)\n")
    outer, inner = _loops(source)
    assert outer is None  # its body has no try of its own
    assert inner is not None


# -- what feeds a sleep ----------------------------------------------------------------------

def _facts(source: str) -> retry_loops.Delay:
    code = _code(source)
    found = next(f for f in (retry_loops.retry_loop(code, n) for n in _loop_nodes(code)) if f)
    return retry_loops.delay_facts(code, found.sleeps[0], found)


def _loop_with(prelude: str, sleep: str, imports: str = "import time\n") -> str:
    return (imports + prelude + "\ndef run(f, base=0.1):\n"
            "    for attempt in range(5):\n"
            "        try:\n"
            "            return f()\n"
            "        except OSError:\n"
            f"            {sleep}\n")


@pytest.mark.parametrize("imports,prelude,sleep", [
    ("import time\nimport random\n", "", "time.sleep(random.uniform(0, base * 2 ** attempt))"),
    ("import time\nfrom random import uniform as u\n", "", "time.sleep(u(0, 1))"),
    ("import time\nimport secrets\n", "", "time.sleep(secrets.SystemRandom().uniform(0, 1))"),
    ("import time\nimport numpy as np\n", "", "time.sleep(np.random.uniform(0, 1))"),
    ("import time\nimport random\n", "RNG = random.Random()\n", "time.sleep(RNG.random())"),
    ("import time\nimport random\n",
     "def jittered(n):\n    return random.random() * 2 ** n\n", "time.sleep(jittered(attempt))"),
])
def test_jitter_is_seen_through_names_and_helpers(imports, prelude, sleep):
    facts = _facts(_loop_with(prelude, sleep, imports))
    assert facts.jitter


def test_deterministic_delay_through_variables():
    source = ("import time\n\ndef run(f, base=0.1):\n"
              "    for attempt in range(5):\n"
              "        try:\n"
              "            return f()\n"
              "        except OSError:\n"
              "            delay = base * 2 ** attempt\n"
              "            pause = delay + 0.5\n"
              "            time.sleep(pause)\n")
    facts = _facts(source)
    assert not facts.jitter and not facts.unknown
    assert [type(g).__name__ for g in facts.growth] == ["BinOp"]
    assert not facts.capped


def test_unknown_delay_is_not_judged():
    facts = _facts(_loop_with("", "time.sleep(self.policy.next_delay(attempt))"))
    assert facts.unknown and not facts.jitter


@pytest.mark.parametrize("sleep,capped", [
    ("time.sleep(min(30, 2 ** attempt))", True),
    ("time.sleep(2 ** attempt)", False),
    ("time.sleep(1 << attempt)", False),
    ("time.sleep(pow(2, attempt))", False),
])
def test_growth_and_cap(sleep, capped):
    facts = _facts(_loop_with("", sleep))
    assert facts.growth
    assert facts.capped == capped


def test_doubling_variable_and_clamp():
    grows = ("import time\n\ndef run(f):\n    delay = 0.1\n    while True:\n"
             "        try:\n            return f()\n        except OSError:\n"
             "            time.sleep(delay)\n            delay *= 2\n")
    facts = _facts(grows)
    assert [type(g).__name__ for g in facts.growth] == ["AugAssign"] and not facts.capped
    clamped = grows + "            if delay > 30:\n                delay = 30\n"
    assert _facts(clamped).capped


def test_growth_in_seconds_only_when_not_rescaled():
    code = _code(_loop_with("", "time.sleep(base * 2 ** attempt + 0.5)"))
    found = next(f for f in map(lambda n: retry_loops.retry_loop(code, n), code.nodes(ast.For))
                 if f)
    facts = retry_loops.delay_facts(code, found.sleeps[0], found)
    product = retry_loops.growth_in_seconds(code, facts, facts.growth[0])
    assert code.code(product) == "base * 2 ** attempt"
    scaled = ("import time\n\ndef run(f):\n    for attempt in range(5):\n"
              "        try:\n            return f()\n        except OSError:\n"
              "            delay_ms = 100 * 2 ** attempt\n"
              "            time.sleep(delay_ms / 1000)\n")
    code = _code(scaled)
    found = retry_loops.retry_loop(code, code.nodes(ast.For)[0])
    facts = retry_loops.delay_facts(code, found.sleeps[0], found)
    assert retry_loops.growth_in_seconds(code, facts, facts.growth[0]) is None


# -- bounds of forever loops -----------------------------------------------------------------

def _forever(check: str, before: str = "") -> str:
    return ("import time\n\ndef run(f, timeout=10):\n"
            f"{before}"
            "    while True:\n"
            "        try:\n"
            "            return f()\n"
            "        except OSError:\n"
            f"{check}"
            "            time.sleep(1)\n")


@pytest.mark.parametrize("check,before,bounded", [
    ("            attempts += 1\n            if attempts > 5:\n                raise\n",
     "    attempts = 0\n", True),
    ("            if time.monotonic() > deadline:\n                raise\n",
     "    deadline = time.monotonic() + timeout\n", True),
    ("            elapsed = time.monotonic() - start\n"
     "            if elapsed >= timeout:\n                raise TimeoutError\n",
     "    start = time.monotonic()\n", True),
    ("            self.failures += 1\n            assert self.failures < 5\n", "", True),
    # Logging a counter is no bound; neither is a giveup on the error's kind.
    ("            attempts += 1\n            print(attempts)\n", "    attempts = 0\n", False),
    ("            if not is_transient():\n                raise\n", "", False),
])
def test_bound_check(check, before, bounded):
    code = _code(_forever(check, before))
    found = retry_loops.retry_loop(code, code.nodes(ast.While)[0])
    assert found is not None and found.forever
    assert (retry_loops.bound_check(code, found) is not None) == bounded


# -- tenacity and backoff, however imported --------------------------------------------------

def _tenacity_uses(code: PythonFile) -> list[retry_libraries.Tenacity]:
    nodes = [*code.nodes(ast.Name), *code.nodes(ast.Attribute), *code.nodes(ast.Call)]
    return [u for u in (retry_libraries.tenacity_use(code, n) for n in nodes) if u is not None]


@pytest.mark.parametrize("source,entry,bare", [
    ("import tenacity\n\n@tenacity.retry\ndef f(): ...\n", "retry", True),
    ("from tenacity import retry\n\n@retry\ndef f(): ...\n", "retry", True),
    ("from tenacity import retry as tretry\n\n@tretry(stop=None)\ndef f(): ...\n", "retry",
     False),
    ("import tenacity as tn\n\nfor a in tn.Retrying(): pass\n", "Retrying", False),
    ("from tenacity import AsyncRetrying\n\nasync def f():\n"
     "    async for a in AsyncRetrying(): pass\n", "AsyncRetrying", False),
])
def test_tenacity_entries(source, entry, bare):
    uses = _tenacity_uses(_code(source))
    assert len(uses) == 1
    assert uses[0].entry == entry and (uses[0].call is None) == bare


@pytest.mark.parametrize("source", [
    "from retrying import retry\n\n@retry\ndef f(): ...\n",  # another library
    "def retry(f): return f\n\n@retry\ndef f(): ...\n",  # a local decorator
])
def test_not_tenacity(source):
    assert _tenacity_uses(_code(source)) == []


@pytest.mark.parametrize("wait,fixed,random_waits,unknown", [
    ("wait_exponential(max=10)", 1, 0, False),
    ("wait_exponential(max=10) + wait_random(0, 1)", 1, 1, False),
    ("wait_chain(wait_fixed(1), wait_fixed(5))", 2, 0, False),
    ("wait_random_exponential(max=10)", 0, 1, False),
    ("wait_fixed(1) + my_jitter()", 1, 0, True),
    ("WAIT", 1, 0, False),  # a module constant
])
def test_tenacity_waits(wait, fixed, random_waits, unknown):
    source = ("import tenacity\nfrom tenacity import (wait_chain, wait_exponential, wait_fixed,\n"
              "    wait_random, wait_random_exponential)\n"
              "WAIT = wait_fixed(2)\n"
              f"r = tenacity.Retrying(wait={wait})\n")
    code = _code(source)
    (use,) = _tenacity_uses(code)
    found = retry_libraries.waits(code, use.argument("wait"))
    assert (len(found[0]), len(found[1]), found[2]) == (fixed, random_waits, unknown)


@pytest.mark.parametrize("source,entry,exception", [
    ("import backoff\n\n@backoff.on_exception(backoff.expo, OSError)\ndef f(): ...\n",
     "on_exception", "OSError"),
    ("from backoff import on_exception, expo\n\n@on_exception(expo, exception=OSError)\n"
     "def f(): ...\n", "on_exception", "OSError"),
    ("import backoff as bo\n\n@bo.on_predicate(bo.constant, interval=1)\ndef f(): ...\n",
     "on_predicate", None),
])
def test_backoff_entries(source, entry, exception):
    code = _code(source)
    use = next(u for u in map(lambda n: retry_libraries.backoff_use(code, n),
                              code.nodes(ast.Call)) if u)
    assert use.entry == entry
    shown = code.code(use.exception) if use.exception is not None else None
    assert shown == exception


@pytest.mark.parametrize("imports,caught,broad", [
    ("", "Exception", True),
    ("import psycopg", "psycopg.Error", True),
    ("from psycopg2 import DatabaseError", "DatabaseError", True),
    ("from sqlalchemy import exc", "exc.SQLAlchemyError", True),
    ("from django.db import Error", "Error", True),
    ("import asyncpg", "asyncpg.PostgresError", True),
    ("import psycopg", "psycopg.OperationalError", False),
    ("from psycopg import errors", "errors.SerializationFailure", False),
    ("from django.db import IntegrityError", "IntegrityError", False),
    ("", "Error", False),  # some other library's Error
    ("import sqlite3", "sqlite3.DatabaseError", False),  # another database
])
def test_broad_classes(imports, caught, broad):
    code = _code(f"{imports}\ntry:\n    f()\nexcept {caught}:\n    pass\n")
    handler = code.nodes(ast.ExceptHandler)[0]
    assert (retry_libraries.broad_class(code, handler.type) is not None) == broad


# -- edits -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call,expected", [
    ("f()", "f(stop=s)"),
    ("f(a)", "f(a, stop=s)"),
    ("f(a, b=1,)", "f(a, b=1, stop=s,)"),
    ("f(\n        a,\n        b=1,\n    )", "f(\n        a,\n        b=1,\n        stop=s,\n    )"),
    ("f(\n        a,  # the first\n        b=1,\n    )",
     "f(\n        a,  # the first\n        b=1,\n        stop=s,\n    )"),
])
def test_add_keyword_keeps_the_layout(call, expected):
    source = f"def g():\n    x = {call}\n"
    tree = _tree(source)
    edit = add_keyword(tree, tree.nodes("Call")[0], "stop=s")
    assert _apply(source, edit) == f"def g():\n    x = {expected}\n"


def test_add_keyword_keeps_crlf_line_endings():
    # PGL305's `skip_locked=True` goes through it too.
    source = "f(\r\n    a,\r\n    b,\r\n)\r\n"
    tree = _tree(source)
    edit = add_keyword(tree, tree.nodes("Call")[0], "k=True")
    assert _apply(source, edit) == "f(\r\n    a,\r\n    b,\r\n    k=True,\r\n)\r\n"


@pytest.mark.parametrize("call,expected", [
    ("f(a, jitter=None)", "f(a)"),
    ("f(jitter=None, a=1)", "f(a=1)"),
    ("f(jitter=None)", "f()"),
    ("f(\n        a,\n        jitter=None,\n    )", "f(\n        a,\n    )"),
    ("f(\n        a,\n        jitter=None,\n        b=2,\n    )",
     "f(\n        a,\n        b=2,\n    )"),
])
def test_remove_argument(call, expected):
    source = f"def g():\n    x = {call}\n"
    tree = _tree(source)
    node = tree.nodes("Call")[0]
    arg = next(a for a in node.args if a.keyword is not None and a.keyword.value == "jitter")
    assert _apply(source, remove_argument(tree, node, arg)) == \
        f"def g():\n    x = {expected}\n"


@pytest.mark.parametrize("source,expected", [
    # Used once: the import is renamed (alias dropped), no unused import left behind.
    ("from tenacity import retry, wait_exponential as we\nr = retry(wait=we(max=1))\n",
     "from tenacity import retry, wait_random_exponential\n"
     "r = retry(wait=wait_random_exponential(max=1))\n"),
    # Used twice: the new name is imported, the old one stays in use.
    ("from tenacity import wait_exponential\na = wait_exponential()\nb = wait_exponential()\n",
     "from tenacity import wait_exponential, wait_random_exponential\n"
     "a = wait_random_exponential()\nb = wait_exponential()\n"),
    # The last use, the new name imported already: the old name leaves the import.
    ("from tenacity import wait_exponential, wait_random_exponential\n"
     "a = wait_exponential()\nb = wait_random_exponential()\n",
     "from tenacity import wait_random_exponential\n"
     "a = wait_random_exponential()\nb = wait_random_exponential()\n"),
    ("from tenacity import wait_random_exponential\nfrom tenacity import wait_exponential\n"
     "a = wait_exponential()\n",
     "from tenacity import wait_random_exponential\na = wait_random_exponential()\n"),
    # Through the module.
    ("import tenacity as t\na = t.wait_exponential(max=3)\n",
     "import tenacity as t\na = t.wait_random_exponential(max=3)\n"),
])
def test_rename_call(source, expected):
    tree = _tree(source)
    call = next(c for c in tree.nodes("Call")
                if tree.call_name(c) == "tenacity.wait_exponential")
    edits = rename_call(tree, call, "tenacity", "wait_exponential",
                                "wait_random_exponential")
    assert _apply(source, *edits) == expected


# -- fixed examples introduce nothing ruff flags ---------------------------------------------

RUFF_SELECT = "E,F,W,B,S,UP,I"


def _ruff_codes(tmp_path, name: str, text: str) -> Counter:
    import ruff.__main__ as ruff  # a test dependency: its absence is an error, not a skip

    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [ruff.find_ruff_bin(), "check", "--isolated", "--select", RUFF_SELECT,
         "--target-version", "py310", "--output-format", "json", "--exit-zero", str(path)],
        capture_output=True, text=True, check=True)
    return Counter(item["code"] for item in json.loads(result.stdout))


# Every rule's fixed Python examples, not only the retry rules'.
FIXED_EXAMPLES = [
    pytest.param(rule.code, i, example, id=f"{rule.code}-{i}")
    for rule in all_rules()
    for i, example in enumerate(rule.INVALID)
    if example.kind == "python" and example.fixed is not None
]


def test_there_are_fixed_python_examples():
    assert {"PGL201", "PGL204", "PGL206", "PGL207", "PGL208", "PGL304", "PGL305", "PGL306",
            "PGL401"} <= {p.values[0] for p in FIXED_EXAMPLES}


@pytest.mark.parametrize("code,index,example", FIXED_EXAMPLES)
def test_python_fix_adds_no_ruff_finding(code, index, example, tmp_path):
    before = _ruff_codes(tmp_path, "before.py", example.sql)
    after = _ruff_codes(tmp_path, "after.py", example.fixed)
    assert after - before == Counter(), f"{code} fix introduces {after - before}"


@pytest.mark.parametrize("body,filtered", [
    ("    if exc.sqlstate not in TRANSIENT:\n        raise\n", True),
    ("    if not isinstance(exc, OperationalError):\n        raise\n", True),
    ("    code = exc.sqlstate\n    transient = code in TRANSIENT\n"
     "    if not transient:\n        raise\n", True),
    ("    if attempt == 4:\n        raise\n", False),  # a bound, not a filter
    ("    log(exc)\n", False),
])
def test_handler_filters_errors(body, filtered):
    code = _code(f"try:\n    f()\nexcept Exception as exc:\n{body}")
    handler = code.nodes(ast.ExceptHandler)[0]
    assert retry_libraries.filters_errors(code, handler) == filtered


# -- CPython's tree read as libcst's was ----------------------------------------------------

@pytest.mark.parametrize("source,expression", [
    ("try:\n    f()\nexcept (A, B):\n    pass\n", "(A, B)"),  # a parenthesized tuple
    ("x = (A), (B)\n", "(A), (B)"),  # a tuple of parenthesized items
    ("x = ((A, B))\n", "((A, B))"),
    ("x = A, B\n", "A, B"),
    ("x = ((A), B)\n", "((A), B)"),
    ("x = ()\n", "()"),
    # The blanks and comments inside the parentheses are theirs, a trailing comma the tuple's.
    ("try:\n    f()\nexcept (  # transient\n    A,\n    B,\n):\n    pass\n",
     "(  # transient\n    A,\n    B,\n)"),
])
def test_tuple_spans_leave_out_their_own_parentheses_as_libcst_does(source, expression):
    code, tree = _code(source), _tree(source)
    (node,) = code.nodes(ast.Tuple)
    (cst_node,) = tree.nodes("Tuple")
    assert code.span(node) == tree.span(cst_node)
    assert retries.written(code, node) == tree.code(cst_node) == expression


@pytest.mark.parametrize("source,kind,cst_kind", [
    ("d = (2 ** n) * 0.1\n", ast.BinOp, "BinaryOperation"),  # the power keeps its parentheses
    ("time.sleep((delay))\n", ast.Name, "Name"),  # the call's own parentheses are not its
    ("time.sleep( delay )\n", ast.Name, "Name"),
    ("if (ready):\n    pass\n", ast.Name, "Name"),
])
def test_quoted_code_keeps_the_nodes_own_parentheses(source, kind, cst_kind):
    code, tree = _code(source), _tree(source)
    node = next(n for n in code.nodes(kind) if not isinstance(n, ast.BinOp)
                or isinstance(n.op, ast.Pow))
    cst_node = next(n for n in tree.nodes(cst_kind)
                    if tree.span(n) == code.span(node))
    assert retries.written(code, node) == tree.code(cst_node)


def test_retries_are_reported_where_libcst_cannot_read_the_file(tmp_path):
    # libcst's positions recurse past Python's limit on 150 nested brackets: the retries are
    # found on CPython's tree all the same, without a fix (a fix needs libcst's tree).
    from pglint import engine
    from pglint.config import parse_settings

    body = ("import backoff\nimport psycopg\nimport tenacity\n\n\n"
            "@backoff.on_exception(backoff.expo, OSError, max_tries=5, jitter=None)\n"
            "def a(conn): conn.execute('SELECT 1')\n\n\n"
            "@tenacity.retry(wait=tenacity.wait_random(0, 1))\n"
            "def b(conn): conn.execute('SELECT 2')\n")
    sources = {"deep.py": body + "x = " + "[" * 150 + "]" * 150 + "\n",
               "fine.py": body}
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    result = engine.lint([tmp_path], parse_settings({"extend-select": ["PGL207", "PGL208"]})
                         .with_overrides(root=tmp_path))
    assert not result.internal_errors
    assert sorted((f.path.rsplit("/", 1)[-1], f.code, f.fix is not None)
                  for f in result.findings if f.code in ("PGL207", "PGL208")) == [
        ("deep.py", "PGL207", False), ("deep.py", "PGL208", False),
        ("fine.py", "PGL207", True), ("fine.py", "PGL208", True)]
