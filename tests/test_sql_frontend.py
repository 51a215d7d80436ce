"""Lexing, masking, parsing and positions of the SQL front end."""

from __future__ import annotations

import subprocess

import pytest

from pglint.source import ByteToChar, SourceFile
from pglint.sql.lexer import lex
from pglint.sql.parse import parse_sql
from pglint.sql.plpgsql import expand_body, expand_plpgsql, expand_sql_body


def test_byte_to_char_round_trip_with_multibyte_text():
    text = "aé€😀b\nü"
    mapping = ByteToChar(text)
    encoded = text.encode("utf-8")
    for char_index in range(len(text) + 1):
        byte_index = len(text[:char_index].encode("utf-8"))
        assert mapping(byte_index) == char_index
        assert mapping.to_bytes(char_index) == byte_index
    assert len(encoded) == mapping.to_bytes(len(text))


def test_masking_keeps_every_offset_and_line():
    text = ("\\set aid random(1, 100)\n"
            "SELECT * FROM t WHERE id = :aid AND n = :'name' AND x::int = 1 AND a[1:2] = 1;\n"
            "COPY t FROM stdin;\n1\tfoo;bar\n\\.\n"
            "SELECT 'a;b', $$c;d$$, \"e;f\" /* g; /* h */ ; */;\n")
    lexed = lex(text)
    assert len(lexed.masked) == len(text)
    assert [i for i, c in enumerate(lexed.masked) if c == "\n"] == \
           [i for i, c in enumerate(text) if c == "\n"]
    assert "\\set" not in lexed.masked and "1\tfoo" not in lexed.masked
    assert "$1  " in lexed.masked and " 'name'" in lexed.masked
    assert "x::int" in lexed.masked and "a[1:2]" in lexed.masked
    statements = [text[a:b].strip() for a, b in lexed.statements]
    assert statements[0].startswith("SELECT * FROM t")
    assert statements[1] == "COPY t FROM stdin"
    assert statements[2].startswith("SELECT 'a;b'")
    assert len(statements) == 3


def test_psql_script_parses_without_errors():
    text = "\\connect shop\n\\set ON_ERROR_STOP on\nSELECT :'v';\n\\i other.sql\nSELECT 1 \\gset\n"
    parsed = parse_sql(text)
    assert parsed.errors == []
    assert [s.kind for s in parsed.statements] == ["SelectStmt", "SelectStmt"]


def test_one_bad_statement_does_not_hide_the_others():
    text = "SELECT 1;\nSELEC oops;\nUPDATE t SET a = 1;\n"
    parsed = parse_sql(text)
    assert [s.kind for s in parsed.statements] == ["SelectStmt", "UpdateStmt"]
    assert len(parsed.errors) == 1
    file = SourceFile("x.sql", text)  # type: ignore[arg-type]
    assert file.position(parsed.errors[0].offset) == (2, 1)


def test_an_error_at_end_of_input_is_where_its_statement_ends():
    # pglast gives no position for "syntax error at end of input": not the previous line.
    text = "SELECT 1;\nSELECT 2;\nDROP AGGREGATE public.last;\n\nDROP AGGREGATE public.first;\n"
    parsed = parse_sql(text)
    file = SourceFile("x.sql", text)  # type: ignore[arg-type]
    assert [(e.message.split(":")[0], file.position(e.offset)) for e in parsed.errors] == [
        ('syntax error at or near ";"', (3, 27)), ('syntax error at or near ";"', (5, 28))]
    # With no `;` after it the statement ends with the text, as PostgreSQL says.
    [error] = parse_sql("SELECT 1;\nDROP AGGREGATE public.last\n").errors
    assert error.message == "syntax error at end of input"


@pytest.mark.parametrize(("sql", "message"), [
    # PostgreSQL, given the whole file, stops at the `;`: its words, and what is missing.
    ("ALTER TABLE t ADD COLUMN templates;\n",
     'syntax error at or near ";": the statement ends before a part it needs'),
    ("raise 'This migration is irreversible';\n",
     "`RAISE` is PL/pgSQL: outside a function it runs in `DO $$ BEGIN ... END $$;`"),
    ("ALTER TABLE splits DROP IF EXISTS COLUMN node_id;\n",
     "the column comes first: `DROP COLUMN IF EXISTS name`"),
    ("GRANT UPDATE ON system_inventory (stale) TO manager;\n",
     "the column list follows the privilege: `GRANT UPDATE (col, ...) ON table`"),
    ("drop constraint deployment_schemas_subgraph_shard_uq;\n",
     "a constraint is dropped by `ALTER TABLE table DROP CONSTRAINT name`"),
    ("ALTER TABLE system_platform ADD COLUMN baseline_id BIGINT, baseline_uptodate BOOLEAN;\n",
     "each action of an ALTER TABLE names its own verb"),
])
def test_syntax_errors_name_the_mistake(sql, message, postgres):
    [error] = parse_sql("SELECT 1;\n" + sql).errors
    assert message in error.message
    # PostgreSQL rejects the statement with the error the message starts with.
    with postgres.database() as database:
        result = postgres.psql(database, sql)
    assert result.returncode != 0 and error.message.split(":")[0] in result.stderr


