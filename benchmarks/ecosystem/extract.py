"""Write the manifest's files out of bare git mirrors into the ecosystem corpus.

Reads each repository's tree at its pinned commit with `git ls-tree` and the blobs with
`git cat-file --batch`, so no network access and no work tree are needed: a bare mirror
(`git clone --mirror https://github.com/owner/name`) that contains the commit is enough.

Idempotent: a repository whose folder already holds the same commit, paths and filter
(recorded in `.extract.json`) is left alone; otherwise its folder is rebuilt from scratch,
so files of an older commit never linger. Symlinks and submodules are skipped (a symlink could
point outside the corpus, a submodule is another repository), and so are files over the
manifest's `max_bytes`.

    python benchmarks/ecosystem/extract.py --mirror-dir ~/mirrors
    python benchmarks/ecosystem/extract.py --only knadh/listmonk --force
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from common import (
    MANIFEST,
    PROJECT_ROOT,
    Manifest,
    Repo,
    default_corpus_dir,
    load_manifest,
    select_repos,
)

STAMP = ".extract.json"
SYMLINK, SUBMODULE = "120000", "160000"


@dataclass
class Entry:
    """A file of the tree at the pinned commit, as `git ls-tree -r -l` lists it."""

    mode: str
    kind: str
    sha: str
    size: int | None  # None for submodules ("-") and for blobs the mirror lacks ("BAD")
    path: str


@dataclass
class Result:
    """What happened to one repository, for the summary line."""

    name: str
    status: str = "extracted"
    files: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def default_mirror_dir() -> Path:
    """$PGLINT_MIRRORS, else `mirrors/` beside the project checkout."""
    env = os.environ.get("PGLINT_MIRRORS")
    return Path(env).expanduser() if env else PROJECT_ROOT.parent / "mirrors"


def is_git_dir(path: Path) -> bool:
    """A bare repository (or a .git folder): HEAD plus an objects store."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def find_mirror(root: Path, repo: Repo) -> Path | None:
    """The git dir of `repo` under `root`, whichever common layout the mirrors use.

    Accepted: <root>/owner+name[/repo], <root>/owner+name.git, <root>/owner/name[.git], and
    a non-bare clone's .git folder in any of those places.
    """
    owner, name = repo.name.split("/")
    flat = root / repo.dirname
    bases = [flat / "repo", flat, root / f"{repo.dirname}.git", root / owner / f"{name}.git",
             root / owner / name]
    for base in bases:
        for candidate in (base, base / ".git"):
            if is_git_dir(candidate):
                return candidate
    return None


def git(git_dir: Path, *args: str) -> bytes:
    """Run git against a bare dir and return stdout; raise with git's own message on failure."""
    proc = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return proc.stdout


def list_tree(git_dir: Path, commit: str) -> list[Entry]:
    """Every entry of the commit's tree, NUL-separated so odd file names survive."""
    out = git(git_dir, "ls-tree", "-r", "-l", "-z", "--full-tree", commit)
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, path = record.partition(b"\t")
        mode, kind, sha, size = meta.decode().split()
        entries.append(Entry(mode, kind, sha, int(size) if size.isdigit() else None,
                             path.decode("utf-8", errors="surrogateescape")))
    return entries


def path_selected(path: str, patterns: tuple[str, ...]) -> bool:
    """Manifest path semantics: `dir/` is a prefix, a glob matches the whole path, else exact."""
    for pattern in patterns:
        if pattern.endswith("/"):
            if path.startswith(pattern):
                return True
        elif any(c in pattern for c in "*?["):
            if fnmatch.fnmatchcase(path, pattern):
                return True
        elif path == pattern:
            return True
    return False


def wanted_file(path: str, manifest: Manifest) -> bool:
    """SQL, Python and the few config files that show how a project lays out its SQL."""
    name = PurePosixPath(path).name
    return name in manifest.names or name.lower().endswith(manifest.suffixes)


def safe_target(root: Path, rel: str) -> Path | None:
    """`root/rel`, or None if the path would escape root (absolute, `..`, empty parts)."""
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return root.joinpath(*parts)


