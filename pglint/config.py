"""Configuration: `[tool.pglint]` in pyproject.toml, or pglint.toml, found by walking up.

The configuration knows its own keys only. What it knows of the rules (their codes and names
for selectors, the options they declare) comes from the caller as a `RuleCatalog`
(`pglint.registry.catalog()`): this module never imports the rules.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from pglint.rule import integer_from, toml_value

if TYPE_CHECKING:
    from pglint.rule import RuleOption


def _toml():
    """tomllib (tomli before 3.11), imported only when a configuration file is read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib


DEFAULT_TARGET_VERSION = 14  # the oldest PostgreSQL major still supported upstream
KNOWN_WORKLOADS = {"insert-heavy", "update-heavy", "counter", "queue", "append-only"}


class ConfigError(Exception):
    """A configuration file or option that pglint cannot use (exit code 2)."""


# Selects every rule (`--select ALL`), as in ruff; the least specific selector.
ALL = "ALL"
# Syntax errors and unreadable files are reported whatever is selected, as ruff reports syntax
# errors: only a selector naming this code itself (not a prefix, not ALL) turns them off.
SYNTAX_ERROR_CODE = "PGL901"


def selects(selector: str, code: str) -> bool:
    """Whether a resolved selector (a code, a code prefix or ALL) covers the rule `code`."""
    return selector == ALL or code.startswith(selector)


def selects_any(selectors: tuple[str, ...], code: str) -> bool:
    return any(selector == ALL or code.startswith(selector) for selector in selectors)


def ignores(selectors: tuple[str, ...], code: str) -> bool:
    """Whether ignore-selectors (`ignore`, per-file-ignores) drop the rule `code`: any that
    covers it, except for PGL901, which only its own code drops."""
    if code == SYNTAX_ERROR_CODE:
        return code in selectors
    return selects_any(selectors, code)


def specificity(selector: str) -> int:
    return 0 if selector == ALL else len(selector)


@dataclass(frozen=True)
class TableHint:
    workloads: frozenset[str] = frozenset()
    updated_columns: frozenset[str] = frozenset()
    # How many rows production holds (`rows = 50_000_000`): the lock rules whose harm grows
    # with the table's size stay silent on a small one (pglint.kit.locks.known_small).
    rows: int | None = None
    # Where `rows` comes from, for messages: "" for [tool.pglint.tables], else the tables file.
    rows_from: str = ""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ("PGL",)
    select_given: bool = False  # `select` came from the user, not the default
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    target_version: int = DEFAULT_TARGET_VERSION
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    migrations: tuple[str, ...] = ()  # glob patterns of migration files (beyond detection)
    queries: tuple[str, ...] = ()  # glob patterns of application SQL that looks like migrations
    pgbench: tuple[str, ...] = ()  # glob patterns of pgbench scripts (beyond detection)
    # The rules' options (`fillfactor`, `lock-timeout`, ...) by key: each declared by a rule
    # (pglint.rule.RuleOption), every declared one present, defaults included.
    options: Mapping[str, Any] = field(default_factory=dict)
    tables: dict[str, TableHint] = field(default_factory=dict)
    # (glob, code prefixes) pairs: findings in matching files are dropped, as ruff's.
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # (glob, role) pairs from [tool.pglint.roles]: a file's role given, not guessed.
    roles: tuple[tuple[str, str], ...] = ()
    # Migrations that have run (a name or glob: that migration and every one before it),
    # and whether to judge applied migrations as if new (pglint.history).
    applied_migrations: tuple[str, ...] = ()
    all_migrations: bool = False
    # Settings the migration runner (or the server, or the role it logs in as) gives every
    # migration's session, which pglint cannot read from the SQL and Python it lints (a
    # runner in Go, a postgresql.conf): (name, value) pairs, names lower-case.
    runner_settings: tuple[tuple[str, str], ...] = ()
    # Skip what git ignores when walking folders; apply the excludes to named paths too.
    respect_gitignore: bool = True
    force_exclude: bool = False
    # A SQL file of more statements is reported (PGL901), not analysed: each parsed statement
    # is kept in memory for the whole run (a million took 9.6 GB).
    max_statements: int = 100_000
    config_path: Path | None = None
    root: Path | None = None  # directory of the config file, or the working directory

    def option(self, key: str) -> Any:
        """The value of the rule option `key` (`ctx.settings.option("lock-timeout")`)."""
        try:
            return self.options[key]
        except KeyError:
            raise KeyError(f"no rule declares the option `{key}`") from None

    def enabled(self, code: str) -> bool:
        if code == SYNTAX_ERROR_CODE:
            return not ignores(self.ignore, code)
        return self.covers(code)

    def covers(self, code: str) -> bool:
        """Whether the selection runs `code`, as for any rule (PGL901's syntax errors too,
        which its unreadable files are not: `enabled`)."""
        selected = [specificity(p) for p in (*self.select, *self.extend_select)
                    if selects(p, code)]
        ignored = [specificity(p) for p in self.ignore if selects(p, code)]
        if not selected:
            return False
        # The most specific prefix wins, as in ruff; ties go to ignore.
        return max(selected) > max(ignored, default=-1)

    def chosen(self, code: str) -> bool:
        """Whether the user's own selection covers this rule: a `select` they gave (in the
        configuration or on the command line), or an `extend-select`. As in ruff, a rule that
        is off by default runs only when chosen so (`select = ["PGL"]` chooses every rule);
        the default selection leaves it out."""
        given = (*self.extend_select, *(self.select if self.select_given else ()))
        return any(selects(p, code) for p in given)

    def ignored_in(self, path: Path) -> tuple[str, ...]:
        """Selectors (codes, prefixes, ALL) that `per-file-ignores` drops for `path`. Globs match the path relative
        to the configuration's directory; a glob without `/` also matches the file name."""
        if not self.per_file_ignores:
            return ()
        import fnmatch
        import os

        from pglint.paths import relative_or_absolute

        rel = relative_or_absolute(path, self.root or os.getcwd())
        name = os.path.basename(os.path.abspath(path))
        codes: list[str] = []
        for pattern, prefixes in self.per_file_ignores:
            # `**/x` also matches `x` at the top (fnmatch's `*` already crosses `/`).
            variants = (pattern, pattern[3:]) if pattern.startswith("**/") else (pattern,)
            if any(fnmatch.fnmatch(rel, p) or ("/" not in p and fnmatch.fnmatch(name, p))
                   for p in variants):
                codes.extend(prefixes)
        return tuple(codes)

    def with_overrides(self, **changes: Any) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# The configuration's own keys; every other key is a rule's option or an error.
