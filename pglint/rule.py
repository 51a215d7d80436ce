"""What a rule is: metadata, documentation, examples, and the check.

A rule is one module under `pglint.rules.<family>` defining one `Rule` subclass. The engine
calls `check(stmt, node, ctx)` for each top-level statement whose type the rule lists in
`statements` (node is the statement's body) and, walking each statement tree once, for each node
anywhere in a statement whose type it lists in `nodes`; file-level rules implement `check_file`. Rules never print, read files or touch the CLI: they read the statement,
the file's other statements and the project model from the context, and yield findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Mapping

from pglint.finding import Finding, Fix, Severity
from pglint.roles import RUN_TIME_ROLES

if TYPE_CHECKING:
    from pglint.context import FileContext
    from pglint.sql.parse import Statement

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


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


@dataclass(frozen=True)
class RuleOption:
    """A configuration key that a rule reads (`fillfactor = 70`), declared in its `options`.

    The configuration accepts the key because a rule declares it, checks its value with `check`
    and gives rules the value, or the default, as `ctx.settings.option(name)`. `pglint rule
    CODE` lists a rule's options with their `doc` line.
    """

    name: str  # the key as written in the configuration: lower case, words joined by `-`
    type: type  # bool, int, float or str
    default: Any
    doc: str
    # (key, value) -> the value to use, or ValueError saying what the key must be (starting
    # with the key in backticks, as every configuration error does). None: the type only.
    check: Callable[[str, Any], Any] | None = None

    def parse(self, key: str, value: Any) -> Any:
        """A configured value, checked."""
        if self.check is not None:
            return self.check(key, value)
        if not isinstance(value, self.type) or (isinstance(value, bool)
                                                and self.type is not bool):
            raise ValueError(f"`{key}` must be {_TYPE_NAMES.get(self.type, self.type.__name__)}")
        return value

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "doc": self.doc}

    def describe(self) -> str:
        """One line for the rule's documentation: `key` (type, default value): doc."""
        return (f"`{self.name}` ({_TYPE_NAMES.get(self.type, self.type.__name__)}, default "
                f"{toml_value(self.default)}): {self.doc}")


