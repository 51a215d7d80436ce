"""What the engine does with what a rule declares: `min_fix_version`, options and plugin
rules."""

from __future__ import annotations

from dataclasses import replace

from pglint.finding import Applicability
from pglint.registry import rule_by_code
from tests.examples import make_project


def test_a_fix_needing_a_newer_postgresql_is_shown_not_applied(tmp_path, monkeypatch):
    rule = rule_by_code("PGL104")
    example = rule.INVALID[0]
    assert example.fixed is not None
    monkeypatch.setattr(rule, "min_fix_version", 15)

    older = make_project(tmp_path / "14", rule, replace(example, target_version=14))
    [finding] = older.lint(rule.code)
    assert finding.fix.applicability is Applicability.DISPLAY
    assert finding.fix.suggestion.startswith("needs PostgreSQL 15 or later (target-version is "
                                             "14)\n")
    assert "fillfactor = 70" in finding.fix.suggestion  # what the fix would have written
    assert older.fix() == example.sql  # nothing applied

    newer = make_project(tmp_path / "15", rule, replace(example, target_version=15))
    [finding] = newer.lint(rule.code)
    assert finding.fix.applicability is Applicability.SAFE
    assert newer.fix() == example.fixed
