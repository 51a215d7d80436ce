"""The fixture projects: exactly the expected findings, and fixes that run on PostgreSQL."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

from pglint import engine
from pglint.config import find_config, load_settings
from pglint.sql.parse import parse_sql

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# `-- expect:` in SQL, `# expect:` in Python.
EXPECT = re.compile(r"(?:--|#)\s*expect:\s*((?:PGL\d{3}[ ,]*)+)")
# On its own line, for the line below: where a trailing comment would change the meaning (a
# pgbench meta-command takes no trailing comment; a Python decorator's or string's line).
EXPECT_NEXT_LINE = re.compile(r"^\s*(?:--|#)\s*expect-next-line:\s*((?:PGL\d{3}[ ,]*)+)")


def _settings(root: Path):
    return load_settings(find_config(root)).with_overrides(root=root)


def _expected(root: Path) -> Counter:
    expected: Counter = Counter()
    paths = sorted([*root.rglob("*.sql"), *root.rglob("*.pgbench"), *root.rglob("*.py")])
    for path in paths:
        for row, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = EXPECT_NEXT_LINE.search(line)
            target = row + 1
            if match is None:
                match = EXPECT.search(line)
                target = row
            if match:
                for code in re.findall(r"PGL\d{3}", match.group(1)):
                    expected[(path.relative_to(root).as_posix(), target, code)] += 1
    return expected


def _found(root: Path, result) -> Counter:
    return Counter((Path(f.path).resolve().relative_to(root).as_posix(), f.row, f.code)
                   for f in result.findings)


def _migrations(root: Path) -> list[str]:
    result = engine.lint([root], _settings(root))
    return [f.file.text for f in result.files
            if f.candidate.kind == "migration" and f.candidate.replay and f.file is not None]


def test_shop_reports_exactly_the_marked_findings():
    root = FIXTURES / "shop"
    result = engine.lint([root], _settings(root))
    assert not result.internal_errors
    found, expected = _found(root, result), _expected(root)
    missing = expected - found
    unexpected = found - expected
    assert not missing and not unexpected, f"missing: {sorted(missing)}\nunexpected: {sorted(unexpected)}"


def test_shop_covers_every_sql_rule():
    # Every registered rule that lints SQL shows at least once in the shop; the meta rules
    # (PGL9xx: syntax errors, unused suppressions) are not part of a realistic project.
    from pglint.registry import all_rules

    root = FIXTURES / "shop"
    codes = {code for (_, _, code) in _expected(root)}
    wanted = {rule.code for rule in all_rules()
              if not rule.code.startswith("PGL9") and set(rule.file_kinds) - {"python"}}
    assert {"PGL101", "PGL201", "PGL301", "PGL401"} <= wanted
    assert wanted <= codes, f"rules without a fixture finding: {sorted(wanted - codes)}"


def test_shop_covers_every_python_rule():
    # Every rule with a Python form shows it in the shop's application code.
    from pglint.registry import all_rules

    root = FIXTURES / "shop"
    in_python = {code for (path, _, code) in _expected(root) if path.endswith(".py")}
    wanted = {rule.code for rule in all_rules() if rule.python_nodes}
    assert {"PGL206", "PGL209", "PGL304"} <= wanted
    assert wanted <= in_python, f"Python rules without a fixture finding: {sorted(wanted - in_python)}"


def test_clean_project_is_silent():
    root = FIXTURES / "clean"
    settings = _settings(root)
    # PGL101, PGL109 and PGL209 are off by default: the clean counters and retries are
    # silent with them turned on too, as they were when those rules ran by default.
    counters_on = settings.with_overrides(
        extend_select=settings.extend_select + ("PGL101", "PGL109", "PGL209"))
    for chosen in (settings, counters_on):
        result = engine.lint([root], chosen)
        assert not result.internal_errors
        assert result.findings == [], [f"{f.path}:{f.row} {f.code} {f.message}"
                                       for f in result.findings]


def test_fixture_migrations_run_on_postgres(postgres):
    for name in ("shop", "clean"):
        postgres.run(*_migrations(FIXTURES / name))


def test_fixes_parse_relint_clean_and_run_on_postgres(tmp_path, postgres):
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    settings = _settings(root)
    for unsafe in (False, True):
        result = engine.lint_and_fix([root], settings, unsafe=unsafe, write=True)
        assert not result.internal_errors
        for path in root.rglob("*.sql"):
            assert parse_sql(path.read_text(encoding="utf-8")).errors == [], path
        for path in root.rglob("*.py"):
            compile(path.read_text(encoding="utf-8"), str(path), "exec")
        # What is left has no applicable fix of the kind just applied.
        leftover = [f for f in engine.lint([root], settings).findings
                    if f.fix is not None and f.fix.applicable
                    and (unsafe or f.fix.applicability.value == "safe")]
        assert leftover == [], [f"{f.path}:{f.row} {f.code}" for f in leftover]
        postgres.run(*_migrations(root))
    # A second round changes nothing: fixing is idempotent.
    def texts() -> dict:
        return {p: p.read_text(encoding="utf-8") for p in (*root.rglob("*.sql"),
                                                          *root.rglob("*.py"))}

    before = texts()
    engine.lint_and_fix([root], settings, unsafe=True, write=True)
    assert texts() == before


def test_linting_all_fixtures_keeps_the_projects_apart():
    # Each fixture has its own pglint.toml, so each is its own project with its own schema:
    # linting the parent folder gives exactly the shop's findings (clean stays silent).
    from pglint.config import Resolver
    from pglint.registry import catalog

    result = engine.lint([FIXTURES], Resolver(default_root=FIXTURES, catalog=catalog()))
    found = _found(FIXTURES, result)
    expected = Counter({("shop/" + path, row, code): count
                        for (path, row, code), count in _expected(FIXTURES / "shop").items()})
    assert found == expected


def test_sharded_counter_suggestion_runs_on_postgres(postgres):
    # PGL101's suggestion is display-only, but it is SQL a user copies: it must run as written
    # against the schema it was written for.
    root = FIXTURES / "shop"
    postgres.run(*_migrations(root), _visit_counter_finding(root).fix.suggestion)


def _visit_counter_finding(root: Path):
    """The shop's PGL101 on `visit_counters` in SQL."""
    result = engine.lint([root], _settings(root))
    [finding] = [f for f in result.findings
                 if f.code == "PGL101" and "visit_counters" in f.message
                 and f.path.endswith(".sql")]
    return finding


