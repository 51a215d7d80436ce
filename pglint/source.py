"""Source text with position conversions.

pglast reports byte offsets into UTF-8, people read 1-based lines and character columns, and
edits work on character offsets. Everything inside pglint is a 0-based character offset into the
file's text; conversions happen here, at the parser boundary.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from pathlib import Path

_NON_ASCII = re.compile(r"[^\x00-\x7f]")


class ByteToChar:
    """Maps UTF-8 byte offsets of a string to character offsets, in O(log n) per lookup."""

    __slots__ = ("_byte_pos", "_extra")

    def __init__(self, text: str) -> None:
        # For each non-ASCII character: the byte offset just after it, and the number of extra
        # bytes (beyond one per character) seen up to and including it.
        self._byte_pos: list[int] = []
        self._extra: list[int] = []
        if text.isascii():
            return
        extra = 0
        for match in _NON_ASCII.finditer(text):
            char_index = match.start()
            width = len(match.group().encode("utf-8"))
            start_byte = char_index + extra
            extra += width - 1
            self._byte_pos.append(start_byte + width)
            self._extra.append(extra)

    def __call__(self, byte_offset: int) -> int:
        if not self._byte_pos:
            return byte_offset
        i = bisect.bisect_right(self._byte_pos, byte_offset)
        return byte_offset - (self._extra[i - 1] if i else 0)

    def to_bytes(self, char_offset: int) -> int:
        """The inverse: character offset to byte offset."""
        if not self._byte_pos:
            return char_offset
        lo, hi = 0, len(self._byte_pos)
        # Find the number of non-ASCII characters wholly before char_offset.
        while lo < hi:
            mid = (lo + hi) // 2
            if self._byte_pos[mid] - self._extra[mid] <= char_offset:
                lo = mid + 1
            else:
                hi = mid
        return char_offset + (self._extra[lo - 1] if lo else 0)


_NEWLINE = re.compile(r"\r\n?|\n")


def indent_at(text: str, offset: int) -> str:
    """The indentation (blanks and tabs) of the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def line_starts(text: str, first: int = 0) -> list[int]:
    """Where each line of `text` starts (lines end at \\r\\n, \\r or \\n); the first one at
    `first` (1 to count from after a byte-order mark, as Python's parsers do)."""
    if "\r" not in text:
        # Each line's length plus its "\n", summed: no Python code runs per line.
        starts = list(accumulate(map(add, map(len, text.split("\n")), repeat(1)), initial=0))
        starts.pop()  # where a line after the last one would start
        starts[0] = first
        return starts
    starts = [first]
    starts.extend(m.end() for m in _NEWLINE.finditer(text))
    return starts


@dataclass
class SourceFile:
    """One file as pglint sees it: its path, its kind and its text."""

    path: Path
    text: str
    kind: str = "sql"  # migration | sql | pgbench | python
    display_path: str = ""
    order: int = -1  # position in migration order, -1 if not a migration
    role: str = "application"  # what the file is to the project (pglint.roles)
    role_reason: str = ""  # why it has that role (`--show-files`)
    applied: bool = False  # a migration that has already run (pglint.history)
    # Its runner no longer runs it (`-- postgres-migrations ignore`): applied, and no precedent.
    skipped_by_runner: bool = False
    # "alembic" or "django" for a Python migration, as pglint.python.schema.migration_kind
    # told it when the file was read; "" otherwise.
    framework: str = ""
    project_path: str = ""  # the path from the project's root: how messages name the file
    _line_starts: list[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.display_path:
            self.display_path = str(self.path)
        if not self.project_path:
            self.project_path = self.display_path

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = line_starts(self.text)
        return self._line_starts

    def position(self, offset: int) -> tuple[int, int]:
        """0-based character offset -> 1-based (line, column)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        column = offset - self.line_starts[line] + 1
        if line == 0 and offset > 0 and self.text.startswith("\ufeff"):
            column -= 1  # a byte-order mark is invisible: editors count columns after it
        return line + 1, column

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        starts = self.line_starts
        start = starts[line - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        text = self.text[start:end].rstrip("\r")
        return text[1:] if line == 1 and text.startswith("\ufeff") else text
