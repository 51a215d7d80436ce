"""Paths relative to a folder: the one place that decides how a file is named from a root
(the project's, the repository's, the working directory)."""

from __future__ import annotations

import os


def relative_to(absolute: str, base: str) -> str | None:
    """The absolute path `absolute` from the absolute folder `base` (with the system's
    separators), or None when it is not inside `base` (`base` itself is not inside it).

    String work only, never `os.path.relpath` or the file system: discovery calls this for
    every file of a large tree, and a path outside `base` must not become `../..`.
    """
    base = base.rstrip(os.sep)  # the root folder "/" is "" here: every absolute path is in it
    if absolute.startswith(base) and absolute[len(base):len(base) + 1] == os.sep:
        return absolute[len(base) + 1:]
    return None


def relative_or_absolute(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> str:
    """`path` from the folder `root` with `/` separators (how configuration globs, baselines
    and CI reports name a file), or its absolute path when it is outside `root`."""
    absolute = os.path.abspath(path)
    shown = relative_to(absolute, os.path.abspath(root))
    return (shown if shown is not None else absolute).replace(os.sep, "/")
