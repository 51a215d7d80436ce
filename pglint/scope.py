"""Reporting on part of a project while the model is built from all of it.

pre-commit passes the staged files and a pull-request check cares about changed lines, but the
evidence for a finding often sits in another file (the migration that created the table, the
query that writes it). With a scope, pglint lints the whole project and reports only the
findings inside the scope.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from pglint.finding import Finding

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


class ScopeError(Exception):
    """The scope cannot be computed (not a git repository, unknown ref): exit code 2."""


class Scope:
    """Files (and optionally line ranges in them) whose findings are reported."""

    def __init__(self, paths: list[Path], lines: dict[str, list[tuple[int, int]]] | None = None):
        self.files = {os.path.abspath(p) for p in paths if not p.is_dir()}
        self.folders = [os.path.abspath(p) + os.sep for p in paths if p.is_dir()]
        self.lines = lines  # absolute path -> changed line ranges (1-based, inclusive)

    def covers(self, finding: Finding, absolute: str) -> bool:
        if self.lines is not None:
            ranges = self.lines.get(absolute)
            if not ranges:
                return False
            last = max(finding.end_row, finding.row)
            return any(a <= last and finding.row <= b for a, b in ranges)
        return absolute in self.files or any(absolute.startswith(f) for f in self.folders)

    def wants(self, path: Path) -> bool:
        """Whether any finding in the file at `path` can be in scope (the file is checked)."""
        absolute = os.path.abspath(path)
        if self.lines is not None:
            return bool(self.lines.get(absolute))
        return absolute in self.files or any(absolute.startswith(f) for f in self.folders)

    def keep(self, findings: list[Finding], files) -> list[Finding]:
        """The findings in scope; `files` are the run's LoadedFile objects (path lookup)."""
        absolute = {f.candidate.display: os.path.abspath(f.candidate.path) for f in files}
        return [f for f in findings if self.covers(f, absolute.get(f.path, f.path))]


def project_root(start: Path, config_root: Path | None) -> Path:
    """The folder a scoped run lints: the configuration's folder, else the git top level,
    else the working directory."""
    if config_root is not None:
        return config_root
    top = git_toplevel(start)
    return top if top is not None else Path.cwd()


def git_toplevel(start: Path) -> Path | None:
    folder = start if start.is_dir() else start.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder or ".",
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip() else None


def _commit_of(base: str, top: Path) -> str:
    """The commit id `base` names. Never handed to git where it could read as an option: a
    ref such as `--output=FILE` would make `git diff` write FILE."""
    if not base or base.startswith("-"):
        raise ScopeError(f"--diff-base {base!r} is not a git revision")
    try:
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "--end-of-options",
                              f"{base}^{{commit}}"], cwd=top, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScopeError(f"git rev-parse failed: {exc}") from None
    commit = out.stdout.strip()
    if out.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        raise ScopeError(f"--diff-base {base!r} is not a git revision")
    return commit


def changed_lines(base: str, start: Path) -> tuple[Path, dict[str, list[tuple[int, int]]]]:
    """(git top level, absolute path -> line ranges added or changed since `base`), as
    `git diff <base>` compares the working tree with it; untracked files are new whole."""
    top = git_toplevel(start)
    if top is None:
        raise ScopeError(f"--diff-base needs a git repository ({start} is not in one)")
    commit = _commit_of(base, top)
    try:
        out = subprocess.run(["git", "diff", "--no-color", "--no-ext-diff", "-U0",
                              "--diff-filter=ACMR", commit, "--"], cwd=top, capture_output=True,
                             text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ScopeError(f"git diff failed: {exc}") from None
    if out.returncode != 0:
        raise ScopeError(f"git diff {base}: {out.stderr.strip() or 'failed'}")
    changes: dict[str, list[tuple[int, int]]] = {}
    for section in re.split(r"^diff --git ", out.stdout, flags=re.MULTILINE)[1:]:
        target = re.search(r"^\+\+\+ b/(.*)$", section, re.MULTILINE)
        if target is None:
            continue
        path = os.path.abspath(top / target.group(1))
        for hunk in _HUNK.finditer(section):
            first, count = int(hunk.group(1)), int(hunk.group(2) or 1)
            if count:
                changes.setdefault(path, []).append((first, first + count - 1))
    # `git diff` leaves out untracked files, which are as new as an added one: whole.
    names = untracked_files(top)
    if names is None:
        raise ScopeError("git ls-files failed")
    for name in names:
        changes[os.path.abspath(top / name)] = [(1, _WHOLE_FILE)]
    return top, changes


_WHOLE_FILE = 1 << 62  # a line range's end that no file reaches


def untracked_files(top: Path) -> list[str] | None:
    """Files git does not track and does not ignore, relative to `top`; None when git fails
    (pglint.history uses it too)."""
    try:
        out = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"],
                             cwd=top, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return [name for name in out.stdout.split("\0") if name] if out.returncode == 0 else None
