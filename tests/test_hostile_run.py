"""The hostile-input run: every constructed input of the robustness issue in one tree (the
small ones under tests/data/hostile/corpus, the large and the special ones generated here:
FIFOs, links, NUL bytes, deep and huge files, names no output can hold as they are), linted
with every output format, fixed (safe and unsafe fixes) on a copy, with --project as
pre-commit runs it, from standard input, with broken configurations and a tampered cache, and
through the sqlfluff plugin. No run may print a traceback or end with an internal error; exit
codes are 0, 1 or 2; machine formats parse."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "data" / "hostile" / "corpus"
HOT = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n"
# File names: a leading dash (an option to a careless caller), the characters GitHub's
# workflow commands and Markdown give a meaning to, a line break, controls and bidirectional
# characters, a name of 250 bytes, and bytes that are not UTF-8.
ODD_NAMES = [b"-rf.sql", b"::error file=x,line=1::pwned.sql", b"a|b`c<i>[x](y) %2C.sql",
             b"new\nline.sql", b"esc\x1b[2J\x07.sql", "bidi\u202ecod.sql".encode(),
             b"x" * 246 + b".sql", b"latin\xe9\xff.sql", b"sp ace 'q\" .sql"]
CONFIGS = {  # a broken configuration each: exit 2 with a message, never a traceback
    "pyproject.toml": "tool = 3  # pglint\n",
    "pglint.toml": "[pglint\nselect = 1\n",
    "pglint.toml ": 'lock-timeout = "forever"\n',
    " pglint.toml": '[per-file-ignores]\n"*.sql" = ["NOPE1"]\n',
    "  pglint.toml": "select = 5\nextend-exclude = 3\n[tables]\nx = 1\n",
}


def _write(path: Path | bytes, data: str | bytes) -> None:
    raw = os.fsencode(path)
    os.makedirs(os.path.dirname(raw) or b".", exist_ok=True)
    with open(raw, "wb") as f:
        f.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)


def build(root: Path) -> None:
    """The hostile tree under `root` (the constructed inputs, then the generated ones)."""
    shutil.copytree(CORPUS, root, dirs_exist_ok=True)
    # Every lock rule on every table: the robustness checks need their fixes to write.
    (root / "pglint.toml").write_text('extend-select = ["PGL"]\nlock-evidence = "exists"\n',
                                      encoding="utf-8")
    q = root / "queries"
    _write(q / "hot.sql", HOT)
    # Special files: a FIFO, a link to an endless device, links dangling, looping and leading
    # out of the tree, a folder named like a file.
    os.mkfifo(q / "fifo.sql")
    (q / "zero.sql").symlink_to("/dev/zero")
    (q / "dangling.sql").symlink_to(q / "nowhere.sql")
    (q / "loop.sql").symlink_to(q / "loop.sql")
    outside = root.parent / f"{root.name}-outside.sql"
    _write(outside, HOT)
    (q / "outside.sql").symlink_to(outside)
    (q / "folder.sql").mkdir()
    for name in ODD_NAMES:
        _write(os.fsencode(q) + b"/" + name, "SELEC 1;\n" + HOT)
    # Deep SQL: nested subqueries, a long sum, nested PL/pgSQL blocks; a NUL after 8 KiB.
    _write(q / "subqueries.sql", "SELECT " + "(SELECT " * 150 + "1" + ")" * 150 + ";\n")
    _write(q / "terms.sql", "SELECT " + " + ".join(["1"] * 600) + ";\n")
    _write(q / "blocks.sql",
           "DO $$ " + "BEGIN " * 500 + "NULL; " + "END; " * 499 + "END $$;\n")
    _write(q / "late_nul.sql", "-- " + "x" * 9000 + "\n\x00\n" + HOT)
    _write(q / "binary.sql", bytes(range(256)) * 64)
    _write(q / "long_line.sql", "SELECT '" + "é" * 200_000 + "';\n" + HOT)
    # Large: a pg_dump-like file (1 MiB of COPY data) and 2,000 statements (test_robustness
    # and test_bounded_work have larger ones).
    rows = "".join(f"{i}\tsemi; 'q \"dq $$ /* -- é\n" for i in range(30_000))
    _write(q / "dump.sql", "COPY t (id, note) FROM stdin;\n" + rows + "\\.\n" + HOT)
    _write(q / "statements.sql", HOT * 2_000)
    # Python: a surrogate in a SQL string, deep nesting, 2,000 strings in one file, an
    # unclosed literal, a declared encoding the bytes do not follow.
    app = root / "app"
    _write(app / "surrogate.py", 'def f(cur):\n    cur.execute("UPDATE \\"t\\ud800\\" SET n = '
                                 'n + 1 WHERE id = 1")\n    cur.execute("SELECT \'\\udcff\'")\n')
    _write(app / "deep.py", "def f(cur):\n    cur.execute(" + "(" * 200 + "'SELECT 1'"
           + ")" * 200 + ")\n    x = " + "[" * 1000 + "]" * 1000 + "\n")
    _write(app / "strings.py", "def f(cur):\n" + "".join(
        f"    cur.execute('UPDATE t{i} SET n = n + 1 WHERE id = 1')\n" for i in range(2_000)))
    _write(app / "unclosed.py", "cur.execute('''UPDATE t SET n = n + 1\n")
    _write(app / "cookie.py", b"# -*- coding: ascii -*-\ncur.execute('SELECT \xc3\xa9')\n")
    # What --fix must leave alone: a read-only file, a hard link, a CRLF migration to fix.
    readonly = root / "migrations" / "V4__readonly.sql"
    _write(readonly, "ALTER TABLE orders ADD COLUMN r int;\n")
    readonly.chmod(0o444)
    os.link(root / "migrations" / "V3__crlf.sql", root.parent / f"{root.name}-hardlink.sql")


def pglint(*args: str, cwd: Path, stdin: bytes | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "PGLINT_ALL_MIGRATIONS": "1"}
    result = subprocess.run([sys.executable, "-m", "pglint", *args], cwd=cwd, input=stdin,
                            capture_output=True, env=env, timeout=timeout)
    assert_clean(result, args)
    return result


def assert_clean(result: subprocess.CompletedProcess, args) -> None:
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, (args, stderr[-3000:])
    assert "internal error" not in stderr, (args, stderr[-3000:])
    assert result.returncode in (0, 1, 2), (args, result.returncode, stderr[-3000:])


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile") / "project"
    build(root)
    return root


def output_formats(cwd: Path) -> list[str]:
    """Every --output-format `pglint check --help` offers."""
    help_text = pglint("check", "--help", cwd=cwd).stdout.decode()
    choices = re.search(r"--output-format \[([a-z|]+)\]", help_text)
    assert choices, help_text
    return choices.group(1).split("|")


def parse(output_format: str, text: str) -> None:
    """A machine format's output parses (and holds findings)."""
    if output_format in ("json", "sarif", "gitlab"):
        data = json.loads(text)
        results = data["runs"][0]["results"] if output_format == "sarif" else data
        assert results
    elif output_format == "junit":
        assert int(ET.fromstring(text).get("failures")) > 0
    elif output_format == "github":
        assert all(line.startswith("::") for line in text.splitlines())


