"""kit.python_edits.separate_sql_call_before: a statement of its own, never a second command in
the same string."""

from __future__ import annotations

import pytest

from pglint.kit.python_edits import separate_sql_call_before

SET = "SET LOCAL lock_timeout = '5s';"


def _apply(text: str, quote: str) -> str | None:
    at = text.index(quote)
    line_start = text.rfind("\n", 0, at) + 1
    edit = separate_sql_call_before(text, line_start, at, SET)
    if edit is None:
        return None
    return text[:edit.start] + edit.content + text[edit.end:]


@pytest.mark.parametrize("before, after", [
    ('    op.execute("ALTER TABLE t ADD c int")\n',
     '    op.execute("SET LOCAL lock_timeout = \'5s\'")\n    op.execute("ALTER TABLE t ADD c int")\n'),
    ('    op.execute(sa.text("ALTER TABLE t ADD c int"))\n',
     '    op.execute("SET LOCAL lock_timeout = \'5s\'")\n'
     '    op.execute(sa.text("ALTER TABLE t ADD c int"))\n'),
    # The call alone on the line above its string (tildes' triple-quoted SQL).
    ('        migrations.RunSQL(\n            "ALTER TABLE t ADD c int"),\n',
     '        migrations.RunSQL("SET LOCAL lock_timeout = \'5s\'"),\n'
     '        migrations.RunSQL(\n            "ALTER TABLE t ADD c int"),\n'),
    ('    op.execute(\n        "ALTER TABLE t ADD c int"\n    )\n',
     '    op.execute("SET LOCAL lock_timeout = \'5s\'")\n'
     '    op.execute(\n        "ALTER TABLE t ADD c int"\n    )\n'),
    ('    x = 1; op.execute(\n        "ALTER TABLE t ADD c int")\n', None),
    ('        migrations.RunSQL("ALTER TABLE t ADD c int"),\n',
     '        migrations.RunSQL("SET LOCAL lock_timeout = \'5s\'"),\n'
     '        migrations.RunSQL("ALTER TABLE t ADD c int"),\n'),
    ('    x = op.execute("ALTER TABLE t ADD c int")\n', None),
    ('    operations = [migrations.RunSQL("ALTER TABLE t ADD c int")]\n', None),
])
def test_a_call_of_its_own_on_the_line_before(before, after):
    text = "def upgrade():\n" + before
    fixed = _apply(text, '"ALTER')
    assert fixed == (None if after is None else "def upgrade():\n" + after)
    if fixed is not None:
        compile(fixed, "m.py", "exec")


def test_a_call_above_a_triple_quoted_string():
    text = 'def upgrade():\n    op.execute(\n        """\n        ALTER TABLE t ADD c int\n        """\n    )\n'
    fixed = _apply(text, '"""')
    assert fixed == text.replace("    op.execute(\n", "    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
                                 "    op.execute(\n", 1)
    compile(fixed, "m.py", "exec")
