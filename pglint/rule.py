"""What a rule is: metadata, documentation, examples, and the check.

A rule is one module under `pglint.rules` defining one `Rule` subclass. The engine walks each
statement tree once and calls `check` for the node types the rule declares; file-level rules
implement `check_file`. Rules never print, read files or touch the CLI: they read the statement,
the file's other statements and the project model from the context, and yield findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping

from pglint.finding import Finding, Fix, Severity

if TYPE_CHECKING:
    from pglint.context import FileContext
    from pglint.python.screen import CodeIndex

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")


@dataclass(frozen=True)
class Example:
    """An embedded example that the test suite turns into a test case.

    `sql` is the file under test (Python source when `kind` is "python"); `kind` says whether it
    is a migration, an application query file, a pgbench script or a Python module. `context` holds other files of the example project (path -> text): paths under
    `migrations/` are replayed as migrations in name order before `sql`, others are application
    SQL that supplies workload evidence. `fixed` is the file after applying every applicable fix of
    the rule (safe and unsafe); None means the rule offers no applicable fix for it.
    """

    sql: str
    fixed: str | None = None
    kind: str = "migration"
    context: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    target_version: int | None = None
    # Set when `fixed` cannot run alone on PostgreSQL (placeholders, missing objects); says why.
    not_executable: str = ""


class Rule:
    """Base class of every rule. Subclasses set the class attributes and override a check."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for `pglint rule --all` and SARIF
    section: ClassVar[str] = ""  # the chapter section the rule comes from
    severity: ClassVar[Severity] = Severity.WARNING
    node_types: ClassVar[tuple[str, ...]] = ()
    file_kinds: ClassVar[frozenset[str]] = frozenset({"migration", "sql"})
    # What the lowercased statement text must contain for `check` to be worth calling on
    # nested nodes: substrings or compiled patterns, all of them (an inner tuple lists
    # alternatives). A cheap pre-filter, like ruff's token checks: the engine walks a
    # statement's tree only when some rule's hint matches.
    text_hint: ClassVar[Any] = None
    # Python forms: the libcst node types (class names such as "Call", "While") that
    # `check_python` wants, and what a .py file's text must contain (same shape as `text_hint`,
    # case-sensitive) for the file to be parsed for this rule at all: libcst is slow, and most
    # files of a code base cannot match.
    python_node_types: ClassVar[tuple[str, ...]] = ()
    python_hint: ClassVar[Any] = None
    # For an SQL check that reads the libcst tree (`ctx.python`) around a statement embedded in
    # Python: what the statement's lowercased text must contain for that (same shape as
    # `text_hint`). SQL strings are found without libcst; the tree is parsed for them only then.
    python_tree_for_sql: ClassVar[Any] = None
    min_fix_version: ClassVar[int | None] = None
    VALID: ClassVar[tuple[Example, ...]] = ()
    INVALID: ClassVar[tuple[Example, ...]] = ()

    def check(self, node: dict[str, Any], ctx: "FileContext") -> Iterable[Finding]:
        return ()

    def check_file(self, ctx: "FileContext") -> Iterable[Finding]:
        return ()

    def screen_python(self, code: "CodeIndex") -> bool:
        """Whether a .py file that passed `python_hint` can hold what this rule reports, judged
        on CPython's tree (`code`, a `pglint.python.screen.CodeIndex`) before libcst parses the
        file. A necessary condition only: never False where the rule would report something
        (widen it with `check_python`: an INVALID example it refuses fails the tests, and
        tests/test_python_screen.py lints real code with and without screens). The default
        leaves the judgement to `check_python`."""
        return True

    def check_python(self, node: Any, ctx: "FileContext") -> Iterable[Finding]:
        """Called for each libcst node of `python_node_types` in a .py file (`ctx.python` is
        its `pglint.python.tree.PythonTree`)."""
        return ()

    def finding(self, ctx: "FileContext", start: int, end: int, message: str,
                fix: Fix | None = None, help: str = "") -> Finding:
        return Finding(
            code=self.code, name=self.name, message=message, path=ctx.file.display_path,
            start=start, end=max(start, end), severity=self.severity, fix=fix, help=help,
        )

    @classmethod
    def doc(cls) -> str:
        import inspect  # only the docs need it; keep it out of every run's start-up

        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring's `## Section` blocks by title."""
        sections: dict[str, str] = {}
        current = None
        for line in cls.doc().splitlines():
            heading = re.match(r"^##\s+(.*?)\s*$", line)
            if heading:
                current = heading.group(1)
                sections[current] = ""
            elif current is not None:
                sections[current] += line + "\n"
        return {k: v.strip() for k, v in sections.items()}
