"""Text from linted files in the human-readable formats: control characters (terminal escape
sequences, C1 controls), Unicode bidirectional controls (Trojan Source) and Markdown or HTML
syntax in identifiers and file names reach no terminal, job log or review comment as they
are, and never break a format's structure (one line per finding, one table row per finding,
one workflow command per annotation)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

# A quoted identifier holding a right-to-left override, a pop, an isolate, a terminal escape
# sequence (clear the screen), an OSC title change ended by BEL, a C1 CSI and DEL.
IDENTIFIER = "visit\u202ecounters\u202c\u2066x\u2069\x1b[2J\x1b]0;owned\x07\x9b31m\x7f"
HOT = f'UPDATE "{IDENTIFIER}" SET count = count + 1 WHERE page_id = \'/home\';\n'
# Markdown and HTML in an identifier (PostgreSQL keeps 63 bytes of it): a backtick that ends
# the message's code span early, an image that would load a tracking pixel, a link, a tag, a
# line break that would start a new table row, and pipes.
MARKUP = 'a`![x](https://t/p)[a](javascript:x)<img src=x>\n|-|b|c'

MARKUP_SQL = f'UPDATE "{MARKUP}" SET n = n + 1 WHERE id = 1;\n'
# A file name with an escape sequence and a bidirectional override; its content does not parse.
ODD_NAME = "we\u202eird\x1b[31m.sql"
# An unused suppression (PGL902, a safe fix shown as a diff) after a comment holding a fence:
# the diff's context line " ```" would close a code block fenced with three backticks.
FENCED = "/*\n```\n*/ SELECT 1; -- pglint: ignore[PGL101]\n"
# What must not reach the output as it is.
RAW = ("\x1b", "\x07", "\x9b", "\x7f", "\u202e", "\u202c", "\u2066", "\u2069")
# PGL101 (which HOT and MARKUP_SQL trip, and whose suppression in FENCED is then unused) is
# off by default: the project turns it on.
# ... and its syntax errors sit in application SQL, reported when PGL901 is chosen.
ON_PGL101 = 'extend-select = ["PGL101", "PGL901"]\n'


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pglint", "check", "--no-cache", *args, "."],
                          cwd=cwd, capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=120)


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the repository root: paths are shown from here
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    queries = tmp_path / "queries"
    queries.mkdir()
    (queries / "hits.sql").write_text(HOT, encoding="utf-8")
    (queries / "markup.sql").write_text(MARKUP_SQL, encoding="utf-8")
    (queries / ODD_NAME).write_text("SELEC 1;\n", encoding="utf-8")
    (queries / "fenced.sql").write_text(FENCED, encoding="utf-8")
    return tmp_path


def assert_no_raw_controls(text: str) -> None:
    for raw in RAW:
        assert raw not in text, (raw, text)


FINDINGS = 4  # PGL101 twice, PGL901 and PGL902


@pytest.mark.parametrize("args", [(), ("--color", "always")], ids=["plain", "color"])
def test_full_format_shows_controls_and_bidi_characters(hostile, args):
    result = run(*args, cwd=hostile)
    assert result.returncode == 1, result.stderr
    # In colour, the report's own styles are the only escape sequences (SGR: ESC [ ... m).
    assert_no_raw_controls(re.sub(r"\x1b\[[0-9;]*m", "", result.stdout))
    assert "queries/we\ufffdird\u241b[31m.sql:1:1: " in result.stdout
    if not args:
        # Each character is shown as one: the caret line stays under the statement.
        lines = result.stdout.splitlines()
        frame = next(i for i, line in enumerate(lines) if line.startswith("1 | UPDATE \"visit"))
        assert lines[frame + 1] == "  | " + "^" * (len(HOT) - 2)
        shown = "visit\ufffdcounters\ufffd\ufffdx\ufffd\u241b[2J\u241b]0;owned\u2407\ufffd31m\u2421"
        assert shown in lines[frame]
        # A message naming an identifier with a line break stays on its finding's first line.
        header = next(line for line in lines if line.startswith("queries/markup.sql:1:1: "))
        assert "<img src=x>\u240a|-|b|c" in header


def test_concise_format_is_one_line_per_finding(hostile):
    result = run("--output-format", "concise", cwd=hostile)
    assert result.returncode == 1, result.stderr
    assert_no_raw_controls(result.stdout)
    lines = result.stdout.splitlines()
    findings = [line for line in lines if line.startswith("queries/")]
    assert len(findings) == FINDINGS, lines
    assert lines[FINDINGS:] == ["Found 4 findings in 4 files.", "[*] 1 fixable with `--fix`."]
    assert "queries/we\ufffdird\u241b[31m.sql:1:1: PGL901" in result.stdout


def test_github_annotations_are_one_command_each_without_controls(hostile):
    result = run("--output-format", "github", cwd=hostile)
    assert result.returncode == 1, result.stderr
    assert_no_raw_controls(result.stdout)
    lines = result.stdout.splitlines()
    assert len(lines) == FINDINGS and all(line.startswith("::") for line in lines), lines
    markup = next(line for line in lines if "file=queries/markup.sql," in line)
    # The line break of the identifier is the runner's %0A, inside the one command.
    assert "<img src=x>%0A|-|b|c" in markup
    odd = next(line for line in lines if "title=PGL901" in line)
    assert odd.startswith("::error file=queries/we\ufffdird\u241b[31m.sql,line=1,")


def rendered(markdown: str) -> str:
    """The Markdown as HTML, raw HTML allowed through as GitHub's renderer allows it (then
    sanitizes it: what matters is what reaches the sanitizer)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def test_markdown_table_and_details_hold_whatever_the_files_hold(hostile):
    result = run("--output-format", "markdown", cwd=hostile)
    assert result.returncode == 1, result.stderr
    text = result.stdout
    assert_no_raw_controls(text)
    html = rendered(text)
    # One row per finding: the identifier's line break and pipes start no row of their own.
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("<tr>")[1:]
    assert len(rows) == FINDINGS, body
    assert all(row.count("<td>") == 3 for row in rows), rows
    # No element, image or link planted by a file.
    for planted in ("<img", "<a ", "href="):
        assert planted not in html, planted
    assert "&lt;img src=x&gt;" in html and "(https://t/p)" in html  # shown, as text
    # The fence of the fix's diff is not closed by the file's own ``` line.
    assert html.count("<details>") == text.count("<details>") == 3
    fenced = html.split("fenced.sql")[-1]
    assert "<pre><code class=\"language-diff\">" in fenced
    code = fenced.split("<pre><code class=\"language-diff\">")[1].split("</code></pre>")[0]
    assert "\n ```\n" in code and "-*/ SELECT 1; -- pglint: ignore[PGL101]" in code


def test_junit_shows_bidirectional_characters(hostile):
    result = run("--output-format", "junit", cwd=hostile)
    assert result.returncode == 1, result.stderr
    root = ET.fromstring(result.stdout)
    texts = [t for e in root.iter() for t in (*e.attrib.values(), e.text or "")]
    assert_no_raw_controls("".join(texts))
    assert any("visit\ufffdcounters" in t for t in texts)


def test_paths_in_messages_on_stderr_are_shown(hostile):
    # A file --fix cannot write (read-only): its name is printed on stderr.
    odd = hostile / "queries" / ODD_NAME
    odd.write_text(FENCED, encoding="utf-8")
    odd.chmod(0o444)
    result = run("--fix", cwd=hostile)
    assert result.returncode == 2, result.stdout + result.stderr
    assert_no_raw_controls(result.stderr)
    assert "pglint: queries/we\ufffdird\u241b[31m.sql: not fixed: " in result.stderr
