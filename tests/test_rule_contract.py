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


PLUGIN_RULE = '''
from pglint.rule import Rule


class NoSelectStar(Rule):
    """
    ## What it does
    Flags `SELECT *`.
    """

    code = "ACME101"
    name = "no-select-star"
    summary = "SELECT * reads every column"
    statements = ("SelectStmt",)

    def check(self, stmt, node, ctx):
        if "A_Star" in repr(node.get("targetList")):
            yield self.finding(ctx, "`SELECT *` reads every column", node=stmt)
'''


def install_plugin(site, name: str, entry: str, files: dict[str, str]):
    """A distribution `name` declaring `entry` in the pglint.rules entry point group, as pip
    would leave it in site-packages: its files and a .dist-info folder."""
    for path, text in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text, encoding="utf-8")
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[pglint.rules]\n{entry}\n", encoding="utf-8")


def run_with(site, *args, cwd):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_a_plugin_rule_runs_when_selected_and_has_its_documentation(tmp_path):
    site = tmp_path / "site"
    install_plugin(site, "acme_rules", "acme = acme_rules", {"acme_rules/__init__.py": PLUGIN_RULE})
    project = tmp_path / "project"
    (project / "queries").mkdir(parents=True)
    (project / "queries" / "report.sql").write_text("SELECT * FROM orders;\n", encoding="utf-8")
    # Like a built-in rule, by code, prefix or name; not in the default selection (PGL).
    assert run_with(site, "check", "--no-cache", ".", cwd=project).returncode == 0
    for selector in ("ACME101", "ACME", "no-select-star"):
        result = run_with(site, "check", "--no-cache", "--output-format", "concise",
                          "--extend-select", selector, ".", cwd=project)
        assert result.stdout.startswith(
            "queries/report.sql:1:1: ACME101 `SELECT *` reads every column\n"), result.stderr
    shown = run_with(site, "rule", "ACME101", cwd=project)
    assert shown.returncode == 0 and "# no-select-star (ACME101)" in shown.stdout


def test_a_plugin_that_cannot_be_used_is_an_error_not_a_traceback(tmp_path):
    broken = tmp_path / "broken"
    install_plugin(broken, "broken_rules", "broken = broken_rules",
                   {"broken_rules/__init__.py": "import no_such_module\n"})
    clash = tmp_path / "clash"
    install_plugin(clash, "clash_rules", "clash = clash_rules",
                   {"clash_rules/__init__.py": PLUGIN_RULE.replace("ACME101", "PGL101")})
    (tmp_path / "q.sql").write_text("SELECT 1;\n", encoding="utf-8")
    for site, says in (
            (broken, ("pglint: error: plugin `broken = broken_rules` (entry point group "
                      "pglint.rules) cannot be loaded: ModuleNotFoundError(")),
            (clash, ("pglint: error: plugin rule clash_rules.NoSelectStar uses the code PGL101, "
                     "already a built-in rule's"))):
        for args in (("check", "--no-cache", "q.sql"), ("rule", "--all")):
            result = run_with(site, *args, cwd=tmp_path)
            assert result.returncode == 2, (args, result.stdout)
            assert result.stderr.startswith(says), result.stderr
            assert "Traceback" not in result.stderr


def test_rule_options_are_declared_by_the_rules_and_checked_by_the_configuration():
    import pytest

    from pglint.config import ConfigError, parse_settings
    from pglint.registry import all_rules, catalog

    declared = {option.name: sorted(rule.code for rule in all_rules() if option in rule.options)
                for option in catalog().options.values()}
    assert declared == {"sequence-cache": ["PGL102", "PGL106"],
                        "fillfactor": ["PGL104", "PGL105"], "lock-timeout": ["PGL301", "PGL302"],
                        "small-table-rows": ["PGL308", "PGL501", "PGL503", "PGL505",
                                             "PGL506", "PGL507", "PGL508", "PGL510"],
                        "migration-statement-timeout": ["PGL308"],
                        "size-evidence": ["PGL501", "PGL505", "PGL506", "PGL507", "PGL508",
                                          "PGL510"],
                        "lock-evidence": ["PGL301", "PGL308", "PGL501", "PGL502", "PGL503",
                                          "PGL505", "PGL506", "PGL507", "PGL508", "PGL509",
                                          "PGL510"]}
    # The configuration has no key or field of its own for them: they come from the rules.
    from dataclasses import fields

    from pglint.config import CONFIG_KEYS, Settings

    assert not CONFIG_KEYS & set(declared)
    assert not {f.name.replace("_", "-") for f in fields(Settings)} & set(declared)

    settings = parse_settings({"fillfactor": 80}, catalog=catalog())
    assert settings.option("fillfactor") == 80
    assert (settings.option("sequence-cache"), settings.option("lock-timeout")) == (100, "5s")
    with pytest.raises(KeyError, match="no rule declares the option `colour`"):
        settings.option("colour")
    with pytest.raises(ConfigError, match=r"^`fillfactor` must be an integer from 10 to 100$"):
        parse_settings({"fillfactor": True}, catalog=catalog())
    with pytest.raises(ConfigError, match="`sequence-cache` must be an integer from 2 to"):
        parse_settings({"sequence-cache": 1}, catalog=catalog())
    # Without the rules' catalog, a rule's option is no configuration key.
    with pytest.raises(ConfigError, match="unknown option `fillfactor`"):
        parse_settings({"fillfactor": 80})


def test_an_option_is_declared_once_and_never_shadows_a_configuration_key(monkeypatch):
    import pytest

    from pglint import registry
    from pglint.config import ConfigError, RuleCatalog
    from pglint.rule import RuleOption

    with pytest.raises(ConfigError, match="a rule declares the option `select`"):
        RuleCatalog(options={"select": RuleOption("select", str, "", doc="")})
    rule = rule_by_code("PGL101")
    monkeypatch.setattr(rule, "options", (RuleOption("fillfactor", int, 50, doc="again"),))
    registry.catalog.cache_clear()
    try:
        with pytest.raises(registry.PluginError, match="the option `fillfactor` is declared "
                                                       "twice"):
            registry.catalog()
    finally:
        registry.catalog.cache_clear()


def test_pglint_rule_lists_a_rules_options():
    import json

    from click.testing import CliRunner

    from pglint.cli import main

    text = CliRunner().invoke(main, ["rule", "PGL104"]).output
    assert text.endswith("\n## Options\n\n- `fillfactor` (an integer, default 70): the "
                         "fillfactor that fixes give a table updated in place, from 10 to 100 "
                         "(percent of each page filled by inserts)\n")
    data = json.loads(CliRunner().invoke(main, ["rule", "PGL302", "--output-format",
                                                "json"]).output)
    assert [(o["name"], o["type"], o["default"]) for o in data["options"]] == [
        ("lock-timeout", "str", "5s")]
    assert "## Options" not in CliRunner().invoke(main, ["rule", "PGL101"]).output
