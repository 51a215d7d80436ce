"""Storage parameters that the hot-spot rules' fixes write: the table fillfactor that keeps
room for HOT updates (PGL104, PGL105) and the sequence cache size (PGL102, PGL106)."""

from __future__ import annotations

from pglint.rule import RuleOption, integer_from

FILLFACTOR = RuleOption(
    "fillfactor", int, 70, check=integer_from(10, 100),
    doc="the fillfactor that fixes give a table updated in place, from 10 to 100 (percent of "
        "each page filled by inserts)")
SEQUENCE_CACHE = RuleOption(
    "sequence-cache", int, 100, check=integer_from(2, 1_000_000),
    doc="the CACHE that fixes give a sequence (values each session takes at once), from 2 to "
        "1000000")
