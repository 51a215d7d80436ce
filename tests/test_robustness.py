"""No input crashes pglint.

Every odd input (empty, binary, not UTF-8, unreadable, psql scripts, huge, broken SQL, odd line
endings) ends with exit code 0 or 1, a clear finding or nothing, findings at the right line and
character column, and the other files of the same run still linted. The last test runs pglint
over a selection of PostgreSQL's own regression SQL (tests/data/postgres_regress/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pglint.loader import read_text

HOT_UPDATE = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"
REGRESS = Path(__file__).parent / "data" / "postgres_regress"
# PGL101 (which HOT_UPDATE trips) is off by default, and syntax errors in application SQL
# need PGL901 chosen: the projects turn both on.
ON_PGL101 = 'extend-select = ["PGL101", "PGL901"]\n'


def check(cwd: Path, *paths: str, timeout: float = 120) -> tuple[int, list[dict], str]:
    """Run `python -m pglint check --output-format json` in cwd: (exit code, findings, stderr)."""
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pglint", "check", "--output-format", "json", *paths],
        cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=timeout, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), (proc.returncode, proc.stderr)
    findings = json.loads(proc.stdout) if proc.stdout.strip() else []
    return proc.returncode, findings, proc.stderr


def of(findings: list[dict], filename: str, code: str | None = None) -> list[dict]:
    return [f for f in findings
            if Path(f["filename"]).as_posix() == filename and (code is None or f["code"] == code)]


def at(finding: dict) -> tuple[int, int]:
    return finding["location"]["row"], finding["location"]["column"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with one healthy file whose finding proves the rest of the run was linted."""
    (tmp_path / "queries").mkdir()
    (tmp_path / "queries" / "hot.sql").write_text(HOT_UPDATE + "\n", encoding="utf-8")
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    return tmp_path


def assert_hot_file_linted(findings: list[dict]) -> None:
    hits = of(findings, "queries/hot.sql", "PGL101")
    assert len(hits) == 1 and at(hits[0]) == (1, 1), findings


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# -- files that hold no SQL at all --------------------------------------------------------------


@pytest.mark.parametrize("content", [
    b"",
    b"   \n\t\n\n",
    b"-- only a comment\n",
    b"/* a block comment */\n-- and a line comment\n   \n",
    b"\xef\xbb\xbf",  # only a byte-order mark
    b";;\n;\n",
], ids=["empty", "whitespace", "line-comment", "comments", "bom-only", "semicolons"])
def test_file_without_statements(project: Path, content: bytes) -> None:
    write(project / "nothing.sql", content)
    code, findings, _ = check(project, ".")
    assert of(findings, "nothing.sql") == []
    assert_hot_file_linted(findings)


def test_not_utf8_reports_the_bad_byte(project: Path) -> None:
    # Line 2: S E L E C T _ ' ü ' , _ ' <0xff>: the bad byte is the 14th character.
    write(project / "latin1.sql", b"SELECT 1;\nSELECT '\xc3\xbc', '\xff';\n")
    code, findings, _ = check(project, ".")
    assert code == 1
    [problem] = of(findings, "latin1.sql")
    assert problem["code"] == "PGL901"
    assert "UTF-8" in problem["message"] and "0xff" in problem["message"]
    assert at(problem) == (2, 14)
    assert_hot_file_linted(findings)


def test_latin1_file(project: Path) -> None:
    write(project / "migrations" / "V1__latin1.sql",
          "-- Données\nCREATE TABLE café (id int);\n".encode("latin-1"))
    code, findings, _ = check(project, ".")
    [problem] = of(findings, "migrations/V1__latin1.sql")
    assert problem["code"] == "PGL901" and at(problem) == (1, 8)  # "-- Donn" + é
    assert_hot_file_linted(findings)


def test_directory_named_like_sql(project: Path) -> None:
    (project / "x.sql").mkdir()
    (project / "queries" / "nested.sql").mkdir()
    code, findings, _ = check(project, ".", "x.sql", "queries/nested.sql")
    assert not of(findings, "x.sql") and not of(findings, "queries/nested.sql")
    assert_hot_file_linted(findings)
    text, problem = read_text(project / "x.sql")
    assert text is None and "directory" in problem.message