def test_psql_rejects_a_utf16_file_as_the_message_says(tmp_path, postgres):
    from pglint.loader import decode

    data = "SELECT 1;\n".encode("utf-16")
    problem = decode(tmp_path / "wide.sql", data)[2]
    path = tmp_path / "wide.sql"
    path.write_bytes(data)
    with postgres.database() as database:
        result = subprocess.run([postgres.psql_bin, "-X", "-v", "ON_ERROR_STOP=1", "-d",
                                 postgres.uri(database), "-f", str(path)],
                                capture_output=True, text=True, timeout=60)
    assert problem is not None and "psql rejects it" in problem.message
    assert result.returncode != 0 and 'invalid byte sequence for encoding "UTF8"' in result.stderr


def test_plpgsql_checks_that_need_the_catalog_report_nothing():
    # Without a database the PL/pgSQL parser knows no array or extension types: PostgreSQL
    # accepts both bodies.
    for text in ("CREATE FUNCTION f(VARIADIC ids integer[]) RETURNS int LANGUAGE plpgsql AS "
                 "$$ BEGIN RETURN 1; END $$;\n",
                 "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ DECLARE a int; "
                 "bounds geometry; BEGIN FOR a, bounds IN SELECT 1, NULL LOOP NULL; END LOOP; "
                 "RETURN 1; END $$;\n",
                 # A row variable's fields come from its table (pgstac's `search_wheres`).
                 "CREATE FUNCTION h() RETURNS text LANGUAGE plpgsql AS $$ DECLARE "
                 "sw search_wheres%ROWTYPE; BEGIN sw._where := 'x'; RETURN sw._where; END $$;\n",
                 # A placeholder decides what the body is (neon's `{privileges}`).
                 "DO $$ BEGIN CREATE ROLE r {privileges}; END $$;\n"):
        stmt = parse_sql(text).statements[0]
        assert expand_plpgsql(stmt, text)[1] == []
    # The field of a variable the body does not declare is a mistake.
    text = "CREATE FUNCTION k() RETURNS void LANGUAGE plpgsql AS $$ BEGIN sw.x := 1; END $$;\n"
    assert "not a known variable" in expand_plpgsql(parse_sql(text).statements[0], text)[1][0].message


def test_node_positions_count_characters_after_non_ascii_text():
    text = "-- ünïcødé 😀\nSELECT 'é' AS x; UPDATE accounts SET n = 1;\n"
    parsed = parse_sql(text)
    update = parsed.statements[1]
    relation = update.body["relation"]
    offset = update.offset(relation["location"])
    assert text[offset:offset + len("accounts")] == "accounts"
    file = SourceFile("x.sql", text)  # type: ignore[arg-type]
    assert file.position(offset) == (2, 25)


def test_plpgsql_statements_are_positioned_in_the_file():
    text = ("-- é\nCREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$\n"
            "DECLARE n int;\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM t WHERE k = 'ü') THEN\n"
            "    INSERT INTO t (k) VALUES ('ü');\n  END IF;\n  PERFORM pg_sleep(0.01);\nEND $body$;\n"
            "DO $$ BEGIN UPDATE t SET k = 'x' WHERE k = 'y'; END $$;\n")
    parsed = parse_sql(text)
    inner = []
    for stmt in parsed.statements:
        found, errors = expand_plpgsql(stmt, text)
        assert errors == []
        inner.extend(found)
    kinds = [s.kind for s in inner]
    assert kinds == ["SelectStmt", "InsertStmt", "SelectStmt", "UpdateStmt"]
    insert = inner[1]
    assert text[insert.start:insert.end] == "INSERT INTO t (k) VALUES ('ü')"
    rel = insert.body["relation"]
    assert text[insert.offset(rel["location"])] == "t"
    update = inner[3]
    assert text[update.start:update.end] == "UPDATE t SET k = 'x' WHERE k = 'y'"
    assert all(s.parent is not None and s.exact for s in inner)
    perform = inner[2]
    call = perform.body["targetList"][0]["ResTarget"]["val"]["FuncCall"]
    at = perform.offset(call["location"])
    assert text[at:at + len("pg_sleep")] == "pg_sleep"


def test_crlf_and_bom_do_not_shift_positions():
    text = "\ufeffSELECT 1;\r\nUPDATE t SET a = 1;\r\n"
    parsed = parse_sql(text)
    assert parsed.errors == []
    update = parsed.statements[-1]
    assert text[update.start:update.end] == "UPDATE t SET a = 1"


