"""Which files git ignores, so that a walk skips them as ruff's does.

Inside a git work tree git itself is asked, once per folder walked: it knows every source of
ignore rules (nested .gitignore files, `.git/info/exclude`, the global excludes file) and their
exact semantics. Outside one, the .gitignore files of the folders walked are read by a small
matcher of the same syntax (negation `!`, folder patterns `dir/`, anchored `/x`, `**`).

As in git, a tracked file is never ignored, whatever a pattern says.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Iterable

from pglint.paths import relative_to

_TIMEOUT = 60


def _git(args: list[str], cwd: str, stdin: bytes | None = None) -> bytes | None:
    """git's output (bytes: file names need not be UTF-8), or None when git is missing, the
    folder is not in a work tree, or git fails: the caller then reads .gitignore files."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                             timeout=_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    # check-ignore exits 1 when nothing is ignored: an answer, not a failure.
    if out.returncode == 0 or (out.returncode == 1 and args[:1] == ["check-ignore"]):
        return out.stdout
    return None


def _names(output: bytes) -> list[str]:
    return [os.fsdecode(name) for name in output.split(b"\0") if name]


class _Pattern:
    """One line of a .gitignore file, as a regular expression over the path relative to the
    folder holding that file (with `/`)."""

    __slots__ = ("regex", "negated", "dir_only")

    def __init__(self, regex: re.Pattern, negated: bool, dir_only: bool) -> None:
        self.regex, self.negated, self.dir_only = regex, negated, dir_only


def _translate(glob: str) -> str:
    """A gitignore glob (without its anchoring slash) as a regular expression."""
    out, i, n = [], 0, len(glob)
    while i < n:
        c = glob[i]
        if glob.startswith("**", i) and (i == 0 or glob[i - 1] == "/"):
            after = glob[i + 2:i + 3]
            if after == "/":  # `**/`: zero or more folders
                out.append("(?:.*/)?")
                i += 3
                continue
            if after == "":  # a trailing `/**`: everything inside
                out.append(".*")
                i += 2
                continue
        if c == "*":
            out.append("[^/]*")
            while i + 1 < n and glob[i + 1] == "*":  # other runs of stars are one star
                i += 1
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(glob[i]))
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse(lines: Iterable[str]) -> list[_Pattern]:
    """The patterns of a .gitignore file's lines, in order (the last match wins)."""
    patterns = []
    for line in lines:
        line = line.rstrip("\r\n")
        if not line or line.startswith("#"):
            continue
        while line.endswith(" ") and not line.endswith("\\ "):
            line = line[:-1]
        negated = line.startswith("!")
        if negated or line.startswith(("\\!", "\\#")):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        # A slash at the start or in the middle anchors the pattern to the file's folder;
        # otherwise it matches a name at any depth.
        anchored = "/" in line
        regex = _translate(line.lstrip("/"))
        if not anchored:
            regex = "(?:.*/)?" + regex
        patterns.append(_Pattern(re.compile(regex + r"\Z", re.S), negated, dir_only))
    return patterns


class _Files:
    """The .gitignore files of a tree, read on demand: for the matcher outside git."""

    def __init__(self) -> None:
        self.by_folder: dict[str, list[_Pattern]] = {}
        self.silent: dict[tuple[str, str], bool] = {}

    def patterns(self, folder: str) -> list[_Pattern]:
        if folder not in self.by_folder:
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8",
                          errors="surrogateescape") as file:
                    self.by_folder[folder] = parse(file)
            except OSError:  # none, or unreadable: no rules from it
                self.by_folder[folder] = []
        return self.by_folder[folder]

    def ignored(self, absolute: str, is_dir: bool, stop: str) -> bool:
        """Whether the .gitignore files from `stop` down to the path's folder ignore it: the
        deepest file's last matching pattern decides."""
        folder = os.path.dirname(absolute)
        if self._silent(folder, stop):
            return False
        while True:
            rel = (relative_to(absolute, folder) or "").replace(os.sep, "/")
            for pattern in reversed(self.patterns(folder)):
                if (is_dir or not pattern.dir_only) and pattern.regex.match(rel):
                    return not pattern.negated
            if folder == stop or os.path.dirname(folder) == folder or not _below(folder, stop):
                return False
            folder = os.path.dirname(folder)

    def _silent(self, folder: str, stop: str) -> bool:
        """Whether no .gitignore has a pattern from `folder` up to `stop`, where `ignored`
        looks: then nothing in the folder is ignored (answered once per folder, not once per
        file and folder above it)."""
        key = (folder, stop)
        known = self.silent.get(key)
        if known is None:
            parent = os.path.dirname(folder)
            known = self.silent[key] = not self.patterns(folder) and (
                folder == stop or parent == folder or not _below(folder, stop)
                or self._silent(parent, stop))
        return known


class Ignored:
    """`ignored(absolute, is_dir)` for the paths found walking the folder `top`: git's answer
    inside a work tree (one `git ls-files` for the whole walk), else the .gitignore files from
    `stop` (the project's root, when `top` is below it) down."""

    def __init__(self, top: str, stop: str | None = None) -> None:
        self.top = top
        self.stop = stop if stop is not None and _below(top, stop) else top
        listed = _git(["ls-files", "-z", "--others", "--ignored", "--exclude-standard",
                       "--directory"], top)
        self.by_git = None if listed is None else \
            {os.path.normpath(os.path.join(top, name)) for name in _names(listed)}
        self.files = _Files()

    def __call__(self, absolute: str, is_dir: bool) -> bool:
        if self.by_git is not None:
            return absolute in self.by_git
        return self.files.ignored(absolute, is_dir, self.stop)


def _below(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def ignored_paths(paths: list[str], stop: str) -> set[str]:
    """Those of `paths` (absolute) that git ignores, or a folder above them does
    (`--force-exclude`): asked of git in one call where the working directory is in a work
    tree, else read from the .gitignore files from `stop` down."""
    if not paths:
        return set()
    answer = _git(["check-ignore", "-z", "--stdin"], os.getcwd(),
                  b"\0".join(os.fsencode(p) for p in paths) + b"\0")
    if answer is not None:
        return {os.path.normpath(os.path.abspath(p)) for p in _names(answer)}
    files = _Files()
    out = set()
    for path in paths:
        stop_here = stop if _below(path, stop) else os.path.dirname(path)
        folder, chain = path, []
        while folder != stop_here and os.path.dirname(folder) != folder:
            chain.append(folder)
            folder = os.path.dirname(folder)
        # A file in an ignored folder is ignored: git cannot re-include it.
        if any(files.ignored(p, p != path or os.path.isdir(p), stop_here)
               for p in reversed(chain)):
            out.add(path)
    return out
