"""Every rule's embedded examples, as test cases (the Fixit way).

VALID examples must produce no finding of the rule. INVALID examples must produce one; when
they give the expected `fixed` text, applying the rule's fixes must give exactly that text, the
result must parse, re-lint without the finding, be unchanged by a second fix, and (SQL) run on a
real PostgreSQL after the example's context migrations or (Python) compile.
"""

from __future__ import annotations

import pytest

from pglint.registry import all_rules
from tests.examples import make_project

CASES = [
    pytest.param(rule, kind, i, example, id=f"{rule.code}-{kind}-{i}")
    for rule in all_rules()
    for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
    for i, example in enumerate(examples)
]


@pytest.mark.parametrize("rule,kind,index,example", CASES)
def test_example(rule, kind, index, example, tmp_path, postgres):
    project = make_project(tmp_path, rule, example)
    findings = project.lint(rule.code)
    if kind == "valid":
        assert findings == [], f"{rule.code} fired on a VALID example:\n{example.sql}\n{findings}"
        return
    assert findings, f"{rule.code} did not fire on an INVALID example:\n{example.sql}"
    for finding in findings:
        assert finding.fix is not None, f"{rule.code}: every finding needs at least a display fix"
    if example.fixed is None:
        assert not any(f.fix.applicable for f in findings), (
            f"{rule.code} offers an applicable fix but the example gives no expected `fixed` text")
        return
    fixed = project.fix()
    assert fixed == example.fixed
    # Re-lint the fixed text: parses, no same finding, and fixing again changes nothing.
    again = make_project(tmp_path, rule, example, text=fixed)
    assert again.lint(rule.code) == []
    assert again.lint("PGL901") == [] or rule.code == "PGL901"
    assert again.fix() == fixed
    if example.kind == "python":
        compile(fixed, "fixed.py", "exec")  # the fixed module is valid Python
        return
    if example.not_executable:
        return
    scripts = project.migrations()
    if example.kind == "migration":
        scripts.append(fixed)
    else:
        scripts.append(fixed)
    postgres.run(*scripts)
