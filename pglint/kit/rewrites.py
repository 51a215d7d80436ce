"""What the table-rewrite rules (PGL508, PGL509) share: the type a column has when a statement
runs, which type changes PostgreSQL makes
without touching the rows, which added columns make it write every row, and which statements
rewrite an existing table (table_rewrites: PGL508's findings, and one of the long statements
PGL308 asks a statement_timeout for).

Not a rule (no Rule subclass): the rules of `pglint.rules.locks` and `pglint.rules.timeouts`
import it. Every "no rewrite"
answer here was checked on PostgreSQL 18 (`pg_class.relfilenode` unchanged, see
tests/test_lock_rules.py); anything not known to be free is either a rewrite or, when pglint
cannot tell (a user-defined type, an array), nothing at all: the rules stay silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pglint.kit.locks import existing_table, runs_in_migration
from pglint.model.catalog import Table
from pglint.sql import nodes as n
from pglint.sql.parse import iter_nodes

if TYPE_CHECKING:
    from pglint.context import FileContext
    from pglint.sql.parse import Statement

FAST_DEFAULT_SINCE = 11  # ADD COLUMN with a non-volatile default stores it once, no rewrite
VIRTUAL_GENERATED_SINCE = 18  # GENERATED ALWAYS AS (...) VIRTUAL: computed on read

# Functions whose value differs for each row: a default calling one is evaluated for every
# existing row, which PostgreSQL does by rewriting the table (checked: relfilenode changes).
VOLATILE_FUNCTIONS = frozenset({
    "random", "random_normal", "clock_timestamp", "timeofday", "gen_random_uuid", "uuidv4",
    "uuidv7", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "nextval",
    "gen_random_bytes"})

# Built-in types whose conversions pglint judges; any other type (a domain, an enum, an
# extension's type) leaves the verdict unknown.
_KNOWN_TYPES = frozenset({
    "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bpchar", "bool",
    "date", "timestamp", "timestamptz", "time", "timetz", "interval", "uuid", "json", "jsonb",
    "bytea", "inet", "cidr", "varbit", "bit", "money", "macaddr", "macaddr8"})
# Types whose length modifier can grow without a rewrite (a longer limit accepts every value).
_WIDENED_FREELY = frozenset({"varchar", "varbit"})
# (old, new) base types that are binary-coercible: the stored bytes stay as they are.
_BINARY_COERCIBLE = frozenset({("text", "varchar"), ("varchar", "text"), ("cidr", "inet")})
_SPELLED = re.compile(r"^([a-z0-9_]+)(?:\(([0-9,]+)\))?$")


def column_type_before(ctx: "FileContext", stmt: "Statement", table: Table,
                       column: str) -> str | None:
    """The type (pglint.sql.nodes.type_spelling) `table.column` has when `stmt` runs, or None
    when pglint cannot tell. The catalog holds the final state and, for each column, the type
    before each `ALTER COLUMN ... TYPE` it replayed: the one this statement made, or the first
    this file makes after it, gives the type before it."""
    found = table.columns.get(column)
    if found is None:
        return None
    top = stmt.parent if stmt.parent is not None else stmt
    path = ctx.file.project_path
    changes = found.type_changes
    for i, (before, where, start) in enumerate(changes):
        if where == path and start >= top.start:
            return before or None
    mine = [i for i, (_, where, _) in enumerate(changes) if where == path]
    if mine:  # this file changed it earlier on: the type it set then
        after = mine[-1] + 1
        return (changes[after][0] if after < len(changes) else found.type_sql) or None
    # Not placed in the replay (a DO block, a file that is not replayed): only a column that
    # never changed type has an answer.
    return (found.type_sql or None) if not changes else None


def _parts(spelled: str) -> tuple[str, tuple[int, ...]] | None:
    match = _SPELLED.match(spelled)
    if match is None:
        return None
    mods = tuple(int(m) for m in match.group(2).split(",")) if match.group(2) else ()
    return match.group(1), mods


def type_change_rewrites(old: str, new: str) -> bool | None:
    """Whether `ALTER COLUMN ... TYPE` from `old` to `new` (type_spelling forms) rewrites the
    table: False for the changes PostgreSQL makes in the catalog only (varchar and varbit
    limits raised or removed, text and varchar either way, numeric precision raised at the same
    scale or removed, cidr to inet, the same type), True for the others, None when pglint does
    not know the types. timestamp to timestamptz is a rewrite: it is free only when the
    session's TimeZone is UTC, which a migration cannot count on."""
    before, after = _parts(old), _parts(new)
    if before is None or after is None:
        return None
    (old_name, old_mods), (new_name, new_mods) = before, after
    if old_name not in _KNOWN_TYPES or new_name not in _KNOWN_TYPES:
        return None
    if old == new:
        return False
    if old_name == new_name:
        if old_name in _WIDENED_FREELY:
            return bool(new_mods) and (not old_mods or new_mods[0] < old_mods[0])
        if old_name == "numeric":
            if not new_mods:
                return False
            if not old_mods:
                return True
            old_scale = old_mods[1] if len(old_mods) > 1 else 0
            new_scale = new_mods[1] if len(new_mods) > 1 else 0
            return new_scale != old_scale or new_mods[0] < old_mods[0]
        if old_name in ("bpchar", "bit"):
            return True  # fixed length: every value is padded anew
        return None  # other modifiers (time precision, interval fields): not judged
    if (old_name, new_name) in _BINARY_COERCIBLE:
        # A length limit on the new varchar makes PostgreSQL check, and rewrite, every row.
        return bool(new_mods)
    return True


