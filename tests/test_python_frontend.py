"""The Python front end: SQL string literals in .py files, positions mapped into the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pglint.python import EmbeddedSQL, extract_sql, might_contain_sql, parse_embedded
from pglint.sql.parse import Statement, iter_nodes


def only(source: str) -> tuple[EmbeddedSQL, Statement]:
    """The one embedded SQL string of `source`, parsed into one statement without error."""
    assert might_contain_sql(source)
    found = extract_sql(source)
    assert len(found) == 1, found
    statements, problem = parse_embedded(found[0])
    assert problem is None, problem
    assert len(statements) == 1
    return found[0], statements[0]


def nodes(stmt: Statement, kind: str) -> list[dict]:
    return [body for k, body in iter_nodes(stmt.node) if k == kind]


def relation_at(stmt: Statement, name: str) -> int:
    """File offset of the one RangeVar named `name` (some RangeVars are not wrapped)."""
    found, stack = [], [stmt.node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("relname") == name:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    [body] = found
    return stmt.offset(body["location"])


def column_at(stmt: Statement, name: str) -> int:
    for body in nodes(stmt, "ColumnRef"):
        fields = [f["String"]["sval"] for f in body["fields"] if "String" in f]
        if fields and fields[-1] == name:
            return stmt.offset(body["location"])
    raise AssertionError(f"no column {name}")


def params_at(stmt: Statement) -> list[tuple[int, int]]:
    return sorted((stmt.offset(p["location"]), p["number"]) for p in nodes(stmt, "ParamRef"))


def find_all(text: str, token: str) -> list[int]:
    out, at = [], text.find(token)
    while at >= 0:
        out.append(at)
        at = text.find(token, at + 1)
    return out


# --- database APIs and placeholders ---------------------------------------------------------


def test_execute_with_percent_s() -> None:
    source = textwrap.dedent("""\
        def withdraw(cur, account_id, amount):
            cur.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s",
                        (amount, account_id))
        """)
    embedded, stmt = only(source)
    assert embedded.call == "execute" and embedded.line == 2
    assert embedded.start == source.index("UPDATE")
    assert embedded.sql == "UPDATE accounts SET balance = balance - $1 WHERE id = $2"
    assert stmt.kind == "UpdateStmt"
    assert (stmt.start, stmt.end) == (source.index("UPDATE"), source.index('",'))
    assert relation_at(stmt, "accounts") == source.index("accounts")
    assert params_at(stmt) == [(at, i + 1) for i, at in enumerate(find_all(source, "%s"))]


def test_asyncpg_query_methods() -> None:
    source = textwrap.dedent("""\
        async def claim(conn, worker, http):
            await http.fetch("https://example.com/select")
            job = await conn.fetchrow(
                "SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE")
            n = await conn.fetchval("SELECT count(*) FROM jobs WHERE locked_by = $1", worker)
            return job, n
        """)
    assert might_contain_sql(source)
    found = extract_sql(source)
    assert [e.call for e in found] == ["fetch", "fetch"]  # not the HTTP fetch
    first, second = found
    assert first.start == source.index("SELECT id")
    assert second.sql == "SELECT count(*) FROM jobs WHERE locked_by = $1"
    statements, problem = parse_embedded(second)
    assert problem is None and statements[0].kind == "SelectStmt"


def test_executemany_with_named_parameters() -> None:
    source = ('cur.executemany("INSERT INTO events (id, kind, parent) '
              'VALUES (%(id)s, %(kind)s, %(id)s)", rows)\n')
    embedded, stmt = only(source)
    assert embedded.call == "executemany"
    # Same length as the placeholder: every other position on the line is unchanged.
    assert len(embedded.sql) == embedded.end - embedded.start
    assert "VALUES ($1    , $2      , $1    )" in embedded.sql
    starts = find_all(source, "%(")
    assert params_at(stmt) == [(starts[0], 1), (starts[1], 2), (starts[2], 1)]


def test_percent_percent_is_a_literal_percent_when_parameters_are_passed() -> None:
    source = "cur.execute(\"SELECT name FROM users WHERE name LIKE 'a%%' AND x %% 2 = %s\", [1])\n"
    embedded, stmt = only(source)
    assert embedded.sql == "SELECT name FROM users WHERE name LIKE 'a%' AND x % 2 = $1"
    [constant] = [c for c in nodes(stmt, "A_Const") if "sval" in c]
    assert constant["sval"]["sval"] == "a%"
    assert column_at(stmt, "x") == source.index(" x ") + 1
    assert params_at(stmt) == [(source.index("%s"), 1)]
    # Without parameters the driver sends %% unchanged: PostgreSQL sees the operator %%.
    embedded = extract_sql("cur.execute(\"SELECT 7 %% 2\")\n")[0]
    assert embedded.sql == "SELECT 7 %% 2"


def test_sqlalchemy_text_with_colon_parameters() -> None:
    source = textwrap.dedent("""\
        from sqlalchemy import text
        stmt = text(
            "SELECT * FROM orders WHERE customer_id = :customer_id "
            "AND created_at > :since::timestamptz AND note <> 'a:b' AND tag = '\\\\:x'"
        )
        """)
    embedded, stmt = only(source)
    assert embedded.call == "text"
    assert "customer_id = $1          " in embedded.sql
    assert "> $2    ::timestamptz" in embedded.sql
    assert "'a:b'" in embedded.sql  # inside quotes: untouched
    assert params_at(stmt) == [(source.index(":customer_id"), 1), (source.index(":since"), 2)]
    assert relation_at(stmt, "orders") == source.index("orders")


def test_qmark_parameters_and_jsonb_question_mark_operator() -> None:
    source = "cur.execute(\"SELECT * FROM docs WHERE data ? 'k' AND id = ? LIMIT ?\", (1, 2))\n"
    embedded, stmt = only(source)
    assert "data ? 'k'" in embedded.sql and "id = $1 LIMIT $2" in embedded.sql
    marks = find_all(source, "?")
    assert params_at(stmt) == [(marks[1], 1), (marks[2], 2)]
    assert relation_at(stmt, "docs") == source.index("docs")


def test_alembic_op_execute_triple_quoted() -> None:
    source = textwrap.dedent('''\
        """Add an index — ça va."""
        from alembic import op

        def upgrade():
            op.execute("""
                -- créé à la main
                CREATE INDEX ix_orders_customer ON orders (customer_id)
            """)
        ''')
    embedded, stmt = only(source)
    assert embedded.call == "op.execute"
    assert embedded.line == 5 and embedded.start == source.index('("""\n') + 4
    assert stmt.kind == "IndexStmt"
    assert stmt.start == source.index("CREATE INDEX")
    assert source[stmt.start:stmt.end] == "CREATE INDEX ix_orders_customer ON orders (customer_id)"
    assert relation_at(stmt, "orders") == source.index("orders (")


