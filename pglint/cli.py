"""The command line: `pglint check` and `pglint rule`.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from pglint import __version__
from pglint.cli_options import discovery_options
from pglint.cli_tables import tables_command
from pglint.interrupt import interruptible
from pglint.report import FORMATS


def _codes(values: tuple[str, ...]) -> tuple[str, ...] | None:
    codes = tuple(c.strip() for v in values for c in v.split(",") if c.strip())
    return codes or None


def _use_color(choice: str = "auto", stream=None) -> bool:
    """--color always/never decide; auto: not under NO_COLOR, always under FORCE_COLOR (not
    "0" or "false"), else only on a terminal that is not dumb."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false"):
        return True
    stream = stream if stream is not None else sys.stdout
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):
        terminal = False
    return terminal and os.environ.get("TERM") != "dumb"


# Runs over fewer files finish before a progress bar would tell anything.
PROGRESS_MIN_FILES = 200


class _ProgressBar:
    """A `progress(done, total)` callback drawing a rich progress bar on stderr (stdout stays
    clean for pipes), started only once a run turns out to parse over PROGRESS_MIN_FILES
    files, and erased when it stops."""

    def __init__(self) -> None:
        self.bar = None
        self.task = None

    @staticmethod
    def wanted() -> bool:
        """Only on an interactive terminal: a dumb one cannot redraw a line. rich leaves the
        colour out under NO_COLOR."""
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if total <= PROGRESS_MIN_FILES:
                return
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)

            self.bar = Progress(TextColumn("Parsing"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True),
                                transient=True)
            self.bar.start()
            self.task = self.bar.add_task("parse", total=total)
        self.bar.update(self.task, completed=done)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _check_environment() -> None:
    """Environment variables pglint reads, checked before any work: a value that cannot be used
    is a usage error (exit 2), never silently replaced by a default."""
    jobs = os.environ.get("PGLINT_JOBS")
    if jobs is not None and jobs.strip() and not (jobs.strip().isdigit() and int(jobs) > 0):
        click.echo(f"pglint: error: PGLINT_JOBS must be a positive integer (the number of "
                   f"processes; 1 runs everything in one), not {jobs!r}", err=True)
        sys.exit(2)


def _default_cache_dir(settings) -> Path:
    """The result cache's folder: beside the configuration, else in the working directory."""
    from pglint.cache import CACHE_DIR_NAME

    return (settings.root or Path.cwd()) / CACHE_DIR_NAME


def _lint(paths: list[Path], resolver, cache_dir: Path | None, stdin=None, history=None,
          scope=None):
    """engine.lint, with a progress bar on a terminal; only the files in `scope` checked."""
    from pglint import engine

    only = (lambda c: scope.wants(c.path)) if scope is not None else None
    if stdin is not None or not _ProgressBar.wanted():
        return engine.lint(paths, resolver, cache_dir, stdin=stdin, history=history, only=only)
    bar = _ProgressBar()
    try:
        return engine.lint(paths, resolver, cache_dir, progress=bar, history=history, only=only)
    finally:
        bar.stop()


def package_version() -> str:
    """pglint's version as installed (the package metadata); the source's own when pglint runs
    from a checkout that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pglint")
    except PackageNotFoundError:
        return __version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"pglint {package_version()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Print pglint's version and exit.")
def main() -> None:
    """pglint: find PostgreSQL contention anti-patterns in migrations and queries, and fix them."""


@main.command("version")
def version_command() -> None:
    """Print pglint's version (`pglint X.Y.Z`)."""
    click.echo(f"pglint {package_version()}")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output-format", type=click.Choice(tuple(FORMATS)), default=None,
              help="How to print findings (default: full).")
@click.option("--fix", is_flag=True, help="Apply safe fixes.")
@click.option("--fix-only", is_flag=True,
              help="Apply safe fixes and report only how many were applied (exit 0 unless "
              "--exit-non-zero-on-fix).")
@click.option("--exit-non-zero-on-fix", is_flag=True,
              help="Exit 1 when fixes were applied, even if no finding is left.")
@click.option("--show-fixes", is_flag=True,
              help="After the report, list the fixes applied, per file and rule.")
