"""The sqlfluff plugin (pglint.sqlfluff_plugin) inside the real `sqlfluff lint`, found through
its `sqlfluff` entry point; and pglint's own runs never importing sqlfluff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
FUNCTION = """\
CREATE FUNCTION hit() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';
END $$;
"""
# PGL101 (which COUNTER trips) is off by default: the projects turn it on, as a user would in
# the pglint.toml that the plugin reads.
ON_PGL101 = 'extend-select = ["PGL101"]\n'


def sqlfluff(*args: str, cwd: Path) -> list[dict]:
    """`sqlfluff lint --dialect postgres ARGS --format json`: the violations of every file."""
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", "--dialect", "postgres", "--format", "json",
         *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode in (0, 1), result.stderr
    return [v for file in json.loads(result.stdout) for v in file["violations"]]


def pglint_messages(path: Path, code: str) -> list[str]:
    from pglint.config import parse_settings
    from pglint.engine import lint

    settings = parse_settings({"extend-select": [code]}).with_overrides(root=path.parent.parent)
    found = lint([path], settings).findings
    return [f.message for f in found if f.code == code]


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project that turns PGL101 on."""
    write(tmp_path, "pglint.toml", ON_PGL101)
    return tmp_path


def test_finding_at_line_1_with_pglints_message(project):
    path = write(project, "queries/hits.sql", COUNTER)
    violations = sqlfluff("--rules", "PGL101", "queries/hits.sql", cwd=project)
    assert [(v["code"], v["name"], v["start_line_no"], v["start_line_pos"])
            for v in violations] == [("PGL101", "pglint.hot_counter_update", 1, 1)]
    assert violations[0]["description"] == pglint_messages(path, "PGL101")[0]
    assert "visit_counters" in violations[0]["description"]


def test_rule_selected_by_name_and_group(project):
    write(project, "queries/hits.sql", COUNTER)
    for rules in ("pglint.hot_counter_update", "pglint"):
        violations = sqlfluff("--rules", rules, "queries/hits.sql", cwd=project)
        assert [v["code"] for v in violations] == ["PGL101"], rules


def test_clean_file_gives_no_finding(project):
    write(project, "queries/read.sql",
          "SELECT count FROM visit_counters WHERE page_id = '/home';\n")
    assert sqlfluff("--rules", "pglint", "queries/read.sql", cwd=project) == []


def test_file_kind_from_the_path(project):
    # The same statement in a migration runs once: PGL101 judges run-time SQL only.
    write(project, "migrations/V2__bump.sql", COUNTER)
    assert sqlfluff("--rules", "PGL101", "migrations/V2__bump.sql", cwd=project) == []


def test_finding_inside_a_function_body_is_placed_exactly(project):
    # The dollar-quoted body is one sqlfluff token; the finding points inside it.
    write(project, "queries/hit.sql", FUNCTION)
    violations = sqlfluff("--rules", "PGL101", "queries/hit.sql", cwd=project)
    assert [(v["start_line_no"], v["start_line_pos"]) for v in violations] == [(3, 3)]


def test_noqa_and_parallel_workers(project):
    write(project, "queries/a.sql", COUNTER)
    write(project, "queries/b.sql", COUNTER.rstrip("\n") + "  -- noqa: PGL101\n")
    write(project, "queries/c.sql", COUNTER)
    # -p 2 sends results from worker processes: the rule classes must pickle.
    violations = sqlfluff("-p", "2", "--rules", "PGL101", "queries", cwd=project)
    assert sorted(v["code"] for v in violations) == ["PGL101", "PGL101"]


def test_one_rule_per_pglint_sql_rule_and_one_lint_per_file(project, monkeypatch):
    pytest.importorskip("sqlfluff")
    import sqlfluff as sqlfluff_api

    from pglint import sqlfluff_plugin
    from pglint.registry import all_rules

    rules = sqlfluff_plugin.get_rules()
    assert [r.code for r in rules] == [r.code for r in all_rules() if not r.code.startswith("PGL9")]
    assert all(r.name.startswith("pglint.") and "-" not in r.name for r in rules)

    calls = []
    real = sqlfluff_plugin._lint_text
    monkeypatch.setattr(sqlfluff_plugin, "_lint_text",
                        lambda text, path: calls.append(path) or real(text, path))
    sqlfluff_plugin._memo.clear()
    # Text without a path is linted with the settings found from the working directory.
    monkeypatch.chdir(project)
    found = sqlfluff_api.lint("UPDATE page_counters SET n = n + 1 WHERE id = 7;\n",
                              dialect="postgres", rules=["pglint"])
    assert [v["code"] for v in found] == ["PGL101"]
    assert len(calls) == 1  # 23 rules, one pglint run


# Prints the sqlfluff modules loaded, when the program ends (`check` leaves through os._exit).
REPORT = """
import os, sys
def report():
    print("LOADED:", sorted(m for m in sys.modules if m.split(".")[0] == "sqlfluff"
                            or m == "pglint.sqlfluff_plugin"), "engine" if "pglint.engine"
          in sys.modules else "", flush=True)
real_exit = os._exit
os._exit = lambda status: (report(), real_exit(status))
"""


@pytest.mark.parametrize("code", [
    "import pglint.cli; report()",
    "sys.argv = ['pglint', 'check', '--no-cache', 'queries']; import pglint.cli; pglint.cli.main()",
])
def test_pglint_never_imports_sqlfluff(project, code):
    write(project, "queries/hits.sql", COUNTER)
    result = subprocess.run([sys.executable, "-c", REPORT + code], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert "LOADED: [] " in result.stdout, result.stdout + result.stderr
    if "check" in code:
        assert "PGL101" in result.stdout and "LOADED: [] engine" in result.stdout