def test_django_run_sql() -> None:
    source = textwrap.dedent("""\
        from django.db import migrations

        class Migration(migrations.Migration):
            operations = [
                migrations.RunSQL(
                    sql=[("INSERT INTO app_flag (name) VALUES (%s)", ["ünïcode"]),
                         "UPDATE app_flag SET on_ = true"],
                    reverse_sql="DELETE FROM app_flag",
                ),
                migrations.RunSQL("CREATE TABLE app_t (id int); CREATE INDEX ON app_t (id)",
                                  migrations.RunSQL.noop),
            ]
        """)
    found = extract_sql(source)
    assert [(e.call, e.argument) for e in found] == [
        ("RunSQL", "sql"), ("RunSQL", "sql"), ("RunSQL", "reverse_sql"), ("RunSQL", "sql")]
    assert found[0].sql == "INSERT INTO app_flag (name) VALUES ($1)"
    statements, problem = parse_embedded(found[3])
    assert problem is None
    assert [source[s.start:s.end] for s in statements] == [
        "CREATE TABLE app_t (id int)", "CREATE INDEX ON app_t (id)"]
    assert relation_at(statements[1], "app_t") == source.index("app_t (id)")


def test_django_raw_and_extra() -> None:
    source = textwrap.dedent("""\
        people = Person.objects.raw("SELECT * FROM myapp_person WHERE last_name = %s", [name])
        recent = Entry.objects.extra(
            select={"is_recent": "pub_date > '2006-01-01'"},
            where=["headline = %s"], params=["Lennon"])
        """)
    raw, select, where = extract_sql(source)
    assert (raw.call, select.call, where.call) == ("raw", "extra", "extra")
    assert (select.argument, where.argument) == ("select", "where")
    statements, problem = parse_embedded(where)
    assert problem is None
    [stmt] = statements
    assert column_at(stmt, "headline") == source.index("headline")
    assert params_at(stmt) == [(source.index("%s\"]"), 1)]
    assert (stmt.start, stmt.end) == (source.index("headline"), source.index('"], params'))
    statements, _ = parse_embedded(select)
    assert column_at(statements[0], "pub_date") == source.index("pub_date")


