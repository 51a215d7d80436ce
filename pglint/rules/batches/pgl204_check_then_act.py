"""PGL204 check-then-act."""

from __future__ import annotations

import ast
import bisect
import re
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.check_then_act import PROBES, SA_INSERTS, one_off_python, python_check
from pglint.kit.check_then_act_fixes import constraint_name, python_finding
from pglint.kit.upserts import (
    NOT_FOUND,
    Check,
    conflict_point,
    conflict_target,
    end_of_previous,
    exists_sublink,
    has_returning,
    locate_plpgsql,
    lookup_equalities,
    single_table,
    unique_indexes,
)
from pglint.model.catalog import Index
from pglint.python.screen import CodeIndex, arguments, dotted
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.parse import Statement

_IF_BEFORE = re.compile(r"\bIF\s*$", re.IGNORECASE)
_END_IF_AFTER = re.compile(r"\s*END\s+IF\s*;", re.IGNORECASE)

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
    (from the project's models) tells which unique keys the catalog knows. Tests, fixtures,
    seeds and data migrations are not judged.

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
    at the session's flush, and a skipped insert returns no row.
    """

    code = "PGL204"
    name = "check-then-act"
    summary = "Existence check followed by an insert races: concurrent sessions both insert"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 3 sampled findings on real repositories"
    )
    section = "40.2.2 Idempotency Patterns"
    statements = ("SelectStmt", "InsertStmt")
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_node_types = ("If", "Try")
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
        # An unknown table: the constraint is unknown, so display only.
        Example("INSERT INTO newsletter (email)\n"
                "SELECT $1\n"
                "WHERE NOT EXISTS (SELECT 1 FROM newsletter WHERE email = $1);", kind="sql"),
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

    def screen_python(self, code: CodeIndex) -> bool:
        """An insert call (`M.objects.create()` / `bulk_create()`, `x.add(<one argument>)` of
        `f(...)` or of a name assigned `f(...)` in the same branch,
        `x.execute(insert(M)...)` without `on_conflict_*()`, `x.execute[many]()` of a string
        holding "insert") inside either the branch of an `if` that tests a probe as
        `_condition` reads it (a call of an `exists()`/`first()`/`fetchone()`... method, or a
        name when such a call exists; `not p`, `p is None`, `p == 0`...: the body; `p`,
        `p is not None`, `p > 0`: the `else`), or the handlers of a `try` that calls
        `get()`/`one()`/`scalar_one()` before them and catches `X.DoesNotExist`,
        `ObjectDoesNotExist` or `NoResultFound`. Positions stand in for "inside"."""
        acts: list[tuple[int, int, str]] = []  # where, and for `add(name)` the name
        gets: list[tuple[int, int]] = []
        probes = False
        rows: dict[str, list[tuple[int, int]]] | None = None  # where names are assigned `f(...)`
        for call in code.nodes(ast.Call):
            func = call.func
            if not isinstance(func, ast.Attribute):
                continue
            method = func.attr
            if method in PROBES:
                probes = True
            elif method in ("get", "one", "scalar_one"):
                gets.append((call.lineno, call.col_offset))
            elif method == "add":
                values = arguments(call)
                if len(values) != 1:
                    continue
                if isinstance(values[0], ast.Name):
                    if rows is None:
                        rows = _assigned_calls(code)
                    if values[0].id in rows:
                        acts.append((call.lineno, call.col_offset, values[0].id))
                elif isinstance(values[0], ast.Call) and isinstance(values[0].func, ast.Name):
                    acts.append((call.lineno, call.col_offset, ""))
            elif _act_shape(code, call, method):
                acts.append((call.lineno, call.col_offset, ""))

        if not acts:
            return False
        acts.sort()
        starts = [(line, column) for line, column, _ in acts]

        def inside(low: tuple[int, int], high: tuple[int, int]) -> bool:
            """An act between two positions (`add(name)`: with an assignment of the name, as
            `_sqlalchemy_insert` looks for it in the branch); found by bisection, so that a
            file of thousands of branches stays cheap."""
            first, last = bisect.bisect_left(starts, low), bisect.bisect_right(starts, high)
            return any(not name or any(low <= at <= high for at in rows[name])  # type: ignore
                       for _, _, name in acts[first:last])

        for node in code.nodes(ast.If):
            condition = _screen_condition(node.test)
            if condition is None:
                continue
            probe, missing = condition
            while isinstance(probe, ast.Await):
                probe = probe.value
            if isinstance(probe, ast.Subscript):  # `cur.fetchone()[0]`
                probe = probe.value
                while isinstance(probe, ast.Await):
                    probe = probe.value
            if not (isinstance(probe, ast.Name) and probes or isinstance(probe, ast.Call)
                    and isinstance(probe.func, ast.Attribute) and probe.func.attr in PROBES):
                continue
            if missing:  # the body
                low = (node.test.end_lineno, node.test.end_col_offset)
                high = (node.body[-1].end_lineno, node.body[-1].end_col_offset)
            elif node.orelse:  # the else
                low = (node.body[-1].end_lineno, node.body[-1].end_col_offset)
                high = (node.end_lineno, node.end_col_offset)
            else:
                continue
            if inside(low, high):  # type: ignore[arg-type]
                return True
        for node in code.nodes(ast.Try):
            if not node.body or not node.handlers:
                continue
            start = (node.lineno, node.col_offset)
            handlers = (node.handlers[0].lineno, node.handlers[0].col_offset)
            end = (node.handlers[-1].end_lineno, node.handlers[-1].end_col_offset)
            if any(_catches_missing(code, h) for h in node.handlers) and any(
                    start <= at <= handlers for at in gets) and inside(
                    handlers, end):  # type: ignore[arg-type]
                return True
        return False

    def check_python(self, node: Any, ctx: FileContext) -> Iterable[Finding]:
        found = python_check(ctx, node)
        if found is None or one_off_python(ctx):
            return
        yield python_finding(self, ctx, found)

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt) or (
                ctx.kind == "python" and one_off_python(ctx)):
            return
        if stmt.kind == "InsertStmt":
            found = _insert_where_not_exists(stmt)
        elif stmt.plpgsql_holder is None:
            return
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_if":
            found = _if_not_exists(ctx, stmt)
        elif stmt.plpgsql_holder[0] == "PLpgSQL_stmt_execsql":
            found = _select_into_not_found(ctx, stmt)
        else:
            return
        if found is None:
            return
        yield self._report(ctx, stmt, found)

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
            fix = _exact_fix(ctx, stmt, check, exact_key)
        if fix is None:
            fix = Fix.display("Rely on a unique constraint with INSERT ... ON CONFLICT",
                              _suggestion(ctx, check, exact_key is not None, known))
        return self.finding(ctx, message, fix, help, node=stmt)


# -- Python screen (CPython's tree) ---------------------------------------------------------------

def _screen_condition(test: ast.expr) -> tuple[ast.expr, bool] | None:
    """`_condition` on CPython's tree: (probe, whether the test is true when the row is
    missing), or None. `None` is a Constant here, an integer any spelling of 0 or 1."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return test.operand, True
    if not isinstance(test, ast.Compare):
        return test, False
    if len(test.ops) != 1:
        return None
    op, left, right = test.ops[0], test.left, test.comparators[0]
    if isinstance(op, (ast.Is, ast.IsNot)):
        if isinstance(right, ast.Constant) and right.value is None:
            return left, isinstance(op, ast.Is)
        return None
    if isinstance(left, ast.Constant) and type(left.value) is int:
        left, right = right, left
        op = ast.Gt() if isinstance(op, ast.Lt) else ast.Lt() if isinstance(op, ast.Gt) else op
    if not (isinstance(right, ast.Constant) and type(right.value) is int
            and right.value in (0, 1)):
        return None
    zero = right.value == 0
    if zero and isinstance(op, ast.Eq) or not zero and isinstance(op, ast.Lt):
        return left, True
    if zero and isinstance(op, (ast.NotEq, ast.Gt)) or not zero and isinstance(op, ast.GtE):
        return left, False
    return None