@click.option("--unsafe-fixes", is_flag=True,
              help="With --fix or --diff: also apply unsafe fixes. Alone: write nothing (the "
              "report already shows which findings these fixes would cover).")
@click.option("--diff", is_flag=True, help="Print the fixes as a diff instead of writing them.")
@click.option("--select", multiple=True, help="Rules to enable: codes, prefixes, names or ALL (comma-separated).")
@click.option("--extend-select", multiple=True, help="Rules (codes, prefixes, names) to add to the selection.")
@click.option("--ignore", multiple=True, help="Rules to disable: codes, prefixes, names or ALL (comma-separated).")
@click.option("--extend-ignore", multiple=True,
              help="Rules to disable, in addition to --ignore (ruff's old "
              "spelling; the same as --ignore).")
@click.option("--target-version", type=click.IntRange(9, 99), default=None,
              help="PostgreSQL major version the fixes must run on (default 14).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Use this pglint.toml or pyproject.toml.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--statistics", is_flag=True,
              help="Print the number of findings per rule instead of the findings.")
@click.option("--baseline", "baseline_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Report only findings not recorded in this baseline file "
              "(written by `pglint baseline`).")
@click.option("--project", is_flag=True,
              help="Build the project model from the whole project (the configuration's "
              "folder, else the git top level) and report only on PATHS: cross-file evidence "
              "for the files pre-commit passes.")
@click.option("--diff-base", metavar="REF", default=None,
              help="Report only findings on lines changed since the git REF (the model is "
              "built from the whole repository): for pull-request checks.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="PGLINT_CACHE_DIR",
              help="Where the result cache lives (default: .pglint_cache beside the config).")
@click.option("-q", "--quiet", is_flag=True,
              help="Print the findings only: no summary, nothing when there are none.")
@click.option("-s", "--silent", is_flag=True,
              help="Print no report (errors still go to stderr); the exit code tells.")
@click.option("-o", "--output-file", type=click.Path(path_type=Path), default=None,
              help="Write the report to this file instead of stdout (errors stay on stderr).")
@click.option("--color", type=click.Choice(("auto", "always", "never")), default="auto",
              show_default=True,
              help="Colour the full and concise reports: auto (on a terminal, unless NO_COLOR is set; "
              "FORCE_COLOR forces it), always or never.")
@click.option("--show-settings", is_flag=True,
              help="Print the settings that apply to the first path (configuration file, "
              "selection, excludes, ...) and exit.")
@click.option("--all-migrations", is_flag=True, envvar="PGLINT_ALL_MIGRATIONS",
              help="Judge every migration as new, including those that have already run "
              "(by default, in a git repository, migrations unchanged since the merge base with "
              "the upstream branch are history: no lock or timeout findings, never fixed).")
@click.option("--show-files", is_flag=True,
              help="Print each file pglint reads, with its kind, its role (migration, "
              "application, test, ...) and, for a migration, whether it counts as new or "
              "applied, and why; then exit.")
@click.option("--stdin-filename", type=click.Path(path_type=Path), default=None,
              help="Lint standard input (also `pglint check -`) as a file of this name: its "
              "kind and configuration come from the name. With --fix, the fixed text goes to "
              "stdout and the report to stderr; nothing is written.")
