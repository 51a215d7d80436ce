"""The kit's parenthesis-depth helpers: parentheses inside strings, quoted identifiers,
dollar-quoted bodies and comments never count."""

from pglint.kit.sql_tokens import (
    depths, first_top_level, group_end, matching_paren, tokens_of, top_level,
)


def texts(tokens):
    return [t.text for t in tokens]


def test_tokens_keep_file_offsets():
    text = "xx SELECT f(a) yy"
    tokens = tokens_of(text, 3, 14)
    assert texts(tokens) == ["SELECT", "f", "(", "a", ")"]
    assert all(text[t.start:t.end] == t.text for t in tokens)
    assert tokens[0].start == 3


def test_unterminated_string_scans_to_nothing():
    assert tokens_of("SELECT 'open (") == []


def test_depths_put_parentheses_outside():
    assert depths(tokens_of("f ( a ) b")) == [0, 0, 1, 0, 0]
    assert depths(tokens_of("a[1] + (b)")) == [0, 0, 1, 0, 0, 0, 1, 0]
    assert depths(tokens_of(") a")) == [-1, -1]


def test_parentheses_in_literals_and_comments_do_not_count():
    sql = ("SELECT '(', \"a(b\", $$ ) ( $$, $tag$ ( $tag$ /* ( */ -- )\n"
           "FROM t RETURNING id")
    tokens = tokens_of(sql)
    assert set(depths(tokens)) == {0}
    returning = first_top_level(tokens, "RETURNING")
    assert returning is not None and tokens[returning].text == "RETURNING"


def test_top_level_skips_nested_tokens_and_parentheses():
    tokens = tokens_of("INSERT INTO t (a) SELECT x FROM (SELECT 1 RETURNING y) s RETURNING z")
    top = [t.text for _, t in top_level(tokens)]
    assert "(" not in top and ")" not in top and "y" not in top and "a" not in top
    assert top[-2:] == ["RETURNING", "z"]
    assert first_top_level(tokens, "RETURNING") == len(tokens) - 2


def test_first_top_level_is_none_when_only_nested():
    assert first_top_level(tokens_of("SELECT (SELECT 1 WHERE true)"), "WHERE") is None


def test_matching_paren_skips_quoted_parentheses():
    tokens = tokens_of("f(')', \")\", $$)$$, g(1) /* ) */, x) + 1")
    close = matching_paren(tokens, 1)
    assert close is not None and texts(tokens)[close + 1] == "+"
    assert matching_paren(tokens_of("f(a"), 1) is None


def test_group_end_stops_at_comma_or_enclosing_parenthesis():
    tokens = tokens_of("(a = f(1, 2), b = '(,')")
    first = group_end(tokens, 1, lambda t: t.text == ",")
    assert texts(tokens[1:first]) == ["a", "=", "f", "(", "1", ",", "2", ")"]
    second = group_end(tokens, first + 1, lambda t: t.text == ",")
    assert texts(tokens[first + 1:second]) == ["b", "=", "'(,'"]
    assert tokens[second].text == ")"


def test_group_end_counts_brackets_and_reaches_the_end():
    tokens = tokens_of("ARRAY[1, 2], 3")
    assert texts(tokens)[group_end(tokens, 0, lambda t: t.text == ",")] == ","
    assert group_end(tokens, 0, lambda t: t.text == ",") == 6
    assert group_end(tokens_of("a b"), 0) == 2
