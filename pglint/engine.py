"""The lint run: discover, parse, build the project model, dispatch rules, suppress, fix.

No rule logic lives here. Rules declare the node types they want; each statement tree is walked
once and every interested rule is called for each matching node.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from pglint.config import Resolver, Settings, ignores
from pglint.context import FileContext
from pglint.discover import Candidate, discover
# The stages, re-exported: callers (the CLI, the sqlfluff plugin, tests) import them from here.
from pglint.dispatch import (  # noqa: F401
    Dispatcher, _history_untouched, generated, hints_match, judges_file, source_untouched)
from pglint.facts import (FileFacts, build_model, decode_facts, encode_facts,  # noqa: F401
                          file_facts, project_model)
from pglint.finding import Finding
from pglint.loader import LoadProblem, read_text
from pglint.loading import SYNTAX_ERROR, LoadedFile, _source_file, load  # noqa: F401
from pglint.model.project import ProjectModel
from pglint.registry import all_rules, catalog
from pglint.roles import MIGRATION, SKIPPED_BY_RUNNER
from pglint.rule import Rule
from pglint.source import SourceFile

if TYPE_CHECKING:
    from pglint.history import History


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


def _suppress(loaded: LoadedFile, findings: list[Finding], settings: Settings,
              known_codes: set[str], running: set[str]) -> list[Finding]:
    file = loaded.file
    from pglint.suppress import UNUSED_SUPPRESSION, apply_suppressions, may_suppress

    if file is None or loaded.parsed is None or not may_suppress(file.text):
        return findings  # no suppression comment can be in this file

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
                crashes: list[str] | None = None,
                facts: list[FileFacts] | None = None) -> list[Finding]:
    """Lint parsed files that form one project, in this process (`facts`: their file_facts,
    when the caller has them already)."""
    settings = catalog().with_defaults(settings)  # Settings made by hand lack the options
    model = build_model(files, settings) if facts is None else \
        project_model(facts, [f.candidate for f in files], settings)
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
        # Each finding links to its rule's first reference (the engine's own PGL901 and PGL902
        # findings too, which no rule instance builds).
        self.urls = {cls.code: cls.references[0] for cls in all_rules() if cls.references}
        # A suppression of a rule that did not run (not selected, or off by default and not
        # named) cannot be judged unused.
        # (PGL901 by the syntax errors it reports: a suppression comment sits in a file pglint
        # could read.)
        syntax_errors = settings.chosen(SYNTAX_ERROR[0]) and settings.covers(SYNTAX_ERROR[0])
        self.running = {rule.code for rule in self.dispatcher.rules
                        if rule.code != SYNTAX_ERROR[0]} | (
            {SYNTAX_ERROR[0]} if syntax_errors else set())
        # The roles whose unreadable files PGL901 reports, and those whose syntax errors it
        # reports: syntax errors only when PGL901 is chosen (judged on repositories never
        # tuned on, most were files of another database or templates that pglint cannot tell
        # from PostgreSQL: 4 of 19 worth acting on in round 19, 21 of 58 over three samples).
        self.unreadable_roles = next((cls.roles for cls in all_rules()
                                      if cls.code == SYNTAX_ERROR[0]), frozenset())
        self.syntax_roles = self.unreadable_roles if syntax_errors else frozenset()

    def check(self, loaded: LoadedFile, model: ProjectModel) -> list[Finding]:
        settings = self.settings
        found: list[Finding] = []
        role = loaded.file.role if loaded.file is not None else None
        roles = self.syntax_roles if loaded.parsed is not None else self.unreadable_roles
        if settings.enabled(SYNTAX_ERROR[0]) and (role is None or role in roles):
            found.extend(loaded.problems)
        if loaded.file is not None and loaded.parsed is not None:
            parsed = loaded.parsed
            if loaded.python_file is not None and any(
                    s.operation is not None and s.operation.unless_type is not None
                    for s in parsed.statements):
                from pglint.python.operation_sql import statements_sent

                # What a Django AlterField sends depends on the column before it: the catalog.
                parsed = statements_sent(parsed, model.catalog, loaded.file.project_path)
            ctx = FileContext(loaded.file, parsed, model, settings, loaded.body_statements,
                              python_file=loaded.python_file)
            found.extend(self.dispatcher.run(ctx))
            if loaded.python_file is not None:
                found.extend(self.dispatcher.run_python(ctx, loaded.python_rules))
        if loaded.file is not None and loaded.file.applied and loaded.file.role == MIGRATION:
            _history_untouched(found)
        elif loaded.file is not None and generated(loaded.file.text):
            source_untouched(found)
        found = _suppress(loaded, found, settings, self.known, self.running)
        ignored = settings.ignored_in(loaded.candidate.path)  # per-file-ignores
        if ignored:
            found = [f for f in found if not ignores(ignored, f.code)]
        _locate(found, loaded.file)
        for f in found:
            f.url = f.url or self.urls.get(f.code, "")
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
                   progress: _Progress | None = None, scoped: _ScopedRun | None = None
                   ) -> tuple[list[Finding], list[LoadedFile]]:
    """Lint one project's files from their text: in this process, or spread over the cores
    (see pglint.parallel) when there is enough of it. With `scoped`, only the files in its
    scope are checked when the other files' facts are cached (the facts made here are)."""
    if scoped is not None:
        done = scoped.lint(contents, settings, crashes, progress)
        if done is not None:
            return done
    size = sum(len(t) for _, t, _ in contents if t)
    if size >= PARALLEL_MIN_CHARS:
        from pglint.parallel import available_cores, balanced, can_fork, two_phase

        cores = available_cores()
    if size < PARALLEL_MIN_CHARS or cores < 2 or not can_fork():
        files = []
        for c, t, p in contents:
            files.append(load(c, t, p))
            if progress is not None:
                progress.advance()
        facts = [file_facts(f) for f in files]
        if scoped is not None:
            scoped.remember(contents, facts)
        return lint_loaded(files, settings, crashes, facts), files
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
        if scoped is not None and os.getpid() == parent:
            scoped.remember(contents, [facts for _, facts in ordered])
        return project_model([facts for _, facts in ordered], (c for c, _, _ in contents),
                             settings)

    parsed_here: dict[int, LoadedFile] = {}

    def check(loaded: list[LoadedFile], project: ProjectModel) -> tuple[list[Finding], list[str]]:
        checker.dispatcher.crashes = []
        found = [f for file in loaded for f in checker.check(file, project)]
        if os.getpid() == parent:
            # Keep this process's parsed files in the result: letting them go here would spend
            # a tenth of a second freeing trees that the process is about to drop anyway.
            parsed_here.update((id(f.candidate), f) for f in loaded)
        return found, checker.dispatcher.crashes

    transport = _FactsTransport(contents)
    shares = balanced(numbered, lambda item: len(item[1][1] or ""), cores)
    findings: list[Finding] = []
    for found, crashed in two_phase(shares, parse, model, check, transport.send,
                                    transport.receive):
        findings.extend(found)
        crashes.extend(crashed)
    # Reporters need each file's text, not its parse.
    files = [parsed_here.get(id(c)) or LoadedFile(c, transport.source(i) if t is not None else None)
             for i, (c, t, _) in enumerate(contents)]
    return findings, files


