"""Small readers for pglast's JSON tree, shared by the model and the rules."""

from __future__ import annotations

import re
from typing import Any, Iterator

from pglint.sql.parse import iter_nodes

SERIAL_TYPES = {"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
                "smallserial": "int2", "serial2": "int2"}
TIME_FUNCTIONS = {"now", "clock_timestamp", "statement_timestamp", "transaction_timestamp",
                  "current_timestamp", "localtimestamp", "current_date"}


def relation_name(rangevar: dict[str, Any] | None) -> str | None:
    """A RangeVar as the catalog's key: lowercase, schema kept unless it is `public`."""
    if not rangevar:
        return None
    name = rangevar.get("relname")
    if name is None:
        return None
    schema = rangevar.get("schemaname")
    return f"{schema}.{name}" if schema and schema != "public" else name


def names(items: list[dict[str, Any]] | None) -> list[str]:
    """A list of String nodes (qualified names, column lists) as plain strings."""
    out = []
    for item in items or ():
        if "String" in item:
            out.append(item["String"].get("sval", ""))
        elif "A_Star" in item:
            out.append("*")
    return out


def qualified(items: list[dict[str, Any]] | None) -> str:
    parts = names(items)
    if len(parts) > 1 and parts[0] in ("public", "pg_catalog"):
        parts = parts[1:]
    return ".".join(parts)


def dropped_names(body: dict[str, Any]) -> list[str]:
    """The objects a DROP of tables, indexes or views names, qualified as the catalog keys them
    (`public.` left out; case as the parser folded it: a quoted name keeps its own)."""
    return [qualified(o["List"].get("items")) for o in body.get("objects") or ()
            if isinstance(o, dict) and "List" in o]


_INPUT_MODES = {"FUNC_PARAM_DEFAULT", "FUNC_PARAM_IN", "FUNC_PARAM_INOUT",
                "FUNC_PARAM_VARIADIC"}


def function_key(name_items: list[dict[str, Any]] | None, arg_count: int | None) -> str:
    """A function as the catalog keys it: its lowercase qualified name and how many arguments
    it takes (`audit.log_change/2`); `None` arguments (`DROP FUNCTION f`) give `f/*`."""
    return f"{qualified(name_items).lower()}/{'*' if arg_count is None else arg_count}"


def defined_function_key(body: dict[str, Any]) -> str:
    """The key of the function a CREATE FUNCTION / PROCEDURE statement defines."""
    inputs = sum(1 for p in body.get("parameters") or ()
                 if p.get("FunctionParameter", {}).get("mode", "FUNC_PARAM_DEFAULT")
                 in _INPUT_MODES)
    return function_key(body.get("funcname"), inputs)


def type_name(type_node: dict[str, Any] | None) -> str:
    """A TypeName as one lowercase word: `int8`, `timestamptz`, `bigserial`, `uuid`."""
    if not type_node:
        return ""
    items = type_node.get("names") or ()
    if len(items) == 1 and "String" in items[0]:  # the common case, without the general walk
        return items[0]["String"].get("sval", "").lower()
    return qualified(items).lower()


def type_spelling(type_node: dict[str, Any] | None) -> str:
    """A TypeName with its modifiers and array brackets, as the catalog keeps a column's type:
    `varchar(20)`, `numeric(10,2)`, `int4[]`, `varchar` (no length). Serial types are spelled
    as the integer type they create. "" when a modifier is not a plain integer."""
    name = type_name(type_node)
    if not name:
        return ""
    name = SERIAL_TYPES.get(name, name)
    mods = []
    for mod in (type_node or {}).get("typmods") or ():
        ok, value = constant(mod)
        if not ok or not isinstance(value, int):
            return ""
        mods.append(str(value))
    shown = f"{name}({','.join(mods)})" if mods else name
    return shown + "[]" * len((type_node or {}).get("arrayBounds") or ())


