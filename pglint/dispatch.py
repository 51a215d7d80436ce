"""Calling the rules on a file: each statement tree walked once, every interested rule called
for each node it wants; and the shape of the fixes they return (shown, not applied, where an
edit cannot be trusted).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Iterable

from pglint.context import FileContext
from pglint.finding import Finding, Fix
from pglint.roles import MIGRATION
from pglint.rule import Rule
from pglint.sql.parse import Statement, iter_nodes

if TYPE_CHECKING:
    pass


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
        self.python_rules = [rule for rule in self.rules if rule.python_nodes]
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
            # SQL a migration operation sends goes only to the rules that judge operations.
            operation = stmt.operation is not None
            for rule in by_stmt.get(stmt.kind, ()):
                if not operation or rule.judges_operations:
                    self._call(findings, rule, rule.check, ctx, stmt, stmt, stmt.body, ctx)
            if nested:
                lowered = (text[stmt.start:stmt.end] if stmt.exact else stmt.sql).lower()
                self._nested(findings, ctx, stmt, [x for x in nested if x[1].judges_operations]
                             if operation else nested, lowered)
            if not stmt.exact:
                _display_only(findings, before)
        for rule in file_rules:
            self._call(findings, rule, rule.check_file, ctx, None, ctx)
        if any(f.fix is not None and f.fix.applicable for f in findings):
            _keep_literals(findings, ctx.all_statements(), text)  # SQL in Python strings
        return findings

    def run_python(self, ctx: FileContext, wanted: frozenset[str]) -> list[Finding]:
        """The Python rules over a .py file's CPython tree: each rule that `wanted` names (its
        text hint passed the file) is called for the nodes of the classes it wants, in file
        order."""
        findings: list[Finding] = []
        code = ctx.python_file
        if code is None:
            return findings
        for rule in self.python_rules:
            if rule.code not in wanted or not judges_file(rule, "python", ctx.role,
                                                          ctx.file.applied):
                continue
            for kind in rule.python_nodes:
                for node in code.nodes(kind):
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
        before = len(findings)
        try:
            findings.extend(method(*args))
        except Exception as exc:  # noqa: BLE001 - a rule bug must not stop the other files
            where = ctx.file.display_path
            if stmt is not None:
                where += ":%d" % ctx.file.position(stmt.start)[0]
            self.crashes.append(f"{rule.code} crashed on {where}: {exc!r}")
        if rule.min_fix_version is not None and \
                ctx.settings.target_version < rule.min_fix_version:
            _needs_newer_postgresql(findings, before, rule.min_fix_version,
                                    ctx.settings.target_version)


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
    from pglint.text_hints import needled

    parts = hint if isinstance(hint, tuple) else (hint,) if hint else ()
    # A pattern is searched for where a literal its matches start with occurs (text_hints).
    return tuple(tuple(alt if isinstance(alt, str) else needled(alt) for alt in h)
                 for h in ((h,) if not isinstance(h, tuple) else h for h in parts))


def hints_match(hints: tuple[tuple, ...], text: str) -> bool:
    """Whether every hint has an alternative in `text`. Loops rather than all(any(...)): this
    runs for every rule and every file, and generators cost more than the tests."""
    for hint in hints:
        for alt in hint:
            if (alt in text) if isinstance(alt, str) else alt.search(text):
                break
        else:
            return False
    return True


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


def _needs_newer_postgresql(findings: list[Finding], start: int, needed: int,
                            target: int) -> None:
    """A rule's fixes need PostgreSQL `needed` (its `min_fix_version`) and the project targets
    an older one (`target-version`): they are shown, never applied, saying why."""
    for finding in findings[start:]:
        fix = finding.fix
        if fix is not None and fix.applicable:
            shown = fix.suggestion or "\n".join(e.content.strip() for e in fix.edits
                                                if e.content.strip())
            finding.fix = Fix.display(fix.title, f"needs PostgreSQL {needed} or later "
                                      f"(target-version is {target})" +
                                      (f"\n{shown}" if shown else ""))


def _display_only(findings: list[Finding], start: int) -> None:
    """Fixes for a statement whose positions are approximate (not verbatim in the file) cannot
    be applied as edits: keep them as suggestions."""
    for finding in findings[start:]:
        if finding.fix is not None and finding.fix.applicable:
            fix = finding.fix
            finding.fix = Fix.display(fix.title, fix.suggestion or "(apply by hand: the "
                                      "statement's text is not verbatim in the file)")


# What code generators write in the header of a file they own (Go's convention, hydra's
# migrations, protobuf, `@generated` of Facebook's tools).
_GENERATED = re.compile(r"\bDO NOT EDIT\b|@generated\b|^\W*Code generated\b.*\bDO NOT EDIT",
                        re.IGNORECASE | re.MULTILINE)


def generated(text: str) -> bool:
    """Whether a file says a generator writes it (in its first five lines)."""
    end = -1
    for _ in range(5):  # the end of the fifth line, without splitting the whole text
        end = text.find("\n", end + 1)
        if end < 0:
            end = len(text)
            break
    return _GENERATED.search(text, 0, end) is not None


def _shown_instead(findings: list[Finding], why: str, every: bool) -> None:
    """The findings' fixes (the applicable ones, or `every` one) shown instead, after `why`."""
    for finding in findings:
        fix = finding.fix
        if fix is not None and (every or fix.applicable):
            shown = fix.suggestion or "\n".join(e.content.strip() for e in fix.edits
                                                if e.content.strip())
            finding.fix = Fix.display(fix.title, why + (f"\n{shown}" if shown else ""))


def source_untouched(findings: list[Finding]) -> None:
    """A generated file is never edited: the next generation would undo the edit. Its fixes
    are shown, for the source it is generated from."""
    _shown_instead(findings, "this file is generated (its header says DO NOT EDIT): make the "
                   "change in the source it is generated from", every=True)


def _history_untouched(findings: list[Finding]) -> None:
    """A migration that has run is never edited (the databases that ran it would not see the
    change, and checksum-verifying runners would refuse it): its fixes are shown as what to
    put in a new migration."""
    _shown_instead(findings, "this migration has already run: put the change in a new "
                   "migration, do not edit this one", every=False)
