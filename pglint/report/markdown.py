"""Markdown for a pull-request comment: a heading with counts, a table of findings and, per
finding, a collapsed `<details>` with its fix (the diff an applicable fix makes, or the
suggested SQL).

Paths are plain text relative to the repository root, as in the other CI formats. GitHub
rejects comments over 65,536 characters, so the output stays under `LIMIT`: fix details are
dropped first (from the last finding back), then the table keeps the first findings of each
rule and says how many more each rule has.

Text from linted files (messages naming identifiers, paths, fixes) can hold anything: control
and bidirectional characters are shown as visible ones (`pglint.report.text`), a table cell
stays one line with its `|` escaped, HTML and link brackets outside code spans are shown as
text, and a code block's fence is longer than any run of backticks in it.
"""

from __future__ import annotations

import html
import re

from pglint.baseline import repository_path, repository_root
from pglint.finding import Applicability, Finding
from pglint.report import ReportSettings, RunReport
from pglint.report.summary import by_rule, counts
from pglint.report.text import one_line, visible
from pglint.source import SourceFile

LIMIT = 60_000
LABELS = {Applicability.SAFE: "safe fix", Applicability.UNSAFE: "unsafe fix",
          Applicability.DISPLAY: "suggestion"}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' if n != 1 else ''}"


