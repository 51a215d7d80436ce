"""Rules' text hints, tested fast: a regular expression is searched for only where a literal
that every match starts with occurs.

A hint pattern such as `\\bcreate(?:_async)?_engine\\(|\\bDATABASES\\s*=` has no literal
prefix that Python's `re` can scan for (the `\\b` and the top-level alternation hide it), so
`search` tries the pattern at every character of the file: over a large application's every
.py file, a few such hints cost a third of a second. Each match of it starts with `create` or
`DATABASES`, though: `str.find` locates those, and the pattern is tried there only. The answer
is the same (a match starts at one of those places, or nowhere). A pattern that starts with a
literal is searched for as before (re scans for that prefix itself, faster than a loop here),
and so is one whose matches need not start with a literal (a character class, a repetition, a
case-insensitive part).
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _constants as _sre, _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# A one-character literal occurs so often in code (`.`) that trying the pattern at each
# occurrence costs more than `re`'s own scan.
_SHORTEST_NEEDLE = 2
# Operations that match no character: the literal after them starts the match.
_ZERO_WIDTH = frozenset({_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT})


class NeedledPattern:
    """A compiled pattern whose matches all start with one of `needles`; `search(text)` is
    true exactly when `pattern.search(text)` is."""

    __slots__ = ("pattern", "needles")

    def __init__(self, pattern: re.Pattern, needles: tuple[str, ...]) -> None:
        self.pattern = pattern
        self.needles = needles

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in `text` (not where: a hint asks no more)."""
        match = self.pattern.match
        find = text.find
        for needle in self.needles:
            at = find(needle)
            while at >= 0:
                # `match` at a position sees the text before it (`\b`, look-behinds), as
                # `search` does.
                if match(text, at) is not None:
                    return True
                at = find(needle, at + 1)
        return False

    def __repr__(self) -> str:
        return f"NeedledPattern({self.pattern.pattern!r}, {self.needles!r})"


def _starts(items: list[tuple[Any, Any]]) -> set[str] | None:
    """The literals one of which every match of the parsed sequence `items` starts with, or
    None when no such set is known."""
    i = 0
    while i < len(items) and items[i][0] in _ZERO_WIDTH:
        i += 1
    run = []
    while i < len(items) and items[i][0] is _sre.LITERAL:
        run.append(chr(items[i][1]))
        i += 1
    head = "".join(run)
    if i == len(items):
        return {head} if head else None
    op, av = items[i]
    tails: set[str] | None = None
    if op is _sre.BRANCH:
        tails = set()
        for branch in av[1]:
            found = _starts(list(branch))
            if found is None:
                tails = None
                break
            tails |= found
    elif op is _sre.SUBPATTERN and not av[1] and not av[2]:  # a group, flags unchanged
        tails = _starts(list(av[3]))
    if tails is None:
        return {head} if head else None
    return {head + tail for tail in tails}


def needled(pattern: re.Pattern) -> re.Pattern | NeedledPattern:
    """The pattern searched for by the literals its matches start with, when it has such
    literals; else the pattern itself."""
    if not isinstance(pattern.pattern, str) or pattern.flags & re.IGNORECASE:
        return pattern
    try:
        parsed = list(_sre_parse.parse(pattern.pattern, pattern.flags))
        if parsed and parsed[0][0] is _sre.LITERAL:
            return pattern  # re scans for a literal prefix itself, faster than a Python loop
        needles = _starts(parsed)
    except Exception:  # noqa: BLE001 - a private parser's surprise: search as before
        return pattern
    if not needles or min(len(n) for n in needles) < _SHORTEST_NEEDLE:
        return pattern
    # A match that starts with a needle starts with each prefix of it: the shortest needle
    # of several with one prefix finds them all.
    kept = tuple(sorted(n for n in needles
                        if not any(o != n and n.startswith(o) for o in needles)))
    return NeedledPattern(pattern, kept)


__all__ = ["NeedledPattern", "needled"]
