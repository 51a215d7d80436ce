"""PGL204's SQL form on the shapes seen in real projects: a PL/pgSQL `RETURNING ... INTO`
kept in the suggested rewrite, and tables the migrations create in a schema while the queries
name them bare (pglint.kit.upserts.catalog_name)."""

from __future__ import annotations

from pathlib import Path

from pglint import engine
from pglint.config import parse_settings

_PRODUCTS = "CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL UNIQUE);\n"


def _lint(root: Path, files: dict[str, str]) -> list:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settings = parse_settings({"select": ["PGL204"]}).with_overrides(root=root)
    result = engine.lint([root], settings)
    assert not result.internal_errors
    return result.findings


def test_the_rewrite_keeps_plpgsql_into(tmp_path: Path) -> None:
    # Without `INTO product_id` the rewritten INSERT fails at run time ("query has no
    # destination for result data").
    [finding] = _lint(tmp_path, {
        "migrations/V1__products.sql": _PRODUCTS,
        "migrations/V2__upsert.sql":
            "CREATE FUNCTION upsert_product(p_name text) RETURNS integer AS '\n"
            "  DECLARE product_id integer;\n"
            "  BEGIN\n"
            "    SELECT id INTO product_id FROM public.products p WHERE p.name = p_name;\n"
            "    IF NOT FOUND THEN\n"
            "      INSERT INTO public.products (name)\n"
            "      VALUES (p_name) RETURNING id INTO product_id;\n"
            "    END IF;\n"
            "    RETURN product_id;\n"
            "  END;\n"
            "' LANGUAGE plpgsql;\n"})
    assert "one fails on unique (name)" in finding.message
    suggestion = finding.fix.suggestion
    assert "ON CONFLICT (name) DO NOTHING RETURNING id INTO product_id;" in \
        " ".join(suggestion.split())
    assert "CREATE UNIQUE INDEX" not in suggestion  # the key exists


def test_bare_names_find_the_schema_qualified_table(tmp_path: Path) -> None:
    schema = ("CREATE SCHEMA app;\n"
              "CREATE TABLE app.flags (user_id uuid PRIMARY KEY, created_at timestamptz);\n")
    query = ("INSERT INTO flags (user_id, created_at)\nSELECT $1, now()\n"
             "WHERE NOT EXISTS (SELECT 1 FROM flags WHERE user_id = $1);\n")
    [finding] = _lint(tmp_path, {"migrations/V1__flags.sql": schema, "queries/flags.sql": query})
    assert "one fails on unique (user_id)" in finding.message
    assert finding.fix.applicable  # the key is known: no index to create
    # Two schemas with a table of that name: which one the query reaches is unknown.
    (tmp_path / "migrations" / "V2__more.sql").write_text(
        "CREATE SCHEMA other;\nCREATE TABLE other.flags (user_id uuid);\n")
    assert _lint(tmp_path, {}) == []


def test_a_parents_first_child_is_no_duplicate(tmp_path: Path) -> None:
    schema = ("CREATE TABLE orders (id bigserial PRIMARY KEY);\n"
              "CREATE TABLE notes (id bigserial PRIMARY KEY,\n"
              "    order_id bigint NOT NULL REFERENCES orders (id), body text);\n"
              "CREATE TABLE tags (id bigserial PRIMARY KEY, name text);\n"
              "CREATE TABLE order_tags (order_id bigint REFERENCES orders (id),\n"
              "    tag_id bigint REFERENCES tags (id));\n")
    one = ("INSERT INTO notes (order_id, body)\nSELECT $1, 'created'\n"
           "WHERE NOT EXISTS (SELECT 1 FROM notes WHERE order_id = $1);\n")
    link = ("INSERT INTO order_tags (order_id, tag_id)\nSELECT $1, $2\n"
            "WHERE NOT EXISTS (SELECT 1 FROM order_tags WHERE order_id = $1 AND tag_id = $2);\n")
    findings = _lint(tmp_path, {"migrations/V1__orders.sql": schema,
                                "queries/notes.sql": one, "queries/tags.sql": link})
    # The first note of an order: silent. A link row of a many-to-many table: a duplicate.
    assert [Path(f.path).name for f in findings] == ["tags.sql"]


def test_a_lookup_partly_unread_needs_a_key_in_what_was_read(tmp_path: Path) -> None:
    schema = ("CREATE TABLE members (id bigserial PRIMARY KEY, tenant_id int NOT NULL,\n"
              "    email text NOT NULL);\n"
              "CREATE UNIQUE INDEX members_email ON members (tenant_id, lower(email));\n")
    query = ("INSERT INTO members (tenant_id, email)\nSELECT $1, $2\n"
             "WHERE NOT EXISTS (SELECT 1 FROM members\n"
             "                  WHERE tenant_id = $1 AND lower(email) = lower($2));\n")
    # Only `tenant_id = $1` is read: a unique key on it alone would be wrong.
    assert _lint(tmp_path, {"migrations/V1__members.sql": schema,
                            "queries/members.sql": query}) == []


def test_no_on_conflict_for_a_project_that_also_runs_on_mysql(tmp_path: Path) -> None:
    # ON CONFLICT does not exist in MySQL: the suggestion catches the violation instead.
    source = ("def register(cur, email):\n"
              "    cur.execute(\"SELECT id FROM members WHERE email = %s\", (email,))\n"
              "    if cur.fetchone() is None:\n"
              "        cur.execute(\"INSERT INTO members (email) VALUES (%s)\", (email,))\n")
    files = {"migrations/V1__members.sql":
             "CREATE TABLE members (id bigserial PRIMARY KEY, email text UNIQUE);\n",
             "app/views.py": source}
    [finding] = _lint(tmp_path, files)
    assert "ON CONFLICT (email) DO NOTHING" in finding.fix.suggestion
    [finding] = _lint(tmp_path, {"app/settings.py": "URL = \"mysql://db/app\"\n"})
    assert "ON CONFLICT (email)" not in finding.fix.suggestion
    assert "IntegrityError" in finding.fix.suggestion
