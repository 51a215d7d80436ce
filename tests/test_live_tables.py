"""`pglint tables` on a real PostgreSQL: the sizes it reads, the file it writes, and the lock
rules judging by that file (`tables-file`) as by hand-written hints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.test_cli import run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# A big table (20,000 rows), a small one, an empty one, one never analyzed, a partitioned table
# whose rows live in its partitions, and a name two schemas share.
_SHOP = """
CREATE TABLE orders (order_id bigint PRIMARY KEY, total_cents int NOT NULL);
INSERT INTO orders SELECT g, g % 500 FROM generate_series(1, 20000) g;
UPDATE orders SET total_cents = 0 WHERE order_id <= 10;
CREATE TABLE settings (k text PRIMARY KEY, v text);
INSERT INTO settings VALUES ('a', '1'), ('b', '2'), ('c', '3');
CREATE TABLE empty_table (id int);
CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO events SELECT g, DATE '2025-03-01' + (g % 600) FROM generate_series(1, 12000) g;
CREATE SCHEMA archive;
CREATE TABLE archive.orders (order_id bigint);
CREATE TABLE archive."Odd ""q"" name" (id int);
-- An inheritance parent (a TimescaleDB hypertable is one): its rows live in its children.
CREATE TABLE measurements (id bigint, at date);
CREATE TABLE measurements_2025 () INHERITS (measurements);
INSERT INTO measurements_2025 SELECT g, DATE '2025-01-01' FROM generate_series(1, 4000) g;
-- Two names that differ only in case: configuration keys cannot tell them apart.
CREATE TABLE notes (id int);
CREATE TABLE "Notes" (id int);
-- Analyzed while empty, filled since: its estimate (0) is older than its rows.
CREATE TABLE filled_later (id int);
ANALYZE filled_later;
INSERT INTO filled_later SELECT generate_series(1, 5000);
ANALYZE orders; ANALYZE settings; ANALYZE events_2025; ANALYZE events_2026; ANALYZE archive.orders;
ANALYZE measurements; ANALYZE measurements_2025;
"""


class Shop(NamedTuple):
    database: str
    uri: str


@pytest.fixture(scope="module")
def shop(postgres):
    with postgres.database() as database:
        created = postgres.psql(database, _SHOP)
        assert created.returncode == 0, created.stderr
        # Never analyzed: only the statistics collector knows its rows.
        late = postgres.psql(database, "CREATE TABLE never_analyzed (id int);\n"
                                       "INSERT INTO never_analyzed SELECT generate_series(1, 7);\n")
        assert late.returncode == 0, late.stderr
        # ... and its counters reset (a crash, pg_stat_reset): no live count either.
        reset = postgres.psql(database, "SELECT pg_stat_reset_single_table_counters("
                                        "'filled_later'::regclass);\n")
        assert reset.returncode == 0, reset.stderr
        yield Shop(database, postgres.uri(database))


def _tables(text: str) -> dict:
    return tomllib.loads(text)["tables"]


def test_writes_each_tables_size_from_the_catalog(shop, tmp_path):
    result = run("tables", "--database-url", shop.uri, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Wrote the sizes of " in result.stdout
    assert 'tables-file = "pglint-tables.toml"' in result.stdout
    text = (tmp_path / "pglint-tables.toml").read_text(encoding="utf-8")
    tables = _tables(text)
    # Every table keyed with its schema (a migration's bare `orders` finds `public.orders`).
    assert tables["public.orders"] == {"rows": 20_000}
    assert tables["archive.orders"] == {"rows": 0}
    assert tables["public.settings"] == {"rows": 3}
    assert tables["public.empty_table"] == {"rows": 0}
    assert tables["public.never_analyzed"] == {"rows": 7}  # the collector's live rows
    # A partitioned table holds no rows itself: its partitions' sum.
    events = {k: v["rows"] for k, v in tables.items() if k.startswith("public.events")}
    assert events == {"public.events": 12_000, "public.events_2025": 6_120,
                      "public.events_2026": 5_880}
    assert tables['archive.Odd "q" name'] == {"rows": 0}
    assert tables["public.measurements"] == {"rows": 4_000}  # its own (none) and its child's
    # Not a guess: a size that nothing says for certain, and names the keys cannot tell apart.
    assert "public.filled_later" not in tables
    assert '# "public.filled_later": size unknown' in text
    assert "public.notes" not in tables and "public.Notes" not in tables
    assert '# "public.Notes": left out' in text and '# "public.notes": left out' in text
    assert "pg_class" not in tables and "pg_statistic" not in tables  # no system tables
    assert 'database "pglint_test_' in text.splitlines()[0]
    # The counters are comments for the reader, not hints.
    orders_line = next(line for line in text.splitlines() if line.startswith('"public.orders"'))
    assert "20,000 inserts, 10 updates" in orders_line
    assert "rows = 20_000" in orders_line


def test_one_schema_and_standard_output(shop, tmp_path):
    result = run("tables", "--database-url", shop.uri, "--schema", "archive", "-o", "-",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(_tables(result.stdout)) == {"archive.orders", 'archive.Odd "q" name'}
    assert not (tmp_path / "pglint-tables.toml").exists()
    assert result.stderr == ""
    # Schema names are case-sensitive: a schema that matches nothing is said, not hidden.
    none = run("tables", "--database-url", shop.uri, "--schema", "ARCHIVE", "-o", "-",
               cwd=tmp_path)
    assert none.returncode == 0 and "no table in schema ARCHIVE" in none.stderr
    assert _tables(none.stdout) == {}


def test_a_table_a_migration_holds_locked_does_not_stop_the_read(shop, tmp_path):
    """Nothing the command asks waits for a table's lock but the file size of a table with
    no estimate, and that one gives up after a moment: the locked table's size is unknown."""
    import psycopg

    with psycopg.connect(shop.uri) as holder:
        holder.execute("LOCK TABLE orders, never_analyzed IN ACCESS EXCLUSIVE MODE")
        result = run("tables", "--database-url", shop.uri, "-o", "-", cwd=tmp_path)
        holder.rollback()
    assert result.returncode == 0, result.stderr
    tables = _tables(result.stdout)
    assert tables["public.orders"] == {"rows": 20_000}  # from the catalog, no lock needed
    assert tables["public.never_analyzed"] == {"rows": 7}  # the collector's count
    assert tables["public.empty_table"] == {"rows": 0}


