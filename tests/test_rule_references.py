"""Each rule links to the PostgreSQL documentation of the mechanism it is about; no rule's
user-facing text points to a book chapter instead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pglint.registry import all_rules
from pglint.report.sarif import _rule_descriptor
from tests.test_cli import run

RULES = list(all_rules())
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "examples"
BOOK = re.compile(r"\bchapter\b|\bsection\s+\d+\.\d+|\b40\.[1-4](?:\.\d)?\b", re.IGNORECASE)
DOCS = "https://www.postgresql.org/docs/"


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_rule_has_postgresql_references(rule):
    assert rule.references, f"{rule.code} has no references"
    for url in rule.references:
        assert url.startswith(DOCS + "current/") and ".html" in url, (rule.code, url)


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_user_facing_text_names_no_book_chapter(rule):
    texts = [rule.summary, rule.doc()]
    snapshot = SNAPSHOTS / f"{rule.code}.json"
    if snapshot.exists():  # the messages, help and fixes of the rule's examples' findings
        texts.append(snapshot.read_text(encoding="utf-8"))
    for text in texts:
        match = BOOK.search(text)
        assert match is None, f"{rule.code}: {text[max(0, match.start() - 60):match.end() + 20]!r}"


def test_rule_command_shows_references(tmp_path):
    text = run("rule", "PGL501", cwd=tmp_path).stdout
    assert "See: " + DOCS + "current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY" in text
    assert "chapter" not in text.lower()
    data = json.loads(run("rule", "PGL302", "--output-format", "json", cwd=tmp_path).stdout)
    assert data["references"][0].startswith(DOCS) and "section" not in data


def test_sarif_help_uri_is_the_first_reference():
    for rule in RULES:
        descriptor = _rule_descriptor(rule)
        assert descriptor["helpUri"] == rule.references[0]
        assert not any("section" in tag for tag in descriptor["properties"]["tags"])


def test_json_findings_carry_their_rule_url(tmp_path):
    (tmp_path / "hits.sql").write_text(
        "UPDATE counters SET value = value + 1 WHERE id = 1;\n", encoding="utf-8")
    (tmp_path / "broken.sql").write_text("SELEC 1;\n", encoding="utf-8")
    # PGL101 is off by default, and a syntax error in application SQL needs PGL901 chosen.
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL101", "PGL901"]\n',
                                          encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "json", ".", cwd=tmp_path)
    data = json.loads(result.stdout)
    by_code = {rule.code: rule for rule in RULES}
    assert {f["code"] for f in data} >= {"PGL101", "PGL901"}, data
    for finding in data:
        assert finding["url"] == by_code[finding["code"]].references[0]
