"""A result cache: an unchanged set of files re-lints without parsing anything.

The key covers pglint's own code, the settings and the content of every file linted (the
project model is cross-file, so any change re-lints all). One entry is kept per set of
command-line paths, in `.pglint_cache/` beside the configuration (or in the working directory).
Entries are JSON, never pickle: the cache folder sits in the repository, where anyone who can
commit could plant a file, and reading JSON cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from pglint import __version__
from pglint.finding import Applicability, Edit, Finding, Fix, Severity

CACHE_DIR_NAME = ".pglint_cache"


def _bytes(text: str) -> bytes:
    """A path's text as bytes: a file name that is not UTF-8 holds lone surrogates (Python's
    `surrogateescape`), given back as the name's own bytes."""
    return text.encode("utf-8", "surrogateescape")


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """Changes whenever pglint's or its rules' source files change (development installs too),
    plugins' rules included. Once per process: the result and facts caches both ask."""
    import pglint  # the rules and the rule kit are folders of it

    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    for folder in pglint.__path__:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, name))
                    digest.update(_bytes(f"{dirpath}/{name}:{st.st_mtime_ns}:{st.st_size};"))
    from pglint.registry import plugin_rules

    for rule in plugin_rules():  # a plugin's rules are code of the run too
        path = getattr(sys.modules.get(rule.__module__), "__file__", None) or ""
        st = os.stat(path) if os.path.isfile(path) else None
        digest.update(_bytes(f"{rule.__module__}.{rule.__qualname__}:{path}:"
                             f"{st.st_mtime_ns if st else 0}:{st.st_size if st else 0};"))
    return digest.hexdigest()


class ResultCache:
    def __init__(self, directory: Path, paths: list[Path]) -> None:
        self.directory = directory
        names = "\0".join(sorted(os.path.abspath(p) for p in paths))
        self.entry = directory / f"run-{hashlib.blake2b(_bytes(names), digest_size=8).hexdigest()}.json"

    def key(self, settings_repr: str, files: list[tuple[str, str, bytes]]) -> str:
        """files: (display path, kind, content digest) in lint order."""
        digest = hashlib.blake2b(digest_size=20)
        digest.update(_code_fingerprint().encode())
        digest.update(_bytes(settings_repr))
        for display, kind, content in files:
            digest.update(_bytes(display) + b"\0" + kind.encode() + b"\0" + content)
        return digest.hexdigest()

    def get(self, key: str) -> list[Finding] | None:
        """The findings stored under `key`, or None. A cache folder or entry that is a symlink
        is a miss: whoever planted it chose what it says."""
        stored = read_entry(self.directory, self.entry, key)
        try:
            return None if stored is None else [_finding(i) for i in stored["findings"]]
        except Exception:  # an old or tampered entry is just a miss
            return None

    def put(self, key: str, findings: list[Finding]) -> None:
        """Store the findings (see write_entry)."""
        # json.dumps, not json.dump: only the former uses the C encoder.
        write_entry(self.directory, self.entry, ".run.",
                    json.dumps({"key": key, "findings": [_plain(f) for f in findings]}))


def read_entry(directory: Path, entry: Path, key: str) -> dict | None:
    """A cache entry's JSON object when it is stored under `key`, else None (missing, old,
    corrupt). A cache folder or entry that is a symlink is a miss: whoever planted it chose
    what it says."""
    if not _real_folder(directory):
        return None
    try:
        fd = os.open(entry, os.O_RDONLY | _NOFOLLOW)
        with open(fd, encoding="utf-8") as handle:
            stored = json.load(handle)
    except Exception:
        return None
    return stored if type(stored) is dict and stored.get("key") == key else None