def func_name(call: dict[str, Any]) -> str:
    """A FuncCall's unqualified lowercase name."""
    parts = names(call.get("funcname"))
    return parts[-1].lower() if parts else ""


def column_ref(node: dict[str, Any] | None) -> str | None:
    """`col` or `t.col` of a wrapped ColumnRef, as the unqualified column name."""
    if not node or "ColumnRef" not in node:
        return None
    parts = names(node["ColumnRef"].get("fields"))
    return parts[-1] if parts and parts[-1] != "*" else None


def constant(node: dict[str, Any] | None) -> tuple[bool, Any]:
    """(True, value) for an A_Const (through casts), else (False, None)."""
    node = _strip_casts(node)
    if not node or "A_Const" not in node:
        return False, None
    const = node["A_Const"]
    if const.get("isnull"):
        return True, None
    for key in ("ival", "sval", "fval", "boolval", "bsval"):
        if key in const:
            return True, const[key].get(key, 0 if key == "ival" else False if key == "boolval"
                                        else "")
    return True, 0  # an A_Const with no value field is the integer 0


def operator(expr: dict[str, Any]) -> str:
    parts = names(expr.get("name"))
    return parts[-1] if parts else ""


def conjuncts(where: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The AND-ed parts of a WHERE clause."""
    if not where:
        return []
    if "BoolExpr" in where and where["BoolExpr"].get("boolop") == "AND_EXPR":
        out = []
        for arg in where["BoolExpr"].get("args", ()):
            out.extend(conjuncts(arg))
        return out
    return [where]


def equality(node: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """`col = value` (either side) as (column, value node)."""
    expr = node.get("A_Expr")
    if not expr or expr.get("kind") != "AEXPR_OP" or operator(expr) != "=":
        return None
    left, right = expr.get("lexpr"), expr.get("rexpr")
    col = column_ref(left)
    if col is not None:
        return col, right
    col = column_ref(right)
    if col is not None:
        return col, left
    return None


def calls(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, FuncCall body) for every function call under node."""
    for kind, body in iter_nodes(node):
        if kind == "FuncCall":
            yield func_name(body), body


def mentions_function(node: Any, wanted: set[str]) -> bool:
    return any(name in wanted for name, _ in calls(node))


def is_time_default(node: dict[str, Any] | None) -> bool:
    """A default of now(), CURRENT_TIMESTAMP and friends: values that grow with time."""
    node = _strip_casts(node)
    if not node:
        return False
    if "FuncCall" in node:
        return func_name(node["FuncCall"]) in TIME_FUNCTIONS
    if "SQLValueFunction" in node:
        op = node["SQLValueFunction"].get("op", "")
        return any(s in op for s in ("CURRENT_TIMESTAMP", "LOCALTIMESTAMP", "CURRENT_DATE"))
    return False


def is_nextval_default(node: dict[str, Any] | None) -> bool:
    return bool(node) and "FuncCall" in node and func_name(node["FuncCall"]) == "nextval"


_NUMBER_TYPES = {"int2", "int4", "int8", "smallint", "integer", "int", "bigint", "numeric",
                 "decimal", "float4", "float8", "real", "double precision", "money"}


def is_cast_to_non_number(node: dict[str, Any] | None) -> bool:
    """`x::interval`, `'{"a":1}'::jsonb`: a cast to a type that is not a number."""
    cast = (node or {}).get("TypeCast")
    return bool(cast) and type_name(cast.get("typeName")) not in _NUMBER_TYPES


def nextval_sequence(node: dict[str, Any] | None) -> str | None:
    """The catalog key of the sequence in `nextval('name'[::regclass])`, or None."""
    if not is_nextval_default(node):
        return None
    args = node["FuncCall"].get("args") or ()
    is_const, value = constant(args[0]) if args else (False, None)
    if not is_const or not isinstance(value, str) or '"' in value:
        return None
    parts = value.lower().split(".")
    return catalog_key(parts[-2] if len(parts) > 1 else None, parts[-1])


def catalog_key(schema: str | None, name: str) -> str:
    """A relation's key in the catalog: the schema kept unless it is `public`."""
    return f"{schema}.{name}" if schema and schema != "public" else name


def def_elems(items: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """DefElem options (WITH (...), sequence options) by lowercase name."""
    out = {}
    for item in items or ():
        elem = item.get("DefElem")
        if elem and elem.get("defname"):
            out[elem["defname"].lower()] = elem
    return out


def def_value(elem: dict[str, Any] | None) -> Any:
    if not elem:
        return None
    arg = elem.get("arg")
    if not arg:
        return None
    if "Integer" in arg:
        return arg["Integer"].get("ival", 0)
    if "Float" in arg:
        return float(arg["Float"].get("fval", 0))
    if "String" in arg:
        return arg["String"].get("sval")
    if "TypeName" in arg:
        return type_name(arg["TypeName"])
    return arg


def sql_literal(node: dict[str, Any] | None) -> str:
    """Render a simple value node back as SQL, for suggestions; `...` for anything else."""
    if not node:
        return "..."
    if "ParamRef" in node:
        return f"${node['ParamRef'].get('number', 1)}"
    col = column_ref(node)
    if col is not None:
        return col
    is_const, value = constant(node)
    if is_const:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and "sval" in _strip_casts(node)["A_Const"]:
            return quote_literal(value)
        return str(value)
    return "..."


def _strip_casts(node: dict[str, Any] | None) -> dict[str, Any] | None:
    """The node under any casts (`x::int`)."""
    while node and "TypeCast" in node:
        node = node["TypeCast"].get("arg") or {}
    return node


def quote_ident(name: str) -> str:
    """An identifier as SQL: bare when it is a plain lowercase name that no keyword of
    PostgreSQL's grammar could take for something else (pglast's list; a column called `order`
    or `user` is `"order"`, `"user"`), quoted otherwise."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in _NOT_BARE:
        return name
    return '"' + name.replace('"', '""') + '"'


def _keywords_not_bare() -> frozenset[str]:
    from pglast import keywords

    # Column-name keywords too: quoting one more name than needed is always valid SQL.
    return frozenset(keywords.RESERVED_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS
                     | keywords.COL_NAME_KEYWORDS)


_NOT_BARE = _keywords_not_bare()


def quote_qualified(name: str) -> str:
    """A possibly schema-qualified name (`public.orders`) as SQL, each part quoted as needed."""
    return ".".join(quote_ident(part) for part in name.split("."))


def quote_literal(value: str) -> str:
    """A string as an SQL literal: `it's` -> `'it''s'`."""
    return "'" + value.replace("'", "''") + "'"


def returning(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The RETURNING targets of an INSERT/UPDATE/DELETE/MERGE (empty when it has none).

    PostgreSQL 18's tree (pglast 8) holds them in `returningClause.exprs`.
    """
    clause = body.get("returningClause") or {}
    return list(clause.get("exprs") or ())


def not_null_columns(constraint: dict[str, Any]) -> list[str]:
    """The columns a table constraint (a `Constraint` body) proves NOT NULL once it is valid:
    `CHECK (col IS NOT NULL [AND ...])` and PostgreSQL 18's `NOT NULL col` constraint."""
    contype = constraint.get("contype")
    if contype == "CONSTR_NOTNULL":
        return names(constraint.get("keys"))
    if contype != "CONSTR_CHECK" or not constraint.get("is_enforced"):
        return []  # NOT ENFORCED (PostgreSQL 18) proves nothing
    found = []
    for part in conjuncts(constraint.get("raw_expr")):
        test = part.get("NullTest")
        if test and test.get("nulltesttype") == "IS_NOT_NULL":
            column = column_ref(test.get("arg"))
            if column is not None:
                found.append(column)
    return found