def test_psycopg_sql_sql() -> None:
    source = textwrap.dedent("""\
        from psycopg import sql
        q1 = sql.SQL("SELECT * FROM jobs WHERE id = %s FOR UPDATE SKIP LOCKED")
        q2 = sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table))
        q3 = sql.SQL(", ").join(fields)
        """)
    [embedded] = extract_sql(source)
    assert embedded.call == "sql.SQL"
    statements, problem = parse_embedded(embedded)
    assert problem is None and relation_at(statements[0], "jobs") == source.index("jobs")


# --- positions: concatenation, escapes, non-ASCII --------------------------------------------


def test_implicit_concatenation_across_lines() -> None:
    source = textwrap.dedent("""\
        cur.execute(
            (
                "SELECT id, total "
                'FROM orders '  # the table
                r"WHERE status = %s"
            ),
            (status,),
        )
        """)
    embedded, stmt = only(source)
    assert embedded.sql == "SELECT id, total FROM orders WHERE status = $1"
    assert embedded.start == source.index("SELECT") and embedded.line == 3
    assert relation_at(stmt, "orders") == source.index("orders")
    assert column_at(stmt, "status") == source.index("status =")
    assert column_at(stmt, "total") == source.index("total")
    assert params_at(stmt) == [(source.index("%s"), 1)]
    assert (stmt.start, stmt.end) == (source.index("SELECT"), source.index("%s") + 2)
    assert (embedded.literal_start, embedded.literal_end) == (
        source.index('"SELECT'), source.index('%s"') + 3)


def test_non_ascii_before_and_inside_the_string() -> None:
    source = ("# Überprüfung der Bestände — 日本語のコメント 🚀\n"
              "label = 'naïve 🐘'; cur.execute(\"SELECT '☃ café', prénom FROM clients_été "
              "WHERE ville = %s\", ('Zürich',))\n")
    embedded, stmt = only(source)
    assert embedded.line == 2 and embedded.start == source.index("SELECT")
    assert column_at(stmt, "prénom") == source.index("prénom")
    assert relation_at(stmt, "clients_été") == source.index("clients_été")
    assert column_at(stmt, "ville") == source.index("ville")
    assert params_at(stmt) == [(source.index("%s"), 1)]


def test_escape_sequences_map_to_the_escape_in_the_file() -> None:
    # The .py text holds \t, \n and \u00e9 escapes; SQL sees one character for each.
    source = 'cur.execute("SELECT\\tcaf\\u00e9,\\n  x FROM t\\u00e9 WHERE y = \'\\u263a\'")\n'
    embedded, stmt = only(source)
    assert embedded.sql == "SELECT\tcafé,\n  x FROM té WHERE y = '☺'"
    assert column_at(stmt, "café") == source.index("caf")
    assert column_at(stmt, "x") == source.index("x FROM")
    assert relation_at(stmt, "té") == source.index("t\\u00e9")
    assert column_at(stmt, "y") == source.index("y =")
    assert stmt.end == source.index('")')


def test_syntax_error_position_is_in_the_file() -> None:
    source = "x = 'ü'\ncur.execute(\"SELECT 'é' FROM WHERE id = %s\", [1])\n"
    [embedded] = extract_sql(source)
    statements, problem = parse_embedded(embedded)
    assert statements == [] and problem is not None
    assert problem.offset == source.index("WHERE")


def test_bom_crlf_and_tabs() -> None:
    source = ("\ufeffimport db\r\nx = 1\tif True else 2\r\n"
              "def f(c):\r\n\tc.execute('SELECT a FROM b')\r\n")
    embedded, stmt = only(source)
    assert embedded.start == source.index("SELECT")
    assert relation_at(stmt, "b") == source.index("b'")
    source = "\ufeffc.execute('SELECT a FROM b')\n"
    assert only(source)[0].start == source.index("SELECT")


# --- skipped: computed SQL, non-SQL, no SQL ---------------------------------------------------


def test_computed_sql_is_skipped() -> None:
    source = textwrap.dedent("""\
        cur.execute(f"SELECT * FROM {table} WHERE id = %s", [1])
        cur.execute(f"SELECT 1 " "FROM t")
        cur.execute("SELECT * FROM %s WHERE id = 1" % table)
        cur.execute("SELECT * FROM {} WHERE id = %s".format(table), [1])
        cur.execute("SELECT * FROM " + table)
        cur.execute(query, [1])
        cur.execute(b"SELECT 1")
        conn.execute(text("SELECT * FROM {}".format(table)))
        op.execute(sa.text(QUERY))
        """)
    assert might_contain_sql(source)
    assert extract_sql(source) == []


def test_strings_that_are_not_sql_are_skipped() -> None:
    source = textwrap.dedent("""\
        shell.execute("ls -la /tmp")
        fabric.execute("git status")
        stmt = select(User).where(text("id > 5"))
        page.text("Update the page")
        response.raw("hello")
        """)
    assert extract_sql(source) == []


