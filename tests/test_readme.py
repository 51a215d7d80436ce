"""The README's configuration example and role table say what pglint does."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pglint.config import parse_settings
from pglint.roles import ROLES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib


def test_the_configuration_example_is_a_valid_configuration(tmp_path):
    section = README.split("## Configuration", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.DOTALL).group(1)
    from pglint.registry import catalog

    # Its `tables-file` is the file the live-database section shows `pglint tables` writing.
    sizes = README.split("### Table sizes from the live database", 1)[1]
    written = re.search(r"```toml\n# pglint-tables.toml .*?\n(.*?)```", sizes, re.DOTALL)
    (tmp_path / "pglint-tables.toml").write_text(written.group(1), encoding="utf-8")
    settings = parse_settings(_toml().loads(block)["tool"]["pglint"],
                              tmp_path / "pyproject.toml", catalog=catalog())
    assert settings.applied_migrations == ("V41__*",)
    assert ("db/fixes/*.sql", "script") in settings.roles
    # `orders` and `feature_flags` are in both: the hand-written hints win, field by field.
    assert settings.tables["orders"].rows == 50_000_000
    assert settings.tables["orders"].workloads == {"update-heavy"}
    assert settings.tables["feature_flags"].rows == 40
    assert (settings.tables["public.orders"].rows, settings.tables["public.orders"].workloads) \
        == (50_000_000, {"update-heavy"})


def test_every_role_is_documented():
    table = README.split("### File roles", 1)[1].split("###", 1)[0]
    documented = re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)
    assert documented == list(ROLES)


def test_the_rule_table_marks_the_rules_off_by_default():
    from pglint.registry import all_rules

    rows = re.findall(r"^\| (PGL\d+) \| ([a-z-]+)( \(off by default\))? \|", README, re.MULTILINE)
    marked = {code for code, _, off in rows if off}
    assert {code for code, _, _ in rows} == {rule.code for rule in all_rules()}
    assert marked == {rule.code for rule in all_rules() if not rule.default_enabled}
    assert all(rule.off_by_default for rule in all_rules() if not rule.default_enabled)


def test_the_sample_output_is_what_pglint_prints_for_the_example_shop():
    from tests.test_cli import run

    root = Path(__file__).resolve().parent.parent
    result = run("check", "--no-cache", "--output-format", "concise", "fixtures/shop", cwd=root)
    lines = result.stdout.splitlines()
    sample = README.split("An excerpt, the first 15 lines and the summary:", 1)[1]
    block = re.search(r"```text\n(.*?)```", sample, re.DOTALL).group(1).splitlines()
    assert block[:15] == lines[:15]
    assert block[-3:] == lines[-3:]
    found = re.search(r"Found (\d+) findings", lines[-3]).group(1)
    assert f"Two of the {found} findings" in README