def test_binary_file(project: Path) -> None:
    write(project / "blob.sql", b"SELECT 1;\x00\x01\x02\xff\xfe" * 100)
    code, findings, _ = check(project, ".")
    assert code == 1
    [problem] = of(findings, "blob.sql")
    assert problem["code"] == "PGL901" and "binary" in problem["message"]
    assert_hot_file_linted(findings)


def test_utf16_file_is_named_as_such(project: Path) -> None:
    # An editor's UTF-16 (a byte-order mark, then NUL in every ASCII character): not binary.
    write(project / "wide.sql", "SELECT 1;\n".encode("utf-16"))
    code, findings, _ = check(project, ".")
    [problem] = of(findings, "wide.sql")
    assert problem["code"] == "PGL901" and "UTF-16" in problem["message"] \
        and "binary" not in problem["message"] and "psql rejects it" in problem["message"]
    assert_hot_file_linted(findings)


@pytest.mark.parametrize("explicit", [False, True], ids=["walked", "named"])
def test_dangling_symlink(project: Path, explicit: bool) -> None:
    # We may run as root, where chmod 000 does not stop reads: a dangling link cannot be read.
    (project / "y.sql").symlink_to(project / "does-not-exist.sql")
    paths = ("y.sql", "queries") if explicit else (".",)
    code, findings, _ = check(project, *paths)
    assert code == 1
    [problem] = of(findings, "y.sql")
    assert problem["code"] == "PGL901" and "cannot read" in problem["message"]
    assert at(problem) == (1, 1)
    assert_hot_file_linted(findings)


def test_missing_path_is_a_usage_error(project: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "pglint", "check", "no-such.sql", "queries"],
                          cwd=project, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no-such.sql" in proc.stderr and "Traceback" not in proc.stderr


# -- psql scripts -------------------------------------------------------------------------------


PSQL_SCRIPT = """\\set ON_ERROR_STOP on
\\set page '/home'
\\set reset 'TRUNCATE page_views;'
:reset;
\\i common/setup.sql
\\connect shop
SELECT :v, :'v', :"v";
SELECT count(*) FROM :"table_name" WHERE page_id = :'page';
COPY page_views (page_id, note) FROM stdin;
/home\tsemi; colon: 'quote "dq $$ /* -- \\\\
/about\t\\N
\\.
\\echo loaded
""" + HOT_UPDATE + """
SELECT 1 \\gset
"""


def test_psql_script(project: Path) -> None:
    write(project / "queries" / "script.sql", PSQL_SCRIPT)
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/script.sql")
    assert not [f for f in mine if f["code"] == "PGL901"], mine
    hot_line = PSQL_SCRIPT.splitlines().index(HOT_UPDATE) + 1
    assert [at(f) for f in mine if f["code"] == "PGL101"] == [(hot_line, 1)]
    assert_hot_file_linted(findings)


def test_copy_data_without_terminator(project: Path) -> None:
    write(project / "queries" / "copy.sql",
          HOT_UPDATE + "\nCOPY t (a) FROM stdin;\n1;2\n'unclosed\n")
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/copy.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (1, 1))], mine


def test_ten_megabyte_file(project: Path) -> None:
    # A pg_dump-like file: COPY data with every character that could confuse a lexer.
    lines = ["-- dump of page_views", "COPY page_views (id, note) FROM stdin;"]
    size = 0
    i = 0
    while size < 10 * 1024 * 1024:
        line = f"{i}\tsemi; 'quote \"dq $$ /* -- é 東 {i}"
        lines.append(line)
        size += len(line.encode("utf-8")) + 1
        i += 1
    lines += ["\\.", HOT_UPDATE, ""]
    write(project / "queries" / "dump.sql", "\n".join(lines))
    code, findings, _ = check(project, ".", timeout=60)
    mine = of(findings, "queries/dump.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (len(lines) - 1, 1))], mine
    assert_hot_file_linted(findings)


# -- broken SQL ---------------------------------------------------------------------------------


def test_one_bad_statement_among_good_ones(project: Path) -> None:
    write(project / "queries" / "mixed.sql",
          "SELECT 1;\n"
          "SELECT 'u' FROM WHERE x;\n"  # error at WHERE, column 17
          + HOT_UPDATE + "\n"
          "SELECT 2;\n")
    code, findings, _ = check(project, ".")
    assert code == 1
    mine = of(findings, "queries/mixed.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL901", (2, 17)), ("PGL101", (3, 1))], mine
    assert "WHERE" in mine[0]["message"]
    assert_hot_file_linted(findings)