def test_unparsable_python_yields_nothing() -> None:
    assert extract_sql("def f(:\n    cur.execute('SELECT 1')\n") == []


def test_prefilter_skips_a_file_without_sql() -> None:
    source = textwrap.dedent("""\
        import subprocess

        def run(cmd):
            executor.execute(cmd)              # a call, but no SQL literal
            return subprocess.run(["select", "update"], text=True)
        """)
    assert not might_contain_sql(source)
    assert might_contain_sql('cur.execute(\n    """\n    select 1""")')
    assert might_contain_sql("cur.execute('/* hint */ SELECT 1')")
    assert might_contain_sql("migrations.RunSQL(sql=SQL)")


def test_prefilter_does_not_import_libcst() -> None:
    code = ("import sys; from pglint.python import might_contain_sql; "
            "assert not might_contain_sql('x = 1'); "
            "assert 'libcst' not in sys.modules, 'libcst imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- repeated literals, placeholders standing for more than a value ---------------------------


def test_repeated_literals_are_each_located() -> None:
    source = textwrap.dedent("""\
        LOCK = "SELECT pg_advisory_lock(1)"  # the same text, not handed to a call

        def a(cur):
            cur.execute("SELECT pg_advisory_lock(1)")

        def b(cur):
            cur.execute("SELECT id FROM jobs WHERE id = %s", [1])
            cur.execute("SELECT id FROM jobs WHERE id = %s", [2])
            cur.execute("SELECT pg_advisory_lock(1)")
        """)
    found = extract_sql(source)
    locks = find_all(source, "SELECT pg_advisory_lock")[1:]
    jobs = find_all(source, "SELECT id FROM jobs")
    assert [e.start for e in found] == sorted(locks + jobs)
    for embedded in found:
        [stmt], problem = parse_embedded(embedded)
        assert problem is None and stmt.start == embedded.start


def test_placeholder_that_stands_for_a_list_or_a_literal() -> None:
    source = textwrap.dedent("""\
        cur.execute("SELECT * FROM t WHERE id IN %s AND kind = %s", (ids, kind))
        cur.execute("SET statement_timeout = %s", ["5s"])
        cur.execute("SELECT * FROM %s WHERE id = 1", [AsIs(table)])
        """)
    in_list, timeout, table = extract_sql(source)
    [stmt], problem = parse_embedded(in_list)
    assert problem is None
    marks = find_all(source, "%s")
    assert params_at(stmt) == [(marks[0], 1), (marks[1], 2)]
    [stmt], problem = parse_embedded(timeout)
    assert problem is None and stmt.kind == "VariableSetStmt"
    # The placeholder is a table name: computed SQL, skipped without a false alarm.
    assert parse_embedded(table) == ([], None)


def test_psycopg_sql_fragments_are_skipped() -> None:
    source = textwrap.dedent("""\
        parts = [sql.SQL("SELECT * FROM "), name, sql.SQL("(")]
        query = sql.SQL("SELECT * FROM jobs WHERE ") + condition
        """)
    assert extract_sql(source) == []


def test_positions_through_a_byte_order_mark_crlf_and_pieces_split_by_comments():
    """CPython's positions (UTF-8 byte columns, lines after a byte-order mark) are turned into
    the file's characters; the pieces of an implicit concatenation are found between them."""
    source = ("\ufeff# café\r\n"
              "def f(cur):\r\n"
              "    x = '☕'; cur.execute('SELECT prénom '  # é\r\n"
              "        r'FROM clients '\\\r\n"
              "        \"WHERE ville = %s\", ('Zürich',))\r\n")
    embedded, stmt = only(source)
    assert embedded.sql == "SELECT prénom FROM clients WHERE ville = $1"
    assert column_at(stmt, "prénom") == source.index("prénom")
    assert relation_at(stmt, "clients") == source.index("clients")
    assert column_at(stmt, "ville") == source.index("ville")


def test_a_comment_between_the_call_and_its_sql_is_no_hiding_place():
    source = "cur.execute(  # the nightly report\n    'SELECT count(*) FROM orders'\n)\n"
    embedded, stmt = only(source)
    assert relation_at(stmt, "orders") == source.index("orders")


def test_each_string_gets_its_own_line_in_a_file_of_many():
    # Lines are counted once per file (counting per string was quadratic in the file's size).
    source = "def f(cur):\n" + "".join(f'    cur.execute("SELECT {i}")\n' for i in range(300))
    found = extract_sql(source)
    assert [e.line for e in found] == list(range(2, 302))
    assert [e.sql for e in found[:2]] == ["SELECT 0", "SELECT 1"]
