"""One line per finding: `path:row:col: CODE [*] message`, as ruff's concise format."""

from __future__ import annotations

from pglint.finding import Applicability, Finding
from pglint.report.text import one_line


def marker(f: Finding) -> str:
    if f.fix is None or not f.fix.applicable:
        return ""
    return "[*] " if f.fix.applicability is Applicability.SAFE else "[-] "


def render(findings: list[Finding]) -> str:
    return "".join(one_line(f"{f.path}:{f.row}:{f.column}: {f.code} {marker(f)}{f.message}")
                   + "\n" for f in findings)