# Value checks and quoting shared by the configuration's own keys and the rules' options.
def toml_value(value: Any) -> str:
    """A TOML value as the user wrote it, near enough for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def integer_from(low: int, high: int) -> Callable[[str, Any], int]:
    """A check of an integer value (not a boolean) from `low` to `high`, for a key."""
    def check(key: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"`{key}` must be an integer from {low} to {high}")
        return value

    return check


class Rule:
    """Base class of every rule. Subclasses set the class attributes and override a check."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for `pglint rule --all` and SARIF
    # The PostgreSQL documentation of the mechanism the rule is about (the lock, the setting,
    # the statement): `pglint rule CODE` lists them, SARIF's helpUri and each finding's JSON
    # `url` are the first.
    references: ClassVar[tuple[str, ...]] = ()
    # squawk's names for the rule (`require-concurrent-index-creation`): accepted wherever codes
    # are, and `-- squawk-ignore NAME` comments suppress the rule, for teams coming from squawk.
    # Several pglint rules may share one squawk name when squawk's rule covers several mechanisms.
    squawk: ClassVar[tuple[str, ...]] = ()
    severity: ClassVar[Severity] = Severity.WARNING
    # Statement types (pglast node names: "UpdateStmt", "CreateStmt") checked at the top of a
    # statement, including each statement of a PL/pgSQL body; a subquery is not a statement.
    statements: ClassVar[tuple[str, ...]] = ()
    # Node types ("FuncCall", "A_Expr", "LockingClause") checked wherever they occur in a
    # statement, subject to `text_hint`.
    nodes: ClassVar[tuple[str, ...]] = ()
    file_kinds: ClassVar[frozenset[str]] = frozenset({"migration", "sql"})
    # The file roles the rule judges (pglint.roles): by default code that runs against
    # production (up migrations, application SQL and code, load tests); never tests, seed
    # data, down migrations, dumps or one-off scripts unless the rule says so.
    roles: ClassVar[frozenset[str]] = RUN_TIME_ROLES
    # False for rules about running a migration (locks, timeouts): a migration that has
    # already run is history, and a finding on it changes nothing (pglint.history).
    judges_applied_migrations: ClassVar[bool] = True
    # Whether `check` also sees the SQL that Django and Alembic migration operations send
    # (`stmt.operation` set: `op.create_index(...)`, `AddIndex(...)`; see
    # pglint.python.operation_sql). The lock rules do; a rule about what SQL is written
    # (fillfactor, naming) leaves the ORM's own SQL alone.
    judges_operations: ClassVar[bool] = False
    # What the lowercased statement text must contain for `check` to be worth calling on
    # nested nodes: substrings or compiled patterns, all of them (an inner tuple lists
    # alternatives). A cheap pre-filter, like ruff's token checks: the engine walks a
    # statement's tree only when some rule's hint matches.
    text_hint: ClassVar[Any] = None
    # Python forms: the `ast` classes (`ast.Call`, `ast.While`) whose nodes `check_python` is
    # called with, and what a .py file's text must contain (same shape as `text_hint`,
    # case-sensitive) for the rule to read the file at all (most files of a code base cannot
    # match). `ctx.python_file` is the file's tree (pglint.python.pyfile).
    python_nodes: ClassVar[tuple[type, ...]] = ()
    python_hint: ClassVar[Any] = None
    # False for a rule whose findings on real repositories were too often not worth acting on
    # (below 60% in the judged sample): as in ruff, it runs only when the user's own `select`
    # or `extend-select` covers it, and its docs say why (`off_by_default`).
    default_enabled: ClassVar[bool] = True
    off_by_default: ClassVar[str] = ""
    # The oldest PostgreSQL major its fixes run on: below it (`target-version`), the engine
    # shows the rule's fixes as suggestions and never applies them.
    min_fix_version: ClassVar[int | None] = None
    # The configuration keys the rule reads (ctx.settings.option(name)); an option that several
    # rules read is one RuleOption object in the rule kit, listed by each.
    options: ClassVar[tuple[RuleOption, ...]] = ()
    VALID: ClassVar[tuple[Example, ...]] = ()
    INVALID: ClassVar[tuple[Example, ...]] = ()

    def check(self, stmt: "Statement", node: dict[str, Any], ctx: "FileContext"
              ) -> Iterable[Finding]:
        """Called for `stmt` (its body as `node`) when its type is in `statements`, and for each
        `node` of a type in `nodes` inside it."""
        return ()

    def check_file(self, ctx: "FileContext") -> Iterable[Finding]:
        return ()

    def check_python(self, node: Any, ctx: "FileContext") -> Iterable[Finding]:
        """Called for each `ast` node of a class in `python_nodes` in a .py file
        (`ctx.python_file` is its `pglint.python.pyfile.PythonFile`). A fix is built on the
        file's libcst tree (`ctx.python_file.fix_tree`, `cst_of(node)`), parsed only then."""
        return ()

    def finding(self, ctx: "FileContext", message: str, fix: Fix | None = None, help: str = "",
                *, node: Any = None, span: tuple[int, int] | None = None) -> Finding:
        """A finding of this rule on `node` (a statement, a token or a Python tree node of the
        file: its span is read from it) or on `span` (start and end character offsets)."""
        if span is None:
            if node is None:
                raise TypeError(f"{self.code}: a finding needs a node or a span")
            span = _span_of(node, ctx)
        start, end = span
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


def _span_of(node: Any, ctx: "FileContext") -> tuple[int, int]:
    """Character offsets of a statement or token (`start`/`end`), else of a Python tree node."""
    start, end = getattr(node, "start", None), getattr(node, "end", None)
    if isinstance(start, int) and isinstance(end, int):
        return start, end
    if ctx.python_file is None:
        raise TypeError(f"no span for {type(node).__name__} outside a Python file")
    return ctx.python_file.span(node)