def test_non_ascii_before_a_finding(project: Path) -> None:
    # Columns count characters: 😀 is 4 bytes (2 UTF-16 units) and é is 2 bytes, one column each:
    # S E L E C T _ ' 😀 é ' ; _ U -> UPDATE is in column 14.
    write(project / "queries" / "intl.sql",
          "-- Zähler für die Startseite 東京\n"
          "SELECT '😀é'; " + HOT_UPDATE + "\n")
    code, findings, _ = check(project, ".")
    [finding] = of(findings, "queries/intl.sql")
    assert finding["code"] == "PGL101"
    assert finding["location"] == {"row": 2, "column": 14}
    assert finding["end_location"] == {"row": 2, "column": 14 + len(HOT_UPDATE) - 1}


@pytest.mark.parametrize("line, column", [
    ("SELECT 'ü' FROM WHERE x;", 17),
    ("SELECT 'ñandú', '😀' FORM t;", 26),  # `FORM` is an alias; the error is at `t`
], ids=["two-byte", "four-byte"])
def test_non_ascii_before_a_syntax_error(project: Path, line: str, column: int) -> None:
    write(project / "queries" / "intl_bad.sql", "-- 東京\n" + line + "\n" + HOT_UPDATE + "\n")
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/intl_bad.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL901", (2, column)), ("PGL101", (3, 1))], mine


def test_crlf_line_endings(project: Path) -> None:
    write(project / "queries" / "crlf.sql",
          "SELECT 1;\r\n-- comment\r\n" + HOT_UPDATE + "\r\nSELECT * FRM t;\r\n")
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/crlf.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (3, 1)), ("PGL901", (4, 10))], mine
    assert mine[0]["end_location"] == {"row": 3, "column": len(HOT_UPDATE)}


def test_byte_order_mark(project: Path) -> None:
    write(project / "queries" / "bom.sql", "\ufeff" + HOT_UPDATE + "\nSELEC 1;\n")
    write(project / "queries" / "bom_bad.sql", "\ufeffSELEC 1;\n" + HOT_UPDATE + "\n")
    code, findings, _ = check(project, ".")
    # The mark is invisible: the statement starts in column 1, as an editor shows it.
    assert [(f["code"], at(f)) for f in of(findings, "queries/bom.sql")] == [
        ("PGL101", (1, 1)), ("PGL901", (2, 1))]
    assert [(f["code"], at(f)) for f in of(findings, "queries/bom_bad.sql")] == [
        ("PGL901", (1, 1)), ("PGL101", (2, 1))]


def test_nested_block_comments(project: Path) -> None:
    # The bad statement at the end forces statement-by-statement parsing, so the lexer's
    # boundaries are what is tested: no `;` inside a comment may split a statement.
    write(project / "queries" / "nested.sql",
          "/* outer; /* inner; 'not a quote */ still comment; */\n"
          + HOT_UPDATE + " /* trailing; /* x */ ; */\n"
          "SELECT /* a; /* b; */ c; */ 1;\n"
          "SELEC 2;\n")
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/nested.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (2, 1)), ("PGL901", (4, 1))], mine


def test_dollar_quoted_bodies_with_semicolons(project: Path) -> None:
    write(project / "queries" / "dollar.sql",
          "CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $body$\n"
          "BEGIN\n"
          "    PERFORM 1; -- a ; and a ' and a $$ inside\n"
          "    RAISE NOTICE 'done; really';\n"
          "END;\n"
          "$body$;\n"
          "SELECT $$ a; b; 'c $$, $x$;$x$, $_1$ ; $_1$;\n"
          + HOT_UPDATE + "\n"
          "SELEC 3;\n")
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/dollar.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (8, 1)), ("PGL901", (9, 1))], mine