# (which files are checked, the cache folder) of a run that reports on part of a project.
_Scope = tuple[Callable[[Candidate], bool], Path]


class _ScopedRun:
    """One project's run that checks only the files in scope, the model built from the cached
    facts of the others (pglint.facts_cache). Files out of scope whose facts are not cached are
    parsed for their facts only; when most are missing (the first such run), the caller lints
    the whole project the usual way (over every core) and `remember`s the facts it made."""

    # Parsing this many files (or a tenth of the project, if more) for their facts alone is
    # still cheaper than a whole run.
    MAX_MISSES = 50

    def __init__(self, only: Callable[[Candidate], bool], cache_dir: Path,
                 settings: Settings) -> None:
        import hashlib

        from pglint.cache import _code_fingerprint
        from pglint.facts_cache import FactsCache

        self.only = only
        run_key = hashlib.blake2b((_code_fingerprint() + repr(settings)).encode(
            "utf-8", "surrogateescape"), digest_size=20).hexdigest()
        self.facts = FactsCache(cache_dir, run_key)

    def _key(self, content: Content) -> str:
        from pglint.cache import content_digest
        from pglint.facts_cache import file_key

        c, t, p = content
        return file_key(c, content_digest(t, p))

    def remember(self, contents: list[Content], facts: list[FileFacts]) -> None:
        """Keep the facts of a whole run (the contents' facts, in their order)."""
        for content, f in zip(contents, facts):
            self.facts.put(self._key(content), f)

    def lint(self, contents: list[Content], settings: Settings, crashes: list[str],
             progress: _Progress | None) -> tuple[list[Finding], list[LoadedFile]] | None:
        """The findings of the files in scope and every file (parsed or not), or None when
        too many facts are missing or the cached ones do not make a model."""
        facts: list[FileFacts | None] = [None] * len(contents)
        sources: dict[int, SourceFile] = {}
        in_scope = {i for i, (c, _, _) in enumerate(contents) if self.only(c)}
        misses = []
        for i, (c, t, p) in enumerate(contents):
            if i in in_scope or t is None:
                continue
            sources[i] = _source_file(c, t)
            facts[i] = self.facts.get(self._key(contents[i]), sources[i])
            if facts[i] is None:
                misses.append(i)
        if len(misses) > max(self.MAX_MISSES, len(contents) // 10):
            return None
        to_load = sorted(in_scope | set(misses) | {
            i for i, (_, t, _) in enumerate(contents) if t is None})
        loaded: dict[int, LoadedFile] = {}
        for i in to_load:
            loaded[i] = load(*contents[i])
            facts[i] = file_facts(loaded[i])
            self.facts.put(self._key(contents[i]), facts[i])
            if progress is not None:
                progress.advance()
        settings = catalog().with_defaults(settings)
        try:
            model = project_model(facts, (c for c, _, _ in contents), settings)
        except Exception:  # cached facts that decode but do not fit: start again without them
            self.facts.fresh.clear()
            return None
        checker = _Checker(settings)
        findings = [f for i in sorted(in_scope) for f in checker.check(loaded[i], model)]
        crashes.extend(checker.dispatcher.crashes)
        files = [loaded.get(i) or LoadedFile(c, sources.get(i))
                 for i, (c, _, _) in enumerate(contents)]
        return findings, files


class _FactsTransport:
    """Facts cross between processes as plain data (far cheaper than pickling the objects),
    their Locations as offsets into a file whose text every process has."""

    def __init__(self, contents: list[Content]) -> None:
        self.contents = contents
        self.sources: dict[int, SourceFile] = {}

    def source(self, i: int) -> SourceFile:
        file = self.sources.get(i)
        if file is None:
            c, t, _ = self.contents[i]
            file = self.sources[i] = _source_file(c, t)
        return file

    def send(self, facts: list[tuple[int, FileFacts]]) -> bytes:
        import marshal
        import pickle

        plain = [(i, encode_facts(f)) for i, f in facts]
        try:
            return b"m" + marshal.dumps(plain)
        except ValueError:  # a fact of another kind that marshal cannot hold
            return b"p" + pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)

    def receive(self, blob: bytes) -> list[tuple[int, FileFacts]]:
        import marshal
        import pickle
        from functools import partial

        plain = marshal.loads(blob[1:]) if blob[:1] == b"m" else pickle.loads(blob[1:])
        return [(i, decode_facts(data, partial(self.source, i))) for i, data in plain]


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
    return [replace(c, applied=False, history="new: --all-migrations")
            if c.applied and resolver.for_file(c.path).all_migrations else c
            for c in candidates], errors


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
                   progress: _Progress | None = None,
                   scope: "_Scope | None" = None) -> tuple[list[Finding], list[LoadedFile]]:
    """Lint files from their text, one project at a time (see _lint_contents for `scope`)."""
    findings: list[Finding] = []
    files: list[LoadedFile | None] = [None] * len(contents)
    for settings, members in _projects([c for c, _, _ in contents], resolver):
        scoped = _ScopedRun(scope[0], scope[1], settings) if scope is not None else None
        found, loaded = _lint_contents([contents[i] for i in members], settings, crashes,
                                       progress, scoped)
        if scoped is not None:
            scoped.facts.save()
        findings.extend(found)
        for i, file in zip(members, loaded):
            files[i] = file
    findings.sort(key=lambda f: f.sort_key)
    return findings, [f for f in files if f is not None]