def choose(entries: list[Entry], repo: Repo, manifest: Manifest, result: Result) -> list[Entry]:
    """The entries to write, counting why the others inside the selected paths were skipped."""
    chosen = []
    for entry in entries:
        if not path_selected(entry.path, repo.paths):
            continue
        if entry.mode == SUBMODULE or entry.kind == "commit":
            result.skip("submodule")
        elif entry.mode == SYMLINK:
            if wanted_file(entry.path, manifest):
                result.skip("symlink")
        elif entry.kind != "blob" or not wanted_file(entry.path, manifest):
            continue
        elif entry.size is None:
            result.skip("missing blob")  # git lists a blob the mirror lacks with size BAD
        elif entry.size > manifest.max_bytes:
            result.skip("too large")
        else:
            chosen.append(entry)
    return chosen


def read_blobs(git_dir: Path, entries: list[Entry]):
    """Yield (entry, bytes or None) through one `git cat-file --batch` process.

    One process for all blobs instead of one per file: thousands of files extract in
    seconds. A blob the mirror lacks (some mirrors omit very large files) yields None.
    """
    proc = subprocess.Popen(["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for entry in entries:
            proc.stdin.write(entry.sha.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                yield entry, None
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield entry, data
    finally:
        proc.stdin.close()
        proc.wait()


def fingerprint(repo: Repo, manifest: Manifest) -> str:
    """What the folder's content depends on; a change here forces a rebuild."""
    key = json.dumps([repo.commit, repo.paths, manifest.suffixes, sorted(manifest.names),
                      manifest.max_bytes])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def up_to_date(target: Path, stamp_key: str) -> bool:
    """The folder was written by a finished extraction with the same fingerprint."""
    try:
        stamp = json.loads((target / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return stamp.get("fingerprint") == stamp_key


def extract_repo(repo: Repo, manifest: Manifest, mirror_root: Path, corpus: Path,
                 force: bool) -> Result:
    """Rebuild `<corpus>/<owner>+<name>/` from the mirror unless it is already current."""
    result = Result(repo.name)
    target = corpus / repo.dirname
    key = fingerprint(repo, manifest)
    if not force and up_to_date(target, key):
        result.status = "up to date"
        return result
    git_dir = find_mirror(mirror_root, repo)
    if git_dir is None:
        result.status, result.error = "error", f"no git mirror under {mirror_root}"
        return result
    try:
        git(git_dir, "cat-file", "-e", f"{repo.commit}^{{commit}}")
        entries = choose(list_tree(git_dir, repo.commit), repo, manifest, result)
    except RuntimeError as exc:
        result.status, result.error = "error", str(exc).splitlines()[-1]
        return result
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for entry, data in read_blobs(git_dir, entries):
        dest = safe_target(target, entry.path)
        if dest is None:
            result.skip("unsafe path")
            continue
        if data is None:
            result.skip("missing blob")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        result.files += 1
        result.bytes += len(data)
    stamp = {"repo": repo.name, "commit": repo.commit, "fingerprint": key, "files": result.files,
             "skipped": result.skipped}
    (target / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return result


def report(result: Result) -> str:
    """One summary line per repository."""
    line = f"{result.name:40} {result.status:11}"
    if result.status == "extracted":
        line += f" {result.files:6} files {result.bytes / 1e6:7.2f} MB"
    if result.skipped:
        line += "  skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(result.skipped.items()))
    if result.error:
        line += f"  {result.error}"
    return line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--mirror-dir", type=Path, default=default_mirror_dir(),
                        help="root of the bare git mirrors (default: $PGLINT_MIRRORS, else "
                             "../mirrors beside the checkout)")
    parser.add_argument("--corpus-dir", type=Path, default=default_corpus_dir(),
                        help="where to write <owner>+<name>/ folders (default: $PGLINT_CORPUS, "
                             "else ../corpus beside the checkout)")
    parser.add_argument("--only", action="append", metavar="OWNER/NAME",
                        help="extract only this repository (repeatable)")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    manifest = load_manifest(args.manifest)
    corpus = args.corpus_dir.resolve()
    corpus.mkdir(parents=True, exist_ok=True)
    failed = 0
    for repo in select_repos(manifest, args.only):
        result = extract_repo(repo, manifest, args.mirror_dir.expanduser(), corpus, args.force)
        failed += result.status == "error"
        print(report(result), flush=True)
    print(f"corpus: {corpus}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