CONFIG_KEYS = frozenset({
    "select", "ignore", "extend-select", "target-version", "exclude", "extend-exclude",
    "migrations", "queries", "pgbench", "tables", "per-file-ignores", "roles",
    "applied-migrations", "all-migrations", "respect-gitignore", "force-exclude",
    "max-statements", "runner-settings", "tables-file",
})


@dataclass(frozen=True)
class RuleCatalog:
    """What the configuration needs to know of the rules: their codes, their names (upper-cased,
    to their codes), the options they declare (key -> declaration, in rule order) and squawk's
    names for them (upper-cased, to the codes that cover each)."""

    codes: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, RuleOption] = field(default_factory=dict)
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = sorted(CONFIG_KEYS & set(self.options))
        if clash:
            raise ConfigError(f"a rule declares the option `{clash[0]}`, a configuration key "
                              "of pglint's own")

    def resolve(self, selector: str) -> str | None:
        """A selector as written in its canonical form: a rule's code for its name, a code or
        code prefix upper-cased, ALL; None when it names no rule."""
        upper = selector.strip().upper()
        if upper == ALL:
            return ALL
        if upper in self.names:
            return self.names[upper]
        if upper and any(code.startswith(upper) for code in self.codes):
            return upper
        return None

    def resolve_all(self, selector: str) -> tuple[str, ...] | None:
        """What `resolve` gives, as a tuple; a squawk rule name gives the codes of every pglint
        rule that covers it. None when the selector names no rule."""
        one = self.resolve(selector)
        if one is not None:
            return (one,)
        return self.aliases.get(selector.strip().upper())

    def with_defaults(self, settings: Settings) -> Settings:
        """`settings` with the default of every declared option it does not set."""
        if all(key in settings.options for key in self.options):
            return settings
        options = {key: option.default for key, option in self.options.items()}
        options.update(settings.options)
        return replace(settings, options=options)


