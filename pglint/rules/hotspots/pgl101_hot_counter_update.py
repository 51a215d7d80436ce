"""PGL101 hot-counter-update."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from pglint.context import FileContext, runs_repeatedly
from pglint.finding import Finding, Fix
from pglint.kit.orm import (
    call_args,
    django_model,
    f_field,
    is_text,
    method_chain,
    one_literal,
    plain_string,
    snippet,
    sqlalchemy_update,
    statement_values,
)
from pglint.kit.roles import runs_once
from pglint.model.catalog import Trigger
from pglint.model.project import Evidence
from pglint.model.workload import is_increment
from pglint.python.pyfile import PythonFile, dotted, is_int
from pglint.sql.parse import Statement
from pglint.rule import Example, Rule
from pglint.sql import nodes as n
from pglint.sql.nodes import defined_function_key

SHARDS = 16
# Something in the WHERE clause that spreads writers over several rows already.
_SPREADING_FUNCTIONS = {"pg_backend_pid", "random", "hashtext", "hashint4", "hashint8",
                        "abs", "mod", "floor"}
# ... and in Python: a key computed by one of these picks one of several rows.
_PY_SPREADING = frozenset({"randint", "randrange", "randbelow", "choice", "random", "uniform",
                           "getpid", "get_ident", "hash"})
_SHARD_KEYS = ("shard", "shard_id", "slot", "slot_id", "bucket")
_WHY_HELP = (" An UPDATE holds the row's lock until its transaction ends: every "
             "concurrent increment of the row waits for the one before it to commit, so "
             "throughput is capped at one transaction per commit latency, waits cascade into "
             "connection-pool exhaustion, and `statement_timeout`s fire under load spikes. "
             "Spread the increments over several shard rows and sum on read; fold shards into "
             "the main table with one statement that moves rows atomically (`WITH moved AS "
             "(DELETE ... RETURNING ...) UPDATE ...`), never with a `SELECT sum()` followed by "
             "`TRUNCATE` (see PGL109).")
_COUNTERS_SQL = ("CREATE TABLE visit_counters (page_id text PRIMARY KEY,\n"
                 "    count bigint NOT NULL DEFAULT 0);")
_DJANGO_COUNTERS = {
    "app/models.py": ("from django.db import models\n\n\n"
                      "class VisitCounter(models.Model):\n"
                      "    page_id = models.TextField(primary_key=True)\n"
                      "    count = models.BigIntegerField(default=0)\n\n"
                      "    class Meta:\n"
                      "        db_table = \"visit_counters\"\n\n\n"
                      "class Product(models.Model):\n"
                      "    stock = models.IntegerField(default=0)\n\n"
                      "    class Meta:\n"
                      "        db_table = \"inventory\"\n\n\n"
                      "class Job(models.Model):\n"
                      "    attempt_count = models.IntegerField(default=0)\n"),
    "migrations/V1__counters.sql": _COUNTERS_SQL,
}
_SA_COUNTERS = {
    "app/models.py": ("from sqlalchemy import Column, Integer, MetaData, Table, Text\n"
                      "from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column\n\n\n"
                      "class Base(DeclarativeBase):\n"
                      "    pass\n\n\n"
                      "class Account(Base):\n"
                      "    __tablename__ = \"accounts\"\n"
                      "    id: Mapped[int] = mapped_column(primary_key=True)\n"
                      "    balance: Mapped[int] = mapped_column(default=0)\n\n\n"
                      "metadata = MetaData()\n"
                      "site_stats = Table(\"site_stats\", metadata, Column(\"views\", Integer),\n"
                      "                   Column(\"name\", Text))\n"),
}


_AGGREGATE_CONTEXT = {
    "migrations/V1__users.sql":
        "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);\n"
        "CREATE TABLE site_aggregates (id int PRIMARY KEY, users bigint NOT NULL DEFAULT 0);\n"
        "INSERT INTO site_aggregates (id) VALUES (1);",
    "queries/signup.sql": "INSERT INTO users (name) VALUES ($1);",
}
_AGGREGATE_TRIGGER = (
    "CREATE FUNCTION site_aggregates_user_insert() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  UPDATE site_aggregates SET users = users + 1;\n  RETURN NULL;\nEND $$;\n"
    "CREATE TRIGGER count_users AFTER INSERT ON users\n"
    "    FOR EACH ROW EXECUTE FUNCTION site_aggregates_user_insert();")


class HotCounterUpdate(Rule):
    """
    ## What it does
    Flags an `UPDATE` that increments or decrements a column of one single row that every
    caller shares: a counter, a stock level, a running total. The rule fires when the row is
    picked by literal key values (`WHERE page_id = '/home'`), when it updates every row of a
    table that exists to count (its name says counter, stats or totals: a table of one row or a
    few), or when `[tool.pglint.tables]` declares the table a `counter`, and the statement runs
    at application run time (a query file or a function body, not a one-off migration). A row
    keyed by a parameter (`WHERE user_id = $1`, a trigger's `NEW.user_id`) is shared only by the
    writers of that key: pglint cannot tell a per-user row from a hot one, and a table's name
    is no evidence, so it stays silent unless the table is declared a counter. In a function that a row-level trigger runs, an increment
    with no `WHERE` or with a literal key is hot when run-time code writes the trigger's table
    (`UPDATE site_aggregates SET users = users + 1` run for every user inserted): every writer
    of that table then queues on the aggregate's row. Only the definition in force counts: a
    body that a later migration replaces (`CREATE OR REPLACE FUNCTION`) or drops, or a trigger
    it drops, no longer runs. Tests, seed data and one-off scripts are not run-time code.

    It stays silent on per-entity bookkeeping keyed by a parameter (a job's `attempt_count`, an
    account's balance), and on rows that are already one of several shards or slots.

    The ORM forms are judged the same way, with the model's table (from the models of any file
    of the project) or, when no file maps it, the model's name: Django
    `M.objects.filter(key=...).update(c=F("c") + 1)` (`pk=1`, `key__exact=...`), and SQLAlchemy
    `update(M).where(M.id == 1).values(c=M.c + 1)`, `update(t)` / `t.update()` with
    `t.c.c + 1`. A counter table's increment without any filter (`update(t).values(...)`,
    `M.objects.update(...)`) updates its every row at once, which is as hot; so does the same
    `UPDATE` without `WHERE` in SQL. Django data migrations and Alembic revisions run once and
    are not judged.

    ## Why is this bad?
    An `UPDATE` takes the row's lock until its transaction ends. Every concurrent increment of
    the same row waits for the one before it to commit, so throughput is capped at one
    transaction per commit latency, waits cascade into connection-pool exhaustion, and
    `statement_timeout`s fire under load spikes.

    ## Example
    ```sql
    UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';
    ```

    ```python
    VisitCounter.objects.filter(page_id="/home").update(count=F("count") + 1)
    ```

    ## Use instead
    Spread the increments over several rows and sum on read (a sharded counter):
    ```sql
    INSERT INTO visit_counters_shards (page_id, shard, count)
    VALUES ('/home', floor(random() * 16)::int, 1)
    ON CONFLICT (page_id, shard)
    DO UPDATE SET count = visit_counters_shards.count + EXCLUDED.count;

    SELECT sum(count) FROM visit_counters_shards WHERE page_id = '/home';
    ```
    In Django, a model on the shard table with its rows created once per counter, then
    `VisitCounterShard.objects.filter(page_id="/home", shard=secrets.randbelow(16))
    .update(count=F("count") + 1)` and `.aggregate(total=Sum("count"))` to read; in SQLAlchemy
    the upsert is `insert(...).on_conflict_do_update(...)` from
    `sqlalchemy.dialects.postgresql`.
    Fold shards into the main table with one statement that moves rows atomically
    (`WITH moved AS (DELETE ... RETURNING ...) UPDATE ...`), never with a `SELECT sum()` followed
    by `TRUNCATE` (see PGL109).

    ## Fix safety
    Display only: a sharded counter changes the schema and every reader of the counter, and the
    total becomes a sum over shards. pglint shows the DDL, the upsert, the read-side `SUM` and
    the race-free aggregation for this counter, and for ORM code the calls to write.
    """

    code = "PGL101"
    name = "hot-counter-update"
    summary = "Increment of a single shared row serializes every writer on its row lock"
    default_enabled = False
    off_by_default = (
        "judged worth acting on in 0 of 4 findings on repositories it was not tuned on (round "
        "18: a per-user counter, a form's daily counter behind coarser hot rows of the same "
        "transaction, an hourly housekeeping fold under a lock): how many writers share a row, "
        "and how often, is not in the code; declare a counter in `[tool.pglint.tables]`"
    )
    references = (
        "https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-ROWS",
        "https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED",
    )
    statements = ("UpdateStmt",)
    file_kinds = frozenset({"sql", "migration", "pgbench"})
    python_nodes = (ast.Call,)
    # An increment: Django `update(c=F("c") + 1)`, SQLAlchemy `.values(c=T.c + 1)`.
    python_hint = (("update(", ".values("), re.compile(r"update\(\s*\w+\s*=\s*(?:\w+\.)*F\(|\.values\(\s*(?:\{\s*)?[\w'\"]+\s*[:=]"
                              r"\s*[\w.\[\]'\"]+\s*[-+]"),)

    VALID = (
        # Per-entity bookkeeping keyed by a parameter: each job has its own row.
        Example("UPDATE retry_queue SET attempt_count = attempt_count + 1 WHERE id = $1;",
                kind="sql"),
        # Already sharded by slot (the chapter's slotted updates).
        Example("UPDATE inventory_slots SET reserved_count = reserved_count + 1\n"
                "WHERE product_id = 123 AND slot_id = (pg_backend_pid() % 100);", kind="sql"),
        # The sharded counter's own upsert.
        Example("INSERT INTO visit_counter_shards (shard_id, page_id, count) VALUES (4, '/home', 1)\n"
                "ON CONFLICT (shard_id, page_id) DO UPDATE SET count = visit_counter_shards.count + 1;",
                kind="sql"),
        # A one-off data fix in a migration runs once.
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';"),
        # The same trigger on a table nothing at run time writes (a seed file is not the app).
        Example(_AGGREGATE_TRIGGER,
                context={"migrations/V1__users.sql": _AGGREGATE_CONTEXT["migrations/V1__users.sql"],
                         "seeds/users.sql": "INSERT INTO users (name) VALUES ('admin');"}),
        # A trigger that a later migration dropped no longer runs.
        Example(_AGGREGATE_TRIGGER, context={**_AGGREGATE_CONTEXT,
                                             "migrations/V901__drop_trigger.sql":
                                             "DROP TRIGGER count_users ON users;"}),
        # A function body that a later migration replaced, or dropped, no longer runs.
        Example("CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE site_stats SET views = views + 1 WHERE id = 1;\nEND $$;",
                context={"migrations/V901__sharded_bump.sql":
                         "CREATE OR REPLACE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
                         "BEGIN\n  UPDATE site_stats_shards SET views = views + 1\n"
                         "  WHERE id = 1 AND shard = (pg_backend_pid() % 16);\nEND $$;"}),
        Example("CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE site_stats SET views = views + 1 WHERE id = 1;\nEND $$;",
                context={"migrations/V901__drop_bump.sql": "DROP FUNCTION bump();"}),
        # Keyed by a parameter: the rows of one product, one user; the table's name is no
        # evidence that many writers share a key (atuin's per-user history count).
        Example("UPDATE inventory SET stock = stock - 1 WHERE product_id = $1;", kind="sql"),
        Example("CREATE FUNCTION count_history() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE total_history_count_user SET total = total + 1\n"
                "  WHERE user_id = NEW.user_id;\n  RETURN NULL;\nEND $$;\n"
                "CREATE TRIGGER tg_count AFTER INSERT ON history\n"
                "    FOR EACH ROW EXECUTE FUNCTION count_history();",
                context={"migrations/V1__history.sql":
                         "CREATE TABLE history (id bigint PRIMARY KEY, user_id bigint);\n"
                         "CREATE TABLE total_history_count_user (user_id bigint PRIMARY KEY,\n"
                         "    total bigint NOT NULL DEFAULT 0);",
                         "queries/sync.sql": "INSERT INTO history (id, user_id) VALUES ($1, $2);"}),
        # A range: many rows, not one.
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id > 'a';", kind="sql"),
        # Not an increment: jsonb key removal, an interval added to a timestamp.
        Example("UPDATE site_stats SET meta = meta - 'flag' WHERE id = 1;", kind="sql"),
        Example("UPDATE site_stats SET renew_at = renew_at + interval '1 day' WHERE id = 1;",
                kind="sql"),
        # Not an increment.
        Example("UPDATE visit_counters SET count = 0 WHERE page_id = '/home';", kind="sql"),
        # A table-wide update of a table that is not a counter.
        Example("UPDATE accounts SET balance = balance + 1;", kind="sql"),
        # Python: per-entity bookkeeping keyed by a parameter; a range; the shard rows.
        Example("from django.db.models import F\n\nfrom app.models import Job, VisitCounter\n\n\n"
                "def retry(job_id):\n"
                "    Job.objects.filter(pk=job_id).update(attempt_count=F(\"attempt_count\") + 1)\n\n\n"
                "def bump_all():\n"
                "    VisitCounter.objects.filter(page_id__startswith=\"/blog\").update(\n"
                "        count=F(\"count\") + 1)\n", kind="python", context=_DJANGO_COUNTERS),
        Example("import secrets\n\nfrom django.db.models import F\n\n"
                "from app.models import VisitCounter\n\n\n"
                "def view(page):\n"
                "    VisitCounter.objects.filter(page_id=page, shard=secrets.randbelow(16)).update(\n"
                "        count=F(\"count\") + 1)\n", kind="python", context=_DJANGO_COUNTERS),
        Example("from sqlalchemy import update\n\nfrom app.models import Account\n\n\n"
                "def deposit(session, account_id, cents):\n"
                "    session.execute(update(Account).where(Account.id == account_id)\n"
                "                    .values(balance=Account.balance + cents))\n",
                kind="python", context=_SA_COUNTERS),
    )
    INVALID = (
        Example("UPDATE visit_counters SET count = count + 1 WHERE page_id = '/home';", kind="sql"),
        Example("UPDATE accounts SET balance = balance + 1 WHERE id = 1;", kind="sql"),
        # A guard does not spread the writers: still one row.
        Example("UPDATE inventory SET stock = stock - 1 WHERE product_id = 123 AND stock > 0;",
                kind="sql"),
        Example("UPDATE page_hits SET hits = hits + 1 WHERE page = $1;", kind="sql",
                config={"tables": {"page_hits": "counter"}}),
        Example(
            "CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
            "BEGIN\n  UPDATE site_stats SET views = views + 1 WHERE id = 1;\nEND $$;"),
        # The definition in force replaces an earlier, harmless one.
        Example("CREATE OR REPLACE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
                "BEGIN\n  UPDATE site_stats SET views = views + 1 WHERE id = 1;\nEND $$;",
                context={"migrations/V1__bump.sql":
                         "CREATE FUNCTION bump() RETURNS void LANGUAGE plpgsql AS $$\n"
                         "BEGIN\n  PERFORM 1;\nEND $$;"}),
        # A counter table without WHERE: every caller updates every row.
        Example("UPDATE site_stats SET views = views + 1;", kind="sql"),
        # A trigger keeps a one-row aggregate: every user sign-up updates the same row.
        Example(_AGGREGATE_TRIGGER, context=_AGGREGATE_CONTEXT),
        # Python: Django with a literal key, and a table declared a counter keyed by a parameter.
        Example("from django.db.models import F\n\nfrom app.models import VisitCounter\n\n\n"
                "def home(request):\n"
                "    VisitCounter.objects.filter(page_id=\"/home\").update(count=F(\"count\") + 1)\n",
                kind="python", context=_DJANGO_COUNTERS),
        Example("from django.db import models\n\nfrom app.models import Product\n\n\n"
                "def reserve(product_id):\n"
                "    Product.objects.filter(pk=product_id, stock__gt=0).update(\n"
                "        stock=models.F(\"stock\") - 1)\n", kind="python", context=_DJANGO_COUNTERS,
                config={"tables": {"inventory": "counter"}}),
        # SQLAlchemy: a literal key; a counter Table updated whole.
        Example("from sqlalchemy import update\n\nfrom app.models import Account\n\n\n"
                "def fee(session):\n"
                "    session.execute(update(Account).where(Account.id == 1)\n"
                "                    .values(balance=Account.balance + 5))\n",
                kind="python", context=_SA_COUNTERS),
        Example("from sqlalchemy import update\n\nfrom app.models import site_stats\n\n\n"
                "def view(session):\n"
                "    session.execute(update(site_stats).values(views=site_stats.c.views + 1))\n",
                kind="python", context=_SA_COUNTERS),
    )

    def check(self, stmt: Statement, node: dict[str, Any], ctx: FileContext
              ) -> Iterable[Finding]:
        if not runs_repeatedly(ctx, stmt):
            return
        table = n.relation_name(node.get("relation"))
        if not table or ctx.model.is_sharded_table(table):
            return
        increments = []
        for target in node.get("targetList", ()):
            res = target.get("ResTarget", {})
            if res.get("name") and is_increment(res["name"], res.get("val") or {}):
                increments.append(res)
        if not increments:
            return
        where = node.get("whereClause")
        # Equalities pin the row; other conditions (`AND stock > 0`) only guard it. Without an
        # equality (ranges, IN lists, ORs) the statement is not aimed at one row.
        keys = [eq for eq in map(n.equality, n.conjuncts(where)) if eq is not None]
        # No WHERE at all: every row at once, hot only on a counter table (judged below).
        if (not keys and where is not None) or n.mentions_function(where, _SPREADING_FUNCTIONS):
            return
        if any(k[0].lower() in _SHARD_KEYS for k in keys):
            return
        literal = bool(keys) and all(n.constant(value)[0] for _, value in keys)
        # In a trigger function: once per row the application writes to the trigger's table.
        fired = _fired_per_row(ctx, stmt) if literal or not keys else None
        # A row keyed by a parameter (a user's, a form's) is shared only by the writers of that
        # key: without a declaration that the table is a counter, a name is no evidence.
        counter = ctx.model.is_counter_table(table) if not keys else _declared_counter(ctx, table)
        if not (literal or fired or counter):
            return
        column = increments[0]["name"]
        if fired is not None:
            message, why = _trigger_judgement(ctx, fired, ctx.model.bare(table), column, literal)
        else:
            message, why = _judgement(ctx, table, ctx.model.bare(table), column, literal,
                                      bool(keys))
        help = why + _WHY_HELP
        fix = Fix.display("Shard the counter over several rows and sum on read",
                          _sharded_counter(ctx, table, column, keys, increments[0]))
        yield self.finding(ctx, message, fix, help, node=stmt)

    # -- Python forms ------------------------------------------------------------------------

    def check_python(self, node: ast.Call, ctx: FileContext) -> Iterable[Finding]:
        code = ctx.python_file
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr != "update":
                return
            if not (node.args or node.keywords) or (
                    code.call_name(node) or "").startswith("sqlalchemy."):
                found = _sqlalchemy_counter(ctx, node)  # t.update(), sa.update(M)
            elif not node.args and all(k.arg is not None for k in node.keywords):
                found = _django_counter(ctx, node)
            else:
                return
        elif isinstance(func, ast.Name) and (node.args or node.keywords):
            name = code.call_name(node) or ""
            if not (name.startswith("sqlalchemy.") and name.endswith(".update")):
                return
            found = _sqlalchemy_counter(ctx, node)
        else:
            return
        if found is None or runs_once(ctx):
            return
        name = found.table or _snake(found.model)
        if ctx.model.is_sharded_table(name) or ctx.model.is_sharded_table(_snake(found.model)):
            return
        if any(k.lower() in _SHARD_KEYS for k, _ in found.keys) or any(
                _spreads(value) for _, value in found.keys):
            return
        literal = bool(found.keys) and all(_py_literal(code, v) for _, v in found.keys)
        # Django's default table name (`app_pagecounter`) hides the words of the class name.
        counter = next((t for t in (name, _snake(found.model))
                        if (_declared_counter(ctx, t) if found.keys
                            else ctx.model.is_counter_table(t))), None)
        if not (literal or counter):
            return
        bare = ctx.model.bare(name)
        said = f"model `{found.model}` is named like a counter" \
            if counter and counter != name else None
        message, why = _judgement(ctx, counter or name, bare, found.column, literal,
                                  bool(found.keys), said)
        if found.table is None:
            why += (f" (No model file maps `{found.model}` to a table: the name shown is "
                    "derived from the class name.)")
        suggestion = _python_suggestion(ctx, found, name)
        fix = Fix.display("Shard the counter over several rows and sum on read", suggestion)
        yield self.finding(ctx, message, fix, why + _WHY_HELP, node=found.node)


def _declared_counter(ctx: FileContext, table: str) -> bool:
    """`[tool.pglint.tables]` says the table is a counter."""
    return "counter" in ctx.model.hint(table).workloads


@dataclass(frozen=True)
class _Fired:
    """A trigger that runs the statement's function once per row written to its table, and the
    run-time writes of that table that fire it."""

    trigger: Trigger
    op: str  # the write that fires it: insert, update or delete
    evidence: Evidence


def _fired_per_row(ctx: FileContext, stmt: Statement) -> _Fired | None:
    """Whether `stmt` sits in a function that a row-level trigger runs for every row that
    run-time code inserts, updates or deletes in the trigger's table."""
    parent = stmt.parent
    if parent is None or parent.kind != "CreateFunctionStmt":
        return None
    for trigger in ctx.model.catalog.triggers_running(defined_function_key(parent.body)):
        if not trigger.row:
            continue
        for op in ("insert", "update", "delete"):
            writes = ctx.model.workload.of(trigger.table, op) if op in trigger.events else ()
            if writes:
                return _Fired(trigger, op, Evidence(
                    f"the application {op}s `{ctx.model.bare(trigger.table)}` rows",
                    tuple(w.location for w in writes)))
    return None


