"""PGL201 non-idempotent-insert."""

from __future__ import annotations

import ast
import re
from typing import Any, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Applicability, Edit, Finding, Fix
from pglint.kit.check_then_act import python_acts
from pglint.kit.check_then_act_sql import plpgsql_into
from pglint.kit.check_then_act_fixes import constraint_name, core_insert_buildable, orm_columns
from pglint.kit.orm_inserts import (
    checked_first, database_generates, drawn_in_attempt, generated_value, handles_conflict,
    orm_insert, orm_insert_fix, savepoint_fix,
)
from pglint.kit.reruns import rerun_reason, statement_rerun
from pglint.kit.roles import runs_once
from pglint.kit.triggers import in_trigger_function
from pglint.kit.upserts import conflict_point, conflict_target, guarded_by_check, unique_indexes
from pglint.model.catalog import Index
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.python.pyfile import call_args
from pglint.sql.parse import Statement, iter_nodes

# Columns whose value a client sends to make a write idempotent or to name it from outside.
IDEMPOTENCY_NAME = re.compile(
    r"^(?:.*_)?(?:idempotency_(?:key|token|id)|idempotency|request_(?:id|uuid)|external_(?:id|ref)"
    r"|dedup(?:e|lication)?_(?:key|id)|client_(?:request|message|order|txn|transaction)_id"
    r"|message_id|event_id|[a-z0-9_]+_uuid)$", re.IGNORECASE)
_RETURNING = re.compile(r"\s+RETURNING\b", re.IGNORECASE)
# Values the server makes up afresh on every run: a retry inserts a new key, not the same one.
_GENERATED = {"nextval", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v4", "uuidv4",
              "uuidv7", "random", "now", "clock_timestamp", "statement_timestamp",
              "transaction_timestamp", "txid_current", "pg_current_xact_id"}

_INVOICES = (
    "CREATE TYPE processing_status AS ENUM ('pending', 'processed', 'failed');\n"
    "CREATE TABLE invoice_processing (\n"
    "    idempotency_key text PRIMARY KEY,\n"
    "    invoice_id bigint,\n"
    "    amount_cents int,\n"
    "    processed_at timestamptz DEFAULT now(),\n"
    "    status processing_status DEFAULT 'pending'\n"
    ");\n")
_EVENTS = ("CREATE TABLE events (event_id text PRIMARY KEY, payload jsonb,\n"
           "    processed_at timestamptz);\n")
_SHOP = (_INVOICES + "CREATE TABLE events (event_id text PRIMARY KEY, payload jsonb);\n"
         "CREATE TABLE payments (id bigserial PRIMARY KEY, external_id text NOT NULL UNIQUE,\n"
         "    amount_cents int NOT NULL);\n")
_DJANGO_MODELS = ("from django.db import models\n\n\n"
                  "class Invoice(models.Model):\n"
                  "    idempotency_key = models.TextField(primary_key=True)\n"
                  "    invoice_id = models.BigIntegerField()\n"
                  "    amount_cents = models.IntegerField()\n\n"
                  "    class Meta:\n"
                  "        db_table = \"invoice_processing\"\n\n\n"
                  "class Payment(models.Model):\n"
                  "    external_id = models.TextField(unique=True)\n"
                  "    amount_cents = models.IntegerField()\n\n"
                  "    class Meta:\n"
                  "        db_table = \"payments\"\n")
_SA_MODELS = ("from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
              "class Base(DeclarativeBase):\n"
              "    pass\n\n\n"
              "class Event(Base):\n"
              "    __tablename__ = \"events\"\n"
              "    event_id: Mapped[str] = mapped_column(primary_key=True)\n"
              "    payload: Mapped[dict]\n\n\n"
              "class Payment(Base):\n"
              "    __tablename__ = \"payments\"\n"
              "    id: Mapped[int] = mapped_column(primary_key=True)\n"
              "    external_id: Mapped[str]\n"
              "    amount_cents: Mapped[int]\n")
# Settings that show the project running on SQLite too (local runs, tests).
_SQLITE_TOO = "DATABASE_URL = \"sqlite:///dev.db\"\n"
_DJANGO = {"app/models.py": _DJANGO_MODELS, "migrations/V1__schema.sql": _SHOP}
_SQLALCHEMY = {"app/models.py": _SA_MODELS, "migrations/V1__schema.sql": _SHOP}
_PAYMENTS = ("CREATE TABLE payments (id bigserial PRIMARY KEY, external_id text NOT NULL,\n"
             "    amount_cents int NOT NULL);\n")


# A message consumer that retries the whole handling after a lost connection.
_CONSUMER = ("import time\n\n"
             "from sqlalchemy.exc import OperationalError\n\n"
             "from app.models import Event\n\n\n"
             "def record(session, event_id, payload):\n"
             "{insert}\n\n"
             "def consume(session, message):\n"
             "    for attempt in range(5):\n"
             "        try:\n"
             "            record(session, message[\"id\"], message[\"body\"])\n"
             "            session.commit()\n"
             "            return\n"
             "        except OperationalError:\n"
             "            session.rollback()\n"
             "            time.sleep(2 ** attempt)\n")

