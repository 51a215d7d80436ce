"""Text of a SQL file that is not PostgreSQL's SQL, blanked before parsing (offsets kept).

Some projects keep one script per task with a section per database, each under a comment that
names it (`-- PostgreSQL`, then `-- MySQL` with backquoted names). The other databases'
sections are not PostgreSQL: they are blanked, as a down section is, from their header to the
next header that names PostgreSQL, or to the end of the file.

A file may also open with a line of prose, not commented out, on purpose: an archive of
migrations run by hand that starts "This is not meant to be run directly." so that psql stops
at once. That sentence guards the file; it is not a statement that failed to parse.
"""

from __future__ import annotations

import re

from pglast import keywords as _pg_keywords

# A line comment that names a database and nothing else (rules of dashes or `=` around it).
_HEADER = re.compile(
    r"^[ \t]*--[-=# \t]*(?P<name>postgres(?:ql)?|pg|mysql|mariadb|sqlite3?|clickhouse|mssql|"
    r"sql[ \t]+server|oracle|cockroach(?:db)?)[-=# \t:]*\r?$",
    re.IGNORECASE | re.MULTILINE)
_POSTGRES = {"postgres", "postgresql", "pg"}
# The first line of a file when it is a sentence: a capitalised word, at least three words,
# a full stop at the end, no `;`.
_PROSE_LINE = re.compile(r"\A[ \t\r\n]*(?P<line>(?P<word>[A-Z][a-z]+)(?:[ \t]+[^\s;]+){2,}[.!])"
                         r"[ \t]*\r?$", re.MULTILINE)


def mask_other_dialect_sections(text: str) -> str:
    """`text` with every section under another database's header blanked."""
    if "--" not in text:
        return text
    headers = list(_HEADER.finditer(text))
    if not headers:
        return text
    out, pos = [], 0
    for i, header in enumerate(headers):
        if header.group("name").lower() in _POSTGRES or header.start() < pos:
            continue
        end = next((h.start() for h in headers[i + 1:]
                    if h.group("name").lower() in _POSTGRES), len(text))
        out.append(text[pos:header.end()])
        out.append(re.sub(r"[^\n]", " ", text[header.end():end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_opening_prose(text: str) -> str:
    """`text` with its first line blanked when that line is a sentence of prose, not SQL (its
    first word is no SQL keyword)."""
    found = _PROSE_LINE.match(text)
    if found is None or _is_keyword(found.group("word")):
        return text
    start, end = found.span("line")
    return text[:start] + " " * (end - start) + text[end:]


# Every word PostgreSQL's grammar knows, reserved or not (pglast's lists).
KEYWORDS = frozenset().union(_pg_keywords.RESERVED_KEYWORDS, _pg_keywords.UNRESERVED_KEYWORDS,
                             _pg_keywords.COL_NAME_KEYWORDS, _pg_keywords.TYPE_FUNC_NAME_KEYWORDS)


def _is_keyword(word: str) -> bool:
    return word.lower() in KEYWORDS


# YAML front matter a loader strips before the SQL runs (LedgerSMB's consistency checks): a
# first line `---` (with a note after it), YAML lines from a `key:` on, a closing `---` line.
_FRONT_MATTER = re.compile(r"\A---[^\n]*\n(?=[A-Za-z_][\w-]*:(?:[ \t]|\r?\n))"
                           r"(?:(?!--)[^\n]*\n)+?---[ \t]*\r?\n")


def mask_front_matter(text: str) -> str:
    """`text` with a YAML front matter blanked (newlines kept)."""
    if not text.startswith("---"):
        return text
    found = _FRONT_MATTER.match(text)
    if found is None:
        return text
    return re.sub(r"[^\n]", " ", found.group()) + text[found.end():]