def _trigger_judgement(ctx: FileContext, fired: _Fired, bare: str, column: str,
                       literal: bool) -> tuple[str, str]:
    """The message and first help sentence for an increment run by a row-level trigger."""
    source = ctx.model.bare(fired.trigger.table)
    rows = "the same row" if literal else "every row"
    verb = {"insert": "inserted into", "update": "updated in", "delete": "deleted from"}[fired.op]
    return ((f"Trigger `{fired.trigger.name}` increments `{column}` in {rows} of `{bare}` for "
             f"each row {verb} `{source}`, so concurrent writers of `{source}` queue on its row "
             f"lock ({fired.evidence.brief()})"),
            (f"The function runs once per row {verb} `{source}` (trigger "
             f"`{fired.trigger.name}`, FOR EACH ROW), and {fired.evidence}: every such write "
             f"also updates {rows} of `{bare}`, inside the writer's transaction."))


def _judgement(ctx: FileContext, table: str, bare: str, column: str, literal: bool,
               keyed: bool, said: str | None = None) -> tuple[str, str]:
    """The message and the first sentence of help: why this row is shared."""
    if literal:
        return ((f"Every caller increments `{column}` in the same `{bare}` row (a literal key), "
                 f"so concurrent writers queue on its row lock"),
                "The row is picked by literal key values, so every caller updates the same row.")
    said = said or ("`[tool.pglint.tables]` declares it a counter"
                    if "counter" in ctx.model.hint(table).workloads else "its name says so")
    if not keyed:
        return ((f"`{column}` is incremented in every row of counter table `{bare}` at once, so "
                 f"concurrent writers queue on its row locks"),
                (f"`{bare}` exists to count ({said}), and the update has no filter: every caller "
                 "updates every row."))
    return ((f"`{column}` is incremented in place in a shared row of counter table `{bare}`, so "
             f"concurrent writers queue on its row lock"),
            f"`{bare}` exists to count ({said}), so its rows are shared by every caller.")