@discovery_options
def check(paths: tuple[Path, ...], output_format: str | None, fix: bool, fix_only: bool,
          exit_non_zero_on_fix: bool, show_fixes: bool, unsafe_fixes: bool,
          diff: bool, select: tuple[str, ...], extend_select: tuple[str, ...],
          ignore: tuple[str, ...], extend_ignore: tuple[str, ...], target_version: int | None,
          config_path: Path | None,
          exit_zero: bool, statistics: bool, baseline_path: Path | None, project: bool,
          diff_base: str | None, no_cache: bool, cache_dir: Path | None, quiet: bool,
          silent: bool, output_file: Path | None, color: str, show_settings: bool,
          all_migrations: bool, show_files: bool, stdin_filename: Path | None,
          discovery: dict) -> None:
    """Lint SQL files and folders (default: the current directory)."""
    import gc

    from pglint.config import ConfigError, Resolver
    from pglint.registry import catalog

    # pglast's JSON trees are millions of small dicts and lists without cycles; the cyclic
    # garbage collector would rescan them over and over (5x the cost of decoding them).
    gc.disable()
    _check_environment()
    path_list = list(paths) or [Path(".")]
    from_stdin = any(str(p) == "-" for p in paths) or (stdin_filename is not None and not paths)
    if from_stdin:
        if len(paths) > 1:
            _usage_error("`-` (standard input) cannot be combined with other paths")
        if project or diff_base is not None:
            _usage_error("--project and --diff-base lint files, not standard input")
        # The name places the text: its configuration and kind are those of a file there.
        path_list = [stdin_filename or Path("-")]
    fix = fix or fix_only
    overrides = {"select": _codes(select), "ignore": _codes(ignore + extend_ignore),
                 "extend_select": _codes(extend_select), "target_version": target_version,
                 "all_migrations": True if all_migrations else None, **discovery}
    try:
        resolver = Resolver({k: v for k, v in overrides.items() if v is not None}, config_path,
                            catalog=catalog())
        settings = resolver.for_path(path_list[0])
    except ConfigError as exc:
        _usage_error(str(exc))
    baseline = _load_baseline(baseline_path) if baseline_path is not None else None
    path_list, scope, history = _scope_and_history(path_list, settings, diff_base, project,
                                                   all_migrations, from_stdin)
    if no_cache:
        cache_dir = None
    elif cache_dir is None:
        cache_dir = _default_cache_dir(settings)
    if show_settings:
        from pglint.show_settings import render_settings

        click.echo(render_settings(path_list[0], settings, cache_dir), nl=False)
        sys.exit(0)
    if show_files:
        sys.exit(_show_files(path_list, resolver, history))
    stdin = None
    if from_stdin:
        from pglint.discover import named_candidate

        stdin = _read_stdin(named_candidate(path_list[0], settings))
    # Opened (and truncated) before any work, as a shell redirection would be: a file that
    # cannot be written stops the run before fixes are written. With --fix, standard input's
    # fixed text takes stdout: the report goes to stderr.
    report_file = sys.stderr if stdin is not None and fix and not diff else None
    output = Output(_open_output(output_file) if output_file is not None else report_file,
                    quiet or silent, silent, owned=output_file is not None, color=color)
    status = interruptible(lambda: _guarded(lambda: _run_check(
        path_list, resolver, output_format or "full", fix, unsafe_fixes, diff, cache_dir,
        statistics, baseline, scope, output, stdin,
        FixReport(fix_only, show_fixes, exit_non_zero_on_fix), history)))
    # Leave without tearing down the parsed trees (a tenth of a second on a large run): nothing
    # is left to clean up but memory, and the output is flushed first.
    try:
        output.close()
        sys.stdout.flush()
    except OSError as exc:
        _cannot_write_output(exc)
    sys.stderr.flush()
    os._exit(0 if exit_zero and status == 1 else status)


def _load_baseline(path: Path):
    """The --baseline file, or exit 2 saying why it cannot be used."""
    from pglint.baseline import BaselineError, load_baseline

    try:
        return load_baseline(path)
    except BaselineError as exc:
        _usage_error(str(exc))


def _scope_and_history(path_list: list[Path], settings, diff_base: str | None, project: bool,
                       all_migrations: bool, from_stdin: bool):
    """The paths to lint, the scope reported on (--diff-base, --project; None: everything)
    and which migrations are new (None: all of them)."""
    if diff_base is None and not project:
        if not all_migrations and not from_stdin and any(p.is_dir() for p in path_list):
            from pglint.history import from_git

            return path_list, None, from_git(next(p for p in path_list if p.is_dir()))
        return path_list, None, None
    from pglint.scope import Scope, ScopeError, changed_lines, project_root

    history = None
    try:
        if diff_base is not None:
            top, lines = changed_lines(diff_base, path_list[0])
            return [top], Scope(path_list, lines), _history_of_diff_base(diff_base, top,
                                                                         all_migrations)
        config_root = settings.config_path.parent if settings.config_path else None
        scope = Scope(path_list)
        if not all_migrations:
            from pglint.history import from_changes

            # pre-commit names the files being committed: those are the new ones.
            history = from_changes({str(p) for p in path_list if not p.is_dir()},
                                   "named on the command line")
        # The files named are linted even where the excludes leave them out of the walk (as
        # without --project), unless --force-exclude.
        return [project_root(path_list[0], config_root),
                *(p for p in path_list if not p.is_dir())], scope, history
    except ScopeError as exc:
        _usage_error(str(exc))


