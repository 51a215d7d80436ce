"""PGL204 check-then-act."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.kit.check_then_act import python_check
from pglint.kit.check_then_act_fixes import orm_columns, python_finding
from pglint.kit.check_then_act_sql import (
    if_not_exists, insert_where_not_exists, on_conflict_fix, on_conflict_suggestion,
    select_into_not_found,
)
from pglint.kit.orm_inserts import handles_conflict, serialized_before
from pglint.kit.roles import runs_once
from pglint.kit.upserts import Check, catalog_name, child_lookup, unique_indexes
from pglint.rule import Example, Rule
from pglint.sql.parse import Statement

_CUSTOMERS = ("CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,\n"
              "    name text);\n")
_TAGS = ("CREATE TABLE tags (id bigserial PRIMARY KEY, tenant_id int NOT NULL,\n"
         "    label text NOT NULL);\n")
_DJANGO_MODELS = ("from django.db import models\n\n\n"
                  "class Customer(models.Model):\n"
                  "    email = models.TextField(unique=True)\n"
                  "    name = models.TextField(null=True)\n\n"
                  "    class Meta:\n"
                  "        db_table = \"customers\"\n\n\n"
                  "class Tag(models.Model):\n"
                  "    tenant_id = models.IntegerField()\n"
                  "    label = models.TextField()\n\n"
                  "    class Meta:\n"
                  "        db_table = \"tags\"\n")
_SA_MODELS = ("from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
              "class Base(DeclarativeBase):\n"
              "    pass\n\n\n"
              "class Customer(Base):\n"
              "    __tablename__ = \"customers\"\n"
              "    id: Mapped[int] = mapped_column(primary_key=True)\n"
              "    email: Mapped[str]\n"
              "    name: Mapped[str | None]\n\n\n"
              "class Tag(Base):\n"
              "    __tablename__ = \"tags\"\n"
              "    id: Mapped[int] = mapped_column(primary_key=True)\n"
              "    tenant_id: Mapped[int]\n"
              "    label: Mapped[str]\n")
_DJANGO = {"app/models.py": _DJANGO_MODELS, "migrations/V1__schema.sql": _CUSTOMERS + _TAGS}
_SQLALCHEMY = {"app/models.py": _SA_MODELS, "migrations/V1__schema.sql": _CUSTOMERS + _TAGS}
_SUBSCRIPTIONS = ("CREATE TABLE subscriptions (user_id bigint, list_id bigint,\n"
                  "    PRIMARY KEY (user_id, list_id));\n")


class CheckThenAct(Rule):
    """
    ## What it does
    Flags an insert guarded by a separate existence check on the same table, where the code runs
    repeatedly (query files, function bodies, pgbench scripts):
    `IF NOT EXISTS (SELECT ... FROM t WHERE ...) THEN INSERT INTO t ...` and
    `SELECT ... INTO ... FROM t WHERE ...; IF NOT FOUND THEN INSERT INTO t ...` in PL/pgSQL, and
    `INSERT INTO t ... SELECT ... WHERE NOT EXISTS (SELECT 1 FROM t WHERE ...)` in SQL. The
    message says whether the catalog has a unique constraint or index on the lookup columns.

    In Python, flags the same race through an ORM or a driver: Django
    `if not M.objects.filter(...).exists(): M.objects.create(...)` (also `.count() == 0`,
    `.first() is None`, or the create in the `else` of `if M.objects.filter(...).exists()`) and
    `try: M.objects.get(...)` / `except M.DoesNotExist: M.objects.create(...)`; SQLAlchemy
    `obj = session.query(M).filter_by(...).first()` (or `session.scalars(select(M).where(...))
    .first()`, `session.execute(...).scalar_one_or_none()`, `.one()` / `NoResultFound`) then
    `if obj is None: session.add(M(...))`; and raw SQL, `cur.execute("SELECT ... FROM t WHERE
    ...")` then `if cur.fetchone() is None: cur.execute("INSERT INTO t ...")`. The model's table
    (from the project's models) tells which unique keys the catalog knows.

    ## When it stays silent
    - The catalog does not know the table: whether a unique key already settles the race, and
      which, is then unknown (a bare name in a query finds the one schema-qualified table of
      that name that the migrations create).
    - The function catches `IntegrityError` around the insert or after it (around the flush
      that sends it): the race is handled on purpose.
    - The function takes a lock before the check that serializes its runs: an advisory lock
      (`pg_try_advisory_xact_lock(...)` in its SQL, or `func.pg_advisory_xact_lock`) or a row
      lock (`with_for_update()`, `select_for_update()`, `FOR UPDATE`).
    - The lookup is one foreign-key column that no unique key covers: a parent's first child
      on a one-to-many relation, where a second child is no duplicate.
    - Part of the lookup is an expression pglint does not read (`lower(email) = ...`,
      `func.lower(...)`) and no unique key lies within the columns it did read.
    - One-off code: migration statements, `DO` blocks (also in SQL files outside the
      migrations, such as an extension's install script), tests, fixtures, seeds, scripts and
      data migrations.

    ## Why is this bad?
    The check and the insert are two steps. Under `READ COMMITTED` two concurrent sessions both
    see "no row" (neither sees the other's uncommitted insert) and both insert: a duplicate
    row, or, when a unique constraint exists, a unique violation (23505) the caller did not
    expect. `INSERT ... WHERE NOT EXISTS` in one statement races the same way: its subquery reads
    a snapshot and does not wait for concurrent inserts. Only a unique constraint or index
    settles the race; `INSERT ... ON CONFLICT` uses it to skip (or update) the existing row
    atomically.

    ## Example
    ```sql
    CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN
        INSERT INTO customers (email, name) VALUES (p_email, p_name);
      END IF;
    END $$;
    ```
    ```python
    if not Customer.objects.filter(email=email).exists():
        Customer.objects.create(email=email, name=name)
    ```

    ## Use instead
    A unique constraint on the lookup columns, and one statement that relies on it:
    ```sql
    INSERT INTO customers (email, name) VALUES (p_email, p_name)
    ON CONFLICT (email) DO NOTHING;
    ```
    In Django, a `models.UniqueConstraint(fields=["email"], name="customers_email_key")` and
    `Customer.objects.get_or_create(email=email, defaults={"name": name})`; in SQLAlchemy,
    `session.execute(insert(Customer).values(email=email, name=name)
    .on_conflict_do_nothing(index_elements=["email"]))` with PostgreSQL's `insert` (from
    `sqlalchemy.dialects.postgresql`).

    ## Fix safety
    Unsafe, and only where the shape is exact: the lookup is equalities on exactly the columns
    of a unique constraint or index (per the catalog), the insert supplies the same values, and
    the check guards nothing but that insert. pglint then removes the check (the `IF ... THEN` /
    `END IF`, or the `WHERE NOT EXISTS (...)`) and appends `ON CONFLICT (cols) DO NOTHING`. A
    concurrent duplicate is then skipped silently instead of inserted or failing, and in
    PL/pgSQL `FOUND` / `GET DIAGNOSTICS` report 0 rows for it. Other shapes get the upsert as a
    suggestion, with the `CREATE UNIQUE INDEX` it needs when the catalog shows none.

    Python: Django's `get_or_create(<lookup>, defaults={<the other create arguments>})` replaces
    the `if` / `try` (unsafe) when the shape is exact: the filter's keyword equalities are
    create arguments with the same values, nothing else is in the block, and the check's result
    is not kept in a variable; a used result of the create becomes `get_or_create(...)[0]`. It
    is not applied when the catalog shows no unique constraint on the lookup columns (without
    one `get_or_create()` still races): the suggestion then carries the `UniqueConstraint`.
    Other shapes, SQLAlchemy and raw SQL get the `get_or_create()`, `on_conflict_do_nothing()`
    or `ON CONFLICT` form as a suggestion: `on_conflict_do_nothing()` runs at once instead of
    at the session's flush, and a skipped insert returns no row. Where PostgreSQL's insert
    cannot stand in for the ORM's (the object is used afterwards, a value is a relationship,
    the model inherits its table's primary key from a parent table, or the project also runs on
    SQLite or MySQL), the suggestion is the insert in a savepoint that catches
    `IntegrityError`. A PL/pgSQL rewrite keeps the insert's `RETURNING ... INTO target`. Raw
    SQL in a project that also runs on SQLite or MySQL gets no `ON CONFLICT` (MySQL has none):
    the suggestion is to catch the unique violation.
    """

    code = "PGL204"
    name = "check-then-act"
    summary = "Existence check followed by an insert races: concurrent sessions both insert"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 2 of 17 findings of a pull-request view (round 6), none "
        "of the 10 on an application it was not tuned on: races settled elsewhere (a caller's "
        "lock or IntegrityError handler, dead code) and rare, harmless ones (admin-only, "
        "double submits) are not told apart"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT",
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
    )
    statements = ("SelectStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = (ast.If, ast.Try)
    # The act (a manager's create(), a session's add(), insert() of a model class, an INSERT
    # statement) and the check.
    python_hint = ((".create(", ".add(", "insert(", "INSERT", "insert "),
                   # (Alternatives that each start with a literal: fast to search.)
                   (re.compile(r"\.objects\.(?:[^\n]*?\.)?create\("),
                    re.compile(r"insert\(\s*[A-Z]\w*\s*\)"),
                    re.compile(r"(?:ession\w*|db)\.add(?:_all)?\("),
                    "INSERT INTO", "insert into", "INSERT\n", "Insert into"),
                   (".exists()", ".count()", "DoesNotExist", "NoResultFound", ".first()",
                    "_or_none()", "fetchone()", ".scalar("))

    VALID = (
        # The upsert itself.
        Example("INSERT INTO customers (email, name) VALUES ('a@example.com', 'A')\n"
                "ON CONFLICT (email) DO NOTHING;",
                kind="sql", context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The NOT EXISTS reads another table: a filter, not a duplicate check.
        Example("INSERT INTO customers (email, name)\n"
                "SELECT email, name FROM signups s\n"
                "WHERE NOT EXISTS (SELECT 1 FROM blocked_emails b WHERE b.email = s.email);",
                kind="sql"),
        # A one-off migration statement runs once, alone.
        Example("INSERT INTO customers (email, name)\n"
                "SELECT 'admin@example.com', 'Admin'\n"
                "WHERE NOT EXISTS (SELECT 1 FROM customers WHERE email = 'admin@example.com');",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The check guards an error, not an insert.
        Example("CREATE FUNCTION must_exist(p_email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    RAISE EXCEPTION 'unknown customer %', p_email;\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # A DO block runs once.
        Example("DO $$\nBEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = 'ops@example.com') THEN\n"
                "    INSERT INTO customers (email, name) VALUES ('ops@example.com', 'Ops');\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The guarded insert writes another table.
        Example("CREATE FUNCTION audit_new(p_email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    INSERT INTO audit_log (message) VALUES ('unknown ' || p_email);\n"
                "  END IF;\nEND $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # A table the catalog does not know: whether a key settles the race, and which, is
        # unknown (on real code the index it would propose often exists, or would be wrong).
        Example("INSERT INTO newsletter (email)\n"
                "SELECT $1\n"
                "WHERE NOT EXISTS (SELECT 1 FROM newsletter WHERE email = $1);", kind="sql"),
        # A DO block in a SQL file is a script run once (an extension's install step), even
        # outside the migrations.
        Example("DO $$\nBEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = 'ops@example.com') THEN\n"
                "    INSERT INTO customers (email, name) VALUES ('ops@example.com', 'Ops');\n"
                "  END IF;\nEND $$;",
                kind="sql", context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The flush after the insert turns the duplicate into an error the callers retry.
        Example("from sqlalchemy.exc import IntegrityError\n\n"
                "from app.models import Customer\n\n\n"
                "def register(session, email, name):\n"
                "    customer = session.query(Customer).filter_by(email=email).one_or_none()\n"
                "    if customer is None:\n"
                "        customer = Customer(email=email, name=name)\n"
                "        session.add(customer)\n"
                "    try:\n"
                "        session.flush()\n"
                "    except IntegrityError as err:\n"
                "        raise ConcurrentUpdate(email) from err\n"
                "    return customer\n",
                kind="python", context=_SQLALCHEMY),
        # A transaction-scoped advisory lock taken first serializes the callers: only one at a
        # time reads and inserts.
        Example("from sqlalchemy import text\n\n"
                "from app.models import Customer\n\n\n"
                "def register(session, email, name):\n"
                "    if not session.execute(text(\"SELECT pg_try_advisory_xact_lock(42)\"))"
                ".scalar():\n"
                "        return None\n"
                "    customer = session.query(Customer).filter_by(email=email).one_or_none()\n"
                "    if customer is None:\n"
                "        customer = Customer(email=email, name=name)\n"
                "        session.add(customer)\n"
                "    return customer\n",
                kind="python", context=_SQLALCHEMY),
        # A parent's first child on a one-to-many relation: a second child is no duplicate,
        # and a unique constraint on the foreign key would break the data model.
        Example("from app.models import SubmissionType\n\n\n"
                "def ensure_default_type(event):\n"
                "    if not SubmissionType.objects.filter(event=event).exists():\n"
                "        SubmissionType.objects.create(event=event, name=\"Talk\")\n",
                kind="python", context={
                    "app/models.py": "from django.db import models\n\n\n"
                                     "class Event(models.Model):\n"
                                     "    name = models.TextField()\n\n"
                                     "    class Meta:\n"
                                     "        db_table = \"events\"\n\n\n"
                                     "class SubmissionType(models.Model):\n"
                                     "    event = models.ForeignKey(Event, models.CASCADE)\n"
                                     "    name = models.TextField()\n\n"
                                     "    class Meta:\n"
                                     "        db_table = \"submission_types\"\n",
                    "migrations/V1__events.sql":
                        "CREATE TABLE events (id bigserial PRIMARY KEY, name text);\n"
                        "CREATE TABLE submission_types (id bigserial PRIMARY KEY,\n"
                        "    event_id bigint NOT NULL REFERENCES events (id), name text);\n"}),
        # Part of the lookup is an expression pglint does not read (`func.lower(...)`): the
        # columns it did read hold no key, and proposing one on them would be wrong.
        Example("from sqlalchemy import func\n\n"
                "from app.models import Customer\n\n\n"
                "def customer_for(session, email, name):\n"
                "    found = (\n"
                "        session.query(Customer)\n"
                "        .filter(func.lower(Customer.email) == func.lower(email))\n"
                "        .filter(Customer.name == name)\n"
                "        .one_or_none()\n"
                "    )\n"
                "    if not found:\n"
                "        session.add(Customer(email=email, name=name))\n",
                kind="python", context=_SQLALCHEMY),
        # Python: get_or_create() on a unique field is the race-free form.
        Example("from app.models import Customer\n\n\n"
                "def register(email, name):\n"
                "    return Customer.objects.get_or_create(email=email, "
                "defaults={\"name\": name})\n",
                kind="python", context=_DJANGO),
        # The check guards an error, not an insert.
        Example("from app.models import Customer\n\n\n"
                "def must_exist(email):\n"
                "    if not Customer.objects.filter(email=email).exists():\n"
                "        raise LookupError(email)\n",
                kind="python", context=_DJANGO),
        # The insert after the check handles the conflict itself.
        Example("from sqlalchemy import select\n"
                "from sqlalchemy.dialects.postgresql import insert\n\n"
                "from app.models import Customer\n\n\n"
                "def register(session, email):\n"
                "    found = session.scalars(select(Customer).where(Customer.email == email))"
                ".first()\n"
                "    if found is None:\n"
                "        session.execute(\n"
                "            insert(Customer).values(email=email).on_conflict_do_nothing()\n"
                "        )\n",
                kind="python", context=_SQLALCHEMY),
        # Raw SQL: the row found decides what to log, in another table.
        Example("def audit(conn, email):\n"
                "    cur = conn.cursor()\n"
                "    cur.execute(\"SELECT id FROM customers WHERE email = %s\", (email,))\n"
                "    if cur.fetchone() is None:\n"
                "        cur.execute(\"INSERT INTO audit_log (message) VALUES (%s)\", (email,))\n",
                kind="python", context={"migrations/V1__customers.sql": _CUSTOMERS}),
    )
    INVALID = (
        # IF NOT EXISTS ... THEN INSERT with a unique constraint: exact shape, unsafe fix.
        Example("CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void\n"
                "LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers WHERE email = p_email) THEN\n"
                "    INSERT INTO customers (email, name) VALUES (p_email, p_name);\n"
                "  END IF;\n"
                "END $$;",
                fixed="CREATE FUNCTION add_customer(p_email text, p_name text) RETURNS void\n"
                      "LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n"
                      "  INSERT INTO customers (email, name) VALUES (p_email, p_name)"
                      " ON CONFLICT (email) DO NOTHING;\n"
                      "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # No unique constraint on the lookup columns: display, with the index it needs.
        Example("CREATE FUNCTION add_tag(p_tenant int, p_label text) RETURNS void\n"
                "LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM tags\n"
                "                 WHERE tenant_id = p_tenant AND label = p_label) THEN\n"
                "    INSERT INTO tags (tenant_id, label) VALUES (p_tenant, p_label);\n"
                "  END IF;\n"
                "END $$;",
                context={"migrations/V1__tags.sql": _TAGS}),
        # SELECT ... INTO; IF NOT FOUND THEN INSERT: the record is used after, so display.
        Example("CREATE FUNCTION customer_id(p_email text) RETURNS bigint\n"
                "LANGUAGE plpgsql AS $$\n"
                "DECLARE v_id bigint;\n"
                "BEGIN\n"
                "  SELECT id INTO v_id FROM customers WHERE email = p_email;\n"
                "  IF NOT FOUND THEN\n"
                "    INSERT INTO customers (email) VALUES (p_email) RETURNING id INTO v_id;\n"
                "  END IF;\n"
                "  RETURN v_id;\n"
                "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # INSERT ... WHERE NOT EXISTS on the same table, with a matching primary key.
        Example("INSERT INTO subscriptions (user_id, list_id)\n"
                "SELECT 42, 7\n"
                "WHERE NOT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = 42 AND list_id = 7)"
                "\nRETURNING user_id;",
                fixed="INSERT INTO subscriptions (user_id, list_id)\n"
                      "SELECT 42, 7 ON CONFLICT (user_id, list_id) DO NOTHING\n"
                      "RETURNING user_id;",
                kind="sql", context={"migrations/V1__subscriptions.sql": _SUBSCRIPTIONS}),
        # Same, without a unique constraint on the compared columns: display with the index.
        Example("INSERT INTO tags (tenant_id, label)\n"
                "SELECT 1, 'vip'\n"
                "WHERE NOT EXISTS (SELECT 1 FROM tags WHERE tenant_id = 1 AND label = 'vip');",
                kind="sql", context={"migrations/V1__tags.sql": _TAGS}),
        # A function parameter named like the key column: `ON CONFLICT (email)` would be
        # ambiguous in PL/pgSQL, so the fix names the constraint.
        Example("CREATE FUNCTION register(email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  IF NOT EXISTS (SELECT 1 FROM customers c WHERE c.email = register.email) THEN\n"
                "    INSERT INTO customers (email) VALUES (register.email);\n"
                "  END IF;\n"
                "END $$;",
                fixed="CREATE FUNCTION register(email text) RETURNS void LANGUAGE plpgsql AS $$\n"
                      "BEGIN\n"
                      "  INSERT INTO customers (email) VALUES (register.email)"
                      " ON CONFLICT ON CONSTRAINT customers_email_key DO NOTHING;\n"
                      "END $$;",
                context={"migrations/V1__customers.sql": _CUSTOMERS}),
        # The migrations create the table in a schema, the query relies on search_path: the
        # key is found, and the fix uses it.
        Example("INSERT INTO subscriptions (user_id, list_id)\n"
                "SELECT $1, $2\n"
                "WHERE NOT EXISTS (SELECT 1 FROM subscriptions WHERE user_id = $1 AND list_id = $2);",
                fixed="INSERT INTO subscriptions (user_id, list_id)\n"
                      "SELECT $1, $2 ON CONFLICT (user_id, list_id) DO NOTHING;",
                kind="sql", context={"migrations/V1__subscriptions.sql":
                                     "CREATE SCHEMA app;\n"
                                     + _SUBSCRIPTIONS.replace("TABLE subscriptions",
                                                              "TABLE app.subscriptions")},
                not_executable="the application's connection sets search_path to app"),
        # Python, Django: exists() then create() on a unique field: get_or_create().
        Example("from app.models import Customer\n\n\n"
                "def register(email, name):\n"
                "    # one account per address\n"
                "    if not Customer.objects.filter(email=email).exists():\n"
                "        Customer.objects.create(email=email, name=name)\n",
                fixed="from app.models import Customer\n\n\n"
                      "def register(email, name):\n"
                      "    # one account per address\n"
                      "    Customer.objects.get_or_create(email=email, "
                      "defaults={\"name\": name})\n",
                kind="python", context=_DJANGO),
        # get() / DoesNotExist / create(), the result kept.
        Example("from app.models import Customer\n\n\n"
                "def customer_for(email):\n"
                "    try:\n"
                "        customer = Customer.objects.get(email=email)\n"
                "    except Customer.DoesNotExist:\n"
                "        customer = Customer.objects.create(email=email)\n"
                "    return customer\n",
                fixed="from app.models import Customer\n\n\n"
                      "def customer_for(email):\n"
                      "    customer = Customer.objects.get_or_create(email=email)[0]\n"
                      "    return customer\n",
                kind="python", context=_DJANGO),
        # No unique constraint on the lookup: display, with the UniqueConstraint to add.
        Example("from app.models import Tag\n\n\n"
                "def add_tag(tenant_id, label):\n"
                "    if Tag.objects.filter(tenant_id=tenant_id, label=label).count() == 0:\n"
                "        Tag.objects.create(tenant_id=tenant_id, label=label)\n",
                kind="python", context=_DJANGO),
        # The create in the else branch: display.
        Example("from app.models import Customer\n\n\n"
                "def register(email):\n"
                "    if Customer.objects.filter(email=email).exists():\n"
                "        return False\n"
                "    else:\n"
                "        Customer.objects.create(email=email)\n"
                "    return True\n",
                kind="python", context=_DJANGO),
        # SQLAlchemy: first() then add(): display with on_conflict_do_nothing().
        Example("from app.models import Customer\n\n\n"
                "def register(session, email, name):\n"
                "    customer = session.query(Customer).filter_by(email=email).first()\n"
                "    if customer is None:\n"
                "        session.add(Customer(email=email, name=name))\n",
                kind="python", context=_SQLALCHEMY),
        Example("from sqlalchemy import select\n\n"
                "from app.models import Tag\n\n\n"
                "def tag(session, tenant_id, label):\n"
                "    found = session.execute(\n"
                "        select(Tag).where(Tag.tenant_id == tenant_id, Tag.label == label)\n"
                "    ).scalar_one_or_none()\n"
                "    if found is None:\n"
                "        found = Tag(tenant_id=tenant_id, label=label)\n"
                "        session.add(found)\n"
                "    return found\n",
                kind="python", context=_SQLALCHEMY),
        # Raw SQL: SELECT, then INSERT when fetchone() finds nothing.
        Example("def register(conn, email, name):\n"
                "    with conn.cursor() as cur:\n"
                "        cur.execute(\"SELECT id FROM customers WHERE email = %s\", (email,))\n"
                "        if cur.fetchone() is None:\n"
                "            cur.execute(\n"
                "                \"INSERT INTO customers (email, name) VALUES (%s, %s)\",\n"
                "                (email, name),\n"
                "            )\n",
                kind="python", context={"migrations/V1__customers.sql": _CUSTOMERS}),
    )

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        found = python_check(ctx, node)
        if found is None or runs_once(ctx) or handles_conflict(ctx.python_file, found.act) or \
                serialized_before(ctx.python_file, found.first):
            return  # one-off code, the duplicate handled on purpose, or the runs serialized
        table = found.sql.table if found.sql is not None else ctx.model.orm_table(found.model)
        if table is None or ctx.model.catalog.table(catalog_name(ctx, table)) is None:
            return  # no catalog: what the race does and which key settles it are unknown
        table = catalog_name(ctx, table)
        columns = [c for c, _ in found.sql.lookup] if found.sql is not None else \
            orm_columns(ctx, table, [name for name, _ in found.lookup])
        if child_lookup(ctx, table, columns):
            return  # a parent's first child: a second one is no duplicate
        partial = found.sql.partial if found.sql is not None else not found.plain
        if partial and not _keyed(ctx, table, columns):
            return  # part of the lookup is unread (`func.lower(col) == x`): no key to judge
        if found.sql is not None:
            found = replace(found, sql=replace(found.sql, table=table))
        yield python_finding(self, ctx, found)

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt) or (
                ctx.kind == "python" and runs_once(ctx)):
            return
        if stmt.kind == "InsertStmt":
            found = insert_where_not_exists(stmt)
        elif stmt.plpgsql_holder is None:
            return
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_if":
            found = if_not_exists(ctx, stmt)
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_execsql":
            found = select_into_not_found(ctx, stmt)
        else:
            return
        if found is None:
            return
        table = catalog_name(ctx, found.table)
        if ctx.model.catalog.table(table) is None:
            return  # no catalog: what the race does and which key settles it are unknown
        if ctx.kind != "python" and stmt.parent is not None and stmt.parent.kind == "DoStmt":
            return  # a DO block in a SQL file: a script run once (an install or setup step)
        if child_lookup(ctx, table, [c for c, _ in found.lookup]):
            return  # a parent's first child: a second one is no duplicate
        if found.partial and not _keyed(ctx, table, [c for c, _ in found.lookup]):
            return  # part of the lookup is unread (`lower(col) = x`): no key to judge
        yield self._report(ctx, stmt, replace(found, table=table))

    def _report(self, ctx: FileContext, stmt: Statement, check: Check) -> Finding:
        catalog = ctx.model.catalog
        bare = ctx.model.bare(check.table)
        cols = [c for c, _ in check.lookup]
        shown = ", ".join(cols)
        known = catalog.table(check.table) is not None
        keys = catalog.key_columns(check.table)
        lookup = set(cols)
        exact_key = next((i for i in unique_indexes(ctx, check.table) if set(i.columns) == lookup),
                         None)
        guarded = any(k <= lookup for k in keys)
        if exact_key is not None or guarded:
            key = shown if exact_key is not None else ", ".join(
                sorted(next(k for k in keys if k <= lookup)))
            message = (f"{check.shape} on `{bare}` races: concurrent callers both pass, one fails "
                       f"on unique ({key})")
            state = f"`{bare}` has a unique constraint on ({key})"
        elif known:
            message = (f"{check.shape} on `{bare}` races: concurrent callers both insert a "
                       f"duplicate (no unique constraint on {shown})")
            state = f"`{bare}` has no unique constraint on ({shown})"
        else:
            message = (f"{check.shape} on `{bare}` races: concurrent callers both insert "
                       f"(unique constraint on {shown} unknown)")
            state = f"pglint's catalog does not know `{bare}`: whether ({shown}) is unique is open"
        help = (f"{state}. The check and the insert are separate steps: under READ COMMITTED "
                "neither session sees the other's uncommitted row, so both pass the check. "
                "Only a UNIQUE constraint or index on the lookup columns settles the race; "
                "`INSERT ... ON CONFLICT (cols) DO NOTHING` uses it to skip an existing row "
                "atomically (`ON CONFLICT` needs a unique index or constraint on exactly those "
                "columns). With `DO NOTHING`, a skipped row is not returned by `RETURNING`: "
                "select it afterwards, or use `DO UPDATE SET col = EXCLUDED.col` to get it "
                "back (that writes a new row version).")
        fix = None
        if exact_key is not None and check.only_equalities and check.insert is not None:
            fix = on_conflict_fix(ctx, stmt, check, exact_key)
        if fix is None:
            fix = Fix.display("Rely on a unique constraint with INSERT ... ON CONFLICT",
                              on_conflict_suggestion(ctx, check, exact_key is not None, known))
        return self.finding(ctx, message, fix, help, node=stmt)


def _keyed(ctx: FileContext, table: str, columns: list[str]) -> bool:
    """A unique key of the table lies within the lookup columns pglint read."""
    return any(set(i.columns) <= set(columns) for i in unique_indexes(ctx, table))