@dataclass
class _OrmIncrement:
    orm: str  # "django" | "sqlalchemy"
    model: str  # the model class (or Table variable) as the code spells it
    table: str | None
    column: str
    subtract: bool
    delta: ast.expr  # the Python expression added or subtracted
    keys: list[tuple[str, ast.expr]]  # equality filters: (column, Python value)
    node: ast.expr  # the whole call chain (the finding's span)


def _django_counter(ctx: FileContext, node: ast.Call) -> _OrmIncrement | None:
    """`M.objects.filter(key=...).update(c=F("c") + x)`."""
    code = ctx.python_file
    chain = method_chain(code, node)
    model = django_model(code, chain)
    if model is None or chain.outer is not node:
        return None
    increment = next((found for found in (
        _increment(k.arg, k.value, lambda v: f_field(code, v))
        for k in node.keywords if k.arg is not None) if found), None)
    if increment is None or is_text(increment[2]):
        return None
    keys: list[tuple[str, ast.expr]] = []
    for call in chain.calls("filter"):
        for arg in call_args(call):
            if arg.star:
                return None  # **lookups: cannot tell
            if arg.keyword is None:
                continue  # Q(...): a guard
            field, _, lookup = arg.keyword.partition("__")
            if lookup in ("", "exact"):
                keys.append((field, arg.value))
    if not keys and (chain.calls("filter") or chain.calls("exclude")):
        return None  # ranges and lookups: not aimed at one row
    spelled = chain.root.value.id  # type: ignore[attr-defined]
    return _OrmIncrement("django", spelled, ctx.model.orm_table(model), *increment, keys, node)


