"""What PGL401 reads in Python load tests (Locust files and the like): which file is a load test,
the uniform key draws (`random.randint`, `random.choice(range(...))`, ...), the calls a drawn key
reaches (an HTTP request, an SQL query, an ORM lookup) and where it lands there, and the fix that
draws keys from a Pareto distribution instead."""

from __future__ import annotations

import ast
import re
from typing import Any

from pglint.context import FileContext
from pglint.finding import Applicability, Edit, Fix
from pglint.kit.connections import string_tokens
from pglint.python.pyfile import PythonFile, dotted

PARETO_ALPHA = "1.2"  # close to the 80/20 rule (alpha = log4(5) = 1.16)
HELPER = "pareto_key"
# Uniform integer draws: (how the upper bound counts, how many positional bounds it takes).
UNIFORM_DRAWS = {
    "random.randint": "inclusive", "random.randrange": "exclusive", "random.choice": "range",
    "numpy.random.randint": "exclusive",
}
LOCUST_BASES = frozenset({
    "locust.HttpUser", "locust.User", "locust.FastHttpUser", "locust.TaskSet",
    "locust.SequentialTaskSet", "locust.contrib.fasthttp.FastHttpUser",
})
_LOAD_TEST_FILES = ("locustfile*.py", "*load*test*.py", "bench*.py")
_HTTP_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
_HTTP_MODULES = ("requests.", "httpx.", "aiohttp.")
_SQL_METHODS = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})
_ORM_LOOKUPS = frozenset({"get", "filter", "exclude", "get_or_create", "update_or_create"})
# Converters a key passes through on its way into a URL or a parameter.
_WRAPPERS = frozenset({"str", "int", "repr", "format", "urllib.parse.quote",
                       "urllib.parse.urlencode"})
_PY_KEY = re.compile(r"(?:^|_)(?:id|key|pk|sku|uuid)$|[a-z0-9]Id$|^[a-z]?id$", re.IGNORECASE)


def named_like_a_load_test(path: str) -> bool:
    from fnmatch import fnmatch
    from pathlib import PurePath

    name = PurePath(path).name.lower()
    return any(fnmatch(name, pattern) for pattern in _LOAD_TEST_FILES)


def is_load_test(ctx: FileContext, code: PythonFile, node: ast.AST) -> bool:
    if named_like_a_load_test(ctx.file.display_path):
        return True
    if any(full == "locust" or full.startswith("locust.") for full in code.import_names.values()):
        return True  # a locustfile, whatever its name
    for cls in code.ancestors(node):
        if isinstance(cls, ast.ClassDef) and any(
                code.qualified(base) in LOCUST_BASES for base in cls.bases):
            return True
    return False


class Destination:
    """Where a drawn value ends up inside a string or a mapping on its way to a call."""

    def __init__(self) -> None:
        self.place: str | None = None  # "path", "query" or "field"
        self.name = ""  # the query parameter or mapping key
        self.var = ""  # a variable named like a key that held it

    def is_key(self) -> bool:
        return bool(_PY_KEY.search(self.name) or _PY_KEY.search(self.var))

    def note_string(self, before: str) -> None:
        if self.place is not None:
            return
        if "?" in before:
            self.place = "query"
            self.name = re.split(r"[?&]", before)[-1].split("=")[0]
        else:
            self.place = "path"

    def note_key(self, key: Any) -> None:
        if self.place is None and isinstance(key, str):
            self.place, self.name = "field", key

    def copy(self) -> Destination:
        other = Destination()
        other.place, other.name, other.var = self.place, self.name, self.var
        return other


def _string_before(code: PythonFile, container: ast.AST, child: ast.AST) -> str | None:
    """The literal text of a string-building expression before `child` (f-string, `+`, `%`,
    `.format`), or None when it is not a string being built."""
    if isinstance(container, ast.JoinedStr):
        text = []
        for part in container.values:
            if part is child:
                break
            text.append(part.value if isinstance(part, ast.Constant) else "{}")
        return "".join(text)
    if isinstance(container, ast.BinOp):
        left = container.left
        if isinstance(container.op, ast.Add) and container.right is child:
            value = _plain(code, left)
            return value if value is not None else ""
        if isinstance(container.op, ast.Mod) and container.right is child:
            template = _plain(code, left) or ""
            return template.split("%", 1)[0] if "?" not in template else template
        return ""
    return None


