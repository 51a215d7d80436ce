"""`pglint check --fix` and `--diff` on hostile trees: what must not be written, where the
bytes of a rewritten file must stay as they were, and what must not be read."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

HOSTILE = Path(__file__).parent / "data" / "hostile"
ALTER = "ALTER TABLE orders ADD COLUMN note text;\n"
SET = "SET LOCAL lock_timeout = '5s';\n"
# PGL101 is off by default; a suppression of it is reported as unused (PGL902, a safe fix that
# removes the comment) only in a project that turns it on.
ON_PGL101 = 'extend-select = ["PGL101"]\n'


def run(*args: str, cwd: Path, timeout: float = 120, preexec_fn=None,
        ) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=timeout, preexec_fn=preexec_fn)


def migrations(root: Path, alter: str | bytes = ALTER, name: str = "V2__alter.sql") -> Path:
    """A table created by one migration and altered by the next (PGL301, an unsafe fix that
    inserts a line); returns the second migration."""
    folder = root / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    turn_on_pgl301(root)
    shutil.copy(HOSTILE / "V1__init.sql", folder / "V1__init.sql")
    target = folder / name
    if isinstance(alter, bytes):
        target.write_bytes(alter)
    else:
        target.write_text(alter, encoding="utf-8", newline="")
    return target


def turn_on_pgl301(root: Path) -> None:
    """PGL301, the vehicle of these tests, is off by default: the project turns it on."""
    config = root / "pglint.toml"
    if not config.exists():
        config.write_text('extend-select = ["PGL301"]\n', encoding="utf-8")


def not_fixed(stderr: str, display: str) -> str:
    """The reason given on stderr for a file left alone (fails when there is none)."""
    prefix = f"pglint: {display}: not fixed: "
    lines = [line for line in stderr.splitlines() if line.startswith(prefix)]
    assert lines, stderr
    assert "Traceback" not in stderr, stderr
    return lines[0][len(prefix):]


# 1. --unsafe-fixes only widens what --fix and --diff apply.

def test_unsafe_fixes_alone_writes_nothing(tmp_path: Path) -> None:
    altered = migrations(tmp_path)
    alone = run("check", "--no-cache", "--unsafe-fixes", ".", cwd=tmp_path)
    assert alone.returncode == 1, alone.stderr
    assert altered.read_text(encoding="utf-8") == ALTER
    fixed = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert altered.read_text(encoding="utf-8") == SET + ALTER


# 2. A fix whose result does not compile (Python) or parse (SQL) is not written.

def alembic_project(root: Path, literal: str | None = None) -> Path:
    """An Alembic revision altering a table in `op.execute('...')` (PGL301, whose fix inserts
    `SET lock_timeout = '5s'; `), or in `op.execute(<literal>)`."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    turn_on_pgl301(root)
    for source in (HOSTILE / "alembic").iterdir():
        shutil.copy(source, versions / source.name)
    revision = versions / "0002_add.py"
    if literal is not None:
        text = revision.read_text(encoding="utf-8")
        revision.write_text(text.replace("'ALTER TABLE orders ADD COLUMN note text'", literal),
                            encoding="utf-8")
    return revision


SET_CALL = "    op.execute(\"SET LOCAL lock_timeout = '5s'\")\n"
TRIPLE = '"""\n        ALTER TABLE orders ADD COLUMN note text\n    """'


@pytest.mark.parametrize("literal", [
    "'ALTER TABLE orders ADD COLUMN note text'",
    '"ALTER TABLE orders ADD COLUMN note text"',
    TRIPLE,
    "'''ALTER TABLE orders ADD COLUMN note text'''",
    "r'ALTER TABLE orders ADD COLUMN note text'",
    "u'ALTER TABLE orders ADD COLUMN note text'",
])
def test_lock_timeout_for_sql_in_a_python_call_is_a_call_of_its_own(tmp_path: Path,
                                                                     literal: str) -> None:
    # Never `SET ...; ALTER ...` in one string: a '...' literal would end early, and asyncpg
    # refuses two commands in one prepared statement.
    revision = alembic_project(tmp_path, literal)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = revision.read_text(encoding="utf-8")
    assert SET_CALL + f"    op.execute({literal})\n" in text, text
    compile(text, str(revision), "exec")
    again = run("check", "--no-cache", ".", cwd=tmp_path)
    assert again.returncode == 0, again.stdout


def test_lock_timeout_for_a_call_not_alone_on_its_line_is_shown_not_applied(
        tmp_path: Path) -> None:
    revision = alembic_project(tmp_path, "'ALTER TABLE orders ADD COLUMN note text'")
    revision.write_text(revision.read_text(encoding="utf-8").replace(
        "    op.execute(", "    done = op.execute("), encoding="utf-8")
    original = revision.read_bytes()
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "not fixed" not in result.stderr and "Traceback" not in result.stderr
    assert revision.read_bytes() == original
    assert ("= suggestion: Set `lock_timeout` before the first locking statement\n"
            "    SET LOCAL lock_timeout = '5s';") in result.stdout


