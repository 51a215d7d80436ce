"""Python ORM inserts as PGL201 reads and fixes them: the insert (`M.objects.create(...)`,
`session.add(M(...))`, `session.execute(insert(M).values(...))`), whether a key is made up on
each attempt or the conflict is handled, and the fix: `get_or_create()` for Django, PostgreSQL's
`insert(...).on_conflict_do_nothing()` for SQLAlchemy."""

from __future__ import annotations

import ast
from typing import Any

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Fix
from pglint.kit.check_then_act import (
    PG_INSERT, SA_INSERTS, SCOPES, call_args, last_assignment, manager_model,
    sa_insert_model, statement_lines, statements_before,
)
from pglint.kit.check_then_act_fixes import (
    get_or_create_call, one_per_line, render, rendered, too_long,
)
from pglint.python.pyfile import Argument, PythonFile, dotted, last_name

# Calls that make a value up afresh on every attempt: a retry sends a new key, not the same one.
_GENERATORS = frozenset({"uuid1", "uuid4", "uuid6", "uuid7", "now", "utcnow", "today", "time",
                         "time_ns", "monotonic", "urandom", "getrandbits", "F", "Now", "ULID"})
_GENERATOR_MODULES = ("secrets.", "random.", "ulid.", "nanoid.", "shortuuid.")
# Exceptions whose handler deals with a duplicate key.
_CONFLICT_ERRORS = ("IntegrityError", "UniqueViolation")
# Calls that read rows of a model (a lookup before an insert).
_QUERY_CALLS = frozenset({"query", "select", "filter", "filter_by", "where", "get", "first",
                          "one", "one_or_none", "scalar", "scalar_one_or_none", "scalars",
                          "exists", "count", "get_or_none", "all"})


def generated_value(code: PythonFile, value: ast.expr, scope: ast.AST | None) -> bool:
    """Whether a value is made up on each attempt (`uuid4()`, `timezone.now()`, `None`), directly
    or through a local variable assigned such a value in `scope`."""
    if isinstance(value, ast.Constant) and value.value is None:
        return True
    if isinstance(value, ast.Name):
        if scope is not None:
            assigned = [a.value for a in code.descendants(scope) if isinstance(a, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == value.id
                                for t in a.targets)]
            return bool(assigned) and all(generated_value(code, v, None) for v in assigned)
        return False
    for node in (value, *code.descendants(value)):
        if isinstance(node, ast.Call):
            name = code.call_name(node) or ""
            if name.rsplit(".", 1)[-1] in _GENERATORS or name.startswith(_GENERATOR_MODULES):
                return True
    return False


def drawn_in_attempt(code: PythonFile, value: ast.expr, insert: ast.Call) -> bool:
    """Whether a key value comes from the database within the same attempt, so that a re-run
    draws a new one: an attribute of an object the function added before the insert (`parent
    .id` after `session.add(parent)`: a re-run inserts a new parent), or a name assigned from a
    call on (or given) the insert's session, cursor or transaction (`seq.get_next_id(txn)`,
    `cur.fetchone()[0]` after an INSERT ... RETURNING)."""
    scope = code.enclosing(insert, *SCOPES)
    if scope is None:
        return False
    receiver = _root_name(insert.func.value) if isinstance(insert.func, ast.Attribute) else None
    start = code.span(insert)[0]
    earlier = [n for n in code.descendants(scope)
               if hasattr(n, "end_lineno") and code.span(n)[1] <= start]
    added = {_root_name(c.args[0]) for c in earlier if isinstance(c, ast.Call) and c.args
             and isinstance(c.func, ast.Attribute) and c.func.attr in ("add", "add_all")}
    if isinstance(value, ast.Attribute) and _root_name(value) in added - {None}:
        return True
    if not isinstance(value, ast.Name) or receiver is None:
        return False
    for assign in earlier:
        if isinstance(assign, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == value.id for t in assign.targets):
            if any(isinstance(c, ast.Call) and (_root_name(c.func) == receiver or any(
                    _root_name(a) == receiver for a in c.args))
                   for c in (assign.value, *code.descendants(assign.value))):
                return True
            if isinstance(assign.value, ast.Attribute) and \
                    _root_name(assign.value) in added - {None}:
                return True
    return False


