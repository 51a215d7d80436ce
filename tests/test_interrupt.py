"""A signal during `--fix` (Ctrl-C, `kill`) removes the temporary file being written and exits
128 + the signal's number; every file is left either as it was or fully fixed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

FILES = 1500
# The project migrates a live database (it bounds its lock waits): PGL301's evidence.
CREATE = "SET lock_timeout = '5s';\nCREATE TABLE orders (id bigint PRIMARY KEY);\n"


def alter(i: int) -> str:
    return f"ALTER TABLE orders ADD COLUMN c{i} text;\n"


def corpus(root: Path) -> list[Path]:
    """A table altered by many migrations, each fixed by PGL301 (a line inserted), so that
    writing the fixes takes long enough for a signal to land while they are written."""
    folder = root / "migrations"
    folder.mkdir(parents=True)
    (root / "pglint.toml").write_text('extend-select = ["PGL301"]\n', encoding="utf-8")
    (folder / "V0001__init.sql").write_text(CREATE, encoding="utf-8")
    paths = []
    for i in range(2, FILES + 2):
        path = folder / f"V{i:04d}__alter.sql"
        path.write_text(alter(i), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_while_fixes_are_written_leaves_no_temporary_file(tmp_path, signum):
    paths = corpus(tmp_path)
    env = {**os.environ, "NO_COLOR": "1", "PGLINT_JOBS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pglint", "check", "--no-cache", "--fix", "--unsafe-fixes", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    first = paths[0]
    deadline = time.monotonic() + 120
    # Wait for the first fix to be written, then signal at once: the rest are being written.
    while first.read_text(encoding="utf-8") == alter(2) and process.poll() is None:
        assert time.monotonic() < deadline, "no fix was written"
        time.sleep(0.002)
    signalled = process.poll() is None
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    fixed = [p for p in paths if p.read_text(encoding="utf-8") != alter(int(p.name[1:5]))]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert "Traceback" not in stderr, stderr
    # Never killed by the signal itself (which skips the cleanup): pglint exits on its own.
    assert process.returncode >= 0, process.returncode
    if signalled and len(fixed) < len(paths):
        assert process.returncode == 128 + signum, stderr
        assert f"interrupted ({signal.Signals(signum).name})" in stderr
    for path in fixed:  # each file whole: the old text or the fixed one
        text = path.read_text(encoding="utf-8")
        assert text.endswith(alter(int(path.name[1:5]))) and "lock_timeout" in text, text


def test_a_later_run_removes_the_temporary_files_of_a_dead_writer(tmp_path):
    paths = corpus(tmp_path)[:1]
    dead = 2 ** 22 + 4321  # above Linux's largest pid: no such process
    stale = paths[0].with_name(f".{paths[0].name}.{dead}.abcd1234.pglint.tmp")
    stale.write_text("half a file", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pglint", "check", "--no-cache", "--fix", "--unsafe-fixes", "."],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    assert not stale.exists()
