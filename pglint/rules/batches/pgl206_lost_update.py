"""PGL206 lost-update."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.orm import (
    Origin,
    f_field,
    imports_orm,
    is_text,
    method_calls,
    object_origin,
    one_literal,
    saved_names,
    walk,
)
from pglint.kit.roles import runs_once
from pglint.python.pyfile import PythonFile, keyword
from pglint.rule import Example, Rule

_POSTS = {"app/models.py": (
    "from django.db import models\n\n\n"
    "class Post(models.Model):\n"
    "    title = models.TextField()\n"
    "    likes = models.IntegerField(default=0)\n")}
_WALLETS = {"app/models.py": (
    "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
    "class Base(DeclarativeBase):\n"
    "    pass\n\n\n"
    "class Wallet(Base):\n"
    "    __tablename__ = \"wallets\"\n"
    "    id: Mapped[int] = mapped_column(primary_key=True)\n"
    "    credits: Mapped[int] = mapped_column(default=0)\n")}


class LostUpdate(Rule):
    """
    ## What it does
    Flags an ORM read-modify-write of a column: a model instance's attribute changed in Python
    from its own value (`obj.n += 1`, `obj.n = obj.n - x`) and written back, in the same
    function:
    - Django: followed by `obj.save()`, on an object loaded from a queryset
      (`M.objects.get(...)`, `get_object_or_404(M, ...)`), a parameter annotated with a model,
      `self` in a model's method, or any object in a module that uses Django;
    - SQLAlchemy: on an object loaded from a session (`session.get(M, key)`,
      `session.query(M)...first()`, `session.scalars(select(M)...).one()`), followed by a
      `commit()` / `flush()` (or inside a `with session.begin():` block).

    It stays silent on plain Python objects (no `save()` and no session in sight), on `F()`
    expressions, on objects loaded with `select_for_update()` / `with_for_update()` (the row is
    locked until the transaction ends, so nothing is lost), when the function takes such a lock
    before the change (on a parent row, say) or every caller in the module does before calling
    it, on objects created in the same function or copied (`obj.pk = None`: the save inserts a
    new row, and an `F()` in an INSERT raises), on a change computed from the object's own
    fields (`shift = new_start - event.start; event.start += shift` moves the value to a
    target), and in Django data migrations, Alembic revisions and tests (they run once, or not
    in production).

    ## Why is this bad?
    The new value is computed from a value read earlier, in another statement. Two requests
    that read `likes = 5` both write `6`: one increment is lost, without any error. Django's
    `save()` writes every field, so it also overwrites whatever else changed in the row since
    the read.

    ## Example
    ```python
    def like(post_id):
        post = Post.objects.get(pk=post_id)
        post.likes += 1
        post.save()
    ```

    ## Use instead
    Let the database compute the new value from the current one, under the row's lock:
    ```python
    from django.db.models import F

    def like(post_id):
        post = Post.objects.get(pk=post_id)
        post.likes = F("likes") + 1
        post.save()
        post.refresh_from_db(fields=["likes"])  # only if the code reads post.likes again
    ```
    With `save(update_fields=["likes"])`, the whole write is
    `Post.objects.filter(pk=post.pk).update(likes=F("likes") + 1)`. In SQLAlchemy, assign an
    SQL expression: `wallet.credits = Wallet.credits + 1` makes the flush emit
    `UPDATE wallets SET credits = wallets.credits + 1`. Or load the row with
    `select_for_update()` / `with_for_update()` inside the transaction. A single row that every
    request increments is then a contention point of its own (see PGL101).

    ## Fix safety
    Unsafe: after `obj.n = F("n") + 1; obj.save()`, `obj.n` holds an expression, not a number,
    until `obj.refresh_from_db()`, and another `save()` would apply it again; the `update()` form sends no `pre_save`/`post_save` signals and
    leaves `obj.n` stale. The fix adds `from django.db.models import F` when needed. It is shown
    only (display) when it could not be exact: the increment repeats in a loop before the save,
    the attribute is changed earlier or used again before the write, the code reads it or saves
    the object again afterwards (Django), or the model class is not named in the function
    (SQLAlchemy).
    """

    code = "PGL206"
    name = "lost-update"
    summary = "ORM read-modify-write of a column: concurrent updates overwrite each other"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 1 of 11 findings on applications it was not tuned on "
        "(round 6, 0 of 6 earlier): a row with one writer (a job's own loop, a task under a "
        "lock outside the database) and dead code are not seen"
    )
    references = (
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS",
    )
    file_kinds = frozenset()
    python_nodes = (ast.AugAssign, ast.Assign)
    # An attribute computed from itself (`o.n += x`, `o.n = o.n + x`), and a save or commit.
    python_hint = ((".save(", ".commit(", ".flush(", ".begin("),
                   re.compile(r"\.\w+\s*[-+]=|\.(\w+)\s*=\s*\w+\.\1\s*[-+]"),
                   # Where a model instance can come from.
                   (".objects.", "ession", "get_object_or_404", "models", "query("))

    VALID = (
        # The database computes the new value.
        Example("from django.db.models import F\n\nfrom app.models import Post\n\n\n"
                "def like(post_id):\n"
                "    Post.objects.filter(pk=post_id).update(likes=F(\"likes\") + 1)\n",
                kind="python", context=_POSTS),
        # Locked until the transaction ends: not lost.
        Example("from django.db import transaction\n\nfrom app.models import Post\n\n\n"
                "def like(post_id):\n"
                "    with transaction.atomic():\n"
                "        post = Post.objects.select_for_update().get(pk=post_id)\n"
                "        post.likes += 1\n"
                "        post.save()\n", kind="python", context=_POSTS),
        # A plain Python object: no save(), no session (the chapter's circuit breaker).
        Example("class CircuitBreaker:\n"
                "    def on_failure(self):\n"
                "        self.failures += 1\n"
                "        if self.failures >= self.failure_threshold:\n"
                "            self.state = \"OPEN\"\n", kind="python"),
        # A new object: there is no stored value to lose.
        Example("from app.models import Post\n\n\n"
                "def draft(title):\n"
                "    post = Post(title=title)\n"
                "    post.likes += 1\n"
                "    post.save()\n", kind="python", context=_POSTS),
        # SQLAlchemy: locked with with_for_update().
        Example("from sqlalchemy import select\n\nfrom app.models import Wallet\n\n\n"
                "def top_up(session, wallet_id):\n"
                "    wallet = session.scalars(\n"
                "        select(Wallet).where(Wallet.id == wallet_id).with_for_update()).one()\n"
                "    wallet.credits += 10\n"
                "    session.commit()\n", kind="python", context=_WALLETS),
        # A copy: `pk = None` makes the save an INSERT of a new row.
        Example("from app.models import Post\n\n\n"
                "def copy_posts(source, offset):\n"
                "    for post in Post.objects.filter(blog=source):\n"
                "        post.pk = None\n"
                "        post.likes += offset\n"
                "        post.save()\n", kind="python", context=_POSTS),
        # Moved to a target computed from the object itself, not by an amount that adds up.
        Example("from app.models import Post\n\n\n"
                "def renumber(post_id, first):\n"
                "    post = Post.objects.get(pk=post_id)\n"
                "    shift = first - post.likes\n"
                "    post.likes += shift\n"
                "    post.save()\n", kind="python", context=_POSTS),
        # Locks taken before the change: the parent row in the same function, or by the caller.
        Example("from django.db import transaction\n\nfrom app.models import Blog, Post\n\n\n"
                "def like(blog_id, post_id):\n"
                "    with transaction.atomic():\n"
                "        Blog.objects.select_for_update().get(pk=blog_id)\n"
                "        post = Post.objects.get(pk=post_id)\n"
                "        post.likes += 1\n"
                "        post.save()\n\n\n"
                "def _bump(post):\n"
                "    post.likes += 1\n"
                "    post.save()\n\n\n"
                "def like_locked(post_id):\n"
                "    with transaction.atomic():\n"
                "        post = Post.objects.select_for_update().get(pk=post_id)\n"
                "        _bump(post)\n", kind="python", context=_POSTS),
        # Already an SQL expression.
        Example("from app.models import Wallet\n\n\n"
                "def top_up(session, wallet_id):\n"
                "    wallet = session.get(Wallet, wallet_id)\n"
                "    wallet.credits = Wallet.credits + 10\n"
                "    session.commit()\n", kind="python", context=_WALLETS),
    )
    INVALID = (
        # The canonical lost update.
        Example("from app.models import Post\n\n\n"
                "def like(post_id):\n"
                "    post = Post.objects.get(pk=post_id)\n"
                "    post.likes += 1\n"
                "    post.save()\n",
                fixed="from app.models import Post\nfrom django.db.models import F\n\n\n"
                      "def like(post_id):\n"
                      "    post = Post.objects.get(pk=post_id)\n"
                      "    post.likes = F(\"likes\") + 1\n"
                      "    post.save()\n", kind="python", context=_POSTS),
        # Read again after the save: shown, with the save as written (its update_fields kept).
        Example("from app.models import Post\n\n\n"
                "def like(request, pk):\n"
                "    post = Post.objects.get(pk=pk)\n"
                "    post.likes += 1\n"
                "    post.save(update_fields=[\"likes\"])\n"
                "    return post.likes\n", kind="python", context=_POSTS),
        # Only that field is saved: the whole write becomes one UPDATE.
        Example("from django.db import models\nfrom django.shortcuts import get_object_or_404\n\n"
                "from app.models import Post\n\n\n"
                "def unlike(request, pk):\n"
                "    post = get_object_or_404(Post, pk=pk)\n"
                "    post.likes = post.likes - 1\n"
                "    post.save(update_fields=[\"likes\"])\n"
                "    return pk\n",
                fixed="from django.db import models\nfrom django.shortcuts import "
                      "get_object_or_404\n\nfrom app.models import Post\n\n\n"
                      "def unlike(request, pk):\n"
                      "    post = get_object_or_404(Post, pk=pk)\n"
                      "    Post.objects.filter(pk=post.pk).update(likes=models.F(\"likes\") - 1)\n"
                      "    return pk\n", kind="python", context=_POSTS),
        # A model method.
        Example("from django.db import models\n\n\n"
                "class Page(models.Model):\n"
                "    views = models.IntegerField(default=0)\n\n"
                "    def record_view(self):\n"
                "        self.views += 1\n"
                "        self.save()\n",
                fixed="from django.db import models\n\n\n"
                      "class Page(models.Model):\n"
                      "    views = models.IntegerField(default=0)\n\n"
                      "    def record_view(self):\n"
                      "        self.views = models.F(\"views\") + 1\n"
                      "        self.save()\n", kind="python"),
        # The value is read again after the save: shown only.
        Example("from app.models import Post\n\n\n"
                "def like(post_id):\n"
                "    post = Post.objects.get(pk=post_id)\n"
                "    post.likes += 1\n"
                "    post.save()\n"
                "    return post.likes\n", kind="python", context=_POSTS),
        # SQLAlchemy: loaded from the session, incremented, committed.
        Example("from app.models import Wallet\n\n\n"
                "def top_up(session, wallet_id, amount):\n"
                "    wallet = session.get(Wallet, wallet_id)\n"
                "    wallet.credits += amount\n"
                "    session.commit()\n",
                fixed="from app.models import Wallet\n\n\n"
                      "def top_up(session, wallet_id, amount):\n"
                      "    wallet = session.get(Wallet, wallet_id)\n"
                      "    wallet.credits = Wallet.credits + amount\n"
                      "    session.commit()\n", kind="python", context=_WALLETS),
        Example("from app.models import Wallet\n\n\n"
                "def spend(session, wallet_id):\n"
                "    wallet = session.query(Wallet).filter(Wallet.id == wallet_id).first()\n"
                "    wallet.credits = wallet.credits - 1\n"
                "    session.flush()\n",
                fixed="from app.models import Wallet\n\n\n"
                      "def spend(session, wallet_id):\n"
                      "    wallet = session.query(Wallet).filter(Wallet.id == wallet_id).first()\n"
                      "    wallet.credits = Wallet.credits - 1\n"
                      "    session.flush()\n", kind="python", context=_WALLETS),
    )

    def check_python(self, node: ast.AugAssign | ast.Assign, ctx: FileContext
                     ) -> Iterable[Finding]:
        code = ctx.python_file
        found = _increment(code, node)
        if found is None:
            return
        obj, field, subtract, delta, operand = found
        if obj not in saved_names(code) and not any(
                method_calls(code, m) for m in ("commit", "flush", "begin")):
            return  # cheap: nothing in the file writes the object back
        function = code.enclosing(node, ast.FunctionDef, ast.AsyncFunctionDef)
        if function is None or is_text(delta):
            return  # text appended: not a counter, and F() + text is no concatenation
        if runs_once(ctx) or _mentions_f(code, delta):
            return
        later = _after(function, node)
        save = next((c for c in later if _is_call(c, obj, ("save",))), None)
        origin = object_origin(code, function, obj, node, ctx.model.orm_table)
        if origin is not None and (origin.locked or origin.fresh):
            return
        if _cloned(function, node, obj) or _moved_to_target(function, node, obj, delta) \
                or _locked_before(code, function, node):
            return
        if save is not None:
            if origin is None and not imports_orm(code, "django"):
                return
            if origin is not None and origin.orm != "django":
                return
            yield self._django(ctx, node, obj, field, subtract, delta, operand, function,
                               later, save, origin)
            return
        if origin is None or origin.orm != "sqlalchemy":
            return
        write = next((c for c in later if _is_call(c, None, ("commit", "flush"))), None)
        if write is None and not _in_begin_block(code, node, function):
            return
        yield self._sqlalchemy(ctx, node, obj, field, subtract, delta, operand, function,
                               write, origin)

    def _django(self, ctx: FileContext, node: ast.stmt, obj: str, field: str, subtract: bool,
                delta: ast.expr, operand: ast.expr | None, function: ast.AST,
                later: list[ast.AST], save: ast.Call, origin: Origin | None) -> Finding:
        code = ctx.python_file
        op = "-" if subtract else "+"
        message = (f"`{obj}.{field}` is computed in Python and saved back: concurrent updates "
                   f"overwrite each other (lost update)")
        help = (f"The new `{field}` is computed from a value read earlier: two requests that "
                f"read the same value both save the same result, and one change is lost without "
                "an error (and `save()` writes every field, so it also overwrites other columns "
                f"changed since the read). `F(\"{field}\") {op} ...` makes the database compute "
                f"the value from the current row under its lock. After `save()`, `{obj}.{field}` "
                f"holds that expression, not a number, and a second `save()` applies it again: "
                f"call `{obj}.refresh_from_db(fields=[\"{field}\"])` before reading or saving "
                "it again. Locking the row with `select_for_update()` "
                "inside `transaction.atomic()` works too. A row that every request increments "
                "is a contention point of its own (see PGL101).")
        problem = _inexact(code, node, obj, field, function, later, save)
        if problem is None:
            at = next(i for i, n in enumerate(later) if n is save)
            if any(_is_field(n, obj, field) for n in later[at + 1:]):
                problem = f"the code reads `{obj}.{field}` after the save"
            elif any(_is_call(n, obj, ("save",)) for n in later[at + 1:]):
                problem = f"`{obj}` is saved again later, which would apply the F() again"
        fix = _django_fix(code, node, obj, field, subtract, delta, operand, save, problem,
                          origin.local if origin is not None else None)
        return self.finding(ctx, message, fix, help, node=node)

    def _sqlalchemy(self, ctx: FileContext, node: ast.stmt, obj: str, field: str,
                    subtract: bool, delta: ast.expr, operand: ast.expr | None,
                    function: ast.AST, write: ast.Call | None, origin: Origin) -> Finding:
        code = ctx.python_file
        op = "-" if subtract else "+"
        model = origin.local or "Model"
        message = (f"`{obj}.{field}` is computed in Python and flushed back: concurrent updates "
                   f"overwrite each other (lost update)")
        help = (f"The new `{field}` is computed from a value read earlier: two sessions that "
                "read the same value both write the same result, and one change is lost without "
                f"an error. Assigning an SQL expression (`{obj}.{field} = {model}.{field} {op} "
                f"...`) makes the flush emit `UPDATE ... SET {field} = {field} {op} ...`, "
                "computed from the current row under its lock; the attribute is expired after "
                "the flush and reloaded on its next access. Loading the row with "
                "`with_for_update()` works too. A row that every request increments is a "
                "contention point of its own (see PGL101).")
        problem = _inexact(code, node, obj, field, function, _after(function, node), write)
        fix = _sqlalchemy_fix(code, node, obj, field, subtract, delta, operand, problem,
                              origin.local)
        return self.finding(ctx, message, fix, help, node=node)


def _increment(code: PythonFile, node: ast.AugAssign | ast.Assign
               ) -> tuple[str, str, bool, ast.expr, ast.expr | None] | None:
    """(object, field, subtracts, delta, the `obj.field` operand or None) of `obj.f += x`,
    `obj.f -= x`, `obj.f = obj.f ± x`, `obj.f = x + obj.f`. An `obj.f` in parentheses of its
    own is not read as one (as ever: the fix replaces it by position)."""
    if isinstance(node, ast.AugAssign):
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            return None
        target = _attribute(node.target)
        if target is None or code.span(node)[0] != code.span(node.target)[0]:
            return None
        return (*target, isinstance(node.op, ast.Sub), node.value, None)
    if len(node.targets) != 1:
        return None
    target = _attribute(node.targets[0])
    value = node.value
    if target is None or not isinstance(value, ast.BinOp) or not isinstance(
            value.op, (ast.Add, ast.Sub)) or code.span(node)[0] != code.span(node.targets[0])[0]:
        return None
    if _attribute(value.left) == target and code.span(value)[0] == code.span(value.left)[0]:
        return (*target, isinstance(value.op, ast.Sub), value.right, value.left)
    if isinstance(value.op, ast.Add) and _attribute(value.right) == target \
            and code.span(value)[1] == code.span(value.right)[1]:
        return (*target, False, value.left, value.right)
    return None


def _attribute(node: ast.AST) -> tuple[str, str] | None:
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.value.id, node.attr
    return None


def _mentions_f(code: PythonFile, node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and f_field(code, n) is not None
               for n in (node, *PythonFile.descendants(node)))


def _before(function: ast.AST, node: ast.AST) -> list[ast.AST]:
    """The nodes of `function` before `node`, in file order."""
    out = []
    for n in walk(function):
        if n is node:
            break
        out.append(n)
    return out


def _cloned(function: ast.AST, node: ast.AST, obj: str) -> bool:
    """`obj.pk = None` (or `obj.id = None`) before the change: the save inserts a copy, there
    is no stored row to lose an update of, and an `F()` in an INSERT raises."""
    return any(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
               and n.value.value is None and any(
                   isinstance(t, ast.Attribute) and t.attr in ("pk", "id")
                   and isinstance(t.value, ast.Name) and t.value.id == obj for t in n.targets)
               for n in _before(function, node))


def _moved_to_target(function: ast.AST, node: ast.AST, obj: str, delta: ast.expr) -> bool:
    """The change is computed from the object's own fields (`shift = new_start - event.start;
    event.start += shift`): the code moves the value to a target it chose, not by an amount
    that concurrent requests add up, and `F()` would apply two moves at once."""
    names = {n.id for n in (delta, *PythonFile.descendants(delta)) if isinstance(n, ast.Name)}
    sources = [delta, *(n.value for n in _before(function, node) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id in names for t in n.targets))]
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
               and n.value.id == obj for source in sources
               for n in (source, *PythonFile.descendants(source)))


def _locks(node: ast.AST) -> bool:
    return _is_call(node, None, ("select_for_update", "with_for_update"))


def _locked_before(code: PythonFile, function: ast.FunctionDef | ast.AsyncFunctionDef,
                   node: ast.AST) -> bool:
    """A row lock taken before the change, in the function (the parent row, say, which
    serialises every writer of its children) or by every caller of the function in the module
    before it calls it: the writers are serialised, nothing is lost, and an `F()` would break
    code that reads the value afterwards."""
    if any(_locks(n) for n in _before(function, node)):
        return True
    callers = [call for call in code.nodes(ast.Call) if (
        isinstance(call.func, ast.Name) and call.func.id == function.name
        or isinstance(call.func, ast.Attribute) and call.func.attr == function.name
        and isinstance(call.func.value, ast.Name) and call.func.value.id == "self")]
    enclosing = [code.enclosing(call, ast.FunctionDef, ast.AsyncFunctionDef) for call in callers]
    return bool(callers) and all(
        outer is not None and any(_locks(n) for n in _before(outer, call))
        for call, outer in zip(callers, enclosing, strict=True))


def _after(function: ast.AST, node: ast.AST) -> list[ast.AST]:
    """The nodes of `function` that come after `node` (and outside it), in file order."""
    inside = {id(n) for n in PythonFile.descendants(node)}
    out, seen = [], False
    for n in walk(function):
        if n is node:
            seen = True
        elif seen and id(n) not in inside:
            out.append(n)
    return out


def _is_call(node: ast.AST, obj: str | None, methods: tuple[str, ...]) -> bool:
    """`obj.method(...)` (any receiver when obj is None)."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) \
            or node.func.attr not in methods:
        return False
    return obj is None or (isinstance(node.func.value, ast.Name) and node.func.value.id == obj)


def _is_field(node: ast.AST, obj: str, field: str) -> bool:
    return _attribute(node) == (obj, field)


def _in_begin_block(code: PythonFile, node: ast.AST, function: ast.AST) -> bool:
    """Inside `with session.begin():` (commits when the block ends)."""
    return code.in_with_block(node, "begin", within=function)


def _inexact(code: PythonFile, node: ast.AST, obj: str, field: str, function: ast.AST,
             later: list[ast.AST], write: ast.AST | None) -> str | None:
    """Why replacing the increment with an SQL expression would change what the code does,
    or None."""
    for n in walk(function):
        if n is node:
            break
        if isinstance(n, (ast.AugAssign, ast.AnnAssign)) and _is_field(n.target, obj, field) \
                or isinstance(n, ast.Assign) and any(_is_field(t, obj, field)
                                                     for t in n.targets):
            return f"`{obj}.{field}` is changed earlier in the function as well"
    loops = (ast.For, ast.AsyncFor, ast.While)
    for ancestor in code.ancestors(node):
        if ancestor is function:
            break
        if isinstance(ancestor, loops) and (write is None or not any(
                a is ancestor for a in code.ancestors(write))) \
                and not _bound_in(ancestor, obj):
            return "the increment repeats in a loop before the write"
    for n in later:
        if write is not None and n is write:
            break
        if _is_field(n, obj, field):
            return f"the code uses `{obj}.{field}` again before the write"
    return None


def _shown(obj: str, field: str, problem: str, assignment: str, save: str,
           column: str, op: str) -> str:
    """The display suggestion when the fix cannot be applied as it is."""
    if problem.startswith("the increment repeats"):
        return ("# Add up the change in the loop (`delta`), then once before the write:\n"
                f"{obj}.{field} = {column} {op} delta")
    lines = [f"# Not applied: {problem}.", assignment]
    if save:
        lines += [f"{obj}.{save}", (f"{obj}.refresh_from_db(fields=[\"{field}\"])"
                                     f"  # before reading `{obj}.{field}` again")]
    return "\n".join(lines)


def _bound_in(loop: ast.For | ast.AsyncFor | ast.While, obj: str) -> bool:
    """Each iteration of `loop` has an object of its own: `for obj in ...`, or `obj = ...`
    inside the loop."""
    if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.target, ast.Name) \
            and loop.target.id == obj:
        return True
    return any(isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == obj for t in n.targets)
        for statement in loop.body for n in (statement, *PythonFile.descendants(statement)))


# -- Fixes: built on libcst's tree, at the increment's place ---------------------------------


def _django_fix(code: PythonFile, node: ast.stmt, obj: str, field: str, subtract: bool,
                delta: ast.expr, operand: ast.expr | None, save: ast.Call,
                problem: str | None, model: str | None) -> Fix | None:
    """`obj.f = F("f") ± x` (importing F), the one-UPDATE form over the increment and its
    `save(update_fields=["f"])`, or either shown when it would not be exact."""
    parts = _fix_nodes(code, node, delta, operand)
    if parts is None:
        return None
    tree, increment, cst_delta, cst_operand = parts
    cst, op = tree.cst, "-" if subtract else "+"
    f_name, import_edit = tree.add_import("django.db.models", "F")
    f_call = cst.Call(func=cst.parse_expression(f_name),
                      args=[cst.Arg(cst.SimpleString(f'"{field}"'))])
    expression = cst.BinaryOperation(left=f_call, operator=cst.Subtract() if subtract
                                     else cst.Add(), right=_operand(cst, cst_delta))
    suggestion_f = f"{obj}.{field} = {tree.code(expression).strip()}"
    if problem is not None:
        # The save as the code writes it: `update_fields` and the other arguments kept.
        written = code.code(save)
        save_call = written.split(".", 1)[1] if written.startswith(f"{obj}.") else "save()"
        return Fix.display(f"Let the database compute `{field}` (F expression)",
                           _shown(obj, field, problem, suggestion_f, save_call,
                                  tree.code(f_call), op))
    update_form = None
    if model and _saves_only(code, save, field):
        update_form = _update_form(tree, increment, obj, field, code.cst_of(save), model,
                                   expression)
    if update_form is not None:
        edit, text = update_form
        return Fix(f"Increment `{field}` in one UPDATE", Applicability.UNSAFE,
                   tuple(e for e in (import_edit, edit) if e is not None), text)
    edits = _assignment_edit(tree, increment, cst_operand, f_call)
    return Fix(f"Let the database compute `{field}`: `F(\"{field}\") {op} ...`",
               Applicability.UNSAFE,
               (import_edit, *edits) if import_edit is not None else edits, suggestion_f)


