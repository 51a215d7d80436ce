"""The lint run: discover, parse, build the project model, dispatch rules, suppress, fix.

No rule logic lives here. Rules declare the node types they want; each statement tree is walked
once and every interested rule is called for each matching node.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pglint.config import Resolver, Settings, ignores
from pglint.context import FileContext
from pglint.discover import Candidate, detect_kind, discover
from pglint.finding import Finding, Fix, Severity
from pglint.loader import LoadProblem, read_text
from pglint.model.catalog import ROLE_SETTING_KINDS, catalog_ops
from pglint.model.location import Location
from pglint.model.project import ProjectModel
from pglint.model.workload import Write, write_fact
from pglint.registry import all_rules
from pglint.roles import (
    APPLICATION,
    LINTED_ROLES,
    LOAD_TEST,
    MIGRATION,
    SCHEMA_DUMP,
    SCRIPT,
    TEST,
    RoleDecision,
    role_from_text,
)
from pglint.rule import Rule
from pglint.source import SourceFile
from pglint.sql.nodes import defined_function_key
from pglint.sql.parse import ParsedSQL, Statement, iter_nodes, parse_sql

if TYPE_CHECKING:
    from pglint.history import History
    from pglint.python.screen import CodeIndex
    from pglint.python.tree import PythonTree

SYNTAX_ERROR = ("PGL901", "syntax-error")


@dataclass
class LoadedFile:
    candidate: Candidate
    file: SourceFile | None = None
    parsed: ParsedSQL | None = None
    body_statements: list[Statement] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # PGL901 findings from loading/parsing
    python: "PythonTree | None" = None  # a .py file's libcst tree, when it was parsed
    python_rules: frozenset[str] = frozenset()  # the Python rules its text and screens pass
    python_orm: bool = False  # the ORM reader's text test and screen pass it


@dataclass
class LintResult:
    findings: list[Finding]
    files: list[LoadedFile]
    errors: list[str]  # path errors (exit code 2)
    internal_errors: list[str] = field(default_factory=list)  # rule crashes (exit code 2)
    fixed: dict[str, int] = field(default_factory=dict)  # path -> number of fixes applied
    diffs: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (before, after)
    fix_failures: dict[str, str] = field(default_factory=dict)  # path -> why not fixed (exit 2)
    # path -> {(code, name): number of its fixes applied} (--show-fixes)
    fixed_rules: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def sources(self) -> dict[str, SourceFile]:
        """The text of each file read, by display path (what reporters and baselines read)."""
        return {f.candidate.display: f.file for f in self.files if f.file is not None}


class Dispatcher:
    """Rules indexed by the node types they want, built once per run."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self.crashes: list[str] = []
        self.by_statement: dict[str, list[Rule]] = defaultdict(list)
        self.by_node: dict[str, list[Rule]] = defaultdict(list)
        for rule in self.rules:
            for node_type in rule.statements:
                self.by_statement[node_type].append(rule)
            for node_type in rule.nodes:
                self.by_node[node_type].append(rule)
        # Each hint as a tuple of alternatives: ("update", ("limit", "fetch")) means "update"
        # and either "limit" or "fetch".
        self.hints = {rule.code: _hints(rule.text_hint) for rule in self.rules}
        self.python_rules = [rule for rule in self.rules if rule.python_node_types]
        self._plans: dict[str, tuple] = {}

    def _plan(self, kind: str, role: str, applied: bool
              ) -> tuple[dict[str, list[Rule]], list[tuple], list[Rule]]:
        """For one file kind, role and history: statement rules by type, nested (type, rule,
        hints), file rules."""
        key = (kind, role, applied)
        plan = self._plans.get(key)
        if plan is None:
            if kind == "python":
                # SQL strings in application code are application SQL.
                plan = self._plans[key] = self._plan("sql", role, applied)
                return plan

            def judges(rule: Rule) -> bool:
                return judges_file(rule, kind, role, applied)

            by_stmt = {t: [r for r in rules if judges(r)] for t, rules in self.by_statement.items()}
            nested = [(t, r, self.hints[r.code]) for t, rules in self.by_node.items()
                      for r in rules if judges(r)]
            file_rules = [r for r in self.rules if judges(r)
                          and type(r).check_file is not Rule.check_file]
            plan = self._plans[key] = ({t: rs for t, rs in by_stmt.items() if rs}, nested,
                                       file_rules)
        return plan

    def run(self, ctx: FileContext) -> list[Finding]:
        findings: list[Finding] = []
        by_stmt, nested, file_rules = self._plan(ctx.kind, ctx.role, ctx.file.applied)
        text = ctx.text
        for stmt in ctx.all_statements():
            before = len(findings)
            for rule in by_stmt.get(stmt.kind, ()):
                self._call(findings, rule, rule.check, ctx, stmt, stmt, stmt.body, ctx)
            if nested:
                lowered = (text[stmt.start:stmt.end] if stmt.exact else stmt.sql).lower()
                self._nested(findings, ctx, stmt, nested, lowered)
            if not stmt.exact:
                _display_only(findings, before)
        for rule in file_rules:
            self._call(findings, rule, rule.check_file, ctx, None, ctx)
        if any(f.fix is not None and f.fix.applicable for f in findings):
            _keep_literals(findings, ctx.all_statements(), text)  # SQL in Python strings
        return findings

    def run_python(self, ctx: FileContext, wanted: frozenset[str]) -> list[Finding]:
        """The Python rules over a .py file's libcst tree: each rule that `wanted` names (its
        text hint and screen passed the file) is called for the nodes of the types it wants,
        in file order."""
        findings: list[Finding] = []
        tree = ctx.python
        if tree is None:
            return findings
        for rule in self.python_rules:
            if rule.code not in wanted or not judges_file(rule, "python", ctx.role,
                                                          ctx.file.applied):
                continue
            for node_type in rule.python_node_types:
                for node in tree.nodes(node_type):
                    self._call(findings, rule, rule.check_python, ctx, None, node, ctx)
        _keep_comments(findings, ctx.text)
        return findings

    def _nested(self, findings: list[Finding], ctx: FileContext, stmt: Statement,
                nested: list[tuple], lowered: str) -> None:
        """Call the rules that want nested node types, walking the tree only if one can match."""
        wanted: dict[str, list[Rule]] = {}
        # Every hint must have an alternative in the text. Loops rather than all(any(...)):
        # this runs for every statement, and generators cost more than the tests.
        for node_type, rule, hints in nested:
            for hint in hints:
                for alt in hint:
                    if (alt in lowered) if isinstance(alt, str) else alt.search(lowered):
                        break
                else:
                    break  # no alternative of this hint is in the text
            else:
                wanted.setdefault(node_type, []).append(rule)
        if wanted:
            for node_type, body in iter_nodes(stmt.node):
                for rule in wanted.get(node_type, ()):
                    self._call(findings, rule, rule.check, ctx, stmt, stmt, body, ctx)

    def _call(self, findings: list[Finding], rule: Rule, method, ctx: FileContext,
              stmt: Statement | None, *args) -> None:
        """Run one rule check; a crash is recorded (exit code 2), never fatal to the run."""
        try:
            findings.extend(method(*args))
        except Exception as exc:  # noqa: BLE001 - a rule bug must not stop the other files
            where = ctx.file.display_path
            if stmt is not None:
                where += ":%d" % ctx.file.position(stmt.start)[0]
            self.crashes.append(f"{rule.code} crashed on {where}: {exc!r}")


