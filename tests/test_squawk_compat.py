"""Teams coming from squawk: squawk's rule names select and ignore the pglint rules that cover
them, and squawk's `-- squawk-ignore` comments suppress those rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import ConfigError, parse_settings, resolve_selectors
from pglint.registry import all_rules, catalog, squawk_aliases

README = Path(__file__).resolve().parent.parent / "README.md"
# The project migrates a live database (its first migration bounds its lock waits).
CREATED = ("SET lock_timeout = '5s';\n"
           "CREATE TABLE orders (id bigint PRIMARY KEY, ref text, total int);\n"
           "CREATE TABLE customers (id bigint PRIMARY KEY, email text);\n")
RISKY = """SET lock_timeout = '2s';
CREATE INDEX orders_ref_idx ON orders (ref);
ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total > 0);
ALTER TABLE customers ADD CONSTRAINT customers_email_key UNIQUE (email);
"""


def _settings(config: dict):
    """Settings as a configuration file gives them (selectors made codes)."""
    return resolve_selectors(parse_settings(config, catalog=catalog()), catalog())


def _lint(root: Path, migration: str, **config) -> list[tuple[str, int]]:
    (root / "migrations").mkdir(parents=True, exist_ok=True)
    (root / "migrations" / "V1__orders.sql").write_text(CREATED, encoding="utf-8")
    (root / "migrations" / "V2__risky.sql").write_text(migration, encoding="utf-8")
    config.setdefault("select", ["PGL5", "PGL902"])
    config.setdefault("size-evidence", False)  # every table counts as big here
    settings = _settings(config).with_overrides(root=root)
    found = engine.lint([root], settings).findings
    return sorted((f.code, f.row) for f in found if f.path.endswith("V2__risky.sql"))


def test_the_risky_file_has_one_finding_per_statement(tmp_path):
    assert _lint(tmp_path, RISKY) == [("PGL501", 2), ("PGL506", 3), ("PGL510", 4)]


def test_squawk_names_select_and_ignore_the_rules_that_cover_them(tmp_path):
    assert _lint(tmp_path, RISKY, select=["require-concurrent-index-creation"]) == \
        [("PGL501", 2)]
    assert _lint(tmp_path, RISKY, ignore=["constraint-missing-not-valid"]) == \
        [("PGL501", 2), ("PGL510", 4)]
    assert _settings({"ignore": ["constraint-missing-not-valid"]}).ignore == ("PGL505", "PGL506")
    with pytest.raises(ConfigError, match="prefer-text-fields"):
        _settings({"select": ["prefer-text-fields"]})


def test_squawk_ignore_comments_suppress_the_covered_rules_only(tmp_path):
    text = RISKY.replace("CREATE INDEX", "-- squawk-ignore require-concurrent-index-creation\n"
                         "CREATE INDEX")
    assert _lint(tmp_path, text) == [("PGL506", 4), ("PGL510", 5)]
    text = RISKY.replace("ALTER TABLE orders ADD CONSTRAINT orders_total",
                         "-- squawk-ignore constraint-missing-not-valid, prefer-robust-stmts\n"
                         "ALTER TABLE orders ADD CONSTRAINT orders_total")
    assert _lint(tmp_path, text) == [("PGL501", 2), ("PGL510", 5)]


def test_squawk_comments_naming_no_pglint_rule_suppress_nothing_and_are_never_unused(tmp_path):
    text = "-- squawk-ignore prefer-text-field\n" + RISKY.replace(
        "ALTER TABLE customers ADD CONSTRAINT",
        "-- squawk-ignore require-concurrent-index-creation\n"
        "ALTER TABLE customers ADD CONSTRAINT")
    # The second comment covers a statement PGL501 has nothing to say about: squawk's comment,
    # so it is not PGL902's business.
    assert _lint(tmp_path, text) == [("PGL501", 3), ("PGL506", 4), ("PGL510", 6)]


def test_squawk_ignore_file_and_a_bare_squawk_ignore(tmp_path):
    assert _lint(tmp_path, "-- squawk-ignore-file\n" + RISKY) == []
    assert _lint(tmp_path, "-- squawk-ignore-file disallowed-unique-constraint\n" + RISKY) == \
        [("PGL501", 3), ("PGL506", 4)]
    bare = RISKY.replace("CREATE INDEX", "-- squawk-ignore\nCREATE INDEX")
    assert _lint(tmp_path, bare) == [("PGL506", 4), ("PGL510", 5)]
    # A bare squawk-ignore stands for squawk's rules, not for pglint's hot-spot rules.
    covered = {code for codes in squawk_aliases().values() for code in codes}
    assert "PGL101" not in covered and {"PGL301", "PGL501", "PGL510"} <= covered


def test_the_readme_table_is_the_rules_own_mapping():
    section = README.read_text(encoding="utf-8").split("### Coming from squawk", 1)[1]
    rows = re.findall(r"^\| `([a-z-]+)` \| ([^|]+) \|", section, re.MULTILINE)
    table = {name: tuple(re.findall(r"PGL\d{3}", codes)) for name, codes in rows}
    expected = {name.lower(): codes for name, codes in squawk_aliases().items()}
    assert table == expected
    for rule in all_rules():
        assert all(name == name.lower() and " " not in name for name in rule.squawk)


def test_the_rule_command_takes_squawk_names(tmp_path):
    from tests.test_cli import run

    text = run("rule", "require-concurrent-index-creation", cwd=tmp_path).stdout
    assert text.startswith("# non-concurrent-index-build (PGL501)")
    both = run("rule", "constraint-missing-not-valid", "--output-format", "json", cwd=tmp_path)
    import json

    assert [r["code"] for r in json.loads(both.stdout)] == ["PGL505", "PGL506"]
    assert run("rule", "prefer-text-field", cwd=tmp_path).returncode == 2


def test_squawk_2_names_for_the_lock_timeout_rule(tmp_path):
    """squawk 2.x split require-timeout-settings into require-lock-timeout and
    require-statement-timeout: the lock half is PGL301's, the statement half no rule's."""
    text = RISKY.replace("SET lock_timeout = '2s';\n", "")
    assert ("PGL301", 1) in _lint(tmp_path, text, select=["PGL301"])
    assert _lint(tmp_path, "-- squawk-ignore require-lock-timeout\n" + text,
                 select=["PGL301"]) == []
    assert _lint(tmp_path, "-- squawk-ignore require-statement-timeout\n" + text,
                 select=["PGL301"]) == [("PGL301", 2)]
    assert _settings({"select": ["require-lock-timeout"]}).select == ("PGL301",)
