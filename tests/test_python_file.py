"""The Python file as rules read it: CPython's tree, positions as file character offsets,
parents and names, and the libcst node a fix replaces (pglint.python.pyfile)."""

from __future__ import annotations

import ast

import pytest

from pglint.python.pyfile import PythonFile, children


def _file(text: str) -> PythonFile:
    code = PythonFile.parse(text, "app.py")
    assert code is not None
    return code


@pytest.mark.parametrize("text", [
    "x = f(a, 'é')\ncall(1)\n",
    "\ufeffx = f(a, 'é')\ncall(1)\n",
    "x = f(a, 'é')\r\ncall(1)\r\n",
    "x = f(a, 'é')\rcall(1)\r",
    "s = '日本語'; call(1)\n",
    "def g():\n\tif x:\n\t\treturn call(1)\n",
])
def test_spans_are_file_character_offsets(text: str) -> None:
    code = _file(text)
    calls = code.nodes(ast.Call)
    assert [code.code(c) for c in calls][-1] == "call(1)"
    start, end = code.span(calls[-1])
    assert text[start:end] == "call(1)"


def test_spans_leave_an_expressions_parentheses_out() -> None:
    code = _file("y = (  q  )\nz = (a.b)(1)\n")
    assert [code.code(n) for n in code.nodes(ast.Name)] == ["y", "q", "z", "a"]
    assert [code.code(n) for n in code.nodes(ast.Attribute)] == ["a.b"]


def test_nodes_come_in_file_order_with_their_parents() -> None:
    code = _file("def f():\n    with lock:\n        save(g(1))\n")
    inner = code.nodes(ast.Call)[1]
    assert code.code(inner) == "g(1)"
    assert code.code(code.parent(inner)) == "save(g(1))"
    assert isinstance(code.enclosing(inner, ast.With), ast.With)
    assert isinstance(code.statement(inner), ast.Expr)
    assert [type(a).__name__ for a in code.ancestors(inner)] == [
        "Call", "Expr", "With", "FunctionDef", "Module"]
    assert [code.code(n) for n in code.descendants(code.parent(inner))
            if isinstance(n, ast.Call)] == ["g(1)"]


def test_names_resolve_through_imports_anywhere_in_the_file() -> None:
    code = _file("import tenacity as tn\ndef f():\n    from time import sleep\n"
                 "    sleep(1)\n    tn.retry()\n    obj.save()\n")
    names = [code.call_name(c) for c in code.nodes(ast.Call)]
    assert names == ["time.sleep", "tenacity.retry", "obj.save"]
    assert code.is_imported("time", "sleep") == "sleep"
    assert code.is_imported("tenacity", "stop_after_attempt") == "tn.stop_after_attempt"
    assert code.imports(["tenacity"]) and not code.imports(["backoff"])


@pytest.mark.parametrize("text, kind, expected, cst_name", [
    ("q = Queue(maxsize=0)\n", ast.Call, "Queue(maxsize=0)", "Call"),
    ("q = Queue(maxsize=0)\n", ast.keyword, "maxsize=0", "Arg"),
    ("q = Queue(maxsize=0)\n", ast.Constant, "0", "Integer"),
    ("q = Queue( ( 5 ) )\n", ast.Constant, "5", "Integer"),
    ("x = 'é' + f('a' 'b')\n", ast.Constant, "'a' 'b'", "ConcatenatedString"),
    ("x = 'é' + f(None)\n", ast.Constant, "None", "Name"),
    ("@d\ndef g():\n    pass\n", ast.FunctionDef, "def g():\n    pass", "FunctionDef"),
])
def test_the_libcst_node_of_an_ast_node_stands_at_the_same_place(
        text: str, kind: type, expected: str, cst_name: str) -> None:
    code = _file(text)
    node = code.nodes(kind)[-1]
    assert code.code(node) == expected
    found = code.cst_of(node)
    assert type(found).__name__ == cst_name
    start, end = code.fix_tree.span(found)
    assert text[start:end].endswith(expected)


