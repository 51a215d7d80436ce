"""The per-file facts cache: a run that reports on part of a project (`--project FILE`,
`--diff-base`) parses the files in scope only, and finds exactly what a whole run finds there."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from pglint import engine
from pglint.config import find_config, load_settings
from pglint.facts_cache import FactsError, from_json, to_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _settings(root: Path):
    return load_settings(find_config(root)).with_overrides(root=root, all_migrations=True)


def _by_path(findings) -> dict[str, list[tuple]]:
    """Findings by path from the project's root (the runs name files by absolute path)."""
    grouped: dict[str, list[tuple]] = defaultdict(list)
    for f in findings:
        grouped[_rel(f.path)].append((f.code, f.row, f.column, f.message, f.fix.title if f.fix else ""))
    return {path: sorted(items) for path, items in grouped.items()}


def _rel(path: str) -> str:
    return path.split("/shop/", 1)[-1]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    return root


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """The display paths of the files the engine parses."""
    parsed: list[str] = []
    real = engine.load

    def counting(candidate, *args):
        parsed.append(_rel(candidate.display))
        return real(candidate, *args)

    monkeypatch.setattr(engine, "load", counting)
    return parsed


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".sql", ".py")
                  and ".pglint_cache" not in p.parts)


def _scoped(root: Path, settings, cache: Path, file: Path):
    return engine.lint([root], settings, cache, only=lambda c: c.path.resolve() == file.resolve())


def test_each_file_alone_finds_what_the_whole_run_finds_there_parsing_only_that_file(
        shop: Path, tmp_path: Path, loads: list[str]) -> None:
    settings = _settings(shop)
    whole = _by_path(engine.lint([shop], settings).findings)
    assert sum(map(len, whole.values())) >= 20  # the fixture's findings, spread over files
    cache = tmp_path / "cache"
    engine.lint([shop], settings, cache, only=lambda c: False)  # facts of every file, cached
    assert list(cache.glob("facts-*.json"))
    files = _files(shop)
    for file in files:
        loads.clear()
        result = _scoped(shop, settings, cache, file)
        display = str(file.relative_to(shop))
        assert loads == [display], file
        assert _by_path(result.findings).get(display, []) == whole.get(display, []), display
        assert set(_by_path(result.findings)) <= {display}


def test_an_edited_file_is_parsed_again_and_its_new_facts_reach_the_other_files(
        shop: Path, tmp_path: Path, loads: list[str]) -> None:
    settings = _settings(shop)
    cache = tmp_path / "cache"
    engine.lint([shop], settings, cache, only=lambda c: False)
    migration = shop / "migrations" / "V20__sessions.sql"
    queries = shop / "queries" / "sessions.sql"
    before = _by_path(_scoped(shop, settings, cache, migration).findings)
    assert "PGL105" in {code for code, *_ in before["migrations/V20__sessions.sql"]}
    # The heartbeat that made last_seen_at churn is gone: nothing keeps its index from HOT.
    queries.write_text(queries.read_text().replace(
        "UPDATE user_sessions SET last_seen_at = now() WHERE session_id = $1;", "SELECT 1;"))
    loads.clear()
    after = _scoped(shop, settings, cache, migration)
    assert sorted(loads) == ["migrations/V20__sessions.sql", "queries/sessions.sql"]
    whole = _by_path(engine.lint([shop], settings).findings)
    assert _by_path(after.findings) == {k: v for k, v in whole.items()
                                        if k == "migrations/V20__sessions.sql"}
    assert "PGL105" not in {code for code, *_ in
                            _by_path(after.findings).get("migrations/V20__sessions.sql", [])}


def test_a_tampered_facts_entry_is_a_miss_not_a_crash_or_a_different_answer(
        shop: Path, tmp_path: Path) -> None:
    settings = _settings(shop)
    cache = tmp_path / "cache"
    engine.lint([shop], settings, cache, only=lambda c: False)
    [entry] = cache.glob("facts-*.json")
    data = json.loads(entry.read_text())
    query = shop / "queries" / "page_hits.sql"
    whole = _by_path(engine.lint([shop], settings).findings).get("queries/page_hits.sql", [])
    for tampered in ({"t": [1, 2, 3]}, {"t": [{"t": [["create_table", 7]]}, [], {"d": {}}]},
                     "text", {"x": 1}, {"t": [[], [{"t": [None, 5, {"t": ["a"]}]}], {"d": {}}]}):
        entry.write_text(json.dumps({"key": data["key"],
                                     "files": {k: tampered for k in data["files"]}}))
        result = _scoped(shop, settings, cache, query)
        assert not result.internal_errors
        assert _by_path(result.findings).get("queries/page_hits.sql", []) == whole
    entry.write_text("{not json")
    assert _by_path(_scoped(shop, settings, cache, query).findings).get(
        "queries/page_hits.sql", []) == whole


def test_the_json_codec_gives_back_the_same_types_and_stores_nothing_else() -> None:
    value = ([("a", 1, None, 2.5, True)], {"k": frozenset({"x"})}, {(1, "b"): ["c"]})
    assert from_json(json.loads(json.dumps(to_json(value)))) == value
    assert type(from_json(to_json(value))[0][0]) is tuple
    with pytest.raises(FactsError):
        to_json(object())
    with pytest.raises(FactsError):
        to_json({1, 2})
    for bad in ({"t": 1}, {"zz": []}, {"t": [], "f": []}, {"m": [[1]]}):
        with pytest.raises(FactsError):
            from_json(bad)


def test_project_option_after_an_edit_reports_what_a_whole_run_reports(shop: Path,
                                                                       tmp_path: Path) -> None:
    import subprocess
    import sys

    views = shop / "app" / "shop" / "views.py"
    args = [sys.executable, "-m", "pglint", "check", "--select", "ALL", "--all-migrations",
            "--output-format", "json", "--cache-dir", str(tmp_path / "cache")]

    def findings(*extra: str) -> list[tuple]:
        out = subprocess.run(args + list(extra), cwd=shop, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode in (0, 1), out.stderr
        return sorted((f["code"], f["filename"], f["location"]["row"], f["message"]) for f in
                      json.loads(out.stdout) if f["filename"].endswith("views.py"))

    first = findings("--project", "app/shop/views.py")
    assert len(first) >= 4
    views.write_text(views.read_text() + "\n# edited\n")
    assert findings("--project", "app/shop/views.py") == first
    assert findings(".") == first


def test_code_that_shows_another_database_backend():
    from pglint.facts import _names_other_backend

    assert _names_other_backend('if op.get_bind().dialect.name == "sqlite":\n')
    assert _names_other_backend("if schema_editor.connection.vendor != 'postgresql':\n")
    assert _names_other_backend('ENGINE = "django.db.backends.sqlite3"\n')
    assert _names_other_backend('URL = "mysql+pymysql://u@h/db"\n')
    assert not _names_other_backend('ENGINE = "django.db.backends.postgresql"\n'
                                    "# see https://example.org/mysql-vs-postgres\n")
