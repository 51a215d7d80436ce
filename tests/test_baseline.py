"""Baselines: `pglint baseline` records today's findings; `pglint check --baseline` reports
only new ones, and edits elsewhere in a file do not bring the old ones back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
OTHER = "UPDATE page_stats SET hits = hits + 1 WHERE page_id = '/about';\n"
UNUSED = "-- pglint: ignore[PGL101]\nCREATE TABLE t (id int);\n"  # PGL902, safe fix
# PGL101 (which COUNTER trips) is off by default: the project turns it on, and with it
# UNUSED's suppression of PGL101 is reported as unused.
ON_PGL101 = 'extend-select = ["PGL101"]\n'


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "queries").mkdir()
    (tmp_path / "migrations").mkdir()
    (tmp_path / "queries" / "hits.sql").write_text(COUNTER, encoding="utf-8")
    (tmp_path / "migrations" / "V1__init.sql").write_text(UNUSED, encoding="utf-8")
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    return tmp_path


def write_baseline(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    result = run("baseline", "--no-cache", *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def test_baseline_file_and_a_clean_check(legacy):
    result = write_baseline(legacy)
    assert "Wrote 2 findings from 2 files to pglint-baseline.json." in result.stdout
    data = json.loads((legacy / "pglint-baseline.json").read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert [(e["code"], e["path"]) for e in data["findings"]] == [
        ("PGL902", "migrations/V1__init.sql"), ("PGL101", "queries/hits.sql")]
    assert all("line" not in e and e["fingerprint"] for e in data["findings"])
    check = run("check", "--no-cache", "--baseline", "pglint-baseline.json", cwd=legacy)
    assert check.returncode == 0, check.stdout
    assert "All checks passed" in check.stdout
    assert "2 baselined findings not shown" in check.stdout
    concise = run("check", "--no-cache", "--output-format", "concise", "--baseline",
                  "pglint-baseline.json", cwd=legacy)
    assert concise.returncode == 0 and "2 baselined findings" in concise.stdout
    assert run("check", "--no-cache", cwd=legacy).returncode == 1  # without it: all findings


def test_edits_elsewhere_keep_findings_baselined_and_new_ones_are_reported(legacy):
    write_baseline(legacy, "--output", "base.json")
    hits = legacy / "queries" / "hits.sql"
    hits.write_text("-- hit counters\n\nSELECT 1;\n\n" + COUNTER + OTHER, encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "json", "--baseline", "base.json",
                 cwd=legacy)
    assert result.returncode == 1
    new = json.loads(result.stdout)
    assert [(f["code"], f["location"]["row"]) for f in new] == [("PGL101", 6)]
    assert "page_stats" in new[0]["message"]
    # A second copy of a baselined statement is new: the baseline counts occurrences.
    hits.write_text(COUNTER + COUNTER, encoding="utf-8")
    twice = run("check", "--no-cache", "--output-format", "json", "--baseline", "base.json",
                cwd=legacy)
    assert len(json.loads(twice.stdout)) == 1
    # Changing the flagged line itself makes it a new finding.
    hits.write_text(COUNTER.replace("count + 1", "count + 2"), encoding="utf-8")
    changed = run("check", "--no-cache", "--output-format", "concise", "--baseline", "base.json",
                  cwd=legacy)
    assert changed.returncode == 1 and "queries/hits.sql:1:1: PGL101" in changed.stdout


def test_baseline_keys_do_not_depend_on_the_working_directory(legacy):
    write_baseline(legacy, "--output", "base.json")
    result = run("check", "--no-cache", "--baseline", "../base.json", ".", cwd=legacy / "queries")
    assert result.returncode == 0, result.stdout
    assert "1 baselined finding not shown" in result.stdout


def test_fix_with_a_baseline_leaves_baselined_findings_alone(legacy):
    write_baseline(legacy, "--output", "base.json")
    (legacy / "migrations" / "V2__more.sql").write_text(UNUSED, encoding="utf-8")
    result = run("check", "--no-cache", "--fix", "--baseline", "base.json", cwd=legacy)
    assert result.returncode == 0, result.stdout
    assert (legacy / "migrations" / "V2__more.sql").read_text(encoding="utf-8") == \
        "CREATE TABLE t (id int);\n"
    assert (legacy / "migrations" / "V1__init.sql").read_text(encoding="utf-8") == UNUSED


def test_sarif_with_a_baseline_counts_the_baselined(legacy):
    write_baseline(legacy, "--output", "base.json")
    result = run("check", "--no-cache", "--output-format", "sarif", "--baseline", "base.json",
                 cwd=legacy)
    assert result.returncode == 0
    sarif_run = json.loads(result.stdout)["runs"][0]
    assert sarif_run["results"] == [] and sarif_run["properties"]["baselined"] == 2


@pytest.mark.parametrize("content, message", [
    (None, "baseline file not found"),
    ("{not json", "invalid baseline file"),
    ('{"version": 1, "findings": [{"code": "PGL101"}]}', "invalid baseline file"),
    ('{"version": 99, "findings": []}', "unsupported version"),
])
def test_missing_or_invalid_baseline_is_exit_2(legacy, content, message):
    if content is not None:
        (legacy / "base.json").write_text(content, encoding="utf-8")
    result = run("check", "--no-cache", "--baseline", "base.json", cwd=legacy)
    assert result.returncode == 2
    assert result.stderr.startswith("pglint: error: ") and message in result.stderr
    assert result.stdout == ""


def test_baseline_of_a_missing_path_writes_nothing(legacy):
    result = run("baseline", "--no-cache", "nope.sql", cwd=legacy)
    assert result.returncode == 2 and "nope.sql" in result.stderr
    assert not (legacy / "pglint-baseline.json").exists()
