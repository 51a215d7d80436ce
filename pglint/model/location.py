from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pglint.source import SourceFile


class Location:
    """Where a fact came from, for messages ("updated in queries/sessions.sql:12").

    Line and column are computed on first use: the model records thousands of locations and
    messages read a few.
    """

    __slots__ = ("path", "start", "end", "_line", "_column", "_file")

    def __init__(self, path: str, line: int = 0, column: int = 1, start: int = 0, end: int = 0,
                 file: "SourceFile | None" = None) -> None:
        self.path = path
        self.start = start
        self.end = end
        self._line = line
        self._column = column
        self._file = file

    @classmethod
    def in_file(cls, file: "SourceFile", start: int, end: int) -> "Location":
        # Named from the project's root, wherever pglint was started: a message reads the same
        # in CI, in an editor and on a laptop.
        return cls(file.project_path, 0, 0, start, end, file)

    def _resolve(self) -> None:
        if not self._line and self._file is not None:
            self._line, self._column = self._file.position(self.start)
            self._file = None

    @property
    def line(self) -> int:
        self._resolve()
        return self._line

    @property
    def column(self) -> int:
        self._resolve()
        return self._column

    def __reduce__(self):
        # Sent to or from a worker process: resolve the line here, and leave the file behind.
        return (Location, (self.path, self.line, self.column, self.start, self.end))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and (self.path, self.start, self.end, self.line) == (
            other.path, other.start, other.end, other.line)

    def __hash__(self) -> int:
        return hash((self.path, self.start, self.end))

    def __repr__(self) -> str:
        return f"Location({self.path!r}, line={self.line}, start={self.start}, end={self.end})"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"
