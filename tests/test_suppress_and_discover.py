"""Suppression comments, migration discovery and ordering, catalog replay."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import Settings, parse_settings
from pglint.discover import discover

COUNTER = "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home'"


def lint_text(tmp_path: Path, text: str, select=("PGL101", "PGL902")) -> list[tuple[int, str]]:
    path = tmp_path / "queries" / "q.sql"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    settings = parse_settings({"select": list(select)}).with_overrides(root=tmp_path)
    return [(f.row, f.code) for f in engine.lint([tmp_path], settings).findings]


def test_trailing_suppression_covers_its_line(tmp_path):
    assert lint_text(tmp_path, f"{COUNTER}; -- pglint: ignore[PGL101]\n") == []


def test_own_line_suppression_covers_the_whole_next_statement(tmp_path):
    text = "-- pglint: ignore[PGL101]\nUPDATE visit_counters\n  SET count = count + 1\n  WHERE page_id = '/home';\n"
    assert lint_text(tmp_path, text) == []


def test_suppression_does_not_leak_to_later_statements(tmp_path):
    text = f"-- pglint: ignore[PGL101]\n{COUNTER};\n{COUNTER};\n"
    assert lint_text(tmp_path, text) == [(3, "PGL101")]


def test_file_level_and_blanket_suppressions(tmp_path):
    assert lint_text(tmp_path, f"-- pglint: ignore-file[PGL101]\nSELECT 1;\n{COUNTER};\n") == []
    assert lint_text(tmp_path, f"{COUNTER}; /* pglint: ignore */\n") == []


def test_wrong_code_does_not_suppress_and_is_reported_unused(tmp_path):
    found = lint_text(tmp_path, f"{COUNTER}; -- pglint: ignore[PGL102]\n",
                      select=("PGL101", "PGL102", "PGL902"))
    assert sorted(found) == [(1, "PGL101"), (1, "PGL902")]


def test_suppression_inside_a_string_is_not_a_suppression(tmp_path):
    text = f"SELECT '-- pglint: ignore[PGL101]';\n{COUNTER};\n"
    assert lint_text(tmp_path, text) == [(2, "PGL101")]


def _layout(tmp_path: Path, names: list[str]) -> list[str]:
    for name in names:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("SELECT 1;\n", encoding="utf-8")
    settings = Settings(root=tmp_path)
    candidates, errors = discover([tmp_path], settings)
    assert errors == []
    return [(Path(c.path).relative_to(tmp_path).as_posix(), c.kind, c.replay) for c in candidates]


def test_flyway_versions_order_numerically_and_repeatables_last(tmp_path):
    found = _layout(tmp_path, ["db/V10__c.sql", "db/V2__b.sql", "db/V1_1__a.sql",
                               "db/R__views.sql", "db/U2__undo_b.sql", "app/report.sql"])
    assert found == [
        ("db/V1_1__a.sql", "migration", True),
        ("db/V2__b.sql", "migration", True),
        ("db/U2__undo_b.sql", "migration", False),
        ("db/V10__c.sql", "migration", True),
        ("db/R__views.sql", "migration", True),
        ("app/report.sql", "sql", True),
    ]


def test_numbered_timestamped_and_directory_layouts(tmp_path):
    found = _layout(tmp_path, [
        "migrations/20240102000000_second.sql", "migrations/20240101000000_first.sql",
        "diesel/2020-01-01-000000_create/up.sql", "diesel/2020-01-01-000000_create/down.sql",
        "golang/000002_b.up.sql", "golang/000001_a.up.sql", "golang/000001_a.down.sql",
        "queries/by_user.sql",
    ])
    kinds = {path: (kind, replay) for path, kind, replay in found}
    assert kinds["diesel/2020-01-01-000000_create/up.sql"] == ("migration", True)
    assert kinds["diesel/2020-01-01-000000_create/down.sql"] == ("migration", False)
    assert kinds["golang/000001_a.down.sql"] == ("migration", False)
    assert kinds["queries/by_user.sql"] == ("sql", True)
    order = [p for p, kind, _ in found if kind == "migration"]
    assert order.index("migrations/20240101000000_first.sql") < order.index("migrations/20240102000000_second.sql")
    assert order.index("golang/000001_a.up.sql") < order.index("golang/000002_b.up.sql")


def test_excludes_and_directories_named_like_sql_files(tmp_path):
    found = _layout(tmp_path, ["node_modules/x/V1__a.sql", "ok.sql/inner.sql", "z.sql"])
    assert [p for p, _, _ in found] == ["ok.sql/inner.sql", "z.sql"]


def test_catalog_replays_renames_drops_and_options(tmp_path):
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "V1__a.sql").write_text(
        "CREATE TABLE s (id bigserial PRIMARY KEY, seen_at timestamptz DEFAULT now(), n int);\n"
        "CREATE INDEX s_seen ON s (seen_at);\n"
        "CREATE SEQUENCE q CACHE 20;\n", encoding="utf-8")
    (tmp_path / "migrations" / "V2__b.sql").write_text(
        "ALTER TABLE s RENAME TO sessions;\nALTER TABLE sessions RENAME COLUMN n TO hits;\n"
        "ALTER TABLE sessions SET (fillfactor = 80);\nDROP INDEX s_seen;\nALTER SEQUENCE q CACHE 1;\n",
        encoding="utf-8")
    settings = Settings(root=tmp_path)
    result = engine.lint([tmp_path], settings)
    model = engine.build_model(result.files, settings)
    catalog = model.catalog
    assert "s" not in catalog.tables
    table = catalog.tables["sessions"]
    assert set(table.columns) == {"id", "seen_at", "hits"}
    assert table.columns["id"].default == "serial" and table.columns["seen_at"].default == "time"
    assert table.fillfactor == 80
    assert [i.name for i in catalog.indexes_on("sessions")] == ["s_pkey"]
    assert catalog.sequences["q"].cache == 1
    assert catalog.sequences["s_id_seq"].owned_by == ("sessions", "id")


def test_pgbench_scripts_are_told_from_psql_scripts(tmp_path):
    from pglint.discover import detect_kind

    assert detect_kind("sql", "\\set aid random(1, 100000 * :scale)\nSELECT 1;\n") == "pgbench"
    assert detect_kind("sql", "\\set nbranches 1 * :scale\n") == "pgbench"
    assert detect_kind("sql", "\\sleep 10 ms\nSELECT 1;\n") == "pgbench"
    assert detect_kind("sql", "\\set ON_ERROR_STOP on\n\\set x 5\nSELECT :x;\n") == "sql"
    assert detect_kind("migration", "\\set aid random(1, 10)\n") == "migration"
    found = _layout(tmp_path, ["load/hot.pgbench", "load/other.sql"])
    assert ("load/hot.pgbench", "pgbench", True) in found


def test_kind_patterns_from_config(tmp_path):
    for name in ("db/0001_seed.sql", "bench/run.sql"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("SELECT 1;\n", encoding="utf-8")
    settings = parse_settings({"queries": ["db/*_seed.sql"], "pgbench": ["bench/*.sql"]})
    candidates, _ = discover([tmp_path], settings.with_overrides(root=tmp_path))
    kinds = {Path(c.path).relative_to(tmp_path).as_posix(): c.kind for c in candidates}
    assert kinds == {"db/0001_seed.sql": "sql", "bench/run.sql": "pgbench"}


def test_directives_in_any_case(tmp_path):
    # The directives match in any case; so must the quick test for whether a file has any.
    assert lint_text(tmp_path, f"{COUNTER}; -- PGLINT: IGNORE[PGL101]\n") == []
