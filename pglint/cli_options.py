"""Options of `pglint check` handled outside the command itself: those that choose which files
are read (whether git's ignore rules apply, `--respect-gitignore`, and whether the excludes
apply to paths named on the command line too, `--force-exclude`), which reach `check` as one
`discovery` argument, the configuration overrides they set; and `--show-settings`' listing."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable

import click


def discovery_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the file-selection options to `command`, which gets them as
    `discovery={"respect_gitignore": ..., "force_exclude": ...}` (only those given)."""

    @functools.wraps(command)
    def wrapper(*args: Any, respect_gitignore: bool | None, force_exclude: bool | None,
                **kwargs: Any) -> Any:
        given = {"respect_gitignore": respect_gitignore, "force_exclude": force_exclude}
        return command(*args, discovery={k: v for k, v in given.items() if v is not None},
                       **kwargs)

    wrapper = click.option(
        "--force-exclude/--no-force-exclude", default=None,
        help="Apply exclude, extend-exclude and the gitignore to paths named on the command "
        "line too (for pre-commit, which names every staged file). Default: the "
        "configuration's `force-exclude`, else off.")(wrapper)
    return click.option(
        "--respect-gitignore/--no-respect-gitignore", default=None,
        help="Skip the files git ignores (.gitignore, .git/info/exclude, the global excludes) "
        "when walking folders. Default: the configuration's `respect-gitignore`, else on.")(
        wrapper)


def render_settings(path: Path, settings, cache_dir: Path | None) -> str:
    """`--show-settings`: every setting that applies to `path`, one `key = value` line each
    (TOML-like; table settings one line per entry), the defaults included."""
    import dataclasses
    import json

    from pglint.discover import DEFAULT_EXCLUDES

    def value(v) -> str:
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (tuple, list, frozenset, set)):
            items = sorted(v) if isinstance(v, (frozenset, set)) else v
            return "[" + ", ".join(value(i) for i in items) + "]"
        if isinstance(v, Path):
            return json.dumps(str(v))
        if isinstance(v, str):
            return json.dumps(v)
        if dataclasses.is_dataclass(v):
            return "{ " + ", ".join(f"{f.name.replace('_', '-')} = {value(getattr(v, f.name))}"
                                    for f in dataclasses.fields(v)) + " }"
        return str(v)

    rows: list[tuple[str, str]] = [
        ("path", value(path)),
        ("config-file", value(settings.config_path)),
    ]
    for f in dataclasses.fields(settings):
        key, v = f.name.replace("_", "-"), getattr(settings, f.name)
        if f.name == "config_path":
            continue
        if f.name == "exclude" and not v:
            rows.append((key, value(DEFAULT_EXCLUDES) + "  # the defaults"))
        elif f.name == "options":  # the rules' options, as top-level keys
            rows.extend((name, value(option)) for name, option in v.items())
        elif f.name == "per_file_ignores":
            rows.extend((f"{key}.{json.dumps(glob)}", value(codes)) for glob, codes in v)
            if not v:
                rows.append((key, "{}"))
        elif isinstance(v, dict):
            rows.extend((f"{key}.{name}", value(item)) for name, item in sorted(v.items()))
            if not v:
                rows.append((key, "{}"))
        else:
            rows.append((key, value(v)))
    rows.append(("cache-dir", value(cache_dir) if cache_dir is not None else "none  # --no-cache"))
    jobs = os.environ.get("PGLINT_JOBS", "").strip()
    rows.append(("jobs", jobs + "  # PGLINT_JOBS" if jobs else '"auto"  # one per core'))
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k:<{width}} = {v}\n" for k, v in rows)