def _assigned_calls(code: CodeIndex) -> dict[str, list[tuple[int, int]]]:
    """Where names are assigned a call of a plain name (`obj = M(...)`, `obj: M = M(...)`):
    the only values `last_assignment` lets `add(obj)` insert."""
    names: dict[str, list[tuple[int, int]]] = {}
    for node in (*code.nodes(ast.Assign), *code.nodes(ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and isinstance(
                node.value, ast.Call) and isinstance(node.value.func, ast.Name):
            names.setdefault(targets[0].id, []).append((node.lineno, node.col_offset))
    return names


def _act_shape(code: CodeIndex, call: ast.Call, method: str) -> bool:
    """A call other than `add()` that `_act` may take for the insert: `_django_create`,
    `_sqlalchemy_insert`'s `execute(insert(M)...)` (not settled by `on_conflict_*()`) or
    `_sql_insert` (a string with "insert" in it)."""
    if method in ("create", "bulk_create"):
        manager = call.func.value  # type: ignore[attr-defined]
        return isinstance(manager, ast.Attribute) and manager.attr in (
            "objects", "_default_manager") and isinstance(manager.value, ast.Name)
    if method not in ("execute", "executemany"):
        return False
    for value in arguments(call):
        if _sql_mentions_insert(value) or isinstance(value, ast.Call) and any(
                _sql_mentions_insert(v) for v in arguments(value)):
            return True
        if method != "execute":
            continue
        node = value  # `sa_insert_model`: insert(M)[.values(...)...], no on_conflict_*()
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name.startswith("on_conflict_") or name not in (
                    "values", "returning", "execution_options", "inline", "prefix_with"):
                break
            node = node.func.value
        else:
            if isinstance(node, ast.Call) and code.qualified(node.func) in SA_INSERTS:
                target = arguments(node)
                if len(target) == 1 and isinstance(target[0], ast.Name):
                    return True
    return False


def _sql_mentions_insert(node: ast.expr) -> bool:
    """A str literal (implicit concatenation is one Constant here) with "insert" in it: an
    INSERT parsed from it spells the word (the frontend prefixes fragments with SELECT only)."""
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        "insert" in node.value.lower()


def _catches_missing(code: CodeIndex, handler: ast.ExceptHandler) -> bool:
    """`_handler_names` is not empty: the handler catches `X.DoesNotExist`,
    `ObjectDoesNotExist` or `NoResultFound` (imported under any name)."""
    kind = handler.type
    for item in kind.elts if isinstance(kind, ast.Tuple) else [kind]:
        if isinstance(item, ast.Starred):  # `except (*errors,)`: libcst's element value
            item = item.value
        if item is None:
            continue
        written = dotted(item) or ""
        if written in ("ObjectDoesNotExist", "NoResultFound") or (
                written.count(".") == 1 and written.endswith(".DoesNotExist")) or (
                code.qualified(item) or "").endswith((".ObjectDoesNotExist", ".NoResultFound")):
            return True
    return False


# -- shapes --------------------------------------------------------------------------------------

def _insert_where_not_exists(stmt: Statement) -> Check | None:
    """`INSERT INTO t ... SELECT ... WHERE NOT EXISTS (SELECT ... FROM t WHERE ...)`."""
    body = stmt.body
    table = n.relation_name(body.get("relation"))
    select = (body.get("selectStmt") or {}).get("SelectStmt")
    if not table or not select or body.get("onConflictClause"):
        return None
    parts = n.conjuncts(select.get("whereClause"))
    for part in parts:
        sub = _not_exists(part)
        if sub is None:
            continue
        lookup = lookup_equalities(sub, table)
        if lookup is None:
            continue
        return Check("`INSERT ... WHERE NOT EXISTS`", table, lookup[0],
                     lookup[1] and len(parts) == 1, stmt)
    return None


def _if_not_exists(ctx: FileContext, stmt: Statement) -> Check | None:
    """PL/pgSQL `IF NOT EXISTS (SELECT ... FROM t ...) THEN INSERT INTO t ...`, or
    `IF EXISTS (...) THEN ... ELSE INSERT INTO t ...`."""
    _, if_stmt, field_name = stmt.plpgsql_holder  # type: ignore[misc]
    if field_name != "cond":
        return None
    targets = stmt.body.get("targetList") or ()
    if len(targets) != 1:
        return None
    value = targets[0].get("ResTarget", {}).get("val") or {}
    sub = _not_exists(value)
    branch = "then_body"
    if sub is None:
        sub = exists_sublink(value)
        branch = "else_body"
    if sub is None:
        return None
    table = single_table(sub)
    lookup = lookup_equalities(sub, table) if table else None
    if lookup is None:
        return None
    insert = _insert_into(ctx, if_stmt.get(branch) or (), table)
    if insert is None:
        return None
    shape = "`IF NOT EXISTS` then `INSERT`" if branch == "then_body" \
        else "`IF EXISTS ... ELSE INSERT`"
    exact = (branch == "then_body" and lookup[1] and len(if_stmt.get("then_body") or ()) == 1
             and not if_stmt.get("else_body") and not if_stmt.get("elsif_list"))
    return Check(shape, table, lookup[0], exact, insert)


def _select_into_not_found(ctx: FileContext, stmt: Statement) -> Check | None:
    """PL/pgSQL `SELECT ... INTO ... FROM t WHERE ...; IF NOT FOUND THEN INSERT INTO t ...`."""
    _, execsql, _ = stmt.plpgsql_holder  # type: ignore[misc]
    if not execsql.get("into") or stmt.parent is None or stmt.parent.plpgsql is None:
        return None
    table = single_table(stmt.body)
    if not table:
        return None
    lookup = lookup_equalities(stmt.body, table)
    if lookup is None:
        return None
    place = locate_plpgsql(stmt.parent.plpgsql, execsql)
    if place is None:
        return None
    siblings, i, _ = place
    following = siblings[i + 1] if i + 1 < len(siblings) else {}
    if_stmt = following.get("PLpgSQL_stmt_if") if isinstance(following, dict) else None
    if not if_stmt:
        return None
    cond = (if_stmt.get("cond") or {}).get("PLpgSQL_expr", {}).get("query", "")
    if not NOT_FOUND.match(cond):
        return None
    insert = _insert_into(ctx, if_stmt.get("then_body") or (), table)
    if insert is None:
        return None
    # The SELECT's INTO target is used after the IF: rewriting it is a judgement call.
    return Check("`SELECT INTO`, `IF NOT FOUND` then `INSERT`", table, lookup[0], False, insert)


def _not_exists(node: dict[str, Any]) -> dict[str, Any] | None:
    """The subquery of `NOT EXISTS (subquery)`."""
    expr = node.get("BoolExpr")
    if not expr or expr.get("boolop") != "NOT_EXPR" or len(expr.get("args") or ()) != 1:
        return None
    return exists_sublink(expr["args"][0])


def _insert_into(ctx: FileContext, body: Iterable[dict[str, Any]], table: str) -> Statement | None:
    """The first `INSERT INTO table` directly in a PL/pgSQL statement list."""
    for item in body:
        execsql = item.get("PLpgSQL_stmt_execsql") if isinstance(item, dict) else None
        expr = (execsql or {}).get("sqlstmt", {}).get("PLpgSQL_expr")
        if expr is None:
            continue
        inner = ctx.statement_for_expr(expr)
        if inner is not None and inner.kind == "InsertStmt" and \
                n.relation_name(inner.body.get("relation")) == table:
            # An insert that handles conflicts itself is settled by the unique constraint.
            return None if inner.body.get("onConflictClause") else inner
    return None


# -- fixes ---------------------------------------------------------------------------------------

def _values_match(insert: Statement, lookup: list[tuple[str, dict]]) -> bool:
    """The INSERT puts into each looked-up column the value the lookup compared it with."""
    body = insert.body
    columns = [t.get("ResTarget", {}).get("name") for t in body.get("cols") or ()]
    select = (body.get("selectStmt") or {}).get("SelectStmt") or {}
    rows = select.get("valuesLists")
    if rows:
        if len(rows) != 1:
            return False
        values = rows[0].get("List", {}).get("items") or []
    else:
        values = [t.get("ResTarget", {}).get("val") for t in select.get("targetList") or ()]
    if len(values) != len(columns):
        return False
    supplied = dict(zip(columns, values))
    return all(c in supplied and _same(supplied[c], v) for c, v in lookup)


def _same(a: Any, b: Any) -> bool:
    """Structural equality of two expression trees, ignoring positions."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = (set(a) | set(b)) - {"location"}
        return all(_same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _exact_fix(ctx: FileContext, stmt: Statement, check: Check, index: Index) -> Fix | None:
    insert = check.insert
    assert insert is not None
    if insert.body.get("onConflictClause") or not insert.exact or not stmt.exact or \
            not _values_match(insert, check.lookup):
        return None
    target = conflict_target(insert, index)
    if target is None:
        return None
    clause = f" ON CONFLICT {target} DO NOTHING"
    at = conflict_point(ctx, insert)
    if insert is stmt:
        edits = _drop_where_not_exists(ctx, stmt, at, clause)
    else:
        if has_returning(insert.body):
            return None  # `RETURNING ... INTO` would leave its target unset on conflict
        edits = _drop_if(ctx, stmt, insert, at, clause)
    if edits is None:
        return None
    return Fix("Replace the check with INSERT ... ON CONFLICT DO NOTHING", Applicability.UNSAFE,
               tuple(edits), isolation=f"insert-conflict:{insert.start}")


def _drop_where_not_exists(ctx: FileContext, stmt: Statement, at: int,
                           clause: str) -> list[Edit] | None:
    select = stmt.body["selectStmt"]["SelectStmt"]
    where = select["whereClause"]
    not_at = stmt.offset(where["BoolExpr"].get("location"))
    tokens = ctx.tokens(stmt)
    where_token = next((t for t in reversed(tokens) if t.end <= not_at and t.name == "WHERE"),
                       None)
    if where_token is None:
        return None
    depth, close = 0, None
    for token in tokens:
        if token.start < not_at:
            continue
        if token.name == "ASCII_40":
            depth += 1
        elif token.name == "ASCII_41":
            depth -= 1
            if depth == 0:
                close = token.end
                break
    if close is None:
        return None
    start = end_of_previous(ctx, stmt, where_token.start)
    if close == at:
        return [Edit(start, close, clause)]
    return [Edit.delete(start, close), Edit.insert(at, clause)]


def _drop_if(ctx: FileContext, cond: Statement, insert: Statement, at: int,
             clause: str) -> list[Edit] | None:
    text = ctx.text
    keyword = _IF_BEFORE.search(text, 0, cond.start)
    after = ctx.statement_end(insert)
    end_if = _END_IF_AFTER.match(text, after)
    if keyword is None or end_if is None or after == insert.end:
        return None
    return [Edit.delete(keyword.start(), insert.start), Edit.insert(at, clause),
            Edit.delete(after, end_if.end())]


def _suggestion(ctx: FileContext, check: Check, has_key: bool, known: bool) -> str:
    bare = ctx.model.bare(check.table)
    cols = ", ".join(n.quote_ident(c) for c, _ in check.lookup)
    lines = []
    if not has_key:
        index = constraint_name(bare, [c for c, _ in check.lookup])
        why = "there is none yet" if known else \
            "create it unless one exists (pglint does not know the table)"
        lines += [f"-- ON CONFLICT needs a unique index on exactly ({cols}): {why}.",
                  "-- Remove existing duplicates first; CONCURRENTLY cannot run in a transaction.",
                  f"CREATE UNIQUE INDEX CONCURRENTLY {n.quote_ident(index)} "
                  f"ON {check.table} ({cols});", ""]
    lines.append("-- Then, instead of checking first:")
    insert = check.insert
    if insert is not None and insert.exact:
        at = conflict_point(ctx, insert)
        clause = f" ON CONFLICT ({cols}) DO NOTHING"
        edits = [Edit.insert(at, clause)]
        if insert.kind == "InsertStmt" and check.only_equalities and \
                check.shape.startswith("`INSERT"):
            edits = _drop_where_not_exists(ctx, insert, at, clause) or edits
        text = ctx.text[insert.start:insert.end]
        for edit in sorted(edits, reverse=True):
            text = text[:edit.start - insert.start] + edit.content + text[edit.end - insert.start:]
        lines.append(text + ";")
    else:
        lines.append(f"INSERT INTO {check.table} ({cols}, ...) VALUES (...)\n"
                     f"ON CONFLICT ({cols}) DO NOTHING;")
    if check.shape.startswith("`SELECT"):
        lines.append("-- DO NOTHING returns no row on a conflict: when nothing was inserted,\n"
                     "-- read the existing row with the SELECT.")
    return "\n".join(lines)
