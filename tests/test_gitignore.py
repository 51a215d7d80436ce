"""What git ignores is not linted when found by walking a folder (as in ruff): asked of git in
a work tree, read from the .gitignore files outside one; named paths are linted unless
--force-exclude."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pglint.gitignore import parse
from tests.test_cli import ON_PGL101, run

SQL = "SELECT 1;\n"
TREE = {
    "a/ok.sql": SQL, "a/b/x.sql": SQL, "a/b/y.sql": SQL, "gen/g.sql": SQL, "keep/k.sql": SQL,
    "top.sql": SQL, "deep/top.sql": SQL, "docs/a/b/c.sql": SQL, "logs/x.sql": SQL,
    ".gitignore": "# generated\ngen/\n*.sql\n!a/**\n/top.sql\ndocs/**/c.sql\nlogs\n",
    "a/b/.gitignore": "y.sql\n",
    "keep/.gitignore": "!k.sql\n",
}
# .gitignore's `*.sql` leaves out every SQL file that `!a/**` (and keep/'s own .gitignore)
# does not bring back; y.sql is ignored again by a/b/.gitignore, deeper.
LINTED = ["a/b/x.sql", "a/ok.sql", "keep/k.sql"]


def listed(*args: str, cwd: Path, env: dict | None = None) -> list[str]:
    result = run("check", "--no-cache", "--show-files", *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return sorted(line.split("  ")[0] for line in result.stdout.splitlines())


def make(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def git_init(root: Path) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True)


@pytest.fixture
def no_global_git(tmp_path, monkeypatch):
    """A git whose global configuration is this test's own (no user excludes file)."""
    config = tmp_path / "gitconfig"
    config.write_text("", encoding="utf-8")
    return {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(tmp_path)}


def test_the_matcher_follows_gitignore_syntax():
    def ignored(lines: str, path: str, is_dir: bool = False) -> bool:
        verdict = False
        for pattern in parse(lines.splitlines()):
            if (is_dir or not pattern.dir_only) and pattern.regex.match(path):
                verdict = not pattern.negated
        return verdict

    assert ignored("*.sql", "a/b/x.sql") and not ignored("*.sql", "a/b/x.py")
    assert ignored("/top.sql", "top.sql") and not ignored("/top.sql", "deep/top.sql")
    assert ignored("build/", "build", is_dir=True) and not ignored("build/", "build")
    assert ignored("a/**/c.sql", "a/c.sql") and ignored("a/**/c.sql", "a/x/y/c.sql")
    assert ignored("**/gen", "x/gen", is_dir=True) and ignored("**/gen", "gen")
    assert ignored("out/**", "out/x/y.sql") and not ignored("out/**", "out", is_dir=True)
    assert not ignored("*.sql\n!keep.sql", "keep.sql") and ignored("*.sql\n!keep.sql", "k.sql")
    assert ignored("x[0-9].sql", "x7.sql") and not ignored("x[!0-9].sql", "x7.sql")
    assert ignored("\\#hash.sql", "#hash.sql") and not ignored("#hash.sql", "#hash.sql")
    assert ignored("a?.sql", "ab.sql") and not ignored("a?.sql", "a/.sql")


@pytest.mark.parametrize("in_git", [True, False], ids=["git", "no-git"])
def test_walking_skips_what_git_ignores(tmp_path, no_global_git, in_git):
    root = make(tmp_path / "project", TREE)
    if in_git:
        git_init(root)
    assert listed(".", cwd=root, env=no_global_git) == LINTED
    assert listed("--no-respect-gitignore", ".", cwd=root, env=no_global_git) == sorted(
        name for name in TREE if name.endswith(".sql"))


def test_git_info_exclude_and_the_global_excludes_file(tmp_path, no_global_git):
    root = make(tmp_path / "project", {"a.sql": SQL, "b.sql": SQL, "c.sql": SQL})
    git_init(root)
    (root / ".git" / "info" / "exclude").write_text("a.sql\n", encoding="utf-8")
    excludes = tmp_path / "global-ignore"
    excludes.write_text("b.sql\n", encoding="utf-8")
    Path(no_global_git["GIT_CONFIG_GLOBAL"]).write_text(
        f"[core]\n\texcludesFile = {excludes}\n", encoding="utf-8")
    assert listed(".", cwd=root, env=no_global_git) == ["c.sql"]