def _sqlalchemy_counter(ctx: FileContext, node: ast.Call) -> _OrmIncrement | None:
    """`update(M).where(M.id == 1).values(c=M.c + x)`, `t.update().values(c=t.c.c + x)`."""
    code = ctx.python_file
    update = sqlalchemy_update(code, node, ctx.model.orm_table)
    if update is None:
        return None
    chain, entity, named, wheres = update
    spelled = code.code(named).strip()
    increment = next((found for found in (
        _increment(column, value, _column_ref)
        for column, value in statement_values(code, chain)) if found), None)
    if increment is None or is_text(increment[2]):
        return None  # `t.c.name + " (old)"` appends text: no counter
    conditions = []
    while wheres:
        item = wheres.pop(0)
        if isinstance(item, ast.Call) and (code.call_name(item) or "").endswith("and_"):
            wheres.extend(a.value for a in call_args(item))
        else:
            conditions.append(item)
    keys: list[tuple[str, ast.expr]] = []
    for cond in conditions:
        if isinstance(cond, ast.Compare) and len(cond.ops) == 1 \
                and isinstance(cond.ops[0], ast.Eq):
            right = cond.comparators[0]
            if _column_ref(cond.left):
                keys.append((_column_ref(cond.left), right))  # type: ignore[arg-type]
            elif _column_ref(right):
                keys.append((_column_ref(right), cond.left))  # type: ignore[arg-type]
    if not keys and conditions:
        return None
    return _OrmIncrement("sqlalchemy", spelled, ctx.model.orm_table(entity), *increment, keys,
                         chain.outer)