def judges_file(rule: Rule, kind: str, role: str, applied: bool) -> bool:
    """Whether `rule` judges a file of this kind and role; an applied migration only by rules
    that judge history (pglint.history)."""
    if role not in rule.roles:
        return False
    if applied and role == MIGRATION and not rule.judges_applied_migrations:
        return False
    return kind == "python" or kind in rule.file_kinds


def _hints(hint: Any) -> tuple[tuple, ...]:
    """A rule's text hint as a tuple of alternatives: ("update", ("limit", "fetch")) means
    "update" and either "limit" or "fetch"."""
    parts = hint if isinstance(hint, tuple) else (hint,) if hint else ()
    return tuple((h,) if not isinstance(h, tuple) else h for h in parts)


def hints_match(hints: tuple[tuple, ...], text: str) -> bool:
    return all(any(alt in text if isinstance(alt, str) else alt.search(text) for alt in hint)
               for hint in hints)


@lru_cache(maxsize=1)
def _python_rules() -> tuple[tuple[Rule, tuple[tuple, ...]], ...]:
    """Every Python rule with its text hints (selected or not: a file is loaded once)."""
    return tuple((rule(), _hints(rule.python_hint)) for rule in all_rules()
                 if rule.python_node_types)


class PythonScreen:
    """Who wants a .py file's libcst tree: the Python rules and readers whose text hints match,
    then (called with CPython's tree of the file) those whose screens pass it."""

    def __init__(self, text: str) -> None:
        from pglint.python.orm import might_describe_orm
        from pglint.python.schema import might_define_schema

        self.rules = [rule for rule, hints in _python_rules() if hints_match(hints, text)]
        self.orm = might_describe_orm(text)
        self.schema = might_define_schema(text)

    def __bool__(self) -> bool:
        return bool(self.rules) or self.orm or self.schema

    def __call__(self, code: "CodeIndex") -> bool:
        from pglint.python.orm import orm_screen
        from pglint.python.schema import schema_screen

        self.rules = [rule for rule in self.rules if rule.screen_python(code)]
        self.orm = self.orm and orm_screen(code)
        self.schema = self.schema and schema_screen(code)
        return bool(self)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(rule.code for rule in self.rules)


@lru_cache(maxsize=1)
def _python_tree_for_sql() -> tuple[tuple[tuple, ...], ...]:
    return tuple(_hints(rule.python_tree_for_sql) for rule in all_rules()
                 if rule.python_tree_for_sql)