def _plain(code: PythonFile, node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        if _concatenated(code, node):
            return None  # `"a" f"{b}"` is not read
        return "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return (_plain(code, node.left) or "") + (_plain(code, node.right) or "")
    return None


def _concatenated(code: PythonFile, node: ast.JoinedStr) -> bool:
    """An f-string implicitly concatenated with other strings (`"a" f"{b}"`)."""
    return len(string_tokens(code, node)) > 1


def _in_file_order(nodes: list[Any]) -> list[Any]:
    """Nodes by where they start (ast's walk visits a dict's keys before its values, a
    function's decorators after its body)."""
    return sorted(nodes, key=lambda node: (node.lineno, node.col_offset))


def _argument(code: PythonFile, node: ast.AST, parent: ast.AST) -> tuple[Any, Any]:
    """(the call, the argument: a positional value, a `*x` or a keyword) when `node` is
    passed to a call (not its callee), else (None, None)."""
    if isinstance(parent, ast.keyword):
        return code.parent(parent), parent
    if isinstance(parent, ast.Starred):
        above = code.parent(parent)
        if isinstance(above, ast.Call) and any(a is parent for a in above.args):
            return above, parent
        return None, None
    if isinstance(parent, ast.Call) and node is not parent.func:
        return parent, node
    return None, None


def key_sinks(code: PythonFile, expr: ast.AST, where: Destination, depth: int = 0
              ) -> list[tuple[str, ast.Call, Destination]]:
    """The calls a drawn value feeds: (kind, call, where) with kind "url", "params", "sql" or
    "orm", following it through string building, containers, converters, variables of the same
    function and the return value of a helper function."""
    node = expr
    while True:
        parent = code.parent(node)
        if parent is None:
            return []
        if isinstance(parent, ast.FormattedValue):
            node = parent
            continue
        if isinstance(parent, ast.JoinedStr) and _concatenated(code, parent):
            return []  # `"a" f"{key}"` is not followed
        before = _string_before(code, parent, node)
        if before is not None:
            where.note_string(before)
            node = parent
            continue
        if isinstance(parent, ast.Dict):
            item = next(((key,) for key, value in zip(parent.keys, parent.values)
                         if value is node), None)
            if item is None or item[0] is None:
                return []  # a key, or `**x`
            where.note_key(_plain(code, item[0]))
            node = parent
            continue
        if isinstance(parent, (ast.Tuple, ast.List, ast.Set)):
            node = parent
            continue
        call, arg = _argument(code, node, parent)
        if call is not None:
            if not isinstance(call, ast.Call):
                return []  # a class's base or keyword
            kind = _consumer(code, call, arg, where)
            if kind is not None:
                return [(kind, call, where)]
            name = code.call_name(call) or ""
            method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
            if method == "format":
                template = _plain(code, call.func.value) or ""  # type: ignore[attr-defined]
                where.note_string(template.split("{", 1)[0] if "?" not in template
                                  else template)
            if name in _WRAPPERS or method in ("format", "join"):
                node = call
                continue
            return []
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
            if depth >= 3:
                return []
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            found = []
            for target in targets:
                if isinstance(target, ast.Name):
                    if _PY_KEY.search(target.id) and not where.var:
                        where.var = target.id
                    for use in _uses(code, target):
                        found.extend(key_sinks(code, use, where.copy(), depth + 1))
            return found
        if isinstance(parent, ast.Return) and depth < 3:
            function = code.enclosing(parent, ast.FunctionDef, ast.AsyncFunctionDef)
            if function is None:
                return []
            found = []
            for call in _in_file_order(code.nodes(ast.Call)):
                callee = dotted(call.func) or ""
                if callee.split(".")[-1] == function.name and callee.count(".") <= 1:
                    found.extend(key_sinks(code, call, where.copy(), depth + 1))
            return found
        return []


def _uses(code: PythonFile, target: ast.Name) -> list[ast.Name]:
    """Later reads of a variable in the same function (or module)."""
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    scope = code.enclosing(target, *functions) or code.module
    uses = []
    for name in code.nodes(ast.Name):
        if name is target or name.id != target.id:
            continue
        above = code.parent(name)
        if isinstance(above, ast.Assign) and any(t is name for t in above.targets):
            continue  # assigned again
        if (code.enclosing(name, *functions) or code.module) is scope:
            uses.append(name)
    return _in_file_order(uses)


def _consumer(code: PythonFile, call: ast.Call, arg: ast.AST, where: Destination) -> str | None:
    """What kind of key a call argument (a positional value, a `*x` or a keyword) is: a request
    URL or query parameter ("url", "params"), an SQL parameter ("sql"), an ORM lookup ("orm");
    None for anything else."""
    if not isinstance(call.func, ast.Attribute):
        return None
    method = call.func.attr
    receiver = code.qualified(call.func.value) or ""
    full = code.call_name(call) or ""
    # In the order written: `**kw` comes after every positional argument.
    positional = [*call.args, *(k for k in call.keywords if k.arg is None)]
    keyword = arg.arg if isinstance(arg, ast.keyword) else None
    is_http = method in _HTTP_VERBS and (
        full.startswith(_HTTP_MODULES) or receiver.split(".")[-1].endswith(("client", "session")))
    if is_http:
        url_at = 1 if method == "request" else 0
        if keyword in ("url", "path") or (keyword is None and len(positional) > url_at
                                          and positional[url_at] is arg):
            if where.place == "query" or where.place == "field":
                return "params" if where.is_key() else None
            return "url"
        if keyword in ("params", "json", "data"):
            return "params" if where.place in ("field", "query") and where.is_key() else None
        return None
    if method in _SQL_METHODS and positional and positional[0] is not arg:
        return "sql"
    if method in _SQL_METHODS and positional and positional[0] is arg and where.place:
        return "sql"  # a key formatted into the SQL text
    if method in _ORM_LOOKUPS and receiver.endswith(".objects") and keyword is not None and \
            _PY_KEY.search(keyword.split("__")[0]):
        where.name = keyword
        return "orm"
    return None


def _bounds(tree: Any, call: Any, style: str) -> tuple[Any, Any, bool] | None:
    """(low, high, high is exclusive) of a draw, or None when it is not a plain integer draw."""
    cst = tree.cst
    args = call.args
    if any(a.star or a.keyword is not None for a in args):
        return None
    values = [a.value for a in args]
    if style == "range":
        if len(values) != 1 or not isinstance(values[0], cst.Call) or \
                tree.call_name(values[0]) != "range":
            return None
        inner = values[0].args
        if any(a.star or a.keyword is not None for a in inner):
            return None
        values = [a.value for a in inner]
        style = "exclusive"
    if len(values) == 1 and style == "exclusive":
        return None, values[0], True
    if len(values) == 2:
        return values[0], values[1], style == "exclusive"
    return None


def _minus_one(tree: Any, node: Any) -> str:
    cst = tree.cst
    if isinstance(node, cst.Integer):
        return str(int(node.value.replace("_", ""), 0) - 1)
    code = tree.code(node).strip()
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.BinaryOperation)):
        return f"{code} - 1"
    return f"({code}) - 1"