def _sqlalchemy_fix(code: PythonFile, node: ast.stmt, obj: str, field: str, subtract: bool,
                    delta: ast.expr, operand: ast.expr | None, problem: str | None,
                    model: str | None) -> Fix | None:
    """`obj.f = M.f ± x`, or shown when it would not be exact or the model is not named."""
    parts = _fix_nodes(code, node, delta, operand)
    if parts is None:
        return None
    tree, increment, cst_delta, cst_operand = parts
    cst, op = tree.cst, "-" if subtract else "+"
    column = cst.Attribute(value=cst.parse_expression(model or "Model"), attr=cst.Name(field))
    expression = cst.BinaryOperation(left=column, operator=cst.Subtract() if subtract
                                     else cst.Add(), right=_operand(cst, cst_delta))
    suggestion = f"{obj}.{field} = {tree.code(expression).strip()}"
    if model is None or problem is not None:
        return Fix.display(f"Let the database compute `{field}` (SQL expression)",
                           _shown(obj, field, problem, suggestion, "", tree.code(column), op)
                           if problem
                           else suggestion + f"  # {model or 'Model'}: the model class of `{obj}`")
    return Fix(f"Let the database compute `{field}`: `{model}.{field} {op} ...`",
               Applicability.UNSAFE, _assignment_edit(tree, increment, cst_operand, column),
               suggestion)