def _retry_loop(sql: str) -> str:
    """A psycopg retry loop around one INSERT (the examples' retried statement)."""
    return ("import time\n\n"
            "import psycopg\n\n\n"
            "def bill(conn, key, invoice_id, cents):\n"
            "    for attempt in range(3):\n"
            "        try:\n"
            "            with conn.transaction():\n"
            "                conn.execute(\n"
            f"                    \"\"\"{sql}\"\"\",\n"
            "                    (key, invoice_id, cents),\n"
            "                )\n"
            "            return\n"
            "        except psycopg.OperationalError:\n"
            "            time.sleep(2 ** attempt)\n")


class NonIdempotentInsert(Rule):
    """
    ## What it does
    Flags an insert that the code runs again after a failed attempt and that supplies the value
    of a primary-key or unique column itself (a client-generated id, an idempotency key, an
    external id) without handling the duplicate. "A client could retry the request" is true of
    every request and is no evidence; the re-run must be in the code: a retry loop around the
    insert, tenacity's `@retry` / `Retrying`, backoff's decorators, a Celery task with
    `autoretry_for=`, `acks_late=True` (redelivered when the worker dies after the commit) or
    `self.retry()`, a dramatiq actor, or a function of the same module that one of these calls.

    Python ORM inserts: Django `M.objects.create(key=...)`, SQLAlchemy `session.add(M(key=...))`
    and an executed `insert(M).values(key=...)`, where the catalog (from the migrations) shows
    that the columns are the primary key or a unique key of the model's table, the database does
    not generate them (serial, identity, a sequence or a function default) and the value is not
    made up on each attempt (`uuid4()`, `timezone.now()`). SQL: an `INSERT` without `ON
    CONFLICT` that Python executes in such a re-run, supplying a unique key from a literal or a
    parameter (or, for a table the catalog does not know, a column named like an idempotency
    key: `idempotency_key`, `request_id`, `external_id`, `*_uuid`, ...).

    ## When it stays silent
    - No re-run in sight: request handlers, query files (sqlc, yesql) and function bodies, whose
      callers and their retries pglint does not see; triggers copying the row that fired them.
    - The re-run finds the row: the insert sits in a branch testing an earlier lookup of the
      same model (`if row is None:` after `.first()` / `.one_or_none()`), follows a check with
      an early return (also through a helper method that queries the model), or is the insert
      of a check-then-act (PGL204 reports those).
    - The duplicate is handled: a `try` around the insert, or after it around the flush,
      catches `IntegrityError`.
    - No catalog evidence of a unique key; keys the database or each attempt makes up.
    - Tests, fixtures, seeds, scripts, migrations and data migrations (SQL strings in them too).

    ## Why is this bad?
    A client that times out or loses its connection cannot tell whether its `INSERT` committed,
    so it retries. If the first attempt did commit, the retry fails with a unique violation
    (23505) — or, without a unique constraint on the key, silently inserts a duplicate. The
    request is not idempotent: the same call has two different outcomes.

    ## Example
    ```sql
    INSERT INTO invoice_processing (idempotency_key, invoice_id, amount_cents)
    VALUES ('req-2024-001', 12345, 10000);
    ```
    ```python
    Invoice.objects.create(idempotency_key=key, invoice_id=invoice_id, amount_cents=cents)
    ```

    ## Use instead
    Make the retry a no-op:
    ```sql
    INSERT INTO invoice_processing (idempotency_key, invoice_id, amount_cents)
    VALUES ('req-2024-001', 12345, 10000)
    ON CONFLICT (idempotency_key) DO NOTHING;
    ```
    or, to retry only failed attempts, `ON CONFLICT (idempotency_key) DO UPDATE SET ...
    WHERE invoice_processing.status = 'failed'`. With `RETURNING`, a conflicting insert returns
    no row: read the existing row when none comes back.

    In Django, `Invoice.objects.get_or_create(idempotency_key=key, defaults={...})`; in
    SQLAlchemy, PostgreSQL's `insert(Invoice).values(...).on_conflict_do_nothing(
    index_elements=["idempotency_key"])` (from `sqlalchemy.dialects.postgresql`).

    ## Fix safety
    SQL (in a Python string, so shown, not applied): `ON CONFLICT (key columns) DO NOTHING`
    appended (before `RETURNING`), so a duplicate is skipped silently instead of raising 23505,
    and `RETURNING` yields no row for it; callers that relied on the error or on the returned
    row must change. When the catalog shows no unique constraint on the key (or does not know
    the table), it includes the `CREATE UNIQUE INDEX CONCURRENTLY` that `ON CONFLICT` needs.
    In a project that also runs on SQLite or MySQL (MySQL has no `ON CONFLICT`), the suggestion
    is to catch the unique violation around the statement instead.

    Python fixes are unsafe too. Django: `create(...)` becomes `get_or_create(<key>=...,
    defaults={<the other arguments>})` (`[0]` where the result is used): a retry returns the
    stored row, whose other fields are not compared with the retry's. SQLAlchemy:
    `session.add(M(...))` becomes `session.execute(postgresql.insert(M).values(...)
    .on_conflict_do_nothing(index_elements=[...]))`, and an executed `insert(M).values(...)` gets
    PostgreSQL's `insert` and `.on_conflict_do_nothing(...)`; the import is added. The insert then
    runs at once instead of at the session's flush, the object is not added to the session, and
    a skipped row is not returned. Display only for `**kwargs`, an object added through a
    variable, and `async` functions (where `execute()` must be awaited). Where PostgreSQL's
    insert cannot stand in for the ORM's (the added object is used afterwards, a value is a
    relationship or another non-column, the table's primary key is a foreign key to a parent
    table as in joined-table inheritance, or the project also runs on SQLite or MySQL), the
    suggestion is the insert in a savepoint (`begin_nested()`) that catches `IntegrityError`.
    """

    code = "PGL201"
    name = "non-idempotent-insert"
    summary = "INSERT of a client-supplied key without ON CONFLICT is not safe to retry"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 11 sampled findings on real repositories (two "
        "rounds); since it needs code that re-runs the insert (a retry, a task with retries) "
        "it fires on none of the 35 corpus repositories, so it is not measured again"
    )
    references = (
        "https://www.postgresql.org/docs/current/sql-insert.html#SQL-ON-CONFLICT",
    )
    statements = ("InsertStmt",)
    file_kinds = frozenset({"sql", "migration"})
    python_nodes = (ast.Call,)
    # A manager's create(), a session's add(), insert() of a model class.
    # (Alternatives that each start with a literal: fast to search.)
    python_hint = ((".create(", ".add(", "insert("),
                   (re.compile(r"\.objects\.(?:[^\n]*?\.)?create\("),
                    re.compile(r"insert\(\s*[A-Z]\w*\s*\)"),
                    re.compile(r"(?:ession\w*|db)\.add(?:_all)?\(")))

    VALID = (
        # A trigger's insert copies the row that fired it: no client retries it on its own.
        Example("CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  INSERT INTO order_audit (order_id, status) VALUES (NEW.id, NEW.status);\n"
                "  RETURN NEW;\nEND $$;",
                context={"migrations/V1__audit.sql":
                         "CREATE TABLE order_audit (order_id bigint PRIMARY KEY, status text);"}),
        # The chapter's idempotent insert: retries only re-run failed attempts.
        Example("INSERT INTO invoice_processing (idempotency_key, invoice_id, amount_cents)\n"
                "VALUES ('req-2024-001', 12345, 10000)\n"
                "ON CONFLICT (idempotency_key)\n"
                "DO UPDATE SET\n"
                "    status = CASE\n"
                "        WHEN invoice_processing.status = 'failed'"
                " THEN 'pending'::processing_status\n"
                "        ELSE invoice_processing.status\n"
                "    END,\n"
                "    processed_at = CASE\n"
                "        WHEN invoice_processing.status = 'failed' THEN now()\n"
                "        ELSE invoice_processing.processed_at\n"
                "    END\n"
                "WHERE invoice_processing.status = 'failed'\n"
                "RETURNING invoice_id, status,\n"
                "    (xmax = 0) as is_new_insert;",
                kind="sql", context={"migrations/V1__invoices.sql": _INVOICES}),
        # The chapter's batch insert with conflict handling.
        Example("INSERT INTO events (event_id, payload, processed_at)\n"
                "VALUES\n"
                "    ('evt-001', '{\"data\": 1}', now()),\n"
                "    ('evt-002', '{\"data\": 2}', now()),\n"
                "    ('evt-003', '{\"data\": 3}', now())\n"
                "ON CONFLICT (event_id) DO NOTHING;",
                kind="sql", context={"migrations/V1__events.sql": _EVENTS}),
        # One-off seed data in a migration.
        Example(_INVOICES + "INSERT INTO invoice_processing (idempotency_key, invoice_id, "
                "amount_cents)\nVALUES ('seed-1', 1, 100);"),
        # The keys come from the sequence and a generator: each attempt gets new ones.
        Example("INSERT INTO payments (id, amount_cents, external_id)\n"
                "VALUES (DEFAULT, $1, gen_random_uuid()::text);",
                kind="sql", context={"migrations/V1__payments.sql": _PAYMENTS}),
        Example("INSERT INTO payments (id, external_id, amount_cents)\n"
                "VALUES (nextval('payments_id_seq'), md5(random()::text), 100);",
                kind="sql", context={"migrations/V1__payments.sql": _PAYMENTS}),
        # An unknown table with no key-like column: nothing to go on.
        Example("INSERT INTO audit_log (message) VALUES ($1);", kind="sql"),
        # A DO block runs once (the chapter's chunked batch, which has ON CONFLICT anyway).
        Example("DO $$\nBEGIN\n"
                "  INSERT INTO invoice_processing (idempotency_key, invoice_id) VALUES ('x', 1);\n"
                "END $$;", context={"migrations/V1__invoices.sql": _INVOICES}),
        # A query file and a function body do not show their callers: no retry in sight.
        Example("INSERT INTO invoice_processing (idempotency_key, invoice_id, amount_cents)\n"
                "VALUES ('req-2024-001', 12345, 10000);",
                kind="sql", context={"migrations/V1__invoices.sql": _INVOICES}),
        Example("CREATE FUNCTION record_event(p_id text, p_payload jsonb) RETURNS void\n"
                "LANGUAGE plpgsql AS $$\n"
                "BEGIN\n"
                "  INSERT INTO events (event_id, payload) VALUES (p_id, p_payload);\n"
                "END $$;",
                context={"migrations/V1__events.sql": _EVENTS}),
        Example("INSERT INTO webhook_deliveries (request_id, body) VALUES ($1, $2);", kind="sql"),
        # A request handler: a client could retry, but nothing in the code runs it again.
        Example("from app.models import Invoice\n\n\n"
                "def bill(request):\n"
                "    invoice = Invoice.objects.create(\n"
                "        idempotency_key=request.headers[\"Idempotency-Key\"],\n"
                "        invoice_id=request.data[\"invoice_id\"],\n"
                "        amount_cents=request.data[\"amount_cents\"],\n"
                "    )\n"
                "    return invoice.invoice_id\n",
                kind="python", context=_DJANGO),
        # A re-run finds the committed row: the insert is behind an earlier lookup of it
        # (in a branch further down), behind a helper's check with an early return, or its
        # flush catches IntegrityError.
        Example("from tenacity import retry\n\n"
                "from app.models import Event\n\n\n"
                "@retry\n"
                "def record(session, event_id, payload):\n"
                "    event = session.query(Event).filter(Event.event_id == event_id)"
                ".one_or_none()\n"
                "    if payload:\n"
                "        if not event:\n"
                "            event = Event(event_id=event_id, payload=payload)\n"
                "            session.add(event)\n"
                "        else:\n"
                "            event.payload = payload\n",
                kind="python", context=_SQLALCHEMY),
        Example("from tenacity import retry\n\n"
                "from app.models import Event\n\n\n"
                "class Events:\n"
                "    def __init__(self, session):\n"
                "        self.session = session\n\n"
                "    def seen(self, event_id):\n"
                "        return self.session.get(Event, event_id) is not None\n\n"
                "    @retry\n"
                "    def record(self, event_id, payload):\n"
                "        if self.seen(event_id):\n"
                "            return\n"
                "        self.session.add(Event(event_id=event_id, payload=payload))\n",
                kind="python", context=_SQLALCHEMY),
        Example("from sqlalchemy.exc import IntegrityError\n"
                "from tenacity import retry\n\n"
                "from app.models import Event\n\n\n"
                "@retry\n"
                "def record(session, event_id, payload):\n"
                "    session.add(Event(event_id=event_id, payload=payload))\n"
                "    try:\n"
                "        session.flush()\n"
                "    except IntegrityError:\n"
                "        session.rollback()\n",
                kind="python", context=_SQLALCHEMY),
        # The key comes from the database in the same attempt (a sequence read through the
        # session, the id of a row the attempt inserted): a re-run draws a new one.
        Example("from sqlalchemy import text\n"
                "from tenacity import retry\n\n"
                "from app.models import Event, Payment\n\n\n"
                "@retry\n"
                "def pay(session, cents, payload):\n"
                "    ref = session.scalar(text(\"SELECT nextval('payment_refs')::text\"))\n"
                "    payment = Payment(external_id=ref, amount_cents=cents)\n"
                "    session.add(payment)\n"
                "    session.flush()\n"
                "    session.add(Event(event_id=payment.id, payload=payload))\n",
                kind="python", context=_SQLALCHEMY),
        # Python: get_or_create() on the key.
        Example("from app.models import Invoice\n\n\n"
                "def bill(key, invoice_id, cents):\n"
                "    return Invoice.objects.get_or_create(\n"
                "        idempotency_key=key,\n"
                "        defaults={\"invoice_id\": invoice_id, \"amount_cents\": cents},\n"
                "    )\n",
                kind="python", context=_DJANGO),
        # The key is generated on each attempt, or by the database.
        Example("import uuid\n\n"
                "from app.models import Event, Payment\n\n\n"
                "def record(session, payload, cents):\n"
                "    session.add(Event(event_id=str(uuid.uuid4()), payload=payload))\n"
                "    session.add(Payment(amount_cents=cents, external_id=None))\n",
                kind="python", context=_SQLALCHEMY),
        # A duplicate is handled where it happens.
        Example("from django.db import IntegrityError, transaction\n\n"
                "from app.models import Payment\n\n\n"
                "def pay(external_id, cents):\n"
                "    try:\n"
                "        with transaction.atomic():\n"
                "            Payment.objects.create(external_id=external_id, amount_cents=cents)\n"
                "    except IntegrityError:\n"
                "        return Payment.objects.get(external_id=external_id)\n",
                kind="python", context=_DJANGO),
        # Already idempotent.
        Example("from sqlalchemy.dialects.postgresql import insert\n\n"
                "from app.models import Event\n\n\n"
                "def record(session, event_id, payload):\n"
                "    session.execute(\n"
                "        insert(Event)\n"
                "        .values(event_id=event_id, payload=payload)\n"
                "        .on_conflict_do_nothing(index_elements=[\"event_id\"])\n"
                "    )\n",
                kind="python", context=_SQLALCHEMY),
        # No catalog evidence: the migrations do not define the model's table.
        Example("from app.models import Event\n\n\n"
                "def record(session, event_id, payload):\n"
                "    session.add(Event(event_id=event_id, payload=payload))\n",
                kind="python", context={"app/models.py": _SA_MODELS}),
    )
    INVALID = (
        # The chapter's insert without its ON CONFLICT clause, run again by a retry loop that
        # catches a lost connection (the first attempt may have committed).
        Example(_retry_loop("INSERT INTO invoice_processing (idempotency_key, invoice_id, "
                            "amount_cents)\n"
                            "                    VALUES (%s, %s, %s)"),
                kind="python", context={"migrations/V1__invoices.sql": _INVOICES}),
        # With RETURNING (SQL in a Python string: the fix is shown, not applied).
        Example(_retry_loop("INSERT INTO invoice_processing (idempotency_key, invoice_id, "
                            "amount_cents)\n"
                            "                    VALUES (%s, %s, %s) RETURNING status"),
                kind="python", context={"migrations/V1__invoices.sql": _INVOICES}),
        # A Celery task retried on any error: a failure after the commit re-runs the insert.
        Example("from celery import shared_task\n\n"
                "from app.db import connection\n\n\n"
                "@shared_task(autoretry_for=(Exception,), retry_backoff=True)\n"
                "def record_event(event_id, payload):\n"
                "    with connection() as conn:\n"
                "        conn.execute(\"INSERT INTO events (event_id, payload) VALUES (%s, %s)\",\n"
                "                     (event_id, payload))\n"
                "    notify_subscribers(event_id)\n",
                kind="python", context={"migrations/V1__events.sql": _EVENTS}),
        # A natural key without a unique constraint, in a tenacity-retried function: display,
        # with the index it needs.
        Example("from tenacity import retry, stop_after_attempt, wait_random_exponential\n\n\n"
                "@retry(stop=stop_after_attempt(3), wait=wait_random_exponential(max=10))\n"
                "def pay(cur, external_id, cents):\n"
                "    cur.execute(\"INSERT INTO payments (external_id, amount_cents) "
                "VALUES (%s, %s)\",\n"
                "                (external_id, cents))\n",
                kind="python", context={"migrations/V1__payments.sql": _PAYMENTS}),
        # The project also runs on SQLite or MySQL: no ON CONFLICT, the duplicate caught instead.
        Example(_retry_loop("INSERT INTO invoice_processing (idempotency_key, invoice_id, "
                            "amount_cents)\n"
                            "                    VALUES (%s, %s, %s)"),
                kind="python", context={"migrations/V1__invoices.sql": _INVOICES,
                                        "app/settings.py": _SQLITE_TOO}),
        # Python, Django: a task redelivered after a crash (acks_late) creates the invoice again.
        Example("from celery import shared_task\n\n"
                "from app.models import Invoice\n\n\n"
                "@shared_task(acks_late=True)\n"
                "def bill(key, invoice_id, cents):\n"
                "    invoice = Invoice.objects.create(\n"
                "        idempotency_key=key,\n"
                "        invoice_id=invoice_id,\n"
                "        amount_cents=cents,\n"
                "    )\n"
                "    return invoice.invoice_id\n",
                fixed="from celery import shared_task\n\n"
                      "from app.models import Invoice\n\n\n"
                      "@shared_task(acks_late=True)\n"
                      "def bill(key, invoice_id, cents):\n"
                      "    invoice = Invoice.objects.get_or_create(\n"
                      "        idempotency_key=key,\n"
                      "        defaults={\"invoice_id\": invoice_id, \"amount_cents\": cents},\n"
                      "    )[0]\n"
                      "    return invoice.invoice_id\n",
                kind="python", context=_DJANGO),
        # SQLAlchemy: session.add() in a helper that a retry loop of the module calls.
        Example(_CONSUMER.format(insert="    session.add(Event(event_id=event_id, "
                                        "payload=payload))\n"),
                fixed=_CONSUMER.format(insert="    session.execute(\n"
                                              "        postgresql.insert(Event)\n"
                                              "        .values(event_id=event_id, "
                                              "payload=payload)\n"
                                              "        .on_conflict_do_nothing(index_elements="
                                              "[\"event_id\"])\n"
                                              "    )\n").replace(
                    "from app.models import Event\n",
                    "from app.models import Event\nfrom sqlalchemy.dialects import postgresql\n"),
                kind="python", context=_SQLALCHEMY),
        # An executed insert(M).values(...) with an external id, under tenacity's @retry.
        Example("from sqlalchemy import insert\n"
                "from tenacity import retry, stop_after_attempt\n\n"
                "from app.models import Payment\n\n\n"
                "@retry(stop=stop_after_attempt(3))\n"
                "def pay(conn, body):\n"
                "    conn.execute(insert(Payment).values(external_id=body[\"id\"], "
                "amount_cents=1))\n",
                fixed="from sqlalchemy.dialects.postgresql import insert\n"
                      "from tenacity import retry, stop_after_attempt\n\n"
                      "from app.models import Payment\n\n\n"
                      "@retry(stop=stop_after_attempt(3))\n"
                      "def pay(conn, body):\n"
                      "    conn.execute(\n"
                      "        insert(Payment)\n"
                      "        .values(external_id=body[\"id\"], amount_cents=1)\n"
                      "        .on_conflict_do_nothing(index_elements=[\"external_id\"])\n"
                      "    )\n",
                kind="python", context=_SQLALCHEMY),
        # The added object is used afterwards (a Core insert leaves none): the savepoint form,
        # shown.
        Example("from tenacity import retry\n\n"
                "from app.models import Event\n\n\n"
                "@retry\n"
                "def record(session, event_id, payload):\n"
                "    event = Event(event_id=event_id, payload=payload)\n"
                "    session.add(event)\n"
                "    session.flush()\n"
                "    return event\n",
                kind="python", context=_SQLALCHEMY),
        # In an async function execute() must be awaited: display only.
        Example("import backoff\n\n"
                "from app.models import Event\n\n\n"
                "@backoff.on_exception(backoff.expo, OSError, max_tries=5)\n"
                "async def record(session, event_id, payload):\n"
                "    session.add(Event(event_id=event_id, payload=payload))\n"
                "    await session.commit()\n",
                kind="python", context=_SQLALCHEMY),
    )

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        func = node.func
        if not isinstance(func, ast.Attribute) or func.attr not in ("create", "add", "execute"):
            return
        found = orm_insert(code, node)
        if found is None:
            return
        form, model, row, args = found
        table = ctx.model.orm_table(model)
        known = ctx.model.catalog.table(table)
        if table is None or known is None:
            return  # no catalog evidence of a unique key
        scope = code.enclosing(node, ast.FunctionDef, ast.AsyncFunctionDef)
        keyword_args = [a for a in args if a.keyword is not None and not a.star]
        names = [a.keyword for a in keyword_args]
        columns = orm_columns(ctx, table, names)  # type: ignore[arg-type]
        supplied = {column: arg.keyword
                    for arg, column in zip(keyword_args, columns, strict=True)
                    if not generated_value(code, arg.value, scope)
                    and not drawn_in_attempt(code, arg.value, node)}
        keys = [i for i in unique_indexes(ctx, table) if set(i.columns) <= set(supplied)
                and not any(database_generates(known.columns.get(c)) for c in i.columns)]
        if not keys or runs_once(ctx) or handles_conflict(code, node) or \
                id(node) in python_acts(ctx)[0] or checked_first(code, node, model):
            return  # one-off code, a duplicate handled, or a re-run that finds the row
        rerun = rerun_reason(code, node)
        if rerun is None:
            return  # nothing in the code runs it again: "a client could retry" is no evidence
        named = [i for i in keys if any(IDEMPOTENCY_NAME.match(c or "") for c in i.columns)]
        key = (named or keys)[0]
        key_columns = [c for c in key.columns if c]
        cols = ", ".join(key_columns)
        bare = ctx.model.bare(table)
        what = "primary key" if key.primary else "unique key"
        shown = {"django": f"{model}.objects.create()", "add": f"add({model}(...))",
                 "core": f"insert({model})"}[form]
        message = (f"`{shown}` re-run by {rerun} raises IntegrityError on `{bare}`'s {what} "
                   f"({cols})")
        added = call_args(node)[0].value if form == "add" else None
        # PostgreSQL's Core insert must be able to stand in for the ORM's: else no fix at all.
        buildable = form == "django" or core_insert_buildable(ctx, table, names, node, added)
        fix = orm_insert_fix(ctx, form, model, node, row, [supplied[c] for c in key_columns],
                             key_columns) if buildable else savepoint_fix(ctx, node)
        yield self.finding(ctx, message, fix, _python_help(form, bare, what, cols, rerun),
                           node=node)

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if node.get("onConflictClause") or not runs_repeatedly(ctx, stmt) or \
                in_trigger_function(stmt):
            return  # a trigger's insert is part of the write that fired it
        if ctx.kind == "python" and ctx.python_file is not None and (
                runs_once(ctx) or stmt.start in python_acts(ctx)[1]):
            return  # a one-off script, or the act of a check-then-act (PGL204 reports it)
        table = n.relation_name(node.get("relation"))
        if not table:
            return
        known = ctx.model.catalog.table(table)
        columns = [t.get("ResTarget", {}).get("name") for t in node.get("cols") or ()]
        if not columns and known is not None:
            columns = list(known.columns)
        supplied = _supplied_columns(node, columns)
        if not supplied or guarded_by_check(stmt):
            return
        rerun = statement_rerun(ctx, stmt)
        if rerun is None:
            return  # nothing shows the statement is run again after a committed attempt
        bare = ctx.model.bare(table)
        if known is not None:
            key = _covered_key(ctx, table, supplied)
            if key is not None:
                yield self._keyed(ctx, stmt, table, key, rerun)
                return
        named = next((c for c in columns if c in supplied and IDEMPOTENCY_NAME.match(c)), None)
        if named is None:
            return
        if known is not None and any(named in i.columns for i in ctx.model.catalog.indexes_on(table)
                                     if i.unique or i.primary):
            return  # a partial or expression unique index: not ours to judge
        if known is not None:
            message = (f"Re-run by {rerun}, this INSERT duplicates the row: `{bare}` has no unique "
                       f"constraint on the supplied `{named}`")
            state = f"`{bare}` has no unique constraint on `{named}` (per the migrations)"
        else:
            message = (f"Re-run by {rerun}, this INSERT of `{named}` without ON CONFLICT "
                       "duplicates the row "
                       "or fails with 23505 (unique constraint unknown)")
            state = f"pglint's catalog does not know `{bare}`: its unique constraints are unknown"
        fix = _portable_fix(ctx) or Fix.display(
            "Add a unique index and INSERT ... ON CONFLICT DO NOTHING",
            _suggestion(ctx, stmt, table, named, known is not None))
        yield self.finding(ctx, message, fix, _help(state, named, rerun), node=stmt)

    def _keyed(self, ctx: FileContext, stmt: Statement, table: str, key: Index, rerun: str
               ) -> Finding:
        bare = ctx.model.bare(table)
        cols = ", ".join(c for c in key.columns if c)
        what = "primary key" if key.primary else "unique key"
        message = (f"Re-run by {rerun}, this INSERT fails with 23505: it supplies `{bare}`'s "
                   f"{what} ({cols}) without ON CONFLICT")
        help = _help(f"({cols}) is the {what} of `{bare}`", cols, rerun)
        target = conflict_target(stmt, key)
        portable = _portable_fix(ctx)
        if portable is not None:
            fix = portable
        elif target is None or not stmt.exact:
            fix = Fix.display("Make the retry a no-op with ON CONFLICT DO NOTHING",
                              _with_clause(ctx, stmt, f" ON CONFLICT ({cols}) DO NOTHING"))
        else:
            clause = f" ON CONFLICT {target} DO NOTHING"
            fix = Fix("Add ON CONFLICT ... DO NOTHING", Applicability.UNSAFE,
                      (Edit.insert(conflict_point(ctx, stmt), clause),),
                      isolation=f"insert-conflict:{stmt.start}")
        return self.finding(ctx, message, fix, help, node=stmt)


