"""Every rule example's and both fixture projects' findings, pinned whole: code, location,
message, help and fix. A change in any of them shows as a snapshot diff to review."""

from __future__ import annotations

from pathlib import Path

import pytest

from pglint import engine
from pglint.config import find_config, load_settings
from pglint.registry import all_rules
from tests.examples import make_project
from tests.snapshot import assert_snapshot, render_finding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.code)
def test_rule_examples_snapshot(rule, tmp_path):
    rendered = {}
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID)):
        for i, example in enumerate(examples):
            root = tmp_path / f"{kind}-{i}"
            project = make_project(root, rule, example)
            result = engine.lint([root], project.settings)
            assert not result.internal_errors, result.internal_errors
            rendered[f"{kind}-{i}"] = [render_finding(f, root) for f in result.findings]
    assert_snapshot(f"examples/{rule.code}", rendered)


@pytest.mark.parametrize("name", ["shop", "clean"])
def test_fixture_project_snapshot(name):
    root = FIXTURES / name
    settings = load_settings(find_config(root)).with_overrides(root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors, result.internal_errors
    findings = sorted(result.findings, key=lambda f: (f.path, f.start, f.code, f.message))
    assert_snapshot(f"fixtures/{name}", [render_finding(f, root) for f in findings])
