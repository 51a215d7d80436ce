"""Paths to source files with a kind, and migrations in the order they apply."""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from pglint.config import Settings
from pglint.gitignore import Ignored, ignored_paths
from pglint.paths import relative_to
from pglint.roles import (
    MIGRATION_CODE_DIRS, OTHER_DIALECT, OTHER_DIALECT_NAMES, TEST, RoleDecision, role_from_path)
from pglint.sqlc_config import CONFIG_NAMES as SQLC_CONFIGS, other_engine_paths

SQL_SUFFIXES = {".sql", ".psql", ".pgsql", ".pgbench"}
# Python files are read for the SQL strings they hand to database calls.
SOURCE_SUFFIXES = SQL_SUFFIXES | {".py"}
# SQL for PostgreSQL only, beside the same file for every database (Synapse's schema deltas).
POSTGRES_ONLY_SUFFIX = ".sql.postgres"
DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__",
    "build", "dist", "site-packages", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".pglint_cache",
)
MIGRATION_DIRS = {"migrations", "migration", "migrate", "db_migrations", "flyway", "deploy",
                  "schema_migrations", "changesets", "versions",
                  "delta", "deltas"}  # schema deltas: `schema/delta/54/add_x.sql` (Synapse)
_FLYWAY = re.compile(r"^([VUR])(\d+(?:[._]\d+)*)?__.+", re.IGNORECASE)
_NUMBERED = re.compile(r"^(\d+(?:[._-]\d+)*)[_.-]")
_EXTENSION_UPDATE = re.compile(
    r"^(?:[A-Za-z_][\w-]*--)?(\d+(?:\.\d+)*)--(\d+(?:\.\d+)*)\.sql$", re.IGNORECASE)
