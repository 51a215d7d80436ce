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
    from pglint.report.summary import summary_line

    summary = summary_line(run.findings, run.file_count, run.fixed, run.baselined) \
        if settings.summary else None
    if settings.color is not None:
        return _colored(run.findings, summary, settings.color)
    text = render(run.findings)
    if summary is not None:
        text += summary + "\n"
    return text


def _colored(findings: list[Finding], summary: str | None, color_system: str) -> str:
    """The same lines styled as the full format styles its headers (--color)."""
    import io

    from pglint.report.full import print_rich

    lines = [[(one_line(f"{f.path}:{f.row}:{f.column}: "), "bold"), (f.code, "bold red"),
              (" " + marker(f), "cyan"), (one_line(f.message), "")]
             for f in findings]
    if summary is not None:
        lines.extend([(text, "bold")] for text in summary.splitlines())
    buffer = io.StringIO()
    print_rich(lines, buffer, color_system=color_system)
    return buffer.getvalue()