def using_only_casts_column(command: dict[str, Any]) -> bool:
    """True when `ALTER COLUMN c TYPE t` has no USING, or a USING that is the column itself
    (cast or not): PostgreSQL then judges the change by the types alone."""
    using = ((command.get("def") or {}).get("ColumnDef") or {}).get("raw_default")
    while using and "TypeCast" in using:
        using = using["TypeCast"].get("arg")
    return using is None or n.column_ref(using) == command.get("name")


def added_column_rewrites(coldef: dict[str, Any], version: int) -> str | None:
    """Why `ADD COLUMN coldef` rewrites every row on PostgreSQL `version`, or None: a serial or
    identity column (each row draws a value), a default calling a volatile function, a STORED
    generated column, or (before 11) any default that is not NULL."""
    typ = n.type_name(coldef.get("typeName"))
    if typ in n.SERIAL_TYPES:
        return f"a `{typ}` column draws a sequence value for every existing row"
    for item in coldef.get("constraints") or ():
        con = item.get("Constraint") or {}
        contype = con.get("contype")
        if contype == "CONSTR_IDENTITY":
            return "an identity column draws a sequence value for every existing row"
        if contype == "CONSTR_GENERATED" and con.get("generated_kind", "s") == "s":
            return "a STORED generated column is computed and written for every existing row"
        if contype == "CONSTR_DEFAULT":
            volatile = volatile_call(con.get("raw_expr"))
            if volatile:
                return (f"the default calls `{volatile}()`, a volatile function, so each "
                        "existing row gets a value of its own")
            if version < FAST_DEFAULT_SINCE and not _is_null(con.get("raw_expr")):
                return (f"before PostgreSQL {FAST_DEFAULT_SINCE} any default other than NULL "
                        "is written into every existing row")
    return None


def volatile_call(expr: dict[str, Any] | None) -> str | None:
    """The first volatile function (VOLATILE_FUNCTIONS) an expression calls, or None."""
    if not expr:
        return None
    for kind, body in iter_nodes(expr):
        if kind == "FuncCall" and n.func_name(body) in VOLATILE_FUNCTIONS:
            return n.func_name(body)
    return None


def _is_null(expr: dict[str, Any] | None) -> bool:
    while expr and "TypeCast" in expr:
        expr = expr["TypeCast"].get("arg")
    return not expr or bool((expr.get("A_Const") or {}).get("isnull"))


# The catalog's names (PostgreSQL's internal ones) as people write them, for messages and
# recipes: `int8` is `bigint` to most readers.
_SHOWN_AS = {"int2": "smallint", "int4": "integer", "int8": "bigint", "float4": "real",
             "float8": "double precision", "bool": "boolean", "bpchar": "char",
             "varbit": "bit varying"}
# ALTER TABLE subcommands that copy the whole table, by how they are written.
WHOLE_TABLE_COMMANDS = {"AT_SetTableSpace": "SET TABLESPACE", "AT_SetLogged": "SET LOGGED",
                        "AT_SetUnLogged": "SET UNLOGGED"}


def shown_type(spelled: str) -> str:
    """A type_spelling as SQL people write: bigint, varchar(20), char(5), integer[]."""
    cut = min((i for i in (spelled.find("("), spelled.find("[")) if i >= 0),
              default=len(spelled))
    base, rest = spelled[:cut], spelled[cut:]
    return _SHOWN_AS.get(base, base) + rest


