"""Run pglint every way a user can over each corpus repository and fail on any traceback.

    python benchmarks/ecosystem/traceback_check.py [--only OWNER/NAME] [--sqlfluff-files N]

Per repository: `pglint check --select ALL` in every output format, `--fix --unsafe-fixes`
on a scratch copy (the corpus is never touched), `--project` with one SQL and one Python file of
the repository (a pre-commit hook's call), `--diff`, and `sqlfluff lint --rules pglint` on its
first N SQL files when sqlfluff is installed. A run passes when it exits 0, 1 or 2 (findings or
a reported error) and its stderr holds no Python traceback. Prints one line per failing run
and exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from check import pglint_command
from common import default_corpus_dir, load_manifest, MANIFEST, select_repos

FORMATS = ("full", "concise", "json", "sarif", "github", "gitlab", "junit", "markdown")
TRACEBACK = "Traceback (most recent call last)"


def run(command: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """Exit code and stderr of one run (-1 and a note when it timed out)."""
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:.0f} s"
    return done.returncode, done.stderr


def first_files(root: Path, suffix: str, count: int) -> list[str]:
    """The first `count` files with `suffix` under root, sorted, as paths relative to it."""
    found = sorted(p for p in root.rglob(f"*{suffix}") if p.is_file() and not p.is_symlink())
    return [str(p.relative_to(root)) for p in found[:count]]


def runs_for(root: Path, pglint: list[str], sqlfluff: str | None,
             sqlfluff_files: int) -> list[tuple[str, list[str], Path]]:
    """(label, command, working folder) of every run over one repository."""
    check = pglint + ["check", "--select", "ALL", "--no-cache"]
    runs = [(f"format {f}", check + ["--output-format", f, "."], root) for f in FORMATS]
    runs.append(("diff", check + ["--diff", "--unsafe-fixes", "."], root))
    staged = first_files(root, ".sql", 1) + first_files(root, ".py", 1)
    if staged:
        runs.append(("project", check + ["--project", *staged], root))
    if sqlfluff:
        sql = first_files(root, ".sql", sqlfluff_files)
        if sql:
            runs.append(("sqlfluff", [sqlfluff, "lint", "--dialect", "postgres", "--rules",
                                      "pglint", "--nofail", *sql], root))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-dir", type=Path, default=default_corpus_dir())
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--only", action="append", metavar="OWNER/NAME")
    parser.add_argument("--pglint", default=None)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--sqlfluff-files", type=int, default=20)
    args = parser.parse_args()

    pglint = pglint_command(args.pglint)
    beside = Path(sys.executable).parent / "sqlfluff"
    sqlfluff = str(beside) if beside.exists() else shutil.which("sqlfluff")
    failures = 0
    total = 0
    for repo in select_repos(load_manifest(args.manifest), args.only):
        root = args.corpus_dir / repo.name.replace("/", "+")
        if not root.is_dir():
            print(f"{repo.name}: not extracted (run extract.py)", file=sys.stderr)
            failures += 1
            continue
        with tempfile.TemporaryDirectory(prefix="pglint-tb-") as scratch:
            copy = Path(scratch) / "repo"
            shutil.copytree(root, copy, symlinks=True)
            runs = runs_for(root, pglint, sqlfluff, args.sqlfluff_files)
            runs.append(("fix", pglint + ["check", "--select", "ALL", "--no-cache", "--fix",
                                          "--unsafe-fixes", "."], copy))
            for label, command, cwd in runs:
                total += 1
                code, stderr = run(command, cwd, args.timeout)
                if code not in (0, 1, 2) or TRACEBACK in stderr:
                    failures += 1
                    tail = stderr.strip().splitlines()[-3:]
                    print(f"FAIL {repo.name} {label}: exit {code}: {' | '.join(tail)}")
        print(f"{repo.name}: {len(runs)} runs", file=sys.stderr)
    print(f"{total} runs, {failures} failed" + ("" if sqlfluff else " (sqlfluff not installed)"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
