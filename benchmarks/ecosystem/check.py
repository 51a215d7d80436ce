"""Lint every extracted repository and compare the findings with the accepted snapshot.

Like ruff's ecosystem check: a rule change that adds or removes findings on real code shows
up as a diff, grouped by rule, before it ships. Each repository is linted the way a user
would run pglint in its root:

    pglint check . --output-format json --no-cache --exit-zero --select ALL   (cwd: the repo)

so paths in findings are relative to the repository root. A pglint crash, a timeout or
output that is not JSON never stops the run: the repository is recorded as errored, with
the tail of stderr, and the next one is linted.

    python benchmarks/ecosystem/check.py             # diff against snapshot.json, exit 1 on change
    python benchmarks/ecosystem/check.py --accept    # write snapshot.json
    python benchmarks/ecosystem/check.py --recent 3  # only the last 3 migrations of each are new
    python benchmarks/ecosystem/check.py --default-rules   # what a user sees with no config

The extracted repositories have no git history, so by default every migration is judged as new
(the strictest view of the migration rules). `--recent N` gives each repository a history
instead: a configuration whose `applied-migrations` names the migration before its last N, as
in a pull request that adds those N. Each finding records the role pglint gave its file
(`--show-files`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from common import (
    MANIFEST,
    SNAPSHOT,
    Repo,
    default_corpus_dir,
    load_manifest,
    select_repos,
)

SQL_SUFFIXES = (".sql", ".psql", ".pgsql", ".pgbench")
# pglint's default excludes: counted files should be the files pglint itself reads.
EXCLUDED_DIRS = {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules",
                 "__pycache__", "build", "dist", "site-packages", ".mypy_cache",
                 ".pytest_cache", ".ruff_cache", ".pglint_cache"}
STDERR_TAIL = 25

Key = tuple[str, str, int, str, str]  # repo, path, line, code, message


@dataclass
class RepoRun:
    """The outcome of linting one repository."""

    name: str
    commit: str
    files: int = 0
    seconds: float = 0.0
    findings: list[dict] = field(default_factory=list)
    error: str = ""  # why the run failed; empty when it succeeded
    stderr_tail: str = ""  # also kept for a successful run that wrote to stderr

    def summary(self) -> dict:
        """The per-repository part of the snapshot (findings are stored separately)."""
        out: dict = {"commit": self.commit, "files": self.files, "findings": len(self.findings),
                     "seconds": round(self.seconds, 1)}
        if self.error:
            out["error"] = self.error
        if self.stderr_tail:
            out["stderr_tail"] = self.stderr_tail
        return out


def pglint_command(explicit: str | None) -> list[str]:
    """The pglint to run: --pglint, else the one installed beside this Python, else PATH."""
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "pglint"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("pglint")
    return [found] if found else [sys.executable, "-m", "pglint"]


def count_files(root: Path) -> int:
    """SQL and Python files under root, walked as pglint walks them (same default excludes)."""
    total = 0
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED_DIRS]
        total += sum(1 for f in filenames if f.lower().endswith((*SQL_SUFFIXES, ".py")))
    return total


def scrub(text: str, root: Path, corpus: Path) -> str:
    """Remove machine-specific absolute paths so the snapshot is the same on every machine."""
    for prefix, replacement in ((str(root) + os.sep, ""), (str(corpus), "<corpus>"),
                                (str(Path.home()), "~")):
        text = text.replace(prefix, replacement)
    return text


def tail(text: str, root: Path, corpus: Path) -> str:
    """The last lines of stderr: where a traceback says what went wrong."""
    lines = scrub(text, root, corpus).rstrip().splitlines()
    return "\n".join(lines[-STDERR_TAIL:])


def normalise(raw: dict, repo: str, root: Path, corpus: Path) -> dict:
    """One finding as the snapshot stores it: no source text, no absolute paths."""
    path = raw.get("filename") or ""
    if os.path.isabs(path):
        path = os.path.relpath(path, root)
    location = raw.get("location") or {}
    return {"repo": repo, "path": PurePosixPath(*Path(path).parts).as_posix() if path else "",
            "line": int(location.get("row") or 0), "code": raw.get("code", "?"),
            "message": scrub(raw.get("message", ""), root, corpus)}


def file_roles(command: list[str], root: Path, timeout: float) -> dict[str, str]:
    """Each file's role as pglint decides it (`pglint check --show-files`), in lint order
    (migrations in apply order)."""
    try:
        proc = subprocess.run([*command, "check", ".", "--show-files", "--all-migrations"],
                              cwd=root, capture_output=True, text=True, timeout=timeout,
                              check=False, errors="replace")
    except subprocess.TimeoutExpired:
        return {}
    roles: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        path, _, rest = line.partition("  ")
        if rest:
            roles[PurePosixPath(*Path(path).parts).as_posix()] = rest.split(" ", 1)[0]
    return roles


def recent_history(roles: dict[str, str], recent: int, folder: Path, root: Path
                   ) -> Path | None:
    """A configuration under which only the last `recent` migrations (in apply order) of each
    stream are new, as in a pull request adding them to a project whose history has run: the
    SQL migrations are one stream, each folder of Alembic or Django migrations another (in the
    order pglint itself gives them). None when no stream has more migrations than that."""
    from pglint.history import python_migration_order

    sql = [path for path, role in roles.items()
           if role == "migration" and not path.endswith(".py")]
    streams = [sql] if len(sql) > recent else []
    folders: dict[str, list[str]] = {}
    for path, role in roles.items():
        if role == "migration" and path.endswith(".py"):
            folders.setdefault(path.rpartition("/")[0], []).append(path)
    for paths in folders.values():
        if len(paths) > recent:
            ordered = python_migration_order([root / p for p in paths])
            streams.append([p.relative_to(root).as_posix() for p in ordered])
    if not streams:
        return None
    patterns = ["".join(f"[{c}]" if c in "*?[]" else c for c in stream[-recent - 1])
                for stream in streams]
    config = folder / "pglint.toml"
    config.write_text(f"applied-migrations = {json.dumps(patterns)}\n", encoding="utf-8")
    return config


def lint_repo(repo: Repo, corpus: Path, command: list[str], timeout: float,
              recent: int | None = None, default_rules: bool = False) -> RepoRun:
    """Run pglint in the repository's root and collect its findings, whatever happens."""
    run = RepoRun(repo.name, repo.commit)
    root = corpus / repo.dirname
    if not root.is_dir():
        run.error = "not extracted (run extract.py)"
        return run
    run.files = count_files(root)
    argv = [*command, "check", ".", "--output-format", "json", "--no-cache", "--exit-zero"]
    if not default_rules:
        argv += ["--select", "ALL"]  # every rule, those off by default too: all their diffs
    roles = file_roles(command, root, timeout)
    if recent is not None:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="pglint-ecosystem-"))
        config = recent_history(roles, recent, folder, root)
        if config is not None:
            argv += ["--config", str(config)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=timeout,
                              check=False, errors="replace")
    except subprocess.TimeoutExpired as exc:
        run.seconds = time.perf_counter() - start
        run.error = f"timed out after {timeout:.0f} s"
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        run.stderr_tail = tail(stderr or "", root, corpus)
        return run
    run.seconds = time.perf_counter() - start
    run.stderr_tail = tail(proc.stderr, root, corpus)
    if proc.returncode != 0:
        run.error = f"pglint exited with {proc.returncode}"
        return run
    try:
        raw = json.loads(proc.stdout)
    except ValueError:
        run.error = "pglint printed something that is not JSON"
        return run
    run.findings = [normalise(f, repo.name, root, corpus) for f in raw]
    for finding in run.findings:
        finding["role"] = roles.get(finding["path"], "")
    return run