def _increment(column: str, value: ast.expr, reads: Callable[[ast.AST], str | None]
               ) -> tuple[str, bool, ast.expr] | None:
    """(column, subtracts, delta) when value is `<column> + d`, `<column> - d` or
    `d + <column>` (`reads` names the column an operand refers to)."""
    if not (isinstance(value, ast.BinOp) and isinstance(value.op, (ast.Add, ast.Sub))):
        return None
    if reads(value.left) == column:
        return column, isinstance(value.op, ast.Sub), value.right
    if isinstance(value.op, ast.Add) and reads(value.right) == column:
        return column, False, value.left
    return None


def _column_ref(node: ast.AST) -> str | None:
    """`c` of `M.c` / `t.c.c` (an attribute of a name or of its `.c`)."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
        return node.attr
    return None


def _spreads(node: ast.AST) -> bool:
    return any(isinstance(item, ast.Call) and (dotted(item.func) or "").rsplit(".", 1)[-1]
               in _PY_SPREADING for item in (node, *PythonFile.descendants(node)))


def _py_literal(code: PythonFile, node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return is_int(node) or one_literal(code, node)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _python_suggestion(ctx: FileContext, found: _OrmIncrement, table: str) -> str:
    """The sharded counter in SQL, then the ORM calls that use it."""
    code = ctx.python_file
    primary = next((i.columns for i in ctx.model.catalog.indexes_on(table) if i.primary), None) \
        if found.table else None
    pk = primary[0] if primary and len(primary) == 1 and primary[0] else "id"
    specs, py_keys, params = [], [], 0
    for key, value in found.keys:
        column = pk if key == "pk" else key
        # The shard rows have their own id: the counter's id gets a name of its own.
        shard_column = f"{_snake(found.model).removesuffix('_shards')}_id" \
            if column == "id" else column
        literal = value.operand if isinstance(value, ast.UnaryOp) else value
        text = plain_string(code, literal)
        if is_int(literal) and _py_literal(code, value):
            sql, guess = code.code(value).strip(), "bigint"
        elif text is not None:
            sql, guess = n.quote_literal(text), "text"
        else:
            params += 1
            sql, guess = f"${params}", "bigint" if key in ("pk", "id") else "text"
        specs.append((column, sql, guess, shard_column))
        py_keys.append((shard_column, snippet(code, value)))
    delta = snippet(code, found.delta)
    # One name, number, call or subscript: negated without parentheses.
    atomic = isinstance(found.delta, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) or (
        isinstance(found.delta, ast.Constant)
        and (type(found.delta.value) in (int, bool) or found.delta.value is None))
    if is_int(found.delta):
        delta_sql = delta
    else:
        params += 1
        delta_sql = f"${params}"
    sign = "-" if found.subtract else ""
    sql = sharded_counter_sql(ctx, table, found.column, specs, sign + delta_sql)
    shards = f"{ctx.model.bare(table)}_shards"
    python = _django_calls(found, py_keys, shards, delta) if found.orm == "django" else \
        _sqlalchemy_calls(found, py_keys, shards, delta, atomic)
    return sql + "\n\n" + python


def _django_calls(found: _OrmIncrement, py_keys: list[tuple[str, str]], shards: str,
                  delta: str) -> str:
    """Django's model, increment and read for the shard table."""
    c = found.column
    keyword_args = "".join(f"{k}={v}, " for k, v in py_keys)
    read_filter = ", ".join(f"{k}={v}" for k, v in py_keys)
    op = "-" if found.subtract else "+"
    fields = ", ".join([*(k for k, _ in py_keys), "shard", c])
    unique = ", ".join([*(k for k, _ in py_keys), "shard"])
    shard = f"{found.model}Shard"
    read = f"{shard}.objects.filter({read_filter})" if read_filter else f"{shard}.objects"
    main = f"{found.model}.objects.filter({read_filter})" if read_filter \
        else f"{found.model}.objects"
    python = (
        f"# Django: a model {shard} on {shards} (fields {fields}; unique together: "
        f"{unique}), its rows created once per counter, then the increment on a random "
        "shard and the read:\n"
        "import secrets\n\nfrom django.db.models import F, Sum\n\n"
        f"{shard}.objects.bulk_create(\n"
        f"    [{shard}({keyword_args}shard=s) for s in range({SHARDS})], "
        "ignore_conflicts=True)\n"
        f"{shard}.objects.filter({keyword_args}shard=secrets.randbelow({SHARDS})).update(\n"
        f"    {c}=F({json.dumps(c)}) {op} {delta})\n"
        "# the counter row's value plus its shards':\n"
        f"total = ({main}.aggregate(n=Sum({json.dumps(c)}))[\"n\"] or 0) + (\n"
        f"    {read}.aggregate(n=Sum({json.dumps(c)}))[\"n\"] or 0)")
    return python