def write_entry(directory: Path, entry: Path, prefix: str, data: str) -> None:
    """Write a cache entry whole (a temporary file renamed over it); never through a symlink
    (the folder, its .gitignore or the entry), and not at all when one is in the way."""
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not _real_folder(directory) or os.path.islink(entry):
            return
        _create_gitignore(directory / ".gitignore")
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
        with open(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
        os.replace(tmp, entry)  # rename replaces a name; it never follows one
        tmp = None
    except OSError:
        pass  # a read-only checkout still lints, just without a cache
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _real_folder(path: Path) -> bool:
    """A folder that is not a symlink."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _create_gitignore(path: Path) -> None:
    """Create the folder's .gitignore unless something, a symlink included, has that name."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    except FileExistsError:
        return
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(GITIGNORE_MARK + "\n*\n")


GITIGNORE_MARK = "# Created by pglint."
# The names pglint writes in a cache folder: result and per-file facts entries (pglint.facts_cache),
# their temporary files, the marker .gitignore.
_OWN_NAME = re.compile(r"^(?:(?:run|facts)-[0-9a-f]+\.json|\.(?:run|facts)\..+\.tmp|\.gitignore)$")
# Folders `pglint clean` does not walk into: no cache of a project is kept inside them.
_CLEAN_SKIPS = {".git", ".hg", ".svn", "node_modules", ".venv", "venv", ".tox", ".nox",
                "__pycache__", "site-packages"}


def not_ours(folder: Path) -> str | None:
    """Why `folder` is not a cache folder pglint made (None when it is): not a real folder,
    no `.gitignore` that pglint wrote in it, or something in it pglint never writes."""
    if not _real_folder(folder):
        return "not a folder (a symlink?)"
    try:
        fd = os.open(folder / ".gitignore", os.O_RDONLY | _NOFOLLOW)
        with open(fd, encoding="utf-8", errors="replace") as handle:
            marked = handle.read(len(GITIGNORE_MARK)) == GITIGNORE_MARK
        names = os.listdir(folder)
    except OSError:
        marked, names = False, []
    if not marked:
        return "it has no .gitignore written by pglint"
    others = [name for name in names if not _OWN_NAME.match(name)
              or not stat.S_ISREG(os.lstat(folder / name).st_mode)]
    if others:
        return f"it holds files pglint does not write ({', '.join(sorted(others)[:3])})"
    return None


def find_caches(top: Path) -> list[Path]:
    """The folders named like pglint's cache under `top` (not through symlinks)."""
    found = []
    for folder, dirnames, _ in os.walk(top):
        if CACHE_DIR_NAME in dirnames:
            found.append(Path(folder) / CACHE_DIR_NAME)
        dirnames[:] = sorted(d for d in dirnames if d not in _CLEAN_SKIPS and d != CACHE_DIR_NAME)
    return found


def remove_cache(folder: Path) -> None:
    """Remove a cache folder that `not_ours` accepted: its files one by one, then the folder
    (never a tree walk that could reach anything else). OSError when something resists."""
    for name in os.listdir(folder):
        if _OWN_NAME.match(name):
            os.unlink(folder / name)
    os.rmdir(folder)


def _plain(finding: Finding) -> dict:
    """A finding as JSON-ready data (what dataclasses.asdict gives, without its deep copies)."""
    item = dict(vars(finding))
    fix = finding.fix
    if fix is not None:
        item["fix"] = {"title": fix.title, "applicability": fix.applicability.value,
                       "edits": [{"start": e.start, "end": e.end, "content": e.content}
                                 for e in fix.edits],
                       "suggestion": fix.suggestion, "isolation": fix.isolation}
    item["severity"] = finding.severity.value
    return item


_TEXT_FIELDS = ("code", "name", "message", "path", "help", "url")
_INT_FIELDS = ("start", "end", "row", "column", "end_row", "end_column")


def _typed(value: object, kind: type) -> object:
    """`value` if it has the type a finding needs (bool is not an int here), else ValueError:
    a tampered entry is a miss, never a finding with a string for an offset."""
    if type(value) is not kind:
        raise ValueError(f"cache entry field of type {type(value).__name__}")
    return value


def _finding(item: dict) -> Finding:
    fix = item.get("fix")
    if fix is not None:
        edits = tuple(Edit(_typed(edit["start"], int), _typed(edit["end"], int),
                           _typed(edit["content"], str)) for edit in fix["edits"])
        isolation = fix.get("isolation")
        fix = Fix(_typed(fix["title"], str), Applicability(fix["applicability"]), edits,
                  _typed(fix["suggestion"], str),
                  None if isolation is None else _typed(isolation, str))
    fields = {name: _typed(item[name], str) for name in _TEXT_FIELDS}
    fields.update({name: _typed(item[name], int) for name in _INT_FIELDS})
    return Finding(**fields, severity=Severity(item["severity"]), fix=fix)


def content_digest(text: str | None, problem: object | None) -> bytes:
    data = (text or "").encode("utf-8", "surrogatepass") + repr(problem).encode()
    return hashlib.blake2b(data, digest_size=16).digest()