def test_plpgsql_assignments_are_linted_as_expressions():
    text = "DO $$ DECLARE got boolean; BEGIN got := pg_try_advisory_lock(3); END $$;"
    (stmt,) = parse_sql(text).statements
    inner, errors = expand_plpgsql(stmt, text)
    assert errors == [] and len(inner) == 1
    call = inner[0].body["targetList"][0]["ResTarget"]["val"]["FuncCall"]
    at = inner[0].offset(call["location"])
    assert text[at:].startswith("pg_try_advisory_lock(3)")


def test_session_state_tracks_transactions_sets_and_new_tables():
    from pglint.sql.session import session_states

    text = ("SET lock_timeout = '5s';\nCREATE TABLE t (id int);\nBEGIN;\n"
            "SET LOCAL statement_timeout = 0;\nALTER TABLE t ADD COLUMN a int;\nCOMMIT;\n"
            "SET LOCAL lock_timeout = '1s';\nRESET lock_timeout;\nSELECT 1;\n")
    statements = parse_sql(text).statements
    states = session_states(statements)
    alter = states[4]
    assert alter.in_transaction and alter.transaction_start is statements[2]
    assert alter.setting("lock_timeout") == "5s"
    assert alter.setting("statement_timeout") == "0"
    assert alter.created_tables == {"t"}
    after_commit = states[6]
    assert not after_commit.in_transaction and after_commit.setting("statement_timeout") is None
    # SET LOCAL outside a transaction does nothing; RESET clears the session value.
    assert states[7].setting("lock_timeout") == "5s"
    assert states[8].setting("lock_timeout") is None


def test_plpgsql_statements_know_their_holder():
    text = ("DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM t WHERE k = 'a') THEN\n"
            "    INSERT INTO t (k) VALUES ('a');\n  END IF;\nEND $$;")
    (stmt,) = parse_sql(text).statements
    inner, _ = expand_plpgsql(stmt, text)
    assert [(s.kind, s.plpgsql_holder[0], s.plpgsql_holder[2]) for s in inner] == [
        ("SelectStmt", "PLpgSQL_stmt_if", "cond"),
        ("InsertStmt", "PLpgSQL_stmt_execsql", "sqlstmt"),
    ]
    if_stmt = inner[0].plpgsql_holder[1]
    then_insert = if_stmt["then_body"][0]["PLpgSQL_stmt_execsql"]["sqlstmt"]["PLpgSQL_expr"]
    assert inner[1].plpgsql_expr is then_insert


def test_a_statement_ending_in_a_psql_variable_keeps_its_last_characters():
    text = "\\set uid random(1, 5)\nSELECT * FROM users WHERE id = :uid;\n"
    (stmt,) = parse_sql(text).statements
    assert text[stmt.start:stmt.end] == "SELECT * FROM users WHERE id = :uid"


def test_sql_function_string_body_statements_are_positioned_in_the_file():
    text = ("-- prix en € 😀\nCREATE FUNCTION bump(p int) RETURNS void LANGUAGE sql AS $fn$\n"
            "  -- café\n  SELECT 'ü';\n  UPDATE counters SET n = n + 1 WHERE id = p;\n$fn$;\n")
    (stmt,) = parse_sql(text).statements
    assert expand_plpgsql(stmt, text) == ([], [])  # not PL/pgSQL
    inner, errors = expand_sql_body(stmt, text)
    assert errors == [] and [s.kind for s in inner] == ["SelectStmt", "UpdateStmt"]
    update = inner[1]
    assert text[update.start:update.end] == "UPDATE counters SET n = n + 1 WHERE id = p"
    assert update.parent is stmt and update.exact
    rel = update.body["relation"]
    assert text[update.offset(rel["location"]):].startswith("counters SET")
    where = update.body["whereClause"]["A_Expr"]["rexpr"]["ColumnRef"]
    assert text[update.offset(where["location"])] == "p"
    assert expand_body(stmt, text)[0][1].start == update.start
    file = SourceFile("x.sql", text)  # type: ignore[arg-type]
    assert file.position(update.start) == (5, 3)


def test_sql_function_body_syntax_error_is_positioned():
    text = "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELEC 1';"
    (stmt,) = parse_sql(text).statements
    inner, errors = expand_sql_body(stmt, text)
    assert inner == [] and len(errors) == 1
    assert text[errors[0].offset:].startswith("SELEC 1")


