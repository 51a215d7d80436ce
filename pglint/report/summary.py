"""The closing summary shared by the text formats."""

from __future__ import annotations

from collections import Counter

from pglint.finding import Applicability, Finding
from pglint.report import ReportSettings, RunReport


def counts(findings: list[Finding]) -> tuple[int, int]:
    """(fixable with --fix, fixable with --unsafe-fixes only)."""
    safe = sum(1 for f in findings if f.fix and f.fix.applicable
               and f.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for f in findings if f.fix and f.fix.applicable
                 and f.fix.applicability is Applicability.UNSAFE)
    return safe, unsafe


def summary_line(findings: list[Finding], files: int, fixed: int = 0, baselined: int = 0) -> str:
    if files == 0 and not findings:
        return "No files to lint."
    text = _summary(findings, files, fixed)
    if baselined:
        text += (f"\n{baselined} baselined finding{'s' if baselined != 1 else ''} "
                 f"not shown (--baseline).")
    return text


def _summary(findings: list[Finding], files: int, fixed: int) -> str:
    if not findings:
        head = f"All checks passed: {files} file{'s' if files != 1 else ''} linted, no findings."
        return head + (f" Fixed {fixed} finding{'s' if fixed != 1 else ''}." if fixed else "")
    n = len(findings)
    # The files the findings are in, as ruff counts them: not the files linted, which the
    # clean run's line gives.
    where = len({f.path for f in findings})
    text = f"Found {n} finding{'s' if n != 1 else ''} in {where} file{'s' if where != 1 else ''}."
    if fixed:
        text = f"Fixed {fixed}; {n} remaining in {where} file{'s' if where != 1 else ''}."
    safe, unsafe = counts(findings)
    if safe:
        text += f"\n[*] {safe} fixable with `--fix`."
    if unsafe:
        text += f"\n[-] {unsafe} more fixable with `--fix --unsafe-fixes`."
    return text


def by_rule(findings: list[Finding]) -> list[tuple[str, str, int]]:
    counter = Counter((f.code, f.name) for f in findings)
    return [(code, name, count) for (code, name), count in sorted(counter.items())]


def statistics(findings: list[Finding]) -> list[dict]:
    """Per-rule counts (`--statistics`), most frequent first, as ruff prints them."""
    groups: dict[str, list[Finding]] = {}
    for finding in findings:
        groups.setdefault(finding.code, []).append(finding)
    rows = []
    for code, name, count in by_rule(findings):
        safe, unsafe = counts(groups[code])
        rows.append({"code": code, "name": name, "count": count,
                     "fixable": "safe" if safe else "unsafe" if unsafe else None})
    rows.sort(key=lambda r: (-r["count"], r["code"]))
    return rows


def render_statistics(findings: list[Finding]) -> str:
    rows = statistics(findings)
    if not rows:
        return ""
    count_width = max(len(str(r["count"])) for r in rows)
    code_width = max(len(r["code"]) for r in rows)
    markers = {"safe": "[*] ", "unsafe": "[-] ", None: ""}
    return "".join(f"{r['count']:>{count_width}}\t{r['code']:<{code_width}}\t"
                   f"{markers[r['fixable']]}{r['name']}\n" for r in rows)


def report(run: RunReport, settings: ReportSettings) -> str:
    """`--statistics`: the counts per rule instead of the findings (JSON with `json`)."""
    if settings.output_format == "json":
        import json

        return json.dumps(statistics(run.findings), indent=2) + "\n"
    return render_statistics(run.findings)
