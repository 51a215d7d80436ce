"""Options of `pglint check` handled outside the command itself: those that choose which files
are read (whether git's ignore rules apply, `--respect-gitignore`, and whether the excludes
apply to paths named on the command line too, `--force-exclude`), which reach `check` as one
`discovery` argument, the configuration overrides they set."""

from __future__ import annotations

import functools
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