def test_begin_atomic_body_statements_use_the_parents_positions():
    text = ("SELECT 'ñ';\nCREATE PROCEDURE tick(p int)\nBEGIN ATOMIC\n"
            "  INSERT INTO log (k) VALUES ('é');  -- first\n"
            "  UPDATE counters SET n = n + 1 WHERE id = 1;\nEND;\n"
            "CREATE FUNCTION total() RETURNS bigint LANGUAGE sql\n"
            "  RETURN (SELECT sum(n) FROM counters);\n")
    _, proc, func = parse_sql(text).statements
    inner, errors = expand_body(proc, text)
    assert errors == [] and [s.kind for s in inner] == ["InsertStmt", "UpdateStmt"]
    insert, update = inner
    assert text[insert.start:insert.end] == "INSERT INTO log (k) VALUES ('é')"
    assert text[update.start:update.end] == "UPDATE counters SET n = n + 1 WHERE id = 1"
    assert all(s.parent is proc and s.exact for s in inner)
    rel = update.body["relation"]
    assert text[update.offset(rel["location"]):].startswith("counters SET")
    (ret,), _ = expand_body(func, text)
    assert ret.kind == "ReturnStmt" and ret.parent is func
    assert text[ret.start:ret.end] == "RETURN (SELECT sum(n) FROM counters)"


def test_hot_counter_update_in_a_migration_defined_sql_function(tmp_path):
    from pglint import engine
    from pglint.config import parse_settings

    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "V1__counters.sql").write_text(
        "CREATE TABLE page_views (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);\n"
        "-- compte les visites (é)\n"
        "CREATE FUNCTION count_visit() RETURNS void LANGUAGE sql AS $$\n"
        "  UPDATE page_views SET n = n + 1 WHERE id = 1;\n"
        "$$;\n"
        "CREATE PROCEDURE count_visit_atomic() LANGUAGE sql\n"
        "BEGIN ATOMIC\n"
        "  UPDATE page_views SET n = n + 1 WHERE id = 1;\n"
        "END;\n"
        "UPDATE page_views SET n = n + 1 WHERE id = 1;  -- a one-off migration statement\n",
        encoding="utf-8")
    settings = parse_settings({"select": ["PGL101"]}).with_overrides(root=tmp_path)
    result = engine.lint([tmp_path], settings)
    assert not result.internal_errors
    assert sorted((f.code, f.row, f.column) for f in result.findings) == \
        [("PGL101", 4, 3), ("PGL101", 8, 3)]


def test_a_string_mentioning_copy_from_stdin_does_not_hide_the_rest_of_the_file():
    text = ("\\set x 1\nINSERT INTO log VALUES ('ran copy t from stdin');\n"
            "UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';\n")
    parsed = parse_sql(text)
    assert parsed.errors == []
    assert [s.kind for s in parsed.statements] == ["InsertStmt", "UpdateStmt"]


def test_backslash_semicolon_separates_statements_on_one_line():
    text = "\\set x 1\nSELECT 1 \\; SELECT 2;\nSELECT 3;\n"
    parsed = parse_sql(text)
    assert parsed.errors == []
    assert len(parsed.statements) == 3


def test_rules_see_statements_of_bodies_in_escape_strings(tmp_path):
    from pglint import engine
    from pglint.config import parse_settings

    migration = tmp_path / "migrations" / "V1__f.sql"
    migration.parent.mkdir()
    migration.write_text(
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS "
        "E'SELECT pg_advisory_lock(4)::int -- \\'x\\'';\n", encoding="utf-8")
    settings = parse_settings({"select": ["PGL107"]}).with_overrides(root=tmp_path)
    findings = engine.lint([tmp_path], settings).findings
    assert [f.code for f in findings] == ["PGL107"]
    # The body is not verbatim in the file, so the fix is shown, never applied as an edit.
    assert findings[0].fix is not None and not findings[0].fix.applicable


def test_psql_variables_standing_for_names_and_tests():
    text = ("\\set s public\nREINDEX SCHEMA :s;\nSELECT * FROM :tbl WHERE id = :id;\n"
            "SELECT :{?s} AS is_set;\n")
    parsed = parse_sql(text)
    assert parsed.errors == []
    select = parsed.statements[1].body
    assert select["fromClause"][0]["RangeVar"]["relname"] == "tbl"
    assert "ParamRef" in select["whereClause"]["A_Expr"]["rexpr"]


def test_old_mac_line_endings_count_lines(tmp_path):
    from pglint import engine
    from pglint.config import parse_settings

    path = tmp_path / "queries" / "cr.sql"
    path.parent.mkdir()
    path.write_bytes(b"-- a comment\rSELECT 1;\rUPDATE visit_counters SET count = count + 1 "
                     b"WHERE page_id = '/home';\r")
    settings = parse_settings({"select": ["PGL101"]}).with_overrides(root=tmp_path)
    findings = engine.lint([tmp_path], settings).findings
    assert [(f.code, f.row, f.column) for f in findings] == [("PGL101", 3, 1)]