def test_database_that_cannot_be_reached_is_one_line_and_exit_2(postgres, tmp_path):
    result = run("tables", "--database-url", postgres.uri("no_such_database"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("pglint: error: cannot connect: ")
    assert "no_such_database" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "pglint-tables.toml").exists()
    # libpq quotes a URL it cannot parse: the password is not shown.
    result = run("tables", "--database-url", "postgresql://u:s3cret@[::1/db", cwd=tmp_path)
    assert result.returncode == 2 and "s3cret" not in result.stderr, result.stderr
    assert result.stderr.startswith("pglint: error: cannot connect: ")


def test_reads_in_a_read_only_transaction(shop, postgres, tmp_path, monkeypatch):
    """The connection pglint opens can write nothing: the read-only transaction refuses it."""
    from pglint import live_tables

    monkeypatch.setattr(live_tables, "_CHILDREN",
                        "INSERT INTO settings VALUES ('z', 'written') RETURNING 1, 2")
    with pytest.raises(live_tables.LiveDatabaseError, match="read-only transaction"):
        live_tables.read_tables(shop.uri)
    left = postgres.psql(shop.database, "SELECT count(*) FROM settings WHERE k = 'z';", "-A", "-t")
    assert left.stdout.strip() == "0"


# A project that migrates a live database (it sets lock_timeout), whose application reads
# both tables; the second migration adds a check to each.
_PROJECT = {
    "migrations/V1__init.sql": "SET lock_timeout = '5s';\n"
                               "CREATE TABLE orders (order_id bigint PRIMARY KEY,"
                               " total_cents int NOT NULL);\n"
                               "CREATE TABLE settings (k text PRIMARY KEY, v text);\n",
    "migrations/V2__checks.sql": "SET lock_timeout = '5s';\n"
                                 "ALTER TABLE orders ADD CONSTRAINT orders_total_check"
                                 " CHECK (total_cents >= 0);\n"
                                 "ALTER TABLE settings ADD CONSTRAINT settings_k_check"
                                 " CHECK (k <> '');\n",
    "queries/shop.sql": "SELECT total_cents FROM orders WHERE order_id = $1;\n"
                        "SELECT v FROM settings WHERE k = $1;\n",
}


def _project(root: Path, config: str) -> None:
    for rel, text in {**_PROJECT, "pglint.toml": config}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def _checks_reported(root: Path) -> list[str]:
    result = run("check", "--no-cache", "--output-format", "json", ".", cwd=root)
    assert result.returncode in (0, 1), result.stderr
    return sorted(f["message"].split(" ")[0] + f" {f['code']} line {f['location']['row']}"
                  for f in json.loads(result.stdout) if f["code"] == "PGL506")


def _messages(root: Path) -> list[str]:
    result = run("check", "--no-cache", "--output-format", "json", ".", cwd=root)
    return [f["message"] for f in json.loads(result.stdout) if f["code"] == "PGL506"]


def test_lock_rules_judge_by_the_measured_sizes(shop, tmp_path):
    _project(tmp_path, 'extend-select = ["PGL506"]\n')
    assert _checks_reported(tmp_path) == []  # nothing says either table is big
    written = run("tables", "--database-url", shop.uri, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    _project(tmp_path, 'extend-select = ["PGL506"]\ntables-file = "pglint-tables.toml"\n')
    reported = _checks_reported(tmp_path)
    assert len(reported) == 1 and reported[0].endswith("PGL506 line 2")  # orders, not settings
    message = _messages(tmp_path)[0]
    assert "(20,000 rows, per pglint-tables.toml)" in message, message
    # A hint written by hand wins over the measured size.
    _project(tmp_path, 'extend-select = ["PGL506"]\ntables-file = "pglint-tables.toml"\n'
                       '[tables.orders]\nrows = 40\n')
    assert _checks_reported(tmp_path) == []


def test_tables_file_errors_are_configuration_errors(tmp_path):
    _project(tmp_path, 'tables-file = "missing.toml"\n')
    result = run("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "tables-file not found" in result.stderr and "pglint tables" in result.stderr
    (tmp_path / "sizes.toml").write_text("[tables]\norders = { rows = -3 }\n", encoding="utf-8")
    _project(tmp_path, 'tables-file = "sizes.toml"\n')
    result = run("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2 and "rows must be a whole number" in result.stderr
    assert "sizes.toml: tables.orders.rows" in result.stderr  # the file at fault is named
    (tmp_path / "sizes.toml").write_text("[tabels]\n", encoding="utf-8")
    result = run("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2 and "did you mean `tables`" in result.stderr
    assert "sizes.toml: unknown key `tabels`" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_psycopg_it_says_what_to_install(tmp_path):
    import subprocess

    code = "import sys; sys.modules['psycopg'] = None; from pglint.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "tables", "-o", "-"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("pglint: error: reading a database needs psycopg: "
                                     "pip install 'pglint[database]'")


def test_the_file_reads_back_whatever_the_names():
    """Any name PostgreSQL allows is a TOML key that reads back; a table never analyzed is
    a comment, not a guess; a partitioned table with a leaf of unknown size is unknown too."""
    from datetime import datetime, timezone

    from pglint.live_tables import DatabaseTables, TableSize, _sizes, render_tables_file

    names = ["a\x7fb", 'say "hi"', "back\\slash", "tab\there", "ünï", "line\nbreak"]
    tables = tuple(TableSize("public", name, i * 1000, 5, 3, 1, 0) for i, name in enumerate(names))
    rows = [  # (oid, schema, name, kind, persistence, reltuples, live, ins, upd, hot, del)
        (1, "s", "parent", "p", "p", -1.0, None, None, None, None, None),
        (2, "s", "leaf_known", "r", "p", 500.0, 500, 500, 0, 0, 0),
        (3, "s", "leaf_unknown", "r", "p", -1.0, None, None, None, None, None),
    ]
    measured = {t.name: t.rows for t in _sizes(rows, [(1, 2), (1, 3)], ())}
    assert measured == {"parent": None, "leaf_known": 500, "leaf_unknown": None}
    read = DatabaseTables("db\x7f", "18.1", None, datetime.now(timezone.utc),
                          tables + tuple(t for t in _sizes(rows, [(1, 2), (1, 3)], ())))
    text = render_tables_file(read)
    loaded = tomllib.loads(text)["tables"]
    assert {name: loaded[f"public.{name}"]["rows"] for name in names} == \
        {name: i * 1000 for i, name in enumerate(names)}
    assert loaded["s.leaf_known"] == {"rows": 500}
    assert "s.parent" not in loaded and "s.leaf_unknown" not in loaded
    assert '# "s.leaf_unknown": size unknown' in text


def test_hand_written_hints_and_the_tables_file_merge_field_by_field(tmp_path):
    """A workload written by hand and a size measured for the same table both hold."""
    from pglint.config import load_settings
    from pglint.registry import catalog

    (tmp_path / "pglint-tables.toml").write_text(
        '[tables]\n"events" = { rows = 9_000_000 }\n"flags" = { rows = 12 }\n',
        encoding="utf-8")
    (tmp_path / "pglint.toml").write_text(
        'tables-file = "pglint-tables.toml"\n[tables]\nevents = "insert-heavy"\n'
        'flags = { rows = 40 }\n', encoding="utf-8")
    settings = load_settings(tmp_path / "pglint.toml", catalog())
    assert settings.tables["events"].workloads == {"insert-heavy"}
    assert (settings.tables["events"].rows, settings.tables["events"].rows_from) == \
        (9_000_000, "pglint-tables.toml")
    assert (settings.tables["flags"].rows, settings.tables["flags"].rows_from) == (40, "")


def test_a_bare_name_finds_public_and_a_qualified_one_only_its_own(tmp_path):
    """The tables file keys tables with their schema: a migration's `users` is `public.users`
    (the default search_path), and `app.users`, which the file does not list, gets no size
    from another schema's table; a hint written by hand for a bare name holds for any."""
    from pglint.config import load_settings
    from pglint.model.project import ProjectModel
    from pglint.registry import catalog

    (tmp_path / "pglint-tables.toml").write_text(
        '[tables]\n"public.users" = { rows = 30_000 }\n', encoding="utf-8")
    (tmp_path / "pglint.toml").write_text('tables-file = "pglint-tables.toml"\n',
                                          encoding="utf-8")
    model = ProjectModel.empty(load_settings(tmp_path / "pglint.toml", catalog()))
    assert model.hint("users").rows == 30_000 and model.hint("public.users").rows == 30_000
    assert model.hint("app.users").rows is None
    (tmp_path / "pglint.toml").write_text('tables-file = "pglint-tables.toml"\n'
                                          '[tables]\nusers = "update-heavy"\n', encoding="utf-8")
    model = ProjectModel.empty(load_settings(tmp_path / "pglint.toml", catalog()))
    assert model.hint("users").rows == 30_000  # the hand-written workload and the measured size
    assert model.hint("users").workloads == {"update-heavy"}
    assert model.hint("app.users").workloads == {"update-heavy"}
    assert model.hint("app.users").rows is None  # not public's size
