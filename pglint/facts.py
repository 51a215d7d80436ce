"""What each file contributes to the project model (small, tree-free, picklable facts), and
the model built from them: migrations replayed in order, workload from run-time code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

from pglint.config import Settings
from pglint.discover import Candidate
from pglint.loading import LoadedFile
from pglint.model.ddl import ROLE_SETTING_KINDS, catalog_ops
from pglint.model.location import Location
from pglint.model.project import ProjectModel
from pglint.model.uses import Use, decode_use, encode_use, statement_uses
from pglint.model.workload import Write, write_fact
from pglint.roles import ANALYTICS_DIALECTS, APPLICATION, MIGRATION, MIGRATION_CODE_DIRS, \
    OTHER_DIALECT, SCHEMA_DUMP, SCRIPT
from pglint.sql.nodes import defined_function_key
from pglint.sql.session import AUTOCOMMIT_LEVEL

if TYPE_CHECKING:
    from pglint.source import SourceFile


@dataclass
class FileFacts:
    """What one file contributes to the project model: small, tree-free, picklable."""

    ops: list[tuple] = field(default_factory=list)  # catalog operations, in statement order
    writes: list[Write] = field(default_factory=list)  # workload
    # ORM classes (and SQLAlchemy Table variables) this file maps to tables; writes through
    # them name the class ("orm:<Class>") until the model resolves it with every file's map.
    orm_tables: dict[str, str] = field(default_factory=dict)
    # An Alembic revision: (revision, down revisions). Alembic files are named by hash, so
    # their operations are replayed in the order of this chain, not of their paths.
    revision: tuple | None = None
    # Writes made by function bodies: (index in `writes`, function key, defining statement's
    # origin). They count only while that definition is the one in force after replay.
    body_writes: list[tuple] = field(default_factory=list)
    # The tables and columns the application's SQL names and its models map
    # (pglint.model.uses).
    uses: list[Use] = field(default_factory=list)
    # Settings an Alembic env.py SETs on the connection every revision runs on
    # (`SET lock_timeout = 4000`): name -> value.
    runner_settings: dict[str, str] = field(default_factory=dict)
    # That env.py sends SQL on the connection before Alembic begins its transaction: SQLAlchemy
    # opens one for it, which Alembic's autocommit_block() cannot leave.
    runner_sql_first: bool = False
    # That env.py runs the revisions outside a transaction (an AUTOCOMMIT isolation level,
    # `transactional_ddl=False`): `CONCURRENTLY` works anywhere in them.
    runner_autocommit: bool = False
    # The file's role once read (pglint.roles): a pg_dump file is known by its text.
    role: str = ""
    # The first statement by which a migration (or the Alembic env.py every revision runs
    # under) shows it runs against a live database, as "path:line (CREATE INDEX
    # CONCURRENTLY)" (pglint.model.online); "" if none.
    online_change: str = ""
    # The tables this migration builds an index on concurrently -> "path:line"
    # (pglint.model.online.online_index_table): the project's own evidence that they are big.
    online_tables: dict[str, str] = field(default_factory=dict)
    # The file's path from its project's root (a migration's place in the replay order).
    path: str = ""
    # The file shows the project running on another database too: a SQLite or MySQL file, a
    # migration that asks which database it runs on, a settings or URL naming another backend.
    other_backends: bool = False
    # The file shows the migrations themselves running on another database: a SQLite or MySQL
    # file, or migration code (Alembic's env.py, a migration) naming another backend. A URL in
    # the application's settings is not (Skyvern's SQLite mode builds its schema without
    # Alembic, judged round 16).
    migrations_elsewhere: bool = False


_OTHER_BACKEND_URL = re.compile(r"[\"'](?:sqlite|mysql|mariadb)(?:\+\w+)?://")


def _names_other_backend(text: str) -> bool:
    """Whether Python code shows its project on another database: a test of the dialect or
    vendor, Django's SQLite/MySQL/Oracle engine, a SQLite or MySQL URL. (Substring tests
    first: a regular expression over every file of a large application costs seconds.)"""
    if "dialect.name" in text or "connection.vendor" in text:
        return True
    if "django.db.backends." in text and any(
            f"django.db.backends.{engine}" in text for engine in ("sqlite3", "mysql", "oracle")):
        return True
    return ("sqlite" in text or "mysql" in text or "mariadb" in text) and \
        _OTHER_BACKEND_URL.search(text) is not None


def _read_backends(facts: FileFacts, file: "SourceFile", python: bool) -> None:
    """Whether the file shows the project, or its migrations, on another database: SQL of a
    database the migrations may also run on, not a Python module named after one
    (`system_profile_mssql.py`) nor an analytics store's own files (ClickHouse); Python that
    names another backend, which says so of the migrations only in migration code."""
    other_sql = file.role == OTHER_DIALECT and not python and \
        not ANALYTICS_DIALECTS.search(f"{file.project_path} {file.role_reason}")
    names_other = python and _names_other_backend(file.text)
    facts.other_backends = other_sql or names_other
    facts.migrations_elsewhere = other_sql or names_other and (
        file.kind == "migration" or
        not MIGRATION_CODE_DIRS.isdisjoint(file.project_path.lower().split("/")[:-1]))


def file_facts(loaded: LoadedFile) -> FileFacts:
    """Catalog operations of a replayed migration; writes of application SQL (DO blocks in it
    included) and of function bodies (which run whenever they are called, even when a migration
    defines them; a DO block in a migration runs once)."""
    facts = FileFacts()
    file = loaded.file
    if file is not None:
        facts.role = file.role
        facts.path = file.project_path
        _read_backends(facts, file, loaded.candidate.kind == "python")
    if file is None or loaded.parsed is None:
        return facts

    def where(start: int, end: int) -> Location:
        return Location.in_file(file, start, end)

    # Evidence comes from run-time code only: tests, seeds, one-off scripts, load tests and
    # down migrations never count (pglint.roles).
    run_time = file.role == APPLICATION
    if file.kind == "migration" and loaded.candidate.kind != "python":
        if file.role in (MIGRATION, SCHEMA_DUMP):
            for stmt in loaded.parsed.statements:
                facts.ops.extend(catalog_ops(stmt, where))
    elif file.kind in ("sql", "python") and file.role in (APPLICATION, SCRIPT):
        # (a Python migration's kind is "migration": its statements are replayed below)
        for stmt in loaded.parsed.statements:
            if run_time:
                facts.uses.extend(statement_uses(stmt.node, stmt.start, stmt.end, where))
            write = write_fact(stmt.kind, stmt.body, where(stmt.start, stmt.end)) \
                if run_time else None
            if write is not None:
                facts.writes.append(write)
            elif stmt.kind in ROLE_SETTING_KINDS:
                facts.ops.extend(catalog_ops(stmt, where))
    if file.role in (MIGRATION, SCHEMA_DUMP, APPLICATION):
        for stmt in loaded.body_statements:
            # Same judgement as runs_repeatedly(): function bodies, DO blocks in app SQL.
            parent = stmt.parent
            if parent is not None and (parent.kind == "CreateFunctionStmt"
                                       or (run_time and file.kind in ("sql", "python"))):
                write = write_fact(stmt.kind, stmt.body, where(stmt.start, stmt.end))
                if write is not None:
                    if parent.kind == "CreateFunctionStmt":
                        facts.body_writes.append((len(facts.writes),
                                                  defined_function_key(parent.body),
                                                  parent.origin))
                    facts.writes.append(write)
    runner = file.path.name == "env.py" and "alembic" in file.text and \
        "run_migrations" in file.text
    if runner:
        _read_runner(facts, file.text, loaded.parsed.statements)
    if file.role == MIGRATION or runner:
        facts.online_change = _online_change(file, loaded.parsed.statements)
    if file.role == MIGRATION and not file.skipped_by_runner:  # no precedent to copy
        facts.online_tables = _online_tables(file, loaded.parsed.statements)
    if loaded.python_file is not None and loaded.python_orm:
        from pglint.python.orm import orm_facts

        # Read only where the ORM reader wanted the file (a tree parsed for a rule or for SQL
        # strings is not evidence of models: rich's `Table("Exchange Rates")` is no table).
        # What application models map is a use, as a query naming it is (pglint.model.uses).
        orm = orm_facts(loaded.python_file, loaded.candidate.path, where,
                        uses=run_time and file.kind != "migration")
        facts.orm_tables = orm.tables
        if run_time and file.kind != "migration":
            facts.writes.extend(orm.writes)
            facts.uses.extend(orm.uses)
    if file.kind == "migration" and loaded.python_file is not None:
        # Alembic and Django migrations feed the catalog (their SQL strings included); what
        # they write runs once: no workload.
        from pglint.python.schema import schema_ops

        facts.ops.extend(schema_ops(loaded.python_file, where, loaded.parsed.statements,
                                    loaded.candidate.path))
    if file.kind == "migration" and loaded.candidate.kind == "python":
        from pglint.python.schema import alembic_revision

        # Read on the text: a merge revision has no tree, and is a link of the chain all the same.
        facts.revision = alembic_revision(file.text)
    return facts


def _online_change(file: "SourceFile", statements: list) -> str:
    """The first statement showing the file migrates a live database, as "path:line (what)"."""
    from pglint.model.online import online_change

    for stmt in statements:
        what = online_change(stmt.kind, stmt.body)
        if what:
            return f"{file.display_path}:{file.position(stmt.start)[0]} ({what})"
    return ""


def _online_tables(file: "SourceFile", statements: list) -> dict[str, str]:
    """The tables the file's statements build an index on concurrently, each with the first
    such statement as "path:line"."""
    from pglint.model.online import online_index_table

    out: dict[str, str] = {}
    for stmt in statements:
        table = online_index_table(stmt.kind, stmt.body)
        if table is not None and table.lower() not in out:
            out[table.lower()] = f"{file.display_path}:{file.position(stmt.start)[0]}"
    return out


_NO_TRANSACTIONAL_DDL = re.compile(r"\btransactional_ddl\s*=\s*False\b")


def _read_runner(facts: FileFacts, text: str, statements: list) -> None:
    """What an Alembic env.py does to the connection every revision runs on."""
    facts.runner_settings = _runner_settings(statements)
    facts.runner_autocommit = bool(AUTOCOMMIT_LEVEL.search(text) or
                                   _NO_TRANSACTIONAL_DDL.search(text))
    facts.runner_sql_first = any(_before_begin(text, s.start)
                                 for s in statements if s.parent is None)


def _before_begin(text: str, offset: int) -> bool:
    """Whether the SQL an env.py sends at `offset` runs before the same function begins
    Alembic's transaction (`context.begin_transaction()` later, with no `def` between)."""
    begin = text.find("begin_transaction(", offset)
    if begin < 0:
        return False
    following = text.find("\ndef ", offset)
    return following < 0 or begin < following


