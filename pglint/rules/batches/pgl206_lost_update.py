"""PGL206 lost-update."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.orm import Origin, f_field, imports_orm, object_origin
from pglint.kit.retries import keyword_arg
from pglint.kit.roles import runs_once
from pglint.python.screen import CodeIndex
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
    locked until the transaction ends, so nothing is lost), on objects created in the same
    function, and in Django data migrations and Alembic revisions (they run once).

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
        "judged worth acting on in 0 of 3 sampled findings on real repositories: locks taken "
        "by the caller are not seen"
    )
    references = (
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS",
    )
    file_kinds = frozenset()
    python_node_types = ("AugAssign", "Assign")
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

    def screen_python(self, code: CodeIndex) -> bool:
        """An increment `obj.f += x` / `obj.f -= x` / `obj.f = obj.f ± x` / `obj.f = x + obj.f`
        (x no string literal) in a file with a function, and a write after which it can be
        reported: an `obj.save(...)` of the same name, or any `.commit()` / `.flush()` /
        `.begin()` call (SQLAlchemy)."""
        if not (code.nodes(ast.FunctionDef) or code.nodes(ast.AsyncFunctionDef)):
            return False
        objects = set()
        for aug in code.nodes(ast.AugAssign):
            target = aug.target
            if isinstance(aug.op, (ast.Add, ast.Sub)) and isinstance(target, ast.Attribute) \
                    and isinstance(target.value, ast.Name) and not _is_text(aug.value):
                objects.add(target.value.id)
        for assign in code.nodes(ast.Assign):
            target, value = assign.targets[0], assign.value
            if len(assign.targets) != 1 or not isinstance(target, ast.Attribute) or not isinstance(
                    target.value, ast.Name) or not isinstance(value, ast.BinOp) \
                    or not isinstance(value.op, (ast.Add, ast.Sub)):
                continue
            if _same_attribute(value.left, target):
                delta = value.right
            elif isinstance(value.op, ast.Add) and _same_attribute(value.right, target):
                delta = value.left
            else:
                continue
            if not _is_text(delta):
                objects.add(target.value.id)
        if not objects:
            return False
        for call in code.nodes(ast.Call):
            func = call.func
            if isinstance(func, ast.Attribute) and (func.attr in ("commit", "flush", "begin") or (
                    func.attr == "save" and isinstance(func.value, ast.Name)
                    and func.value.id in objects)):
                return True
        return False

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        tree = ctx.python
        found = _increment(tree, node)
        if found is None:
            return
        obj, field, subtract, delta, operand = found
        function = tree.enclosing(node, tree.cst.FunctionDef)
        if function is None or isinstance(delta, (tree.cst.SimpleString, tree.cst.FormattedString,
                                                  tree.cst.ConcatenatedString)):
            return  # text appended: not a counter, and F() + text is no concatenation
        if runs_once(ctx) or _mentions_f(tree, delta):
            return
        later = _after(tree, function, node)
        save = next((c for c in later if _is_call(tree, c, obj, ("save",))), None)
        origin = object_origin(tree, function, obj, node, ctx.model.orm_table)
        if origin is not None and (origin.locked or origin.fresh):
            return
        if save is not None:
            if origin is None and not imports_orm(tree, "django"):
                return
            if origin is not None and origin.orm != "django":
                return
            yield self._django(ctx, node, obj, field, subtract, delta, operand, function,
                               later, save, origin)
            return
        if origin is None or origin.orm != "sqlalchemy":
            return
        write = next((c for c in later if _is_call(tree, c, None, ("commit", "flush"))), None)
        if write is None and not _in_begin_block(tree, node, function):
            return
        yield self._sqlalchemy(ctx, node, obj, field, subtract, delta, operand, function,
                               write, origin)

    def _django(self, ctx: FileContext, node: Any, obj: str, field: str, subtract: bool,
                delta: Any, operand: Any, function: Any, later: list[Any], save: Any,
                origin: Origin | None) -> Finding:
        tree = ctx.python
        cst = tree.cst
        op = "-" if subtract else "+"
        start, end = tree.span(node)
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
        f_name, import_edit = tree.add_import("django.db.models", "F")
        f_call = cst.Call(func=cst.parse_expression(f_name),
                          args=[cst.Arg(cst.SimpleString(f'"{field}"'))])
        expression = cst.BinaryOperation(left=f_call, operator=cst.Subtract() if subtract
                                         else cst.Add(), right=_operand(cst, delta))
        problem = _inexact(tree, node, obj, field, function, later, save)
        if problem is None:
            at = next(i for i, n in enumerate(later) if n is save)
            if any(_is_field(tree, n, obj, field) for n in later[at + 1:]):
                problem = f"the code reads `{obj}.{field}` after the save"
            elif any(_is_call(tree, n, obj, ("save",)) for n in later[at + 1:]):
                problem = f"`{obj}` is saved again later, which would apply the F() again"
        update_form = None
        if problem is None and origin is not None and origin.local:
            update_form = _update_form(tree, node, obj, field, save, origin.local, expression)
        suggestion_f = f"{obj}.{field} = {tree.code(expression).strip()}"
        if problem is not None:
            fix = Fix.display(f"Let the database compute `{field}` (F expression)",
                              _shown(obj, field, problem, suggestion_f, "save()",
                                     tree.code(f_call), op))
        elif update_form is not None:
            edit, code = update_form
            fix = Fix(f"Increment `{field}` in one UPDATE", Applicability.UNSAFE,
                      tuple(e for e in (import_edit, edit) if e is not None), code)
        else:
            edits = _assignment_edit(tree, node, operand, f_call)
            fix = Fix(f"Let the database compute `{field}`: `F(\"{field}\") {op} ...`",
                      Applicability.UNSAFE,
                      (import_edit, *edits) if import_edit is not None else edits, suggestion_f)
        return self.finding(ctx, message, fix, help, span=(start, end))

    def _sqlalchemy(self, ctx: FileContext, node: Any, obj: str, field: str, subtract: bool,
                    delta: Any, operand: Any, function: Any, write: Any,
                    origin: Origin) -> Finding:
        tree = ctx.python
        cst = tree.cst
        op = "-" if subtract else "+"
        start, end = tree.span(node)
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
        column = cst.Attribute(value=cst.parse_expression(model), attr=cst.Name(field))
        expression = cst.BinaryOperation(left=column, operator=cst.Subtract() if subtract
                                         else cst.Add(), right=_operand(cst, delta))
        suggestion = f"{obj}.{field} = {tree.code(expression).strip()}"
        problem = _inexact(tree, node, obj, field, function, _after(tree, function, node),
                           write)
        if origin.local is None or problem is not None:
            fix = Fix.display(f"Let the database compute `{field}` (SQL expression)",
                              _shown(obj, field, problem, suggestion, "", tree.code(column), op)
                              if problem
                              else suggestion + f"  # {model}: the model class of `{obj}`")
        else:
            fix = Fix(f"Let the database compute `{field}`: `{model}.{field} {op} ...`",
                      Applicability.UNSAFE,
                      _assignment_edit(tree, node, operand, column), suggestion)
        return self.finding(ctx, message, fix, help, span=(start, end))


def _increment(tree: Any, node: Any) -> tuple[str, str, bool, Any, Any] | None:
    """(object, field, subtracts, delta, the `obj.field` operand or None) of `obj.f += x`,
    `obj.f -= x`, `obj.f = obj.f ± x`, `obj.f = x + obj.f`."""
    cst = tree.cst
    if isinstance(node, cst.AugAssign):
        if not isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign)):
            return None
        target = _attribute(cst, node.target)
        if target is None:
            return None
        return (*target, isinstance(node.operator, cst.SubtractAssign), node.value, None)
    if len(node.targets) != 1:
        return None
    target = _attribute(cst, node.targets[0].target)
    value = node.value
    if target is None or not isinstance(value, cst.BinaryOperation) or not isinstance(
            value.operator, (cst.Add, cst.Subtract)):
        return None
    if _attribute(cst, value.left) == target:
        return (*target, isinstance(value.operator, cst.Subtract), value.right, value.left)
    if isinstance(value.operator, cst.Add) and _attribute(cst, value.right) == target:
        return (*target, False, value.left, value.right)
    return None


def _same_attribute(node: ast.AST, target: ast.Attribute) -> bool:
    """`obj.f` as in `target` (screen only; CPython's tree keeps no parentheses)."""
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
        and isinstance(target.value, ast.Name) and node.attr == target.attr \
        and node.value.id == target.value.id


def _is_text(node: ast.AST) -> bool:
    """A string or bytes literal, implicitly concatenated or not, or an f-string (screen only)."""
    return isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(
        node.value, (str, bytes))


def _attribute(cst: Any, node: Any) -> tuple[str, str] | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and not node.lpar:
        return node.value.value, node.attr.value
    return None


def _mentions_f(tree: Any, node: Any) -> bool:
    cst = tree.cst
    return any(isinstance(n, cst.Call) and f_field(tree, n) is not None
               for n in (node, *tree.descendants(node)))


def _after(tree: Any, function: Any, node: Any) -> list[Any]:
    """The nodes of `function` that come after `node` (and outside it), in file order."""
    inside = {id(n) for n in tree.descendants(node)}
    out, seen = [], False
    for n in tree.descendants(function):
        if n is node:
            seen = True
        elif seen and id(n) not in inside:
            out.append(n)
    return out


def _is_call(tree: Any, node: Any, obj: str | None, methods: tuple[str, ...]) -> bool:
    """`obj.method(...)` (any receiver when obj is None)."""
    cst = tree.cst
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute) \
            or node.func.attr.value not in methods:
        return False
    return obj is None or (isinstance(node.func.value, cst.Name) and node.func.value.value == obj)