def _helper_defined(tree: Any) -> bool | None:
    """True if the module defines the helper, None if the name is taken by something else."""
    cst = tree.cst
    for statement in tree.module.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == HELPER:
            return True
    if re.search(rf"(?<![\w.]){HELPER}\b", tree.text):
        return None
    return False


def _import_block_end(tree: Any) -> int:
    """Where top-level code starts after the leading docstring and imports (file offset)."""
    cst = tree.cst
    after = None
    for statement in tree.module.body:
        if isinstance(statement, cst.SimpleStatementLine) and statement.body and (
                all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)
                or (after is None and len(statement.body) == 1
                    and isinstance(statement.body[0], cst.Expr)
                    and isinstance(statement.body[0].value, (cst.SimpleString,
                                                             cst.ConcatenatedString)))):
            after = statement
        else:
            break
    if after is None:
        return 0
    end = tree.span(after)[1]
    newline = tree.text.find("\n", end)
    return len(tree.text) if newline < 0 else newline + 1


def _unused_import_edit(tree: Any, call: Any, replacement: str | None) -> Edit | None:
    """When the draw is the last use of the name it is called through, the edit that removes
    that import (or replaces its line by `replacement`)."""
    cst = tree.cst
    head = (tree.dotted(call.func) or "").split(".")[0]
    if not head:
        return None
    word = re.compile(rf"(?<![\w.]){re.escape(head)}\b")
    for statement in tree.module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            continue
        node = statement.body[0]
        if not isinstance(node, (cst.Import, cst.ImportFrom)) or isinstance(
                node.names, cst.ImportStar):
            continue
        aliases = [a for a in node.names if (a.evaluated_alias or a.evaluated_name).split(".")[0]
                   == head]
        if not aliases:
            continue
        uses = len(word.findall(tree.text))
        here = len(word.findall(tree.code(call))) + len(word.findall(tree.code(node)))
        if uses != here:
            return None
        if len(node.names) > 1:
            kept = [a for a in node.names if a is not aliases[0]]
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return tree.replace(node, node.with_changes(names=kept))
        start, end = tree.span(statement)
        line_start = tree.text.rfind("\n", 0, start) + 1
        line_end = tree.text.find("\n", end)
        line_end = len(tree.text) if line_end < 0 else line_end + 1
        if tree.text[line_start:start].strip():
            return None
        after = re.match(r"\r?\n", tree.text[line_end:line_end + 2])
        if not replacement and after and (
                line_start == 0 or re.search(r"\n\r?\n\Z", tree.text[:line_start])):
            line_end += after.end()  # the import was a block of its own: drop its blank line too
        newline = tree.module.default_newline
        return Edit(line_start, line_end, replacement + newline if replacement else "")
    return None