@pytest.mark.parametrize("opening, inserted, applied", [
    ("'", "SET x = '5s'; ", False),  # the quote would end the literal
    ('"', "SET x = '5s'; ", True),
    ("'", "SET x = 5; ", True),
    ("'", "SET x = 5;\n", False),  # no line break in a one-line literal
    ("'''", "SET x = 5;\n", True),
    ('"', "SET x = '5%'; ", False),  # a driver could read % as a placeholder
    ("'", "SET x = 5 \\n; ", False),  # a backslash: an escape in the literal
    ("r'", "SET x = 5 \\n; ", True),  # ... but not in a raw one
])
def test_an_sql_edit_inside_a_python_literal_is_applied_only_when_it_fits(
        opening: str, inserted: str, applied: bool) -> None:
    from pglint.dispatch import _keep_literals
    from pglint.finding import Applicability, Edit, Finding, Fix
    from pglint.sql.parse import parse_sql

    content = "ALTER TABLE t ADD c int"
    quote = opening.lstrip("rRuU")
    text = f"op.execute({opening}{content}{quote})\n"
    start = len("op.execute(") + len(opening)
    [stmt] = parse_sql(content).statements
    stmt.python_literal = (start, start + len(content), opening)
    fix = Fix("t", Applicability.SAFE, (Edit.insert(start, inserted),))
    finding = Finding("PGL000", "x", "m", "a.py", start, start + 1, fix=fix)
    _keep_literals([finding], [stmt], text)
    assert finding.fix.applicable is applied


def test_sql_fix_that_no_longer_parses_is_refused() -> None:
    from pglint.fixer import verify_fix

    path = Path("q.sql")
    assert "parse" in verify_fix(path, False, "SELECT 1;\n", "SELEC 1;\n")
    assert verify_fix(path, False, "SELECT 1;\n", "SELECT 2;\n") is None
    # A statement that did not parse before is no reason to refuse a fix elsewhere.
    assert verify_fix(path, False, "SELEC 1;\nSELECT 2;\n", "SELEC 1;\nSELECT 3;\n") is None
    assert "compile" in verify_fix(Path("m.py"), True, "x = 'a'\n", "x = 'a'b'\n")
    assert verify_fix(Path("m.py"), True, "x = 'a'\n", "x = 'b'\n") is None


# 3. An edit made while --fix runs is not overwritten.

def test_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    from pglint.fixer import write_fix

    altered = migrations(tmp_path)
    altered.write_text("-- edited meanwhile\n" + ALTER, encoding="utf-8")
    reason = write_fix(altered, ALTER, SET + ALTER, [tmp_path])
    assert reason is not None and "changed" in reason
    assert altered.read_text(encoding="utf-8") == "-- edited meanwhile\n" + ALTER
    assert write_fix(altered, "-- edited meanwhile\n" + ALTER, SET + ALTER, [tmp_path]) is None
    assert altered.read_text(encoding="utf-8") == SET + ALTER
    assert sorted(p.name for p in altered.parent.iterdir()) == ["V1__init.sql", "V2__alter.sql"]


# 4. Temporary and cache files never follow a planted symlink.

def test_temporary_file_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    from pglint.fixer import write_fix

    altered = migrations(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="utf-8")
    # The name the temporary file used to have, predictable from the process id.
    planted = altered.with_name(f".{altered.name}.pglint-{os.getpid()}.tmp")
    planted.symlink_to(victim)
    assert write_fix(altered, ALTER, SET + ALTER, [tmp_path]) is None
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert altered.read_text(encoding="utf-8") == SET + ALTER


