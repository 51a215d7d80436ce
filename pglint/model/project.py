"""The project model: catalog + workload + user hints, and the evidence rules ask for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from pglint.config import Settings, TableHint
from pglint.model.catalog import Catalog
from pglint.model.location import Location
from pglint.model.uses import Use
from pglint.model.workload import Workload, Write

# Tables that exist to append rows: logs, events, audit trails, metrics.
APPEND_ONLY_NAME = re.compile(
    r"(?:^|_)(?:events?|event_log|logs?|audit|audits|audit_log|metrics?|measurements?|telemetry"
    r"|clicks?|page_?views?|pageviews|history|activity|activities|traces?|spans?|ledger)(?:$|_)"
)
# Tables that exist to be counted into.
COUNTER_NAME = re.compile(
    r"(?:^|_)(?:counters?|counts?|stats|statistics|totals?|tally|tallies|stock|stocks"
    r"|inventory|inventories|quotas?|rate_limits?|sequences?_table)(?:$|_)"
)
# Rows that are already one of several shards or slots (the chapter's mitigations).
SHARDED_NAME = re.compile(r"(?:^|_)(?:shards?|slots?|buckets?|partials?)(?:$|_)")
# Tables that hold work for workers: job queues, outboxes, retry queues.
QUEUE_NAME = re.compile(r"(?:^|_)(?:queues?|jobs?|tasks?|outbox(?:es)?|messages?|retries)(?:$|_)")
# Columns through which workers find, claim and schedule rows.
QUEUE_COLUMNS = ("next_attempt_at", "locked_by", "status")
# Worker-lease columns: a table with one is a queue even without a queue-like name. A `status`
# column alone is not enough for some judgements: every orders table has one, and inserting
# orders is no enqueue.
LEASE_COLUMNS = ("next_attempt_at", "locked_by")


@dataclass(frozen=True)
class Evidence:
    """Why the model believes something, in words, with where it saw it."""

    reason: str
    locations: tuple[Location, ...] = ()

    def __str__(self) -> str:
        if not self.locations:
            return self.reason
        shown = ", ".join(str(loc) for loc in self.locations[:3])
        more = f" and {len(self.locations) - 3} more" if len(self.locations) > 3 else ""
        return f"{self.reason} ({shown}{more})"

    def named(self) -> str:
        """For one-line messages: why, and the first place it was seen."""
        return f"{self.reason}, {self.brief()}" if self.locations else self.reason

    def brief(self) -> str:
        """For one-line messages: the first location and how many more, or the reason if none."""
        if not self.locations:
            return self.reason
        more = f" and {len(self.locations) - 1} more" if len(self.locations) > 1 else ""
        return f"{self.locations[0]}{more}"


@dataclass
class ProjectModel:
    catalog: Catalog = field(default_factory=Catalog)
    workload: Workload = field(default_factory=Workload)
    hints: dict[str, TableHint] = field(default_factory=dict)
    orm_tables: dict[str, str] = field(default_factory=dict)  # ORM class -> table (Python)
    # Project paths of the migrations that are new, when some migration is known to have run
    # (pglint.history); None when nothing is known to have run. A table a new migration
    # creates has no production rows or readers yet.
    new_migration_paths: frozenset[str] | None = None
    # (table, column or None for the table itself) -> where the application's SQL names it
    # (pglint.model.uses).
    uses: dict[tuple[str, str | None], list[Use]] = field(default_factory=dict)
    # Settings the project's Alembic env.py SETs on the connection of every revision.
    runner_settings: dict[str, str] = field(default_factory=dict)
    # The env.py sends SQL on that connection before Alembic begins its transaction
    # (pglint.facts.FileFacts.runner_sql_first).
    runner_sql_first: bool = False
    # That env.py runs the revisions outside a transaction (pglint.facts.FileFacts).
    runner_autocommit: bool = False
    # Some file shows the project running on another database too (SQLite, MySQL): SQL that
    # only PostgreSQL knows must be asked for PostgreSQL only (pglint.facts.FileFacts).
    other_backends: bool = False
    # Some file shows the migrations themselves running there too: `CONCURRENTLY`, `SET LOCAL`
    # in a migration must be asked for PostgreSQL only (pglint.facts.FileFacts).
    migrations_elsewhere: bool = False
    # Where the project's migrations first show they run against a live database ("path:line
    # (CREATE INDEX CONCURRENTLY)", pglint.model.online), or "" when none does.
    online_change: str = ""
    # Tables some migration of the project indexes concurrently -> each migration that does,
    # in replay order: (its project path, "path:line" of its first such statement)
    # (pglint.model.online.online_index_table).
    online_tables: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # Each migration's place in the replay order, by its path from the project's root.
    migration_rank: dict[str, int] = field(default_factory=dict)

    def created_by_new_migration(self, table: str) -> bool:
        """Whether a migration that has not run yet creates `table` (its lock blocks nobody)."""
        return table.lower() in self.tables_of_new_migrations()

    def tables_of_new_migrations(self) -> frozenset[str]:
        """The tables that migrations not yet run create, under every name they have had:
        a later migration of the same change may drop or rename them (memoized: the model does
        not change once built, and every migration file asks)."""
        def compute() -> frozenset[str]:
            paths, catalog = self.new_migration_paths, self.catalog
            named = (*catalog.tables.items(), *catalog.dropped_tables.items(),
                     *catalog.former_tables.items())
            return frozenset() if paths is None else frozenset(
                name for name, table in named if table.path in paths)

        return self.memo("_new_tables_memo", compute)

    def indexes_on_new_tables(self) -> frozenset[str]:
        """The indexes (those the catalog holds, and those a DROP INDEX removed) of the tables
        that migrations not yet run create (memoized: PGL301 asks once per migration file)."""
        def compute() -> frozenset[str]:
            new, catalog = self.tables_of_new_migrations(), self.catalog
            return frozenset(name for name, index in (*catalog.indexes.items(),
                                                      *catalog.dropped_indexes.items())
                             if index.table in new)

        return self.memo("_new_indexes_memo", compute)

    def sees_run_time_code(self) -> bool:
        """Whether the project shows any code that uses the database at run time: application
        SQL, SQL in application code, ORM models, function bodies that write, or table hints."""
        return bool(self.tables_in_use())

    def tables_in_use(self) -> frozenset[str]:
        """The tables that run-time code names (reads or writes), that an ORM model maps, or
        that `[tool.pglint.tables]` describes (memoized, like tables_of_new_migrations)."""
        return self.memo("_in_use_memo", lambda: frozenset({
            *(t for t, writes in self.workload.writes.items() if writes),
            *(table for table, _column in self.uses), *self.orm_tables.values(), *self.hints}))

    def memo(self, key: str, compute: Callable[[], frozenset[Any]]) -> frozenset[Any]:
        """`compute()` once per model, kept under `key`: the model does not change once built,
        and every file of the project asks the same question of it (so does the rule kit:
        pglint.kit.changes)."""
        cached = self.__dict__.get(key)
        if cached is None:
            cached = self.__dict__[key] = compute()
        return cached

    def orm_table(self, name: str) -> str | None:
        """The table an ORM model class (or SQLAlchemy Table variable) maps to, or None."""
        return self.orm_tables.get(name)

    @classmethod
    def empty(cls, settings: Settings | None = None) -> "ProjectModel":
        return cls(hints=dict(settings.tables) if settings else {})

    def hint(self, table: str) -> TableHint:
        """The hint for `table` (lower-case). A bare name: `public.<name>` first (the table
        the default search_path finds; the tables file keys every table with its schema),
        then the bare key. A qualified name: its own key, then a hint written for the bare
        name, which holds whatever the schema."""
        schema, _, bare = table.rpartition(".")
        if not schema:
            return self.hints.get(f"public.{bare}") or self.hints.get(bare) or TableHint()
        return self.hints.get(table) or self.hints.get(bare) or TableHint()

    @staticmethod
    def bare(table: str) -> str:
        return table.split(".")[-1].lower()

    def is_counter_table(self, table: str) -> bool:
        return "counter" in self.hint(table).workloads or bool(COUNTER_NAME.search(self.bare(table)))

    def is_sharded_table(self, table: str) -> bool:
        return bool(SHARDED_NAME.search(self.bare(table)))

    def insert_heavy(self, table: str) -> Evidence | None:
        """Evidence that many sessions insert into `table` at once, or None (memoized: several
        rules ask for every table, and the model does not change once built)."""
        cache = self.__dict__.setdefault("_insert_heavy_memo", {})
        if table not in cache:
            cache[table] = self._insert_heavy(table)
        return cache[table]

    def _insert_heavy(self, table: str) -> Evidence | None:
        hint = self.hint(table)
        inserts = tuple(w.location for w in self.workload.of(table, "insert"))
        if hint.workloads & {"insert-heavy", "append-only"}:
            return Evidence("declared insert-heavy in [tool.pglint.tables]", inserts)
        # Neither a log-like name nor run-time inserts say how many sessions insert at once:
        # judged on real code, event and click tables written a few times a second never
        # contend. Only the project (or, later, the live database's statistics) can say so.
        return None

    def append_mostly(self, table: str) -> bool:
        """Rows are inserted and rarely changed: no application updates or deletes seen."""
        if "update-heavy" in self.hint(table).workloads:
            return False
        return not self.workload.of(table, "update") and not self.workload.of(table, "delete")

    def hot_updates(self, table: str) -> tuple[set[str], Evidence] | None:
        """Columns that are updated over and over, with the evidence, or None.

        Frequent means: declared update-heavy (or a counter), or application updates that do
        nothing but increment a column (counters) or stamp it with now() (heartbeats, last-seen
        touches). An edit that also stamps `updated_at` is no evidence: admin and API edits do
        that, and neither is a sessions- or counter-like name.
        """
        hint = self.hint(table)
        updates = self.workload.of(table, "update")
        locations = tuple(w.location for w in updates)
        if "update-heavy" in hint.workloads or "counter" in hint.workloads:
            columns = set(hint.updated_columns) or _all_columns(updates)
            return columns, Evidence("declared update-heavy in [tool.pglint.tables]", locations)
        repeated = [w for w in updates if _repeats(w)]
        if repeated:
            columns = _all_columns(repeated)
            return columns, Evidence("the application updates it repeatedly",
                                     tuple(w.location for w in repeated))
        return None

    def frequent_updates(self, table: str) -> tuple[set[str], list[Write], Evidence] | None:
        """The frequently updated columns of `table`, the updates that set them, and the evidence.

        None without evidence (see `hot_updates`). On a table declared update-heavy (narrowed to
        its declared `updated-columns`, if any) or named like sessions/leases/counters, every
        application update counts; otherwise those that increment a column or stamp it with now().
        """
        hot = self.hot_updates(table)
        if hot is None:
            return None
        columns, evidence = hot
        hint = self.hint(table)
        updates = self.workload.of(table, "update")
        if hint.workloads & {"update-heavy", "counter"}:
            writes = [w for w in updates if not hint.updated_columns or w.columns & columns]
        else:
            writes = [w for w in updates if _repeats(w)]
        return columns, writes, evidence

    def hot_blocking_columns(self, table: str, target_version: int) -> dict[str, set[str]]:
        """Index name -> the columns it reads, for each index on `table` that stops HOT updates.

        PostgreSQL counts every column an index references (keys, expressions, INCLUDE columns,
        the predicate of a partial index); only summarizing (BRIN) indexes are exempt, from 16.
        """
        return {index.name: index_columns(index) for index in self.catalog.indexes_on(table)
                if not (index.method == "brin" and target_version >= 16)}

    def queue_evidence(self, table: str, columns: tuple[str, ...] = QUEUE_COLUMNS,
                       polled: bool = False, by_name: bool = True) -> Evidence | None:
        """Evidence that `table` is a work queue that workers poll, or None.

        A `[tool.pglint.tables]` hint "queue"; a queue-like name (queue, jobs, tasks, outbox,
        messages, retries) on a table that run-time code consumes (updates or deletes rows of),
        or that the statement asking polls (`polled`: it locks rows to claim them); or one of
        `columns` in the catalog (a worker-state column). `by_name=False` leaves out the
        queue-like name: a rule for which a job-queue product's own tables must not count.
        """
        bare = self.bare(table)
        if "queue" in self.hint(table).workloads:
            return Evidence("declared a queue in [tool.pglint.tables]")
        if by_name and QUEUE_NAME.search(bare):
            # A name alone is no queue (a broadcast `messages` log is not polled): run-time
            # code must also take rows out or mark them done.
            if polled:
                return Evidence(f"`{bare}` is named like a queue, and this polls it")
            consumed = self.workload.of(table, "update") or self.workload.of(table, "delete")
            if consumed:
                return Evidence(f"`{bare}` is named like a queue and the application "
                                "updates or deletes its rows",
                                tuple(w.location for w in consumed[:3]))
        known = self.catalog.table(table)
        for name in columns if known is not None else ():
            column = known.columns.get(name)
            if column is not None:
                return Evidence(f"worker-state column `{bare}.{name}`",
                                (column.location,) if column.location else ())
        return None


def _repeats(write: Write) -> bool:
    """An update that runs over and over by its shape: it only counts (`n = n + 1`) or stamps
    now() (a heartbeat, a last-seen touch). An update that also sets other columns is an edit
    or a state change (`updated_at = now()` of an API edit, `attempts + 1` of a job's retry),
    whose rate its shape does not tell."""
    counted = write.increments | write.timestamps
    return bool(counted) and write.columns <= counted


def _all_columns(writes: list[Write]) -> set[str]:
    out: set[str] = set()
    for w in writes:
        out |= w.columns
    return out


def index_columns(index) -> set[str]:
    """Every column a catalog Index reads (keys, expressions, INCLUDE columns, predicate)."""
    return {c for c in index.columns if c} | set(index.reads)
