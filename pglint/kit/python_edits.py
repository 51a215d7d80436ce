"""Fixes to Python code as small text edits around libcst nodes, cut from the file's own text
(rendering a changed multi-line node with libcst outside its block loses the block's
indentation): arguments added and removed, expressions wrapped, calls renamed without leaving
an unused import behind, fresh names."""

from __future__ import annotations

import re
from typing import Any

from pglint.finding import Edit


def uses_of(tree: Any, local: str) -> int:
    """How many times a name is read in the file (imports excluded)."""
    cst = tree.cst
    count = 0
    for name in tree.nodes("Name"):
        if name.value != local:
            continue
        if isinstance(tree.parent(name), (cst.ImportAlias, cst.AsName)) or \
                not tree.names_variable(name):
            continue
        count += 1
    return count


def rename_call(tree: Any, call: Any, module: str, old: str, new: str) -> list[Edit]:
    """Edits that make `call` call `module.new` instead of `module.old`, without leaving an
    unused import behind: `tenacity.old(...)` -> `tenacity.new(...)`; after `from module import
    old` used only here, the import itself is renamed; otherwise `new` is imported."""
    cst = tree.cst
    func = call.func
    if isinstance(func, cst.Attribute):
        return [Edit(*tree.span(func.attr), new)]
    if not isinstance(func, cst.Name):
        return []
    found = _import_alias(tree, module, old, func.value)
    have = tree.is_imported(module, new)
    last_use = found is not None and uses_of(tree, func.value) == 1
    if last_use and have is None:
        return [Edit(*tree.span(found[1]), new), Edit(*tree.span(func), new)]
    local, edit = tree.add_import(module, new)
    edits = [Edit(*tree.span(func), local)]
    if edit is not None:
        edits.append(edit)
    elif last_use:
        edits.append(_remove_alias(tree, *found))  # `new` is imported already: drop `old`
    return edits


def _remove_alias(tree: Any, statement: Any, alias: Any) -> Edit:
    """An edit removing one name of a `from ... import` (the whole line if it is the only one)."""
    names = list(statement.names)
    at = next(i for i, a in enumerate(names) if a is alias)
    if len(names) == 1:
        line = tree.statement(statement)
        start, end = tree.span(line)
        text = tree.text
        while end < len(text) and text[end] in " \t":
            end += 1
        if text.startswith("\r\n", end):
            end += 2
        elif end < len(text) and text[end] in "\r\n":
            end += 1
        return Edit(start, end, "")
    if at > 0:
        return Edit(tree.span(names[at - 1])[1], tree.span(alias)[1], "")
    return Edit(tree.span(alias)[0], tree.span(names[1])[0], "")


def _import_alias(tree: Any, module: str, name: str, local: str) -> tuple[Any, Any] | None:
    """(the ImportFrom, its alias) binding `local` to `module.name`."""
    cst = tree.cst
    for node in tree.nodes("ImportFrom"):
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            continue
        if tree.dotted(node.module) != module:
            continue
        for alias in node.names:
            bound = alias.asname.name.value if alias.asname is not None and isinstance(
                alias.asname.name, cst.Name) else tree.dotted(alias.name)
            if tree.dotted(alias.name) == name and bound == local:
                return node, alias
    return None


def add_keyword(tree: Any, call: Any, code: str) -> Edit:
    """An edit appending the argument `code` (`stop=stop_after_attempt(5)`) to a call, in the
    call's layout: after a trailing comma on its own line when the arguments are one a line."""
    cst = tree.cst
    text = tree.text
    args = list(call.args)
    opening = text.index("(", tree.span(call.func)[1])
    if not args:
        return Edit.insert(opening + 1, code)
    last = args[-1]
    last_start, last_end = tree.span(last)
    if not isinstance(last.comma, cst.Comma):
        return Edit.insert(last_end, ", " + code)
    comma = text.index(",", last_end)
    before = text.index(",", tree.span(args[-2])[1]) + 1 if len(args) > 1 else opening + 1
    gap = text[before:last_start]
    if "\n" in gap:
        separator = tree.module.default_newline + gap[gap.rindex("\n") + 1:]
    else:
        separator = " "
    return Edit.insert(comma + 1, separator + code + ",")