@pytest.mark.parametrize(("sql", "kind", "name"), [
    # An extension script's schema placeholder.
    ("CREATE OR REPLACE AGGREGATE @extschema@.first(anyelement, \"any\") "
     "(SFUNC = f, STYPE = internal);", "DefineStmt", "@extschema@"),
    # pgtyped's non-null parameters.
    ("INSERT INTO a (id, x) VALUES (:id!, :x) RETURNING id;", "InsertStmt", ":id!"),
    # Query-file placeholders filled in by the application.
    ("SELECT * FROM t ORDER BY %order% OFFSET $5;", "SelectStmt", "%order%"),
    ("SELECT f(%(jobs)s::int[]) AS id;", "SelectStmt", "%(jobs)s"),
    ("GRANT USAGE ON SCHEMA public TO {mainuser};", "GrantStmt", "{mainuser}"),
    # A psql variable qualifying a name is a name.
    ("create index on :APP_SCHEMA.jobs (priority);", "IndexStmt", ":APP_SCHEMA"),
    # Go templates and Flyway placeholders.
    ("SELECT * FROM {{ .Schema }}.users WHERE id = ${id};", "SelectStmt", "{{ .Schema }}"),
    ("{% if x %}SELECT 1;{% endif %}", "SelectStmt", "{% if x %}"),
    # A comment where a runner puts the schema name (stack-auth's migrations).
    ('CREATE INDEX CONCURRENTLY "i" ON /* SCHEMA_NAME_SENTINEL */."Team"("id");', "IndexStmt",
     "/* SCHEMA_NAME_SENTINEL */."),
    # A driver's `?` parameters (database/sql, JDBC, sqlx's Rebind).
    ("SELECT id FROM rpm WHERE name = ?\n  AND epoch=? AND arch IN (?, ?) LIMIT ?;",
     "SelectStmt", "= ?"),
    # A dollar quote whose tag a format string fills in (neon's compute SQL).
    ("DO ${outer_tag}$ BEGIN PERFORM 1; END ${outer_tag}$;", "DoStmt", "${outer_tag}$"),
    # bun's `?TableName` placeholders.
    ("DELETE FROM ?TableName WHERE id = $1;", "DeleteStmt", "?TableName"),
    # An extension script's `@extschema:vector@` (PostgreSQL 16), Jinja's comments, Template
    # Toolkit's tags, HugSQL's identifier parameters.
    ("CREATE FUNCTION f(v @extschema:vector@.vector) RETURNS int LANGUAGE sql AS 'SELECT 1';",
     "CreateFunctionStmt", "@extschema:vector@"),
    ("{# the languages PostgreSQL ships #}\nSELECT 1;", "SelectStmt", "{#"),
    ("[% IF old %]UPDATE oe SET curr = 'USD';[% END %]", "UpdateStmt", "[% IF old %]"),
    ("ALTER TABLE :i:table-name ADD COLUMN :i:column-name text;", "AlterTableStmt",
     ":i:table-name"),
])
def test_template_placeholders_parse_with_offsets_kept(sql, kind, name):
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == [kind] and not parsed.errors
    assert len(parsed.masked) == len(sql)
    at = sql.index(name)
    assert parsed.masked[:at] == sql[:at] or "{%" in sql  # masked in place, nothing shifted
    assert name not in parsed.masked


def test_placeholder_lookalikes_in_strings_stay_as_written():
    sql = "SELECT '{abc}', 'x%y%z', '@a@' FROM t WHERE a % b = 0;"
    parsed = parse_sql(sql)
    assert not parsed.errors and parsed.masked == sql


@pytest.mark.parametrize("sql", [
    "-- migrate:up\nALTER TABLE c ADD CONSTRAINT u UNIQUE (a)\n-- migrate:down\n"
    "ALTER TABLE c DROP CONSTRAINT u;\n",
    "-- +goose Up\nALTER TABLE c ADD CONSTRAINT u UNIQUE (a);\n-- +goose Down\n"
    "ALTER TABLE c DROP CONSTRAINT u;\n",
])
def test_down_sections_of_two_way_migrations_are_not_parsed(sql):
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["AlterTableStmt"] and not parsed.errors
    assert "DROP CONSTRAINT" not in sql[parsed.statements[0].start:parsed.statements[0].end]
    assert len(parsed.masked) == len(sql) and parsed.masked.count("\n") == sql.count("\n")


@pytest.mark.parametrize("sql", [
    "CREATE FUNCTION @extschema@.f() RETURNS int LANGUAGE sql AS\n"
    "  'SELECT count(*)::int FROM @extschema@.jobs';\n",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
    "  UPDATE :APP_SCHEMA.jobs SET n = n + 1 WHERE id = 1;\nEND $$;\n",
    "SELECT * FROM %s WHERE id = $1;\n",
])
def test_placeholders_in_function_bodies_and_go_format_strings(sql):
    from pglint.sql.plpgsql import expand_body

    parsed = parse_sql(sql)
    assert not parsed.errors
    for stmt in parsed.statements:
        inner, errors = expand_body(stmt, sql) if stmt.kind == "CreateFunctionStmt" else ([], [])
        assert not errors
        if "UPDATE" in sql or "count" in sql:
            assert inner and sql[inner[0].start:inner[0].end].lstrip().startswith(
                ("UPDATE", "SELECT"))