def pareto_fix(code: PythonFile, draw: ast.Call, style: str) -> tuple[Fix | None, str]:
    """The unsafe fix replacing a uniform draw by a Pareto draw over the same keys, or None,
    and the Python to show. Built on libcst's tree (the call found at the draw's place)."""
    tree, call = code.fix_tree, code.cst_of(draw)
    bounds = _bounds(tree, call, style) if tree is not None and call is not None else None
    helper = (f"def {HELPER}(low: int, high: int) -> int:\n"
              f"    \"\"\"A key in [low, high], Pareto-distributed: a few low keys take most "
              f"draws.\"\"\"\n"
              f"    return low + int(secrets.SystemRandom().paretovariate({PARETO_ALPHA}) - 1) "
              f"% (high - low + 1)\n")
    if bounds is None:
        return None, helper
    low, high, exclusive = bounds
    low_code = tree.code(low).strip() if low is not None else "0"
    high_code = _minus_one(tree, high) if exclusive else tree.code(high).strip()
    replacement = f"{HELPER}({low_code}, {high_code})"
    defined = _helper_defined(tree)
    if defined is None:
        return None, helper + f"\n# then: {replacement}"
    edits = [tree.replace(call, tree.cst.parse_expression(replacement))]
    if not defined:
        local, import_edit = tree.add_import("secrets")
        newline = tree.module.default_newline  # the file's own line ending (CRLF stays CRLF)
        text = helper.replace("secrets.", f"{local}.").replace("\n", newline)
        removal = _unused_import_edit(tree, call, None)
        if import_edit is not None and removal is not None and \
                removal.start <= import_edit.start <= removal.end:
            # The import would go where the unused one leaves: that line becomes the import.
            # With a blank line after it already, no section break to add.
            plain = _unused_import_edit(tree, call, "import secrets")
            line = "import secrets" if plain is None or tree.text.startswith(
                ("\n", "\r\n"), plain.end) else \
                import_edit.content[:-len(tree.module.default_newline)]
            removal = _unused_import_edit(tree, call, line)
            import_edit = None
        at = _import_block_end(tree)
        # Two blank lines after the helper, counting those already there.
        blank = len(re.match(r"(?:[ \t]*\r?\n){0,2}", tree.text[at:]).group(0).split("\n")) - 1
        text += newline * (2 - blank) if at < len(tree.text) else ""
        # `import secrets` where isort puts it (add_import), unless that is where the helper
        # goes: then one insertion, the import first.
        separate = import_edit is not None and import_edit.start != at
        if separate:
            edits.append(import_edit)
        addition = (f"import secrets{newline}" if import_edit is not None and not separate
                    else "") + newline * 2 + text
        if removal is not None and removal.end == at and removal.content:
            # The replaced import line is the last one: one edit for both.
            removal = Edit(removal.start, removal.end, removal.content + newline * 2 + text)
            addition = ""
        if removal is not None:
            edits.append(removal)
        if addition:
            edits.append(Edit.insert(at, addition))
    else:
        removal = _unused_import_edit(tree, call, None)
        if removal is not None:
            edits.append(removal)
    fix = Fix(f"Draw keys from a Pareto distribution: `{replacement}`", Applicability.UNSAFE,
              tuple(edits), suggestion=helper + f"\n# and: {replacement}",
              isolation="PGL401-python")
    return fix, helper
