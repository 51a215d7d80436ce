"""Machine output formats (SARIF, GitHub annotations, GitLab Code Quality, JUnit), statistics
and per-file ignores, through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pglint.finding import Finding, Severity
from pglint.report import github

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).resolve().parent / "schemas" / "sarif-schema-2.1.0.json"
COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
# An unused suppression (PGL902, safe fix: remove it) after characters outside the BMP: a
# column in characters differs from one in UTF-16 code units or in bytes.
ASTRAL = "SELECT '𝄞𝄞'; -- pglint: ignore[PGL101]\n"
# PGL101 (which COUNTER trips, and whose suppression in ASTRAL is then unused) is off by
# default: the project turns it on.
ON_PGL101 = 'extend-select = ["PGL101"]\n'


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=120)


def validate_sarif(text: str) -> dict:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(text)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return data


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository (a `.git` folder marks its top level) whose project is in `db/`."""
    (tmp_path / ".git").mkdir()
    project = tmp_path / "db"
    (project / "queries").mkdir(parents=True)
    (project / "queries" / "hits.sql").write_text(COUNTER, encoding="utf-8")
    (project / "queries" / "astral.sql").write_text(ASTRAL, encoding="utf-8")
    (project / "queries" / "ok.sql").write_text("SELECT 1;\n", encoding="utf-8")
    (project / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    return tmp_path


def test_sarif_of_the_shop_fixture_is_valid_and_complete():
    result = run("check", "--no-cache", "--output-format", "sarif", "fixtures/shop", cwd=ROOT)
    assert result.returncode == 1, result.stderr
    data = validate_sarif(result.stdout)
    assert data["version"] == "2.1.0" and len(data["runs"]) == 1
    sarif_run = data["runs"][0]
    assert sarif_run["columnKind"] == "unicodeCodePoints"
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "pglint" and driver["version"]
    rules = {r["id"]: r for r in driver["rules"]}
    pgl104 = rules["PGL104"]
    assert pgl104["name"] == "missing-fillfactor"
    assert pgl104["shortDescription"]["text"]
    assert "## Why is this bad?" in pgl104["help"]["markdown"]
    assert pgl104["defaultConfiguration"]["level"] == "warning"
    assert rules["PGL901"]["defaultConfiguration"]["level"] == "error"
    results = sarif_run["results"]
    expected = run("check", "--no-cache", "--output-format", "json", "fixtures/shop", cwd=ROOT)
    assert len(results) == len(json.loads(expected.stdout))
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        location = r["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        assert location["artifactLocation"]["uri"].startswith("fixtures/shop/")
        assert r["partialFingerprints"]["pglint/v1"]
    fillfactor = next(r for r in results if r["ruleId"] == "PGL104")
    replacement = fillfactor["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert "fillfactor" in replacement["insertedContent"]["text"]
    assert fillfactor["fixes"][0]["properties"]["applicability"] == "safe"
    # Display-only fixes are not SARIF fixes (nothing to apply).
    assert not any("fixes" in r for r in results if r["ruleId"] == "PGL101")


def test_sarif_of_a_clean_run_is_valid(repo):
    result = run("check", "--no-cache", "--output-format", "sarif", "queries/ok.sql",
                 cwd=repo / "db")
    assert result.returncode == 0, result.stderr
    data = validate_sarif(result.stdout)
    assert data["runs"][0]["results"] == []
    assert data["runs"][0]["tool"]["driver"]["rules"]  # the rules are described all the same


def test_sarif_paths_are_relative_to_the_git_top_level_and_columns_count_characters(repo):
    result = run("check", "--no-cache", "--output-format", "sarif", "queries", cwd=repo / "db")
    data = validate_sarif(result.stdout)
    base = data["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base == repo.resolve().as_uri() + "/"
    by_rule = {r["ruleId"]: r for r in data["runs"][0]["results"]}
    hits = by_rule["PGL101"]["locations"][0]["physicalLocation"]
    assert hits["artifactLocation"]["uri"] == "db/queries/hits.sql"
    unused = by_rule["PGL902"]
    region = unused["locations"][0]["physicalLocation"]["region"]
    column = ASTRAL.index("pglint") + 1  # characters, not UTF-16 units (2 more) or bytes (6 more)
    assert (region["startLine"], region["startColumn"]) == (1, column)
    # Applying the SARIF replacement as a client would gives what --fix writes.
    change = unused["fixes"][0]["artifactChanges"][0]
    assert change["artifactLocation"]["uri"] == "db/queries/astral.sql"
    (replacement,) = change["replacements"]
    deleted = replacement["deletedRegion"]
    assert deleted["startLine"] == deleted["endLine"] == 1
    line = ASTRAL.splitlines()[0]
    fixed = (line[:deleted["startColumn"] - 1] + replacement["insertedContent"]["text"]
             + line[deleted["endColumn"] - 1:])
    assert run("check", "--no-cache", "--fix", "queries/astral.sql", cwd=repo / "db").returncode == 0
    assert (repo / "db" / "queries" / "astral.sql").read_text(encoding="utf-8") == fixed + "\n"


def test_github_annotations(repo):
    result = run("check", "--no-cache", "--output-format", "github", "queries", cwd=repo / "db")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    hits = next(line for line in lines if "title=PGL101" in line)
    end = len(COUNTER.rstrip(";\n")) + 1
    assert hits.startswith(f"::warning file=db/queries/hits.sql,line=1,col=1,endLine=1,"
                           f"endColumn={end},title=PGL101 hot-counter-update::")
    assert "%3A" not in hits.split("::")[2]  # the message keeps its colons


def test_github_escaping_and_levels():
    finding = Finding("PGL901", "syntax-error", "100% wrong:\r\nhere, there", "a,b:c.sql", 0, 0,
                      Severity.ERROR, row=2, column=3, end_row=4, end_column=1)
    text = github.annotation(finding, "a,b:c%.sql")
    # Multi-line spans: GitHub accepts col/endColumn only when line == endLine.
    assert text == ("::error file=a%2Cb%3Ac%25.sql,line=2,endLine=4,"
                    "title=PGL901 syntax-error::100%25 wrong:%0D%0Ahere, there")
    finding.severity = Severity.INFO
    assert github.annotation(finding, "x.sql").startswith("::notice ")


def test_gitlab_code_quality_fingerprints_survive_unrelated_edits(repo):
    db = repo / "db"
    first = json.loads(run("check", "--no-cache", "--output-format", "gitlab", "queries",
                           cwd=db).stdout)
    issue = next(i for i in first if i["check_name"] == "PGL101")
    assert issue["severity"] == "major"
    assert issue["location"] == {"path": "db/queries/hits.sql", "lines": {"begin": 1, "end": 1}}
    assert issue["description"].startswith("PGL101 ")
    assert len({i["fingerprint"] for i in first}) == len(first)
    hits = db / "queries" / "hits.sql"
    hits.write_text("-- a comment\n\nSELECT 1;\n" + COUNTER, encoding="utf-8")
    moved = json.loads(run("check", "--no-cache", "--output-format", "gitlab", "queries",
                           cwd=db).stdout)
    moved_issue = next(i for i in moved if i["check_name"] == "PGL101")
    assert moved_issue["location"]["lines"]["begin"] == 4
    assert moved_issue["fingerprint"] == issue["fingerprint"]
    # The same statement twice: two distinct fingerprints (occurrence index).
    hits.write_text(COUNTER + COUNTER, encoding="utf-8")
    twice = json.loads(run("check", "--no-cache", "--output-format", "gitlab", "queries",
                           cwd=db).stdout)
    prints = [i["fingerprint"] for i in twice if i["check_name"] == "PGL101"]
    assert len(set(prints)) == 2 and issue["fingerprint"] in prints


def test_junit_report(repo):
    result = run("check", "--no-cache", "--output-format", "junit", "queries", cwd=repo / "db")
    assert result.returncode == 1
    suites = ET.fromstring(result.stdout)
    assert suites.tag == "testsuites" and suites.get("failures") == "2"
    names = sorted(s.get("name") for s in suites.iter("testsuite"))
    assert names == ["db/queries/astral.sql", "db/queries/hits.sql"]
    case = next(c for c in suites.iter("testcase") if c.get("classname") == "db/queries/hits.sql")
    failure = case.find("failure")
    assert failure.get("type") == "PGL101" and failure.get("message")
    assert "db/queries/hits.sql:1:1: PGL101" in failure.text


def test_junit_clean_run_has_one_passing_testcase(repo):
    result = run("check", "--no-cache", "--output-format", "junit", "queries/ok.sql",
                 cwd=repo / "db")
    assert result.returncode == 0
    suites = ET.fromstring(result.stdout)
    cases = list(suites.iter("testcase"))
    assert len(cases) == 1 and not list(cases[0])
    assert suites.get("failures") == "0" and suites.get("tests") == "1"


def test_statistics_and_exit_zero(repo):
    db = repo / "db"
    (db / "queries" / "more.sql").write_text(COUNTER.replace("/home", "/about"), encoding="utf-8")
    stats = run("check", "--no-cache", "--statistics", "queries", cwd=db)
    assert stats.returncode == 1
    assert stats.stdout.splitlines() == ["2\tPGL101\thot-counter-update",
                                         "1\tPGL902\t[*] unused-suppression"]
    data = json.loads(run("check", "--no-cache", "--statistics", "--output-format", "json",
                          "queries", cwd=db).stdout)
    assert data[0] == {"code": "PGL101", "name": "hot-counter-update", "count": 2,
                       "fixable": None}
    assert data[1]["fixable"] == "safe"
    zero = run("check", "--no-cache", "--exit-zero", "queries", cwd=db)
    assert zero.returncode == 0 and "PGL101" in zero.stdout
    bad = run("check", "--no-cache", "--exit-zero", "nope.sql", cwd=db)
    assert bad.returncode == 2  # --exit-zero does not hide errors


def test_per_file_ignores(repo):
    db = repo / "db"
    (db / "pglint.toml").write_text(
        ON_PGL101 + '[per-file-ignores]\n"queries/hits.sql" = ["PGL101"]\n'
        '"astral.sql" = ["PGL9"]\n', encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=db)
    assert result.returncode == 0, result.stdout
    (db / "pglint.toml").write_text(ON_PGL101 + '[per-file-ignores]\n"**/hits.sql" = ["PGL1"]\n',
                                    encoding="utf-8")
    partial = run("check", "--no-cache", "--output-format", "concise", ".", cwd=db)
    assert partial.returncode == 1
    assert "hits.sql" not in partial.stdout and "astral.sql:1:17: PGL902" in partial.stdout
    (db / "pglint.toml").write_text(ON_PGL101 + 'per-file-ignores = ["PGL101"]\n',
                                    encoding="utf-8")
    bad = run("check", "--no-cache", ".", cwd=db)
    assert bad.returncode == 2 and "per-file-ignores" in bad.stderr


def test_markdown_of_the_shop_fixture():
    from pglint.report import markdown

    result = run("check", "--no-cache", "--output-format", "markdown", "fixtures/shop", cwd=ROOT)
    assert result.returncode == 1, result.stderr
    findings = json.loads(run("check", "--no-cache", "--output-format", "json", "fixtures/shop",
                              cwd=ROOT).stdout)
    text = result.stdout
    assert len(text) < markdown.LIMIT
    files = len({f["filename"] for f in findings})
    assert text.startswith(f"### pglint: {len(findings)} findings in {files} files\n")
    assert "fixable with `pglint check --fix`" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(findings)
    # Plain paths relative to the repository root, with the line; no links.
    assert all(row.startswith("| `fixtures/shop/") for row in rows)
    assert "](" not in text and "http" not in text
    assert "| `fixtures/shop/migrations/V30__counters.sql:3` | PGL104 |" in text
    # Every finding has a fix: one collapsed block each, a diff or the suggested SQL.
    assert text.count("<details>") == text.count("</details>") == len(findings)
    assert "```diff\n" in text and "```sql\n" in text and "left out" not in text


def test_markdown_clean_run():
    from pglint.report import markdown

    assert markdown.render([], {}, 3) == ("### pglint: no findings\n\n"
                                          "All checks passed: 3 files linted.\n")


def _synthetic(root: Path, n: int, rules: int, message: str = "") -> list[Finding]:
    from pglint.finding import Fix

    findings = []
    for i in range(n):
        code = f"PGL{100 + i % rules}"
        text = message or (f"`table_{i}` has a problem worth a long sentence of explanation, "
                           f"with a `|` pipe and <angle> brackets ({i})")
        path = str(root / f"db/migrations/V{i}__x.sql")
        findings.append(Finding(code, f"rule-{code.lower()}", text, path, 0, 1,
                                fix=Fix.display("Do it differently", "SELECT 1;\n" * 5),
                                row=i % 50 + 1, column=1, end_row=i % 50 + 1, end_column=2))
    return findings


def test_markdown_of_5000_findings_stays_under_githubs_comment_limit(tmp_path):
    from pglint.report import markdown

    findings = _synthetic(tmp_path, 5000, 7)
    text = markdown.render(findings, {}, 5000, root=str(tmp_path))
    assert len(text) < 60_000 < 65_536
    assert text.startswith("### pglint: 5,000 findings in 5,000 files\n")
    assert "<details>" not in text and "Fix details are left out" in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    more = {line.split(" | ")[1]: int(line.split("and ")[1].split(" more")[0].replace(",", ""))
            for line in text.splitlines() if line.startswith("| | ")}
    assert sorted(more) == [f"PGL{100 + r}" for r in range(7)]  # one "and N more" row per rule
    left_out = sum(more.values())
    assert left_out == 5000 - len(rows) and len(rows) > 100
    assert f"{left_out:,} findings are left out of the table" in text
    # Each rule keeps the same number of rows (its first findings, in file order).
    kept = {code: sum(1 for row in rows if f"| {code} |" in row) for code in more}
    assert len(set(kept.values())) == 1
    assert rows[0].startswith("| `db/migrations/V0__x.sql:1` | PGL100 |")
    assert "`\\|` pipe" in rows[0] and "&lt;angle&gt;" in rows[0]


def test_markdown_drops_fix_details_before_table_rows(tmp_path):
    from pglint.report import markdown

    findings = _synthetic(tmp_path, 400, 3, message="short")
    text = markdown.render(findings, {}, 400, root=str(tmp_path))
    assert len(text) < markdown.LIMIT
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == 400 and "| | " not in text
    shown = text.count("<details>")
    assert 0 < shown < 400
    assert f"Fix details of {400 - shown} findings are left out" in text


def test_every_output_format_is_a_reporter_module():
    """`--output-format` offers the formats of the reporter registry, each one a module with
    `report(run, settings) -> str`; a report of no findings is text too."""
    from pglint.cli import check
    from pglint.report import FORMATS, ReportSettings, RunReport, reporter

    choices = next(p for p in check.params if p.name == "output_format").type.choices
    assert tuple(choices) == tuple(FORMATS)
    empty = RunReport(findings=[], files={}, file_count=2)
    for name in FORMATS:
        text = reporter(name).report(empty, ReportSettings(name))
        assert isinstance(text, str), name
    assert reporter("json", statistics=True).report(empty, ReportSettings("json")) == "[]\n"
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        reporter("xml")


def test_the_full_report_in_colour_is_the_plain_report_styled(tmp_path):
    from pglint.report import ReportSettings, RunReport, reporter
    from pglint.source import SourceFile

    finding = Finding(code="PGL101", name="hot-counter-update", message="a hot row",
                      path="hits.sql", start=0, end=6, severity=Severity.WARNING,
                      row=1, column=1, end_row=1, end_column=7)
    files = {"hits.sql": SourceFile(Path("hits.sql"), COUNTER)}
    run = RunReport([finding], files, file_count=1)
    plain = reporter("full").report(run, ReportSettings("full"))
    styled = reporter("full").report(run, ReportSettings("full", color="standard"))
    assert "\x1b[" in styled and "\x1b[" not in plain
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", styled) == plain