def _portable_fix(ctx: FileContext) -> Fix | None:
    """For a project that also runs on SQLite or MySQL (MySQL has no ON CONFLICT): the duplicate
    caught around the statement instead of a PostgreSQL-only clause. None elsewhere."""
    if not ctx.model.other_backends:
        return None
    return Fix.display("Catch the duplicate around the INSERT", (
        "# The project also runs on another database, where ON CONFLICT may not exist (MySQL):\n"
        "# run the INSERT in a savepoint and catch the driver's IntegrityError (a unique\n"
        "# violation): an earlier attempt committed the row, read it instead."))


def _supplied_columns(node: dict[str, Any], columns: list[str | None]) -> set[str]:
    """Columns whose value every row of the INSERT takes from the caller."""
    select = (node.get("selectStmt") or {}).get("SelectStmt")
    if not select:
        return set()
    rows = select.get("valuesLists")
    if rows:
        lists = [row.get("List", {}).get("items") or [] for row in rows]
    elif select.get("fromClause") or select.get("whereClause") or select.get("op") != "SETOP_NONE":
        return set()  # INSERT ... SELECT: a copy or a conditional insert, not a client's key
    else:
        lists = [[t.get("ResTarget", {}).get("val") for t in select.get("targetList") or ()]]
    out: set[str] = set()
    for i, column in enumerate(columns):
        if column and all(i < len(values) and _from_caller(values[i]) for values in lists):
            out.add(column)
    return out