def test_a_tracked_file_is_linted_whatever_gitignore_says(tmp_path, no_global_git):
    root = make(tmp_path / "project", {"a.sql": SQL, ".gitignore": "*.sql\n"})
    git_init(root)
    subprocess.run(["git", "add", "-f", "a.sql"], cwd=root, check=True)
    assert listed(".", cwd=root, env=no_global_git) == ["a.sql"]


@pytest.mark.parametrize("in_git", [True, False], ids=["git", "no-git"])
def test_named_paths_are_linted_unless_force_exclude(tmp_path, no_global_git, in_git):
    root = make(tmp_path / "project", {
        **TREE, "vendor/v.sql": SQL, "pglint.toml": 'extend-exclude = ["vendor"]\n'})
    if in_git:
        git_init(root)
    named = ["gen/g.sql", "top.sql", "a/b/y.sql", "a/ok.sql", "vendor/v.sql"]
    assert listed(*named, cwd=root, env=no_global_git) == sorted(named)
    assert listed("--force-exclude", *named, cwd=root, env=no_global_git) == ["a/ok.sql"]
    # Without the gitignore, force-exclude still applies exclude and extend-exclude.
    assert listed("--force-exclude", "--no-respect-gitignore", *named, cwd=root,
                  env=no_global_git) == sorted(set(named) - {"vendor/v.sql"})


def test_the_configuration_keys(tmp_path, no_global_git):
    root = make(tmp_path / "project", {**TREE, "pglint.toml":
                                       "respect-gitignore = false\nforce-exclude = true\n"
                                       'extend-exclude = ["gen"]\n'})
    assert "gen/g.sql" not in listed(".", cwd=root, env=no_global_git)
    assert "top.sql" in listed(".", cwd=root, env=no_global_git)
    assert listed("gen/g.sql", "top.sql", cwd=root, env=no_global_git) == ["top.sql"]
    assert listed("--respect-gitignore", ".", cwd=root, env=no_global_git) == LINTED
    (root / "pglint.toml").write_text('respect-gitignore = "yes"\n', encoding="utf-8")
    bad = run("check", "--no-cache", ".", cwd=root, env=no_global_git)
    assert bad.returncode == 2 and "`respect-gitignore` must be true or false" in bad.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_file_names_git_would_read_as_options_are_plain_paths(tmp_path, no_global_git):
    root = make(tmp_path / "project", {"--help.sql": SQL, "-x.sql": SQL,
                                       ".gitignore": "-x.sql\n"})
    git_init(root)
    assert listed(".", cwd=root, env=no_global_git) == ["--help.sql"]
    assert listed("--force-exclude", "--", "-x.sql", "--help.sql", cwd=root,
                  env=no_global_git) == ["--help.sql"]
    assert os.path.exists(root / "-x.sql")


def test_project_runs_lint_the_files_named_unless_force_exclude(tmp_path, no_global_git):
    """pre-commit's hook (`--project`) names every staged file: an excluded one is linted as
    without --project, and left out with --force-exclude."""
    counter = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
    root = make(tmp_path / "project", {"vendor/v.sql": counter, "q/q.sql": counter,
                                       # PGL101, which `counter` trips, is off by default.
                                       "pglint.toml": ON_PGL101 + 'extend-exclude = ["vendor"]\n',
                                       })
    git_init(root)
    linted = run("check", "--no-cache", "--output-format", "concise", "--project",
                 "vendor/v.sql", "q/q.sql", cwd=root, env=no_global_git)
    assert "vendor/v.sql:1:1: PGL101" in linted.stdout and "q/q.sql:1:1: PGL101" in linted.stdout
    forced = run("check", "--no-cache", "--output-format", "concise", "--project",
                 "--force-exclude", "vendor/v.sql", "q/q.sql", cwd=root, env=no_global_git)
    assert "vendor/v.sql" not in forced.stdout and "q/q.sql:1:1: PGL101" in forced.stdout


def test_folders_without_a_gitignore_above_them_ignore_nothing(tmp_path, no_global_git):
    """Outside git: a folder with no .gitignore from it up to the project is answered once
    for all its files, and a .gitignore in one folder still applies to that folder alone."""
    root = make(tmp_path / "project", {
        "one/a.sql": SQL, "one/deeper/b.sql": SQL, "two/c.sql": SQL, "two/deeper/d.sql": SQL,
        "two/deeper/.gitignore": "d.sql\n", "two/deeper/still/e.sql": SQL,
        "two/deeper/still/d.sql": SQL, "z.sql": SQL})
    assert listed(".", cwd=root, env=no_global_git) == [
        "one/a.sql", "one/deeper/b.sql", "two/c.sql", "two/deeper/still/e.sql", "z.sql"]
