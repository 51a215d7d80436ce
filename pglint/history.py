"""Which migrations have already run, and which are new.

A migration that has run is history: editing it changes nothing in a database that already ran
it, and checksum-verifying runners (Flyway, sqlx, Liquibase) refuse the edited file. Lock and
timeout findings on it are noise, and `--fix` never touches it. pglint decides, in this order:

1. `--all-migrations`: every migration is judged as new (nothing is history);
2. `applied-migrations = "<name or glob>"` (or a list of them) in the configuration: the
   migration matched and every one before it in apply order have run, per stream (the SQL
   migrations; each folder of Alembic or Django migrations);
3. `--diff-base REF`: migrations added or changed since REF (or untracked) are new; with
   `--project`, the files named on the command line are new;
4. in a git repository with an upstream (`origin/HEAD`, `origin/main`, `origin/master`):
   migrations added or changed since the merge base with it, uncommitted or untracked, are new;
5. otherwise (no git, no upstream): every migration is new.

`pglint check --show-files` says which was decided for each migration, and why.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from pglint.discover import Candidate
from pglint.roles import TEST

_UPSTREAMS = ("refs/remotes/origin/HEAD", "refs/remotes/origin/main",
              "refs/remotes/origin/master")


@dataclass(frozen=True)
class History:
    """The migrations that are new (absolute real paths), or None when every one is new."""

    new: frozenset[str] | None
    why_new: str  # shown by --show-files
    why_applied: str = ""

    @classmethod
    def all_new(cls, why: str) -> "History":
        return cls(None, why)

    def mark(self, candidates: list[Candidate]) -> list[Candidate]:
        """The candidates with `applied` and the reason set."""
        if self.new is None:
            return [replace(c, applied=False, history=self.why_new) for c in candidates]
        out = []
        real_folders: dict[str, str] = {}
        for c in candidates:
            is_new = _real_path(c.path, real_folders) in self.new
            out.append(replace(c, applied=not is_new,
                               history=self.why_new if is_new else self.why_applied))
        return out


def _real_path(path: Path, real_folders: dict[str, str]) -> str:
    """os.path.realpath, with each folder resolved once (`real_folders`): resolving every
    file's whole path was a tenth of a second on a tree of 3,000 files."""
    if os.path.islink(path):
        return os.path.realpath(path)
    folder, name = os.path.split(os.path.abspath(path))
    real = real_folders.get(folder)
    if real is None:
        real = real_folders[folder] = os.path.realpath(folder)
    return os.path.join(real, name)


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _changed_since(commit: str, top: Path) -> set[str]:
    """Files added or changed between `commit` and the working tree, and untracked files."""
    from pglint.scope import untracked_files

    out = _git(["diff", "--name-only", "-z", "--no-renames", "--diff-filter=ACMRT", commit, "--"],
               top)
    names = [n for n in (out or "").split("\0") if n] + (untracked_files(top) or [])
    return {os.path.realpath(top / name) for name in names}


def from_git(start: Path) -> History:
    """New migrations are those added or changed since the merge base with the upstream."""
    from pglint.scope import git_toplevel

    top = git_toplevel(start)
    if top is None:
        return History.all_new("new: not in a git repository")
    for upstream in _UPSTREAMS:
        base = _git(["merge-base", "HEAD", upstream], top)
        if base and base.strip():
            short = upstream.rsplit("/", 1)[-1] if not upstream.endswith("HEAD") else \
                "origin's default branch"
            name = f"origin/{short}" if not upstream.endswith("HEAD") else short
            return History(frozenset(_changed_since(base.strip(), top)),
                           f"new: changed since the merge base with {name}",
                           f"applied: unchanged since the merge base with {name}")
    return History.all_new("new: no upstream branch to compare with")


def from_changes(changed: set[str], why: str) -> History:
    """New migrations are exactly `changed` (absolute paths)."""
    return History(frozenset(os.path.realpath(p) for p in changed), f"new: {why}",
                   f"applied: not {why}")


def from_diff_base(commit: str, top: Path) -> History:
    return History(frozenset(_changed_since(commit, top)), "new: changed since --diff-base",
                   "applied: unchanged since --diff-base")


def configured(candidates: list[Candidate],
               last_applied: Callable[[Candidate], tuple[str, ...]]) -> list[Candidate]:
    """Apply `applied-migrations` (per project): in each migration stream, the migrations up
    to and including the last one whose path from the project root, or name, matches one of
    the configured globs have run. The SQL migrations are one stream, in the order they apply;
    the Python migrations of one folder (a Django app's `migrations/`, Alembic's `versions/`)
    are another, in their own order (`python_migration_order`)."""
    out = list(candidates)
    streams: dict[tuple[tuple[str, ...], str], list[int]] = {}
    for i, c in enumerate(candidates):
        patterns = last_applied(c)
        if not patterns:
            continue
        if c.kind == "migration":
            streams.setdefault((patterns, ""), []).append(i)
        elif c.kind == "python" and c.role.role != TEST:
            streams.setdefault((patterns, str(c.path.parent)), []).append(i)
    for (patterns, folder), members in streams.items():
        if folder:
            position = {path: i for i, path in
                        enumerate(python_migration_order([candidates[i].path for i in members]))}
            members.sort(key=lambda i: position[candidates[i].path])
        matched = [(position, pattern) for position, i in enumerate(members)
                   for pattern in patterns
                   if fnmatch.fnmatch(candidates[i].rel, pattern)
                   or fnmatch.fnmatch(candidates[i].path.name, pattern)]
        if not matched:
            continue
        last, shown = max(matched)
        for position, i in enumerate(members):
            applied = position <= last
            out[i] = replace(candidates[i], applied=applied,
                             history=f"{'applied' if applied else 'new'}: "
                                     f"applied-migrations = {shown!r}")
    return out


def python_migration_order(paths: list[Path]) -> list[Path]:
    """Python migrations of one folder in the order they apply: Alembic revisions along their
    `down_revision` chain (read from the module's top-level assignments), after every other
    file (Django's `0001_initial.py`, ...), which goes by name."""
    revisions = {path: revision for path in paths
                 if (revision := _alembic_revision(path)) is not None}
    by_id = {revision[0]: path for path, revision in revisions.items()}
    ordered: list[Path] = []
    done: set[Path] = set()
    for start in sorted(revisions, key=lambda p: p.name):
        # Depth first, parents before children, without recursion (chains run to thousands);
        # a path already on the stack is a cycle, left where it is.
        stack = [start]
        while stack:
            path = stack[-1]
            if path in done:
                stack.pop()
                continue
            parents = [by_id[d] for d in revisions[path][1]
                       if d in by_id and by_id[d] not in done and by_id[d] not in stack]
            if parents:
                stack.append(parents[0])
                continue
            stack.pop()
            done.add(path)
            ordered.append(path)
    return sorted((p for p in paths if p not in revisions), key=lambda p: p.name) + ordered


def _alembic_revision(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(revision, down revisions) of the Alembic module at `path`, or None."""
    from pglint.python.schema import alembic_revision

    try:
        return alembic_revision(path.read_bytes())
    except OSError:
        return None
