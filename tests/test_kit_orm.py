"""kit.orm on CPython's tree: arguments and nodes in the order of the text, string literals,
method chains and where a model instance came from."""

from __future__ import annotations

import ast

import pytest

from pglint.kit.orm import (
    call_args,
    method_chain,
    object_origin,
    plain_string,
    snippet,
    sqlalchemy_entity,
    walk,
)
from pglint.python.pyfile import PythonFile


def _file(text: str) -> PythonFile:
    code = PythonFile.parse(text, "app/views.py")
    assert code is not None
    return code


@pytest.mark.parametrize("text, order", [
    ("f(1, x, k=2)", ["1", "x", "k=2"]),
    ("f(a=1, *rest)", ["a=1", "*rest"]),
    ("f(**options, a=1)", ["**options", "a=1"]),
    ("f(x, *rest, a=1, **options)", ["x", "*rest", "a=1", "**options"]),
])
def test_call_arguments_in_the_order_of_the_text(text: str, order: list[str]) -> None:
    code = _file(text)
    call = code.nodes(ast.Call)[0]
    assert [code.code(a.node) for a in call_args(call)] == order
    stars = [a.star for a in call_args(call)]
    assert stars == [shown[:len(shown) - len(shown.lstrip("*"))] for shown in order]


def test_walk_reads_a_definition_from_its_decorators() -> None:
    code = _file("@first({'k': second}, third if fourth else fifth)\n"
                 "def f(sixth) -> seventh:\n"
                 "    return eighth\n")
    function = code.nodes(ast.FunctionDef)[0]
    names = [n.id for n in walk(function) if isinstance(n, ast.Name)]
    assert names == ["first", "second", "third", "fourth", "fifth", "seventh", "eighth"]
    assert [n.arg for n in walk(function) if isinstance(n, ast.arg)] == ["sixth"]


@pytest.mark.parametrize("literal, value", [
    ('"status"', "status"),
    ("'it''s'", None),  # two literals side by side
    ('"it\'s"', "it's"),
    ('"""status"""', "status"),
    ('("sta"\n "tus")', None),
    ('b"status"', None),
    ('f"status"', None),
    ("status", None),
])
def test_plain_string(literal: str, value: str | None) -> None:
    code = _file(f"x = {literal}\n")
    assert plain_string(code, code.nodes(ast.Assign)[0].value) == value


def test_method_chain_from_any_of_its_calls() -> None:
    code = _file("jobs = Job.objects.filter(a=1).select_for_update()[:10]\n")
    inner = next(c for c in code.nodes(ast.Call) if code.code(c.func).endswith("filter"))
    chain = method_chain(code, inner)
    assert code.code(chain.root) == "Job.objects"
    assert chain.names() == ["filter", "select_for_update", "[]"]
    assert chain.outer is code.nodes(ast.Assign)[0].value


def test_sqlalchemy_entity_through_an_aliased_constructor() -> None:
    code = _file("from sqlalchemy import select as sel\n\n"
                 "stmt = sel(Task).where(Task.id == 1).limit(1)\n"
                 "rows = session.query(*columns).first()\n")
    calls = code.nodes(ast.Call)
    assert sqlalchemy_entity(code, method_chain(code, calls[0])) == "Task"
    # `*columns` names no entity of its own: read as libcst read it, the name of the list.
    assert sqlalchemy_entity(code, method_chain(code, calls[-1])) == "columns"


TABLES = {"Post": "posts", "Wallet": "wallets"}.get


@pytest.mark.parametrize("body, orm, model, locked, fresh", [
    ("    post = Post.objects.get(pk=1)\n", "django", "Post", False, False),
    ("    post = get_object_or_404(klass=Post, pk=1)\n", "django", "Post", False, False),
    ("    post, created = Post.objects.get_or_create(pk=1)\n", "django", "Post", False, False),
    ("    for post in Post.objects.select_for_update().filter(a=1):\n        pass\n",
     "django", "Post", True, False),
    ("    batch = list(Post.objects.filter(a=1))\n    for post in batch:\n        pass\n",
     "django", "Post", False, False),
    ("    post = Post.objects.create(title='x')\n", "django", "Post", False, True),
    ("    post = await session.get(Wallet, 1, with_for_update=True)\n",
     "sqlalchemy", "Wallet", True, False),
    ("    post = session.get(Wallet, 1, with_for_update=None)\n",
     "sqlalchemy", "Wallet", False, False),
    ("    post = session.get(Wallet)\n", None, None, False, False),
])
def test_object_origin(body: str, orm: str | None, model: str | None, locked: bool,
                       fresh: bool) -> None:
    code = _file("from django.shortcuts import get_object_or_404\n"
                 "from sqlalchemy.orm import Session\n\n\n"
                 f"async def view(session):\n{body}    post.likes += 1\n")
    use = code.nodes(ast.AugAssign)[0]
    function = code.nodes(ast.AsyncFunctionDef)[0]
    origin = object_origin(code, function, "post", use, TABLES)
    if orm is None:
        assert origin is None
        return
    assert origin is not None
    assert (origin.orm, origin.model, origin.locked, origin.fresh) == (orm, model, locked, fresh)


def test_object_origin_of_an_annotated_parameter_and_of_self() -> None:
    code = _file("from django.db import models\n\n\n"
                 "def like(post: Post, other):\n    post.likes += 1\n\n\n"
                 "class Post(models.Model):\n    def bump(self):\n        self.likes += 1\n")
    first, second = code.nodes(ast.AugAssign)
    functions = code.nodes(ast.FunctionDef)
    assert object_origin(code, functions[0], "post", first, TABLES).model == "Post"
    assert object_origin(code, functions[0], "other", first, TABLES) is None
    assert object_origin(code, functions[1], "self", second, TABLES).model == "Post"


def test_a_snippet_over_several_lines_loses_the_indentation_of_its_block() -> None:
    # A suggestion shows the code on its own: continuation lines indented as for the block the
    # node stands in would be indented too far (found on a real project's PGL205 suggestion).
    code = _file("def done(task, now):\n"
                 "    if task:\n"
                 "        task.seconds = (\n"
                 "            now - task.started\n"
                 "        ).total_seconds()\n"
                 "        task.status = 'done'\n")
    first, second = (a.value for a in code.nodes(ast.Assign))
    assert snippet(code, first) == "(\n    now - task.started\n).total_seconds()"
    assert snippet(code, second) == "'done'"
