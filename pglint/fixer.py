"""Applying fixes: non-overlapping edits against the original text, written atomically."""

from __future__ import annotations

import difflib

from pglint.finding import Applicability, Edit, Finding


def applicable(finding: Finding, unsafe: bool) -> bool:
    fix = finding.fix
    if fix is None or not fix.applicable:
        return False
    return fix.applicability is Applicability.SAFE or (
        unsafe and fix.applicability is Applicability.UNSAFE)


def apply_fixes(text: str, findings: list[Finding], unsafe: bool) -> tuple[str, list[Finding]]:
    """Apply the fixes that do not overlap an earlier one; return the new text and what was fixed.

    Fixes left out because they overlap are picked up by the caller's next pass.
    """
    chosen: list[Finding] = []
    taken: list[tuple[int, int]] = []
    isolated: set[str] = set()
    candidates = [f for f in findings if applicable(f, unsafe)]
    for finding in sorted(candidates, key=lambda f: (f.fix.edits[0].start, f.code)):
        fix = finding.fix
        span = (fix.edits[0].start, fix.edits[-1].end)
        if any(span[0] <= b and a <= span[1] for a, b in taken):
            continue
        if fix.isolation is not None:
            if fix.isolation in isolated:
                continue
            isolated.add(fix.isolation)
        taken.append(span)
        chosen.append(finding)
    edits: list[Edit] = sorted(e for f in chosen for e in f.fix.edits)
    pieces = []
    cursor = 0
    for edit in edits:
        pieces.append(text[cursor:edit.start])
        pieces.append(edit.content)
        cursor = edit.end
    pieces.append(text[cursor:])
    return "".join(pieces), chosen


def fix_diff(text: str, finding: Finding) -> list[str]:
    """The diff lines (hunks with one line of context, no file header) of the finding's fix,
    applied alone: how reporters show a fix."""
    after, _ = apply_fixes(text, [finding], unsafe=True)
    return list(difflib.unified_diff(text.splitlines(), after.splitlines(), lineterm="", n=1))[2:]


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"a/{path}", tofile=f"b/{path}"))