def _sql_reads_python_tree(statements: list[Statement], text: str) -> bool:
    """Whether an SQL rule reads the libcst tree around one of a Python file's statements."""
    hints = _python_tree_for_sql()
    return any(hints_match(hint, (text[stmt.start:stmt.end] if stmt.exact else stmt.sql).lower())
               for stmt in statements for hint in hints)


def _keep_comments(findings: list[Finding], text: str) -> None:
    """A Python fix whose edit would drop a `#` comment it replaces is shown, not applied:
    nothing the user wrote is lost silently."""
    comments = None
    for finding in findings:
        fix = finding.fix
        if fix is None or not fix.applicable or not any(
                "#" in text[e.start:e.end] for e in fix.edits):
            continue
        if comments is None:
            from pglint.python.embedded import python_comments

            comments = python_comments(text)
        lost = [c for e in fix.edits for c in comments
                if e.start <= c.start and c.end <= e.end and c.text not in e.content]
        if lost:
            shown = "\n".join(e.content for e in fix.edits if e.content.strip())
            finding.fix = Fix.display(fix.title, fix.suggestion or shown)


def _keep_literals(findings: list[Finding], statements: Iterable[Statement], text: str) -> None:
    """An SQL fix inside a Python string literal is applied only when the edited literal still
    holds exactly the text written between its quotes: PGL301's `SET lock_timeout = '5s';`
    would end a '...' literal early, a backslash would be an escape, a line break cannot stand
    in a one-line literal. A `%` is refused too (the driver may read it as a placeholder).
    Otherwise the fix is shown, as for SQL that is not verbatim in the file."""
    literals = {stmt.python_literal for stmt in statements if stmt.python_literal}
    if not literals:
        return
    for finding in findings:
        fix = finding.fix
        if fix is None or not fix.applicable:
            continue
        for start, end, opening in literals:
            inside = [e for e in fix.edits if start <= e.start and e.end <= end]
            if inside and not _fits_literal(text, start, end, opening, inside):
                finding.fix = Fix.display(fix.title, fix.suggestion or "".join(
                    e.content for e in fix.edits))
                break


def _fits_literal(text: str, start: int, end: int, opening: str, edits: list) -> bool:
    import ast

    if any("%" in e.content for e in edits):
        return False
    pieces, cursor = [], start
    for edit in sorted(edits, key=lambda e: e.start):
        pieces.append(text[cursor:edit.start])
        pieces.append(edit.content)
        cursor = edit.end
    pieces.append(text[cursor:end])
    content = "".join(pieces)
    quote = opening.lstrip("rRuU")
    try:
        return ast.literal_eval(opening + content + quote) == content
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def _display_only(findings: list[Finding], start: int) -> None:
    """Fixes for a statement whose positions are approximate (not verbatim in the file) cannot
    be applied as edits: keep them as suggestions."""
    for finding in findings[start:]:
        if finding.fix is not None and finding.fix.applicable:
            fix = finding.fix
            finding.fix = Fix.display(fix.title, fix.suggestion or "(apply by hand: the "
                                      "statement's text is not verbatim in the file)")


def _history_untouched(findings: list[Finding]) -> None:
    """A migration that has run is never edited (the databases that ran it would not see the
    change, and checksum-verifying runners would refuse it): its fixes are shown as what to
    put in a new migration."""
    for finding in findings:
        fix = finding.fix
        if fix is not None and fix.applicable:
            shown = fix.suggestion or "\n".join(e.content.strip() for e in fix.edits
                                                if e.content.strip())
            finding.fix = Fix.display(fix.title, "this migration has already run: put the change "
                                      "in a new migration, do not edit this one" +
                                      (f"\n{shown}" if shown else ""))


def _problem(candidate: Candidate, message: str, offset: int = 0, line: int = 0,
             column: int = 0) -> Finding:
    """A PGL901 finding: at a character offset, or at a known line/column (unreadable file)."""
    finding = Finding(SYNTAX_ERROR[0], SYNTAX_ERROR[1], message, candidate.display, offset, offset,
                      Severity.ERROR)
    if line:
        finding.row, finding.column = line, column
    return finding


def _source_file(candidate: Candidate, text: str) -> SourceFile:
    """A candidate's text as a SourceFile, its kind and role settled by the text (pgbench
    scripts, dumps, files of another dialect)."""
    kind = detect_kind(candidate.kind, text)
    decision = candidate.role
    if kind == "pgbench" and candidate.kind != "pgbench" and decision.role == APPLICATION:
        decision = RoleDecision(LOAD_TEST, "pgbench commands")
    decision = role_from_text(decision, kind, text)
    if decision.role == SCHEMA_DUMP and kind == "sql":
        kind = "migration"  # a dump's statements run once, and build the catalog
    return SourceFile(candidate.path, text, kind, candidate.display, role=decision.role,
                      role_reason=decision.reason, applied=candidate.applied,
                      project_path=candidate.rel)


