"""The default format: each finding with a code frame, its fix as a diff or a suggestion, and
a summary. Styled with rich on a terminal; the same layout as plain text otherwise."""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from typing import TextIO

from pglint.finding import Applicability, Finding
from pglint.report import ReportSettings, RunReport
from pglint.report.summary import by_rule, summary_line
from pglint.report.text import one_line, visible
from pglint.source import SourceFile

MAX_FRAME_LINES = 6
HELP_INDENT = len("  = help: ")
MIN_HELP_WIDTH = 30  # below this, wrapping prose leaves a word or two per line: run past
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(\"'])")
Line = list[tuple[str, str]]  # (text, style) segments


def _frame(f: Finding, file: SourceFile) -> list[Line]:
    first, last = f.row, max(f.row, f.end_row)
    shown_last = min(last, first + MAX_FRAME_LINES - 1)
    width = len(str(shown_last))
    out: list[Line] = [[(" " * width + " |", "blue")]]
    for line in range(first, shown_last + 1):
        text = file.line_text(line).expandtabs(1)
        out.append([(f"{line:>{width}} | ", "blue"), (text, "")])
        if line == first:
            start = f.column - 1
            end = f.end_column - 1 if last == first else len(text)
            out.append([(" " * width + " | ", "blue"),
                        (" " * start + "^" * max(1, end - start), "bold red")])
    if shown_last < last:
        out.append([(" " * width + " | ", "blue"), (f"... ({last - shown_last} more lines)", "dim")])
    return out


def _fix_lines(f: Finding, file: SourceFile | None) -> list[Line]:
    fix = f.fix
    if fix is None:
        return []
    label = {Applicability.SAFE: "fix", Applicability.UNSAFE: "unsafe fix",
             Applicability.DISPLAY: "suggestion"}[fix.applicability]
    out: list[Line] = [[("  = ", "blue"), (f"{label}: ", "bold cyan"), (fix.title, "")]]
    if fix.applicable and file is not None:
        from pglint.fixer import fix_diff  # only findings with an applicable fix show a diff

        for line in fix_diff(file.text, f):
            style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
            out.append([("    ", ""), (line, style)])
    elif fix.suggestion:
        for line in fix.suggestion.splitlines():
            out.append([("    ", ""), (line, "green")])
    return out


def terminal_width() -> int:
    """The width to wrap prose to: the terminal's, or COLUMNS (what shutil reads), else 80."""
    return shutil.get_terminal_size().columns


def _help_lines(text: str, full: bool, width: int) -> list[Line]:
    """A finding's help: the whole explanation at the rule's first finding in the run, wrapped
    to the terminal; one line at the others (the first sentence, cut to fit), so that a rule
    found a hundred times does not repeat the same paragraph a hundred times."""
    room = max(MIN_HELP_WIDTH, width - HELP_INDENT)
    if full:
        wrapped = textwrap.wrap(text, width=room) or [""]
    else:
        first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
        wrapped = [first if len(first) <= room else first[:room - 1].rstrip() + "\u2026"]
    out: list[Line] = [[("  = ", "blue"), ("help: ", "bold"), (wrapped[0], "")]]
    out.extend([(" " * HELP_INDENT + rest, "")] for rest in wrapped[1:])
    return out


def build(findings: list[Finding], files: dict[str, SourceFile], file_count: int,
          fixed: int = 0, baselined: int = 0, summary: bool = True) -> list[Line]:
    """The report's lines; without `summary` (`--quiet`), the findings only."""
    lines: list[Line] = []
    width = terminal_width()
    explained: set[str] = set()  # rules whose full explanation is shown already
    for f in findings:
        lines.append([(one_line(f"{f.path}:{f.row}:{f.column}: "), "bold"), (f.code, "bold red"),
                      (one_line(f" {f.message}"), "")])
        file = files.get(f.path)
        if file is not None and file.text:
            lines.extend(_frame(f, file))
        if f.help:
            lines.extend(_help_lines(f.help, f.code not in explained, width))
            explained.add(f.code)
        lines.extend(_fix_lines(f, file))
        lines.append([])
    if not summary:
        return lines
    rules = by_rule(findings)
    if len(rules) > 1:
        width = max(len(name) for _, name, _ in rules)
        for code, name, count in rules:
            lines.append([(f"{count:>5}  ", "bold"), (code, "red"), (f"  {name:<{width}}", "")])
        lines.append([])
    for text in summary_line(findings, file_count, fixed, baselined).splitlines():
        lines.append([(text, "bold")])
    return lines


def render_plain(lines: list[Line]) -> str:
    return "".join("".join(visible(text) for text, _ in line) + "\n" for line in lines)


def print_rich(lines: list[Line], file: TextIO | None = None,
               color_system: str | None = None) -> None:
    """The lines in colour on `file` (stdout), whatever the stream is: the caller decided.
    `color_system` is rich's (by default "auto" on a terminal, else "standard")."""
    from rich.console import Console
    from rich.text import Text

    stream = file if file is not None else sys.stdout
    console = Console(file=stream, highlight=False, soft_wrap=True, force_terminal=True,
                      no_color=False,
                      color_system=color_system or ("auto" if stream.isatty() else "standard"))
    for line in lines:
        text = Text()
        for segment, style in line:
            text.append(visible(segment), style=style or None)
        console.print(text)


def report(run: RunReport, settings: ReportSettings) -> str:
    lines = build(run.findings, run.files, run.file_count, run.fixed, run.baselined,
                  summary=settings.summary)
    if settings.color is None:
        return render_plain(lines)
    import io

    buffer = io.StringIO()
    print_rich(lines, buffer, color_system=settings.color)
    return buffer.getvalue()
