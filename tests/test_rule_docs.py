"""The registry's contract: codes, names, documentation sections, examples."""

from __future__ import annotations

import re

import pytest

from pglint.registry import all_rules
from pglint.rule import DOC_SECTIONS
from pglint.sql.parse import parse_sql

RULES = list(all_rules())


def test_codes_are_unique_and_well_formed():
    codes = [r.code for r in RULES]
    assert len(codes) == len(set(codes))
    for rule in RULES:
        assert re.fullmatch(r"PGL\d{3}", rule.code), rule.code
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", rule.name), rule.name
        assert rule.summary


@pytest.mark.parametrize("rule", RULES, ids=[r.code for r in RULES])
def test_docstring_has_every_section(rule):
    sections = rule.doc_sections()
    missing = [s for s in DOC_SECTIONS if not sections.get(s)]
    assert not missing, f"{rule.code} docstring lacks {missing}"


@pytest.mark.parametrize("rule", [r for r in RULES if r.code < "PGL900"],
                         ids=[r.code for r in RULES if r.code < "PGL900"])
def test_rule_has_examples_that_parse(rule):
    assert rule.VALID and rule.INVALID, f"{rule.code} needs VALID and INVALID examples"
    for example in (*rule.VALID, *rule.INVALID):
        for text in (example.sql, example.fixed):
            if text is None:
                continue
            if example.kind == "python":
                compile(text, f"{rule.code}.py", "exec")
            else:
                assert parse_sql(text).errors == [], text
        for path, text in example.context.items():
            if path.endswith(".py"):
                compile(text, path, "exec")
            else:
                assert parse_sql(text).errors == [], text


@pytest.mark.parametrize("rule", [r for r in RULES if r.python_nodes],
                         ids=[r.code for r in RULES if r.python_nodes])
def test_python_rule_has_python_examples(rule):
    """A rule with a Python form shows it firing and staying silent on Python code."""
    assert any(e.kind == "python" for e in rule.INVALID), rule.code
    assert any(e.kind == "python" for e in rule.VALID), rule.code
    assert rule.python_hint, f"{rule.code}: a Python rule needs a text hint (files it can skip)"