def load(candidate: Candidate, text: str | None = None,
         problem: LoadProblem | None = None) -> LoadedFile:
    """Parse one file (reading it unless `text` is given); problems become PGL901 findings."""
    loaded = LoadedFile(candidate)
    if text is None and problem is None:
        text, problem = read_text(candidate.path)
    if problem is not None or text is None:
        problem = problem or LoadProblem("cannot read file")
        loaded.problems.append(_problem(candidate, problem.message, 0, problem.line,
                                        problem.column))
        return loaded
    file = loaded.file = _source_file(candidate, text)
    if file.role not in LINTED_ROLES or (candidate.kind == "python" and file.role == TEST):
        # Another dialect is not PostgreSQL; Python tests hold no production SQL or workload.
        return loaded
    if candidate.kind == "python":
        from pglint.python.embedded import parse_python

        screen = PythonScreen(text)
        parsed, loaded.python = parse_python(text, screen if screen else False,
                                             file.display_path, _sql_reads_python_tree)
        loaded.python_rules, loaded.python_orm = screen.codes, screen.orm
        if loaded.python is not None:
            from pglint.python.schema import migration_kind

            if migration_kind(loaded.python):
                # An Alembic or Django migration: its SQL runs once, as a migration's does.
                file.kind = "migration"
                if file.role in (APPLICATION, SCRIPT):
                    file.role, file.role_reason = MIGRATION, "Alembic or Django migration"
    else:
        parsed = parse_sql(text)
    loaded.parsed = parsed
    for error in parsed.errors:
        loaded.problems.append(_problem(candidate, error.message,
                                        error.offset))
    for stmt in parsed.statements:
        if stmt.kind in ("CreateFunctionStmt", "DoStmt"):
            from pglint.sql.plpgsql import expand_body  # only files with functions need it

            # The masked text: a placeholder in the function's name or options
            # (`:APP_SCHEMA.f()`) stands in as in the statement's own parse.
            inner, errors = expand_body(stmt, parsed.masked if len(parsed.masked) == len(text)
                                        else text)
            loaded.body_statements.extend(inner)
            for error in errors:
                loaded.problems.append(_problem(candidate, error.message, error.offset))
    for stmt in (*parsed.statements, *loaded.body_statements):
        stmt.origin = f"{candidate.display}:{stmt.start}"
    return loaded


@dataclass
class FileFacts:
    """What one file contributes to the project model: small, tree-free, picklable."""

    ops: list[tuple] = field(default_factory=list)  # catalog operations, in statement order
    writes: list[Write] = field(default_factory=list)  # workload
    # ORM classes (and SQLAlchemy Table variables) this file maps to tables; writes through
    # them name the class ("orm:<Class>") until the model resolves it with every file's map.
    orm_tables: dict[str, str] = field(default_factory=dict)
    # An Alembic revision: (revision, down revisions). Alembic files are named by hash, so
    # their operations are replayed in the order of this chain, not of their paths.
    revision: tuple | None = None
    # Writes made by function bodies: (index in `writes`, function key, defining statement's
    # origin). They count only while that definition is the one in force after replay.
    body_writes: list[tuple] = field(default_factory=list)


def file_facts(loaded: LoadedFile) -> FileFacts:
    """Catalog operations of a replayed migration; writes of application SQL (DO blocks in it
    included) and of function bodies (which run whenever they are called, even when a migration
    defines them; a DO block in a migration runs once)."""
    facts = FileFacts()
    file = loaded.file
    if file is None or loaded.parsed is None:
        return facts

    def where(start: int, end: int) -> Location:
        return Location.in_file(file, start, end)

    # Evidence comes from run-time code only: tests, seeds, one-off scripts, load tests and
    # down migrations never count (pglint.roles).
    run_time = file.role == APPLICATION
    if file.kind == "migration" and loaded.candidate.kind != "python":
        if file.role in (MIGRATION, SCHEMA_DUMP):
            for stmt in loaded.parsed.statements:
                facts.ops.extend(catalog_ops(stmt, where))
    elif file.kind in ("sql", "python") and file.role in (APPLICATION, SCRIPT):
        # (a Python migration's kind is "migration": its statements are replayed below)
        for stmt in loaded.parsed.statements:
            write = write_fact(stmt.kind, stmt.body, where(stmt.start, stmt.end)) \
                if run_time else None
            if write is not None:
                facts.writes.append(write)
            elif stmt.kind in ROLE_SETTING_KINDS:
                facts.ops.extend(catalog_ops(stmt, where))
    if file.role in (MIGRATION, SCHEMA_DUMP, APPLICATION):
        for stmt in loaded.body_statements:
            # Same judgement as runs_repeatedly(): function bodies, DO blocks in app SQL.
            parent = stmt.parent
            if parent is not None and (parent.kind == "CreateFunctionStmt"
                                       or (run_time and file.kind in ("sql", "python"))):
                write = write_fact(stmt.kind, stmt.body, where(stmt.start, stmt.end))
                if write is not None:
                    if parent.kind == "CreateFunctionStmt":
                        facts.body_writes.append((len(facts.writes),
                                                  defined_function_key(parent.body),
                                                  parent.origin))
                    facts.writes.append(write)
    if loaded.python is not None:
        from pglint.python.orm import OrmFacts, orm_facts

        # Read only where the ORM reader wanted the file (a tree parsed for a rule or for SQL
        # strings is not evidence of models: rich's `Table("Exchange Rates")` is no table).
        orm = orm_facts(loaded.python, loaded.candidate.path, where) if loaded.python_orm \
            else OrmFacts()
        facts.orm_tables = orm.tables
        if file.kind == "migration":
            # Alembic and Django migrations feed the catalog (their SQL strings included);
            # what they write runs once: no workload.
            from pglint.python.schema import alembic_revision, schema_ops

            facts.ops.extend(schema_ops(loaded.python, where, loaded.parsed.statements,
                                        loaded.candidate.path))
            facts.revision = alembic_revision(loaded.python)
        elif run_time:
            facts.writes.extend(orm.writes)
    return facts