def test_libcst_is_parsed_only_when_a_fix_asks_for_it() -> None:
    code = _file("q = Queue()\n")
    assert code.fix_tree_parsed is False
    code.span(code.nodes(ast.Call)[0])
    assert code.fix_tree_parsed is False
    assert code.cst_of(code.nodes(ast.Call)[0]) is not None
    assert code.fix_tree_parsed is True


def test_a_file_cpython_refuses_has_no_tree() -> None:
    assert PythonFile.parse("def f(:\n") is None
    assert PythonFile.parse("x = " + "(" * 300 + ")" * 300 + "\n") is None


def test_nodes_come_in_the_order_the_code_reads() -> None:
    code = _file("@deco(1)\ndef f(x=g(2)):\n    return h(3)\n"
                 "y = a(4) if b(5) else c(6)\n"
                 "d = {k(7): v(8), **w(9), k(10): v(11)}\n")
    assert [code.code(c.args[0]) for c in code.nodes(ast.Call)] == [
        str(n) for n in range(1, 12)]


_EVERY_FORM = '''\
import os, sys as system
from . import sibling
from pkg.mod import (a as b, c)
global_name: int = 1


@deco(1)
class C(Base, metaclass=Meta):
    """doc"""
    x: list[int] = []

    async def m(self, /, a, b=2, *args, c, d=4, **kw) -> None:
        global g
        async with lock() as held, other():
            async for i in aiter():
                yield i
        try:
            pass
        except (ValueError, TypeError) as exc:
            raise RuntimeError() from exc
        else:
            del x[1:2:3]
        finally:
            assert a, "why"


def f(*, k=None, j):
    def inner():
        nonlocal k
        return lambda q, *r: q
    match k:
        case {"a": 1, **rest}:
            pass
        case Point(x=0, y=y) | [1, *others] if y > 0:
            pass
        case str() as s:
            pass
    return {**d, 1: 2}, {x for x in y if x}, [i async for i in z], (w for w in v), {
        a: b for a, b in c}


print(f"{value!r:>{width}}", b"bytes", ..., -x, not y, a if b else c, x @ y, (yield))
'''


def _reference(node: ast.AST) -> list[ast.AST]:
    """Every node under `node` in the order of the text, from `ast.iter_fields` (slow, plain)."""
    order = {"FunctionDef": ("decorator_list", "args", "returns", "body"),
             "AsyncFunctionDef": ("decorator_list", "args", "returns", "body"),
             "ClassDef": ("decorator_list", "bases", "keywords", "body"),
             "IfExp": ("body", "test", "orelse")}
    out = [node]
    fields = dict(ast.iter_fields(node))
    if isinstance(node, ast.Dict):
        values = [part for key, value in zip(node.keys, node.values) for part in (key, value)]
    else:
        names = order.get(type(node).__name__, tuple(fields))
        values = [fields[name] for name in names
                  if name not in ("ctx", "op", "ops", "type_comment", "type_ignores")]
    for value in values:
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                out.extend(_reference(child))
    return out


def test_one_walk_finds_every_node_in_the_order_of_the_text() -> None:
    """The walk made of generated code (one function per class, fields typed from CPython's
    grammar) finds the nodes, children and parents a plain walk over every field finds."""
    code = _file(_EVERY_FORM)
    expected = _reference(code.module)
    by_type: dict[type, list[ast.AST]] = {}
    for node in expected:
        by_type.setdefault(type(node), []).append(node)
    assert {ast.Dict, ast.arguments, ast.Global, ast.Nonlocal, ast.MatchClass,
            ast.MatchMapping, ast.JoinedStr} <= set(by_type)
    assert set(code._by_type) == set(by_type)
    for kind, nodes in by_type.items():
        assert [id(n) for n in code.nodes(kind)] == [id(n) for n in nodes], kind.__name__
    for node in expected:
        below = children(node)
        # No names, constants, or the None of a keyword-only argument without a default.
        assert all(isinstance(child, ast.AST) for child in below)
        assert [id(n) for n in PythonFile.descendants(node)] == [
            id(n) for n in _reference(node)[1:]]
        for child in below:
            assert code.parent(child) is node


