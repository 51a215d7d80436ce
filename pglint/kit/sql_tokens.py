"""Parenthesis depth over a statement's tokens, for rules that place or cut text.

The parse tree says what a statement means but rarely where its clauses end; rules that edit
SQL find a clause's boundary among the tokens (`ctx.tokens(stmt)`), at the right nesting
level. Strings, quoted identifiers, dollar-quoted bodies and comments are single tokens, so a
parenthesis inside them never counts. Square brackets (`a[1]`, `ARRAY[1, 2]`) nest like
parentheses: a comma or keyword inside them is not at the statement's level either.
"""

from __future__ import annotations

from typing import Callable, Sequence

from pglast import parser as pg

from pglint.context import Token

_OPEN = ("(", "[")
_CLOSE = (")", "]")


def tokens_of(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """The tokens of text[start:end], with offsets in `text` (comments included); [] when the
    span does not scan (an unterminated string)."""
    end = len(text) if end is None else end
    source = text[start:end]
    try:
        scanned = pg.scan(source)
    except pg.ParseError:
        return []
    return [Token(start + t.start, start + t.end + 1, t.name, source[t.start:t.end + 1])
            for t in scanned]


def depths(tokens: Sequence[Token]) -> list[int]:
    """The nesting depth of each token, counted from the first: a parenthesis (or bracket)
    stands at the depth outside it, what it encloses one deeper. `f ( a ) b` -> 0 0 1 0 0.
    An unbalanced `)` makes the depths after it negative."""
    out, depth = [], 0
    for token in tokens:
        if token.text in _CLOSE:
            depth -= 1
        out.append(depth)
        if token.text in _OPEN:
            depth += 1
    return out


def is_paren(token: Token) -> bool:
    """A parenthesis or bracket, open or close."""
    return token.text in _OPEN or token.text in _CLOSE


def top_level(tokens: Sequence[Token]) -> list[tuple[int, Token]]:
    """(index, token) of the tokens at depth 0, parentheses themselves left out."""
    return [(i, token) for (i, token), depth in zip(enumerate(tokens), depths(tokens))
            if depth == 0 and not is_paren(token)]


def first_top_level(tokens: Sequence[Token], name: str) -> int | None:
    """Index of the first depth-0 token of pglast token name `name` (`RETURNING`), or None."""
    return next((i for i, token in top_level(tokens) if token.name == name), None)


def matching_paren(tokens: Sequence[Token], open_index: int) -> int | None:
    """Index of the `)` closing the `(` at tokens[open_index], or None."""
    depth = 0
    for k in range(open_index, len(tokens)):
        if tokens[k].text in _OPEN:
            depth += 1
        elif tokens[k].text in _CLOSE:
            depth -= 1
            if depth == 0:
                return k
    return None


def group_end(tokens: Sequence[Token], start: int,
              stop: Callable[[Token], bool] | None = None) -> int:
    """Index of the first token from tokens[start] on that closes the parenthesis enclosing
    it, or that stands at its level and satisfies `stop` (a `,`, the next clause's keyword);
    len(tokens) when none does. The end of a list item or clause that may sit inside `( )`."""
    depth = 0
    for k in range(start, len(tokens)):
        token = tokens[k]
        if token.text in _OPEN:
            depth += 1
        elif token.text in _CLOSE:
            depth -= 1
            if depth < 0:
                return k
        elif depth == 0 and stop is not None and stop(token):
            return k
    return len(tokens)