def model_from_facts(facts: list[FileFacts], settings: Settings) -> ProjectModel:
    """Replay the files' facts in order (migrations first, in version order)."""
    model = ProjectModel.empty(settings)
    for f in _revision_order(facts):
        model.catalog.apply_ops(f.ops)
        model.orm_tables.update(f.orm_tables)
    from pglint.python.orm import resolve

    catalog = model.catalog
    for f in facts:
        writes = f.writes
        if f.body_writes:  # drop what replaced or dropped function bodies did
            gone = {i for i, key, origin in f.body_writes if not catalog.body_runs(key, origin)}
            writes = [w for i, w in enumerate(writes) if i not in gone] if gone else writes
        for write in resolve(writes, model.orm_tables) if model.orm_tables else writes:
            model.workload.add(write)
    return model


def _revision_order(facts: list[FileFacts]) -> list[FileFacts]:
    """The facts in replay order: Alembic revisions follow their down_revision chain (at the
    place of the first of them); everything else keeps its order."""
    revisions = [f for f in facts if f.revision]
    if len(revisions) < 2:
        return facts
    by_id = {f.revision[0]: f for f in revisions}
    ordered: list[FileFacts] = []
    done: set[int] = set()

    def visit(f: FileFacts, seen: frozenset = frozenset()) -> None:
        if id(f) in done or f.revision[0] in seen:  # a cycle: leave it in path order
            return
        for down in f.revision[1]:
            parent = by_id.get(down)
            if parent is not None:
                visit(parent, seen | {f.revision[0]})
        done.add(id(f))
        ordered.append(f)

    for f in revisions:
        visit(f)
    out: list[FileFacts] = []
    for f in facts:
        if f.revision:
            if ordered:
                out.extend(ordered)
                ordered = []
        else:
            out.append(f)
    return out


def build_model(files: list[LoadedFile], settings: Settings) -> ProjectModel:
    """Replay migrations in order into the catalog; collect workload facts from app SQL."""
    model = model_from_facts([file_facts(f) for f in files], settings)
    model.new_migration_paths = new_migration_paths([f.candidate for f in files])
    return model


def new_migration_paths(candidates: Iterable[Candidate]) -> frozenset[str] | None:
    """The project paths of the files that are not history, when some migration is known to
    have run; None when none is (then every table of another file counts as existing)."""
    candidates = list(candidates)
    if not any(c.applied for c in candidates):
        return None
    return frozenset(c.rel for c in candidates if not c.applied)


def _suppress(loaded: LoadedFile, findings: list[Finding], settings: Settings,
              known_codes: set[str], running: set[str]) -> list[Finding]:
    file = loaded.file
    if file is None or loaded.parsed is None or "pglint" not in file.text:
        return findings  # no suppression comment can be in this file
    from pglint.suppress import UNUSED_SUPPRESSION, apply_suppressions

    return apply_suppressions(file, loaded.parsed, findings,
                              settings.enabled(UNUSED_SUPPRESSION[0]),
                              lambda code: code in running,
                              known_codes)


def _locate(findings: list[Finding], file: SourceFile | None) -> None:
    for f in findings:
        if file is not None and not f.row:
            f.row, f.column = file.position(f.start)
            f.end_row, f.end_column = file.position(f.end)
        elif not f.end_row:
            f.end_row, f.end_column = f.row or 1, f.column or 1
        if not f.row:
            f.row, f.column = 1, 1


def select_rules(settings: Settings) -> list[Rule]:
    """The rules this run applies: those selected, except that a rule off by default runs only
    when the user's own selection covers it (a `select` they gave, or an `extend-select`)."""
    return [cls() for cls in all_rules() if settings.enabled(cls.code)
            and (cls.default_enabled or settings.chosen(cls.code))]


