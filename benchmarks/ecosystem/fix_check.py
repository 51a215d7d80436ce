"""Apply every fix (`--fix --unsafe-fixes --select ALL`) to a copy of each corpus repository and
check that nothing that compiled or parsed before stops compiling or parsing.

    python benchmarks/ecosystem/fix_check.py [--only OWNER/NAME] [--work DIR]

The corpus itself is never touched: each repository is copied to a scratch folder first.
Python files must still compile; SQL files must have no more statements PostgreSQL's parser
rejects than before. Prints the files fixed and every file broken; exits 1 if any is broken,
or if pglint printed a traceback.
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

SQL_SUFFIXES = (".sql", ".psql", ".pgsql")


def health(root: Path) -> dict[str, int]:
    """Per file: 0 when a Python file compiles (1 when not); the number of SQL statements
    PostgreSQL's parser rejects."""
    from pglint.sql.parse import parse_sql

    out: dict[str, int] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        rel = str(path.relative_to(root))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if path.suffix == ".py":
            try:
                compile(text, rel, "exec")
                out[rel] = 0
            except (SyntaxError, ValueError):
                out[rel] = 1
        elif path.suffix.lower() in SQL_SUFFIXES:
            out[rel] = len(parse_sql(text).errors)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus-dir", type=Path, default=default_corpus_dir())
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--only", action="append", metavar="OWNER/NAME")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    args = parser.parse_args(argv)
    command = pglint_command(None)
    work = args.work or Path(tempfile.mkdtemp(prefix="pglint-fix-check-"))
    broken: list[str] = []
    fixed_files = 0
    for repo in select_repos(load_manifest(args.manifest), args.only):
        source = args.corpus_dir / repo.dirname
        if not source.is_dir():
            continue
        copy = work / repo.dirname
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source, copy, symlinks=True)
        before = health(copy)
        proc = subprocess.run([*command, "check", ".", "--fix", "--unsafe-fixes", "--select",
                               "ALL", "--all-migrations", "--no-cache", "--exit-zero", "-q"],
                              cwd=copy, capture_output=True, text=True, errors="replace")
        if "Traceback" in proc.stderr:
            broken.append(f"{repo.name}: pglint printed a traceback")
        after = health(copy)
        changed = [rel for rel in before
                   if (copy / rel).read_bytes() != (source / rel).read_bytes()]
        fixed_files += len(changed)
        for rel, errors in after.items():
            if errors > before.get(rel, 0):
                broken.append(f"{repo.name}: {rel} (errors {before.get(rel, 0)} -> {errors})")
        print(f"{repo.name}: {len(changed)} files fixed, exit {proc.returncode}", flush=True)
    print(f"\n{fixed_files} files fixed; {len(broken)} broken")
    for line in broken:
        print("  " + line)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
