"""Benchmark the Python front end against parsing every file with libcst.

    python benchmarks/python_frontend.py [--package django] [--package sqlalchemy] [PATH ...]

Over every .py file of the given installed packages (default: django) or paths, in one run:
  (a) the front end as the engine runs it: `might_contain_sql`, then for the files that pass,
      `extract_sql` (libcst) and `parse_embedded` (pglast) of every SQL string found;
  (b) `libcst.parse_module` over every file (what a front end without the pre-filter would pay).
File reading is outside both timings; libcst is imported before either starts. The issue's target:
(a) at least 5x faster than (b).
"""

from __future__ import annotations

import argparse
import importlib.util
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--package", action="append", default=[],
                        help="an installed package whose sources to use (default: django)")
    args = parser.parse_args()
    roots = list(args.paths)
    for name in args.package or ([] if roots else ["django"]):
        found = package_dir(name)
        if found is None:
            print(f"package {name!r} is not installed: skipped")
        else:
            roots.append(found)
    sources = read_sources(roots)
    if not sources:
        print("no sources (pip install django, or pass paths)")
        return 0

    import libcst

    from pglint.python import extract_sql, might_contain_sql, parse_embedded

    megabytes = sum(len(text.encode("utf-8")) for _, text in sources) / 1e6

    began = time.perf_counter()
    passed = [text for _, text in sources if might_contain_sql(text)]
    filter_s = time.perf_counter() - began
    strings = statements = errors = 0
    for text in passed:
        for embedded in extract_sql(text):
            strings += 1
            parsed, problem = parse_embedded(embedded)
            statements += len(parsed)
            errors += problem is not None
    front_s = time.perf_counter() - began

    began = time.perf_counter()
    failed = 0
    for _, text in sources:
        try:
            libcst.parse_module(text)
        except Exception:
            failed += 1
    libcst_s = time.perf_counter() - began

    print(f"corpus: {len(sources)} files, {megabytes:.1f} MB ({', '.join(map(str, roots))})")
    print(f"pre-filter: {len(passed)} files pass ({100 * len(passed) / len(sources):.1f}%), "
          f"{filter_s:.3f} s, {1000 * filter_s / megabytes:.2f} ms/MB")
    print(f"  SQL strings found: {strings}, statements: {statements}, syntax errors: {errors}")
    print(f"(a) pre-filter + extract + parse: {front_s:.2f} s, {megabytes / front_s:.1f} MB/s")
    print(f"(b) libcst over every file:       {libcst_s:.2f} s, {megabytes / libcst_s:.1f} MB/s"
          + (f" ({failed} files libcst cannot parse)" if failed else ""))
    ratio = libcst_s / front_s
    print(f"ratio (b)/(a): {ratio:.1f}x (target >= 5x): {'ok' if ratio >= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