def _runner_settings(statements: list) -> dict[str, str]:
    """The session settings in force after an Alembic env.py's SQL (its `SET`s on the
    connection it hands to every revision)."""
    from pglint.sql.session import session_states

    sets = [s for s in statements if s.kind == "VariableSetStmt" and s.parent is None]
    if not sets:
        return {}
    # The state before a statement is the state after those before it: ask for one more.
    return dict(session_states(sets + sets[-1:])[-1].settings)


def encode_facts(facts: FileFacts) -> tuple:
    """`facts` as plain tuples, lists, dicts, strings and numbers (for another process, or the
    per-file facts cache); decode_facts reverses it. A Location travels as offsets in the
    file the facts are of."""
    from pglint.model.catalog_codec import encode_ops
    from pglint.model.workload import encode_write

    return (encode_ops(facts.ops), [encode_write(w) for w in facts.writes],
            [encode_use(u) for u in facts.uses],
            {k: v for k, v in vars(facts).items() if k not in ("ops", "writes", "uses")})


def decode_facts(data: tuple, source: Callable[[], SourceFile]) -> FileFacts:
    """The facts encode_facts encoded, their Locations in `source()`, the file they are of
    (asked for only when some fact has a location: an unreadable file has no text)."""
    from functools import partial

    from pglint.model.catalog_codec import decode_ops
    from pglint.model.workload import decode_write

    ops, writes, uses, rest = data
    where = partial(Location.in_file, source()) if ops or writes or uses else None
    return FileFacts(decode_ops(ops, where), [decode_write(w, where) for w in writes],
                     uses=[decode_use(u, where) for u in uses], **rest)


