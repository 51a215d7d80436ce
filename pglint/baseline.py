"""Stable identities of findings, and baselines built from them.

A baseline records today's findings so that a legacy repository can adopt pglint and see only
new ones. A finding is identified by its code, its path relative to the repository root, a hash
of the whitespace-normalized text of the lines it flags, and its occurrence index among findings
with those same three: never by line number, so that edits elsewhere in a file (or a moved
statement) keep it baselined. The same fingerprint serves the machine formats (SARIF
partialFingerprints, GitLab Code Quality fingerprints).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pglint.finding import Finding
from pglint.paths import relative_or_absolute
from pglint.source import SourceFile

BASELINE_VERSION = 1


class BaselineError(Exception):
    """A baseline file that is missing or cannot be used (exit code 2)."""


def repository_root(start: str | None = None) -> str:
    """The git top-level directory above `start` (default: the working directory), else `start`.

    Found by looking for `.git` (a directory, or a file in worktrees and submodules) rather than
    by running git: no subprocess on every run.
    """
    start = os.path.abspath(start or os.getcwd())
    folder = start
    while True:
        if os.path.exists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent


def repository_path(path: str, root: str) -> str:
    """A finding's path relative to the repository root, with `/` separators; a file outside
    the root keeps its absolute path."""
    return relative_or_absolute(path, root)


def flagged_text(finding: Finding, file: SourceFile | None) -> str:
    """The whitespace-normalized text of the whole lines a finding flags."""
    if file is None or not file.text or not finding.row:
        return ""
    last = max(finding.row, finding.end_row or finding.row)
    if last > finding.row and finding.end_column == 1:
        last -= 1  # the span ends at the start of a line: that line is not flagged
    last = min(last, len(file.line_starts))
    return " ".join(" ".join(file.line_text(n).split()) for n in range(finding.row, last + 1))


def fingerprints(findings: list[Finding], files: dict[str, SourceFile],
                 root: str | None = None) -> list[str]:
    """One stable fingerprint per finding (same order): a hex digest of code, repository path,
    flagged text and occurrence index."""
    root = root or repository_root()
    seen: dict[tuple[str, str, str], int] = {}
    result = []
    for f in findings:
        path = repository_path(f.path, root)
        text_hash = hashlib.sha256(flagged_text(f, files.get(f.path)).encode()).hexdigest()
        key = (f.code, path, text_hash)
        index = seen.get(key, 0)
        seen[key] = index + 1
        digest = hashlib.sha256(f"{f.code}\0{path}\0{text_hash}\0{index}".encode()).hexdigest()
        result.append(digest[:32])
    return result


@dataclass
class Baseline:
    path: Path
    fingerprints: frozenset[str]

    def filter(self, findings: list[Finding], files: dict[str, SourceFile],
               root: str | None = None) -> tuple[list[Finding], int]:
        """(findings not in the baseline, number of findings the baseline holds back)."""
        prints = fingerprints(findings, files, root)
        kept = [f for f, p in zip(findings, prints) if p not in self.fingerprints]
        return kept, len(findings) - len(kept)

    def keep(self, findings: list[Finding], loaded: list) -> list[Finding]:
        """The engine's filter form (`engine.lint_and_fix(keep=...)`): LoadedFiles in."""
        files = {f.candidate.display: f.file for f in loaded if f.file is not None}
        return self.filter(findings, files)[0]


def load_baseline(path: Path) -> Baseline:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"baseline file not found: {path} "
                            f"(create it with `pglint baseline --output {path}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"cannot read baseline file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"invalid baseline file {path}: not JSON ({exc})") from None
    entries = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries):
        raise BaselineError(f"invalid baseline file {path}: expected an object with a "
                            f"`findings` list of objects with a `fingerprint`")
    if data.get("version") != BASELINE_VERSION:
        raise BaselineError(f"invalid baseline file {path}: unsupported version "
                            f"{data.get('version')!r} (expected {BASELINE_VERSION})")
    return Baseline(path, frozenset(e["fingerprint"] for e in entries))


def render_baseline(findings: list[Finding], files: dict[str, SourceFile],
                    root: str | None = None) -> str:
    """The baseline file's text: one entry per finding, sorted, without line numbers (so that
    regenerating it after edits elsewhere changes little; the message is there for readers)."""
    root = root or repository_root()
    prints = fingerprints(findings, files, root)
    entries = sorted(
        ({"code": f.code, "path": repository_path(f.path, root), "fingerprint": p,
          "message": f.message} for f, p in zip(findings, prints)),
        key=lambda e: (e["path"], e["code"], e["fingerprint"]))
    return json.dumps({"version": BASELINE_VERSION, "findings": entries}, indent=2,
                      ensure_ascii=False) + "\n"