def test_every_output_format(tree: Path, tmp_path: Path) -> None:
    formats = output_formats(tree)
    assert {"full", "concise", "json", "sarif", "github", "gitlab", "junit",
            "markdown"} <= set(formats)
    # The first run lints (and fills the cache); the others report from the cache, as a second
    # run over an unchanged tree does.
    cache = str(tmp_path / "cache")
    outputs = {}
    for f in formats:
        result = pglint("check", "--cache-dir", cache, "--output-format", f, ".", cwd=tree)
        assert result.returncode == 1, (f, result.stderr.decode("utf-8", "replace")[-2000:])
        outputs[f] = result.stdout.decode("utf-8")  # whatever the files' names: UTF-8
        parse(f, outputs[f])
    # The special files are findings, not hangs or errors; the healthy file is linted.
    concise = outputs["concise"]
    for name in ("fifo.sql", "zero.sql", "dangling.sql", "loop.sql", "binary.sql",
                 "late_nul.sql", "subqueries.sql", "terms.sql", "blocks.sql"):
        assert f"queries/{name}:1:1: PGL901" in concise or \
            re.search(rf"queries/{name}:\d+:\d+: PGL901", concise), name
    assert "queries/hot.sql:1:1: PGL101" in concise
    assert "queries/latin\\xe9\\xff.sql:1:1: PGL901" in concise


@pytest.mark.parametrize("args", [
    ("--statistics", "--output-format", "json", "--select", "PGL1"), ("--show-files",),
    ("--show-settings",), ("--diff", "--unsafe-fixes", "-q"),
])
def test_other_modes(tree: Path, args: tuple[str, ...]) -> None:
    pglint("check", "--no-cache", *args, ".", cwd=tree)