def model_from_facts(facts: list[FileFacts], settings: Settings) -> ProjectModel:
    """Replay the files' facts in order (migrations first, in version order)."""
    model = ProjectModel.empty(settings)
    for rank, f in enumerate(_revision_order(facts)):
        if f.role == MIGRATION:
            model.migration_rank[f.path] = rank
        model.catalog.apply_ops(f.ops)
        model.orm_tables.update(f.orm_tables)
        model.runner_settings.update(f.runner_settings)
        model.runner_sql_first = model.runner_sql_first or f.runner_sql_first
        model.runner_autocommit = model.runner_autocommit or f.runner_autocommit
        model.other_backends = model.other_backends or f.other_backends
        model.migrations_elsewhere = model.migrations_elsewhere or f.migrations_elsewhere
        model.online_change = model.online_change or f.online_change
        for table, where in f.online_tables.items():
            model.online_tables.setdefault(table, []).append((f.path, where))
    from pglint.python.orm import resolve

    catalog = model.catalog
    for f in facts:
        writes = f.writes
        if f.body_writes:  # drop what replaced or dropped function bodies did
            gone = {i for i, key, origin in f.body_writes if not catalog.body_runs(key, origin)}
            writes = [w for i, w in enumerate(writes) if i not in gone] if gone else writes
        for write in resolve(writes, model.orm_tables) if model.orm_tables else writes:
            model.workload.add(write)
        for use in f.uses:
            model.uses.setdefault((use.table, use.column), []).append(use)
    return model