def lint(paths: list[Path], settings: Settings | Resolver, cache_dir: Path | None = None,
         progress: Callable[[int, int], None] | None = None,
         stdin: Content | None = None, history: "History | None" = None,
         only: Callable[[Candidate], bool] | None = None) -> LintResult:
    """Lint the files under `paths`, or only the text `stdin` gives (candidate, text, problem:
    what was read from standard input, never cached). With `cache_dir`, an unchanged run is
    answered from cache. `progress(done, total)` is called as files are parsed (not on a cache
    hit).

    `only(candidate)` names the files whose findings are wanted (`--project`, `--diff-base`):
    the others still build the project model, from their facts cached in `cache_dir` (see
    pglint.facts_cache) when they are; findings outside `only` may be missing from the result.
    """
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
                    # A migration that turned into history is linted differently; a file out
                    # of scope is not checked at all.
                    [(c.display, c.kind + ("/applied" if c.applied else "")
                      + ("/out-of-scope" if only is not None and not only(c) else ""),
                      content_digest(t, p)) for c, t, p in contents])
    cached = cache.get(key)
    if cached is not None:
        # Reporters need the text for code frames, not the parse.
        files = [LoadedFile(c, _source_file(c, t) if t is not None else None)
                 for c, t, _ in contents]
        return LintResult(cached, files, errors)
    findings, files = _lint_projects(contents, resolver, crashes, counter,
                                     (only, cache_dir) if only is not None else None)
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
        if file is not None and file.applied and not candidate.applied:
            shown = SKIPPED_BY_RUNNER
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