def _from_caller(value: dict[str, Any] | None) -> bool:
    """A literal, a parameter or a PL/pgSQL variable, possibly cast or combined: not DEFAULT,
    NULL, a subquery, or a value the server generates on every run."""
    if not value or "SetToDefault" in value or "SubLink" in value:
        return False
    is_const, constant = n.constant(value)
    if is_const and constant is None:
        return False
    leaves = False
    for kind, body in iter_nodes(value):
        if kind == "FuncCall" and n.func_name(body) in _GENERATED:
            return False
        if kind in ("SubLink", "SetToDefault", "SQLValueFunction"):
            return False
        leaves = leaves or kind in ("A_Const", "ParamRef", "ColumnRef")
    return leaves


def _covered_key(ctx: FileContext, table: str, supplied: set[str]) -> Index | None:
    """The unique key whose columns the INSERT supplies: an idempotency-named one first, then
    the primary key."""
    covered = [i for i in unique_indexes(ctx, table) if set(i.columns) <= supplied]
    if not covered:
        return None
    named = [i for i in covered if any(IDEMPOTENCY_NAME.match(c or "") for c in i.columns)]
    return (named or covered)[0]


def _help(state: str, cols: str, rerun: str) -> str:
    return (f"{state}, and {rerun} runs the INSERT again after a failed attempt. An attempt "
            "can fail after its INSERT committed (a lost connection, an error later on): the "
            "next attempt then fails with a unique violation (23505), or inserts a duplicate "
            f"where nothing enforces uniqueness. `ON CONFLICT ({cols}) DO NOTHING` makes the "
            "retry a no-op; it needs a unique index or constraint on exactly those columns. "
            "With RETURNING, a conflicting insert returns no row: read the existing row when "
            "none comes back, or use `DO UPDATE SET ... WHERE <status> = 'failed'` to re-run "
            "only failed attempts. A bare `ON CONFLICT DO NOTHING` "
            "would also swallow conflicts on the table's other unique keys.")


