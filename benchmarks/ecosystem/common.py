"""What extract.py and check.py share: the manifest and where the corpus lives.

Kept in one place so that both scripts agree on the corpus layout
(`<corpus>/<owner>+<name>/`) and on the defaults, which the README documents.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent.parent
MANIFEST = HERE / "manifest.json"
SNAPSHOT = HERE / "snapshot.json"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Repo:
    """One manifest entry: a repository pinned to a commit, and the parts of it to lint."""

    name: str  # owner/name, as GitHub spells it
    commit: str
    paths: tuple[str, ...]
    note: str

    @property
    def dirname(self) -> str:
        """`owner+name`: one flat folder per repository, no owner folders to walk."""
        return self.name.replace("/", "+")


@dataclass(frozen=True)
class Manifest:
    """The whole manifest: repositories plus the file filter shared by all of them."""

    repos: tuple[Repo, ...]
    suffixes: tuple[str, ...]
    names: frozenset[str]
    max_bytes: int


def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Read and validate the manifest, so a typo fails here and not halfway through a run."""
    data = json.loads(path.read_text(encoding="utf-8"))
    repos = []
    seen: set[str] = set()
    for entry in data["repos"]:
        repo = Repo(entry["name"], entry["commit"], tuple(entry["paths"]), entry.get("note", ""))
        if repo.name.count("/") != 1:
            raise ValueError(f"{path}: {repo.name!r} is not owner/name")
        if not _COMMIT.match(repo.commit):
            raise ValueError(f"{path}: {repo.name}: commit {repo.commit!r} is not 40 hex digits")
        if repo.name in seen:
            raise ValueError(f"{path}: {repo.name} is listed twice")
        seen.add(repo.name)
        repos.append(repo)
    return Manifest(
        repos=tuple(repos),
        suffixes=tuple(data.get("suffixes", (".sql", ".py"))),
        names=frozenset(data.get("names", ())),
        max_bytes=int(data.get("max_bytes", 2_000_000)),
    )


def select_repos(manifest: Manifest, only: list[str] | None) -> list[Repo]:
    """The repositories named by `--only` (owner/name or owner+name), or all of them."""
    if not only:
        return list(manifest.repos)
    wanted = {o.replace("+", "/") for o in only}
    unknown = wanted - {r.name for r in manifest.repos}
    if unknown:
        raise SystemExit(f"not in the manifest: {', '.join(sorted(unknown))}")
    return [r for r in manifest.repos if r.name in wanted]


def default_corpus_dir() -> Path:
    """$PGLINT_CORPUS, else `corpus/` beside the project checkout (never inside it)."""
    env = os.environ.get("PGLINT_CORPUS")
    return Path(env).expanduser() if env else PROJECT_ROOT.parent / "corpus"
