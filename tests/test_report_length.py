"""The full report's length: a rule's explanation once per run, prose wrapped to the terminal;
and the concise report coloured under the same --color rules as the full one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli import COUNTER, ON_PGL101, run

ROOT = Path(__file__).resolve().parent.parent


def help_blocks(report: str) -> list[list[str]]:
    """Each finding's help: its `= help:` line and the continuation lines under it."""
    blocks, lines = [], report.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  = help: "):
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith(" " * 10) or more.startswith("  = "):
                    break
                block.append(more)
            blocks.append(block)
    return blocks


@pytest.fixture
def counters(tmp_path: Path) -> Path:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.sql").write_text(COUNTER, encoding="utf-8")
    # PGL101 (which COUNTER trips) is off by default: the project turns it on.
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    return tmp_path


def test_a_rules_explanation_is_shown_once_then_one_line_per_finding(counters):
    result = run("check", "--no-cache", ".", cwd=counters, env={"COLUMNS": "100"})
    assert result.returncode == 1, result.stderr
    blocks = help_blocks(result.stdout)
    assert len(blocks) == 3
    assert len(blocks[0]) > 1  # the whole explanation, at the rule's first finding
    assert [len(b) for b in blocks[1:]] == [1, 1]
    # The one line starts as the explanation does.
    first_words = blocks[0][0][:40]
    assert all(b[0].startswith(first_words) for b in blocks[1:])


@pytest.mark.parametrize("columns", [60, 140])
def test_help_is_wrapped_to_the_terminal_width(counters, columns):
    result = run("check", "--no-cache", ".", cwd=counters, env={"COLUMNS": str(columns)})
    lines = [line for block in help_blocks(result.stdout) for line in block]
    assert lines and all(len(line) <= columns for line in lines), lines
    # The width is the terminal's, not a fixed one: a wide terminal gets long lines.
    assert max(len(line) for line in lines) > columns - 15


def test_the_example_shop_report_is_shorter(tmp_path):
    """Each rule's paragraph is printed once: the report of fixtures/shop repeats none."""
    result = run("check", "--no-cache", "fixtures/shop", cwd=ROOT, env={"COLUMNS": "100"})
    codes = re.findall(r"^\S+:\d+:\d+: (PGL\d+) ", result.stdout, re.MULTILINE)
    long_blocks = [b for b in help_blocks(result.stdout) if len(b) > 1]
    assert len(long_blocks) <= len(set(codes)) < len(codes)


@pytest.mark.parametrize("args,env,colored", [
    (("--color", "always"), {}, True),
    ((), {"FORCE_COLOR": "1"}, True),
    ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    (("--color", "never"), {"FORCE_COLOR": "1"}, False),
    ((), {}, False),  # piped
])
def test_the_concise_report_is_coloured_like_the_full_one(counters, args, env, colored):
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run(
        [sys.executable, "-m", "pglint", "check", "--no-cache", "--output-format", "concise",
         *args, "."], cwd=counters, capture_output=True, text=True, env={**base, **env},
        timeout=60)
    assert result.returncode == 1, result.stderr
    assert ("\x1b[" in result.stdout) is colored
    plain = run("check", "--no-cache", "--output-format", "concise", ".", cwd=counters)
    assert re.sub(r"\x1b\[[0-9;]*m", "", result.stdout) == plain.stdout


def test_the_readme_samples_of_the_full_report_are_real():
    """The two findings the README shows are what `pglint check fixtures/shop` prints at 100
    columns, line for line."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sample output", 1)[1].split("`--output-format concise`", 1)[0]
    samples = re.findall(r"```text\n(.*?)```", section, re.DOTALL)
    result = run("check", "--no-cache", "fixtures/shop", cwd=ROOT, env={"COLUMNS": "100"})
    assert len(samples) == 2
    for sample in samples:
        assert sample in result.stdout
