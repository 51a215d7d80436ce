"""JSON output in the shape of ruff's: a list of findings with 1-based rows and columns."""

from __future__ import annotations

import json

from pglint.finding import Finding
from pglint.report import ReportSettings, RunReport
from pglint.source import SourceFile


def _position(files: dict[str, SourceFile], path: str, offset: int) -> dict[str, int]:
    file = files.get(path)
    if file is None:
        return {"row": 1, "column": 1}
    row, column = file.position(offset)
    return {"row": row, "column": column}


def finding_json(f: Finding, files: dict[str, SourceFile]) -> dict:
    fix = None
    if f.fix is not None:
        fix = {
            "applicability": f.fix.applicability.value,
            "message": f.fix.title,
            "edits": [
                {"content": e.content, "location": _position(files, f.path, e.start),
                 "end_location": _position(files, f.path, e.end)}
                for e in f.fix.edits
            ],
        }
        if f.fix.suggestion:
            fix["suggestion"] = f.fix.suggestion
    return {
        "code": f.code,
        "name": f.name,
        "message": f.message,
        "severity": f.severity.value,
        "filename": f.path,
        "location": {"row": f.row, "column": f.column},
        "end_location": {"row": f.end_row, "column": f.end_column},
        "fix": fix,
        "help": f.help or None,
        "url": f.url or None,
    }


def render(findings: list[Finding], files: dict[str, SourceFile]) -> str:
    return json.dumps([finding_json(f, files) for f in findings], indent=2, ensure_ascii=False)


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings, run.files) + "\n"