def find_config(start: Path) -> Path | None:
    """The configuration of the nearest folder, from `start` (a folder or a file) up."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for folder in (directory, *directory.parents):
        found = config_in(folder)
        if found is not None:
            return found
    return None


def config_in(folder: Path) -> Path | None:
    """The folder's own configuration: its pglint.toml, else its pyproject.toml if that has a
    [tool.pglint] table; None if neither."""
    candidate = folder / "pglint.toml"
    if candidate.is_file():
        return candidate
    candidate = folder / "pyproject.toml"
    if not candidate.is_file():
        return None
    try:
        text = candidate.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "pglint" not in text:
        return None  # most pyproject.toml files have no [tool.pglint]: do not parse them
    tomllib = _toml()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # It names pglint, so it may be our configuration: never ignore it silently.
        raise ConfigError(f"{candidate}: invalid TOML: {exc}") from None
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ConfigError(f"{candidate}: `tool` must be a table")
    if tool is not None and "pglint" in tool:
        return candidate
    return None


def _codes(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"`{key}` must be a list of rule codes or prefixes")
    return tuple(v.strip() for v in value)


def _hint(table: str, value: Any) -> TableHint:
    columns: list[str] = []
    rows = None
    if isinstance(value, dict):
        _reject_unknown(value, {"workload", "updated-columns", "rows"}, "key", f"tables.{table}.")
        columns = value.get("updated-columns", [])
        rows = _rows(table, value["rows"]) if "rows" in value else None
        value = value.get("workload", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"tables.{table}: workload must be a string or a list of strings")
    bad = set(value) - KNOWN_WORKLOADS
    if bad:
        raise ConfigError(
            f"tables.{table}: unknown workload {', '.join(sorted(bad))} "
            f"(known: {', '.join(sorted(KNOWN_WORKLOADS))})"
        )
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ConfigError(f"tables.{table}: updated-columns must be a list of column names")
    return TableHint(frozenset(value), frozenset(c.lower() for c in columns), rows)


def _with_tables_file(hints: dict[str, TableHint], value: Any,
                      config: Path | None) -> dict[str, TableHint]:
    """`hints` with those of the tables file `value` names (`pglint tables` writes it from a
    live database), relative to the configuration file; what `hints` gives a table, written
    by hand, wins over the file, field by field."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("`tables-file` must be the path of a file `pglint tables` wrote "
                          "(`tables-file = \"pglint-tables.toml\"`)")
    path = (config.parent if config else Path.cwd()) / value
    data = _read_toml(path, f"tables-file not found: {path} (write it with `pglint tables "
                            f"--database-url URL --output {value}`)")
    try:
        _reject_unknown(data, {"tables"}, "key")
        tables = data.get("tables", {})
        if not isinstance(tables, dict):
            raise ConfigError("`tables` must be a table of table-name = { rows = N }")
        merged = {name.lower(): replace(_hint(name, v), rows_from=value)
                  for name, v in tables.items()}
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    for name, hint in hints.items():
        merged[name] = _merged(hint, merged.get(name))
        # `orders` by hand and `public.orders` measured: both the table a bare name finds.
        public = f"public.{name}"
        if "." not in name and public in merged:
            merged[public] = _merged(hint, merged[public])
    return merged


def _merged(hint: TableHint, measured: TableHint | None) -> TableHint:
    """A hand-written hint over a measured one, field by field."""
    if measured is None:
        return hint
    return TableHint(hint.workloads or measured.workloads,
                     hint.updated_columns or measured.updated_columns,
                     *((measured.rows, measured.rows_from) if hint.rows is None
                       else (hint.rows, "")))


