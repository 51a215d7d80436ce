"""Findings and fixes for a Python check-then-insert (PGL204, PGL201): the unique key they
need, `get_or_create()` / `ON CONFLICT` rewrites, and laying out the rewritten call.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.check_then_act import (
    SCOPES,
    PyCheck,
    call_args,
    last_assignment,
    nested_statements,
    sa_insert_model,
    statement_lines,
)
from pglint.kit.upserts import MAX_IDENT, has_returning, unique_indexes
from pglint.model.catalog import Index
from pglint.python.pyfile import PythonFile
from pglint.rule import Rule
from pglint.sql import nodes as n


def orm_columns(ctx: FileContext, table: str | None, fields: list[str]) -> list[str]:
    """Columns of model fields: `customer` -> `customer_id` for a foreign key, `pk` -> the
    primary key column, when the catalog knows the table."""
    known = ctx.model.catalog.table(table) if table else None
    if known is None:
        return list(fields)
    primary = next((i for i in unique_indexes(ctx, table) if i.primary), None)  # type: ignore[arg-type]
    out = []
    for field_name in fields:
        column = field_name.lower()
        if column not in known.columns and column + "_id" in known.columns:
            column += "_id"
        elif column == "pk" and primary is not None and len(primary.columns) == 1:
            column = primary.columns[0] or column
        out.append(column)
    return out


def key_state(ctx: FileContext, table: str | None, columns: list[str]
              ) -> tuple[str, Index | None]:
    """Whether a unique key settles a lookup on `columns`: ("exact", key) for a key on exactly
    those columns, ("covered", key) for one on some of them, ("missing", None) when the catalog
    knows the table and has neither, ("unknown", None) when it does not know the table."""
    if not table or ctx.model.catalog.table(table) is None:
        return "unknown", None
    lookup = set(columns)
    keys = unique_indexes(ctx, table)
    exact = next((i for i in keys if set(i.columns) == lookup), None)
    if exact is not None:
        return "exact", exact
    covered = next((i for i in keys if set(i.columns) <= lookup), None)
    if covered is not None:
        return "covered", covered
    return "missing", None


def rendered(code: PythonFile, node: ast.AST) -> str:
    """A node's code as it reads on its own: its continuation lines without the indentation of
    the block around its statement (a string's own lines are kept as written)."""
    start, end = code.span(node)
    text = code.text[start:end]
    if "\n" not in text:
        return text
    statement = code.statement(node)
    indent = code.line_indent(code.span(statement)[0]) if statement is not None else ""
    if not indent:
        return text
    strings = [code.span(d) for d in (node, *code.descendants(node))
               if isinstance(d, (ast.Constant, ast.JoinedStr))]
    lines = text.split("\n")
    at = start + len(lines[0]) + 1
    for i in range(1, len(lines)):
        line = lines[i]
        if line.startswith(indent) and not any(s < at < e for s, e in strings):
            lines[i] = line[len(indent):]
        at += len(line) + 1
    return "\n".join(lines)


def python_finding(rule: Rule, ctx: FileContext, check: PyCheck) -> Finding:
    code = ctx.python_file
    if check.sql is not None:
        table: str | None = check.sql.table
        fields = columns = [c for c, _ in check.sql.lookup]
    else:
        table = ctx.model.orm_table(check.model)
        fields = [name for name, _ in check.lookup]
        columns = orm_columns(ctx, table, fields)
    state, key = key_state(ctx, table, columns)
    subject = f"`{ctx.model.bare(table)}`" if table else f"`{check.model}`"
    shown = ", ".join(columns)
    if key is not None:
        key_cols = ", ".join(c for c in key.columns if c)
        message = (f"{check.shape} on {subject} races: a concurrent request fails on unique "
                   f"({key_cols})")
        said = f"{subject} has a unique constraint on ({key_cols})"
    elif state == "missing":
        message = (f"{check.shape} on {subject} races: concurrent requests insert duplicates "
                   f"(no unique key on {shown})")
        said = f"{subject} has no unique constraint on ({shown}) (per the migrations)"
    else:
        message = (f"{check.shape} on {subject} races: concurrent requests both insert "
                   f"(unique key on {shown} unknown)")
        said = (f"pglint's catalog does not know the table of {subject}: whether ({shown}) is "
                "unique is open")
    fix = _python_fix(ctx, check, table, fields, columns, state, key)
    way = "savepoint" if fix is not None and fix.title == _SAVEPOINT else check.kind
    help = (f"{said}. The lookup and the insert are separate steps: under READ COMMITTED "
            "neither request sees the other's uncommitted row, so both pass the check and both "
            "insert. Only a UNIQUE constraint or index on the lookup columns settles the race. "
            + _PY_HELP[way])
    start = code.span(check.first)[0]
    end = code.span(check.node)[1]
    return rule.finding(ctx, message, fix, help, span=(start, end))


_PY_HELP = {
    "django": "`get_or_create()` relies on it: it tries the INSERT and, on IntegrityError, reads "
              "the row the other request committed (without the constraint it races like the "
              "check). Only the lookup arguments select the row; `defaults` are written only when "
              "it creates one, and it returns `(obj, created)`.",
    "sqlalchemy": "PostgreSQL's `insert(M).values(...).on_conflict_do_nothing(index_elements="
                  "[...])` (from `sqlalchemy.dialects.postgresql`) uses it to skip an existing row "
                  "atomically; `index_elements` must match a unique index or constraint exactly. "
                  "Unlike `session.add()` it runs at once, outside the unit of work, and a "
                  "skipped row is not returned: select it afterwards when you need it.",
    "savepoint": "Here PostgreSQL's `insert(M).on_conflict_do_nothing()` cannot stand in for the "
                 "ORM insert (the object is used afterwards, a value is a relationship, the model "
                 "inherits its table's key, or the project also runs on another database): add "
                 "the object in a savepoint (`session.begin_nested()`, flushed on exit) and catch "
                 "IntegrityError, then read the row the other request committed.",
    "sql": "`INSERT ... ON CONFLICT (cols) DO NOTHING` uses it to skip an existing row atomically "
           "(it needs a unique index or constraint on exactly those columns). A skipped row is "
           "not returned by `RETURNING`: select it afterwards, or use `DO UPDATE SET col = "
           "EXCLUDED.col` to get it back (that writes a new row version).",
}


def constraint_name(bare: str, columns: list[str]) -> str:
    return f"{bare}_{'_'.join(columns)}_key"[:MAX_IDENT]


def _python_fix(ctx: FileContext, check: PyCheck, table: str | None, fields: list[str],
                columns: list[str], state: str, key: Index | None) -> Fix | None:
    code = ctx.python_file
    bare = ctx.model.bare(table) if table else check.model.lower()
    target = [c for c in key.columns if c] if key is not None else columns
    lines = [] if key is not None else constraint_comment(table or bare, bare, target, state)
    if check.sql is not None and ctx.model.other_backends:
        # MySQL has no ON CONFLICT: a PostgreSQL-only clause would break the other database.
        lines += ["# The project also runs on another database, where ON CONFLICT may not exist",
                  "# (MySQL): run the INSERT in a savepoint and catch the driver's IntegrityError",
                  "# (a unique violation), then read the row the other request committed."]
        return Fix.display("Let the unique constraint decide, catching the violation",
                           "\n".join(lines))
    if check.sql is not None:
        lines += ["# Then, instead of checking first:" if lines else
                  "# Instead of checking first:", _sql_with_conflict(ctx, check, target),
                  "# DO NOTHING inserts no row on a conflict (and RETURNING returns none):",
                  "# read the existing row with the SELECT when you need it."]
        return Fix.display("Rely on a unique constraint with INSERT ... ON CONFLICT",
                           "\n".join(lines))
    if check.kind == "django":
        lines = []
        if key is None:
            why = "there is none" if state == "missing" else \
                "unless one exists (pglint does not know the table)"
            fields_list = ", ".join(f'"{f}"' for f in fields)
            lines += [f"# get_or_create() is race-free only with a unique constraint on the "
                      f"lookup fields ({why}):",
                      f"class {check.model}(models.Model):", "    ...",
                      "    class Meta:", "        constraints = [",
                      f"            models.UniqueConstraint(fields=[{fields_list}], "
                      f'name="{constraint_name(bare, columns)}"),',
                      "        ]", ""]
        # The rewritten call is rendered by libcst, parsed for this (no fix where it cannot).
        tree, create = code.fix_tree, code.cst_of(check.act)
        call = get_or_create_call(tree, create, fields) if create is not None else None
        lines.append(tree.code(call) if call is not None else
                     f"{check.model}.objects.get_or_create("
                     + ", ".join(f"{f}={rendered(code, v)}" for f, v in check.lookup)
                     + ", defaults={...})")
        suggestion = "\n".join(lines)
        # Without the constraint get_or_create() still races: the catalog says to add it first.
        edit = _django_edit(ctx, check, fields, create) if call is not None and \
            state != "missing" else None
        if edit is not None:
            return Fix("Use get_or_create() instead of checking first", Applicability.UNSAFE,
                       (edit,), suggestion)
        return Fix.display("Use get_or_create() on a unique constraint", suggestion)
    # SQLAlchemy: only where PostgreSQL's Core insert can stand in for the ORM's (no fix
    # rather than one that fails: an inherited table, a relationship as a value, ...).
    if not sa_insert_buildable(ctx, check, table):
        return _savepoint_fix(ctx, check, lines, target)
    if lines:
        lines[-1:-1] = ["# and on the model: __table_args__ = (UniqueConstraint("
                        + ", ".join(f'"{c}"' for c in target) + "),)"]
    values = _sa_values(code, check)
    receiver = rendered(code, check.act.func.value)  # type: ignore[attr-defined]
    elements = ", ".join(f'"{c}"' for c in target)
    lines += ["from sqlalchemy.dialects.postgresql import insert", "",
              f"{receiver}.execute(",
              f"    insert({check.model})",
              f"    .values({values})",
              f"    .on_conflict_do_nothing(index_elements=[{elements}])", ")"]
    return Fix.display("Insert with ON CONFLICT DO NOTHING on a unique constraint",
                       "\n".join(lines))


_SAVEPOINT = "Let the unique constraint decide, in a savepoint"


def _savepoint_fix(ctx: FileContext, check: PyCheck, lines: list[str], target: list[str]
                   ) -> Fix:
    """The ORM insert in a savepoint, the unique constraint deciding the race: for where
    PostgreSQL's Core insert cannot stand in for it (it works on every database, keeps the
    ORM object and inserts parent rows of an inherited model)."""
    code = ctx.python_file
    receiver = rendered(code, check.act.func.value)  # type: ignore[attr-defined]
    act = rendered(code, code.statement(check.act) or check.act).replace("\n", "\n        ")
    if lines:
        lines[0] = lines[0].replace("# ON CONFLICT needs", "# Only")
        lines[0] = lines[0].replace(") (", ") settles the race (", 1)
        lines[-1:-1] = ["# and on the model: __table_args__ = (UniqueConstraint("
                        + ", ".join(f'"{c}"' for c in target) + "),)"]
    lines += ["from sqlalchemy.exc import IntegrityError", "",
              "try:",
              f"    with {receiver}.begin_nested():  # a savepoint: flushed on exit",
              f"        {act}",
              "except IntegrityError:",
              "    ...  # a concurrent request inserted the row: read it again"]
    return Fix.display(_SAVEPOINT, "\n".join(lines))


def constraint_comment(table: str, bare: str, columns: list[str], state: str) -> list[str]:
    """Python comment lines with the DDL of the unique constraint ON CONFLICT needs."""
    why = "there is none" if state != "unknown" else \
        "unless one exists: pglint does not know the table"
    name = n.quote_ident(constraint_name(bare, columns))
    cols = ", ".join(n.quote_ident(c) for c in columns)
    return [f"# ON CONFLICT needs a unique constraint on ({cols}) ({why}). In a migration",
            "# (remove duplicates first; CONCURRENTLY cannot run in a transaction):",
            f"#   CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ({cols});",
            f"#   ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name};", ""]


def _sql_with_conflict(ctx: FileContext, check: PyCheck, columns: list[str]) -> str:
    """The INSERT call with `ON CONFLICT (cols) DO NOTHING` appended to its SQL string."""
    insert = check.sql.insert  # type: ignore[union-attr]
    clause = " ON CONFLICT (" + ", ".join(n.quote_ident(c) for c in columns) + ") DO NOTHING"
    sql = ctx.text[insert.start:insert.end]
    code = rendered(ctx.python_file, check.act)
    at = code.find(sql) if sql else -1
    point = len(sql)
    if has_returning(insert.body):  # the clause goes before the last RETURNING
        returning = list(re.finditer(r"\s+RETURNING\b", sql, re.IGNORECASE))
        point = returning[-1].start() if returning else -1
    if at < 0 or point < 0:
        return f"# INSERT INTO {check.sql.table} (...) VALUES (...){clause}"  # type: ignore
    return code[:at + point] + clause + code[at + point:]


def core_insert_buildable(ctx: FileContext, table: str | None, fields: list[str],
                          node: ast.AST, added: ast.expr | None) -> bool:
    """Whether PostgreSQL's Core `insert(M).values(<fields>)` can stand in for an ORM insert of
    `M`'s row: not where the project also runs on SQLite or MySQL, not for a table whose primary
    key is a foreign key to another table's (joined-table inheritance: the parent's row is not
    inserted), not with a field that is not a column of the table as written (a relationship
    or a hybrid property), and not when the object added (`added`, a variable) is used after
    the insert (a Core insert leaves no ORM object behind)."""
    known = ctx.model.catalog.table(table) if table else None
    if ctx.model.other_backends or known is None:
        return False
    if any(f.lower() not in known.columns for f in fields):
        return False
    primary = next((i for i in unique_indexes(ctx, table) if i.primary), None)  # type: ignore[arg-type]
    if primary is not None and any(
            fk.table == table and set(fk.columns) == set(primary.columns) and fk.ref_table != table
            for fk in ctx.model.catalog.foreign_keys):
        return False
    if isinstance(added, ast.Name):
        code = ctx.python_file
        scope = code.enclosing(node, *SCOPES)
        after = code.span(node)[1]
        if scope is not None and any(
                isinstance(n, ast.Name) and n.id == added.id and code.span(n)[0] >= after
                for n in code.descendants(scope)):
            return False
    return True


def sa_insert_buildable(ctx: FileContext, check: PyCheck, table: str | None) -> bool:
    """core_insert_buildable for the SQLAlchemy insert of a check-then-act."""
    row = sa_row(ctx.python_file, check)
    if row is None or any(a.keyword is None or a.star for a in call_args(row)):
        return False
    args = call_args(check.act)
    added = args[0].value if args and check.act.func.attr == "add" else None  # type: ignore[attr-defined]
    return core_insert_buildable(ctx, table, [a.keyword for a in call_args(row)],  # type: ignore[misc]
                                 check.act, added)


def sa_row(code: PythonFile, check: PyCheck) -> ast.Call | None:
    """The call building the inserted row (`M(a=1)` or `insert(M).values(a=1)`'s `.values`)."""
    act = check.act
    args = call_args(act)
    value: ast.expr | None = args[0].value if args else None
    if act.func.attr == "execute":  # type: ignore[attr-defined]
        chain = sa_insert_model(code, value) if value is not None else None
        value = chain[1] if chain is not None else None
    elif isinstance(value, ast.Name):
        statements = nested_statements(code, code.descendants(check.node))
        found = last_assignment(statement_lines(code, statements), value.id)
        value = found[1] if found else None
    return value if isinstance(value, ast.Call) else None


def _sa_values(code: PythonFile, check: PyCheck) -> str:
    """The keyword arguments of the inserted object (`M(a=1)` or `.values(a=1)`), as written."""
    value = sa_row(code, check)
    if value is None:
        return "..."
    written = rendered(code, value)
    head = rendered(code, value.func)
    return written[len(head):].strip()[1:-1].strip() or "..."


def get_or_create_call(tree: Any, create: Any, keys: list[str]) -> Any | None:
    """`M.objects.get_or_create(<keys>, defaults={<the rest>})` from `M.objects.create(...)`,
    keeping the argument layout; None unless every argument is a plain keyword and every key is
    among them."""
    cst = tree.cst
    if create.func.attr.value != "create":
        return None
    args = list(create.args)
    if not args or any(a.keyword is None or a.star for a in args):
        return None
    names = [a.keyword.value for a in args]
    if not set(keys) <= set(names) or {"defaults", "create_defaults"} & set(names):
        return None
    kept = [a for a in args if a.keyword.value in keys]
    rest = [a for a in args if a.keyword.value not in keys]
    if rest:
        elements = [cst.DictElement(cst.SimpleString(f'"{a.keyword.value}"'), a.value)
                    for a in rest]
        kept.append(tree.keyword("defaults", cst.Dict(elements)))
    laid = []
    for i, arg in enumerate(kept):
        comma = args[i].comma if i < len(kept) - 1 else args[-1].comma
        laid.append(arg.with_changes(comma=comma))
    return create.with_changes(func=create.func.with_changes(attr=cst.Name("get_or_create")),
                               args=laid)


def _only_statement(cst: Any, block: Any) -> Any | None:
    """The one small statement of a block without comments (None otherwise)."""
    body = getattr(block, "body", ())
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or \
            len(body[0].body) != 1 or any(line.comment for line in body[0].leading_lines):
        return None
    header = getattr(block, "header", None)
    if header is not None and header.comment is not None:
        return None
    return body[0].body[0]


def _result_of(cst: Any, small: Any) -> Any | None:
    """The value of `x = <call>`, `return <call>` or `<call>`."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(
            small.targets[0].target, cst.Name):
        return small.value
    if isinstance(small, (cst.Return, cst.Expr)):
        return small.value
    return None


def _same(code: PythonFile, one: ast.expr, other: ast.expr) -> bool:
    """Two expressions written alike (the same tree and the same text)."""
    return ast.dump(one) == ast.dump(other) and code.code(one) == code.code(other)


def _django_edit(ctx: FileContext, check: PyCheck, fields: list[str], create: Any
                 ) -> Edit | None:
    """The if / try replaced by the get_or_create() statement, when the shape is exact: the
    lookup is the create's key arguments with the same values, and nothing else is inside.
    Built on libcst's tree (`code.fix_tree`; `create` is the create call there), which renders
    the new statement."""
    code = ctx.python_file
    if not (check.plain and check.inline):
        return None
    creates = {a.keyword: a.value for a in call_args(check.act) if a.keyword is not None}
    if any(name not in creates or not _same(code, creates[name], value)
           for name, value in check.lookup):
        return None
    tree, node = code.fix_tree, code.cst_of(check.node)
    if tree is None or node is None:
        return None
    cst = tree.cst
    act = _only_statement(cst, node.body if isinstance(node, cst.If) else node.handlers[0].body
                          if isinstance(node, cst.Try) else None)
    if act is None or _result_of(cst, act) is not create:
        return None
    if isinstance(node, cst.If):
        if node.orelse is not None:
            return None
    else:
        probe = _only_statement(cst, node.body)
        if len(node.handlers) != 1 or node.orelse is not None or node.finalbody is not None \
                or probe is None or type(probe) is not type(act) or isinstance(probe, cst.Expr):
            return None
        value = _result_of(cst, probe)
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and value.func.attr.value == "get" and isinstance(value.func.value, cst.Attribute)
                and value.func.value.attr.value in ("objects", "_default_manager")
                and isinstance(value.func.value.value, cst.Name)
                and value.func.value.value.value == check.model):
            return None
        if isinstance(act, cst.Assign) and not act.targets[0].target.deep_equals(
                probe.targets[0].target):
            return None
    call = get_or_create_call(tree, create, fields)
    if call is None:
        return None
    if not isinstance(act, cst.Expr):
        call = cst.Subscript(call, [cst.SubscriptElement(cst.Index(cst.Integer("0")))])
    start, end = tree.span(node)
    indent = tree.line_indent(start)
    text = render(tree, act.with_changes(value=call), indent)
    if too_long(tree, start, end, text):
        text = render(tree, act.with_changes(value=_laid_out(cst, call)), indent)
    return Edit(start, end, text)


def _laid_out(cst: Any, value: Any) -> Any:
    """A get_or_create() call (or its `[0]`) with one argument per line."""
    if isinstance(value, cst.Subscript):
        return value.with_changes(value=one_per_line(cst, value.value))
    return one_per_line(cst, value)


def render(tree: Any, node: Any, indent: str) -> str:
    """The code of a new expression or small statement placed in a block indented by `indent`.

    `tree.code(node)` renders continuation lines (inside brackets) relative to no block, so a
    multi-line node moved into an indented block would lose the block's indentation: render it
    inside a stand-in block instead."""
    cst = tree.cst
    small = node if isinstance(node, cst.BaseSmallStatement) else cst.Expr(node)
    if not indent:
        return tree.code(small).strip()
    newline = tree.module.default_newline
    holder = cst.If(cst.Name("x"), cst.IndentedBlock([cst.SimpleStatementLine([small])],
                                                     indent=indent))
    code = cst.Module(body=[holder], default_indent=tree.module.default_indent,
                      default_newline=newline).code
    return code[code.index(newline) + len(newline) + len(indent):].rstrip("\r\n")


LINE_LENGTH = 88  # the common formatter default: a longer fixed line would be flagged


def too_long(tree: Any, start: int, end: int, text: str) -> bool:
    """Whether `text` put over [start, end) makes a line longer than the formatters' default."""
    source = tree.text
    line_end = source.find("\n", end)
    line = source[source.rfind("\n", 0, start) + 1:start] + text + \
        source[end:line_end if line_end >= 0 else len(source)]
    return any(len(part) > LINE_LENGTH for part in line.split("\n"))


def one_per_line(cst: Any, call: Any, step: str = "    ") -> Any:
    """`call` with one argument per line (trailing comma, closing bracket on its own line), and
    a `defaults={...}` dict laid out the same way when its line would still be long."""
    def newline(indent: str) -> Any:
        return cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace(indent))

    args = []
    last = len(call.args) - 1
    for i, arg in enumerate(call.args):
        value = arg.value
        if isinstance(value, cst.Dict) and len(value.elements) > 1 and \
                len(cst.Module([]).code_for_node(arg)) > LINE_LENGTH - 3 * len(step):
            elements = [e.with_changes(comma=cst.Comma(
                whitespace_after=newline(step * 2 if j < len(value.elements) - 1 else step)))
                for j, e in enumerate(value.elements)]
            value = value.with_changes(elements=elements, lbrace=cst.LeftCurlyBrace(
                whitespace_after=newline(step * 2)))
        args.append(arg.with_changes(value=value, comma=cst.Comma(
            whitespace_after=newline(step if i < last else ""))))
    return call.with_changes(args=args, whitespace_before_args=newline(step))