def _sqlalchemy_calls(found: _OrmIncrement, py_keys: list[tuple[str, str]], shards: str,
                      delta: str, atomic: bool) -> str:
    """SQLAlchemy's upsert and read for the shard table."""
    c = found.column
    keyword_args = "".join(f"{k}={v}, " for k, v in py_keys)
    table_style = not found.model[:1].isupper()
    shard = f"{found.model}_shards" if table_style else f"{found.model}Shard"
    col = (lambda name: f"{shard}.c.{name}") if table_style \
        else (lambda name: f"{shard}.{name}")
    signed = f"-{delta}" if found.subtract and atomic else \
        f"-({delta})" if found.subtract else delta
    where = "".join(f".where({col(k)} == {v})" for k, v in py_keys)
    main_col = (lambda name: f"{found.model}.c.{name}") if table_style \
        else (lambda name: f"{found.model}.{name}")
    main_where = "".join(f".where({main_col(k)} == {v})" for k, v in py_keys)
    declared = f"{shard} = Table(\"{shards}\", metadata, ...)" if table_style \
        else f"a model {shard} on {shards}"
    index = ", ".join(json.dumps(k) for k, _ in py_keys)
    python = (
        f"# SQLAlchemy: {declared}, then the increment and the read:\n"
        "import secrets\n\nfrom sqlalchemy import func, select\n"
        "from sqlalchemy.dialects.postgresql import insert\n\n"
        f"stmt = insert({shard}).values({keyword_args}shard=secrets.randbelow({SHARDS}), "
        f"{c}={signed})\n"
        "session.execute(stmt.on_conflict_do_update(\n"
        f"    index_elements=[{index}{', ' if index else ''}\"shard\"],\n"
        f"    set_={{{json.dumps(c)}: {col(c)} + stmt.excluded.{c}}}))\n"
        "# the counter row's value plus its shards':\n"
        f"total = session.scalar(select(func.coalesce(func.sum({main_col(c)}), 0)){main_where}) + \\\n"
        f"    session.scalar(select(func.coalesce(func.sum({col(c)}), 0)){where})")
    return python