@pytest.mark.parametrize(("sql", "kinds"), [
    # pgtyped spreads a list after IN.
    ("SELECT 1 FROM u WHERE id IN :userIds!;\n", ["SelectStmt"]),
    # Query files name each query and may leave out the `;` before the next one.
    ("-- name: get-user\nSELECT 1\n\n-- name: del-user\nDELETE FROM u WHERE id = $1\n",
     ["SelectStmt", "DeleteStmt"]),
    ("-- get_stalled --\nWITH a AS (SELECT 1) SELECT * FROM a\n\n-- put_job --\nSELECT 3\n",
     ["SelectStmt", "SelectStmt"]),
])
def test_query_file_conventions_parse(sql, kinds):
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == kinds and not parsed.errors


def test_a_syntax_error_on_a_placeholder_is_the_template_not_the_sql():
    # `%query%` stands for a filter the application fills in; `VALUES :rows` for a list of
    # tuples. Neither statement can be analysed, and neither is wrong: no syntax error. A
    # real mistake in the same file still is one.
    sql = ("SELECT id FROM subscribers WHERE status = 'enabled' %query% LIMIT 10;\n"
           "INSERT INTO muted (user_id, subject_id) VALUES :rows! ON CONFLICT DO NOTHING;\n"
           "SELEC 1;\n")
    parsed = parse_sql(sql)
    assert [sql[e.offset:e.offset + 5] for e in parsed.errors] == ["SELEC"]


def test_a_schema_placeholder_comment_leaves_the_name_unqualified():
    sql = 'CREATE INDEX "i" ON /* SCHEMA_NAME_SENTINEL */."Team"("id");\nSELEC 1;\n'
    parsed = parse_sql(sql)
    relation = parsed.statements[0].node["IndexStmt"]["relation"]
    assert relation["relname"] == "Team" and "schemaname" not in relation
    assert [sql[e.offset:e.offset + 5] for e in parsed.errors] == ["SELEC"]
    # A comment before a number or after a name is left alone.
    assert parse_sql("SELECT /* x */.5 AS half;").masked == "SELECT /* x */.5 AS half;"


def test_a_script_runners_delimiter_commands_are_not_sql():
    # DolphinScheduler's upgrade scripts: the runner reads `delimiter d//`; a column named
    # `delimiter` stays a column.
    sql = ("CREATE TABLE t (\n    delimiter varchar(10),\n    id int);\n"
           "delimiter d//\nCREATE OR REPLACE FUNCTION f() RETURNS void AS $$\nBEGIN\nEND;\n"
           "$$ LANGUAGE plpgsql;\nd//\ndelimiter ;\nSELECT f();\n")
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["CreateStmt", "CreateFunctionStmt",
                                                   "SelectStmt"] and not parsed.errors
    assert len(parsed.masked) == len(sql) and "delimiter varchar" in parsed.masked


def test_copy_from_a_psql_variable_reads_a_file_name():
    parsed = parse_sql("COPY tmp_table FROM :source;\n")
    assert [s.kind for s in parsed.statements] == ["CopyStmt"] and not parsed.errors


def test_hugsql_names_its_queries():
    sql = ("-- :name fetch-collection :? :1\nSELECT * FROM c WHERE id = :id\n\n"
           "-- :name delete-collection :! :n\nDELETE FROM c WHERE id IN (:v*:ids)\n")
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["SelectStmt", "DeleteStmt"]
    assert not parsed.errors


def test_yaml_front_matter_is_not_sql():
    sql = ("--- yaml frontmatter\ntitle: |\n  Summary accounts\ndescription: |\n  one role\n"
           "---\n\nselect accno from account;\n")
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["SelectStmt"] and not parsed.errors
    # A banner of dashes before SQL is not front matter.
    assert parse_sql("---\nSELEC 1;\n---\n").errors


def test_a_missing_semicolon_before_a_statement_is_not_offered_a_comma():
    sql = "ALTER TABLE pages DROP COLUMN IF EXISTS web_vitals\nDROP TABLE IF EXISTS s;\n"
    [error] = parse_sql(sql).errors
    assert "has no `;`" in error.message and "`,`" not in error.message


def test_bun_splits_a_migration_at_its_comment():
    sql = "SELECT 1\n\n--migration:split\n\nSELECT 2\n"
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["SelectStmt", "SelectStmt"]
    assert not parsed.errors