def _fix_nodes(code: PythonFile, node: ast.stmt, delta: ast.expr, operand: ast.expr | None
               ) -> tuple[Any, Any, Any, Any] | None:
    """The file's libcst tree and its increment statement, delta and `obj.field` operand, or
    None where libcst cannot give them."""
    tree = code.fix_tree
    if tree is None:
        return None
    increment, cst_delta = code.cst_of(node), code.cst_of(delta)
    cst_operand = code.cst_of(operand) if operand is not None else None
    if increment is None or cst_delta is None or (operand is not None and cst_operand is None):
        return None
    return tree, increment, cst_delta, cst_operand


def _operand(cst: Any, delta: Any) -> Any:
    """The delta as the right operand of `+`/`-`: parenthesized unless it is atomic."""
    atomic = (cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Call, cst.Subscript,
              cst.SimpleString)
    if isinstance(delta, atomic) or delta.lpar:
        return delta
    return delta.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _assignment_edit(tree: Any, node: Any, operand: Any, column: Any) -> tuple[Edit, ...]:
    """`obj.f = <column> ± x`: the operand replaced in `obj.f = obj.f ± x`, or `+=` / `-=`
    turned into `= <column> + (` ... `)`. Text edits around the delta, which is kept as
    written (re-rendering a multi-line delta would re-indent its continuation lines)."""
    cst = tree.cst
    if operand is not None:
        return (tree.replace(operand, column),)
    op = "-" if isinstance(node.operator, cst.SubtractAssign) else "+"
    at = tree.text.index(f"{op}=", tree.span(node.target)[1])
    head = Edit(at, at + 2, f"= {tree.code(column)} {op}")
    if _operand(cst, node.value) is node.value:
        return (head,)
    # No parentheses of its own (else it would be kept as is): their span is the value's.
    value_start, value_end = tree.span(node.value)
    return head, Edit.insert(value_start, "("), Edit.insert(value_end, ")")