@pytest.mark.parametrize("tail, column, what", [
    ("SELECT 'abc;\n-- more\n", 8, "quoted string"),
    ("SELECT E'abc\\';\n", 8, "quoted string"),
    ('SELECT "abc;\n', 8, "quoted identifier"),
    ("SELECT $$abc;\nSELECT 1;\n", 8, "dollar-quoted string"),
    ("SELECT $fn$abc $$ ;\n", 8, "dollar-quoted string"),
    ("SELECT 1 /* never closed;\nSELECT 2;\n", 10, "comment"),
    ("SELECT 1 /* outer /* inner */ still open;\n", 10, "comment"),
], ids=["quote", "estring", "dquote", "dollar", "dollar-tag", "comment", "nested-comment"])
def test_unterminated_at_end_of_file(project: Path, tail: str, column: int, what: str) -> None:
    write(project / "queries" / "open.sql", HOT_UPDATE + "\n" + tail)
    code, findings, _ = check(project, ".")
    mine = of(findings, "queries/open.sql")
    assert [(f["code"], at(f)) for f in mine] == [("PGL101", (1, 1)), ("PGL901", (2, column))], mine
    assert "unterminated" in mine[1]["message"] and what in mine[1]["message"]
    assert_hot_file_linted(findings)


def test_engine_api_on_odd_files(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pglint.config import load_settings
    from pglint.engine import lint

    write(project / "empty.sql", b"")
    write(project / "bad.sql", b"SELECT '\xff';\n")
    write(project / "nul.sql", b"\x00")
    (project / "dir.sql").mkdir()
    (project / "gone.sql").symlink_to(project / "nowhere.sql")
    monkeypatch.chdir(project)
    # The project's settings, as the command line reads them (they turn PGL101 on).
    result = lint([Path(".")], load_settings(Path("pglint.toml")))
    assert result.errors == [] and result.internal_errors == []
    by_file = {}
    for f in result.findings:
        by_file.setdefault(f.path, []).append(f.code)
    assert by_file == {"bad.sql": ["PGL901"], "nul.sql": ["PGL901"], "gone.sql": ["PGL901"],
                       "queries/hot.sql": ["PGL101"]}


# -- PostgreSQL's regression SQL ----------------------------------------------------------------


def test_postgres_regression_sql() -> None:
    from pglint.discover import Candidate
    from pglint.engine import load

    files = sorted(REGRESS.glob("*.sql"))
    assert len(files) >= 20
    code, findings, _ = check(REGRESS, ".", timeout=300)
    lines = {p.name: p.read_bytes().decode("utf-8", "replace").split("\n") for p in files}
    for f in findings:
        name = Path(f["filename"]).name
        assert name in lines, f
        row, column = at(f)
        assert 1 <= row <= len(lines[name]), f
        assert 1 <= column <= len(lines[name][row - 1].rstrip("\r")) + 1, f
        end_row, end_column = f["end_location"]["row"], f["end_location"]["column"]
        assert (row, column) <= (end_row, end_column), f
    [latin] = [f for f in findings if Path(f["filename"]).name == "collate.windows.win1252.sql"]
    assert latin["code"] == "PGL901" and "UTF-8" in latin["message"]
    # The regression suites test error paths on purpose, but most statements must parse.
    parsed = errors = 0
    for path in files:
        loaded = load(Candidate(path, path.name, "sql"))
        if loaded.parsed is not None:
            parsed += len(loaded.parsed.statements)
        errors += len(loaded.problems)
    assert parsed > 5000
    assert errors < parsed * 0.05, (errors, parsed)


def test_too_deeply_nested_sql_is_a_finding_and_the_run_goes_on(tmp_path):
    # Generated SQL nests past what the parse tree's reader recurses into: 150 nested
    # subqueries, 600 added terms, 500 nested PL/pgSQL blocks (in a migration and as a query).
    (tmp_path / "subqueries.sql").write_text(
        "SELECT " + "(SELECT " * 150 + "1" + ")" * 150 + ";\n", encoding="utf-8")
    (tmp_path / "terms.sql").write_text("SELECT " + " + ".join(["1"] * 600) + ";\n",
                                        encoding="utf-8")
    blocks = "BEGIN " * 500 + "NULL; " + "END; " * 499 + "END"
    (tmp_path / "blocks.sql").write_text(f"DO $$ {blocks} $$;\n", encoding="utf-8")
    (tmp_path / "hot.sql").write_text(HOT_UPDATE + "\n", encoding="utf-8")
    (tmp_path / "pglint.toml").write_text(ON_PGL101, encoding="utf-8")
    code, findings, _ = check(tmp_path, ".")
    assert code == 1
    for name in ("subqueries.sql", "terms.sql", "blocks.sql"):
        (finding,) = of(findings, name, "PGL901")
        assert "too deeply nested to analyse" in finding["message"]
    assert of(findings, "hot.sql", "PGL101")