def _is_field(tree: Any, node: Any, obj: str, field: str) -> bool:
    return _attribute(tree.cst, node) == (obj, field)


def _in_begin_block(tree: Any, node: Any, function: Any) -> bool:
    """Inside `with session.begin():` (commits when the block ends)."""
    cst = tree.cst
    for ancestor in tree.ancestors(node):
        if ancestor is function:
            return False
        if isinstance(ancestor, cst.With) and any(
                isinstance(item.item, cst.Call) and isinstance(item.item.func, cst.Attribute)
                and item.item.func.attr.value == "begin" for item in ancestor.items):
            return True
    return False


def _inexact(tree: Any, node: Any, obj: str, field: str, function: Any, later: list[Any],
             write: Any) -> str | None:
    """Why replacing the increment with an SQL expression would change what the code does,
    or None."""
    cst = tree.cst
    for n in tree.descendants(function):
        if n is node:
            break
        if isinstance(n, (cst.AugAssign, cst.AnnAssign)) and _is_field(tree, n.target, obj, field) \
                or isinstance(n, cst.Assign) and any(_is_field(tree, t.target, obj, field)
                                                     for t in n.targets):
            return f"`{obj}.{field}` is changed earlier in the function as well"
    loops = (cst.For, cst.While)
    for ancestor in tree.ancestors(node):
        if ancestor is function:
            break
        if isinstance(ancestor, loops) and (write is None or not any(
                a is ancestor for a in tree.ancestors(write))) \
                and not _bound_in(tree, ancestor, obj):
            return "the increment repeats in a loop before the write"
    for n in later:
        if write is not None and n is write:
            break
        if _is_field(tree, n, obj, field):
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


def _bound_in(tree: Any, loop: Any, obj: str) -> bool:
    """Each iteration of `loop` has an object of its own: `for obj in ...`, or `obj = ...`
    inside the loop."""
    cst = tree.cst
    if isinstance(loop, cst.For) and isinstance(loop.target, cst.Name) \
            and loop.target.value == obj:
        return True
    return any(isinstance(n, cst.Assign) and any(
        isinstance(t.target, cst.Name) and t.target.value == obj for t in n.targets)
        for n in tree.descendants(loop.body))


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


def _update_form(tree: Any, node: Any, obj: str, field: str, save: Any, model: str,
                 expression: Any) -> tuple[Edit, str] | None:
    """`M.objects.filter(pk=obj.pk).update(f=F("f") ± x)` over the increment and the
    `save(update_fields=["f"])` right after it, when that is all the save writes."""
    cst = tree.cst
    arg = keyword_arg(save, "update_fields")
    fields = arg.value if arg is not None else None
    if len(save.args) != 1 or not isinstance(fields, (cst.List, cst.Tuple)) \
            or len(fields.elements) != 1 or not isinstance(fields.elements[0].value,
                                                           cst.SimpleString) \
            or fields.elements[0].value.evaluated_value != field:
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
