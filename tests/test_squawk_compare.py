"""benchmarks/ecosystem/squawk_compare.py without the corpus: squawk's JSON read right, and the
findings on a small project classified as the README says (same-file table, applied migration,
existing table in a new migration, down migration, schema dump), matched with pglint's.

squawk runs for real when it is installed (`SQUAWK=/path/to/squawk` or `squawk` on PATH);
otherwise the same assertions run on squawk's output for this project, recorded with squawk
2.70.0: the test id says which (`[squawk]` or `[recorded]`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks" / "ecosystem"))

import squawk_compare as sc  # noqa: E402
from check import pglint_command  # noqa: E402

SQUAWK = os.environ.get("SQUAWK") or shutil.which("squawk")

PROJECT = {
    "migrations/0001_accounts.up.sql":
        "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n"
        "CREATE INDEX accounts_email_idx ON accounts (email);\n",
    "migrations/0002_orders.up.sql":
        "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint);\n"
        "CREATE INDEX orders_account_idx ON accounts (id);\n"
        # The project builds an index on `orders` concurrently: it knows the table is big.
        "CREATE INDEX CONCURRENTLY orders_id_account_idx ON orders (id, account_id);\n",
    "migrations/0003_orders_index.up.sql":
        "SET lock_timeout = '5s';\n"
        "CREATE INDEX orders_account_id_idx ON orders (account_id);\n",
    "migrations/0004_gadgets.up.sql": "CREATE TABLE gadgets (id bigint PRIMARY KEY, name text);\n",
    "migrations/0005_gadget_index.up.sql":
        "SET lock_timeout = '5s';\n"
        "CREATE INDEX gadgets_name_idx ON gadgets (name);\n",
    "migrations/0005_gadget_index.down.sql": "DROP INDEX gadgets_name_idx;\n",
    "db/schema.sql":
        "--\n-- PostgreSQL database dump\n--\n\n"
        "CREATE TABLE public.accounts (id bigint NOT NULL, email text);\n"
        "CREATE INDEX accounts_email_idx ON public.accounts USING btree (email);\n",
}

# squawk 2.70.0 --reporter json --pg-version=14.0 on PROJECT (its lock rules' findings; lines
# count from 0, as squawk writes them).
_LOCK = "Missing `set lock_timeout` before potentially slow SHARE lock operations"
_STATEMENT = "Missing `set statement_timeout` before potentially slow operations"
_INDEX = "During normal index creation, table updates are blocked, but reads are still allowed."
RECORDED = json.dumps(
    [{"file": path, "line": line, "column": 0, "level": "Warning", "message": message,
      "help": None, "rule_name": rule, "column_end": 0, "line_end": line}
     for path, line, rule, message in (
         ("db/schema.sql", 5, "require-concurrent-index-creation", _INDEX),
         ("db/schema.sql", 5, "require-lock-timeout", _LOCK),
         ("db/schema.sql", 5, "require-statement-timeout", _STATEMENT),
         ("migrations/0001_accounts.up.sql", 1, "require-concurrent-index-creation", _INDEX),
         ("migrations/0001_accounts.up.sql", 1, "require-lock-timeout", _LOCK),
         ("migrations/0001_accounts.up.sql", 1, "require-statement-timeout", _STATEMENT),
         ("migrations/0002_orders.up.sql", 1, "require-concurrent-index-creation", _INDEX),
         ("migrations/0002_orders.up.sql", 1, "require-lock-timeout", _LOCK),
         ("migrations/0002_orders.up.sql", 1, "require-statement-timeout", _STATEMENT),
         ("migrations/0003_orders_index.up.sql", 1, "require-concurrent-index-creation",
          _INDEX),
         ("migrations/0003_orders_index.up.sql", 1, "require-statement-timeout", _STATEMENT),
         ("migrations/0005_gadget_index.down.sql", 0, "require-concurrent-index-deletion",
          "A normal `DROP INDEX` acquires an `ACCESS EXCLUSIVE` lock on the table."),
         ("migrations/0005_gadget_index.up.sql", 1, "require-concurrent-index-creation",
          _INDEX),
         ("migrations/0005_gadget_index.up.sql", 1, "require-statement-timeout", _STATEMENT),
     )])


def test_parse_squawk_json_counts_lines_from_one_and_keeps_paths_relative(tmp_path):
    text = json.dumps([
        {"file": "migrations/0001.sql", "line": 0, "column": 4, "level": "Warning",
         "message": "m", "help": None, "rule_name": "require-concurrent-index-creation"},
        {"file": str(tmp_path / "db" / "schema.sql"), "line": 11, "column": 0,
         "level": "Error", "message": "expected command", "help": None,
         "rule_name": "syntax-error"},
    ])
    found = sc.parse_squawk_json(text, tmp_path)
    assert [(f.path, f.line, f.rule) for f in found] == [
        ("migrations/0001.sql", 1, "require-concurrent-index-creation"),
        ("db/schema.sql", 12, "syntax-error")]
    assert sc.parse_squawk_json("[]") == []


def test_squawk_names_map_to_pglint_codes():
    mapping = sc.squawk_map()
    assert mapping["require-concurrent-index-creation"] == ("PGL501",)
    assert mapping["constraint-missing-not-valid"] == ("PGL505", "PGL506")
    # squawk 2.x's name for the lock half of require-timeout-settings; pglint does not ask
    # for a statement_timeout.
    assert mapping["require-lock-timeout"] == ("PGL301",)
    assert "require-statement-timeout" not in mapping
    listed = {rule for _, rules in sc.families(mapping) for rule in rules}
    assert set(mapping) <= listed


def test_squawk_files_are_migrations_dumps_and_their_folders_sql():
    roles = {"m/1.up.sql": ("migration", "new"), "m/1.down.sql": ("down-migration", ""),
             "m/seed.sql": ("test", ""), "db/schema.sql": ("schema-dump", ""),
             "q/users.sql": ("application", ""), "m/1.sqlite.sql": ("other-dialect", ""),
             "app/models.py": ("application", "")}
    assert sc.squawk_files(roles) == ["m/1.up.sql", "m/1.down.sql", "m/seed.sql",
                                      "db/schema.sql"]


@pytest.mark.parametrize("source", ["squawk" if SQUAWK else "recorded"])
def test_classification_of_a_small_project(tmp_path, source):
    for path, text in PROJECT.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text, encoding="utf-8")
    result = sc.compare_repo("example/project", tmp_path, SQUAWK, pglint_command(None),
                             recent=3, pg_version=14,
                             recorded=None if source == "squawk" else RECORDED)
    assert result.squawk_files == len(PROJECT)
    found = {(f.path.rpartition("/")[2], f.line, f.rule): f for f in result.squawk}
    index = "require-concurrent-index-creation"
    # The index of a table made two lines earlier blocks nobody.
    assert found["0001_accounts.up.sql", 2, index].kind == sc.SAME_FILE
    # 0001 and 0002 have run (the last 3 of 5 are new).
    assert found["0002_orders.up.sql", 2, index].kind == sc.APPLIED
    # An existing table in a new migration: pglint reports it too.
    reported = found["0003_orders_index.up.sql", 2, index]
    assert (reported.kind, reported.codes, reported.covered) == (sc.EXISTING_NEW, ("PGL501",),
                                                                 True)
    # gadgets is made by 0004, new in the same view: pglint is silent, and says why.
    gap = found["0005_gadget_index.up.sql", 2, index]
    assert (gap.kind, gap.covered, gap.gap_kind) == (sc.EXISTING_NEW, False,
                                                     "table made by a new migration")
    assert "0004_gadgets.up.sql" in gap.gap
    down = found["0005_gadget_index.down.sql", 1, "require-concurrent-index-deletion"]
    assert (down.kind, down.why_class) == (sc.NOT_MIGRATION, "down-migration")
    dump = found["schema.sql", 6, index]
    assert (dump.kind, dump.why_class) == (sc.NOT_MIGRATION, "schema-dump")
    assert found["0003_orders_index.up.sql", 2, "require-statement-timeout"].codes == ()
    assert result.pglint_recent == {"PGL501": 1}
    assert not result.pglint_only  # squawk reports the same statement
    # Every migration new: the tables of earlier files count as existing, and only `orders`
    # is known to be big (0002's plain build on `accounts` is not reported).
    assert result.pglint_all_new["PGL501"] == 1
    text = sc.render([result], {"command": "c", "commit": "x", "pglint": "p", "squawk": "s",
                                "pg_version": "14"}, 3)
    assert "| `require-concurrent-index-creation` | PGL501 | 5 | 1 | 1 | 1 | 2 | 1 |" in text
    assert "`example/project:migrations/0005_gadget_index.up.sql:2` " \
           "`require-concurrent-index-creation`" in text


def test_gap_reasons_read_from_the_file():
    facts = sc.file_facts(
        "ALTER TABLE reaction ADD COLUMN memo_id bigint;\n"
        "ALTER TABLE reaction ADD CONSTRAINT reaction_memo_fk FOREIGN KEY (memo_id)\n"
        "    REFERENCES memo (id);\n"
        "CREATE INDEX CONCURRENTLY reaction_memo_idx ON reaction (memo_id);\n"
        "TRUNCATE memo;\n"
        "COMMENT ON TABLE memo IS 'notes';\n"
        "ALTER TABLE \"Memo\" ADD CONSTRAINT memo_check CHECK (id > 0);\n")
    assert [(s.first, s.last, s.kind, s.tables, s.concurrent) for s in facts.spans] == [
        (1, 1, "AlterTableStmt", ("reaction",), False),
        (2, 3, "AlterTableStmt", ("reaction",), False),
        (4, 4, "IndexStmt", ("reaction",), True),
        (5, 5, "TruncateStmt", ("memo",), False),
        (6, 6, "CommentStmt", (), False),
        (7, 7, "AlterTableStmt", ("Memo",), False)]
    tables = sc.RepoTables(made_by={"reaction": ("m/1.sql", "applied"),
                                    "memo": ("m/2.sql", "new"),
                                    "Memo": ("m/1.sql", "applied")})

    def why(line: int, rule: str) -> str:
        return sc.gap_reason(sc.SquawkFinding("m/3.sql", line, rule, ""), [], facts, tables)[0]

    assert why(3, "adding-foreign-key-constraint") == \
        "table locked by another statement of the file"
    assert why(4, "require-lock-timeout") == "timeout before a CONCURRENTLY build or drop"
    assert why(5, "require-lock-timeout") == "table made by a new migration"
    assert why(6, "require-lock-timeout") == "timeout before a statement that locks no table"
    # `"Memo"` is a table of its own, made by an applied migration: not `memo`'s history.
    assert why(7, "constraint-missing-not-valid") == "different judgement: " \
        "constraint-missing-not-valid"