def test_sharded_counter_read_and_fold_keep_every_increment(postgres):
    # The read adds the counter row's value to its shards'; the fold moves only shards whose
    # counter row exists (a shard of a key with no row stays, and is still read).
    root = FIXTURES / "shop"
    suggestion = _visit_counter_finding(root).fix.suggestion
    fold = suggestion[suggestion.index("WITH moved"):]
    read = suggestion[suggestion.index("SELECT coalesce"):suggestion.index("-- Optional fold")]
    with postgres.database() as database:
        for script in _migrations(root):
            assert postgres.psql(database, script).returncode == 0
        setup = postgres.psql(
            database, "DELETE FROM visit_counters;\n"
            "INSERT INTO visit_counters (page_id, count) VALUES ('/home', 5);\n"
            + suggestion[:suggestion.index("-- The read")]  # the DDL and one increment
            + "INSERT INTO visit_counters_shards (page_id, shard, count) VALUES ('/gone', 0, 2);\n")
        assert setup.returncode == 0, setup.stderr
        before = postgres.psql(database, read, "-A", "-t")
        folded = postgres.psql(database, fold + "\nSELECT count FROM visit_counters;\n"
                               "SELECT page_id, count FROM visit_counters_shards;\n" + read,
                               "-A", "-t")
    assert before.stdout.split() == ["6"], before.stderr
    assert folded.stdout.split() == ["6", "/gone|2", "6"], folded.stderr
