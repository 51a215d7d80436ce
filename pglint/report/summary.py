"""The closing summary shared by the text formats."""

from __future__ import annotations

from collections import Counter

from pglint.finding import Applicability, Finding


def counts(findings: list[Finding]) -> tuple[int, int]:
    """(fixable with --fix, fixable with --unsafe-fixes only)."""
    safe = sum(1 for f in findings if f.fix and f.fix.applicable
               and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicable
                 and f.fix.applicability is Applicability.UNSAFE)
    return safe, unsafe


def summary_line(findings: list[Finding], files: int, fixed: int = 0) -> str:
    if not findings:
        head = f"All checks passed: {files} file{'s' if files != 1 else ''} linted, no findings."
        return head + (f" Fixed {fixed} finding{'s' if fixed != 1 else ''}." if fixed else "")
    n = len(findings)
    text = f"Found {n} finding{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''}."
    if fixed:
        text = f"Fixed {fixed}; {n} remaining in {files} file{'s' if files != 1 else ''}."
    safe, unsafe = counts(findings)
    if safe:
        text += f"\n[*] {safe} fixable with `--fix`."
    if unsafe:
        text += f"\n[-] {unsafe} more fixable with `--unsafe-fixes`."
    return text


def by_rule(findings: list[Finding]) -> list[tuple[str, str, int]]:
    counter = Counter((f.code, f.name) for f in findings)
    return [(code, name, count) for (code, name), count in sorted(counter.items())]
