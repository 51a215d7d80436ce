"""Benchmark pglint on Python code against parsing every file with libcst.

    python benchmarks/python_frontend.py [--package django] [--package sqlalchemy] [--runs N]
                                         [PATH ...]

Over every .py file of the given installed packages (default: django; sqlalchemy and alembic
are the other ones `pip install -e '.[bench]'` installs) or paths, in one process, alternating, `--runs`
times (median and minimum reported):

  (a) pglint as the engine lints Python: for each file the text pre-filters (embedded SQL,
      Python rules' text hints, ORM and migration readers), CPython's tree once for the files
      that pass, embedded SQL parsed with pglast, ORM facts into the project model, every rule
      (SQL rules on embedded SQL, Python rules on the tree), libcst only where a fix is built,
      suppressions. Files are read beforehand.
  (b) `libcst.parse_module` over every file: what a front end without pre-filters would pay
      before running a single rule.

libcst and the rules are imported before either is timed. The target: (a) at least 5x
faster than (b). Also printed: how many files libcst parses for a fix, and MB/s.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from pathlib import Path


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def read_sources(roots: list[Path]) -> list[tuple[Path, str]]:
    out = []
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            try:
                out.append((path, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                pass
    return out


def lint_python(sources: list[tuple[Path, str]]) -> tuple[float, int, int]:
    """(seconds, files libcst parsed for a fix, findings) for pglint over the sources."""
    from pglint import engine
    from pglint.config import parse_settings
    from pglint.discover import Candidate

    settings = parse_settings({})
    candidates = [Candidate(path, str(path), "python") for path, _ in sources]
    began = time.perf_counter()
    files = [engine.load(c, text) for c, (_, text) in zip(candidates, sources)]
    findings = engine.lint_loaded(files, settings)
    elapsed = time.perf_counter() - began
    return elapsed, sum(f.python_file is not None and f.python_file.fix_tree_parsed
                        for f in files), len(findings)


def parse_all(sources: list[tuple[Path, str]]) -> tuple[float, int]:
    import libcst

    began = time.perf_counter()
    failed = 0
    for _, text in sources:
        try:
            libcst.parse_module(text)
        except Exception:
            failed += 1
    return time.perf_counter() - began, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--package", action="append", default=[],
                        help="an installed package whose sources to use (default: django)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    roots = list(args.paths)
    for name in args.package or ([] if roots else ["django"]):
        found = package_dir(name)
        if found is None:
            print(f"package {name!r} is not installed: skipped (pip install -e '.[bench]')")
        else:
            roots.append(found)
    sources = read_sources(roots)
    if not sources:
        print("no sources (pip install -e '.[bench]', or pass paths)")
        return 0

    import libcst  # noqa: F401 - imported before timing

    from pglint.registry import all_rules

    all_rules()  # rules imported before timing
    megabytes = sum(len(text.encode("utf-8")) for _, text in sources) / 1e6
    ours, theirs = [], []
    parsed = findings = failed = 0
    for _ in range(args.runs):
        gc.collect()
        seconds, parsed, findings = lint_python(sources)
        ours.append(seconds)
        gc.collect()
        seconds, failed = parse_all(sources)
        theirs.append(seconds)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"corpus: {len(sources)} files, {megabytes:.1f} MB ({', '.join(map(str, roots))})")
    print(f"libcst parsed {parsed} files for a fix "
          f"({100 * parsed / len(sources):.1f}%), {findings} findings")
    print(f"(a) pglint (all rules):      median {a:.2f} s (min {min(ours):.2f}), "
          f"{megabytes / a:.1f} MB/s")
    print(f"(b) libcst over every file:  median {b:.2f} s (min {min(theirs):.2f}), "
          f"{megabytes / b:.1f} MB/s" + (f" ({failed} files libcst cannot parse)" if failed else ""))
    ratio = b / a
    print(f"ratio (b)/(a): {ratio:.1f}x (target >= 5x): {'ok' if ratio >= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