def _sharded_counter(ctx: FileContext, table: str, column: str,
                     keys: list[tuple[str, dict]], target: dict) -> str:
    specs = []
    for k, value in keys:
        literal = n.constant(value)[1]
        guess = "bigint" if isinstance(literal, int) and not isinstance(literal, bool) else "text"
        specs.append((k, n.sql_literal(value), guess))
    delta_node = target.get("val", {}).get("A_Expr", {})
    sign = "-" if n.operator(delta_node) == "-" else ""
    other = delta_node.get("rexpr") if n.column_ref(delta_node.get("lexpr")) == column \
        else delta_node.get("lexpr")
    return sharded_counter_sql(ctx, table, column, specs, sign + n.sql_literal(other))


def sharded_counter_sql(ctx: FileContext, table: str, column: str,
                                            keys: list[tuple[str, ...]], delta: str) -> str:
    """The sharded counter for `table.column`: DDL, increment, read, atomic fold. `keys` are
    (key column, its value as SQL, the type to use when the catalog does not know the column,
    and optionally the shard table's name for the column); no keys means one counter for the
    whole table."""
    bare = ctx.model.bare(table)
    shards = f"{bare}_shards"
    known = ctx.model.catalog.table(table)
    source_cols = [spec[0] for spec in keys]
    key_cols = [spec[3] if len(spec) > 3 else spec[0] for spec in keys]
    col_defs = []
    for spec, k in zip(keys, key_cols, strict=True):
        source, guessed = spec[0], spec[2]
        guess = ""
        if known and source in known.columns:
            typ = known.columns[source].type
        else:  # not in the catalog: guess from the value, and say it is a guess
            typ = guessed
            guess = f"  -- use the type of {bare}.{source}"
        typ = {"serial": "int4", "bigserial": "int8", "smallserial": "int2"}.get(typ, typ)
        col_defs.append(f"    {n.quote_ident(k)} {typ} NOT NULL,{guess}")
    c = n.quote_ident(column)
    lead = "".join(f"{n.quote_ident(k)}, " for k in key_cols)
    values = "".join(f"{spec[1]}, " for spec in keys)
    keys_sql = ", ".join(n.quote_ident(k) for k in key_cols)
    match = " AND ".join(f"{n.quote_ident(k)} = {spec[1]}"
                         for k, spec in zip(key_cols, keys, strict=True))
    source_match = " AND ".join(f"{n.quote_ident(s)} = {spec[1]}"
                                for s, spec in zip(source_cols, keys, strict=True))
    if keys:
        join = " AND ".join(f"t.{n.quote_ident(s)} = m.{n.quote_ident(k)}"
                            for s, k in zip(source_cols, key_cols, strict=True))
        owned = " AND ".join(f"t.{n.quote_ident(s)} = s.{n.quote_ident(k)}"
                             for s, k in zip(source_cols, key_cols, strict=True))
        # Only shards whose counter row exists move: the others stay and are still read.
        fold = (f"WITH moved AS (DELETE FROM {shards} s USING {bare} t WHERE {owned}\n"
                f"               RETURNING {', '.join('s.' + n.quote_ident(k) for k in key_cols)}, s.{c}),\n"
                f"     m AS (SELECT {keys_sql}, sum({c}) AS delta FROM moved GROUP BY {keys_sql})\n"
                f"UPDATE {bare} t SET {c} = t.{c} + m.delta FROM m WHERE {join};")
    else:
        fold = (f"WITH moved AS (DELETE FROM {shards} RETURNING {c}),\n"
                f"     m AS (SELECT sum({c}) AS delta FROM moved)\n"
                f"UPDATE {bare} t SET {c} = t.{c} + m.delta FROM m WHERE m.delta IS NOT NULL;")
    return (
        f"-- {SHARDS} rows per counter instead of one; writers pick a shard at random.\n"
        f"CREATE TABLE {shards} (\n" + "".join(d + "\n" for d in col_defs) +
        f"    shard smallint NOT NULL,\n"
        f"    {c} bigint NOT NULL DEFAULT 0,\n"
        f"    PRIMARY KEY ({lead}shard)\n);\n\n"
        f"-- The increment:\n"
        f"INSERT INTO {shards} ({lead}shard, {c})\n"
        f"VALUES ({values}floor(random() * {SHARDS})::int, {delta})\n"
        f"ON CONFLICT ({lead}shard) DO UPDATE SET {c} = {shards}.{c} + EXCLUDED.{c};\n\n"
        f"-- The read: the counter row's value plus its shards'.\n"
        f"SELECT coalesce((SELECT sum({c}) FROM {bare}" + (f" WHERE {source_match}" if keys else "")
        + f"), 0)\n     + coalesce((SELECT sum({c}) FROM {shards}"
        + (f" WHERE {match}" if match else "") + "), 0);\n\n"
        f"-- Optional fold into {bare}, moving rows atomically (no increment lost):\n"
        + fold
    )
