"""Per-file facts, cached: a run that reports on a few files (`--project FILE`, `--diff-base`)
parses those files and takes every other file's contribution to the project model from here.

The project model is built from what each file contributes (pglint.facts.FileFacts). That
contribution depends only on the file's text, its path and kind, pglint's code and the
settings, so it is kept per file under a key made of those. After a one-file edit, a pre-commit
run reads the edited file and the cached facts of the rest, instead of parsing the whole
project again.

Entries are JSON, never pickle or marshal (the cache folder sits in the repository, where anyone
who can commit could plant a file): tuples, sets and dicts are tagged objects, and anything else
cannot be stored. A tampered or unreadable entry is a miss; facts that do not decode into what
the model expects make the run start again without this cache (pglint.engine).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pglint.cache import _bytes, read_entry, write_entry
from pglint.discover import Candidate
from pglint.facts import FileFacts, decode_facts, encode_facts
from pglint.source import SourceFile


class FactsError(ValueError):
    """Data that is not what encode_facts makes (a tampered or foreign entry)."""


def to_json(value: Any) -> Any:
    """Plain data as JSON-ready data: tuples, sets and dicts tagged so that from_json gives
    back the same types. FactsError for anything else (a fact that is not plain data)."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is list:
        return [to_json(v) for v in value]
    if type(value) is tuple:
        return {"t": [to_json(v) for v in value]}
    if type(value) is frozenset:
        return {"f": [to_json(v) for v in value]}
    if type(value) is dict:
        if all(type(k) is str for k in value):
            return {"d": {k: to_json(v) for k, v in value.items()}}
        return {"m": [[to_json(k), to_json(v)] for k, v in value.items()]}
    raise FactsError(f"cannot store a {type(value).__name__} in the facts cache")


def from_json(value: Any) -> Any:
    """What to_json made, back as tuples, frozensets and dicts; FactsError for anything else."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) is list:
        return [from_json(v) for v in value]
    if type(value) is dict and len(value) == 1:
        tag, items = next(iter(value.items()))
        if tag == "t" and type(items) is list:
            return tuple(from_json(v) for v in items)
        if tag == "f" and type(items) is list:
            return frozenset(from_json(v) for v in items)
        if tag == "d" and type(items) is dict:
            return {k: from_json(v) for k, v in items.items()}
        if tag == "m" and type(items) is list and all(
                type(p) is list and len(p) == 2 for p in items):
            return {from_json(k): from_json(v) for k, v in items}
    raise FactsError("not an entry of the facts cache")


def file_key(candidate: Candidate, content: bytes) -> str:
    """The key of one file's facts within an entry: its path, kind, history and content."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(_bytes(candidate.display) + b"\0" + _bytes(candidate.rel) + b"\0"
                  + candidate.kind.encode() + b"\0" + candidate.role.role.encode()
                  + (b"\0beside" if candidate.role.beside_migrations else b"")
                  + (b"\0replay" if candidate.replay else b"\0no-replay")
                  + (b"\0applied\0" if candidate.applied else b"\0new\0") + content)
    return digest.hexdigest()


class FactsCache:
    """One JSON entry per set of command-line paths and settings: file key -> encoded facts."""

    def __init__(self, directory: Path, run_key: str) -> None:
        self.directory = directory
        self.run_key = run_key  # pglint's code and the settings (pglint.cache.ResultCache.key)
        self.entry = directory / f"facts-{run_key[:16]}.json"
        self.stored: dict[str, Any] = self._read()
        self.fresh: dict[str, Any] = {}  # what this run used or made: what the entry keeps

    def _read(self) -> dict[str, Any]:
        data = read_entry(self.directory, self.entry, self.run_key)
        files = data.get("files") if data is not None else None
        return files if type(files) is dict else {}

    def get(self, key: str, file: SourceFile) -> FileFacts | None:
        """The cached facts of a file (their Locations in `file`), or None."""
        stored = self.stored.get(key)
        if stored is None:
            return None
        try:
            facts = decode_facts(from_json(stored), lambda: file)
        except Exception:  # a tampered entry: a miss
            return None
        self.fresh[key] = stored
        return facts

    def put(self, key: str, facts: FileFacts) -> None:
        """Remember a file's facts (written by save); facts that are not plain data are not
        kept, and the file is parsed again next time."""
        try:
            self.fresh[key] = to_json(encode_facts(facts))
        except FactsError:
            pass

    def save(self) -> None:
        """Write the entry with the facts this run used or made (the files of the project
        now), as pglint.cache writes its entries."""
        if self.fresh != self.stored:
            write_entry(self.directory, self.entry, ".facts.",
                        json.dumps({"key": self.run_key, "files": self.fresh}))
