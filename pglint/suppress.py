"""Suppression comments: `-- pglint: ignore[PGL101]` and `-- pglint: ignore-file[...]`.

A comment at the end of a line covers that line and the statement ending on it; a comment on a
line of its own covers the statement that starts on the next line (or that next line). Without
codes, it covers every rule. Suppressions that cover nothing are reported as PGL902.

squawk's own comments are honoured too, for projects that ran squawk before: `-- squawk-ignore
NAME, ...` covers the next statement for the pglint rules that cover those squawk rules
(`Rule.squawk`), `-- squawk-ignore-file [NAME, ...]` the whole file; without names, every rule
that covers a squawk rule. Names pglint has no rule for are skipped (a comment naming only such
rules suppresses nothing), and squawk's comments are never reported as unused: squawk may
still read them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.source import SourceFile
from pglint.sql.lexer import Comment
from pglint.sql.parse import Statement

_DIRECTIVE = re.compile(
    r"pglint:\s*(?P<kind>ignore-file|ignore)(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_SQUAWK = re.compile(r"\bsquawk-(?P<kind>ignore-file|ignore)\b(?P<names>[ \t]+[\w\-, \t]*)?",
                     re.IGNORECASE)


def may_suppress(text: str) -> bool:
    """Whether `text` can hold a suppression comment at all (a cheap test before the comments
    are read), in any case, as the directives are matched."""
    lowered = text.lower()
    return "pglint" in lowered or "squawk-" in lowered


@dataclass
class Suppression:
    start: int  # character offsets of the directive, for PGL902
    end: int
    codes: tuple[str, ...]  # empty: every rule
    first_line: int
    last_line: int  # 0 for the whole file
    comment: Comment | None = None
    used: set[str] = field(default_factory=set)
    spelled: tuple[str, ...] = ()  # `codes` as written (a rule's name or its code)
    foreign: bool = False  # squawk's comment: never reported as unused

    def covers(self, code: str, line: int) -> bool:
        if self.codes and code not in self.codes:
            return False
        return self.last_line == 0 or self.first_line <= line <= self.last_line


def find_suppressions(file: SourceFile, comments: list[Comment],
                      statements: list[Statement]) -> list[Suppression]:
    from pglint.registry import codes_by_name

    names = codes_by_name()
    spans = [(file.position(s.start)[0], file.position(s.end)[0]) for s in statements]
    out: list[Suppression] = []
    for comment in comments:
        for match, codes, spelled, foreign in _directives(comment, names):
            start = comment.start + match.start()
            end = comment.start + match.end()
            line, _ = file.position(comment.start)
            if match.group("kind").lower() == "ignore-file":
                out.append(Suppression(start, end, codes, 1, 0, comment, spelled=spelled,
                                       foreign=foreign))
                continue
            before = file.text[file.line_starts[line - 1]:comment.start]
            if before.strip():
                first, last = line, line
                for a, b in spans:
                    if b == line:
                        first = min(first, a)
            else:
                first = last = _next_code_line(file, line)
                for a, b in spans:
                    if a == first:
                        last = max(last, b)
            out.append(Suppression(start, end, codes, first, last, comment, spelled=spelled,
                                   foreign=foreign))
    return out


def _directives(comment: Comment, names: dict[str, str]):
    """(match, codes, codes as written, squawk's?) of each directive in a comment."""
    for match in _DIRECTIVE.finditer(comment.text):
        spelled = tuple(c.strip() for c in (match.group("codes") or "").split(",")
                        if c.strip())
        # A rule's name stands for its code.
        yield match, tuple(names.get(c.upper(), c.upper()) for c in spelled), spelled, False
    if "squawk-" not in comment.text.lower():
        return
    from pglint.registry import squawk_aliases

    aliases = squawk_aliases()
    for match in _SQUAWK.finditer(comment.text):
        wanted = [n.strip().upper() for n in re.split(r"[,\s]+", match.group("names") or "")
                  if n.strip()]
        if wanted:
            codes = tuple(dict.fromkeys(c for n in wanted for c in aliases.get(n, ())))
            if not codes:
                continue  # only rules pglint does not have: nothing of pglint's to suppress
        else:  # every rule squawk would have been quiet about
            codes = tuple(dict.fromkeys(c for cs in aliases.values() for c in cs))
        yield match, codes, codes, True


def _next_code_line(file: SourceFile, line: int) -> int:
    """The first line after `line` that holds something other than blanks and comments."""
    total = len(file.line_starts)
    nxt = line + 1
    while nxt <= total:
        text = file.line_text(nxt).strip()
        if text and not text.startswith("--"):
            return nxt
        nxt += 1
    return line + 1


def removal_edits(text: str, s: Suppression, keep: list[str]) -> list[tuple[int, int, str]]:
    """Edits (start, end, content) that drop the unused part of a suppression.

    Codes still in use are kept. A comment (`-- `, `/* */` or Python's `#`) that held nothing
    but the directive goes whole, with its line when it stood alone; a directive that shares
    its comment with other words goes with its own `#`/`--` marker when it has one (`# noqa  #
    pglint: ignore[...]`), else with the blanks that separate it: no bare `# ` is left behind.
    """
    if keep:
        directive = text[s.start:s.end]
        bracket = directive.index("[")
        return [(s.start + bracket, s.end, "[" + ", ".join(keep) + "]")]
    comment = s.comment
    if comment is None:
        return [(s.start, s.end, "")]
    body = comment.text
    block = body.startswith("/*")
    before = body[:s.start - comment.start]
    after = body[s.end - comment.start:]
    if block and after.rstrip().endswith("*/"):
        after = after.rstrip()[:-2]
    marker = _MARKER.search(before)
    if not after.strip():
        if marker is not None and marker.start() == 0:
            return _remove_comment(text, comment)  # the comment held the directive only
        # Words before it: `# noqa  # pglint: ignore[X]` loses `  # pglint: ignore[X]`.
        start = comment.start + marker.start() if marker is not None else s.start
        while start > comment.start and text[start - 1] in " \t":
            start -= 1
        return [(start, s.end if block else comment.end, "")]
    # Words after it: `# pglint: ignore[X] because ...` becomes `# because ...`.
    end = s.end
    while end < comment.end and text[end] in " \t":
        end += 1
    return [(s.start, end, "")]


# The comment marker right before a directive (`#`, `--`, `/*`), and the blanks after it.
_MARKER = re.compile(r"(?:#|--|/\*)[ \t]*$")


def _remove_comment(text: str, comment: Comment) -> list[tuple[int, int, str]]:
    """Remove a whole comment: with its line when it stood alone, else with the blanks before
    it."""
    line_start = text.rfind("\n", 0, comment.start) + 1
    line_end = text.find("\n", comment.end)
    line_end = len(text) if line_end < 0 else line_end
    if not text[line_start:comment.start].strip() and not text[comment.end:line_end].strip():
        return [(line_start, min(len(text), line_end + 1), "")]
    start = comment.start
    while start > line_start and text[start - 1] in " \t":
        start -= 1
    return [(start, comment.end, "")]


UNUSED_SUPPRESSION = ("PGL902", "unused-suppression")


def apply_suppressions(file: SourceFile, parsed, findings: list[Finding], report_unused: bool,
                       judged: Callable[[str], bool], known_codes: set[str]) -> list[Finding]:
    """The findings no suppression covers, plus PGL902 findings (with a safe fix) for
    suppressions that covered nothing. `judged(code)` says whether an unused code can be
    reported: a rule that did not run this time cannot be said to have found nothing."""
    suppressions = find_suppressions(file, parsed.comments, parsed.statements)
    if not suppressions:
        return findings
    kept = []
    for finding in findings:
        line = finding.row or file.position(finding.start)[0]
        hit = next((s for s in suppressions if s.covers(finding.code, line)), None)
        if hit is None:
            kept.append(finding)
        else:
            hit.used.add(finding.code)
    if not report_unused:
        return kept
    for s in suppressions:
        if s.foreign:
            continue
        if not s.codes:
            if s.used:
                continue
            message, keep = "unused suppression: it suppressed no finding", []
        else:
            spelled = dict(zip(s.codes, s.spelled or s.codes))
            unknown = [c for c in s.codes if c not in known_codes]
            unused = [c for c in s.codes if c in known_codes and c not in s.used and judged(c)]
            if not unknown and not unused:
                continue
            keep = [spelled[c] for c in s.codes if c not in unknown and c not in unused]
            parts = []
            if unknown:
                parts.append(f"unknown rule code{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(spelled[c] for c in unknown)}")
            if unused:
                parts.append(f"{', '.join(spelled[c] for c in unused)} reported nothing here")
            message = "unused suppression: " + "; ".join(parts)
        edits = tuple(Edit(a, b, c) for a, b, c in removal_edits(file.text, s, keep))
        fix = Fix("Remove the unused suppression", Applicability.SAFE, edits)
        kept.append(Finding(*UNUSED_SUPPRESSION, message, file.display_path, s.start, s.end,
                            fix=fix))
    return kept
