"""A SQL file of more statements than `max-statements` gets one PGL901 finding and is not
analysed: every parsed statement stays in memory for the whole run, so a generated file of a
million statements took gigabytes. The run goes on with the other files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.test_cli import COUNTER, ON_PGL101, run


def inserts(count: int) -> str:
    return "".join(f"INSERT INTO t (id, v) VALUES ({i}, 'x{i}');\n" for i in range(count))


def findings(*args: str, cwd: Path) -> list[dict]:
    result = run("check", "--no-cache", "--output-format", "json", *args, ".", cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_a_file_past_the_statement_limit_gets_one_finding_and_the_run_goes_on(tmp_path):
    # PGL101 (which COUNTER trips) is off by default: the project turns it on.
    (tmp_path / "pglint.toml").write_text(ON_PGL101 + "max-statements = 1000\n", encoding="utf-8")
    (tmp_path / "big.sql").write_text(inserts(2000), encoding="utf-8")
    (tmp_path / "at_limit.sql").write_text(inserts(1000), encoding="utf-8")
    (tmp_path / "hits.sql").write_text(COUNTER, encoding="utf-8")
    found = findings(cwd=tmp_path)
    big = [f for f in found if f["filename"].endswith("big.sql")]
    assert [(f["code"], f["message"]) for f in big] == [
        ("PGL901", "too large to analyse: 2,000 statements, limit 1,000 (`max-statements`)")]
    assert not [f for f in found if f["filename"].endswith("at_limit.sql")]
    assert any(f["code"] == "PGL101" and f["filename"].endswith("hits.sql") for f in found)


def test_semicolons_inside_strings_are_not_statements(tmp_path):
    (tmp_path / "pglint.toml").write_text("max-statements = 1000\n", encoding="utf-8")
    text = "".join(f"SELECT 'a;b;{i}', $$;;$$;\n" for i in range(600))
    (tmp_path / "quoted.sql").write_text(text, encoding="utf-8")
    assert findings(cwd=tmp_path) == []


def test_the_limit_is_checked_when_the_configuration_is_read(tmp_path):
    (tmp_path / "pglint.toml").write_text("max-statements = 0\n", encoding="utf-8")
    (tmp_path / "a.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = run("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2 and "max-statements" in result.stderr, result.stderr


# A script that runs pglint and prints its peak resident memory (its only child: the
# maximum over children is pglint's own).
MEASURE = """
import resource, subprocess, sys
result = subprocess.run([sys.executable, "-m", "pglint", "check", "--no-cache",
                         "--output-format", "concise", "big.sql"], capture_output=True, text=True)
print(result.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(result.stdout)
"""


def test_memory_stays_bounded_on_a_huge_file(tmp_path):
    """250,000 statements with the default limit: counted, not parsed. Parsed, they took
    over 1 GB; counted, a few hundred MB at most."""
    (tmp_path / "big.sql").write_text(inserts(250_000), encoding="utf-8")
    measured = subprocess.run([sys.executable, "-c", MEASURE], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    head, report = measured.stdout.split("\n", 1)
    code, peak_kb = (int(n) for n in head.split())
    assert code == 1 and "too large to analyse: 250,000 statements, limit 100,000" in report
    assert peak_kb < 400_000, f"peak RSS {peak_kb} kB"


def test_copy_data_is_not_counted_as_statements(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101 + "max-statements = 100\n", encoding="utf-8")
    rows = "".join(f"{i}\tsemi; colon;\n" for i in range(300))
    (tmp_path / "dump.sql").write_text(
        f"COPY t (id, note) FROM stdin;\n{rows}\\.\n{COUNTER}", encoding="utf-8")
    assert [f["code"] for f in findings(cwd=tmp_path)] == ["PGL101"]