def lint_loaded(files: list[LoadedFile], settings: Settings,
                crashes: list[str] | None = None) -> list[Finding]:
    """Lint parsed files that form one project, in this process."""
    model = build_model(files, settings)
    checker = _Checker(settings)
    findings = [f for loaded in files for f in checker.check(loaded, model)]
    if crashes is not None:
        crashes.extend(checker.dispatcher.crashes)
    return findings


class _Checker:
    """Runs the selected rules over files, then suppressions and per-file ignores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dispatcher = Dispatcher(select_rules(settings))
        self.known = {cls.code for cls in all_rules()}
        # A suppression of a rule that did not run (not selected, or off by default and not
        # named) cannot be judged unused.
        self.running = {rule.code for rule in self.dispatcher.rules} | (
            {SYNTAX_ERROR[0]} if settings.enabled(SYNTAX_ERROR[0]) else set())
        self.syntax_roles = next((cls.roles for cls in all_rules()
                                  if cls.code == SYNTAX_ERROR[0]), frozenset())

    def check(self, loaded: LoadedFile, model: ProjectModel) -> list[Finding]:
        settings = self.settings
        found: list[Finding] = []
        role = loaded.file.role if loaded.file is not None else None
        if settings.enabled(SYNTAX_ERROR[0]) and (role is None or role in self.syntax_roles):
            found.extend(loaded.problems)
        if loaded.file is not None and loaded.parsed is not None:
            ctx = FileContext(loaded.file, loaded.parsed, model, settings, loaded.body_statements,
                              python=loaded.python)
            found.extend(self.dispatcher.run(ctx))
            if loaded.python is not None:
                found.extend(self.dispatcher.run_python(ctx, loaded.python_rules))
        if loaded.file is not None and loaded.file.applied and loaded.file.role == MIGRATION:
            _history_untouched(found)
        found = _suppress(loaded, found, settings, self.known, self.running)
        ignored = settings.ignored_in(loaded.candidate.path)  # per-file-ignores
        if ignored:
            found = [f for f in found if not ignores(ignored, f.code)]
        _locate(found, loaded.file)
        return found


# Below this much SQL, forking workers costs more than it saves.
PARALLEL_MIN_CHARS = 1_000_000

Content = tuple[Candidate, "str | None", "LoadProblem | None"]


class _Progress:
    """Counts parsed files for a `progress(done, total)` callback (the CLI's progress bar)."""

    def __init__(self, callback: Callable[[int, int], None], total: int) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        self.callback(self.done, self.total)


def _lint_contents(contents: list[Content], settings: Settings, crashes: list[str],
                   progress: _Progress | None = None) -> tuple[list[Finding], list[LoadedFile]]:
    """Lint one project's files from their text: in this process, or spread over the cores
    (see pglint.parallel) when there is enough of it."""
    size = sum(len(t) for _, t, _ in contents if t)
    if size >= PARALLEL_MIN_CHARS:
        import marshal
        import pickle
        from functools import partial

        from pglint.model.catalog import decode_ops, encode_ops
        from pglint.model.workload import decode_write, encode_write
        from pglint.parallel import available_cores, balanced, can_fork, two_phase

        cores = available_cores()
    if size < PARALLEL_MIN_CHARS or cores < 2 or not can_fork():
        files = []
        for c, t, p in contents:
            files.append(load(c, t, p))
            if progress is not None:
                progress.advance()
        return lint_loaded(files, settings, crashes), files
    checker = _Checker(settings)
    numbered = list(enumerate(contents))

    parent = os.getpid()
    # Progress counts the files this process parses, then the workers' all at once.
    parsed_before = progress.done if progress is not None else 0

    def parse(share: list[tuple[int, Content]]) -> tuple[list[LoadedFile], list]:
        loaded = []
        for _, (c, t, p) in share:
            loaded.append(load(c, t, p))
            if progress is not None and os.getpid() == parent:
                progress.advance()
        return loaded, [(i, file_facts(f)) for (i, _), f in zip(share, loaded)]

    def model(all_facts: list[list[tuple[int, FileFacts]]]) -> ProjectModel:
        if progress is not None and os.getpid() == parent:
            progress.advance(parsed_before + len(contents) - progress.done)
        ordered = sorted((pair for facts in all_facts for pair in facts), key=lambda p: p[0])
        built = model_from_facts([facts for _, facts in ordered], settings)
        built.new_migration_paths = new_migration_paths(c for c, _, _ in contents)
        return built

    parsed_here: dict[int, LoadedFile] = {}

    def check(loaded: list[LoadedFile], project: ProjectModel) -> tuple[list[Finding], list[str]]:
        checker.dispatcher.crashes = []
        found = [f for file in loaded for f in checker.check(file, project)]
        if os.getpid() == parent:
            # Keep this process's parsed files in the result: letting them go here would spend
            # a tenth of a second freeing trees that the process is about to drop anyway.
            parsed_here.update((id(f.candidate), f) for f in loaded)
        return found, checker.dispatcher.crashes

    # Facts cross between processes as plain data (far cheaper than pickling the objects),
    # their Locations as offsets into a file whose text every process has.
    sources: dict[int, SourceFile] = {}

    def source(i: int) -> SourceFile:
        file = sources.get(i)
        if file is None:
            c, t, _ = contents[i]
            file = sources[i] = _source_file(c, t)
        return file

    def send(facts: list[tuple[int, FileFacts]]) -> bytes:
        plain = [(i, encode_ops(f.ops), [encode_write(w) for w in f.writes],
                  {k: v for k, v in vars(f).items() if k != "ops" and k != "writes"})
                 for i, f in facts]
        try:
            return b"m" + marshal.dumps(plain)
        except ValueError:  # a fact of another kind that marshal cannot hold
            return b"p" + pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)

    def receive(blob: bytes) -> list[tuple[int, FileFacts]]:
        received = []
        plain = marshal.loads(blob[1:]) if blob[:1] == b"m" else pickle.loads(blob[1:])
        for i, ops, writes, rest in plain:
            where = partial(Location.in_file, source(i)) if ops or writes else None
            received.append((i, FileFacts(decode_ops(ops, where),
                                          [decode_write(w, where) for w in writes], **rest)))
        return received

    shares = balanced(numbered, lambda item: len(item[1][1] or ""), cores)
    findings: list[Finding] = []
    for found, crashed in two_phase(shares, parse, model, check, send, receive):
        findings.extend(found)
        crashes.extend(crashed)
    # Reporters need each file's text, not its parse.
    files = [parsed_here.get(id(c)) or LoadedFile(c, source(i) if t is not None else None)
             for i, (c, t, _) in enumerate(contents)]
    return findings, files


