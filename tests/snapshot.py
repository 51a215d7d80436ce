"""A small JSON snapshot helper (the ruff/squawk way): rendered findings are compared with a
reviewed file under tests/snapshots/, and rewritten only when asked.

Run `PGLINT_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py` to accept changes, then
review `git diff tests/snapshots/` like any other change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pglint.finding import Finding

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("PGLINT_UPDATE_SNAPSHOTS") == "1"


def render_finding(finding: Finding, root: Path) -> dict:
    """Everything a user sees of a finding, with the path from the project root."""
    path = Path(finding.path)
    try:
        shown = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = path.as_posix()
    # Messages that name another file by its absolute path would differ per checkout; mark it.
    def local(text: str) -> str:
        return text.replace(str(root.resolve()) + os.sep, "<root>/")

    rendered = {
        "code": finding.code,
        "location": f"{shown}:{finding.row}:{finding.column}-{finding.end_row}:{finding.end_column}",
        "severity": finding.severity.value,
        "message": local(finding.message),
        "help": local(finding.help),
    }
    if finding.fix is not None:
        rendered["fix"] = {
            "title": finding.fix.title,
            "applicability": finding.fix.applicability.value,
            "edits": [[e.start, e.end, e.content] for e in finding.fix.edits],
            "suggestion": local(finding.fix.suggestion),
        }
    return rendered


def assert_snapshot(name: str, data: object) -> None:
    """Compare `data` with tests/snapshots/<name>.json; write it instead when updating."""
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with PGLINT_UPDATE_SNAPSHOTS=1 and review it"
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert json.loads(text) == expected, (
        f"findings differ from {path.relative_to(SNAPSHOTS.parent.parent)}; if the change is "
        "intended, rerun with PGLINT_UPDATE_SNAPSHOTS=1 and review the diff")