def test_a_tuples_span_leaves_its_parentheses_out_as_libcsts_does() -> None:
    text = "try:\n    pass\nexcept (  # transient\n    A,\n    B,\n):\n    pass\n"
    code = _file(text)
    spans = [code.code(t) for t in code.nodes(ast.Tuple)]
    assert spans == ["A,\n    B,"]
    found = code.cst_of(code.nodes(ast.Tuple)[0])
    assert type(found).__name__ == "Tuple"


def test_every_call_finds_its_libcst_node_whatever_the_order_of_its_fields() -> None:
    # CPython's fields are not always in the text's order (`a if b else c`, a dict's keys
    # before its values); calls that start at one place (`f(x)(y)`) nest.
    text = ("@d(1)\ndef g(a=h()):\n    return {k(): v() for _ in w()}\n\n\n"
            "x = p() if q() else r()\ny = f(x)(z(1))\nm = {s(): t(), u(): n()}\n"
            "o = [c(i) for i in range(3)]; oo = c(2)\n")
    code = _file(text)
    calls = code.nodes(ast.Call)
    assert len(calls) == 18
    for call in calls:
        found = code.cst_of(call)
        assert type(found).__name__ == "Call", code.code(call)
        assert code.fix_tree.span(found) == code.span(call)


def test_the_libcst_node_is_found_without_placing_every_node_before_it() -> None:
    # Placing a libcst node costs libcst's positions of its statement: a lookup near the end
    # of a long file must not place every call before it.
    text = "".join(f"def f{i}(x):\n    return g{i}(x) + h{i}(x)\n\n\n" for i in range(200))
    code = _file(text)
    tree = code.fix_tree
    placed = []
    span = tree.span
    tree.span = lambda node: placed.append(node) or span(node)  # type: ignore[method-assign]
    last = code.nodes(ast.Call)[-1]
    assert code.code(last) == "h199(x)"
    assert tree.code(code.cst_of(last)) == "h199(x)"
    assert len(placed) < 20


def test_an_expression_is_rewritten_from_its_own_code_alone() -> None:
    from pglint.python.tree import appended_item, keyword_arg

    text = "def f():\n    q = Queue(\n        ctx,  # the context\n    )\n"
    code = _file(text)
    edit = code.expression_edit(code.nodes(ast.Call)[0], lambda cst, node: appended_item(
        cst, node, keyword_arg(cst, "maxsize", cst.Integer("8"))))
    assert edit is not None and not code.fix_tree_parsed  # the file's own libcst tree is not
    assert text[:edit.start] + edit.content + text[edit.end:] == (
        "def f():\n    q = Queue(\n        ctx,  # the context\n        maxsize=8,\n    )\n")


@pytest.mark.parametrize("call", [
    "Queue()", "queue.Queue()", "Queue ()", "(Queue)()", "Queue( )", "Queue(\n)",
    "Queue(  # none\n)", "Queue(ctx)", "Queue(ctx, )", "Queue(\n    ctx,\n)",
])
def test_a_keyword_is_added_as_libcst_adds_it(call: str) -> None:
    """`keyword_added` writes `name=value` into an empty `()` itself and has libcst render
    every other call: the edit is the one libcst's rendering gives, either way."""
    from pglint.python.tree import appended_item, keyword_arg

    text = f"q = {call}\n"
    code = _file(text)
    node = code.nodes(ast.Call)[0]
    expected = code.expression_edit(node, lambda cst, found: appended_item(
        cst, found, keyword_arg(cst, "maxsize", cst.Integer("1000"))))
    assert code.keyword_added(node, "maxsize", "1000") == expected


def test_a_keyword_is_written_into_empty_parentheses_without_libcst(monkeypatch) -> None:
    code = _file("q = asyncio.Queue()\nr = Queue(1)\n")
    monkeypatch.setattr(PythonFile, "expression_edit", lambda *a: pytest.fail("libcst used"))
    edit = code.keyword_added(code.nodes(ast.Call)[0], "maxsize", "1000")
    assert edit is not None and edit.content == "asyncio.Queue(maxsize=1000)"
    with pytest.raises(pytest.fail.Exception):
        code.keyword_added(code.nodes(ast.Call)[1], "maxsize", "1000")
