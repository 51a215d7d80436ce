"""The finding and fix model, shared by SQL and Python rules."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Applicability(str, Enum):
    SAFE = "safe"  # meaning unchanged: --fix applies it
    UNSAFE = "unsafe"  # changes behaviour or needs judgement: --unsafe-fixes applies it
    DISPLAY = "display"  # a suggestion shown to the user, never applied


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Edit:
    """Replace text[start:end] (0-based character offsets in the original file) by content."""

    start: int
    end: int
    content: str

    @classmethod
    def insert(cls, at: int, content: str) -> "Edit":
        return cls(at, at, content)

    @classmethod
    def delete(cls, start: int, end: int) -> "Edit":
        return cls(start, end, "")


@dataclass(frozen=True)
class Fix:
    """What to change. Display fixes carry their suggestion in `suggestion` and no edits."""

    title: str
    applicability: Applicability
    edits: tuple[Edit, ...] = ()
    suggestion: str = ""  # the SQL/Python to write, for display fixes (and as help for others)
    # Fixes with the same isolation key are never applied in one pass, even when their edits do
    # not overlap: e.g. a column's type change and a CACHE for the sequence that change drops.
    # The next pass re-lints, so the second fix is only applied if its finding still stands.
    isolation: str | None = None

    def __post_init__(self) -> None:
        edits = tuple(sorted(self.edits))
        for a, b in zip(edits, edits[1:]):
            if a.end > b.start:
                raise ValueError(f"overlapping edits in fix {self.title!r}: {a} and {b}")
        object.__setattr__(self, "edits", edits)

    @classmethod
    def display(cls, title: str, suggestion: str) -> "Fix":
        return cls(title, Applicability.DISPLAY, (), suggestion)

    @property
    def applicable(self) -> bool:
        return self.applicability is not Applicability.DISPLAY and bool(self.edits)


@dataclass
class Finding:
    code: str
    name: str
    message: str
    path: str  # the path as shown to the user
    start: int  # 0-based character offsets into the file
    end: int
    severity: Severity = Severity.WARNING
    fix: Fix | None = None
    help: str = ""
    url: str = ""
    # Filled in by the engine from the source file, for reporters.
    row: int = 0
    column: int = 0
    end_row: int = 0
    end_column: int = 0

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.start, self.code)
