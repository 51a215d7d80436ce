"""The Python forms of PGL107, PGL108, PGL302, PGL304 and PGL401 read CPython's tree: they
judge files that libcst cannot parse, and a try-lock in a Python SQL string costs no libcst
parse. libcst is only parsed to build a fix."""

from __future__ import annotations

import ast
from pathlib import Path

from pglint import engine
from pglint.config import parse_settings
from pglint.discover import Candidate
from pglint.kit.connections import string_tokens
from pglint.loading import load
from pglint.python.pyfile import PythonFile
from pglint.python.tree import PythonTree
from pglint.roles import RoleDecision

# Nested brackets CPython reads but libcst does not (pglint.python.tree.MAX_DEPTH): generated
# code, a lookup table, in a file that also opens connections.
DEEP = "TABLE = " + "[" * 150 + "]" * 150 + "\n"

CODES = ("PGL107", "PGL108", "PGL302", "PGL304", "PGL401")


def _lint(root: Path, files: dict[str, str]) -> list:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    settings = parse_settings({"select": list(CODES)}).with_overrides(root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors, result.internal_errors
    return sorted(result.findings, key=lambda f: (f.path, f.code))


def test_the_deep_text_is_one_libcst_refuses() -> None:
    assert PythonFile.parse(DEEP) is not None
    assert PythonTree.parse(DEEP) is None


def test_rules_judge_a_file_libcst_cannot_parse(tmp_path: Path) -> None:
    app = (DEEP + "import psycopg\nfrom sqlalchemy import func\n\n"
           "conn = psycopg.connect(\"postgresql://app@db/shop\", options=\"-c lock_timeout=0\")\n\n\n"
           "def take(session, key):\n"
           "    with session.begin():\n"
           "        session.execute(func.pg_advisory_lock(key))\n")
    load_test = (DEEP + "import random\n\nfrom locust import HttpUser, task\n\n\n"
                 "class Shopper(HttpUser):\n"
                 "    @task\n"
                 "    def view_product(self):\n"
                 "        self.client.get(f\"/products/{random.randint(1, 100000)}\")\n")
    found = _lint(tmp_path, {"app/db.py": app, "load/locustfile.py": load_test})
    assert [("/".join(Path(f.path).parts[-2:]), f.code) for f in found] == [
        ("app/db.py", "PGL107"), ("app/db.py", "PGL302"), ("app/db.py", "PGL304"),
        ("load/locustfile.py", "PGL401")]
    by_code = {f.code: f for f in found}
    # The rename of PGL107 is a text edit; the others' edits need libcst's tree: none then.
    assert by_code["PGL107"].fix is not None and by_code["PGL107"].fix.applicable
    assert by_code["PGL107"].fix.edits[0].content == "pg_advisory_xact_lock"
    assert by_code["PGL304"].fix is None
    assert "no connect or statement timeout" in by_code["PGL304"].message
    assert not by_code["PGL401"].fix.applicable  # shown: the helper to add, by hand


def test_a_try_lock_in_python_sql_is_judged_without_libcst(tmp_path: Path) -> None:
    text = ("def take(cur, key):\n"
            "    cur.execute(\"SELECT pg_try_advisory_xact_lock(%s)\", (key,))\n"
            "    cur.execute(\"UPDATE inventory SET stock = stock - 1 WHERE id = %s\", (key,))\n")
    path = tmp_path / "app" / "stock.py"
    path.parent.mkdir()
    path.write_text(text)
    loaded = load(Candidate(path, "app/stock.py", "python",
                            role=RoleDecision("application", "test"), rel="app/stock.py"))
    assert loaded.python_file is not None and not loaded.python_file.fix_tree_parsed
    [finding] = _lint(tmp_path, {})
    assert finding.code == "PGL108" and "UPDATE inventory" in finding.message
    # The result read on the next line: no finding.
    path.write_text(text.replace("(key,))\n    cur.execute(\"UPDATE",
                                 "(key,))\n    cur.fetchone()\n    cur.execute(\"UPDATE", 1))
    assert _lint(tmp_path, {}) == []


def test_string_tokens_are_the_pieces_of_a_literal_as_written() -> None:
    text = "x = ('a_timeout=0'  # one\n     r\"b\" f'{c}')\ny = \"\"\"d\"\"\"\n"
    code = PythonFile.parse(text)
    assert code is not None
    joined, single = code.nodes(ast.JoinedStr)[0], code.nodes(ast.Constant)[-1]
    assert [text[a:b] for a, b in string_tokens(code, joined)] == [
        "'a_timeout=0'", 'r"b"', "f'{c}'"]
    assert [text[a:b] for a, b in string_tokens(code, single)] == ['"""d"""']
    assert string_tokens(code, code.nodes(ast.Name)[0]) == []