def test_cache_folder_that_is_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    migrations(tmp_path)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".pglint_cache").symlink_to(elsewhere, target_is_directory=True)
    result = run("check", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert list(elsewhere.iterdir()) == []


def test_cache_gitignore_that_is_a_symlink_is_not_written_through(tmp_path: Path) -> None:
    migrations(tmp_path)
    (tmp_path / ".pglint_cache").mkdir()
    victim = tmp_path.parent / f"{tmp_path.name}-victim"
    (tmp_path / ".pglint_cache" / ".gitignore").symlink_to(victim)  # dangling: open would create
    result = run("check", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert not victim.exists()


def test_cache_entry_that_is_a_symlink_is_a_miss(tmp_path: Path) -> None:
    migrations(tmp_path)
    first = run("check", ".", cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    [entry] = (tmp_path / ".pglint_cache").glob("run-*.json")
    forged = tmp_path.parent / f"{tmp_path.name}-forged.json"
    forged.write_text(json.dumps({**json.loads(entry.read_text(encoding="utf-8")),
                                  "findings": []}), encoding="utf-8")
    entry.unlink()
    entry.symlink_to(forged)
    second = run("check", ".", cwd=tmp_path)
    assert second.returncode == 1, second.stdout  # the forged empty result was not used
    assert entry.is_symlink() and json.loads(forged.read_text(encoding="utf-8"))["findings"] == []


# 5. What a rewritten file keeps: owner, mode, line endings, encoding, links.

def test_fix_keeps_the_mode(tmp_path: Path) -> None:
    altered = migrations(tmp_path)
    altered.chmod(0o640)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert altered.read_text(encoding="utf-8") == SET + ALTER
    assert stat.S_IMODE(altered.stat().st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="only root can give a file to another owner")
def test_fix_keeps_the_owner_when_run_as_root(tmp_path: Path) -> None:
    altered = migrations(tmp_path)
    os.chown(altered, 4242, 4343)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert altered.read_text(encoding="utf-8") == SET + ALTER
    assert (altered.stat().st_uid, altered.stat().st_gid) == (4242, 4343)


def test_crlf_file_gets_crlf_in_inserted_lines(tmp_path: Path) -> None:
    altered = migrations(tmp_path, ALTER.replace("\n", "\r\n").encode())
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert altered.read_bytes() == (SET + ALTER).replace("\n", "\r\n").encode()


def test_python_file_keeps_the_encoding_it_declares(tmp_path: Path) -> None:
    # Latin-1 bytes that happen to be valid UTF-8 too: Python reads them as Latin-1.
    source = tmp_path / "latin1_cookie.py"
    shutil.copy(HOSTILE / "latin1_cookie.py", source)
    original = source.read_bytes()
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    result = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    fixed = source.read_bytes()
    assert b"pglint: ignore" not in fixed
    assert fixed.splitlines()[0] == original.splitlines()[0]
    assert fixed.splitlines()[-1] == original.splitlines()[-1] == b'NAME = "\xc3\xa9t\xc3\xa9"'


def test_byte_order_mark_kept_once_and_never_added(tmp_path: Path) -> None:
    marked = tmp_path / "marked.py"
    marked.write_bytes("\ufeff# pglint: ignore[PGL101]\nx = 'é'\n".encode("utf-8"))
    plain = tmp_path / "plain.py"
    plain.write_bytes("# pglint: ignore[PGL101]\nx = 'é'\n".encode("utf-8"))
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    result = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    for path, bom in ((marked, b"\xef\xbb\xbf"), (plain, b"")):
        data = path.read_bytes()
        assert b"pglint: ignore" not in data
        assert data.startswith(bom) and not data[len(bom):].startswith(b"\xef\xbb\xbf")
        assert data.endswith("x = 'é'\n".encode("utf-8"))


def test_symlink_into_the_tree_is_written_through(tmp_path: Path) -> None:
    folder = migrations(tmp_path).parent
    (folder / "V2__alter.sql").unlink()
    target = tmp_path / "build" / "alter.sql"  # `build` is excluded: linted once, by the link
    target.parent.mkdir()
    target.write_text(ALTER, encoding="utf-8")
    link = folder / "V2__alter.sql"
    link.symlink_to(Path("..") / "build" / "alter.sql")
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == SET + ALTER


def test_symlink_out_of_the_tree_is_not_written(tmp_path: Path) -> None:
    project = tmp_path / "project"
    folder = migrations(project).parent
    (folder / "V2__alter.sql").unlink()
    outside = tmp_path / "outside.sql"
    outside.write_text(ALTER, encoding="utf-8")
    link = folder / "V2__alter.sql"
    link.symlink_to(outside)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "outside" in not_fixed(result.stderr, "migrations/V2__alter.sql")
    assert link.is_symlink() and outside.read_text(encoding="utf-8") == ALTER


def test_hard_linked_file_is_not_rewritten(tmp_path: Path) -> None:
    project = tmp_path / "project"
    altered = migrations(project)
    twin = tmp_path / "twin.sql"
    os.link(altered, twin)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=project)
    assert result.returncode == 2, result.stdout + result.stderr
    assert not_fixed(result.stderr, "migrations/V2__alter.sql") == "hard-linked; not rewritten"
    assert altered.stat().st_ino == twin.stat().st_ino
    assert altered.read_text(encoding="utf-8") == ALTER


def test_read_only_file_is_reported_not_written(tmp_path: Path) -> None:
    altered = migrations(tmp_path)
    altered.chmod(0o444)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "read-only" in not_fixed(result.stderr, "migrations/V2__alter.sql")
    assert altered.read_text(encoding="utf-8") == ALTER
    assert stat.S_IMODE(altered.stat().st_mode) == 0o444


# 6. One failed write does not stop the others.

def _small_files_only() -> None:
    """In the child: files may not grow past 64 KiB (EFBIG, as a full disk would refuse)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_failed_write_is_reported_and_the_rest_is_fixed(tmp_path: Path) -> None:
    big = migrations(tmp_path, "-- " + "x" * 200_000 + "\n" + ALTER, name="V2__big.sql")
    small = migrations(tmp_path, ALTER, name="V3__small.sql")
    big_before = big.read_bytes()
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path,
                 preexec_fn=_small_files_only)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot write" in not_fixed(result.stderr, "migrations/V2__big.sql")
    assert big.read_bytes() == big_before
    assert small.read_text(encoding="utf-8") == SET + ALTER
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


# 7. Temporary files of a killed run are removed by the next one.

def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    altered = migrations(tmp_path)
    dead = 2 ** 22 + 12345  # above Linux's largest pid: no such process
    stale = [altered.with_name(f".{altered.name}.{dead}.k2j4h5g6.pglint.tmp"),
             altered.with_name(f".{altered.name}.pglint-{dead}.tmp")]
    live = altered.with_name(f".{altered.name}.{os.getpid()}.q1w2e3r4.pglint.tmp")
    for path in (*stale, live):
        path.write_text("half a file", encoding="utf-8")
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(p.exists() for p in stale)
    assert live.exists()  # its writer may still be running


# 8. --diff output applies with git and with GNU patch.

def test_diff_applies_with_git_apply_and_patch(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # The queries' suppressions are unused (their removal is in the diff) with PGL101 on.
    (project / "pglint.toml").write_text('extend-select = ["PGL301", "PGL101"]\n',
                                         encoding="utf-8")
    migrations(project, "-- page\x0cbreak\n" + ALTER.rstrip("\n"), name="V2__add note.sql")
    (project / "queries").mkdir()
    (project / "queries" / "plain.sql").write_text("-- pglint: ignore[PGL101]\nSELECT 1;",
                                                   encoding="utf-8")
    (project / "queries" / 'say "hi".sql').write_text("-- pglint: ignore[PGL101]\nSELECT 1;\n",
                                                      encoding="utf-8")
    result = run("check", "--no-cache", "--diff", "--unsafe-fixes", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "\\ No newline at end of file" in result.stdout
    patch_file = tmp_path / "fix.patch"
    patch_file.write_text(result.stdout, encoding="utf-8", newline="")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    checked = subprocess.run(["git", "apply", "--check", "-v", str(patch_file)], cwd=project,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    dry = subprocess.run(["patch", "-p1", "--dry-run", "-i", str(patch_file)], cwd=project,
                         capture_output=True, text=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # Applied for real, the patch gives what --fix writes.
    fixed = tmp_path / "fixed"
    shutil.copytree(project, fixed)
    subprocess.run(["git", "apply", str(patch_file)], cwd=project, check=True)
    written = run("check", "--no-cache", "--fix", "--unsafe-fixes", ".", cwd=fixed)
    assert written.returncode == 0, written.stdout + written.stderr
    for name in ("migrations/V2__add note.sql", "queries/plain.sql", 'queries/say "hi".sql'):
        assert (project / name).read_bytes() == (fixed / name).read_bytes(), name


# 9. Reading: only regular files, within bounds, and whole.

def test_fifo_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    os.mkfifo(tmp_path / "queries" / "x.sql")
    (tmp_path / "queries" / "ok.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path,
                 timeout=60)
    assert "queries/x.sql:1:1: PGL901" in result.stdout and "not a regular file" in result.stdout


def _bounded_memory() -> None:
    """In the child: an unbounded read fails fast instead of taking the machine's memory."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))


def test_symlink_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.sql").symlink_to("/dev/zero")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path,
                 timeout=60, preexec_fn=_bounded_memory)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "zero.sql:1:1: PGL901" in result.stdout and "not a regular file" in result.stdout


def test_read_stops_at_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pglint import loader

    monkeypatch.setattr(loader, "MAX_BYTES", 1000)
    big = tmp_path / "big.sql"
    big.write_text("SELECT 1;\n" * 200, encoding="utf-8")
    text, problem = loader.read_text(big)
    assert text is None and "limit" in problem.message


def test_nul_byte_after_the_first_8_kib_is_not_silently_cut(tmp_path: Path) -> None:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "late.sql").write_text(
        "-- " + "x" * 9000 + "\n\x00\nSELECT pg_advisory_lock(1);\n", encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "queries/late.sql" in result.stdout and "NUL" in result.stdout
