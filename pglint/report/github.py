"""GitHub Actions workflow commands: one `::warning`/`::error`/`::notice` annotation per
finding, shown on the pull request's diff.

    ::warning file=migrations/V1__x.sql,line=3,col=1,endLine=3,endColumn=27,title=PGL104 missing-fillfactor::message

Paths are relative to the repository root (the workspace GitHub checks out). Values are
escaped as the Actions runner expects: `%`, CR and LF in the message; also `:` and `,` in
properties. Other control characters and bidirectional ones from linted files are shown as
visible characters (`pglint.report.text.visible`): the job log is a terminal of sorts.
GitHub accepts `col`/`endColumn` only on single-line annotations.
"""

from __future__ import annotations

from pglint.baseline import repository_path, repository_root
from pglint.finding import Finding, Severity
from pglint.report import ReportSettings, RunReport
from pglint.report.text import visible

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(value: str) -> str:
    return visible(value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, path: str) -> str:
    line = f.row or 1
    end_line = max(line, f.end_row or line)
    props = [("file", path), ("line", str(line))]
    if end_line == line:
        props.append(("col", str(f.column or 1)))
    props.append(("endLine", str(end_line)))
    if end_line == line:
        props.append(("endColumn", str(max(f.end_column or 1, f.column or 1))))
    props.append(("title", f"{f.code} {f.name}"))
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{COMMANDS[f.severity]} {rendered}::{escape_data(f.message)}"


def render(findings: list[Finding], root: str | None = None) -> str:
    root = root or repository_root()
    return "".join(annotation(f, repository_path(f.path, root)) + "\n" for f in findings)


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings)