def _root_name(node: ast.AST) -> str | None:
    """`x` of `x`, `x.y.z`, `x.y()`, `x[0]`."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def handles_conflict(code: PythonFile, node: ast.AST) -> bool:
    """The insert's duplicate is handled on purpose: the call sits in a `try` whose handler
    catches IntegrityError / UniqueViolation, or such a `try` follows it in the same function
    (around the `flush()` or `commit()` that sends the insert, say)."""
    child = node
    for ancestor in code.ancestors(node):
        if isinstance(ancestor, SCOPES):
            break
        if isinstance(ancestor, ast.Try) and any(s is child for s in ancestor.body) and \
                _catches_conflict(ancestor):
            return True
        child = ancestor
    scope = code.enclosing(node, *SCOPES)
    if scope is None:
        return False
    start = code.span(node)[0]
    return any(isinstance(t, ast.Try) and code.span(t)[0] > start and _catches_conflict(t)
               and code.enclosing(t, *SCOPES) is scope for t in code.descendants(scope))


# What serializes the callers of a function before its check: an advisory lock (SQL text or a
# func.pg_advisory_xact_lock(...) call) or a row lock of the ORM.
_ADVISORY_LOCK = ("pg_advisory_xact_lock", "pg_try_advisory_xact_lock", "pg_advisory_lock",
                  "pg_try_advisory_lock")
_ROW_LOCK_METHODS = ("with_for_update", "select_for_update")


def serialized_before(code: PythonFile, node: ast.AST) -> bool:
    """The function takes a lock before `node` that serializes its concurrent runs: an
    advisory lock (`pg_try_advisory_xact_lock(...)` in its SQL or as `func.`), or a row lock
    (`.with_for_update()`, `.select_for_update()`, `FOR UPDATE` in its SQL). Two runs of a
    check-then-act behind it cannot both pass the check."""
    scope = code.enclosing(node, *SCOPES)
    if scope is None:
        return False
    start = code.span(node)[0]
    for found in code.descendants(scope):
        if isinstance(found, ast.Attribute):
            locks = found.attr in _ADVISORY_LOCK or found.attr in _ROW_LOCK_METHODS
        elif isinstance(found, ast.Constant) and isinstance(found.value, str):
            locks = any(name in found.value for name in _ADVISORY_LOCK) or \
                "FOR UPDATE" in found.value.upper()
        else:
            continue
        if locks and code.span(found)[0] < start:
            return True
    return False


def _catches_conflict(statement: ast.Try) -> bool:
    for handler in statement.handlers:
        kind = handler.type
        items = kind.elts if isinstance(kind, ast.Tuple) else [kind]
        if any((dotted(i.value if isinstance(i, ast.Starred) else i) or "").endswith(
                _CONFLICT_ERRORS) for i in items if i is not None):
            return True
    return False


def checked_first(code: PythonFile, node: ast.AST, model: str) -> bool:
    """The insert of `model` runs only after the function looked the row up: it sits in an
    `if` whose test reads such a lookup (`if user is None:` after `user = Users.query
    .filter_by(...).first()`), or follows an `if ...: return` / `raise` that does (`if
    self.flagged(user, annotation): return`, a helper of the module that queries the model).
    A re-run then finds the committed row and does not insert again."""
    scope = code.enclosing(node, *SCOPES)
    if scope is None:
        return False
    start = code.span(node)[0]
    for ancestor in code.ancestors(node):
        if ancestor is scope:
            break
        if isinstance(ancestor, ast.If) and _reads_row(code, ancestor.test, model, scope, start):
            return True
    for earlier in code.descendants(scope):
        if isinstance(earlier, ast.If) and code.span(earlier)[1] <= start and \
                code.enclosing(earlier, *SCOPES) is scope and earlier.body and \
                isinstance(earlier.body[-1], (ast.Return, ast.Raise)) and \
                _reads_row(code, earlier.test, model, scope, start):
            return True
    return False


def _reads_row(code: PythonFile, test: ast.expr, model: str, scope: ast.AST, before: int
               ) -> bool:
    """Whether an `if` test reads a lookup of `model`: a query of it in the test, a variable
    assigned one earlier in the function, or a call of a function of the module whose body
    queries it."""
    if _queries(code, test, model):
        return True
    names = {n.id for n in (test, *code.descendants(test)) if isinstance(n, ast.Name)}
    for assign in code.descendants(scope):
        if isinstance(assign, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and \
                assign.value is not None and code.span(assign)[0] < before:
            targets = assign.targets if isinstance(assign, ast.Assign) else [assign.target]
            if any(isinstance(t, ast.Name) and t.id in names for t in targets) and \
                    _queries(code, assign.value, model):
                return True
    called = {last_name(c.func) for c in (test, *code.descendants(test))
              if isinstance(c, ast.Call)}
    for kind in (ast.FunctionDef, ast.AsyncFunctionDef):
        for function in code.nodes(kind):
            if function.name in called and function is not scope and \
                    _queries(code, function, model):
                return True
    return False


def _queries(code: PythonFile, node: ast.AST, model: str) -> bool:
    """`node` holds a query of `model`: its name under a call of a query method (`filter_by`,
    `first`, `get`, `exists`, `select(M)`, `query(M)`, ...), not only its constructor."""
    for inner in (node, *code.descendants(node)):
        if isinstance(inner, ast.Call) and last_name(inner.func) in _QUERY_CALLS and any(
                isinstance(n, ast.Name) and n.id == model
                for n in (inner, *code.descendants(inner))):
            return True
    return False


def orm_insert(code: PythonFile, call: ast.Call
               ) -> tuple[str, str, ast.Call, list[Argument]] | None:
    """(form, model, the call building the row, its arguments) of an ORM insert:
    `M.objects.create(...)`, `session.add(M(...))`, `session.execute(insert(M).values(...))`."""
    func = call.func
    method = func.attr  # type: ignore[attr-defined]
    if method == "create":
        model = manager_model(func.value)  # type: ignore[attr-defined]
        return ("django", model, call, call_args(call)) if model else None
    args = call_args(call)
    if method == "add" and len(args) == 1 and args[0].keyword is None:
        value: ast.expr | None = args[0].value
        if isinstance(value, ast.Name):
            before = statements_before(code, call)
            found = last_assignment(statement_lines(code, before), value.id) \
                if before is not None else None
            value = found[1] if found else None
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and \
                value.func.id[:1].isupper():
            return "add", value.func.id, value, call_args(value)
        return None
    if method == "execute" and args:
        chain = sa_insert_model(code, args[0].value)
        if chain is None or chain[2] or chain[1] is None:
            return None
        target = call_args(chain[0])[0].value
        if isinstance(target, ast.Attribute) and target.attr == "__table__":
            target = target.value
        if isinstance(target, ast.Name):
            return "core", target.id, chain[1], call_args(chain[1])
    return None


def database_generates(column: Any) -> bool:
    """A key column whose value the database makes up (serial, identity, a sequence, a
    function default such as gen_random_uuid())."""
    return column is not None and (column.default in ("serial", "identity", "nextval", "time")
                                   or (column.default == "other" and not column.default_sql))


def _postgresql_insert(tree: Any) -> tuple[Any, Edit | None] | None:
    """The `insert` of sqlalchemy.dialects.postgresql as an expression, and the import it needs
    (None when the name it would take is already used for something else)."""
    cst = tree.cst
    local = tree.is_imported(PG_INSERT.rsplit(".", 1)[0], "insert")
    if local is None:
        bound = tree.imports.get("postgresql")
        if bound is not None and bound != "sqlalchemy.dialects.postgresql":
            return None
        local, edit = tree.add_import("sqlalchemy.dialects", "postgresql")
        local = f"{local}.insert"
    else:
        edit = None
    return cst.parse_expression(local), edit


def savepoint_fix(ctx: FileContext, node: ast.Call) -> Fix:
    """The insert in a savepoint that swallows the duplicate: where PostgreSQL's Core insert
    cannot stand in for the ORM's (see core_insert_buildable). Works on every database and
    keeps the ORM object."""
    code = ctx.python_file
    receiver = rendered(code, node.func.value)  # type: ignore[attr-defined]
    act = rendered(code, code.statement(node) or node).replace("\n", "\n        ")
    return Fix.display("Catch the duplicate in a savepoint", "\n".join([
        "from sqlalchemy.exc import IntegrityError", "",
        "try:",
        f"    with {receiver}.begin_nested():  # a savepoint: flushed on exit",
        f"        {act}",
        "except IntegrityError:",
        "    ...  # an earlier attempt committed the row: read it instead"]))


def orm_insert_fix(ctx: FileContext, form: str, model: str, node: ast.Call, row_node: ast.Call,
                   keys: list[str], columns: list[str]) -> Fix | None:
    """get_or_create() for Django; PostgreSQL's insert ... on_conflict_do_nothing() for
    SQLAlchemy: applied where the shape is exact, else shown. Built on libcst's tree (the
    insert call and the row's call at the places of `node` and `row_node`), which renders the
    new code: None where libcst cannot read the file."""
    code = ctx.python_file
    tree, call = code.fix_tree, code.cst_of(node)
    row = call if row_node is node else code.cst_of(row_node)
    if tree is None or call is None or row is None:
        return None
    return _orm_insert_fix(tree, form, model, call, row, keys, columns)


def _orm_insert_fix(tree: Any, form: str, model: str, call: Any, row: Any, keys: list[str],
                    columns: list[str]) -> Fix:
    cst = tree.cst
    elements = cst.List([cst.Element(cst.SimpleString(f'"{c}"')) for c in columns])
    statement = tree.statement(call)
    exact_statement = isinstance(tree.parent(call), cst.Expr) or form != "add"
    async_scope = isinstance(tree.enclosing(call, cst.FunctionDef), cst.FunctionDef) and \
        tree.enclosing(call, cst.FunctionDef).asynchronous is not None
    if form == "django":
        new = get_or_create_call(tree, call, keys)
        if new is not None:
            used = not isinstance(tree.parent(call), cst.Expr)
            value = cst.Subscript(new, [cst.SubscriptElement(cst.Index(cst.Integer("0")))]) \
                if used else new
            start, end = tree.span(call)
            indent = tree.line_indent(tree.span(statement)[0])
            text = render(tree, value, indent)
            if too_long(tree, start, end, text):
                laid = one_per_line(cst, new)
                value = laid if not used else value.with_changes(value=laid)
                text = render(tree, value, indent)
            return Fix("Use get_or_create() on the key", Applicability.UNSAFE,
                       (Edit(start, end, text),), render(tree, value, ""))
        lookup = ", ".join(f"{k}=..." for k in keys)
        return Fix.display("Use get_or_create() on the key",
                           f"{model}.objects.get_or_create({lookup}, defaults={{...}})")
    outer = call
    on_conflict = cst.Attribute(cst.Name("x"), cst.Name("on_conflict_do_nothing"))
    arg = tree.keyword("index_elements", elements)
    pg = _postgresql_insert(tree)
    values = tree.code(row)
    values = values[len(tree.code(row.func)):].strip()[1:-1].strip() or "..."
    suggestion = ("from sqlalchemy.dialects.postgresql import insert\n\n"
                  f"{tree.code(call.func.value)}.execute(\n"
                  f"    insert({model})\n"
                  f"    .values({values})\n"
                  f"    .on_conflict_do_nothing(index_elements={tree.code(elements)})\n)")
    title = "Insert with ON CONFLICT DO NOTHING on the key"
    exact = pg is not None and exact_statement and all(
        a.keyword is not None and not a.star for a in row.args)
    if form == "add" and exact and not async_scope and isinstance(row.func, cst.Name):
        insert_call = cst.Call(pg[0], [cst.Arg(row.func)])
        chain = cst.Call(cst.Attribute(insert_call, cst.Name("values")), row.args)
        chain = cst.Call(on_conflict.with_changes(value=chain), [arg])
        new = call.with_changes(func=call.func.with_changes(attr=cst.Name("execute")),
                                args=[cst.Arg(chain)])
    elif form == "core" and exact and isinstance(row.func.value, cst.Call) and \
            tree.call_name(row.func.value) in SA_INSERTS:
        base = row.func.value
        switched = _switch_import(tree, base) if tree.call_name(base) != PG_INSERT else None
        if tree.call_name(base) == PG_INSERT:
            insert_call, pg = base, (base.func, None)
        elif switched is not None:  # the generic insert is used only here: import PG's instead
            insert_call, pg = base, (base.func, switched)
        else:
            insert_call = base.with_changes(func=pg[0])
        chain = row.with_changes(func=row.func.with_changes(value=insert_call))
        new = cst.Call(on_conflict.with_changes(value=chain), [arg])
        call = row
    else:
        return Fix.display(title, suggestion)
    start, end = tree.span(call)
    indent = tree.line_indent(tree.span(statement)[0])
    text = render(tree, new, indent)
    if too_long(tree, start, end, text):
        if form == "core" and len(outer.args) == 1 and outer.args[0].value is row:
            # The whole execute(...) call, its argument laid out like the add() form's.
            start, end = tree.span(outer)
            new, form = outer.with_changes(args=[cst.Arg(new)]), "add"
        extra = tree.line_indent(start)[len(indent):]
        text = render(tree, _one_call_per_line(cst, new, form, extra), indent)
    edits = [Edit(start, end, text)]
    if isinstance(pg[1], Edit):
        edits.append(pg[1])
    elif pg[1] is not None:
        edits.extend(pg[1])
    return Fix(title, Applicability.UNSAFE, tuple(sorted(edits)), suggestion)


def _one_call_per_line(cst: Any, new: Any, form: str, extra: str) -> Any:
    """The insert chain with one call per line (`.values(...)`, `.on_conflict_do_nothing(...)`
    each on its own line), inside the brackets of `execute(...)`."""
    def newline(indent: str) -> Any:
        return cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace(indent))

    def break_dots(call: Any, indent: str, depth: int) -> Any:
        if depth == 0 or not isinstance(call, cst.Call) or not isinstance(call.func,
                                                                           cst.Attribute):
            return call
        func = call.func
        inner = break_dots(func.value, indent, depth - 1)
        return call.with_changes(func=func.with_changes(
            value=inner, dot=cst.Dot(whitespace_before=newline(indent))))

    if form == "add":  # session.execute(<chain>): the chain on its own lines
        chain = break_dots(new.args[0].value, "    ", 2)
        arg = new.args[0].with_changes(value=chain, whitespace_after_arg=newline(""))
        return new.with_changes(args=[arg], whitespace_before_args=newline("    "))
    return break_dots(new, extra, 1)  # core: .on_conflict_do_nothing(...) on the next line


def _switch_import(tree: Any, base: Any) -> list[Edit] | None:
    """When `insert` (imported from sqlalchemy by name) is used by this call only: the edits
    that import PostgreSQL's `insert` under the same name instead, so that no unused import is
    left behind. None when the name is used elsewhere or imported otherwise."""
    cst = tree.cst
    if not isinstance(base.func, cst.Name):
        return None
    local = base.func.value
    uses = 0
    for name in tree.nodes("Name"):
        if name.value != local or isinstance(tree.parent(name), (cst.ImportAlias, cst.Param)) \
                or not tree.names_variable(name):
            continue
        uses += 1
    if uses != 1:
        return None
    statement = next((node for node in tree.nodes("ImportFrom") if not node.relative
                      and tree.dotted(node.module) in ("sqlalchemy", "sqlalchemy.sql",
                                                        "sqlalchemy.sql.expression")
                      and not isinstance(node.names, cst.ImportStar)
                      and any(a.asname is None and tree.dotted(a.name) == local
                              for a in node.names)), None)
    if statement is None or tree.qualified(base.func) not in SA_INSERTS:
        return None
    if len(statement.names) == 1:
        module = cst.parse_expression("sqlalchemy.dialects.postgresql")
        return [tree.replace(statement, statement.with_changes(module=module))]
    kept = [a for a in statement.names if tree.dotted(a.name) != local]
    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    edits = [tree.replace(statement, statement.with_changes(names=kept))]
    _, added = tree.add_import("sqlalchemy.dialects.postgresql", local)
    if added is not None:
        edits.append(added)
    return edits
