"""Driver placeholders rewritten into PostgreSQL parameters, so that pglast accepts the SQL of a
Python call (the table of placeholders is in `pglint.python.frontend`): `%s`, `%(name)s`, `%%`
(pyformat), `:name` (SQLAlchemy's colon style), `?` where it stands for a value (qmark); only
outside SQL quotes, quoted identifiers, comments and dollar quotes. The edits keep each SQL
character's span in the .py file."""

from __future__ import annotations

import re

from pglint.sql.lexer import block_comment_end

PYFORMAT, COLON, QMARK = 1, 2, 4
PLACEHOLDER_STYLES = {
    "execute": PYFORMAT | COLON | QMARK,
    "executemany": PYFORMAT | COLON | QMARK,
    "raw": PYFORMAT,
    "extra": PYFORMAT,
    "sql.SQL": PYFORMAT,
    "RunSQL": PYFORMAT,
    "text": COLON,
    "op.execute": COLON,
    "fetch": 0,  # asyncpg: PostgreSQL's own $1 parameters
}

_SQL_SCAN = re.compile(r"""
    (?P<line_comment>--[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<dollar>(?<![\w$])\$(?:[A-Za-z_\x80-\uffff][\w\x80-\uffff]*)?\$)
  | (?P<estring>(?<![\w$])[Ee]')
  | (?P<squote>')
  | (?P<dquote>")
  | (?P<pct>%%|%\((?P<pname>[^()]*)\)[sbt]|%[sbt])
  | (?P<colon>(?<![:\w\\]):(?P<cname>\w+)(?!\w))
  | (?P<bscolon>\\:)
  | (?P<qmark>\?(?![|&\-#?]))
    """, re.VERBOSE)
_SQUOTE_BODY = re.compile(r"(?:[^']|'')*'")
_ESTRING_BODY = re.compile(r"(?:[^'\\]|''|\\.)*'", re.DOTALL)
_DQUOTE_BODY = re.compile(r'(?:[^"]|"")*"')
_DOUBLE_PERCENT = re.compile("%%")
# Words after which a `?` is a value, not the jsonb operator.
_VALUE_AFTER = frozenset("""
    limit offset and or not between then else when select set values by is like ilike in any
    all some return case where distinct from to as on having fetch first next rows interval
    array escape similar returning
""".split())
_PREVIOUS_WORD = re.compile(r"(\w+)\s*$")


def _is_value_position(sql: str, at: int) -> bool:
    """Whether a `?` at `at` stands where a value goes (a qmark parameter)."""
    i = at - 1
    while i >= 0 and sql[i].isspace():
        i -= 1
    if i < 0:
        return True
    if sql[i] in "=<>(,+-*/%[|":
        return True
    word = _PREVIOUS_WORD.search(sql, max(0, i - 40), i + 1)
    return word is not None and word.group(1).lower() in _VALUE_AFTER


PlaceholderEdit = tuple[int, int, str, bool]  # start, end, replacement, whether it is a parameter


def placeholder_edits(sql: str, styles: int, has_params: bool) -> list[PlaceholderEdit]:
    """Edits turning driver placeholders into PostgreSQL syntax."""
    edits: list[PlaceholderEdit] = []
    numbers: dict[str, int] = {}

    def parameter(name: str | None, length: int) -> str:
        if name is None:
            numbers[f"\0{len(numbers)}"] = number = len(numbers) + 1
        else:
            number = numbers.setdefault(name, len(numbers) + 1)
        return f"${number}".ljust(length)

    percent_in_quotes = bool(styles & PYFORMAT) and has_params
    pos = 0
    n = len(sql)
    while pos < n:
        m = _SQL_SCAN.search(sql, pos)
        if m is None:
            break
        kind = m.lastgroup if m.lastgroup not in ("pname", "cname") else None
        if kind is None:  # a named group inside pct/colon matched last
            kind = "pct" if m.group("pct") is not None else "colon"
        pos = m.end()
        if kind == "line_comment":
            continue
        if kind == "block_comment":
            pos = block_comment_end(sql, pos)  # the end of the text when it is not closed
            continue
        if kind == "dollar":
            close = sql.find(m.group(), pos)
            if close < 0:
                return edits
            pos = close + len(m.group())
            continue
        if kind in ("squote", "estring"):
            body = (_SQUOTE_BODY if kind == "squote" else _ESTRING_BODY).match(sql, pos)
            if body is None:
                return edits
            if percent_in_quotes:
                edits.extend((p.start(), p.end(), "%", False)
                             for p in _DOUBLE_PERCENT.finditer(sql, pos, body.end()))
            pos = body.end()
            continue
        if kind == "dquote":
            body = _DQUOTE_BODY.match(sql, pos)
            if body is None:
                return edits
            pos = body.end()
            continue
        if kind == "pct":
            if not styles & PYFORMAT:
                pos = m.start() + 1
                continue
            text = m.group()
            if text == "%%":
                if has_params:
                    edits.append((m.start(), m.end(), "%", False))
            else:
                edits.append((m.start(), m.end(), parameter(m.group("pname"), len(text)), True))
        elif kind == "colon":
            if styles & COLON:
                name = m.group("cname")
                edits.append((m.start(), m.end(), parameter(name, len(m.group())), True))
        elif kind == "bscolon":
            if styles & COLON:
                edits.append((m.start(), m.end(), ":", False))
        elif kind == "qmark":
            if styles & QMARK and _is_value_position(sql, m.start()):
                edits.append((m.start(), m.end(), parameter(None, 1), True))
    return edits


def apply_edits(sql: str, starts: list[int], ends: list[int], edits: list[PlaceholderEdit]
                 ) -> tuple[str, list[int], list[int], list[tuple[int, int]]]:
    """Apply sorted, non-overlapping edits to `sql` and its file spans; also return the spans of
    the parameters written, in the new text."""
    if not edits:
        return sql, starts, ends, []
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    parameters: list[tuple[int, int]] = []
    at = 0
    length = 0
    for a, b, replacement, is_parameter in edits:
        out.append(sql[at:a])
        new_starts.extend(starts[at:a])
        new_ends.extend(ends[at:a])
        length += a - at
        width = b - a
        last = len(replacement) - 1
        for j in range(len(replacement)):
            k = a + min(j, width - 1)
            new_starts.append(starts[k])
            # The last character of a replacement ends where the placeholder ends.
            new_ends.append(ends[b - 1] if j == last else ends[k])
        out.append(replacement)
        if is_parameter:
            parameters.append((length, length + len(replacement)))
        length += len(replacement)
        at = b
    out.append(sql[at:])
    new_starts.extend(starts[at:])
    new_ends.extend(ends[at:])
    return "".join(out), new_starts, new_ends, parameters
