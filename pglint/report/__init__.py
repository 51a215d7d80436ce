"""Reporters: turn findings into text for people or machines.

Each output format is one module of this package with a `report(run, settings) -> str`
function (the `Reporter` protocol): `run` is what the run found, `settings` how the user asked
to see it. `reporter(name)` finds a format's module through `FORMATS`; the module is imported
only then, so a run pays for the format it prints and no other.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pglint.finding import Finding
    from pglint.source import SourceFile

# Output format name (`--output-format`) -> the module that renders it.
FORMATS: dict[str, str] = {
    "full": "pglint.report.full",
    "concise": "pglint.report.concise",
    "json": "pglint.report.jsonfmt",
    "sarif": "pglint.report.sarif",
    "github": "pglint.report.github",
    "gitlab": "pglint.report.gitlab",
    "junit": "pglint.report.junit",
    "markdown": "pglint.report.markdown",
}
# `--statistics` replaces the findings with counts per rule, in text or (with `json`) JSON.
STATISTICS = "pglint.report.summary"


@dataclass(frozen=True)
class RunReport:
    """What a report shows: the findings left after fixes, scope and baseline, and the counts
    the summaries mention."""

    findings: list[Finding]
    files: dict[str, SourceFile]  # the text of each file read, by display path
    file_count: int
    fixed: int = 0  # fixes applied (--fix)
    baselined: int = 0  # findings left out because the baseline holds them


@dataclass(frozen=True)
class ReportSettings:
    """How the user asked to see the report."""

    output_format: str = "full"
    summary: bool = True  # False under --quiet: the findings only
    # The colour system of a coloured report (rich's "auto" or "standard"); None: plain text.
    color: str | None = None


class Reporter(Protocol):
    def report(self, run: RunReport, settings: ReportSettings) -> str:
        """The whole report, its last line ended (a report of nothing may be empty)."""
        ...


def reporter(output_format: str, statistics: bool = False) -> Reporter:
    """The module that renders `output_format` (or the statistics, in that format)."""
    if statistics:
        return importlib.import_module(STATISTICS)  # type: ignore[return-value]
    try:
        module = FORMATS[output_format]
    except KeyError:
        raise ValueError(f"unknown output format {output_format!r} "
                         f"(known: {', '.join(FORMATS)})") from None
    return importlib.import_module(module)  # type: ignore[return-value]
