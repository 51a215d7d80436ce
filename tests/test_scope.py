"""Scoped runs: the model from the whole project, findings only for the given files or the
changed lines (`--project`, `--diff-base`)."""

from __future__ import annotations

import subprocess

from tests.test_cli import run

SESSIONS = ("CREATE TABLE user_sessions (\n    session_id text PRIMARY KEY,\n"
            "    last_seen_at timestamptz\n);\n")
HEARTBEAT = "UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;\n"
COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"


def _project(tmp_path):
    (tmp_path / "pglint.toml").write_text('select = ["PGL101", "PGL104"]\n')
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__sessions.sql").write_text(SESSIONS)
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "sessions.sql").write_text(HEARTBEAT + COUNTER)
    return tmp_path


def test_project_mode_brings_evidence_from_the_other_files(tmp_path):
    root = _project(tmp_path)
    alone = run("check", "--no-cache", "--output-format", "concise",
                "migrations/V1__sessions.sql", cwd=root)
    assert alone.returncode == 0, alone.stdout  # no workload evidence in the file itself
    scoped = run("check", "--no-cache", "--output-format", "concise", "--project",
                 "migrations/V1__sessions.sql", cwd=root)
    assert scoped.returncode == 1
    assert "migrations/V1__sessions.sql:1:1: PGL104" in scoped.stdout
    # The evidence is cited, but the query file's own findings are out of scope.
    assert not [line for line in scoped.stdout.splitlines() if line.startswith("queries/")]
    assert "queries/sessions.sql:1" in scoped.stdout


def _git(root, *args) -> str:
    """Run git in `root` with a fixed identity; its output."""
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
                               "HOME": str(root), "PATH": "/usr/bin:/bin:/usr/local/bin"}).stdout


def test_diff_base_reports_only_changed_lines(tmp_path):
    root = _project(tmp_path)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    queries = root / "queries" / "sessions.sql"
    queries.write_text(HEARTBEAT + COUNTER + "-- new\n" + COUNTER.replace("/home", "/about"))
    result = run("check", "--no-cache", "--output-format", "concise", "--diff-base", "HEAD",
                 cwd=root)
    lines = [line for line in result.stdout.splitlines() if ": PGL" in line]
    assert lines == [line for line in lines if line.startswith("queries/sessions.sql:4:1: PGL101")]
    assert len(lines) == 1, result.stdout
    assert result.returncode == 1
    # Nothing changed since the new commit: nothing to report.
    _git(root, "commit", "-q", "-am", "more")
    clean = run("check", "--no-cache", "--diff-base", "HEAD", cwd=root)
    assert clean.returncode == 0, clean.stdout


def test_diff_base_reports_untracked_files_whole(tmp_path):
    # A new migration not yet `git add`ed is new to --diff-base (history says so): every line
    # of it is in scope, as `git diff` would show once it is added.
    root = _project(tmp_path)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    (root / "queries" / "more.sql").write_text(COUNTER)
    result = run("check", "--no-cache", "--output-format", "concise", "--diff-base", "HEAD",
                 cwd=root)
    lines = [line for line in result.stdout.splitlines() if ": PGL" in line]
    assert lines and all(line.startswith("queries/more.sql:1:1: PGL101") for line in lines), \
        result.stdout
    assert result.returncode == 1
    # An ignored file stays out of scope.
    (root / ".gitignore").write_text("scratch.sql\n")
    (root / "queries" / "more.sql").unlink()
    (root / "scratch.sql").write_text(COUNTER)
    ignored = run("check", "--no-cache", "--output-format", "concise", "--diff-base", "HEAD",
                  "--no-respect-gitignore", cwd=root)
    assert ignored.returncode == 0, ignored.stdout


def test_diff_base_outside_git_is_a_usage_error(tmp_path):
    result = run("check", "--no-cache", "--diff-base", "HEAD", cwd=tmp_path)
    assert result.returncode == 2 and "needs a git repository" in result.stderr


def test_diff_base_is_never_passed_to_git_as_an_option(tmp_path):
    # `git diff --output=FILE` writes FILE: a ref that looks like an option must be refused.
    root = _project(tmp_path)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "base")
    victim = tmp_path.parent / f"{tmp_path.name}-victim.txt"
    victim.write_text("keep me\n")
    result = run("check", "--no-cache", f"--diff-base=--output={victim}", cwd=root)
    assert victim.read_text() == "keep me\n"
    assert result.returncode == 2 and "not a git revision" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    unknown = run("check", "--no-cache", "--diff-base", "no-such-ref", cwd=root)
    assert unknown.returncode == 2 and "not a git revision" in unknown.stderr, unknown.stderr
