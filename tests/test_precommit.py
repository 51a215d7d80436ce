"""The pre-commit hooks of .pre-commit-hooks.yaml, run for real by pre-commit.

pre-commit installs pglint from this checkout into an environment of its own (pip, with
pglint's dependencies), which takes a while: the module installs it twice, once for
`try-repo` (which always uses a throw-away store) and once into a PRE_COMMIT_HOME that the
other runs share.

The hooks come from a snapshot of the working tree (tracked and untracked files, not ignored
ones) committed into a temporary repository: `try-repo` adds uncommitted changes to tracked
files but leaves untracked files out, and `pre-commit run` sees only commits, so a new or
uncommitted hook manifest would otherwise not be what is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pre_commit")

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    # The project migrates a live database (its migrations bound their lock waits): the lock
    # rules' evidence.
    "migrations/V1__init.sql": "SET lock_timeout = '5s';\n"
                               "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n",
    # PGL301: no lock_timeout; PGL501: no CONCURRENTLY on a table V1 created (unsafe fixes only).
    "migrations/V2__index.sql": "CREATE INDEX accounts_email_idx ON accounts (email);\n",
    # PGL401: uniform keys in a load test; linted only if `files` lets .pgbench through.
    "loadtest/read.pgbench": "\\set aid random(1, 100000)\n"
                             "SELECT email FROM accounts WHERE id = :aid;\n",
    # PGL301 and PGL401 are off by default: the project turns them on (and PGL501, which needs
    # evidence of a big table, reports every table here: size-evidence = false). So is PGL101,
    # whose suppression in queries/fixable.psql is reported as unused only when it is on.
    "pglint.toml": 'extend-select = ["PGL301", "PGL401", "PGL501", "PGL101"]\n'
                   'size-evidence = false\n',
    # PGL902: an unused suppression, which the safe fix removes.
    "queries/fixable.psql": "SELECT 1; -- pglint: ignore[PGL101]\n",
    "queries/clean.pgsql": "SELECT email FROM accounts WHERE id = 1;\n",
    # Not SQL: the hooks must not pass it to pglint (it would be PGL901, a syntax error).
    "notes.txt": "this is not SQL;\n",
}
GIT_ENV = {"GIT_AUTHOR_NAME": "pglint tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
           "GIT_COMMITTER_NAME": "pglint tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def commit_all(repo: Path) -> str:
    git("add", "-A", cwd=repo)
    git("-c", "commit.gpgsign=false", "commit", "-q", "-m", "snapshot", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def snapshot(source: Path, dest: Path) -> str:
    """Commit the working tree of `source` (files git does not ignore) as a new repository."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=source)
    for name in filter(None, listed.split("\0")):
        if (source / name).is_file():  # tracked files deleted in the working tree are left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, dest / name)
    git("init", "-q", cwd=dest)
    return commit_all(dest)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    try:
        git("rev-parse", "--show-toplevel", cwd=ROOT)
    except subprocess.CalledProcessError:
        pytest.skip(f"{ROOT} is not a git checkout")
    base = tmp_path_factory.mktemp("precommit")
    hooks = base / "hooks"
    hooks.mkdir()
    rev = snapshot(ROOT, hooks)
    project = base / "project"
    project.mkdir()
    git("init", "-q", cwd=project)
    for name, text in FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    commit_all(project)
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(base / "home"), "NO_COLOR": "1",
           "PRE_COMMIT_COLOR": "never"}
    env.pop("PGLINT_CACHE_DIR", None)
    return {"hooks": hooks, "rev": rev, "project": project, "env": env}


def pre_commit(setup: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=setup["project"],
                          env=setup["env"], capture_output=True, text=True, timeout=900)


def test_try_repo_reports_findings_in_every_sql_suffix(setup):
    result = pre_commit(setup, "try-repo", str(setup["hooks"]), "pglint", "--all-files")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "pglint" in output and "Failed" in output
    assert "migrations/V2__index.sql:1:1: PGL301" in output
    assert "migrations/V2__index.sql:1:1: PGL501" in output
    assert "loadtest/read.pgbench:1:10: PGL401" in output
    assert "queries/fixable.psql:1:14: PGL902" in output
    assert "Found 4 findings in 3 files." in output
    assert "notes.txt" not in output
    # The report hook writes nothing; its cache is ignored by git.
    assert git("status", "--porcelain", cwd=setup["project"]) == ""
    assert (setup["project"] / "queries/fixable.psql").read_text() == FILES["queries/fixable.psql"]


@pytest.fixture(scope="module")
def configured(setup: dict) -> dict:
    """The project with a .pre-commit-config.yaml using both hooks, as a user would write it."""
    config = (f"repos:\n- repo: {setup['hooks']}\n  rev: {setup['rev']}\n"
              "  hooks:\n  - id: pglint\n  - id: pglint-fix\n")
    (setup["project"] / ".pre-commit-config.yaml").write_text(config, encoding="utf-8")
    commit_all(setup["project"])
    return setup


def test_clean_files_pass(configured):
    result = pre_commit(configured, "run", "pglint", "--files", "migrations/V1__init.sql",
                        "queries/clean.pgsql")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_fix_hook_rewrites_a_fixable_file(configured):
    project = configured["project"]
    result = pre_commit(configured, "run", "pglint-fix", "--files", "queries/fixable.psql")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "files were modified by this hook" in result.stdout
    assert (project / "queries/fixable.psql").read_text(encoding="utf-8") == "SELECT 1;\n"
    again = pre_commit(configured, "run", "pglint-fix", "--files", "queries/fixable.psql")
    assert again.returncode == 0, again.stdout + again.stderr
    # Unsafe fixes are not applied: the migration keeps its finding and is left as it was.
    unsafe = pre_commit(configured, "run", "pglint-fix", "--files", "migrations/V2__index.sql")
    assert unsafe.returncode == 1 and "PGL301" in unsafe.stdout
    assert "files were modified" not in unsafe.stdout
    assert (project / "migrations/V2__index.sql").read_text() == FILES["migrations/V2__index.sql"]