def test_question_marks_that_are_operators_stay_as_written():
    sql = "SELECT data ? 'k', data ?| array['a'] FROM t WHERE data ?& array['b'];"
    parsed = parse_sql(sql)
    assert not parsed.errors and parsed.masked == sql


def test_a_syntax_error_just_after_a_placeholder_is_the_template_not_the_sql():
    # goatcounter's `:in` stands for an operator the application writes in.
    sql = ("SELECT sum(total) FROM hit_counts WHERE path_id :in (:paths) AND site_id = :site;\n"
           "SELEC 1;\n")
    parsed = parse_sql(sql)
    assert [sql[e.offset:e.offset + 5] for e in parsed.errors] == ["SELEC"]


def test_a_section_for_another_database_is_not_parsed():
    # One script, one section per database: the MySQL one is not PostgreSQL.
    sql = ("-----------------\n-- PostgreSQL\n-----------------\n"
           'UPDATE "website_event" SET fbclid = NULL;\n\n'
           "-----------------\n-- MySQL\n-----------------\n"
           "UPDATE `website_event` SET fbclid = NULL;\n"
           "-- postgres\nSELEC 1;\n")
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["UpdateStmt"]
    assert parsed.statements[0].start == sql.index("UPDATE")  # offsets kept
    assert [sql[e.offset:e.offset + 5] for e in parsed.errors] == ["SELEC"]  # PostgreSQL again
    # A comment that merely mentions a database is no header.
    assert not parse_sql("-- ported from MySQL\nUPDATE `t` SET a = 1;\n").statements


def test_a_sentence_that_opens_the_file_to_stop_psql_is_not_a_syntax_error():
    # An archive of migrations run by hand guards itself with a line of prose: psql stops at
    # once. The statements after it are still read, where they are.
    sql = "This is not meant to be run directly.\n\n-- #1\nCREATE TABLE a (id int);\nSELEC 1;\n"
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["CreateStmt"]
    assert parsed.statements[0].start == sql.index("CREATE")
    assert [sql[e.offset:e.offset + 5] for e in parsed.errors] == ["SELEC"]
    # A first line that starts with a keyword is SQL, and its error is reported; so is prose
    # anywhere else than the first line.
    assert parse_sql("Select the rows we need.\n").errors
    assert parse_sql("SELECT 1;\nThis is prose, not a statement.\n").errors


def test_identifiers_are_quoted_where_the_grammar_needs_it():
    from pglint.sql import nodes as n

    assert [n.quote_ident(x) for x in ("status", "order", "user", "Orders", "a b", "left")] == \
        ["status", '"order"', '"user"', '"Orders"', '"a b"', '"left"']
    assert n.quote_qualified("public.order") == 'public."order"'


@pytest.mark.parametrize("text", ["", "a", "\n", "a\n", "a\nb", "\n\n", "ab\ncd\n\nef",
                                  "x\r\ny", "x\ry\n", "\r", "\ufeffa\nb\n", "é\n日本\n"])
@pytest.mark.parametrize("first", [0, 1])
def test_line_starts_end_lines_at_crlf_cr_and_lf(text: str, first: int) -> None:
    """Where each line starts, counted from `first` (after a byte-order mark): summed line
    lengths where the text has only "\\n", a pattern otherwise; the same either way."""
    import re

    from pglint.source import line_starts

    expected = [first] + [m.end() for m in re.finditer(r"\r\n?|\n", text)]
    assert line_starts(text, first) == expected


@pytest.mark.parametrize(("sql", "told"), [
    # The next statement's first word at the start of a line: the line before has no `;`.
    ("CREATE TABLE t (a int);\n\nCREATE INDEX t_a ON t (a)\nCREATE INDEX t_b ON t (a);\n",
     "the statement before it, ending on line 3, has no `;`"),
    ("UPDATE t SET a = 1  -- fill\n  -- then\nDELETE FROM t;\n",
     "the statement before it, ending on line 1, has no `;`"),
    # Inside an ALTER, the next action may lack its `,` as well (ente's down migration).
    ("ALTER TABLE t\n    DROP COLUMN a\n    DROP COLUMN b;\n",
     "line 2 before it ends with no `,` (between two actions of one ALTER) or `;`"),
    ("ALTER TABLE t ADD COLUMN a int\nADD COLUMN b int;\n",
     "line 1 before it ends with no `,` (between two actions of one ALTER) or `;`"),
    # A mistake of its own: the word is where it belongs, or not at a line's start.
    ("CREATE TABL t (a int);\n", None),
    ("SELECT 1 CREATE TABLE t (a int);\n", None),
    ("SELECT * FORM users;\n", None),
])
def test_a_syntax_error_on_the_next_statements_first_word_names_the_missing_semicolon(sql, told):
    [error] = parse_sql(sql).errors
    assert error.message.startswith("syntax error at or near")
    assert (told in error.message) if told else ("`;`" not in error.message), error.message


