"""The book chapter's SQL snippets: each anti-pattern flagged with the right code, the
recommended forms left alone (tests/data/chapter40/README.md)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from pglint import engine
from pglint.config import Resolver
from pglint.registry import all_rules, catalog

CHAPTER = Path(__file__).resolve().parent / "data" / "chapter40"
MARKER = re.compile(r"--\s*expect(?P<next>-next-line)?:\s*(?P<codes>(?:PGL\d{3}[ ,]*)+)")


def expected_findings(root: Path) -> Counter:
    """(path, row, code) of every `-- expect: CODE` marker (on the row) or
    `-- expect-next-line: CODE` marker (on the row below) under root."""
    expected: Counter = Counter()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".sql", ".pgbench")):
        for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = MARKER.search(line)
            if match:
                target = row + 1 if match.group("next") else row
                for code in re.findall(r"PGL\d{3}", match.group("codes")):
                    expected[(path.relative_to(root).as_posix(), target, code)] += 1
    return expected


def test_chapter_snippets_are_flagged_exactly_where_marked():
    # Every rule, those off by default included: the chapter marks what each one finds.
    every = tuple(rule.code for rule in all_rules())
    result = engine.lint([CHAPTER], Resolver({"select": every}, default_root=CHAPTER,
                                              catalog=catalog()))
    assert not result.internal_errors
    found = Counter((Path(f.path).resolve().relative_to(CHAPTER).as_posix(), f.row, f.code)
                    for f in result.findings)
    expected = expected_findings(CHAPTER)
    missing, unexpected = expected - found, found - expected
    assert not missing and not unexpected, (
        f"missing: {sorted(missing)}\nunexpected: {sorted(unexpected)}")