def _resolver(settings: Settings | Resolver) -> Resolver:
    return settings if isinstance(settings, Resolver) else Resolver.fixed(settings)


def _discover(paths: list[Path], resolver: Resolver, history: "History | None" = None
              ) -> tuple[list[Candidate], list[str]]:
    """The files under `paths`, with the settings of the first path for excludes; migrations
    that have run marked as applied (pglint.history: `history` from git or the command line,
    then each project's `applied-migrations`; nothing with `all_migrations`)."""
    candidates, errors = discover(paths, resolver.for_path(paths[0] if paths else Path(".")),
                                  resolver.for_file)
    from pglint.history import configured

    if history is not None:
        candidates = history.mark(candidates)
    candidates = configured(candidates, lambda c: resolver.for_file(c.path).applied_migrations)
    if any(resolver.for_file(c.path).all_migrations for c in candidates if c.applied):
        candidates = [replace(c, applied=False, history="new: --all-migrations")
                      if resolver.for_file(c.path).all_migrations else c for c in candidates]
    return candidates, errors


def _projects(candidates: list[Candidate], resolver: Resolver) -> list[tuple[Settings, list[int]]]:
    """Indices of the candidates grouped by their settings: one configuration file, one
    project with its own project model."""
    groups: dict[int, tuple[Settings, list[int]]] = {}
    for i, candidate in enumerate(candidates):
        settings = resolver.for_file(candidate.path)
        groups.setdefault(id(settings), (settings, []))[1].append(i)
    return list(groups.values())


def lint_project(files: list[LoadedFile], resolver: Resolver,
                 crashes: list[str] | None = None) -> list[Finding]:
    """Lint parsed files, one project at a time."""
    findings: list[Finding] = []
    for settings, members in _projects([f.candidate for f in files], resolver):
        findings.extend(lint_loaded([files[i] for i in members], settings, crashes))
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _lint_projects(contents: list[Content], resolver: Resolver, crashes: list[str],
                   progress: _Progress | None = None) -> tuple[list[Finding], list[LoadedFile]]:
    """Lint files from their text, one project at a time."""
    findings: list[Finding] = []
    files: list[LoadedFile | None] = [None] * len(contents)
    for settings, members in _projects([c for c, _, _ in contents], resolver):
        found, loaded = _lint_contents([contents[i] for i in members], settings, crashes,
                                       progress)
        findings.extend(found)
        for i, file in zip(members, loaded):
            files[i] = file
    findings.sort(key=lambda f: f.sort_key)
    return findings, [f for f in files if f is not None]


