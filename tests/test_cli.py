"""The command line as users run it: exit codes, formats, selection, config, fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
# PGL101 (which COUNTER trips) is off by default: projects of these tests turn it on.
ON_PGL101 = 'extend-select = ["PGL101"]\n'
ON_PGL101_PYPROJECT = '[tool.pglint]\n' + ON_PGL101
# ... and a syntax error in application SQL is reported when PGL901 is chosen.
ON_PGL101_PGL901 = 'extend-select = ["PGL101", "PGL901"]\n'
# The first migration of a project that migrates a live database (it bounds its lock waits):
# the lock rules' evidence (pglint.model.online).
INIT_T = "SET lock_timeout = '5s';\nCREATE TABLE t (id int);\n"


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, capture_output=True,
                          text=True, env=full_env, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "hits.sql").write_text(COUNTER, encoding="utf-8")
    (tmp_path / "queries" / "ok.sql").write_text("SELECT 1;\n", encoding="utf-8")
    # PGL101 is off by default: this project turns it on.
    (tmp_path / "pyproject.toml").write_text(ON_PGL101_PYPROJECT, encoding="utf-8")
    return tmp_path


def test_exit_code_1_with_findings_and_full_output(project):
    result = run("check", "--no-cache", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert "queries/hits.sql:1:1: PGL101" in result.stdout
    assert "^^^^" in result.stdout  # the code frame underlines the span
    assert "suggestion: Shard the counter" in result.stdout
    assert "Found 1 finding in 1 file." in result.stdout  # files with findings, as ruff
    assert "\x1b[" not in result.stdout  # no colour when piped


def test_exit_code_0_when_clean(project):
    result = run("check", "--no-cache", "queries/ok.sql", cwd=project)
    assert result.returncode == 0
    assert "All checks passed" in result.stdout


def test_concise_and_json_formats(project):
    concise = run("check", "--no-cache", "--output-format", "concise", ".", cwd=project)
    assert concise.stdout.splitlines()[0].startswith("queries/hits.sql:1:1: PGL101 ")
    data = json.loads(run("check", "--no-cache", "--output-format", "json", ".", cwd=project).stdout)
    assert len(data) == 1
    finding = data[0]
    assert finding["code"] == "PGL101" and finding["name"] == "hot-counter-update"
    assert finding["filename"] == "queries/hits.sql"
    assert finding["location"] == {"row": 1, "column": 1}
    assert finding["end_location"] == {"row": 1, "column": len(COUNTER.rstrip(";\n")) + 1}
    assert finding["fix"]["applicability"] == "display"
    assert "CREATE TABLE visit_counters_shards" in finding["fix"]["suggestion"]
    assert set(finding) >= {"code", "message", "filename", "location", "end_location", "fix",
                            "url", "name", "severity"}


def test_select_and_ignore(project):
    assert run("check", "--no-cache", "--ignore", "PGL101", ".", cwd=project).returncode == 0
    assert run("check", "--no-cache", "--select", "PGL9", ".", cwd=project).returncode == 0
    assert run("check", "--no-cache", "--select", "PGL1", ".", cwd=project).returncode == 1
    # As in ruff, --select starts the selection anew: the configuration's ignore goes too.
    (project / "pyproject.toml").write_text('[tool.pglint]\nignore = ["PGL101"]\n')
    assert run("check", "--no-cache", ".", cwd=project).returncode == 0
    assert run("check", "--no-cache", "--select", "PGL101", ".", cwd=project).returncode == 1


def test_config_file_is_found_by_walking_up(project):
    # The project's pyproject.toml turns PGL101 on: found from queries/, it reports.
    result = run("check", "--no-cache", "hits.sql", cwd=project / "queries")
    assert result.returncode == 1 and "PGL101" in result.stdout, result.stdout
    (project / "pyproject.toml").write_text('[tool.pglint]\n' + ON_PGL101 + 'ignore = ["PGL101"]\n')
    result = run("check", "--no-cache", "hits.sql", cwd=project / "queries")
    assert result.returncode == 0, result.stdout


def test_pglint_toml_takes_precedence_and_bad_config_is_exit_2(project):
    (project / "pglint.toml").write_text('select = ["PGL9"]\n')
    assert run("check", "--no-cache", ".", cwd=project).returncode == 0
    (project / "pglint.toml").write_text('selekt = ["PGL9"]\n')
    bad = run("check", "--no-cache", ".", cwd=project)
    assert bad.returncode == 2 and "unknown option `selekt`" in bad.stderr
    (project / "pglint.toml").write_text('select = [\n')
    broken = run("check", "--no-cache", ".", cwd=project)
    assert broken.returncode == 2 and "invalid TOML" in broken.stderr


def test_usage_errors_are_exit_2(project):
    assert run("check", "--output-format", "xml", ".", cwd=project).returncode == 2
    missing = run("check", "--no-cache", "nope.sql", "queries/hits.sql", cwd=project)
    assert missing.returncode == 2
    assert "nope.sql: no such file or directory" in missing.stderr
    assert "PGL101" in missing.stdout  # the other path is still linted
    assert run("rule", "PGL999", cwd=project).returncode == 2


def test_rule_docs(project):
    one = run("rule", "PGL101", cwd=project)
    assert one.returncode == 0
    for section in ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety"):
        assert f"## {section}" in one.stdout
    by_name = run("rule", "hot-counter-update", cwd=project)
    assert by_name.stdout == one.stdout
    every = run("rule", "--all", cwd=project)
    assert "PGL101" in every.stdout and "PGL901" in every.stdout


def test_fix_diff_and_unsafe_fixes(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    migration = tmp_path / "migrations" / "V1__init.sql"
    migration.parent.mkdir()
    original = "-- pglint: ignore[PGL101]\nCREATE TABLE t (id int);\n"
    migration.write_text(original, encoding="utf-8")
    diff = run("check", "--no-cache", "--diff", ".", cwd=tmp_path)
    assert diff.returncode == 1
    assert "-- pglint: ignore[PGL101]" in diff.stdout and diff.stdout.startswith("--- a/")
    assert migration.read_text(encoding="utf-8") == original  # --diff writes nothing
    fixed = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout
    assert migration.read_text(encoding="utf-8") == "CREATE TABLE t (id int);\n"
    assert not list(tmp_path.rglob("*.tmp"))  # atomic write leaves no temporary file


def test_cache_answers_unchanged_runs_and_notices_changes(project):
    first = run("check", "--output-format", "concise", ".", cwd=project)
    assert (project / ".pglint_cache" / ".gitignore").exists()
    second = run("check", "--output-format", "concise", ".", cwd=project)
    assert first.stdout == second.stdout and second.returncode == 1
    (project / "queries" / "hits.sql").write_text("SELECT 2;\n", encoding="utf-8")
    third = run("check", "--output-format", "concise", ".", cwd=project)
    assert third.returncode == 0


def test_color_only_on_a_terminal_without_no_color(project):
    # Forced terminal via rich's FORCE_COLOR is not our switch; piped output stays plain even
    # without NO_COLOR.
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    result = subprocess.run([sys.executable, "-m", "pglint", "check", "--no-cache", "."],
                            cwd=project, capture_output=True, text=True, env=env, timeout=60)
    assert "\x1b[" not in result.stdout


def test_nearest_config_wins_per_folder(tmp_path):
    for name, config in (("a", ON_PGL101 + 'ignore = ["PGL101"]\n'), ("b", ON_PGL101)):
        (tmp_path / name / "queries").mkdir(parents=True)
        (tmp_path / name / "queries" / "hits.sql").write_text(COUNTER, encoding="utf-8")
        (tmp_path / name / "pglint.toml").write_text(config, encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "b/queries/hits.sql:1:1: PGL101" in result.stdout
    assert "a/queries" not in result.stdout
    # --config applies one file to everything.
    forced = run("check", "--no-cache", "--config", "a/pglint.toml", ".", cwd=tmp_path)
    assert forced.returncode == 0, forced.stdout


def test_each_folder_is_searched_for_a_configuration_once(tmp_path, monkeypatch):
    """The nearest configuration of every folder of a tree, each folder above them looked at
    once (not once per folder below it), with the answers find_config gives."""
    from pglint import config
    from pglint.registry import catalog

    (tmp_path / "pglint.toml").write_text("", encoding="utf-8")
    (tmp_path / "svc" / "pyproject.toml").parent.mkdir()
    (tmp_path / "svc" / "pyproject.toml").write_text("[tool.pglint]\n", encoding="utf-8")
    (tmp_path / "lib" / "pyproject.toml").parent.mkdir()
    (tmp_path / "lib" / "pyproject.toml").write_text("[tool.black]\n", encoding="utf-8")
    leaves = [tmp_path / top / "a" / leaf for top in ("svc", "lib") for leaf in ("b", "c")]
    for leaf in leaves:
        leaf.mkdir(parents=True)
    looked: list[Path] = []
    real = config.config_in
    monkeypatch.setattr(config, "config_in", lambda folder: looked.append(folder) or real(folder))
    resolver = config.Resolver(catalog=catalog())
    found = {leaf: resolver._config_for_dir(leaf.resolve()) for leaf in leaves}
    assert len(looked) == len(set(looked))
    assert found == {leaf: config.find_config(leaf) for leaf in leaves}
    assert {found[leaf].parent.name for leaf in leaves} == {"svc", tmp_path.name}


def test_unknown_rule_codes_are_usage_errors(project):
    typo = run("check", "--no-cache", "--select", "PGL1O1", ".", cwd=project)
    assert typo.returncode == 2
    assert typo.stderr.startswith("pglint: error: unknown rule selector 'PGL1O1' in `select` "
                                  "(on the command line)"), typo.stderr
    (project / "pglint.toml").write_text('ignore = ["XYZ"]\n')
    bad = run("check", "--no-cache", ".", cwd=project)
    assert bad.returncode == 2 and "unknown rule selector 'XYZ' in `ignore`" in bad.stderr
    assert str(project / "pglint.toml") in bad.stderr and "Traceback" not in bad.stderr


def concise_codes(result: subprocess.CompletedProcess) -> list[str]:
    return [line.split(": ")[1].split()[0] for line in result.stdout.splitlines()
            if ": PGL" in line]


def test_select_all_and_rule_names_wherever_codes_are(tmp_path):
    # PGL101 in a query file, PGL301 in a migration that alters an existing table, which the
    # application reads.
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "hits.sql").write_text(COUNTER + "SELECT id FROM t;\n",
                                                  encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__init.sql").write_text(INIT_T)
    (tmp_path / "migrations" / "V2__alter.sql").write_text("ALTER TABLE t ADD COLUMN n int;\n")

    def codes(*args: str) -> list[str]:
        result = run("check", "--no-cache", "--output-format", "concise", *args, ".",
                     cwd=tmp_path)
        assert result.returncode in (0, 1), result.stderr
        return concise_codes(result)

    assert codes("--select", "ALL") == ["PGL301", "PGL101"]
    assert codes("--select", "all", "--ignore", "PGL1") == ["PGL301"]
    assert codes("--select", "missing-lock-timeout") == ["PGL301"]
    assert codes("--select", "PGL1,missing-lock-timeout") == ["PGL301", "PGL101"]
    # PGL301 is off by default: the default selection leaves it out, --extend-select adds it.
    assert codes("--ignore", "hot-counter-update") == []
    assert codes("--ignore", "hot-counter-update", "--extend-select", "PGL301") == ["PGL301"]
    assert codes("--select", "PGL9", "--extend-select", "Hot-Counter-Update") == ["PGL101"]
    assert codes("--select", "pgl3") == ["PGL301"]  # prefixes, in any case, still work
    (tmp_path / "pglint.toml").write_text(
        'select = ["ALL"]\nignore = ["missing-lock-timeout"]\n'
        '[per-file-ignores]\n"queries/*.sql" = ["hot-counter-update"]\n', encoding="utf-8")
    assert codes() == []
    (tmp_path / "pglint.toml").write_text('select = ["missing-lock-timeout"]\n')
    assert codes() == ["PGL301"]


@pytest.mark.parametrize("args,config", [
    (("--select", "missing-lock-timout"), ""),
    (("--ignore", "PGL1O"), ""),
    (("--extend-select", "bogus"), ""),
    ((), 'select = ["no-such-rule"]\n'),
    ((), '[per-file-ignores]\n"*.sql" = ["no-such-rule"]\n'),
])
def test_unknown_selectors_name_the_selector(project, args, config):
    if config:
        (project / "pglint.toml").write_text(config, encoding="utf-8")
    result = run("check", "--no-cache", *args, ".", cwd=project)
    assert result.returncode == 2, result.stdout
    bad = (args[1] if args else config.split('"')[-2])
    assert result.stderr.startswith(f"pglint: error: unknown rule selector {bad!r}"), result.stderr
    assert "Traceback" not in result.stderr


def test_suppression_comments_take_rule_names(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    query = tmp_path / "hits.sql"
    query.write_text(COUNTER.rstrip("\n") + "  -- pglint: ignore[hot-counter-update]\n"
                     "SELECT 1;  -- pglint: ignore[hot-counter-update, no-such-rule]\n",
                     encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "concise", ".", cwd=tmp_path)
    assert concise_codes(result) == ["PGL902"], result.stdout
    assert "unknown rule code no-such-rule; hot-counter-update reported nothing" in result.stdout


def test_nothing_to_lint_is_not_called_a_pass(tmp_path):
    result = run("check", "--no-cache", "missing.sql", cwd=tmp_path)
    assert result.returncode == 2
    assert "All checks passed" not in result.stdout
    assert "No files to lint." in result.stdout


def test_cached_findings_equal_fresh_ones(tmp_path):
    # Every field survives the JSON cache: the shop's findings (SQL and Python, fixes of every
    # applicability) read back from the cache equal those just computed.
    from dataclasses import asdict

    from pglint import engine
    from pglint.config import find_config, load_settings

    root = Path(__file__).resolve().parent.parent / "fixtures" / "shop"
    settings = load_settings(find_config(root)).with_overrides(root=root)
    fresh = engine.lint([root], settings, cache_dir=tmp_path / "cache")
    cached = engine.lint([root], settings, cache_dir=tmp_path / "cache")
    assert len(fresh.findings) > 50
    assert all(f.parsed is None for f in cached.files)  # answered from the cache
    assert [asdict(f) for f in cached.findings] == [asdict(f) for f in fresh.findings]


@pytest.mark.parametrize("name,text,says", [
    # A pyproject.toml that names pglint but does not parse: our configuration may be in it.
    ("pyproject.toml", "[tool.pglint\nselect = ['PGL1']\n", "invalid TOML"),
    ("pyproject.toml", "tool = 3  # pglint\n", "`tool` must be a table"),
    ("pyproject.toml", "tool = 'pglint'\n", "`tool` must be a table"),
    ("pglint.toml", "tool = 3\n", "`tool` must be a table"),
])
def test_configuration_of_the_wrong_shape_is_a_usage_error(tmp_path, name, text, says):
    (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "q.sql").write_text("SELECT 1;\n", encoding="utf-8")
    result = run("check", "--no-cache", "q.sql", cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert says in result.stderr and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("field,value", [("start", "12"), ("row", None), ("message", 7),
                                          ("fix", {"title": 1})])
def test_tampered_cache_entry_is_a_miss(project, field, value):
    first = run("check", "--output-format", "concise", ".", cwd=project)
    entries = list((project / ".pglint_cache").glob("run-*.json"))
    assert len(entries) == 1
    stored = json.loads(entries[0].read_text(encoding="utf-8"))
    assert stored["findings"]
    for item in stored["findings"]:
        item[field] = value
    entries[0].write_text(json.dumps(stored), encoding="utf-8")
    again = run("check", "--output-format", "concise", ".", cwd=project)
    assert "Traceback" not in again.stderr, again.stderr
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("output_format", ["full", "json", "sarif"])
def test_an_output_that_cannot_be_written_is_an_error_without_traceback(output_format):
    root = Path(__file__).resolve().parent.parent
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "pglint", "check", "--no-cache",
                                 "--output-format", output_format, "fixtures/shop"],
                                cwd=root, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    assert result.returncode == 2, result.stderr
    assert "cannot write the output: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("args", [("--version",), ("-V",), ("version",)])
def test_version_is_pglint_and_the_installed_version(tmp_path, args):
    from importlib.metadata import version

    import pglint

    result = run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"pglint {version('pglint')}\n"
    # The source's own version matches what is installed (SARIF and the cache key read it).
    assert pglint.__version__ == version("pglint")


def test_unreadable_files_are_reported_whatever_is_selected(project):
    (project / "scripts").mkdir()
    (project / "scripts" / "bad.sql").write_text("SELEC 1;\n", encoding="utf-8")
    (project / "queries" / "binary.sql").write_bytes(b"SELECT 1;\x00\n")  # unreadable: PGL901

    def codes(*args: str) -> list[str]:
        return concise_codes(run("check", "--no-cache", "--output-format", "concise", *args,
                                 ".", cwd=project))

    unreadable = ["PGL901", "PGL101"]  # queries/binary, queries/hits
    assert codes() == unreadable
    assert codes("--select", "PGL1") == unreadable
    assert codes("--select", "hot-counter-update", "--ignore", "PGL9") == unreadable
    assert codes("--ignore", "ALL", "--extend-select", "PGL101") == unreadable
    # Only PGL901 itself, by code or name, turns them off.
    assert codes("--ignore", "PGL901") == ["PGL101"]
    assert codes("--select", "PGL1", "--ignore", "syntax-error") == ["PGL101"]
    # Syntax errors (scripts/bad) when the selection covers PGL901.
    every = ["PGL901", "PGL101", "PGL901"]
    assert codes("--extend-select", "PGL901") == every
    assert codes("--select", "ALL") == every
    assert codes("--select", "ALL", "--ignore", "PGL9") == unreadable  # as for any rule
    (project / "pglint.toml").write_text(ON_PGL101 + '[per-file-ignores]\n"bad.sql" = ["PGL9"]\n'
                                         '"binary.sql" = ["PGL901"]\n', encoding="utf-8")
    assert codes("--extend-select", "PGL901") == ["PGL101", "PGL901"]


def test_a_syntax_error_suppression_is_not_unused_while_syntax_errors_are_off(tmp_path):
    # Written when syntax errors were on by default: a suppression of a rule that does not
    # run cannot be judged, and PGL902's fix must not delete it.
    (tmp_path / "migrations").mkdir()
    bad = "CREATE TABLE v (id int,); -- pglint: ignore[PGL901]\n"
    (tmp_path / "migrations" / "1_a.sql").write_text(bad)
    result = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert "PGL902" not in result.stdout and result.returncode == 0, result.stdout
    assert (tmp_path / "migrations" / "1_a.sql").read_text() == bad
    chosen = run("check", "--no-cache", "--extend-select", "PGL901", ".", cwd=tmp_path)
    assert chosen.returncode == 0 and "PGL90" not in chosen.stdout, chosen.stdout


def test_syntax_errors_in_application_sql_need_pgl901_chosen(project):
    # Judged on real repositories, SQL that does not parse is mostly another engine's or a
    # template: reported when the project asks for PGL901, as in migrations and scripts
    # (above). An unreadable file is reported whatever its role.
    (project / "queries" / "bad.sql").write_text("SELEC 1;\n", encoding="utf-8")
    (project / "queries" / "binary.sql").write_bytes(b"SELECT 1;\x00\n")

    def files(*args: str) -> list[str]:
        result = run("check", "--no-cache", "--output-format", "concise", *args, ".",
                     cwd=project)
        return [line.split(":")[0] for line in result.stdout.splitlines() if "PGL901" in line]

    assert files() == ["queries/binary.sql"]
    assert files("--extend-select", "PGL901") == ["queries/bad.sql", "queries/binary.sql"]
    assert files("--select", "syntax-error") == ["queries/bad.sql", "queries/binary.sql"]


@pytest.mark.parametrize("config,says", [
    ('lock-timeout = "abc"', '`lock-timeout` must be a PostgreSQL duration such as "5s", '
                             '"500ms" or "1min" (a positive number, then us, ms, s, min, h or '
                             'd), not "abc"'),
    ('lock-timeout = "-1"', 'not "-1"'),
    ('lock-timeout = "0"', 'not "0": PostgreSQL rounds it to 0, which disables the timeout'),
    ('lock-timeout = "0.4ms"', 'not "0.4ms": PostgreSQL rounds it to 0'),
    ('lock-timeout = "5S"', 'not "5S"'),  # PostgreSQL's units are case-sensitive
    ('lock-timeout = "30d"', "over PostgreSQL's maximum"),
    ("lock-timeout = 5", "not 5"),
    ('[per-file-ignores]\n"legacy/*.sql" = "PGL1"',
     '`per-file-ignores` for `legacy/*.sql` must be a list of rule selectors such as '
     '["PGL101"], not "PGL1"'),
    ('[per-file-ignores]\n"a.sql" = [1]', "`per-file-ignores` for `a.sql` must be a list"),
    ('selct = ["PGL1"]', "unknown option `selct` (did you mean `select`?)"),
    ('lock_timeout = "5s"', "unknown option `lock_timeout` (did you mean `lock-timeout`?)"),
    ("colour = true", "unknown option `colour` (known: "),  # no key close enough: all of them
    ('[tables]\nt = { workload = "queue", updated_columns = ["a"] }',
     "unknown key `tables.t.updated_columns` (did you mean `updated-columns`?)"),
    ('[tables]\norders = { rows = -5 }',
     "tables.orders.rows must be a whole number of rows, 0 or more (`rows = 50_000_000`), "
     "not -5"),
    ('[tables]\norders = { rows = 5e7 }', "tables.orders.rows must be a whole number"),
    ('[tables]\norders = { rows = "50M" }', 'tables.orders.rows must be a whole number of '
                                            'rows, 0 or more (`rows = 50_000_000`), not "50M"'),
    ('[tables]\norders = { rows = true }', "tables.orders.rows must be a whole number"),
    ('[tables]\norders = { row = 5 }', "unknown key `tables.orders.row` (did you mean `rows`?)"),
    ('runner-settings = "lock_timeout=5s"', "`runner-settings` must be a table of PostgreSQL"),
    ('runner-settings = { "lock timeout" = "5s" }', "`runner-settings` must be a table"),
    ('runner-settings = { lock_timeout = true }', "`runner-settings` must be a table"),
])
def test_configuration_values_are_checked(project, config, says):
    (project / "pglint.toml").write_text(config + "\n", encoding="utf-8")
    result = run("check", "--no-cache", ".", cwd=project)
    assert result.returncode == 2, result.stdout
    # One line naming the file, then what is wrong with which key.
    assert result.stderr.startswith(f"pglint: error: {project / 'pglint.toml'}: "), result.stderr
    assert says in result.stderr, result.stderr
    if "(known: " in says:
        assert all(f"{key}," in result.stderr or f"{key})" in result.stderr
                   for key in ("select", "ignore", "lock-timeout", "per-file-ignores", "tables"))
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["5s", "500ms", "1min", "1.5s", "2 s", "3000", "1h"])
def test_lock_timeout_takes_postgresql_durations(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.pglint]\nlock-timeout = "{value}"\nextend-select = ["PGL301"]\n',
        encoding="utf-8")
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__init.sql").write_text(INIT_T)
    (tmp_path / "migrations" / "V2__alter.sql").write_text("ALTER TABLE t ADD COLUMN n int;\n")
    result = run("check", "--no-cache", "--diff", "--unsafe-fixes", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"+SET LOCAL lock_timeout = '{value}';" in result.stdout


@pytest.mark.parametrize("jobs", ["abc", "0", "-1", "1.5", "two"])
def test_pglint_jobs_must_be_a_positive_integer(project, jobs):
    result = run("check", "--no-cache", ".", cwd=project, env={"PGLINT_JOBS": jobs})
    assert result.returncode == 2, result.stdout
    assert result.stderr == (f"pglint: error: PGLINT_JOBS must be a positive integer (the "
                             f"number of processes; 1 runs everything in one), not {jobs!r}\n")
    baseline = run("baseline", "--no-cache", ".", cwd=project, env={"PGLINT_JOBS": jobs})
    assert baseline.returncode == 2 and "PGLINT_JOBS" in baseline.stderr
    assert not (project / "pglint-baseline.json").exists()


@pytest.mark.parametrize("jobs", ["1", "2", " 3 ", ""])
def test_pglint_jobs_accepts_positive_integers(project, jobs):
    result = run("check", "--no-cache", ".", cwd=project, env={"PGLINT_JOBS": jobs})
    assert result.returncode == 1, result.stderr


def test_quiet_prints_the_findings_without_summary(project):
    full = run("check", "--no-cache", ".", cwd=project)
    quiet = run("check", "--no-cache", "-q", ".", cwd=project)
    assert quiet.returncode == 1, quiet.stderr
    assert "queries/hits.sql:1:1: PGL101" in quiet.stdout and "^^^^" in quiet.stdout
    assert "Found 1 finding" in full.stdout and "Found" not in quiet.stdout
    assert full.stdout.startswith(quiet.stdout)
    concise = run("check", "--no-cache", "--quiet", "--output-format", "concise", ".",
                  cwd=project)
    assert concise.stdout.splitlines() == [
        line for line in run("check", "--no-cache", "--output-format", "concise", ".",
                             cwd=project).stdout.splitlines() if line.startswith("queries/")]
    clean = run("check", "--no-cache", "-q", "queries/ok.sql", cwd=project)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")


def test_quiet_drops_the_would_fix_note_of_diff(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    (tmp_path / "q.sql").write_text("SELECT 1;  -- pglint: ignore[PGL101]\n", encoding="utf-8")
    loud = run("check", "--no-cache", "--diff", ".", cwd=tmp_path)
    quiet = run("check", "--no-cache", "--diff", "-q", ".", cwd=tmp_path)
    assert loud.stderr == "Would fix 1 finding.\n" and quiet.stderr == ""
    assert quiet.stdout == loud.stdout and quiet.stdout.startswith("--- a/q.sql")


@pytest.mark.parametrize("output_format", ["full", "concise", "json", "junit"])
def test_silent_prints_nothing_and_exits_as_usual(project, output_format):
    found = run("check", "--no-cache", "-s", "--output-format", output_format, ".", cwd=project)
    assert (found.returncode, found.stdout, found.stderr) == (1, "", "")
    clean = run("check", "--no-cache", "--silent", "--output-format", output_format,
                "queries/ok.sql", cwd=project)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    # Errors still reach stderr: a run that exits 2 says why.
    missing = run("check", "--no-cache", "-s", "nope.sql", cwd=project)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == "pglint: error: nope.sql: no such file or directory\n"


@pytest.mark.parametrize("option", ["-o", "--output-file"])
def test_output_file_gets_the_report(project, option):
    expected = run("check", "--no-cache", "--output-format", "json", ".", cwd=project)
    result = run("check", "--no-cache", "--output-format", "json", option,
                 "reports/pglint.json", ".", cwd=project)
    assert result.returncode == 1, result.stderr
    assert result.stdout == "" and result.stderr == ""
    written = (project / "reports" / "pglint.json").read_text(encoding="utf-8")
    assert written == expected.stdout and json.loads(written)[0]["code"] == "PGL101"
    # Errors stay on stderr; the report still goes to the file.
    both = run("check", "--no-cache", "-o", "report.txt", "nope.sql", "queries/hits.sql",
               cwd=project)
    assert both.returncode == 2 and both.stdout == ""
    assert both.stderr == "pglint: error: nope.sql: no such file or directory\n"
    assert "Found 1 finding" in (project / "report.txt").read_text(encoding="utf-8")


def test_output_file_that_cannot_be_written_is_an_error(project):
    (project / "folder").mkdir()
    (project / "blocker").write_text("", encoding="utf-8")
    for target, reason in (("folder", "Is a directory"), ("blocker/report.txt", "Not a directory")):
        result = run("check", "--no-cache", "-o", target, ".", cwd=project)
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"pglint: error: cannot write {target}: {reason}\n"
        assert result.stdout == ""


def run_stdin(*args: str, cwd: Path, data: str | bytes) -> subprocess.CompletedProcess:
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    result = subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd,
                            capture_output=True, input=raw, timeout=120,
                            env={**os.environ, "NO_COLOR": "1"})
    result.stdout, result.stderr = (result.stdout.decode("utf-8", "replace"),
                                    result.stderr.decode("utf-8", "replace"))
    return result


ALTER_T = "ALTER TABLE t ADD COLUMN n int;\n"


def test_check_dash_lints_standard_input(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    result = run_stdin("check", "--no-cache", "--output-format", "concise", "-", cwd=tmp_path,
                       data=COUNTER)
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("-:1:1: PGL101 "), result.stdout
    # Without a name, standard input is application SQL: no migration rule applies.
    assert run_stdin("check", "--no-cache", "-", cwd=tmp_path, data=ALTER_T).returncode == 0


def test_stdin_filename_names_the_text_and_decides_its_kind(tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__init.sql").write_text(INIT_T)
    # PGL301 is off by default; the text on stdin is linted alone, with no other migration to
    # show that the project migrates a live database.
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL301"]\nlock-evidence = "exists"\n')
    as_migration = run_stdin("check", "--no-cache", "--output-format", "concise",
                             "--stdin-filename", "migrations/V2__add.sql", cwd=tmp_path,
                             data=ALTER_T)
    assert as_migration.returncode == 1, as_migration.stderr
    assert as_migration.stdout.startswith("migrations/V2__add.sql:1:1: PGL301 ")
    as_query = run_stdin("check", "--no-cache", "--stdin-filename", "queries/x.sql", "-",
                         cwd=tmp_path, data=ALTER_T)
    assert as_query.returncode == 0, as_query.stdout
    # The configuration is the one above the name.
    (tmp_path / "migrations" / "pglint.toml").write_text('ignore = ["PGL301"]\n')
    configured = run_stdin("check", "--no-cache", "--stdin-filename", "migrations/V2__add.sql",
                           cwd=tmp_path, data=ALTER_T)
    assert configured.returncode == 0, configured.stdout
    assert not (tmp_path / "migrations" / "V2__add.sql").exists()


def test_fix_on_stdin_prints_the_fixed_text_and_writes_no_file(tmp_path):
    # PGL301 is off by default; the text on stdin is linted alone (see above).
    (tmp_path / "pglint.toml").write_text('extend-select = ["PGL301", "PGL101"]\n'
                                          'lock-evidence = "exists"\n')
    target = tmp_path / "migrations" / "V2__add.sql"
    target.parent.mkdir()
    target.write_text(ALTER_T, encoding="utf-8")  # a file of that name is left alone
    result = run_stdin("check", "--no-cache", "--fix", "--unsafe-fixes", "--stdin-filename",
                       str(target.relative_to(tmp_path)), cwd=tmp_path, data=ALTER_T)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "SET LOCAL lock_timeout = '5s';\n" + ALTER_T
    assert "Fixed 1 finding" in result.stderr  # the report goes to stderr
    assert target.read_text(encoding="utf-8") == ALTER_T
    assert sorted(p.name for p in target.parent.iterdir()) == ["V2__add.sql"]
    # Findings left: the text still comes back, whole, and the exit code says so.
    left = run_stdin("check", "--no-cache", "--fix", "-", cwd=tmp_path,
                     data=COUNTER + "SELECT 1;  -- pglint: ignore[PGL101]\n")
    assert left.returncode == 1
    assert left.stdout == COUNTER + "SELECT 1;\n"
    assert "PGL101" in left.stderr and "PGL101" not in left.stdout
    # Nothing to fix, or nothing that could be read: the input comes back as it was.
    binary = b"SELECT 1;\x00\n"
    unreadable = run_stdin("check", "--no-cache", "--fix", "-", cwd=tmp_path, data=binary)
    assert unreadable.returncode == 1 and "PGL901" in unreadable.stderr
    assert unreadable.stdout == binary.decode()


def test_diff_on_stdin(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    result = run_stdin("check", "--no-cache", "--diff", "--stdin-filename", "q.sql",
                       cwd=tmp_path, data="SELECT 1;  -- pglint: ignore[PGL101]\n")
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("--- a/q.sql\n+++ b/q.sql\n")
    assert "+SELECT 1;\n" in result.stdout
    assert not (tmp_path / "q.sql").exists()


@pytest.mark.parametrize("args,says", [
    (("-", "other.sql"), "`-` (standard input) cannot be combined with other paths"),
    (("--project", "-"), "--project and --diff-base lint files, not standard input"),
])
def test_stdin_usage_errors(tmp_path, args, says):
    result = run_stdin("check", "--no-cache", *args, cwd=tmp_path, data="SELECT 1;\n")
    assert result.returncode == 2
    assert result.stderr == f"pglint: error: {says}\n"


def test_fixing_an_unused_suppression_leaves_no_empty_comment(tmp_path):
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    app = tmp_path / "app.py"
    app.write_text(
        "def f(cur):\n"
        "    # pglint: ignore[PGL101]\n"
        "    cur.execute(\"SELECT 1\")\n"
        "    cur.execute(\"SELECT 2\")  # pglint: ignore[PGL101]\n"
        "    x = 1  # pglint: ignore[hot-counter-update] because reasons\n"
        "    y = 2  # noqa: E501  # pglint: ignore[PGL101]\n"
        "    #pglint: ignore\n"
        "    return x + y\n", encoding="utf-8")
    query = tmp_path / "q.sql"
    query.write_text("-- pglint: ignore[PGL101]\nSELECT 1;\n"
                     "SELECT 2; -- pglint: ignore[PGL101]\n"
                     "SELECT 3; /* note pglint: ignore[PGL101] */\n"
                     "SELECT 4; -- note -- pglint: ignore[PGL101]\n", encoding="utf-8")
    result = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert app.read_text(encoding="utf-8") == (
        "def f(cur):\n"
        "    cur.execute(\"SELECT 1\")\n"
        "    cur.execute(\"SELECT 2\")\n"
        "    x = 1  # because reasons\n"
        "    y = 2  # noqa: E501\n"
        "    return x + y\n")
    assert query.read_text(encoding="utf-8") == (
        "SELECT 1;\nSELECT 2;\nSELECT 3; /* note */\nSELECT 4; -- note\n")


def fixable_project(root: Path) -> None:
    """PGL301 (an unsafe fix) in a migration; two PGL902 (safe fixes) and a PGL101 (no fix)
    in a query file."""
    (root / "migrations").mkdir()
    (root / "migrations" / "V1__init.sql").write_text(INIT_T)
    (root / "migrations" / "V2__alter.sql").write_text(ALTER_T)
    (root / "pglint.toml").write_text('extend-select = ["PGL301", "PGL101"]\n')  # off by default
    # The application reads `t`: the lock on it blocks someone.
    (root / "q.sql").write_text("SELECT 1;  -- pglint: ignore[PGL101]\n"
                                "SELECT 2;  -- pglint: ignore[PGL303]\n" + COUNTER
                                + "SELECT id FROM t;\n")


def test_fix_only_reports_the_count_and_exits_0(tmp_path):
    fixable_project(tmp_path)
    result = run("check", "--no-cache", "--fix-only", ".", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Fixed 2 findings.\n", "")
    assert (tmp_path / "q.sql").read_text() == \
        "SELECT 1;\nSELECT 2;\n" + COUNTER + "SELECT id FROM t;\n"
    assert (tmp_path / "migrations" / "V2__alter.sql").read_text() == ALTER_T  # unsafe
    again = run("check", "--no-cache", "--fix-only", "--exit-non-zero-on-fix", ".",
                cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "Fixed 0 findings.\n")


def test_exit_non_zero_on_fix(tmp_path):
    fixable_project(tmp_path)
    (tmp_path / "q.sql").write_text("SELECT 1;  -- pglint: ignore[PGL101]\n")
    result = run("check", "--no-cache", "--fix", "--exit-non-zero-on-fix", ".", cwd=tmp_path)
    # Nothing left to report but PGL301 (unsafe): the fix alone makes it exit 1.
    assert result.returncode == 1, result.stdout
    assert "Fixed 1; 1 remaining" in result.stdout
    (tmp_path / "q.sql").write_text("SELECT 1;  -- pglint: ignore[PGL101]\n")
    everything = run("check", "--no-cache", "--fix", "--unsafe-fixes",
                     "--exit-non-zero-on-fix", ".", cwd=tmp_path)
    assert everything.returncode == 1 and "no findings. Fixed 2 findings." in everything.stdout
    clean = run("check", "--no-cache", "--fix", "--exit-non-zero-on-fix", ".", cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout
    fix_only = run("check", "--no-cache", "--fix-only", "--exit-non-zero-on-fix", ".",
                   cwd=tmp_path)
    assert fix_only.returncode == 0


def test_show_fixes_lists_the_fixes_applied(tmp_path):
    fixable_project(tmp_path)
    result = run("check", "--no-cache", "--fix", "--unsafe-fixes", "--show-fixes",
                 "--output-format", "concise", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.endswith(
        "Fixed 3 findings:\n"
        "- migrations/V2__alter.sql:\n"
        "    1 \u00d7 PGL301 (missing-lock-timeout)\n"
        "- q.sql:\n"
        "    2 \u00d7 PGL902 (unused-suppression)\n"), result.stdout
    assert "q.sql:3:1: PGL101" in result.stdout  # the report is still there
    nothing = run("check", "--no-cache", "--fix", "--show-fixes", ".", cwd=tmp_path)
    assert nothing.stdout.endswith("No fixes applied.\n")
    without = run("check", "--no-cache", "--fix", ".", cwd=tmp_path)
    assert "No fixes applied" not in without.stdout


def test_extend_ignore_adds_to_ignore(project):
    (project / "queries" / "bad.sql").write_text("SELECT 1;  -- pglint: ignore[PGL101]\n")
    codes = concise_codes(run("check", "--no-cache", "--output-format", "concise", ".",
                              cwd=project))
    assert codes == ["PGL902", "PGL101"]
    result = run("check", "--no-cache", "--output-format", "concise", "--ignore", "PGL101",
                 "--extend-ignore", "unused-suppression", ".", cwd=project)
    assert result.returncode == 0 and concise_codes(result) == [], result.stdout
    alone = run("check", "--no-cache", "--output-format", "concise", "--extend-ignore",
                "PGL9", ".", cwd=project)
    assert concise_codes(alone) == ["PGL101"]


@pytest.mark.parametrize("args,env,colored", [
    (("--color", "always"), {}, True),
    (("--color", "always"), {"NO_COLOR": "1"}, True),  # the option wins
    (("--color", "never"), {"FORCE_COLOR": "1"}, False),
    ((), {"FORCE_COLOR": "1"}, True),
    ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),
    ((), {"FORCE_COLOR": "0"}, False),
    (("--color", "auto"), {}, False),  # piped
])
def test_color_option_and_environment(project, args, env, colored):
    base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run([sys.executable, "-m", "pglint", "check", "--no-cache", *args, "."],
                            cwd=project, capture_output=True, text=True, env={**base, **env},
                            timeout=60)
    assert result.returncode == 1, result.stderr
    assert ("\x1b[" in result.stdout) is colored
    assert "queries/hits.sql" in result.stdout


HOSTILE_COUNTER = ("UPDATE visit_counters SET count = count + 1 "
                   "WHERE page_id = '\x1b[2J\x07\x9b\x7f';\nSELECT \x1b;\n")


@pytest.mark.parametrize("args", [(), ("--output-format", "concise"), ("--color", "always")])
def test_control_characters_of_the_file_never_reach_the_terminal(tmp_path, args):
    (tmp_path / "pglint.toml").write_text(ON_PGL101_PGL901, encoding="utf-8")
    (tmp_path / "hits.sql").write_text(HOSTILE_COUNTER, encoding="utf-8")
    result = run("check", "--no-cache", *args, ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    for raw in ("\x1b[2J", "\x07", "\x9b", "\x7f", "\x1b;"):
        assert raw not in result.stdout
    # Shown as ruff shows them: one visible character each.
    assert "PGL901" in result.stdout and '"\u241b"' in result.stdout  # the syntax error
    if "concise" not in args:
        assert "'\u241b[2J\u2407\ufffd\u2421';" in result.stdout  # the code frame


def test_junit_is_valid_xml_whatever_the_file_holds(tmp_path):
    import xml.etree.ElementTree as ET

    (tmp_path / "pglint.toml").write_text(ON_PGL101_PGL901, encoding="utf-8")
    (tmp_path / "hits.sql").write_text(HOSTILE_COUNTER, encoding="utf-8")
    (tmp_path / "we\x1bird\x01.sql").write_text("SELEC\x0b 1;\n", encoding="utf-8")
    result = run("check", "--no-cache", "--output-format", "junit", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    root = ET.fromstring(result.stdout)  # parses: no character XML 1.0 forbids
    texts = [t for e in root.iter() for t in (*e.attrib.values(), e.text or "")]
    assert not any(c in t for t in texts for c in "\x1b\x07\x01\x0b\x9b\x7f")
    assert any("we\u241bird\u2401.sql" in t for t in texts)
    assert any("\u241b" in t for t in texts if "PGL901" in t or "syntax" in t)


def test_show_settings_prints_the_resolved_settings(project):
    (project / "pglint.toml").write_text(
        'ignore = ["hot-counter-update"]\nlock-timeout = "2s"\nextend-exclude = ["legacy"]\n'
        '[per-file-ignores]\n"legacy/*.sql" = ["PGL1"]\n[tables]\nevents = "insert-heavy"\n'
        'orders = { rows = 50_000_000 }\n', encoding="utf-8")
    result = run("check", "--no-cache", "--show-settings", "--extend-select", "PGL9",
                 "--target-version", "17", "queries", cwd=project)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    settings = {k.strip(): v.strip() for k, v in (line.split(" = ", 1)
                                                  for line in result.stdout.splitlines())}
    assert settings["path"] == '"queries"'
    assert settings["config-file"] == json.dumps(str(project / "pglint.toml"))
    assert settings["root"] == json.dumps(str(project))
    assert settings["select"] == '["PGL"]'
    assert settings["ignore"] == '["PGL101"]'  # the name, resolved
    assert settings["extend-select"] == '["PGL9"]'
    assert settings["target-version"] == "17"
    assert settings["lock-timeout"] == '"2s"'
    assert settings["exclude"].startswith('[".git", ') and "# the defaults" in settings["exclude"]
    assert settings["extend-exclude"] == '["legacy"]'
    assert settings['per-file-ignores."legacy/*.sql"'] == '["PGL1"]'
    assert settings["tables.events"].startswith('{ workloads = ["insert-heavy"]')
    assert settings["tables.events"].endswith("rows = none }")
    assert settings["tables.orders"] == "{ workloads = [], updated-columns = [], rows = 50000000 }"
    assert settings["cache-dir"].startswith("none")
    cached = run("check", "--show-settings", cwd=project)
    assert cached.returncode == 0
    assert json.dumps(str(project / ".pglint_cache")) in cached.stdout
    assert not (project / ".pglint_cache").exists()


def test_clean_removes_only_the_caches_pglint_made(project):
    sub = project / "sub"
    sub.mkdir()
    (sub / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    (sub / "hits.sql").write_text(COUNTER, encoding="utf-8")
    assert run("check", ".", cwd=project).returncode == 1  # a cache here
    assert run("check", "sub", cwd=project).returncode == 1  # and one beside sub's config
    assert (project / ".pglint_cache").is_dir() and (sub / ".pglint_cache").is_dir()
    # Folders of that name that pglint did not make: no marker, or files of someone else's.
    foreign = project / "other" / ".pglint_cache"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine\n", encoding="utf-8")
    mixed = project / "mixed" / ".pglint_cache"
    mixed.mkdir(parents=True)
    (mixed / ".gitignore").write_text("# Created by pglint.\n*\n", encoding="utf-8")
    (mixed / "keep.txt").write_text("mine\n", encoding="utf-8")
    elsewhere = project.parent / f"{project.name}-target"
    elsewhere.mkdir()
    (elsewhere / ".gitignore").write_text("# Created by pglint.\n*\n", encoding="utf-8")
    (project / "link").mkdir()
    (project / "link" / ".pglint_cache").symlink_to(elsewhere, target_is_directory=True)

    result = run("clean", cwd=project)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["Removed .pglint_cache",
                                                  "Removed sub/.pglint_cache"]
    assert not (project / ".pglint_cache").exists() and not (sub / ".pglint_cache").exists()
    assert (foreign / "notes.txt").exists() and (mixed / "keep.txt").exists()
    assert (mixed / ".gitignore").exists() and (elsewhere / ".gitignore").exists()
    assert "other/.pglint_cache: not removed: it has no .gitignore written by pglint" \
        in result.stderr
    assert "mixed/.pglint_cache: not removed: it holds files pglint does not write (keep.txt)" \
        in result.stderr
    assert "link/.pglint_cache: not removed: not a folder" in result.stderr
    assert (project / "queries" / "hits.sql").exists()
    again = run("clean", cwd=project)
    assert again.returncode == 0 and again.stdout == "No cache to remove.\n"


def test_clean_removes_the_cache_dir_of_pglint_cache_dir(project, tmp_path_factory):
    cache = tmp_path_factory.mktemp("caches") / "mycache"
    env = {"PGLINT_CACHE_DIR": str(cache)}
    assert run("check", ".", cwd=project, env=env).returncode == 1
    assert list(cache.glob("run-*.json"))
    result = run("clean", cwd=project, env=env)
    assert (result.returncode, result.stdout) == (0, f"Removed {cache}\n"), result.stderr
    assert not cache.exists()


@pytest.mark.parametrize("name", ["migrations/V2__alter.sql", "tests/test_counter.sql",
                                  "queries/counter.sql", "loadtest/bench.pgbench"])
def test_stdin_is_judged_as_the_file_it_names(tmp_path, name):
    # The same text read from a file alone, or from stdin under the file's name: the same
    # kind and role, hence the same findings.
    text = ALTER_T + COUNTER
    (tmp_path / name).parent.mkdir(parents=True)
    (tmp_path / name).write_text(text, encoding="utf-8")
    on_disk = run("check", "--no-cache", "--output-format", "concise", name, cwd=tmp_path)
    (tmp_path / name).unlink()
    piped = run_stdin("check", "--no-cache", "--output-format", "concise", "--stdin-filename",
                      name, cwd=tmp_path, data=text)
    assert (piped.returncode, piped.stdout) == (on_disk.returncode, on_disk.stdout)


def test_the_summary_counts_the_files_with_findings_in_every_human_format(project):
    """`Found N findings in M files`: M is the files the findings are in (ruff's count), the
    same in the full, concise and markdown reports; a clean run still says how many were
    linted."""
    (project / "queries" / "more.sql").write_text("SELECT 2;\n", encoding="utf-8")
    full = run("check", "--no-cache", ".", cwd=project)
    concise = run("check", "--no-cache", "--output-format", "concise", ".", cwd=project)
    markdown = run("check", "--no-cache", "--output-format", "markdown", ".", cwd=project)
    assert "Found 1 finding in 1 file." in full.stdout
    assert "Found 1 finding in 1 file." in concise.stdout
    assert "1 finding in 1 file" in markdown.stdout
    clean = run("check", "--no-cache", "queries/ok.sql", "queries/more.sql", cwd=project)
    assert "All checks passed: 2 files linted, no findings." in clean.stdout