def _repaired(sql: str) -> str | None:
    """The file after the first syntax error's repair, or None when it has none."""
    [error, *_] = parse_sql(sql).errors
    if error.repair is None:
        return None
    for edit in sorted(error.repair.edits, reverse=True):
        sql = sql[:edit.start] + edit.content + sql[edit.end:]
    return sql


@pytest.mark.parametrize(("sql", "repaired"), [
    # Mistakes judged in real migrations, each mended by one edit.
    ("SELECT a, b, -- total\n  FROM t;\n", "SELECT a, b -- total\n  FROM t;\n"),
    ("ALTER TABLE t DROP COLUMN ports INT CASCADE, DROP COLUMN b;\n",
     "ALTER TABLE t DROP COLUMN ports CASCADE, DROP COLUMN b;\n"),
    ("CREATE INDEX i ON t(col) USING BRIN;\n", "CREATE INDEX i ON t USING BRIN (col);\n"),
    ("BEGIN\nCREATE TABLE x (a int);\nCOMMIT;\n", "BEGIN;\nCREATE TABLE x (a int);\nCOMMIT;\n"),
    ("UPDATE t SET a = 1  -- fill\nDELETE FROM t;\n", "UPDATE t SET a = 1;  -- fill\nDELETE FROM t;\n"),
    ("drop index json_gin if exists;\n", "drop index IF EXISTS json_gin;\n"),
    ("DROP TABLE public.t IF EXISTS CASCADE;\n", "DROP TABLE IF EXISTS public.t CASCADE;\n"),
    # A name PostgreSQL reads as a keyword (`json` since 16: qiita's install schema).
    ("CREATE FUNCTION f(json jsonb) RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n",
     'CREATE FUNCTION f("json" jsonb) RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n'),
    ("CREATE TABLE t (id int, User text);\n", 'CREATE TABLE t (id int, "user" text);\n'),
    ("SELECT order FROM t;\n", 'SELECT "order" FROM t;\n'),
    ("ALTER TABLE t DROP CONSTRAINT UNIQUE(name);\n", None),
    # A keyword where a dropped object's name goes: quoted, never taken for a type to cut.
    ("ALTER TABLE t DROP COLUMN order CASCADE;\n", 'ALTER TABLE t DROP COLUMN "order" CASCADE;\n'),
    ("DROP TABLE user CASCADE;\n", 'DROP TABLE "user" CASCADE;\n'),
    ("ALTER TABLE t DROP CONSTRAINT user CASCADE;\n",
     'ALTER TABLE t DROP CONSTRAINT "user" CASCADE;\n'),
    ("DROP INDEX order;\n", 'DROP INDEX "order";\n'),
    # defguard's down migration: `DROP` without `COLUMN`.
    ("ALTER TABLE authorizedapps DROP name text;\n", "ALTER TABLE authorizedapps DROP name;\n"),
    # A template's placeholder stays as written.
    ("ALTER TABLE ${schema}.t DROP COLUMN c text;\n", "ALTER TABLE ${schema}.t DROP COLUMN c;\n"),
    # An edit that would take the placeholder with it is not offered.
    ("ALTER TABLE t DROP COLUMN c text ${suffix};\n", None),
    # No edit of the kinds known makes these parse: nothing offered.
    ("SELECT * FORM users;\n", None),
    ("CREATE TABLE t (a int, b int,, c int;\n", None),
    ("ALTER TABLE t\n    DROP COLUMN a\n    DROP COLUMN b c d e (;\n", None),
])
def test_a_syntax_error_made_by_a_known_mistake_comes_with_the_edit_that_mends_it(sql, repaired):
    assert _repaired(sql) == repaired


def test_a_sql_migrate_down_section_is_not_what_the_migration_does():
    sql = ("-- +migrate Up\nALTER TABLE t ADD CONSTRAINT u UNIQUE (a);\n\n"
           "-- +migrate Down\nALTER TABLE t DROP UNIQUE u;\n")
    parsed = parse_sql(sql)
    assert [s.kind for s in parsed.statements] == ["AlterTableStmt"] and not parsed.errors


def test_a_long_statement_that_fails_is_explained_not_repaired():
    # A seed INSERT of thousands of rows that mention an index, failing at its end: each
    # candidate edit would parse it again, so none is tried (and no pattern goes back over
    # the statement once per word: this took 34 s).
    rows = ",\n".join(f"({i}, 'See the index on page {i}')" for i in range(8000))
    sql = f"INSERT INTO notes VALUES\n{rows}\nON CONFLICT DO NOTHIN;\n"
    [error] = parse_sql(sql).errors
    assert sql[error.offset:error.offset + 6] == "NOTHIN" and error.repair is None