def test_cache_written_tampered_and_read(tree: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = pglint("check", "--cache-dir", str(cache), "--output-format", "json", ".", cwd=tree)
    for entry in cache.glob("run-*.json"):
        data = json.loads(entry.read_text(encoding="utf-8"))
        for i, item in enumerate(data.get("findings", [])):
            item[("start", "row", "message", "fix", "path")[i % 5]] = [{"x": None}]
        entry.write_text(json.dumps(data), encoding="utf-8")
    again = pglint("check", "--cache-dir", str(cache), "--output-format", "json", ".", cwd=tree)
    assert json.loads(again.stdout) == json.loads(first.stdout)


def test_fix_and_unsafe_fixes_on_a_copy(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "project"
    build(copy)
    (copy / "queries" / "fifo.sql").unlink()  # and a FIFO where the file was: still no hang
    os.mkfifo(copy / "queries" / "fifo.sql")
    before = {p: p.read_bytes() for p in copy.rglob("*.sql") if p.is_file() and
              not p.is_symlink() and p.stat().st_size < 10_000}
    # The read-only and the hard-linked files are not fixed: exit 2, and a second pass has
    # no fix left to apply.
    for args, status in ((("--fix", "--unsafe-fixes"), 2), (("--fix-only", "--show-fixes"), 0)):
        result = pglint("check", "--no-cache", *args, ".", cwd=copy)
        assert result.returncode == status, (args, result.stderr)
    # Fixed SQL that parsed still parses; what --fix may not write is unchanged.
    assert (copy / "migrations" / "V4__readonly.sql").read_bytes() == \
        before[copy / "migrations" / "V4__readonly.sql"]
    assert (copy / "migrations" / "V3__crlf.sql").read_bytes() == \
        before[copy / "migrations" / "V3__crlf.sql"]  # hard-linked
    assert not list(copy.rglob("*.pglint.tmp")) and not list(copy.rglob("*.tmp"))
    assert b"SET LOCAL lock_timeout" in (copy / "migrations" / "V2__templated.sql").read_bytes()
    compile((copy / "app" / "literals.py").read_bytes(), "literals.py", "exec")


def test_project_mode_as_pre_commit_runs_it(tree: Path) -> None:
    named = [str(p.relative_to(tree)) for p in sorted((tree / "queries").iterdir())
             if not p.is_dir()] + ["app/surrogate.py", "migrations/V2__templated.sql"]
    # pre-commit passes names after `--`: a name starting with a dash is a name.
    result = pglint("check", "--no-cache", "--project", "--output-format", "concise", "--",
                    *named, cwd=tree)
    assert result.returncode == 1, result.stderr
    out = result.stdout.decode("utf-8")
    assert "queries/fifo.sql:1:1: PGL901" in out and "queries/-rf.sql:1:1: PGL901" in out


@pytest.mark.parametrize("name,data", [
    ("x.sql", b"\xff\xfe\x00SELECT"),
    ("migrations/V9__x.sql", "SELECT '\x1b[2J\u202e';\n".encode() + HOT.encode() * 3),
    ("x.sql", ("SELECT " + "(SELECT " * 150 + "1" + ")" * 150 + ";").encode()),
    ("app/x.py", b"cur.execute('UPDATE t SET n = n + 1 WHERE id = 1'\n"),
])
def test_standard_input(tree: Path, name: str, data: bytes) -> None:
    pglint("check", "--no-cache", "--fix", "--unsafe-fixes", "--stdin-filename", name, "-",
           cwd=tree, stdin=data)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_broken_configuration(tmp_path: Path, config: str) -> None:
    _write(tmp_path / "queries" / "hot.sql", HOT)
    _write(tmp_path / "nested" / config.strip(), CONFIGS[config])
    _write(tmp_path / "nested" / "q.sql", HOT)
    # The broken file is found while linting, not where the run starts.
    result = pglint("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2, (config, result.stdout, result.stderr)
    assert result.stderr.decode().startswith("pglint: error: "), result.stderr


def test_sqlfluff_plugin(tree: Path) -> None:
    pytest.importorskip("sqlfluff")
    files = sorted(str(p.relative_to(tree)) for p in (tree / "queries").iterdir()
                   if p.is_file() and not p.is_symlink() and p.suffix == ".sql"
                   and p.stat().st_size < 20_000 and "\n" not in p.name)
    files += ["migrations/V2__templated.sql", "migrations/V3__crlf.sql"]
    assert len(files) > 15
    result = subprocess.run(
        [sys.executable, "-m", "sqlfluff", "lint", "--dialect", "postgres", "--rules", "pglint",
         "--format", "json", "--", *files], cwd=tree, capture_output=True, timeout=300,
        env={**os.environ, "NO_COLOR": "1"})
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "pglint" not in stderr, stderr[-3000:]
    assert result.returncode in (0, 1), stderr[-3000:]
    violations = [v for f in json.loads(result.stdout) for v in f["violations"]]
    assert not [v for v in violations if "unexpected exception" in v["description"].lower()]
    assert any(v["code"] == "PGL101" for v in violations)


def test_bounded_work() -> None:
    """A file of `/*` is parsed once by pglast (the whole file is the one broken statement);
    40,000 strings in a Python file are located in linear time (counting lines per string was
    quadratic: 28 s)."""
    import time

    import pglint.sql.parse as parse
    from pglint.python import extract_sql

    calls: list[int] = []
    real = parse.pg.parse_sql_json

    def counted(text: str) -> str:
        calls.append(len(text))
        return real(text)

    parse.pg.parse_sql_json = counted
    try:
        parsed = parse.parse_sql("/*" * 2000)
    finally:
        parse.pg.parse_sql_json = real
    assert calls == [4000] and "unterminated" in parsed.errors[0].message
    source = "def f(cur):\n" + "".join(f'    cur.execute("SELECT {i}")\n' for i in range(40_000))
    started = time.process_time()
    found = extract_sql(source)
    assert len(found) == 40_000 and found[-1].line == 40_001
    assert time.process_time() - started < 15