def _with_clause(ctx: FileContext, stmt: Statement, clause: str) -> str:
    if not stmt.exact:
        # SQL in a Python string: the text as written there (the driver's placeholders), the
        # clause before its own RETURNING.
        text = ctx.text[stmt.start:stmt.end]
        if not text.lstrip().upper().startswith("INSERT"):
            return f"INSERT INTO ... VALUES (...){clause};"
        returning = list(_RETURNING.finditer(text))
        at = returning[-1].start() if returning else len(text.rstrip())
        return text[:at] + clause + text[at:]
    at = conflict_point(ctx, stmt)
    return ctx.text[stmt.start:at] + clause + ctx.text[at:stmt.end] + plpgsql_into(ctx, stmt) + ";"


def _suggestion(ctx: FileContext, stmt: Statement, table: str, column: str, known: bool) -> str:
    bare = ctx.model.bare(table)
    index = n.quote_ident(constraint_name(bare, [column]))
    col = n.quote_ident(column)
    why = "there is none yet" if known else \
        "create it unless one exists (pglint does not know the table)"
    return (f"-- ON CONFLICT needs a unique index on exactly ({col}): {why}.\n"
            "-- Remove existing duplicates first; CONCURRENTLY cannot run in a transaction.\n"
            f"CREATE UNIQUE INDEX CONCURRENTLY {index} ON {table} ({col});\n\n"
            "-- Then:\n" + _with_clause(ctx, stmt, f" ON CONFLICT ({col}) DO NOTHING"))


def _python_help(form: str, bare: str, what: str, cols: str, rerun: str) -> str:
    common = (f"({cols}) is the {what} of `{bare}`, and {rerun} runs the insert again after a "
              "failed attempt. An attempt can fail after its INSERT committed (a lost "
              "connection, an error later in the task): the next attempt then raises "
              "IntegrityError (unique violation 23505) instead of returning the same result. ")
    if form == "django":
        return common + ("`get_or_create(<key>=..., defaults={...})` makes the retry return the "
                         "existing row (it inserts, and on IntegrityError reads the row back); the "
                         "defaults of a retry are not compared with the stored row, and it returns "
                         "`(obj, created)`. Catching IntegrityError around the create (in "
                         "`transaction.atomic()`) works too.")
    return common + ("PostgreSQL's `insert(M).values(...).on_conflict_do_nothing(index_elements="
                     "[...])` (from `sqlalchemy.dialects.postgresql`) makes the retry a no-op. It "
                     "runs at once, not at the session's flush, and returns no row for a skipped "
                     "insert: read the existing row when none comes back. Catching IntegrityError "
                     "around the insert (in a savepoint) works too.")
