from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a fact came from, for messages ("updated in queries/sessions.sql:12")."""

    path: str
    line: int
    column: int = 1
    start: int = 0  # character offsets in that file
    end: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"