def remove_argument(tree: Any, call: Any, arg: Any) -> Edit:
    """An edit removing one argument and the comma that goes with it."""
    cst = tree.cst
    args = list(call.args)
    at = next(i for i, a in enumerate(args) if a is arg)
    start, end = tree.span(arg)
    if at > 0:
        # `x, jitter=None` -> `x`: from the end of the previous argument, so that the removed
        # argument's own trailing comma (if any) stays as the new last one's.
        return Edit(tree.span(args[at - 1])[1], end, "")
    if len(args) > 1:
        return Edit(start, tree.span(args[1])[0], "")
    if isinstance(arg.comma, cst.Comma):
        end = tree.text.index(",", end) + 1
    return Edit(start, end, "")


def wrap(tree: Any, node: Any, before: str, after: str = ")") -> Edit:
    """An edit that puts text around an expression, as written in the file."""
    start, end = tree.span(node)
    return Edit(start, end, before + tree.text[start:end] + after)


def fresh_name(tree: Any, scope: Any, *candidates: str) -> str:
    """The first candidate name not used in the scope."""
    cst = tree.cst
    used = {n.value for n in tree.descendants(scope) if isinstance(n, cst.Name)}
    for candidate in candidates:
        if candidate not in used:
            return candidate
    base = candidates[0]
    i = 2
    while f"{base}_{i}" in used:
        i += 1
    return f"{base}_{i}"


# A call that sends SQL, alone on its line up to the string: `op.execute(`, `conn.execute(
# text(`, `migrations.RunSQL(sql=`.
_SQL_CALL = re.compile(r"^(?P<indent>[ \t]*)(?P<call>(?:[A-Za-z_]\w*\.)*(?:execute|RunSQL))\(\s*"
                       r"(?:sql\s*=\s*)?(?:(?:sa|sqlalchemy)\.)?(?:text\(\s*)?$")


def postgres_only_call(call: str, indent: str, sql: str) -> str | None:
    """Lines (each starting with `indent`) that send `sql` with `call` on PostgreSQL only, for
    a project whose migrations also run on SQLite or MySQL, where `SET lock_timeout` is an
    error: an Alembic `op.execute` under a test of the dialect, a Django `RunSQL` as a
    `RunPython` that asks the connection's vendor. None for other calls."""
    module, _, name = call.rpartition(".")
    if name == "execute" and module in ("op", "alembic.op"):
        return (f'{indent}if {module}.get_context().dialect.name == "postgresql":\n'
                f"{indent}    {call}({sql!r})\n")
    if name == "RunSQL" and module == "migrations":
        return (f"{indent}migrations.RunPython(\n"
                f'{indent}    lambda apps, schema_editor: schema_editor.connection.vendor == '
                f'"postgresql"\n'
                f"{indent}    and schema_editor.execute({sql!r}),\n"
                f"{indent}    migrations.RunPython.noop),\n")
    return None


def separate_sql_call_before(text: str, line_start: int, literal_start: int,
                             sql: str, postgres_only: bool = False) -> Edit | None:
    """An edit that sends `sql` with a call of its own on the line before the call whose string
    starts at `literal_start` (its opening quote; `line_start` is the start of that line):
    `op.execute("SET LOCAL lock_timeout = '5s'")` before `op.execute("ALTER TABLE ...")`.
    Two commands in one string fail where the driver prepares the statement (asyncpg:
    "cannot insert multiple commands into a prepared statement"). None unless the call stands
    alone at the start of its line (the string on that line or the next), the only place a new
    line can go without reading the tree.
    Django's RunSQL gets a trailing comma (an item of `operations`). With `postgres_only`, the
    call asks for PostgreSQL first (postgres_only_call), or None when it cannot."""
    found = _SQL_CALL.match(text[line_start:literal_start])
    if found is None and not text[line_start:literal_start].strip() and line_start:
        # `op.execute(` alone on the line above the string (a triple-quoted block below it).
        line_start = text.rfind("\n", 0, line_start - 1) + 1
        found = _SQL_CALL.match(text[line_start:literal_start])
    if found is None:
        return None
    call, sql = found.group("call"), sql.rstrip().rstrip(";")
    if postgres_only:
        lines = postgres_only_call(call, found.group("indent"), sql)
        return Edit.insert(line_start, lines) if lines is not None else None
    comma = "," if call.endswith("RunSQL") else ""
    line = f"{found.group('indent')}{call}({sql!r}){comma}\n"
    return Edit.insert(line_start, line)

