"""The Python tree rules see: nodes in file order, spans in file characters, replacements that
keep the layout around them."""

from __future__ import annotations

from libcst.metadata import MetadataWrapper, PositionProvider

from pglint.python.tree import PythonTree

# Fields libcst declares in another order than the code reads (keyword arguments, conditional
# expressions, except handlers, decorators, match guards, positional-only parameters), names
# repeated on one line, non-ASCII text, a byte-order mark and CRLF line ends.
SOURCE = (
    "\ufeff# -*- coding: utf-8 -*-\r\n"
    '"""Ünïcode — before everything."""\r\n'
    "import time\r\n"
    "\r\n"
    "\r\n"
    "@decorate(prec=prec)\r\n"
    "def f(a, /, b, *, c=c if c else d) -> ret:\r\n"
    "    x = g(prec=prec, using=using) if using else prec\r\n"
    "    try:\r\n"
    "        h(x, x, x)\r\n"
    "    except (ValueError, x) as x:\r\n"
    "        time.sleep(x)\r\n"
    "    match x:\r\n"
    "        case Mapping() if x < 2:\r\n"
    "            return x\r\n"
    "    return 'é' + x\r\n"
)


def _positions(tree: PythonTree):
    return MetadataWrapper(tree.module, unsafe_skip_copy=True).resolve(PositionProvider)


def test_nodes_come_in_file_order():
    tree = PythonTree.parse(SOURCE)
    positions = _positions(tree)
    for kind in ("Name", "Call", "Attribute", "Comparison"):
        starts = [(positions[n].start.line, positions[n].start.column) for n in tree.nodes(kind)]
        assert starts == sorted(starts), kind


def test_spans_agree_with_libcst_positions():
    tree = PythonTree.parse(SOURCE)
    positions = _positions(tree)
    by_text = 0
    for kind in ("Name", "Call", "Attribute", "SimpleString", "BinaryOperation", "IfExp", "Tuple"):
        for node in tree.nodes(kind):
            where = positions[node]
            expected = (tree._offset(where.start), tree._offset(where.end))
            code = tree._searchable(node)
            found = tree._by_text(node, code) if code else None
            by_text += found is not None
            assert tree.span(node) == expected, (kind, tree.code(node))
            assert found in (None, expected), (kind, tree.code(node))
            start, end = expected
            # A parenthesized node's position leaves its own parentheses out.
            assert tree.text[start:end] == (code or tree.code(node).strip())
    assert by_text > 20  # most nodes are placed without regenerating the module


def test_positions_within_a_top_level_statement_agree_with_the_whole_module():
    """The fallback when text search cannot place a node: libcst's positions over the node's
    top-level statement alone, shifted to where that statement starts in the file."""
    tree = PythonTree.parse(SOURCE + "\r\n\r\nclass K:  # é\r\n    def m(self):\r\n"
                                     "        return h(x, x, 'ü')\r\n")
    positions = _positions(tree)
    checked = 0
    for kind in ("Name", "Call", "Attribute", "SimpleString", "Return", "Param"):
        for node in tree.nodes(kind):
            where = positions[node]
            assert tree._in_top_statement(node) == (tree._offset(where.start),
                                                    tree._offset(where.end)), tree.code(node)
            checked += 1
    assert checked > 40


def test_replacement_keeps_the_indentation_of_its_block():
    source = "def f():\n    if x:\n        q = g(\n            a=1,\n        )\n"
    tree = PythonTree.parse(source)
    [call] = tree.nodes("Call")
    edit = tree.replace(call, tree.appended(call, tree.keyword("b", tree.cst.Integer("2"))))
    fixed = source[:edit.start] + edit.content + source[edit.end:]
    assert fixed == "def f():\n    if x:\n        q = g(\n            a=1,\n            b=2,\n        )\n"


def test_an_appended_argument_leaves_the_comments_on_their_lines():
    source = ("q = Queue(\n    ctx,  # the context\n    name,  # the queue\n)\n"
              "r = Queue(\n    ctx  # no trailing comma\n)\n"
              "s = {\n    'a': 1,  # one\n}\n")
    tree = PythonTree.parse(source)
    edits = [tree.replace(call, tree.appended(call, tree.keyword("maxsize", tree.cst.Integer("8"))))
             for call in tree.nodes("Call")]
    [mapping] = tree.nodes("Dict")
    element = tree.cst.DictElement(tree.cst.SimpleString("'b'"), tree.cst.Integer("2"))
    edits.append(tree.replace(mapping, tree.appended(mapping, element)))
    for edit in sorted(edits, key=lambda e: -e.start):
        source = source[:edit.start] + edit.content + source[edit.end:]
    assert source == ("q = Queue(\n    ctx,  # the context\n    name,  # the queue\n"
                      "    maxsize=8,\n)\n"
                      "r = Queue(\n    ctx,  # no trailing comma\n    maxsize=8\n)\n"
                      "s = {\n    'a': 1,  # one\n    'b': 2,\n}\n")


