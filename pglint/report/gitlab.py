"""GitLab Code Quality report (a JSON list of issues) for merge-request widgets.

The fingerprint is the stable one of `pglint.baseline` (code, repository path, flagged text and
occurrence index; no line number), so GitLab sees a finding as unchanged when other lines move.
"""

from __future__ import annotations

import json

from pglint.baseline import fingerprints, repository_path, repository_root
from pglint.finding import Finding, Severity
from pglint.report import ReportSettings, RunReport
from pglint.source import SourceFile

SEVERITIES = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}


def build(findings: list[Finding], files: dict[str, SourceFile],
          root: str | None = None) -> list[dict]:
    root = root or repository_root()
    prints = fingerprints(findings, files, root)
    return [{
        "description": f"{f.code} {f.message}",
        "check_name": f.code,
        "fingerprint": p,
        "severity": SEVERITIES[f.severity],
        "location": {"path": repository_path(f.path, root),
                     "lines": {"begin": f.row or 1,
                               "end": max(f.row or 1, f.end_row or 1)}},
    } for f, p in zip(findings, prints)]


def render(findings: list[Finding], files: dict[str, SourceFile],
           root: str | None = None) -> str:
    return json.dumps(build(findings, files, root), indent=2, ensure_ascii=False)


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings, run.files) + "\n"