def key(finding: dict) -> Key:
    return (finding["repo"], finding["path"], finding["line"], finding["code"],
            finding["message"])


def build_snapshot(runs: list[RepoRun], version: str) -> dict:
    """Sorted findings plus per-repository facts; stable order keeps git diffs readable."""
    findings = sorted((f for r in runs for f in r.findings), key=key)
    return {"pglint_version": version,
            "repos": {r.name: r.summary() for r in sorted(runs, key=lambda r: r.name)},
            "findings": findings}


def dump(snapshot: dict) -> str:
    """The snapshot as JSON with one finding per line: small, and a git diff shows findings."""
    head = json.dumps({"pglint_version": snapshot["pglint_version"], "repos": snapshot["repos"]},
                      indent=1, ensure_ascii=False)
    lines = [json.dumps(f, ensure_ascii=False) for f in snapshot["findings"]]
    return head[:-2] + ',\n "findings": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"


def pglint_version(command: list[str]) -> str:
    proc = subprocess.run([*command, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def print_counts(title: str, counts: Counter, width: int = 40) -> None:
    print(f"\n{title}")
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {name:{width}} {n:6}")
    print(f"  {'total':{width}} {sum(counts.values()):6}")


def print_report(runs: list[RepoRun]) -> None:
    """Per repository (files, findings, seconds, errors), then per rule and per file role."""
    print(f"\n{'repository':40} {'files':>6} {'findings':>8} {'seconds':>8}")
    for r in runs:
        status = f"  ERROR: {r.error}" if r.error else ""
        print(f"{r.name:40} {r.files:6} {len(r.findings):8} {r.seconds:8.1f}{status}")
    findings = [f for r in runs for f in r.findings]
    print_counts("findings per rule", Counter(f["code"] for f in findings), 12)
    print_counts("findings per file role", Counter(f.get("role") or "?" for f in findings), 20)
    for r in runs:
        if r.stderr_tail:
            label = "ERROR" if r.error else "stderr"
            print(f"\n{label} {r.name}:\n" + "\n".join("  " + line
                                                     for line in r.stderr_tail.splitlines()))


def sample(findings: list[dict], n: int) -> list[str]:
    return [f"{f['repo']}:{f['path']}:{f['line']}: {f['message']}" for f in findings[:n]]


def diff(old: dict, new: dict, n_samples: int) -> bool:
    """Print what changed against the accepted snapshot; True if anything did.

    Findings are compared as a multiset of (repo, path, line, code, message): a finding that
    moved line is one removed and one added, which is what a reviewer needs to see.
    """
    before = Counter(key(f) for f in old.get("findings", []))
    after = Counter(key(f) for f in new["findings"])
    added, removed = after - before, before - after
    changed = False
    for label, delta in (("added", added), ("removed", removed)):
        by_rule: dict[str, list[dict]] = defaultdict(list)
        for k in sorted(delta.elements()):
            by_rule[k[3]].append(dict(zip(("repo", "path", "line", "code", "message"), k)))
        for code, items in sorted(by_rule.items()):
            changed = True
            repos = Counter(f["repo"] for f in items)
            where = ", ".join(f"{r} {c}" for r, c in repos.most_common())
            print(f"\n{code}: {len(items)} {label} ({where})")
            for line in sample(items, n_samples):
                print(f"  {'+' if label == 'added' else '-'} {line}")
    old_repos, new_repos = old.get("repos", {}), new["repos"]
    for name in sorted(set(old_repos) | set(new_repos)):
        was, now = old_repos.get(name, {}), new_repos.get(name, {})
        for field_name in ("commit", "error"):
            if was.get(field_name) != now.get(field_name):
                changed = True
                print(f"\n{name}: {field_name} {was.get(field_name)!r} -> {now.get(field_name)!r}")
    return changed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=default_corpus_dir(),
                        help="where extract.py wrote the repositories (default: $PGLINT_CORPUS, "
                             "else ../corpus beside the checkout)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--snapshot", type=Path, default=SNAPSHOT)
    parser.add_argument("--accept", action="store_true", help="write the snapshot, do not diff")
    parser.add_argument("--only", action="append", metavar="OWNER/NAME",
                        help="lint only this repository (repeatable; diffs only its findings)")
    parser.add_argument("--pglint", help="the pglint executable (default: beside this Python)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per repository")
    parser.add_argument("--samples", type=int, default=5, help="examples shown per rule in a diff")
    parser.add_argument("--default-rules", action="store_true",
                        help="only the rules on by default (default: every rule, --select ALL); "
                             "compared with snapshot-default.json")
    parser.add_argument("--recent", type=int, metavar="N", default=None,
                        help="judge only each repository's last N migrations as new (the rest "
                             "have run), as a pull request adding them would be; compared with "
                             "snapshot-recent.json")
    return parser.parse_args(argv)


def restrict(snapshot: dict, names: set[str]) -> dict:
    """The part of a snapshot about `names`, so `--only` diffs compare like with like."""
    return {"repos": {k: v for k, v in snapshot.get("repos", {}).items() if k in names},
            "findings": [f for f in snapshot.get("findings", []) if f["repo"] in names]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.snapshot == SNAPSHOT and (args.recent is not None or args.default_rules):
        name = "snapshot" + ("-recent" if args.recent is not None else "") + \
            ("-default" if args.default_rules else "")
        args.snapshot = SNAPSHOT.with_name(name + ".json")
    manifest = load_manifest(args.manifest)
    repos = select_repos(manifest, args.only)
    corpus = args.corpus_dir.resolve()
    command = pglint_command(args.pglint)
    runs = []
    for repo in repos:
        print(f"linting {repo.name} ...", end=" ", flush=True)
        run = lint_repo(repo, corpus, command, args.timeout, args.recent, args.default_rules)
        print(f"{len(run.findings)} findings, {run.seconds:.1f} s"
              + (f" ERROR: {run.error}" if run.error else ""), flush=True)
        runs.append(run)
    print_report(runs)
    new = build_snapshot(runs, pglint_version(command))
    if args.accept:
        if args.only and args.snapshot.exists():
            old = json.loads(args.snapshot.read_text(encoding="utf-8"))
            names = {r.name for r in repos}
            old["repos"].update(new["repos"])
            old["findings"] = sorted([f for f in old["findings"] if f["repo"] not in names]
                                     + new["findings"], key=key)
            old["pglint_version"] = new["pglint_version"]
            new = old
        args.snapshot.write_text(dump(new), encoding="utf-8")
        print(f"\nwrote {args.snapshot}")
        return 0
    if not args.snapshot.exists():
        print(f"\nno accepted snapshot at {args.snapshot}: run with --accept")
        return 1
    old = json.loads(args.snapshot.read_text(encoding="utf-8"))
    if args.only:
        old = restrict(old, {r.name for r in repos})
    if diff(old, new, args.samples):
        print("\nfindings differ from the accepted snapshot (review, then --accept)")
        return 1
    print("\nno change against the accepted snapshot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