def _saves_only(code: PythonFile, save: ast.Call, field: str) -> bool:
    """`save(update_fields=["f"])` (one argument, one field): the save writes `f` alone."""
    fields = keyword(save, "update_fields")
    return len(save.args) + len(save.keywords) == 1 and isinstance(
        fields, (ast.List, ast.Tuple)) and len(fields.elts) == 1 \
        and isinstance(fields.elts[0], ast.Constant) and isinstance(fields.elts[0].value, str) \
        and one_literal(code, fields.elts[0]) and fields.elts[0].value == field


def _update_form(tree: Any, node: Any, obj: str, field: str, save: Any, model: str,
                 expression: Any) -> tuple[Edit, str] | None:
    """`M.objects.filter(pk=obj.pk).update(f=F("f") ± x)` over the increment and the
    `save(update_fields=["f"])` right after it (libcst's nodes), when they stand alone on
    their lines, one after the other."""
    cst = tree.cst
    if save is None:
        return None
    line, save_line = tree.statement(node), tree.statement(save)
    parent = tree.parent(line)
    if not isinstance(parent, cst.IndentedBlock) or len(line.body) != 1 \
            or len(save_line.body) != 1 or not isinstance(save_line.body[0], cst.Expr) \
            or save_line.body[0].value is not save:
        return None
    body = list(parent.body)
    at = next(i for i, s in enumerate(body) if s is line)
    if at + 1 >= len(body) or body[at + 1] is not save_line:
        return None
    code = (f"{model}.objects.filter(pk={obj}.pk).update("
            f"{field}={tree.code(expression).strip()})")
    start, end = tree.span(node)[0], tree.span(save)[1]
    if tree.text[start:end].count("#"):
        return None  # a comment between the two lines would be lost
    return Edit(start, end, code), code
