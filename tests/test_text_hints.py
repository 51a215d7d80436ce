"""Rules' text hints searched for by the literals their matches start with (pglint.text_hints):
the same answer as `re.search`, found by `str.find`."""

from __future__ import annotations

import re

import pytest

from pglint.dispatch import _hints, hints_match
from pglint.registry import all_rules
from pglint.text_hints import NeedledPattern, needled

# Texts where the needle occurs without a match, with a match after a miss, at the start, at
# the end, after a word character (`\b` fails), and not at all.
TEXTS = (
    "",
    "conn = psycopg2.connect(dsn)",
    "import psycopg\n",
    "from psycopg_pool import ConnectionPool",
    "engine = create_engine(url)",
    "recreate_engine(url)",  # `\bcreate` does not match inside a word
    "create_pool(); create_async_engine(url)",
    "DATABASES = {}",
    "MY_DATABASES = {}",
    "x.save() if y else Model.objects.filter()",
    "update(Order)",
    "session.update()",
    "status = 'done'",
    "status == 'done'",
    "nothing here",
    "from here import there",
)

PATTERNS = (
    r"\b(?:psycopg2?|asyncpg|psycopg_pool)\.(?:\w+\.)?(?:connect|create_pool|\w*ConnectionPool)\("
    r"|\bcreate(?:_async)?_engine\(|\bDATABASES\s*=|(?:from|import) (?:psycopg2?|asyncpg"
    r"|psycopg_pool)\b",
    r"\.objects\.|\.save\(|\bupdate\(\s*[A-Z]\w*\s*\)|\.update\(\)",
    r"(?:status|state|phase|stage)\s*=(?!=)\s*(?:['\"]|[A-Z])",
    r"(?<!\w)here\b",
    r"^from\b",
)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_needled_search_answers_as_re_search(pattern: str) -> None:
    compiled = re.compile(pattern, re.MULTILINE)
    fast = needled(compiled)
    assert isinstance(fast, NeedledPattern)
    for text in TEXTS:
        assert fast.search(text) == (compiled.search(text) is not None), text


def test_needles_are_the_literals_a_match_starts_with() -> None:
    fast = needled(re.compile(r"\bcreate(?:_async)?_engine\(|\bDATABASES\s*=|(?:from|import) x"))
    assert fast.needles == ("DATABASES", "create", "from", "import")
    assert needled(re.compile(r"\binsert\(|\binsert_many\(")).needles == (
        "insert(", "insert_many(")
    # Where an alternative after a common start is not a literal, the start is the needle.
    assert needled(re.compile(r"\bupdate\b|\bupdate_all")).needles == ("update",)
    # A needle that another one starts with finds both.
    assert needled(re.compile(r"(?:ab|xy)c|abcd")).needles == ("ab", "xy")


@pytest.mark.parametrize("pattern, flags", [
    (r"[A-Z]\w*\.objects\.", 0),  # starts with a character class
    (r"\.\w+\s*[-+]=", 0),  # one character: found everywhere in code
    (r"select\b", re.IGNORECASE),  # case-insensitive
    (r"(?i:select)\b", 0),
    (r"\w*Pool\(", 0),  # starts with a repetition
    (r"(?:ab|c)d", 0),  # an alternative of one character
    (r"insert\(|insert_many\(", 0),  # a literal prefix, which re scans for itself
])
def test_patterns_that_re_searches_fast_enough_are_searched_as_before(
        pattern: str, flags: int) -> None:
    compiled = re.compile(pattern, flags)
    assert needled(compiled) is compiled


def test_every_rule_hint_answers_as_before() -> None:
    """Each rule's hints, compiled as the engine compiles them, pass the same texts as the
    hints as written."""
    texts = TEXTS + tuple(example.sql for rule in all_rules()
                          for example in (*rule.VALID, *rule.INVALID))
    checked = 0
    for rule in all_rules():
        for hint in (rule.python_hint, rule.text_hint):
            written = tuple((h,) if not isinstance(h, tuple) else h
                            for h in (hint if isinstance(hint, tuple) else (hint,) if hint
                                      else ()))
            compiled = _hints(hint)
            for text in texts:
                lowered = text.lower()
                for subject in (text, lowered):
                    expected = all(any(alt in subject if isinstance(alt, str)
                                       else alt.search(subject) for alt in h) for h in written)
                    assert hints_match(compiled, subject) == expected, (rule.code, subject)
            checked += any(isinstance(alt, NeedledPattern) for h in compiled for alt in h)
    assert checked >= 3  # the test reaches patterns that are searched for by their needles