_VERSION_FOLDER = re.compile(r"^v?\d+(?:\.\d+)+$")
_NUMBER_FOLDER = re.compile(r"^v?\d+(?:\.\d+)*$")
_DOWN = re.compile(r"(?:^|[._-])down\.(?:sql|psql|pgsql)$", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    path: Path
    display: str
    kind: str  # migration | sql
    version: tuple = ()  # sort key among migrations
    replay: bool = True  # down/undo migrations are linted but not replayed into the catalog
    # What the file is to the project, from its path (the text may refine it: pglint.roles).
    role: RoleDecision = RoleDecision("application", "")
    applied: bool = False  # a migration that has already run somewhere (see pglint.history)
    rel: str = ""  # the path from its project's root, with `/`: how messages name the file
    history: str = ""  # why it counts as new or applied (`--show-files`)
    max_statements: int = 100_000  # its project's `max-statements` (pglint.loading)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[._-]", text) if p.isdigit())


def classify(path: Path, rel: str, settings: Settings) -> tuple[str, tuple, bool]:
    """(kind, version key, replay) of a SQL file from its name and folders.

    Version keys are (rank, version numbers, undo flag, relative path): versioned before
    repeatable, numerically by version, an undo after the migration it undoes.
    """
    name = path.name
    lowered = name.lower()
    if lowered.endswith(".py"):
        return "python", (), True
    parts = [p.lower() for p in Path(rel).parts[:-1]]
    down = bool(_DOWN.search(name))
    if lowered.endswith(".pgbench") or _matches(rel, settings.pgbench):
        return "pgbench", (), True
    if _matches(rel, settings.queries):
        return "sql", (), True
    if _matches(rel, settings.migrations):
        return "migration", (0, _version(name), int(down), rel), not down
    flyway = _FLYWAY.match(name)
    if flyway:
        prefix = flyway.group(1).upper()
        rank = 1 if prefix == "R" else 0  # repeatable migrations run after every versioned one
        undo = prefix == "U" or down  # `V3__x.down.sql`: a down file named like Flyway's
        return "migration", (rank, _version(flyway.group(2) or ""), int(undo), rel), not undo
    in_migration_dir = any(p in MIGRATION_DIRS for p in parts)
    numbered = _NUMBERED.match(name)
    # 0001_init.sql, 20240101120000_add.sql: a leading number of 3+ digits, or any number in a
    # migrations folder (1_init.sql). `40_1_1_notes.sql` elsewhere is not a migration.
    if numbered and (in_migration_dir or len(re.match(r"\d+", numbered.group(1)).group()) >= 3):
        # In versioned folders (`0.22/03__x.sql`, `v1.2/001_x.sql`) the folder's version
        # comes first: `0.31/02__y.sql` runs after `0.22/03__x.sql`.
        folders = tuple(n for p in parts if _VERSION_FOLDER.match(p) for n in _version(p))
        return "migration", (0, folders + _version(numbered.group(1)), int(down), rel), not down
    if lowered in ("up.sql", "down.sql") and parts:
        # Diesel and similar layouts: <version>_<name>/up.sql
        folder = _NUMBERED.match(parts[-1] + "_")
        version = _version(folder.group(1)) if folder else ()
        return "migration", (0, version, int(lowered == "down.sql"), rel), lowered == "up.sql"
    if in_migration_dir:
        undo = down or "revert" in parts or "verify" in parts
        # Numbered folders below the migrations folder order them: `delta/9/` before `delta/54/`.
        below = parts[max(i for i, p in enumerate(parts) if p in MIGRATION_DIRS) + 1:]
        folders = tuple(n for p in below if _NUMBER_FOLDER.match(p) for n in _version(p))
        return "migration", (0, folders, int(undo), rel), not undo
    if "revert" in parts or "verify" in parts:
        # Sqitch's revert and verify scripts, wherever the plan lives (`sql/revert/x.sql`).
        return "migration", (0, (), 1, rel), False
    update = _EXTENSION_UPDATE.match(name)
    if update:
        # An extension's update script (`ext--1.2--1.3.sql`, `2.14.2--2.15.0.sql`) runs once
        # per database; one to an older version (`2.9.0--2.8.1.sql`) is a downgrade.
        old_version, new_version = _version(update.group(1)), _version(update.group(2))
        down = new_version < old_version
        return "migration", (0, new_version, int(down), rel), not down
    return "sql", (), True


_DIALECT_VARIANT = re.compile(
    r"^(?P<base>.+?)\.(?:postgres|postgresql|pg)(?:\.[a-z]+)*\.(?:up|down)\.sql$", re.IGNORECASE)
_GENERIC = re.compile(r"^(?P<base>.+?)\.(?:up|down)\.sql$", re.IGNORECASE)


def _prefer_postgres_variants(found: dict[str, Candidate]) -> None:
    """A generic `<version>.up.sql` whose folder holds a PostgreSQL variant of the same
    migration (`<version>.postgres.up.sql`, `.postgres.autocommit.up.sql`: ory/popx) never
    runs on PostgreSQL: it gets the other-dialect role."""
    variants = set()
    for absolute, c in found.items():
        m = _DIALECT_VARIANT.match(c.path.name)
        if m:
            variants.add((os.path.dirname(absolute), m.group("base").lower()))
    if not variants:
        return
    for absolute, c in list(found.items()):
        m = _GENERIC.match(c.path.name)
        base = m.group("base").lower().removesuffix(".autocommit") if m else ""
        if m and not _DIALECT_VARIANT.match(c.path.name) and \
                (os.path.dirname(absolute), base) in variants:
            found[absolute] = replace(c, role=RoleDecision(
                "other-dialect", "a PostgreSQL variant of this migration runs instead"))


_NAME_WORD = re.compile(r"[A-Za-z0-9]+")
_POSTGRES_WORDS = ("postgres", "postgresql", "pg")
_NAME_SEPARATORS = "_-."


def _postgres_twins(parts: list[str], folders_too: bool) -> Iterator[tuple[str, str]]:
    """For a file's path (lowercased components, from its project's root), the paths its
    PostgreSQL twin would have, each with the reason it names: a folder above the file in
    place of a `postgres/` one (`db/sqlanywhere/patches/x.sql`, `db/postgres/patches/x.sql`), a
    word of a folder's name in place of `postgres` (`db-sqlx-maria/` beside
    `db-sqlx-postgres/`), another database's name in the file's name in place of `postgres`
    (`oracle_engine_7.6.sql` beside `postgres_engine_7.6.sql`)."""
    *folders, name = parts
    for i, folder in enumerate(folders if folders_too else ()):
        if any(word.group() in _POSTGRES_WORDS for word in _NAME_WORD.finditer(folder)):
            continue
        for pg in _POSTGRES_WORDS:
            twin = [*folders[:i], pg, *folders[i + 1:], name]
            yield "/".join(twin), f"{folder}/ beside a {pg}/ folder of the same files"
        for word in _NAME_WORD.finditer(folder):
            if word.group() != folder:
                for pg in _POSTGRES_WORDS:
                    named = folder[:word.start()] + pg + folder[word.end():]
                    yield ("/".join([*folders[:i], named, *folders[i + 1:], name]),
                           f"{folder}/ beside {named}/, a folder of the same files")
    for word in _NAME_WORD.finditer(name):
        if word.group() in OTHER_DIALECT_NAMES:
            for pg in _POSTGRES_WORDS:
                twin = name[:word.start()] + pg + name[word.end():]
                yield ("/".join([*folders, twin]),
                       f"{word.group()} in the name, beside its PostgreSQL twin")
            # The same name without it (`0001_init_sqlite.sql` beside `0001_init.sql`): the
            # plain one is the default database's, this one another's.
            before, after = name[:word.start()], name[word.end():]
            if before[-1:] in _NAME_SEPARATORS:
                plain = before[:-1] + after
            elif after[:1] in _NAME_SEPARATORS and before:
                plain = before + after[1:]
            else:
                continue
            yield ("/".join([*folders, plain]),
                   f"{word.group()} in the name, beside the same file without it")


def _dialect_named_twins(found: dict[str, Candidate]) -> None:
    """Another database's scripts, told by their PostgreSQL twins (`_postgres_twins`): the
    same files for PostgreSQL beside them. A dialect word alone in a name is no evidence
    (`remove_oracle_column_default.sql` may well be a PostgreSQL migration)."""
    sql = {absolute: c for absolute, c in found.items() if c.kind != "python" and c.rel}
    paths = {c.rel.lower() for c in sql.values()}
    # Only a project with a folder named for PostgreSQL has folder twins (most have none).
    folders_too = any(word.group() in _POSTGRES_WORDS for path in paths
                      for word in _NAME_WORD.finditer(path.rpartition("/")[0]))
    for absolute, c in sql.items():
        if c.role.configured or c.role.role == OTHER_DIALECT:
            continue
        reason = next((why for twin, why in _postgres_twins(c.rel.lower().split("/"),
                                                            folders_too)
                       if twin in paths), None)
        if reason is not None:
            found[absolute] = replace(c, role=RoleDecision(OTHER_DIALECT, reason))


def _pg_regress_inputs(found: dict[str, Candidate]) -> None:
    """pg_regress's inputs (`sql/expr.sql` beside `expected/expr.out`) are tests: their
    errors are the ones the test expects."""
    for absolute, c in list(found.items()):
        folder = os.path.dirname(absolute)
        if c.role.configured or c.role.role == OTHER_DIALECT or \
                os.path.basename(folder) != "sql":
            continue
        expected = f"{os.path.splitext(c.path.name)[0]}.out"
        if os.path.isfile(os.path.join(os.path.dirname(folder), "expected", expected)):
            found[absolute] = replace(c, role=RoleDecision(
                TEST, f"a pg_regress input (expected/{expected})"))


# Prisma writes the datasource's provider beside its migrations (`migration_lock.toml`).
_PRISMA_PROVIDER = re.compile(r'^\s*provider\s*=\s*"([A-Za-z0-9_-]+)"', re.M)
_POSTGRES_PROVIDERS = ("postgresql", "postgres")


def _prisma_other_providers(found: dict[str, Candidate]) -> None:
    """The migrations of a Prisma project whose `migration_lock.toml` names another provider
    (`mysql`, `sqlite`, `sqlserver`, `cockroachdb`: `migrations/<version>/migration.sql` under
    the file) get the other-dialect role, unless configured."""
    providers: dict[str, str | None] = {}
    for absolute, c in list(found.items()):
        if c.role.configured or c.kind == "python" or c.path.name != "migration.sql":
            continue
        migrations = os.path.dirname(os.path.dirname(absolute))
        if migrations not in providers:
            providers[migrations] = _prisma_provider(os.path.join(migrations,
                                                                  "migration_lock.toml"))
        provider = providers[migrations]
        if provider is not None and provider.lower() not in _POSTGRES_PROVIDERS:
            found[absolute] = replace(c, role=RoleDecision(
                OTHER_DIALECT, f"Prisma's migration_lock.toml: provider = \"{provider}\""))


def _prisma_provider(lock_file: str) -> str | None:
    try:
        with open(lock_file, encoding="utf-8", errors="replace") as handle:
            text = handle.read(10_000)
    except OSError:
        return None
    found = _PRISMA_PROVIDER.search(text)
    return found.group(1) if found else None


def _sqlc_configs_above(paths: list[Path], root: str) -> list[str]:
    """The sqlc configurations in the folders above the linted paths, up to the project root
    (`pglint check internal/queries` in a project whose `sqlc.yaml` sits at the top)."""
    out: list[str] = []
    seen: set[str] = set()
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        while folder.startswith(root) and folder not in seen:
            seen.add(folder)
            out.extend(os.path.join(folder, name) for name in sorted(SQLC_CONFIGS)
                       if os.path.isfile(os.path.join(folder, name)))
            folder = os.path.dirname(folder)
    return out


def _sqlc_other_engines(found: dict[str, Candidate], configs: list[str]) -> None:
    """The SQL files a sqlc configuration reads for MySQL or SQLite (its `schema` and
    `queries` paths, files or folders) get the other-dialect role, unless configured."""
    claimed: list[tuple[str, str, str]] = []
    for config in configs:
        try:
            with open(config, encoding="utf-8", errors="replace") as handle:
                text = handle.read(200_000)
        except OSError:
            continue
        name = os.path.basename(config)
        claimed.extend((path, engine, name) for path, engine in other_engine_paths(config, text))
    if not claimed:
        return
    for absolute, c in list(found.items()):
        if c.role.configured or c.kind == "python":
            continue
        normal = os.path.normpath(absolute)
        for path, engine, name in claimed:
            if normal == path or normal.startswith(path + os.sep):
                found[absolute] = replace(c, role=RoleDecision(
                    "other-dialect", f"{name} reads it for engine {engine}"))
                break


def _mark_beside_migrations(found: dict[str, Candidate]) -> None:
    """Mark the SQL outside migrations of each project that has up migrations: when such a file
    turns out to create tables, it copies the schema the migrations build (pglint.roles)."""
    roots = {absolute[:len(absolute) - len(c.rel)] for absolute, c in found.items()
             if c.rel and absolute.replace(os.sep, "/").endswith(c.rel) and (
                 (c.kind == "migration" and c.replay)
                 # Alembic and Django migrations are told from other Python once read; their
                 # folder is enough here.
                 or (c.kind == "python" and MIGRATION_CODE_DIRS.intersection(
                     c.rel.lower().split("/")[:-1])))}
    if not roots:
        return
    for absolute, c in list(found.items()):
        if c.kind == "sql" and c.role.role == "application" and not c.role.configured and \
                c.rel and absolute[:len(absolute) - len(c.rel)] in roots:
            found[absolute] = replace(c, role=replace(c.role, beside_migrations=True))


def shown_name(name: str) -> str:
    """A path as text that any output can hold: the bytes of a file name that is not UTF-8
    (lone surrogates to Python, which no report can encode) shown as `\\xff`, as git quotes
    them. The file is still read and written by its real name."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name


def candidate(path: Path, rel: str, display: str, settings: Settings) -> Candidate:
    """A file to lint, its kind and role judged from `rel`, its path from the project root."""
    rel, display = shown_name(rel), shown_name(display)
    kind, version, replay = classify(path, rel, settings)
    return Candidate(path, display, kind, version, replay,
                     role_from_path(rel, kind, replay, settings.roles),
                     rel=rel.replace(os.sep, "/"), max_statements=settings.max_statements)


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, pattern) for pattern in patterns)


# pgbench scripts are told from psql scripts by commands psql does not have, or by a `\set`
# whose value is an expression (`\set aid random(1, 100000 * :scale)`), not a plain value.
_PGBENCH_ONLY = re.compile(
    r"^[ \t]*\\(?:sleep|setshell|shell|startpipeline|endpipeline|syncpipeline|aset)\b", re.M)
_PGBENCH_SET = re.compile(r"^[ \t]*\\set[ \t]+\w+[ \t]+[^\n]*?(?:\(|:\w|\s[-+*/%]\s)", re.M)


def detect_kind(kind: str, text: str) -> str:
    """The kind of a file once its text is known: a `sql` file may be a pgbench script."""
    if kind == "sql" and "\\" in text and (_PGBENCH_ONLY.search(text) or _PGBENCH_SET.search(text)):
        return "pgbench"
    return kind


class Excludes:
    """Exclude patterns: plain names match any path part; globs match the relative path or a part."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.names = {p for p in patterns if not any(c in p for c in "*?[/")}
        self.globs = [p for p in patterns if p not in self.names]

    def __call__(self, rel: str) -> bool:
        parts = rel.split(os.sep)
        if self.names and not self.names.isdisjoint(parts):
            return True
        for pattern in self.globs:
            if fnmatch.fnmatch(rel, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts):
                return True
        return False


def named_candidate(path: Path, settings: Settings) -> Candidate:
    """The candidate for a file known by name only (text read from stdin, `--stdin-filename`):
    its kind and role from the name, as `discover` would judge a file there."""
    absolute = os.path.abspath(path)
    rel = relative_to(absolute, os.path.abspath(settings.root or os.getcwd())) or \
        os.path.basename(absolute)
    return candidate(path, rel, relative_to(absolute, os.getcwd()) or absolute, settings)


def _force_excluded(paths: list[Path], settings: Settings, excluded: Excludes,
                    root: str) -> set[str]:
    """`--force-exclude`: the paths named on the command line that the excludes (and, with
    respect-gitignore, git) leave out, as absolute paths. pre-commit names every staged file:
    a generated or vendored one must stay unlinted there too."""
    named = {os.path.abspath(p) for p in paths}
    out = {p for p in named if excluded(relative_to(p, root) or os.path.basename(p))}
    if settings.respect_gitignore:
        out |= ignored_paths(sorted(named - out), root)
    return out


def discover(paths: list[Path], settings: Settings,
             settings_for: Callable[[Path], Settings] | None = None
             ) -> tuple[list[Candidate], list[str]]:
    """Source files under `paths`, migrations first in apply order; and path errors.

    Paths named explicitly are always linted (as ruff does), unless `force-exclude`; excludes
    and, with `respect-gitignore` (the default), what git ignores apply to what is found by
    walking directories. A file's kind and role are judged by its own project's settings
    (`settings_for`, the nearest configuration), from that project's root.
    """
    root = os.path.abspath(settings.root or os.getcwd())
    cwd = os.getcwd()
    excluded = Excludes((*(settings.exclude or DEFAULT_EXCLUDES), *settings.extend_exclude))
    found: dict[str, Candidate] = {}
    errors: list[str] = []
    sqlc_configs: list[str] = []

    def add(p: Path, absolute: str, top: str) -> None:
        if absolute in found:
            return
        own = settings_for(p) if settings_for is not None else settings
        own_root = os.path.abspath(own.root) if own.root is not None else root
        # Outside the project root, a path is judged from the folder linted (or by its name
        # alone): the folders above it are nobody's layout (`/home/me/tests/app/...`).
        rel = relative_to(absolute, own_root) or relative_to(absolute, root) or \
            relative_to(absolute, top) or os.path.basename(absolute)
        display = relative_to(absolute, cwd) or absolute
        found[absolute] = candidate(p, rel, display, own)

    named = _force_excluded(paths, settings, excluded, root) if settings.force_exclude \
        else set()
    for path in paths:
        if os.path.abspath(path) in named:
            continue
        if path.is_dir():
            top = os.path.abspath(path)
            ignored = Ignored(top, root) if settings.respect_gitignore else None
            for folder, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(
                    d for d in dirnames
                    if not excluded(relative_to(os.path.join(folder, d), root) or d)
                    and not (ignored and ignored(os.path.join(folder, d), True)))
                shown = relative_to(folder, cwd)
                for filename in sorted(filenames):
                    if filename in SQLC_CONFIGS:
                        sqlc_configs.append(folder + os.sep + filename)
                    if os.path.splitext(filename)[1].lower() not in SOURCE_SUFFIXES and \
                            not filename.lower().endswith(POSTGRES_ONLY_SUFFIX):
                        continue
                    absolute = folder + os.sep + filename
                    if excluded(relative_to(absolute, root) or filename) or \
                            (ignored and ignored(absolute, False)):
                        continue
                    # Keep the user's spelling of the path: relative paths stay relative.
                    add(Path(shown + os.sep + filename) if shown else Path(absolute), absolute,
                        top)
        elif path.exists() or path.is_symlink():
            add(path, os.path.abspath(path), os.path.dirname(os.path.abspath(path)))
        else:
            errors.append(f"{path}: no such file or directory")
    _prefer_postgres_variants(found)
    _dialect_named_twins(found)
    _pg_regress_inputs(found)
    _prisma_other_providers(found)
    _sqlc_other_engines(found, sqlc_configs + _sqlc_configs_above(paths, root))
    _mark_beside_migrations(found)
    candidates = sorted(
        found.values(),
        key=lambda c: (0, c.version, c.display) if c.kind == "migration" else (1, (), c.display),
    )
    return candidates, errors