def test_imports_resolve_names_and_are_added_once():
    source = '"""Doc."""\nfrom time import sleep as nap\nimport tenacity as t\n\nnap(1)\n'
    tree = PythonTree.parse(source)
    [call] = tree.nodes("Call")
    assert tree.call_name(call) == "time.sleep"
    assert tree.qualified(tree.cst.parse_expression("t.retry")) == "tenacity.retry"
    assert tree.add_import("tenacity") == ("t", None)
    name, edit = tree.add_import("secrets")
    assert name == "secrets"
    fixed = source[:edit.start] + edit.content + source[edit.end:]
    # isort's place: the standard library's `import` lines first, in name order.
    assert fixed == ('"""Doc."""\nimport secrets\nfrom time import sleep as nap\n'
                     "import tenacity as t\n\nnap(1)\n")


def test_a_fix_that_would_drop_a_comment_is_only_shown(tmp_path):
    from pglint import engine
    from pglint.config import parse_settings

    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__keys.sql").write_text(
        "CREATE TABLE invoices (idempotency_key text PRIMARY KEY, amount int);\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "models.py").write_text(
        "from django.db import models\n\n\nclass Invoice(models.Model):\n"
        "    idempotency_key = models.TextField(primary_key=True)\n"
        "    amount = models.IntegerField()\n\n    class Meta:\n        db_table = 'invoices'\n")
    # Long enough that the fix lays the call out one argument per line, dropping the comment.
    views = ("from celery import shared_task\n\nfrom app.models import Invoice\n\n\n"
             "@shared_task(acks_late=True)\ndef record(key, amount_in_cents):\n"
             "    Invoice.objects.create(idempotency_key=key, amount=amount_in_cents,  # cents\n"
             "                           )\n")
    (tmp_path / "app" / "views.py").write_text(views)
    settings = parse_settings({"select": ["PGL201"]}).with_overrides(root=tmp_path)
    [finding] = engine.lint([tmp_path], settings).findings
    assert finding.fix is not None and not finding.fix.applicable
    assert "get_or_create" in finding.fix.suggestion
    # Without the comment, the same fix is applied.
    (tmp_path / "app" / "views.py").write_text(views.replace("  # cents", ""))
    [finding] = engine.lint([tmp_path], settings).findings
    assert finding.fix.applicable


# A loop that drains the queue into PostgreSQL: what makes an unbounded queue PGL306's.
_DRAIN = ("\n\nimport psycopg\n\n\ndef drain(conn: psycopg.Connection):\n    while True:\n"
          "        conn.execute(\"INSERT INTO jobs VALUES (%s)\", (q.get(),))\n")


def test_pathological_nesting_is_skipped_not_fatal(tmp_path):
    # libcst's native parser can crash the process on the first two, which CPython refuses:
    # skipped like unparsable files. libcst's positions recurse past Python's limit on the
    # others, but CPython's tree finds the queue there, and the fix parses only the call.
    from pglint import engine
    from pglint.config import parse_settings

    sources = {
        "parens.py": "x = " + "(" * 1990 + "1," + ")" * 1990 + "\n",
        "minus.py": "x = " + "-" * 20000 + "1\n",
        "lists.py": "import queue\nx = " + "[" * 150 + "]" * 150 + "\nq = queue.Queue()\n" + _DRAIN,
        "sums.py": "import queue\nq = queue.Queue()\nx = " + " + ".join(["a"] * 900) + "\n"
                   + _DRAIN,
        "fine.py": "import queue\nx = " + "[" * 60 + "]" * 60 + "\nq = queue.Queue()\n" + _DRAIN,
    }
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    result = engine.lint([tmp_path], parse_settings({"extend-select": ["PGL306"]})
                         .with_overrides(root=tmp_path))
    assert not result.internal_errors
    assert sorted((f.path.rsplit("/", 1)[-1], f.code, f.fix is not None)
                  for f in result.findings) == [
        ("fine.py", "PGL306", True), ("lists.py", "PGL306", True),
        ("sums.py", "PGL306", True)]


def test_a_python_file_in_its_declared_encoding_is_linted_and_fixed_in_it(tmp_path):
    from pglint import engine
    from pglint.config import parse_settings

    path = tmp_path / "worker.py"
    source = ("# -*- coding: latin-1 -*-\n# Files d'attente: \xe9t\xe9\nimport queue\n\n"
              "q = queue.Queue()\n" + _DRAIN)
    path.write_bytes(source.encode("latin-1"))
    settings = parse_settings({"select": ["PGL306"]}).with_overrides(root=tmp_path)
    [finding] = engine.lint([tmp_path], settings).findings
    assert (finding.code, finding.row) == ("PGL306", 5)
    engine.lint_and_fix([tmp_path], settings, unsafe=True, write=True)
    assert path.read_bytes() == source.replace("Queue()", "Queue(maxsize=1000)").encode("latin-1")