def _revision_order(facts: list[FileFacts]) -> list[FileFacts]:
    """The facts in replay order: Alembic revisions follow their down_revision chain (at the
    place of the first of them); everything else keeps its order."""
    revisions = [f for f in facts if f.revision]
    if len(revisions) < 2:
        return facts
    by_id = {f.revision[0]: f for f in revisions}
    ordered: list[FileFacts] = []
    done: set[int] = set()

    def visit(f: FileFacts, seen: frozenset = frozenset()) -> None:
        if id(f) in done or f.revision[0] in seen:  # a cycle: leave it in path order
            return
        for down in f.revision[1]:
            parent = by_id.get(down)
            if parent is not None:
                visit(parent, seen | {f.revision[0]})
        done.add(id(f))
        ordered.append(f)

    for f in revisions:
        visit(f)
    out: list[FileFacts] = []
    for f in facts:
        if f.revision:
            if ordered:
                out.extend(ordered)
                ordered = []
        else:
            out.append(f)
    return out


def build_model(files: list[LoadedFile], settings: Settings) -> ProjectModel:
    """Replay migrations in order into the catalog; collect workload facts from app SQL."""
    return project_model([file_facts(f) for f in files], [f.candidate for f in files],
                         settings)


def project_model(facts: list[FileFacts], candidates: Iterable[Candidate],
                  settings: Settings) -> ProjectModel:
    """The model of a project from its files' facts (in file order) and the files themselves
    (which migrations are new)."""
    model = model_from_facts(facts, settings)
    model.new_migration_paths = new_migration_paths(candidates, facts)
    return model


def new_migration_paths(candidates: Iterable[Candidate], facts: list[FileFacts]
                        ) -> frozenset[str] | None:
    """The project paths of the migrations that have not run (`facts` in the same order as
    `candidates`), when some migration is known to have run; None when none is (then every
    table of another file counts as existing). A schema dump, or any file that is not a
    migration, is not new: a dump shows the tables production has."""
    candidates = list(candidates)
    if not any(c.applied for c in candidates):
        return None
    return frozenset(c.rel for c, f in zip(candidates, facts)
                     if not c.applied and f.role == MIGRATION)
