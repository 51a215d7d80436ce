"""Sections of a SQL file written for another database, blanked before parsing.

Some projects keep one script per task with a section per database, each under a comment that
names it (`-- PostgreSQL`, then `-- MySQL` with backquoted names). The other databases'
sections are not PostgreSQL: they are blanked (offsets kept), as a down section is, from their
header to the next header that names PostgreSQL, or to the end of the file.
"""

from __future__ import annotations

import re

# A line comment that names a database and nothing else (rules of dashes or `=` around it).
_HEADER = re.compile(
    r"^[ \t]*--[-=# \t]*(?P<name>postgres(?:ql)?|pg|mysql|mariadb|sqlite3?|clickhouse|mssql|"
    r"sql[ \t]+server|oracle|cockroach(?:db)?)[-=# \t:]*\r?$",
    re.IGNORECASE | re.MULTILINE)
_POSTGRES = {"postgres", "postgresql", "pg"}


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