def _guarded(run_check) -> int:
    """`run_check()`'s exit code; what it raises made an error message and exit code."""
    from pglint.config import ConfigError

    try:
        return run_check()
    except ConfigError as exc:  # a nested configuration file found while linting
        _usage_error(str(exc))
    except BrokenPipeError:
        # The reader went away (`pglint check | head`): not an error of ours. Point stdout at
        # /dev/null so that Python's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except OSError as exc:
        if not _stdout_broken(exc):
            raise
        _cannot_write_output(exc)
    except Exception as exc:  # an internal error is exit 2, with what we know
        import traceback

        click.echo(f"pglint: internal error: {exc!r}", err=True)
        traceback.print_exc()
        sys.exit(2)


def _usage_error(message: str) -> NoReturn:
    click.echo(f"pglint: error: {message}", err=True)
    sys.exit(2)


class _Stdin:
    """What `pglint check -` read: the candidate it stands for, its text (None when it cannot
    be linted: the problem says why), and the bytes and encoding to give back with --fix."""

    def __init__(self, candidate, data: bytes, text: str | None, encoding: str,
                 problem) -> None:
        self.candidate, self.data, self.text = candidate, data, text
        self.encoding, self.problem = encoding, problem

    @property
    def content(self) -> tuple:
        return self.candidate, self.text, self.problem


def _read_stdin(candidate) -> _Stdin:
    from pglint.loader import MAX_BYTES, LoadProblem, decode

    try:
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
    except (AttributeError, OSError, ValueError) as exc:  # closed or missing stdin
        _usage_error(f"cannot read standard input: {getattr(exc, 'strerror', None) or exc}")
    if len(data) > MAX_BYTES:
        problem = LoadProblem(f"input is over the {MAX_BYTES // (1024 * 1024)} MiB limit; "
                              "not linted")
        return _Stdin(candidate, data, None, "utf-8", problem)
    text, encoding, problem = decode(candidate.path, data)
    return _Stdin(candidate, data, text, encoding, problem)


class Output:
    """Where the report goes (stdout, or the file of --output-file) and how much of it:
    `quiet` drops the summaries, `silent` the whole report. Errors always go to stderr."""

    def __init__(self, file=None, quiet: bool = False, silent: bool = False,
                 owned: bool = False, color: str = "auto") -> None:
        self.file = file
        self.quiet = quiet
        self.silent = silent
        self.owned = owned  # a file of ours to close (not stderr)
        self.color_choice = color

    @property
    def stream(self):
        return self.file if self.file is not None else sys.stdout

    def echo(self, text: str = "", nl: bool = True, color: bool = False) -> None:
        """`text` on the output; with `color`, its ANSI styles kept even off a terminal (click
        strips them there otherwise)."""
        if not self.silent:
            click.echo(text, file=self.stream, nl=nl, color=True if color else None)

    def note(self, text: str) -> None:
        """A remark about the run on stderr (`Would fix 2 findings.`), left out by -q and -s."""
        if not self.quiet:
            click.echo(text, err=True)

    def color(self) -> bool:
        """Colour on a terminal (--color auto), never in an --output-file unless always."""
        if self.owned and self.color_choice == "auto":
            return False
        return _use_color(self.color_choice, self.stream)

    def close(self) -> None:
        if self.owned:
            self.file.close()