@dataclass(frozen=True)
class Rewrite:
    """One part of a statement that makes PostgreSQL write a new copy of an existing table."""

    table: str
    what: str  # for messages: "`ALTER COLUMN quantity TYPE bigint`", "`VACUUM FULL`"
    why: str  # what makes it a rewrite, when `what` does not say it ("" then)
    # The ALTER TABLE subcommand (AT_AlterColumnType, AT_AddColumn, a WHOLE_TABLE_COMMANDS
    # one); None for VACUUM FULL and CLUSTER.
    command: dict[str, Any] | None = None
    new_type: str = ""  # a type change's new type, as shown_type writes it


def table_rewrites(ctx: "FileContext", stmt: "Statement") -> list[Rewrite]:
    """What in `stmt`, run by the migration itself, rewrites a table that production already
    has (pglint.kit.locks.existing_table): `ALTER COLUMN ... TYPE` to a type the stored values
    must be converted to (or with a USING that computes them anew), an `ADD COLUMN` that
    writes every row (added_column_rewrites), `SET TABLESPACE`, `SET LOGGED`/`UNLOGGED`,
    `VACUUM FULL` and `CLUSTER`. Empty when pglint cannot tell (an unknown type)."""
    if not runs_in_migration(stmt):
        return []
    node = stmt.body
    if stmt.kind == "VacuumStmt":
        if not (node.get("is_vacuumcmd") and "full" in n.def_elems(node.get("options"))):
            return []
        relations = [(item.get("VacuumRelation") or {}).get("relation")
                     for item in node.get("rels") or ()]
        return _whole(ctx, stmt, relations, "`VACUUM FULL`")
    if stmt.kind == "ClusterStmt":
        return _whole(ctx, stmt, [node.get("relation")], "`CLUSTER`")
    if stmt.kind != "AlterTableStmt" or node.get("objtype") != "OBJECT_TABLE":
        return []
    table = existing_table(ctx, stmt, n.relation_name(node.get("relation")))
    if table is None:
        return []
    found = []
    version = ctx.settings.target_version
    for item in node.get("cmds") or ():
        cmd = item.get("AlterTableCmd") or {}
        subtype = cmd.get("subtype")
        if subtype == "AT_AlterColumnType":
            rewrite = _type_change(ctx, stmt, table, cmd)
            if rewrite is not None:
                found.append(rewrite)
        elif subtype == "AT_AddColumn":
            coldef = (cmd.get("def") or {}).get("ColumnDef") or {}
            why = added_column_rewrites(coldef, version)
            if why:
                found.append(Rewrite(table.name, f"`ADD COLUMN {coldef.get('colname')}`", why,
                                     cmd))
        elif subtype in WHOLE_TABLE_COMMANDS:
            found.append(Rewrite(table.name, f"`{WHOLE_TABLE_COMMANDS[subtype]}`", "", cmd))
    return found


def _whole(ctx: "FileContext", stmt: "Statement", relations: list[dict[str, Any] | None],
           what: str) -> list[Rewrite]:
    found = []
    for relation in relations:
        table = existing_table(ctx, stmt, n.relation_name(relation))
        if table is not None:
            found.append(Rewrite(table.name, what, ""))
    return found


def _type_change(ctx: "FileContext", stmt: "Statement", table: Table,
                 cmd: dict[str, Any]) -> Rewrite | None:
    column = cmd.get("name") or ""
    new = n.type_spelling(((cmd.get("def") or {}).get("ColumnDef") or {}).get("typeName"))
    old = column_type_before(ctx, stmt, table, column)
    if not old or not new:
        return None
    rewrites = type_change_rewrites(old, new)
    if rewrites is None:
        return None
    free = not rewrites
    if free and using_only_casts_column(cmd):
        return None
    why = (f"`{column}` goes from `{shown_type(old)}` to `{shown_type(new)}`, and every "
           "stored value is converted"
           if not free else "the USING expression computes every value anew")
    if (old.split("(")[0], new.split("(")[0]) == ("timestamp", "timestamptz"):
        why += (" (free only when the session's TimeZone is UTC, which the migration "
                "cannot count on)")
    return Rewrite(table.name, f"`ALTER COLUMN {column} TYPE {shown_type(new)}`", why, cmd,
                   shown_type(new))
