"""A schema catalog built by replaying DDL in migration order.

Only what rules need is kept: tables with columns, defaults, keys and storage options; indexes
with method and columns; sequences with their cache. Each object remembers where it was defined
(`origin`, the defining statement's key, and a Location) so that a rule can report on the
defining statement and fix it. The catalog holds no parse trees: it is small, and it can be sent
to worker processes.

The statements are read into operations in `pglint.model.ddl`; `pglint.model.catalog_codec`
sends operations between processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pglint.model.location import Location
from pglint.sql import nodes as n
from pglint.sql.parse import Statement


@dataclass
class Column:
    name: str
    type: str  # lowercase type name as written: bigserial, int8, timestamptz, uuid
    default: str = ""  # "serial" | "identity" | "nextval" | "time" | "other" | ""
    not_null: bool = False
    location: Location | None = None
    default_sql: str = ""  # the default as SQL, when it is a simple value ('new', 0, now)
    # The type with its modifiers (pglint.sql.nodes.type_spelling): varchar(20), numeric(10,2).
    type_sql: str = ""
    # Every `ALTER COLUMN ... TYPE` replayed, in migration order: (the type before it, the
    # project path of its file, its offset there). The catalog is the final state; a rule
    # judging one of those statements needs the type the column had when it runs.
    type_changes: tuple[tuple[str, str, int], ...] = ()

    @property
    def grows(self) -> bool:
        """Values only ever increase: sequence-backed or time-stamped on insert."""
        return self.default in ("serial", "identity", "nextval", "time")


@dataclass
class Index:
    name: str
    table: str
    columns: list[str | None]  # None for an expression
    method: str = "btree"
    unique: bool = False
    primary: bool = False
    partial: bool = False
    location: Location | None = None
    constraint: bool = False  # created by a PRIMARY KEY / UNIQUE constraint
    # Every column the index reads: keys, expressions, INCLUDE columns, a partial index's
    # predicate. An UPDATE of any of them cannot be HOT.
    reads: frozenset[str] = frozenset()
    origin: str = ""  # Statement.origin of the defining statement
    predicate: dict[str, Any] | None = None  # a partial index's WHERE (pglast JSON tree)


@dataclass
class Sequence:
    name: str
    cache: int = 1
    owned_by: tuple[str, str] | None = None  # (table, column)
    location: Location | None = None
    origin: str = ""  # Statement.origin of the defining statement


@dataclass(frozen=True)
class Trigger:
    """`CREATE TRIGGER name ... ON table FOR EACH ROW EXECUTE FUNCTION function()`."""

    name: str
    table: str
    function: str  # the function's key (pglint.sql.nodes.function_key)
    events: tuple[str, ...]  # "insert", "update", "delete", "truncate"
    row: bool  # FOR EACH ROW (else once per statement)
    origin: str = ""


@dataclass
class ForeignKey:
    table: str  # the referencing table
    columns: list[str]
    ref_table: str
    ref_columns: list[str]  # empty: the referenced table's primary key


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    partitioned: bool = False
    location: Location | None = None
    path: str = ""  # the file of the CREATE TABLE
    origin: str = ""  # Statement.origin of the CREATE TABLE

    @property
    def fillfactor(self) -> int | None:
        value = self.options.get("fillfactor")
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


class Catalog:
    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.indexes: dict[str, Index] = {}
        self.sequences: dict[str, Sequence] = {}
        self.foreign_keys: list[ForeignKey] = []
        # Indexes that a `DROP INDEX` removed, by name (the last one dropped under each name):
        # the catalog is the final state, so a migration that drops an index finds it here.
        self.dropped_indexes: dict[str, Index] = {}
        # What DROP TABLE and DROP COLUMN removed, as it was (a rule asks what a drop removed).
        self.dropped_tables: dict[str, Table] = {}
        self.dropped_columns: dict[tuple[str, str], Column] = {}
        # Each name a RENAME moved a table away from -> that table (under its final name).
        self.former_tables: dict[str, Table] = {}
        # (table, column) -> the migration files where a valid constraint proved the column NOT
        # NULL (`CHECK (col IS NOT NULL)`, 18's `NOT NULL col`): PostgreSQL 12+ then sets NOT
        # NULL without a scan. Kept when the constraint is dropped later, since the usual recipe
        # drops it right after SET NOT NULL and the catalog is the final state.
        self.not_null_proofs: dict[tuple[str, str], set[str]] = {}
        self._not_null_constraints: dict[tuple[str, str], list[str]] = {}  # not yet valid
        # (table, column) -> the migration files where `ALTER COLUMN ... SET NOT NULL` sets it.
        # Kept apart from Column.not_null, which says what a CREATE TABLE or ADD COLUMN made:
        # a rule judging the SET NOT NULL asks what the column was before it.
        self.not_null_set: dict[tuple[str, str], set[str]] = {}
        self.enums: dict[str, list[str]] = {}  # enum type name -> labels, in order
        # Server-side defaults set with ALTER ROLE / ALTER DATABASE ... SET name = value
        # (the last one seen wins): name -> value as written ('30s', '0').
        self.role_settings: dict[str, str] = {}
        # Function key (pglint.sql.nodes.function_key) -> Statement.origin of its definition
        # in force; "" once dropped. A body replaced by CREATE OR REPLACE or dropped by a later
        # migration no longer runs: what it did is not workload, and not a finding.
        self.functions: dict[str, str] = {}
        # (table, trigger name) -> the trigger: which function it runs, on which writes.
        self.triggers: dict[tuple[str, str], Trigger] = {}
        self._lookups: _Lookups | None = None

    # -- queries -----------------------------------------------------------------------------
    # Rules ask these for every statement of every file, so they must not scan the catalog:
    # they read lookup tables built once, after replay.

    @property
    def lookups(self) -> "_Lookups":
        if self._lookups is None:
            self._lookups = _Lookups(self)
        return self._lookups

    def table(self, name: str | None) -> Table | None:
        # A quoted name keeps its case ("Orders"); an unquoted one is folded to lower case.
        return (self.tables.get(name) or self.tables.get(name.lower())) if name else None

    def table_or_former(self, name: str | None) -> Table | None:
        """The table `name` names, under its final name or a name a later RENAME moved it
        from (an old migration names it as it was)."""
        return self.table(name) or (self.former_tables.get(name) if name else None)

    def indexes_on(self, table: str) -> list[Index]:
        return self.lookups.indexes_by_table.get(table, [])

    def defined_by(self, stmt: Statement) -> list[Table | Index | Sequence]:
        """The catalog objects (in the final state) whose defining statement is `stmt`."""
        return self.lookups.by_statement.get(stmt.origin, []) if stmt.origin else []

    def references_to(self, table: str) -> list[ForeignKey]:
        """Foreign keys that reference `table`."""
        return self.lookups.references.get(table, [])

    def key_columns(self, table: str) -> list[set[str]]:
        """Column sets of the table's primary key and unique indexes/constraints."""
        return [set(c for c in i.columns if c) for i in self.indexes_on(table)
                if (i.unique or i.primary) and not i.partial and i.columns and all(i.columns)]

    # -- replay ------------------------------------------------------------------------------
    # Replay is split in two: `catalog_ops` reads one statement's tree into small operations
    # that need no catalog state (so worker processes can do it next to the parse), and
    # `apply_ops` applies them in migration order.

    def apply_ops(self, ops: list[tuple]) -> None:
        if ops:
            self._lookups = None
        for op in ops:
            getattr(self, "_op_" + op[0])(*op[1:])

    def unvalidated_not_null_check(self, table: str, column: str) -> str | None:
        """The name of a `CHECK (column IS NOT NULL) NOT VALID` on `table` that nothing has
        validated yet, or None."""
        return next((name for (owner, name), columns in self._not_null_constraints.items()
                     if owner == table and column in columns), None)

    def runs_this_definition(self, stmt: Statement) -> bool:
        """Whether the CREATE FUNCTION / PROCEDURE `stmt` is the definition in force at the end
        of replay (True for one the catalog never saw: application SQL is not replayed)."""
        current = self.functions.get(n.defined_function_key(stmt.body))
        return current is None or current == stmt.origin

    def body_runs(self, key: str, origin: str) -> bool:
        """runs_this_definition for a definition known by its key and origin."""
        current = self.functions.get(key)
        return current is None or current == origin

    def triggers_running(self, function: str) -> list[Trigger]:
        """The triggers that run the function of this key."""
        return [t for t in self.triggers.values() if t.function == function]

    def _op_define_trigger(self, name: str, table: str, function: str, events: tuple,
                           row: bool, origin: str) -> None:
        self.triggers[(table, name)] = Trigger(name, table, function, tuple(events), row, origin)

    def _op_drop_trigger(self, table: str, name: str) -> None:
        self.triggers.pop((table, name), None)

    def _op_define_function(self, key: str, origin: str) -> None:
        self.functions[key] = origin

    def _op_drop_function(self, keys: list[str]) -> None:
        for key in keys:
            if key.endswith("/*"):
                prefix = key[:-1]
                for known in [k for k in self.functions if k.startswith(prefix)]:
                    self.functions[known] = ""
            else:
                self.functions[key] = ""

    def sequence_users(self, sequence: str) -> set[str]:
        """The tables whose columns take their values from `sequence`."""
        return self.lookups.sequence_users.get(sequence, set())

    def _op_create_table(self, table: Table, parts: list[tuple], if_not_exists: bool) -> None:
        if if_not_exists and table.name in self.tables:
            return
        self.tables[table.name] = table
        for part in parts:
            self._table_part(table, part)

    def _table_part(self, table: Table, part: tuple) -> None:
        kind = part[0]
        if kind == "column":
            column = part[1]
            table.columns[column.name] = column
        elif kind == "sequence":
            self.sequences[part[1].name] = part[1]
        elif kind == "key":
            index: Index = part[1]
            self.indexes[index.name] = index
            if index.primary:
                for col in index.columns:
                    if col in table.columns:
                        table.columns[col].not_null = True
        elif kind == "key_using_index":
            name, used, primary = part[1:]
            index = self.indexes.pop(used, None)
            if index is not None:
                index.name, index.unique, index.primary, index.constraint = \
                    name, True, primary, True
                self._table_part(table, ("key", index))
        elif kind == "foreign_key":
            self.foreign_keys.append(part[1])
        elif kind == "not_null_constraint":
            name, columns, valid, path = part[1:]
            if valid:
                for column in columns:
                    self.not_null_proofs.setdefault((table.name, column), set()).add(path)
            elif name:
                self._not_null_constraints[(table.name, name)] = columns
        elif kind == "validate_constraint":
            name, path = part[1:]
            for column in self._not_null_constraints.pop((table.name, name), ()):
                self.not_null_proofs.setdefault((table.name, column), set()).add(path)

    def _op_alter_table(self, name: str, commands: list[tuple]) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        for command in commands:
            kind, args = command[0], command[1:]
            if kind in ("column", "sequence", "key", "key_using_index", "foreign_key",
                        "not_null_constraint", "validate_constraint"):
                self._table_part(table, command)
            elif kind == "drop_column":
                dropped = table.columns.pop(args[0], None)
                if dropped is not None:
                    self.dropped_columns[(table.name, args[0])] = dropped
                for key, index in list(self.indexes.items()):
                    if index.table == table.name and args[0] in index.columns:
                        del self.indexes[key]
            elif kind == "set_options":
                table.options.update(args[0])
            elif kind == "reset_options":
                for opt in args[0]:
                    table.options.pop(opt, None)
            elif kind == "drop_constraint":
                self.indexes.pop(args[0], None)
            elif kind == "set_not_null":
                self.not_null_set.setdefault((table.name, args[0]), set()).add(args[1])
            elif kind == "column_default":
                column = table.columns.get(args[0])
                if column is not None:
                    column.default, column.default_sql = args[1], args[2]
            elif kind == "add_identity":
                column = table.columns.get(args[0])
                if column is not None:
                    column.default = "identity"
            elif kind == "alter_type":
                column = table.columns.get(args[0])
                if column is not None:
                    # (Python migrations give the type name only: no spelling, no place.)
                    spelled, path, start = args[2:5] if len(args) > 4 else ("", "", -1)
                    column.type_changes += ((column.type_sql, path, start),)
                    column.type, column.type_sql = args[1], spelled

    def _op_create_index(self, index: Index, if_not_exists: bool) -> None:
        if if_not_exists and index.name in self.indexes:
            return
        self.indexes[index.name] = index

    def _op_create_sequence(self, sequence: Sequence, if_not_exists: bool) -> None:
        if if_not_exists and sequence.name in self.sequences:
            return
        self.sequences[sequence.name] = sequence

    def _op_alter_sequence(self, name: str, cache: int | None,
                           owned_by: tuple[str, str] | None = None) -> None:
        seq = self.sequences.get(name)
        if seq is not None and cache is not None:
            seq.cache = cache
        if seq is not None and owned_by is not None:
            seq.owned_by = owned_by

    def _op_drop(self, kind: str, names: list[str]) -> None:
        for name in names:
            if kind == "OBJECT_TABLE":
                dropped = self.tables.pop(name, None)
                if dropped is not None:
                    self.dropped_tables[name] = dropped
                self.foreign_keys = [fk for fk in self.foreign_keys if fk.table != name]
                for key, index in list(self.indexes.items()):
                    if index.table == name:
                        del self.indexes[key]
                for key, seq in list(self.sequences.items()):
                    if seq.owned_by and seq.owned_by[0] == name:
                        del self.sequences[key]
                for key in [k for k in self.triggers if k[0] == name]:
                    del self.triggers[key]
            elif kind == "OBJECT_INDEX":
                index = self.indexes.pop(name, None)
                if index is not None:
                    self.dropped_indexes[name] = index
            elif kind == "OBJECT_SEQUENCE":
                self.sequences.pop(name, None)

    def _op_rename(self, kind: str, old: str, new: str, subname: str | None) -> None:
        if kind == "OBJECT_TABLE" and old in self.tables:
            table = self.tables.pop(old)
            table.name = new
            self.tables[new] = table
            self.former_tables[old] = table
            for index in self.indexes.values():
                if index.table == old:
                    index.table = new
            for seq in self.sequences.values():
                if seq.owned_by and seq.owned_by[0] == old:
                    seq.owned_by = (new, seq.owned_by[1])
            for fk in self.foreign_keys:
                fk.table = new if fk.table == old else fk.table
                fk.ref_table = new if fk.ref_table == old else fk.ref_table
        elif kind == "OBJECT_COLUMN":
            table = self.tables.get(old)
            column = table.columns.pop(subname or "", None) if table else None
            if table is not None and column is not None:
                column.name = new
                table.columns[new] = column
                for index in self.indexes.values():
                    if index.table != table.name:
                        continue
                    index.columns = [new if c == subname else c for c in index.columns]
                    if subname in index.reads:
                        index.reads = (index.reads - {subname}) | {new}
                for seq in self.sequences.values():
                    if seq.owned_by == (table.name, subname):
                        seq.owned_by = (table.name, new)
        elif kind == "OBJECT_INDEX" and old in self.indexes:
            index = self.indexes.pop(old)
            index.name = new
            self.indexes[new] = index
        elif kind == "OBJECT_SEQUENCE" and old in self.sequences:
            seq = self.sequences.pop(old)
            seq.name = new
            self.sequences[new] = seq

    def _op_role_setting(self, name: str, value: str) -> None:
        self.role_settings[name] = value

    def _op_create_enum(self, name: str, labels: list[str]) -> None:
        self.enums[name] = list(labels)

    def _op_alter_enum(self, name: str, new: str | None, neighbor: str | None,
                       after: bool) -> None:
        labels = self.enums.get(name)
        if labels is None or not new or new in labels:
            return  # RENAME VALUE (oldVal) and unknown types are left alone
        if neighbor in labels:
            labels.insert(labels.index(neighbor) + (1 if after else 0), new)
        else:
            labels.append(new)


class _Lookups:
    """Indexes over the catalog's final state, built once after replay."""

    def __init__(self, catalog: Catalog) -> None:
        self.indexes_by_table: dict[str, list[Index]] = {}
        self.by_statement: dict[str, list] = {}
        self.references: dict[str, list[ForeignKey]] = {}
        for index in catalog.indexes.values():
            self.indexes_by_table.setdefault(index.table, []).append(index)
        for obj in (*catalog.tables.values(), *catalog.indexes.values(),
                    *catalog.sequences.values()):
            if obj.origin:
                self.by_statement.setdefault(obj.origin, []).append(obj)
        for fk in catalog.foreign_keys:
            self.references.setdefault(fk.ref_table, []).append(fk)
        # Sequence -> the tables whose columns draw from it (OWNED BY, DEFAULT nextval()).
        self.sequence_users: dict[str, set[str]] = {}
        for seq in catalog.sequences.values():
            if seq.owned_by:
                self.sequence_users.setdefault(seq.name, set()).add(seq.owned_by[0])
        for table in catalog.tables.values():
            for column in table.columns.values():
                if column.default == "nextval" and column.default_sql:
                    self.sequence_users.setdefault(column.default_sql, set()).add(table.name)