def lint(paths: list[Path], settings: Settings | Resolver, cache_dir: Path | None = None,
         progress: Callable[[int, int], None] | None = None,
         stdin: Content | None = None, history: "History | None" = None) -> LintResult:
    """Lint the files under `paths`, or only the text `stdin` gives (candidate, text, problem:
    what was read from standard input, never cached). With `cache_dir`, an unchanged run is
    answered from cache. `progress(done, total)` is called as files are parsed (not on a cache
    hit)."""
    resolver = _resolver(settings)
    crashes: list[str] = []
    if stdin is not None:
        candidates, errors, contents, cache_dir = [stdin[0]], [], [stdin], None
    else:
        candidates, errors = _discover(paths, resolver, history)
        contents = [(c, *read_text(c.path)) for c in candidates]
    counter = _Progress(progress, len(contents)) if progress is not None else None
    if cache_dir is None:
        findings, files = _lint_projects(contents, resolver, crashes, counter)
        return LintResult(findings, files, errors, crashes)
    from pglint.cache import ResultCache, content_digest

    cache = ResultCache(cache_dir, paths)
    distinct = {id(s): s for s in (resolver.for_file(c.path) for c in candidates)}
    key = cache.key(repr(sorted(map(repr, distinct.values()))),
                    # A migration that turned into history is linted differently.
                    [(c.display, c.kind + ("/applied" if c.applied else ""),
                      content_digest(t, p)) for c, t, p in contents])
    cached = cache.get(key)
    if cached is not None:
        # Reporters need the text for code frames, not the parse.
        files = [LoadedFile(c, _source_file(c, t) if t is not None else None)
                 for c, t, _ in contents]
        return LintResult(cached, files, errors)
    findings, files = _lint_projects(contents, resolver, crashes, counter)
    if not crashes:
        cache.put(key, findings)
    return LintResult(findings, files, errors, crashes)


@dataclass(frozen=True)
class FileDescription:
    """One line of `pglint check --show-files`."""

    path: str
    kind: str
    role: str
    why: str
    history: str  # "" unless the file is a migration


def describe_files(paths: list[Path], settings: Settings | Resolver,
                   history: "History | None" = None) -> tuple[list[FileDescription], list[str]]:
    """What each file under `paths` is to pglint: its kind, its role and why, and for a
    migration whether it counts as new or applied and why. Files are read (a dump, a sqlc file
    or an Alembic migration is known by its text), not linted."""
    resolver = _resolver(settings)
    candidates, errors = _discover(paths, resolver, history)
    out = []
    for candidate in candidates:
        loaded = load(candidate)
        file = loaded.file
        kind = file.kind if file is not None else candidate.kind
        role = file.role if file is not None else candidate.role.role
        why = file.role_reason if file is not None else candidate.role.reason
        shown = (candidate.history or "new") if role == MIGRATION else ""
        out.append(FileDescription(candidate.display, kind, role, why, shown))
    return out, errors


def lint_and_fix(paths: list[Path], settings: Settings | Resolver, unsafe: bool, write: bool,
                 max_passes: int = 8,
                 keep: Callable[[list[Finding], list[LoadedFile]], list[Finding]] | None = None,
                 stdin: Content | None = None, history: "History | None" = None) -> LintResult:
    """Apply fixes until none applies (or max_passes), then lint what is left.

    Fixes are applied in memory and re-linted between passes, so a file is written once, whole,
    at the end. With write=False nothing is written and the result carries the diffs (--diff).
    Text from `stdin` (as for `lint`) is never written anywhere: its fixed text is in the diffs.
    """
    from pglint.fixer import apply_fixes

    resolver = _resolver(settings)
    if stdin is not None:
        candidates, errors, write = [stdin[0]], [], False
        files = [load(*stdin)]
    else:
        candidates, errors = _discover(paths, resolver, history)
        files = [load(c) for c in candidates]
    originals = {f.candidate.display: f.file.text for f in files if f.file is not None}
    fixed: dict[str, int] = defaultdict(int)
    fixed_rules: dict[str, dict[tuple[str, str], int]] = {}
    for _ in range(max_passes):
        by_path: dict[str, list[Finding]] = defaultdict(list)
        found = lint_project(files, resolver)
        if keep is not None:  # e.g. a baseline: fix only the findings that will be reported
            found = keep(found, files)
        for finding in found:
            by_path[finding.path].append(finding)
        changed = False
        for i, loaded in enumerate(files):
            if loaded.file is None:
                continue
            display = loaded.candidate.display
            new_text, applied = apply_fixes(loaded.file.text, by_path.get(display, []), unsafe)
            if applied and new_text != loaded.file.text:
                fixed[display] += len(applied)
                rules = fixed_rules.setdefault(display, {})
                for finding in applied:
                    rules[finding.code, finding.name] = rules.get((finding.code, finding.name),
                                                                  0) + 1
                files[i] = load(loaded.candidate, new_text)
                changed = True
        if not changed:
            break
    from pglint.fixer import settle_fixes

    changes = [(f.candidate.path, f.candidate.display, f.candidate.kind == "python",
                originals[f.candidate.display], f.file.text) for f in files if f.file is not None]
    diffs, failures = settle_fixes(changes, write, lambda path: (
        Path.cwd(), resolver.for_file(path).root or Path.cwd()))
    for i, loaded in enumerate(files):
        if loaded.candidate.display in failures:  # left as it was: reported as it is
            files[i] = load(loaded.candidate, originals[loaded.candidate.display])
            fixed.pop(loaded.candidate.display, None)
            fixed_rules.pop(loaded.candidate.display, None)
    crashes: list[str] = []
    findings = lint_project(files, resolver, crashes)
    return LintResult(findings, files, errors, crashes, dict(fixed), diffs, failures,
                      fixed_rules)
