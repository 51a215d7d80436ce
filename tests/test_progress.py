"""Progress: the engine's `progress(done, total)` callback, and the CLI's progress bar, drawn
on stderr only when it is a terminal and the run parses over PROGRESS_MIN_FILES files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pglint import engine
from pglint.cli import PROGRESS_MIN_FILES
from pglint.config import Settings, parse_settings

COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
# PGL101 (which COUNTER trips) is off by default: the projects turn it on, in their
# pglint.toml for the command line and in the settings given to the engine.
ON_PGL101 = 'extend-select = ["PGL101"]\n'


def settings(root: Path) -> Settings:
    return parse_settings({"extend-select": ["PGL101"]}).with_overrides(root=root)


def many_files(root: Path, count: int) -> Path:
    (root / "queries").mkdir(parents=True)
    (root / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    for i in range(count):
        (root / "queries" / f"q{i:04d}.sql").write_text(
            COUNTER if i == 0 else f"SELECT {i};\n", encoding="utf-8")
    return root


def test_callback_counts_every_parsed_file(tmp_path):
    many_files(tmp_path, 5)
    calls: list[tuple[int, int]] = []
    result = engine.lint([tmp_path], settings(tmp_path),
                         progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert [f.code for f in result.findings] == ["PGL101"]


def test_callback_in_a_forked_run_ends_at_the_total(tmp_path, monkeypatch):
    many_files(tmp_path, 40)
    monkeypatch.setattr(engine, "PARALLEL_MIN_CHARS", 0)
    monkeypatch.setenv("PGLINT_JOBS", "2")
    calls: list[tuple[int, int]] = []
    result = engine.lint([tmp_path], settings(tmp_path),
                         progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (40, 40)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert [f.code for f in result.findings] == ["PGL101"]


def test_no_callback_on_a_cache_hit(tmp_path):
    many_files(tmp_path, 3)
    calls: list[tuple[int, int]] = []
    cache = tmp_path / "cache"
    engine.lint([tmp_path], settings(tmp_path), cache)
    engine.lint([tmp_path], settings(tmp_path), cache,
                progress=lambda done, total: calls.append((done, total)))
    assert calls == []


def test_no_progress_output_when_stderr_is_not_a_terminal(tmp_path):
    many_files(tmp_path, PROGRESS_MIN_FILES + 20)
    result = subprocess.run(
        [sys.executable, "-m", "pglint", "check", "--no-cache", "--output-format", "concise",
         "."], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if k != "NO_COLOR"})
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert "Parsing" not in result.stdout and "\x1b[" not in result.stdout
    assert "Found 1 finding in 1 file." in result.stdout


def _on_a_terminal(root: Path, env: dict[str, str]) -> str:
    """Run `pglint check` with stdout and stderr on a pseudo-terminal; what it showed."""
    pty = pytest.importorskip("pty")
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes pglint, and never returns into pytest
        try:
            os.chdir(root)
            os.execve(sys.executable, [sys.executable, "-m", "pglint", "check", "--no-cache",
                                       "--output-format", "concise", "."],
                      {**os.environ, **env})
        finally:
            os._exit(127)
    shown = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.waitpid(pid, 0)
    return shown.decode("utf-8", "replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminals")
def test_progress_bar_on_a_terminal_only_for_many_files(tmp_path):
    many = many_files(tmp_path / "many", PROGRESS_MIN_FILES + 20)
    shown = _on_a_terminal(many, {"TERM": "xterm"})
    assert "Parsing" in shown and f"/{PROGRESS_MIN_FILES + 20}" in shown
    assert "Found 1 finding in 1 file." in shown
    assert "Parsing" not in _on_a_terminal(many, {"TERM": "dumb"})
    few = many_files(tmp_path / "few", 10)
    assert "Parsing" not in _on_a_terminal(few, {"TERM": "xterm"})