def _code(text: str) -> str:
    """An inline code span holding `text` whatever backticks it contains."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _block(text: str, language: str) -> str:
    # Any run of backticks counts, not only one at the start of a line: a diff's context line
    # ` ```` is a closing fence too (up to three spaces of indentation are allowed).
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{visible(text).rstrip()}\n{fence}\n"


_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def _inline(text: str, html_code: bool = False) -> str:
    """Message-like text for Markdown: HTML-like text outside code spans is shown as text
    (inside them it is already literal), and so are `[`, `]` and `\\` (no link or image a file
    could plant); with html_code, code spans become `<code>` elements, for HTML blocks such as
    `<summary>` where Markdown is not rendered."""
    text = one_line(text)
    out, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_plain(text[last:match.start()], html_code))
        out.append(f"<code>{html.escape(match.group(2).strip(), quote=False)}</code>"
                   if html_code else match.group())
        last = match.end()
    out.append(_plain(text[last:], html_code))
    return "".join(out)


def _plain(text: str, html_code: bool) -> str:
    """Text outside code spans: HTML shown as text; in Markdown, no link brackets either."""
    text = html.escape(text, quote=False)
    return text if html_code else re.sub(r"([\\\[\]])", r"\\\1", text)


def _cell(text: str) -> str:
    """Table cell text: one line, `|` escaped (inside code spans too, as GitHub wants)."""
    return " ".join(visible(text).split()).replace("|", "\\|")


def _location(f: Finding, path: str) -> str:
    return f"{path}:{f.row}" if f.row else path


def _heading(findings: list[Finding], file_count: int, baselined: int) -> str:
    if not findings:
        text = "### pglint: no findings\n\n"
        text += f"All checks passed: {_plural(file_count, 'file')} linted.\n"
    else:
        with_findings = len({f.path for f in findings})
        text = (f"### pglint: {_plural(len(findings), 'finding')} in "
                f"{_plural(with_findings, 'file')}\n\n")
        text += " · ".join(f"{_code(code)} {name}: {n:,}"
                           for code, name, n in by_rule(findings)) + "\n"
        safe, unsafe = counts(findings)
        fixable = []
        if safe:
            fixable.append(f"{safe:,} fixable with `pglint check --fix`")
        if unsafe:
            fixable.append(f"{unsafe:,} more with `--unsafe-fixes`")
        if fixable:
            text += "\n" + ", ".join(fixable).capitalize() + ".\n"
    if baselined:
        text += f"\n{_plural(baselined, 'baselined finding')} not shown (`--baseline`).\n"
    return text


def _row(f: Finding, path: str) -> str:
    return f"| {_cell(_code(_location(f, path)))} | {f.code} | {_cell(_inline(f.message))} |\n"


def _table(rows: list[str], more: dict[str, int]) -> str:
    text = "\n| Location | Rule | Message |\n|---|---|---|\n" + "".join(rows)
    text += "".join(f"| | {code} | … and {_plural(n, 'more finding')} |\n"
                    for code, n in more.items())
    return text


def _fix_body(f: Finding, file: SourceFile | None) -> str:
    fix = f.fix
    if fix.applicable and file is not None and file.text:
        from pglint.fixer import fix_diff

        diff = fix_diff(file.text, f)
        if diff:
            return _block("\n".join(diff), "diff")
    return _block(fix.suggestion, "sql") if fix.suggestion else ""


def _details(f: Finding, path: str, file: SourceFile | None) -> str:
    if f.fix is None:
        return ""
    summary = (f"<code>{html.escape(one_line(_location(f, path)))}</code> {f.code}: "
               f"{_inline(f.fix.title, html_code=True)} ({LABELS[f.fix.applicability]})")
    return f"<details>\n<summary>{summary}</summary>\n\n{_fix_body(f, file)}\n</details>\n"


def _truncated_table(findings: list[Finding], paths: list[str], budget: int) -> tuple[str, int]:
    """The table with at most k findings per rule, k as large as fits in `budget` characters;
    and how many findings it leaves out."""
    order: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        order.setdefault(f.code, []).append(i)
    rows = [_row(f, p) for f, p in zip(findings, paths)]

    def build(k: int) -> tuple[str, int]:
        kept = sorted(i for indices in order.values() for i in indices[:k])
        more = {code: len(indices) - k for code, indices in order.items() if len(indices) > k}
        return _table([rows[i] for i in kept], more), sum(more.values())

    low, high = 0, max(len(indices) for indices in order.values())
    while low < high:  # the largest k that fits (k = 0 keeps only the "and N more" rows)
        k = (low + high + 1) // 2
        if len(build(k)[0]) <= budget:
            low = k
        else:
            high = k - 1
    return build(low)


def render(findings: list[Finding], files: dict[str, SourceFile], file_count: int = 0,
           root: str | None = None, baselined: int = 0, limit: int = LIMIT) -> str:
    root = root or repository_root()
    heading = _heading(findings, file_count, baselined)
    if not findings:
        return heading
    paths = [repository_path(f.path, root) for f in findings]
    table = _table([_row(f, p) for f, p in zip(findings, paths)], {})
    notes = ("\nFix details are left out to keep this comment within GitHub's size limit; "
             "`pglint check` shows them.\n")
    if len(heading) + len(table) + len(notes) > limit:
        left_out_note = ("\n{n} are left out of the table to keep this comment within GitHub's "
                         "size limit; `pglint check` lists them all.\n")
        budget = limit - len(heading) - len(notes) - len(left_out_note) - 20
        table, left_out = _truncated_table(findings, paths, budget)
        notes = left_out_note.format(n=_plural(left_out, "finding")) + notes
        return heading + table + notes
    details = [_details(f, p, files.get(f.path)) for f, p in zip(findings, paths)]
    room = limit - len(heading) - len(table)
    if len("\n" + "".join(details)) <= room:
        return heading + table + "\n" + "".join(details)
    # Keep the first findings' details that fit, with a note of how many are left out.
    kept: list[str] = []
    used = len("\n") + len(notes) + 40
    for block in details:
        if used + len(block) > room:
            break
        kept.append(block)
        used += len(block)
    left = sum(1 for block in details[len(kept):] if block)
    notes = (f"\nFix details of {_plural(left, 'finding')} are left out to keep this comment "
             f"within GitHub's size limit; `pglint check` shows them.\n")
    return heading + table + "\n" + "".join(kept) + notes


def report(run: RunReport, settings: ReportSettings) -> str:
    return render(run.findings, run.files, run.file_count, baselined=run.baselined)