def _rows(table: str, value: Any) -> int:
    """A table's row count as a hint gives it: a TOML integer, 0 or more (a float or a string
    is refused rather than rounded or parsed: `5e7` and "50M" are guesses at what was meant)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"tables.{table}.rows must be a whole number of rows, 0 or more "
                          f"(`rows = 50_000_000`), not {toml_value(value)}")
    return value


def parse_settings(data: dict[str, Any], path: Path | None = None,
                   catalog: RuleCatalog = RuleCatalog()) -> Settings:
    """The settings a configuration table gives, checked: its own keys, and the options that
    the rules of `catalog` declare (the defaults of those it does not set)."""
    _reject_unknown(data, set(CONFIG_KEYS | set(catalog.options)), "option")
    kwargs: dict[str, Any] = {}
    for key in ("select", "ignore", "extend-select"):
        if key in data:
            kwargs[key.replace("-", "_")] = _codes(data[key], key)
    if "select" in data:
        kwargs["select_given"] = True
    for key in ("exclude", "extend-exclude", "migrations", "queries", "pgbench"):
        if key in data:
            value = data[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"`{key}` must be a list of glob patterns")
            kwargs[key.replace("-", "_")] = tuple(value)
    if "target-version" in data:
        kwargs["target_version"] = _checked(integer_from(9, 99), "target-version",
                                            data["target-version"])
    kwargs["options"] = {key: _checked(option.parse, key, data[key]) if key in data
                         else option.default for key, option in catalog.options.items()}
    if "tables" in data:
        if not isinstance(data["tables"], dict):
            raise ConfigError("`tables` must be a table of table-name = workload hints")
        kwargs["tables"] = {name.lower(): _hint(name, v) for name, v in data["tables"].items()}
    if "tables-file" in data:
        kwargs["tables"] = _with_tables_file(kwargs.get("tables", {}), data["tables-file"], path)
    if "per-file-ignores" in data:
        table = data["per-file-ignores"]
        if not isinstance(table, dict):
            raise ConfigError("`per-file-ignores` must be a table of glob = [rule selectors]")
        for glob, selectors in table.items():
            if not isinstance(selectors, list) or not all(isinstance(v, str) for v in selectors):
                raise ConfigError(f"`per-file-ignores` for `{glob}` must be a list of rule "
                                  f"selectors such as [\"PGL101\"], not {toml_value(selectors)}")
        kwargs["per_file_ignores"] = tuple(
            (glob, _codes(codes, f"per-file-ignores.{glob}")) for glob, codes in table.items())
    if "roles" in data:
        from pglint.roles import parse_roles

        try:
            kwargs["roles"] = parse_roles(data["roles"], str(path or "config"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if "max-statements" in data:
        kwargs["max_statements"] = _checked(integer_from(1, 2 ** 31 - 1), "max-statements",
                                            data["max-statements"])
    for key in ("all-migrations", "respect-gitignore", "force-exclude"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ConfigError(f"`{key}` must be true or false")
            kwargs[key.replace("-", "_")] = data[key]
    if "runner-settings" in data:
        kwargs["runner_settings"] = _runner_settings(data["runner-settings"])
    if "applied-migrations" in data:
        value = data["applied-migrations"]
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str) and v.strip() for v in values):
            raise ConfigError("`applied-migrations` must be the name (or a glob) of the last "
                              "migration that has run, or a list of them (one per stream of "
                              "migrations)")
        kwargs["applied_migrations"] = tuple(v.strip() for v in values)
    root = path.parent if path else None
    return Settings(config_path=path, root=root, **kwargs)


_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")


def _runner_settings(value: Any) -> tuple[tuple[str, str], ...]:
    """`runner-settings = { lock_timeout = "15s" }`: settings the runner gives every
    migration's session (a table of PostgreSQL setting names to values)."""
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and _SETTING_NAME.fullmatch(k) and
            isinstance(v, (str, int)) and not isinstance(v, bool) for k, v in value.items()):
        raise ConfigError("`runner-settings` must be a table of PostgreSQL settings the "
                          "migration runner sets on its connection, e.g. `{ lock_timeout = "
                          "\"15s\", statement_timeout = 0 }`")
    return tuple((k.lower(), str(v)) for k, v in value.items())