def _open_output(path: Path):
    """The --output-file, opened for writing (its folder created); else exit 2."""
    try:
        if not os.path.lexists(path.parent):
            path.parent.mkdir(parents=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        click.echo(f"pglint: error: cannot write {path}: {exc.strerror or exc}", err=True)
        sys.exit(2)


def _stdout_broken(exc: OSError) -> bool:
    """Whether `exc` is the output failing (a full disk, an I/O error or a closed descriptor
    behind stdout) rather than an internal error: fixes, cache and input report their own
    I/O errors per file, so these reach here only from writing the report."""
    import errno

    return exc.errno in (errno.ENOSPC, errno.EIO, errno.EBADF, errno.EDQUOT)


def _cannot_write_output(exc: OSError) -> NoReturn:
    """Say why the report could not be written and exit 2 (no traceback: not our bug)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError:
        pass
    click.echo(f"pglint: error: cannot write the output: {exc.strerror or exc}", err=True)
    sys.stderr.flush()
    os._exit(2)


_KEEP_UNTIL_EXIT: list = []


class FixReport:
    """What to say about the fixes applied: --fix-only (their count instead of the report),
    --show-fixes (the list), --exit-non-zero-on-fix (exit 1 when there were any)."""

    def __init__(self, only: bool = False, show: bool = False, fail: bool = False) -> None:
        self.only, self.show, self.fail = only, show, fail

    @staticmethod
    def listing(fixed_rules: dict[str, dict[tuple[str, str], int]]) -> str:
        total = sum(n for rules in fixed_rules.values() for n in rules.values())
        if not total:
            return "No fixes applied.\n"
        lines = [f"Fixed {total} finding{'s' if total != 1 else ''}:"]
        for path, rules in sorted(fixed_rules.items()):
            lines.append(f"- {path}:")
            width = max(len(str(n)) for n in rules.values())
            lines.extend(f"    {n:>{width}} \u00d7 {code} ({name})"
                         for (code, name), n in sorted(rules.items()))
        return "\n".join(lines) + "\n"


def _history_of_diff_base(diff_base: str, top: Path, all_migrations: bool):
    """With --diff-base, migrations changed since it are the new ones."""
    if all_migrations:
        return None
    from pglint.history import from_diff_base
    from pglint.scope import _commit_of

    return from_diff_base(_commit_of(diff_base, top), top)


def _show_files(paths: list[Path], resolver, history) -> int:
    """`--show-files`: one line per file, sorted as linted (migrations in apply order)."""
    from pglint import engine
    from pglint.config import ConfigError
    from pglint.report.text import visible

    try:
        described, errors = engine.describe_files(paths, resolver, history)
    except ConfigError as exc:
        click.echo(f"pglint: error: {exc}", err=True)
        return 2
    for d in described:
        history_part = f"; {d.history}" if d.history else ""
        click.echo(visible(f"{d.path}  {d.role} ({d.why}{history_part})"))
    for error in errors:
        click.echo(f"pglint: error: {error}", err=True)
    return 2 if errors else 0


def _run_check(paths: list[Path], resolver, output_format: str, fix: bool, unsafe: bool,
               diff: bool, cache_dir: Path | None, statistics: bool = False,
               baseline=None, scope=None, output: Output | None = None,
               stdin: _Stdin | None = None, fixes: FixReport | None = None,
               history=None) -> int:
    """Lint (or fix) `paths`, print the report, and return the exit code."""
    output = output or Output()
    fixes = fixes or FixReport()
    result = _lint_or_fix(paths, resolver, fix, unsafe, diff, cache_dir, baseline, scope,
                          stdin, history)
    if stdin is not None and fix and not diff:
        _give_back_stdin(stdin, result)
    # Held until the process exits (os._exit): freeing the parsed trees on return from here
    # costs tens of milliseconds for nothing.
    _KEEP_UNTIL_EXIT.append(result)
    if scope is not None:
        result.findings = scope.keep(result.findings, result.files)
    for error in result.errors:
        click.echo(f"pglint: error: {error}", err=True)
    baselined = 0
    if baseline is not None:
        result.findings, baselined = baseline.filter(result.findings, result.sources)
    if diff:
        return _print_diff(result, output)
    fixed = sum(result.fixed.values())
    fixes_failed = 1 if fixes.fail and fixed else 0
    if fixes.only:
        # --fix-only: the count of fixes (or their list), never the findings left.
        if not output.quiet:
            output.echo(FixReport.listing(result.fixed_rules) if fixes.show else
                        f"Fixed {fixed} finding{'s' if fixed != 1 else ''}.\n", nl=False)
        return 2 if _failed(result) else fixes_failed
    if not output.silent:
        from pglint.report import RunReport

        _print_report(RunReport(result.findings, result.sources, result.file_count, fixed,
                                baselined), output, output_format, statistics)
    if fixes.show and fix and not output.quiet and output_format in ("full", "concise"):
        output.echo(FixReport.listing(result.fixed_rules), nl=False)
    if _failed(result):
        return 2
    return 1 if result.findings else fixes_failed


def _lint_or_fix(paths: list[Path], resolver, fix: bool, unsafe: bool, diff: bool,
                 cache_dir: Path | None, baseline, scope, stdin: _Stdin | None, history):
    """The run's result: fixed (--fix, --diff) or linted, standard input's text if it is read."""
    from pglint import engine

    def keep(found, files):
        # Fix and report only what is in scope and not baselined.
        if scope is not None:
            found = scope.keep(found, files)
        return baseline.keep(found, files) if baseline is not None else found

    content = stdin.content if stdin is not None else None
    # As in ruff: --unsafe-fixes widens what --fix and --diff apply; alone it writes nothing.
    if fix or diff:
        return engine.lint_and_fix(paths, resolver, unsafe=unsafe, write=not diff,
                                   keep=keep if scope or baseline else None, stdin=content,
                                   history=history)
    return _lint(paths, resolver, cache_dir, stdin=content, history=history, scope=scope)


def _print_diff(result, output: Output) -> int:
    """--diff: the fixes as a unified diff, and the exit code (1 when there is any)."""
    from pglint.fixer import unified_diff

    for path, (before, after) in sorted(result.diffs.items()):
        output.echo(unified_diff(path, before, after), nl=False)
    count = sum(result.fixed.values())
    output.note(f"Would fix {count} finding{'s' if count != 1 else ''}.")
    if _report_fix_failures(result.fix_failures):
        return 2
    return 1 if result.diffs else (2 if result.errors else 0)


def _print_report(run, output: Output, output_format: str, statistics: bool) -> None:
    """The report in `output_format` (or the statistics, with --statistics) on the output."""
    from pglint.report import ReportSettings, reporter

    color = None
    if output_format in ("full", "concise") and not statistics and output.color():
        color = "auto" if output.stream.isatty() else "standard"
    settings = ReportSettings(output_format, summary=not output.quiet, color=color)
    output.echo(reporter(output_format, statistics).report(run, settings), nl=False,
                color=color is not None)


def _failed(result) -> bool:
    """Whether the run must exit 2 (a path error, a rule crash, a fix not written), having said
    why on stderr."""
    failed = _report_fix_failures(result.fix_failures)
    if result.errors or result.internal_errors or failed:
        for message in result.internal_errors:
            click.echo(f"pglint: internal error: {message}", err=True)
        return True
    return False


def _give_back_stdin(stdin: _Stdin, result) -> None:
    """`pglint check --fix -`: the text read, fixed, on stdout (as it came when nothing was
    fixed or it could not be read), so that the command works as a filter."""
    display = stdin.candidate.display
    data = stdin.data
    if display in result.diffs:
        try:
            data = result.diffs[display][1].encode(stdin.encoding)
        except UnicodeEncodeError:
            result.fix_failures[display] = (f"the fixed text cannot be written in its "
                                            f"encoding ({stdin.encoding})")
            result.fixed.pop(display, None)
    sys.stdout.flush()
    sys.stdout.buffer.write(data)


def _report_fix_failures(failures: dict[str, str]) -> bool:
    """One line on stderr per file whose fixes were not written (or, with --diff, not shown);
    True when there was any: the run then exits 2."""
    from pglint.report.text import visible

    for path, reason in sorted(failures.items()):
        click.echo(visible(f"pglint: {path}: not fixed: {reason}"), err=True)
    return bool(failures)


@main.command("baseline")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output", "-o", "output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("pglint-baseline.json"), show_default=True,
              help="Where to write the baseline.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Use this pglint.toml or pyproject.toml.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
def baseline_command(paths: tuple[Path, ...], output: Path, config_path: Path | None,
                     no_cache: bool) -> None:
    """Record today's findings, so that `pglint check --baseline FILE` reports only new ones."""
    import gc

    from pglint.baseline import render_baseline
    from pglint.config import ConfigError, Resolver
    from pglint.registry import catalog

    gc.disable()  # as in `check`: pglast's trees have no cycles
    _check_environment()
    path_list = list(paths) or [Path(".")]
    try:
        resolver = Resolver({}, config_path, catalog=catalog())
        settings = resolver.for_path(path_list[0])
        cache_dir = None if no_cache else _default_cache_dir(settings)
        result = _lint(path_list, resolver, cache_dir)
    except ConfigError as exc:
        click.echo(f"pglint: error: {exc}", err=True)
        sys.exit(2)
    for error in result.errors:
        click.echo(f"pglint: error: {error}", err=True)
    for message in result.internal_errors:
        click.echo(f"pglint: internal error: {message}", err=True)
    if result.errors or result.internal_errors:
        sys.exit(2)  # a baseline of a partial run would hide findings later: write none
    files = result.sources
    try:
        output.write_text(render_baseline(result.findings, files), encoding="utf-8")
    except OSError as exc:
        click.echo(f"pglint: error: cannot write {output}: {exc}", err=True)
        sys.exit(2)
    n = len(result.findings)
    click.echo(f"Wrote {n} finding{'s' if n != 1 else ''} from {result.file_count} "
               f"file{'s' if result.file_count != 1 else ''} to {output}.")


@main.command()
def clean() -> None:
    """Remove the result caches (.pglint_cache folders) under the current directory, and the
    one PGLINT_CACHE_DIR names: only folders pglint made."""
    from pglint.cache import find_caches, not_ours, remove_cache

    folders = find_caches(Path("."))
    if os.environ.get("PGLINT_CACHE_DIR"):
        named = Path(os.environ["PGLINT_CACHE_DIR"])
        if os.path.lexists(named) and not any(os.path.samefile(named, f) for f in folders
                                              if os.path.exists(f)):
            folders.append(named)
    failed = False
    removed = 0
    for folder in folders:
        reason = not_ours(folder)
        if reason is not None:
            click.echo(f"pglint: {folder}: not removed: {reason}", err=True)
            continue
        try:
            remove_cache(folder)
        except OSError as exc:
            click.echo(f"pglint: error: cannot remove {folder}: {exc.strerror or exc}", err=True)
            failed = True
            continue
        removed += 1
        click.echo(f"Removed {folder}")
    if not removed and not failed:
        click.echo("No cache to remove.")
    sys.exit(2 if failed else 0)


@main.command()
@click.argument("code", required=False)
@click.option("--all", "show_all", is_flag=True, help="Print the documentation of every rule.")
@click.option("--output-format", type=click.Choice(("text", "json")), default="text")
def rule(code: str | None, show_all: bool, output_format: str) -> None:
    """Print a rule's documentation (by code, name or squawk's name), or every rule's with
    --all."""
    from pglint.registry import PluginError, all_rules, rule_by_code, squawk_aliases

    if not show_all and not code:
        _usage_error("give a rule code, or --all")
    try:
        rules = list(all_rules()) if show_all else [rule_by_code(code)]
        if rules == [None]:  # squawk's name for one or more rules
            covering = squawk_aliases().get(code.upper(), ())
            rules = [rule_by_code(c) for c in covering] or rules
    except PluginError as exc:
        _usage_error(str(exc))
    if rules == [None]:
        _usage_error(f"unknown rule {code!r}; `pglint rule --all` lists them")
    if output_format == "json":
        import json

        data = [{"code": r.code, "name": r.name, "summary": r.summary,
                 "references": list(r.references), "severity": r.severity.value,
                 "default": r.default_enabled,
                 "off_by_default": r.off_by_default, "explanation": r.doc(),
                 "options": [o.as_json() for o in r.options]} for r in rules]
        # One rule asked for: its object; --all, or a squawk name several rules cover: a list.
        click.echo(json.dumps(data if len(data) > 1 or show_all else data[0], indent=2))
        return
    for i, r in enumerate(rules):
        if i:
            click.echo("\n" + "-" * 72 + "\n")
        click.echo(f"# {r.name} ({r.code})\n")
        if r.references:
            click.echo("".join(f"See: {url}\n" for url in r.references))
        if not r.default_enabled:
            click.echo(f"Off by default: {r.off_by_default}. It runs when your own `select` or "
                       f"`extend-select` covers it (`--extend-select {r.code}`).\n")
        click.echo(r.doc())
        if r.options:  # set in the configuration (`[tool.pglint]`)
            click.echo("\n## Options\n\n" + "".join(f"- {o.describe()}\n" for o in r.options),
                       nl=False)


main.add_command(tables_command)
