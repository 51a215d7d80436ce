"""PGL306's suggested depth guard is SQL that PostgreSQL runs: on a schema-qualified table, with
a status enum that has no 'pending', and in a PL/pgSQL body that keeps `RETURNING ... INTO`."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings

SCHEMA = """\
CREATE SCHEMA app;
CREATE TYPE job_status AS ENUM ('todo', 'doing', 'failed', 'succeeded');
CREATE TABLE app.jobs (id bigint PRIMARY KEY, status job_status NOT NULL DEFAULT 'todo',
    payload jsonb);
CREATE TABLE jobs (id bigserial PRIMARY KEY, status job_status NOT NULL DEFAULT 'todo',
    payload jsonb);
"""
FUNCTION = """\
CREATE FUNCTION defer_job(p jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  job_id bigint;
BEGIN
  INSERT INTO jobs (payload) VALUES (p) RETURNING id INTO job_id;
  RETURN job_id;
END $$;
"""
QUERY = "INSERT INTO app.jobs (id, payload) VALUES (1, '{}') ON CONFLICT (id) DO NOTHING;\n"


def _suggestions(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "queries").mkdir()
    (tmp_path / "migrations" / "V1__jobs.sql").write_text(SCHEMA + FUNCTION, encoding="utf-8")
    (tmp_path / "queries" / "enqueue.sql").write_text(QUERY, encoding="utf-8")
    settings = parse_settings({"select": ["PGL306"],
                               "tables": {"jobs": "queue", "app.jobs": "queue"}}
                              ).with_overrides(root=tmp_path)
    result = engine.lint([tmp_path], settings)
    assert not result.internal_errors
    return {Path(f.path).name: f.fix.suggestion for f in result.findings}


def test_the_guard_counts_rows_in_a_state_the_column_has(tmp_path):
    found = _suggestions(tmp_path)
    assert set(found) == {"V1__jobs.sql", "enqueue.sql"}
    for suggestion in found.values():
        assert "'pending'" not in suggestion  # not a job_status label
        assert "status = 'todo'" in suggestion  # the column's default: what the insert adds


def test_the_guard_keeps_the_table_and_the_into_target(tmp_path):
    found = _suggestions(tmp_path)
    assert "INSERT INTO app.jobs (id, payload)\n" in found["enqueue.sql"]
    assert "RETURNING id INTO job_id;" in found["V1__jobs.sql"]


def test_the_guarded_inserts_run_on_postgresql(tmp_path, postgres):
    found = _suggestions(tmp_path)
    body = found["V1__jobs.sql"].split(";\n--", 1)[0] + ";"
    replaced = FUNCTION.replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(
        "  INSERT INTO jobs (payload) VALUES (p) RETURNING id INTO job_id;", body)
    postgres.run(SCHEMA, FUNCTION, replaced, found["enqueue.sql"],
                 "DO $$ BEGIN IF defer_job('{}') IS NULL THEN RAISE 'not inserted'; END IF;\n"
                 "IF (SELECT count(*) FROM app.jobs) <> 1 THEN RAISE 'not inserted'; END IF;\n"
                 "END $$;")