def _checked(check: Callable[[str, Any], Any], key: str, value: Any) -> Any:
    try:
        return check(key, value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _reject_unknown(data: dict[str, Any], known: set[str], what: str, where: str = "") -> None:
    """A ConfigError naming the first unknown key, with the known key it most resembles."""
    import difflib

    for key in sorted(set(data) - known):
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else \
            f" (known: {', '.join(sorted(known))})"
        raise ConfigError(f"unknown {what} `{where}{key}`{hint}")


def _read_toml(path: Path, missing: str) -> dict[str, Any]:
    """The TOML file `path` as a table; a ConfigError (`missing` when there is no such file)."""
    tomllib = _toml()
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(missing) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_settings(path: Path | None, catalog: RuleCatalog = RuleCatalog()) -> Settings:
    if path is None:
        return catalog.with_defaults(Settings(root=Path.cwd()))
    data = _read_toml(path, f"config file not found: {path}")
    tool = data.get("tool")
    if tool is not None and not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table")
    if path.name == "pyproject.toml":
        data = (tool or {}).get("pglint", {})
    elif tool is not None and "pglint" in tool:
        data = tool["pglint"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [tool.pglint] must be a table")
    try:
        return parse_settings(data, path, catalog)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


class Resolver:
    """Settings for each file: the nearest configuration above it wins, as in ruff.

    Each configuration file marks a project: files under it get its settings and share one
    project model, so two services in one repository do not mix their schemas. `--config`
    (explicit) applies one file to everything. Command-line overrides apply on top of each.
    """

    def __init__(self, overrides: dict[str, Any] | None = None, explicit: Path | None = None,
                 default_root: Path | None = None, *, catalog: RuleCatalog) -> None:
        self.catalog = catalog
        self.overrides = overrides or {}
        self.explicit = explicit
        self.default_root = default_root or Path.cwd()
        self._by_config: dict[Path | None, Settings] = {}
        self._by_dir: dict[str, Path | None] = {}
        self._by_parent: dict[str, Settings] = {}
        self._fixed: Settings | None = None  # one Settings for every path (`fixed`)

    @classmethod
    def fixed(cls, settings: Settings) -> "Resolver":
        resolver = cls(explicit=settings.config_path, catalog=RuleCatalog())
        resolver._fixed = settings
        return resolver

    def _settings(self, config: Path | None) -> Settings:
        if config not in self._by_config:
            base = load_settings(config, self.catalog) if config else \
                self.catalog.with_defaults(Settings(root=self.default_root))
            settings = apply_overrides(base, self.overrides)
            cli = {c for key in ("select", "extend_select", "ignore")
                   for c in (self.overrides.get(key) or ())}
            settings = resolve_selectors(settings, self.catalog, cli)
            self._by_config[config] = settings
        return self._by_config[config]

    def _config_for_dir(self, directory: Path) -> Path | None:
        """find_config for a resolved folder, each folder above it looked at once per run (a
        large tree's folders share their parents)."""
        key = str(directory)
        if key not in self._by_dir:
            found = config_in(directory)
            if found is None and directory.parent != directory:
                found = self._config_for_dir(directory.parent)
            self._by_dir[key] = found
        return self._by_dir[key]

    def for_file(self, path: Path) -> Settings:
        """for_path for a path known to be a file: cached by folder, no file system calls after
        the folder's first file (this runs for every file of a large tree)."""
        key = str(path.parent)
        settings = self._by_parent.get(key)
        if settings is None:
            settings = self._by_parent[key] = self.for_path(path.parent)
        return settings

    def for_path(self, path: Path) -> Settings:
        if self._fixed is not None:
            return self._fixed
        if self.explicit is not None:
            return self._settings(self.explicit)
        directory = path if path.is_dir() else path.parent
        return self._settings(self._config_for_dir(directory.resolve()))


def apply_overrides(settings: Settings, overrides: dict[str, Any]) -> Settings:
    """Command-line options over a configuration: --ignore and --extend-select add, the rest
    replace. As in ruff, a --select starts the rule selection anew: the configuration's
    `extend-select` and `ignore` no longer apply (`--select PGL901` runs PGL901 alone)."""
    changes = dict(overrides)
    if changes.get("select"):
        changes["select_given"] = True
        changes["ignore"] = tuple(changes.get("ignore") or ())
        changes["extend_select"] = tuple(changes.get("extend_select") or ())
        return settings.with_overrides(**changes)
    if changes.get("ignore"):
        changes["ignore"] = settings.ignore + tuple(changes["ignore"])
    if changes.get("extend_select"):
        changes["extend_select"] = settings.extend_select + tuple(changes["extend_select"])
    return settings.with_overrides(**changes)


def resolve_selectors(settings: Settings, catalog: RuleCatalog,
                      from_command_line: set[str] | frozenset = frozenset()) -> Settings:
    """The settings with every rule selector (in select, extend-select, ignore and
    per-file-ignores) made canonical: a code or a code prefix upper-cased, a rule name
    (`missing-lock-timeout`) turned into its code, a squawk rule name into the codes of the
    rules that cover it, `ALL` kept. A selector that names no rule is
    a ConfigError: a typo must not silently turn pglint off in CI."""
    where = f" (in {settings.config_path})" if settings.config_path else ""
    resolve = catalog.resolve_all

    def canonical(selectors: tuple[str, ...], option: str) -> tuple[str, ...]:
        out: list[str] = []
        for selector in selectors:
            codes = resolve(selector)
            if codes is None:
                source = " (on the command line)" if selector in from_command_line else where
                raise ConfigError(f"unknown rule selector {selector!r} in `{option}`{source}; "
                                  "`pglint rule --all` lists the codes and names")
            out.extend(code for code in codes if code not in out)
        return tuple(out)

    changes: dict[str, Any] = {
        option: canonical(getattr(settings, option), option.replace("_", "-"))
        for option in ("select", "extend_select", "ignore")}
    changes["per_file_ignores"] = tuple(
        (glob, canonical(selectors, f"per-file-ignores` for `{glob}"))
        for glob, selectors in settings.per_file_ignores)
    return replace(settings, **changes)
