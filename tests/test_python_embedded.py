"""SQL in Python application code, linted by the SQL rules where it sits in the .py file."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings

APP = '''# -*- coding: utf-8 -*-
"""Données: ünïcode before the SQL."""


def heartbeat(cur, sid):
    cur.execute("UPDATE user_sessions SET last_seen_at = now() WHERE session_id = %s", (sid,))


def bump(cur):
    cur.execute(
        "UPDATE visit_counters SET count = count + 1 "
        "WHERE page_id = '/home'"
    )


def bump_ignored(cur):
    cur.execute("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/x'")  # pglint: ignore[PGL101]


def dynamic(cur, table):
    cur.execute(f"UPDATE {table} SET count = count + 1 WHERE page_id = '/home'")


def poll(cur):
    cur.execute("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE")
    cur.execute("UPDATE jobs SET status = 'running' WHERE id = %s", (1,))  # the worker takes it
'''
SESSIONS = ("CREATE TABLE user_sessions (\n    session_id text PRIMARY KEY,\n"
            "    last_seen_at timestamptz\n);\n"
            "CREATE TABLE jobs (id bigint PRIMARY KEY, status text NOT NULL);\n"
            "CREATE INDEX jobs_pending ON jobs (id) WHERE status = 'pending';\n")


def _project(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(APP, encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__sessions.sql").write_text(SESSIONS, encoding="utf-8")
    return tmp_path


def _lint(root: Path, select):
    settings = parse_settings({"select": select}).with_overrides(root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors
    return result


def test_findings_in_python_strings_point_into_the_py_file(tmp_path):
    root = _project(tmp_path)
    result = _lint(root, ["PGL101", "PGL902"])
    findings = [(f.path.replace("\\", "/").split("/")[-1], f.row, f.column, f.code)
                for f in result.findings]
    # The implicitly concatenated string starts on line 11, column 10 (after the quote); the
    # suppressed one and the f-string are not reported.
    assert findings == [("db.py", 11, 10, "PGL101")]
    text = (root / "app" / "db.py").read_text(encoding="utf-8")
    finding = result.findings[0]
    assert text[finding.start:].startswith("UPDATE visit_counters")


def test_writes_in_python_are_evidence_for_migrations(tmp_path):
    root = _project(tmp_path)
    [finding] = _lint(root, ["PGL104"]).findings
    assert finding.path.endswith("V1__sessions.sql")
    assert "app/db.py:6" in finding.message.replace("\\", "/")


def test_fixes_in_python_strings_are_applied_only_to_verbatim_sql(tmp_path):
    root = _project(tmp_path)
    result = _lint(root, ["PGL305"])
    [finding] = result.findings
    assert finding.fix is not None and finding.fix.applicable  # a plain literal: editable
    settings = parse_settings({"select": ["PGL305"]}).with_overrides(root=root)
    fixed = engine.lint_and_fix([root], settings, unsafe=True, write=False)
    after = next(new for path, (_, new) in fixed.diffs.items() if path.endswith("db.py"))
    assert 'LIMIT 1 FOR UPDATE SKIP LOCKED")' in after


def test_files_without_database_calls_are_not_parsed(tmp_path, monkeypatch):
    import pglint.python.frontend as frontend

    (tmp_path / "util.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    called = []
    monkeypatch.setattr(frontend, "extract_sql", lambda text, *rest: called.append(text) or [])
    _lint(tmp_path, ["PGL"])
    assert called == []


def test_a_lone_surrogate_in_a_sql_string_skips_that_string_only(tmp_path):
    # `"\ud83d"` is valid Python but no text PostgreSQL could receive; it used to abort the run
    # with a UnicodeEncodeError.
    root = _project(tmp_path)
    surrogate = 'def emoji(cur):\n    cur.execute("SELECT \\ud83d\\ude00 FROM t WHERE id = %s", (1,))\n'
    (root / "app" / "db.py").write_text(APP + "\n\n" + surrogate, encoding="utf-8")
    result = _lint(root, ["PGL101"])
    assert [(Path(f.path).name, f.row, f.code) for f in result.findings] == [("db.py", 11, "PGL101")]


def test_a_function_body_in_a_python_string_with_escapes_is_no_syntax_error(tmp_path):
    # `\\'` in the Python source is `\'` in the SQL Django sends: PostgreSQL's E'' string.
    (tmp_path / "app" / "migrations").mkdir(parents=True)
    (tmp_path / "app" / "migrations" / "0001_f.py").write_text(
        'from django.db import migrations\n\n\n'
        'class Migration(migrations.Migration):\n'
        '    operations = [migrations.RunSQL("""\n'
        'CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$\n'
        'BEGIN\n'
        "  RETURN E'select \\\\'geometry\\\\' AS g';\n"
        'END $$;\n'
        '""")]\n', encoding="utf-8")
    assert _lint(tmp_path, ["PGL901"]).findings == []
    # The same body broken for real, in a .sql file, is reported.
    (tmp_path / "broken.sql").write_text(
        "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1 +;\n"
        "END $$;\n", encoding="utf-8")
    assert [f.code for f in _lint(tmp_path, ["PGL901"]).findings] == ["PGL901"]
