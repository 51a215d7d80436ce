"""One line per finding: `path:row:col: CODE [*] message`, as ruff's concise format."""

from __future__ import annotations

from pglint.finding import Applicability, Finding
from pglint.report import ReportSettings, RunReport
from pglint.report.text import one_line


def marker(f: Finding) -> str:
    if f.fix is None or not f.fix.applicable:
        return ""
    return "[*] " if f.fix.applicability is Applicability.SAFE else "[-] "


def render(findings: list[Finding]) -> str:
    return "".join(one_line(f"{f.path}:{f.row}:{f.column}: {f.code} {marker(f)}{f.message}")
                   + "\n" for f in findings)


def report(run: RunReport, settings: ReportSettings) -> str:
    text = render(run.findings)
    if settings.summary:
        from pglint.report.summary import summary_line

        text += summary_line(run.findings, run.file_count, run.fixed, run.baselined) + "\n"
    return text
