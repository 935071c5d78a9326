"""What a statement the simulation cannot follow may touch: the body of a DO block, read with PL/pgSQL's parser.

A DO block whose body is plain PL/pgSQL running statements that only create, add, fill or
change the objects they name (CREATE TYPE, ADD COLUMN, INSERT, UPDATE, guarded by IF or an
exception handler) touches nothing but what it names. Anything else in it (dynamic EXECUTE,
a drop or rename, a function the analysis does not know, a body that does not parse) may
touch anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

#: Functions a migration's SELECT commonly calls that change no table, column or type.
HARMLESS_FUNCTIONS = frozenset({
    "setval", "nextval", "currval", "lastval", "set_config", "current_setting", "pg_advisory_lock",
    "pg_advisory_xact_lock", "pg_advisory_unlock", "pg_try_advisory_lock", "pg_try_advisory_xact_lock",
    "pg_sleep", "now", "count", "max", "min", "sum", "avg", "coalesce", "greatest", "least", "format", "concat",
    "lower", "upper", "gen_random_uuid", "uuid_generate_v4", "pg_get_serial_sequence", "to_regclass",
    "to_regtype", "current_schema", "current_database", "version", "pg_notify", "length", "array_agg",
    "string_agg", "jsonb_build_object", "json_build_object", "row_number", "random", "md5", "date_trunc",
    "extract", "quote_ident", "quote_literal", "substring", "replace", "trim", "concat_ws", "cuid",
})

#: PL/pgSQL statements that run no SQL of their own making (their expressions are read below).
_PLPGSQL_FOLLOWED = frozenset({
    "PLpgSQL_stmt_block", "PLpgSQL_stmt_if", "PLpgSQL_stmt_execsql", "PLpgSQL_stmt_assign", "PLpgSQL_stmt_perform",
    "PLpgSQL_stmt_fors", "PLpgSQL_stmt_fori", "PLpgSQL_stmt_foreach_a", "PLpgSQL_stmt_while", "PLpgSQL_stmt_loop",
    "PLpgSQL_stmt_exit", "PLpgSQL_stmt_return", "PLpgSQL_stmt_raise", "PLpgSQL_stmt_assert",
    "PLpgSQL_stmt_getdiag", "PLpgSQL_stmt_case",
})

#: SQL statements inside a DO block that change only the objects they name (no drop, no rename: those
#: change what other objects depend on).
_SCOPED_KINDS = frozenset({
    "SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "CreateStmt", "CreateEnumStmt", "CompositeTypeStmt",
    "CreateDomainStmt", "IndexStmt", "AlterEnumStmt", "CreateSeqStmt", "CreateExtensionStmt", "CreateSchemaStmt",
    "CommentStmt", "GrantStmt", "AlterTableStmt",
})

#: Keys of the parse tree that hold a name.
_NAME_KEYS = ("sval", "relname", "idxname", "conname", "colname", "schemaname", "newname", "name")

_IDENTIFIER = re.compile(r'"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)')


def identifiers(text: str) -> frozenset[str]:
    """Every identifier a statement's text may name, as PostgreSQL folds it (quoted kept, unquoted lowered)."""
    return frozenset(quoted.replace('""', '"') if quoted else bare.lower()
                     for quoted, bare in _IDENTIFIER.findall(text))


def node_names(node: Any) -> set[str]:
    """Every name a statement's parse tree (pglast nodes) holds."""
    from pglast import ast

    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, ast.Node):
            for attr in item:
                value = getattr(item, attr, None)
                if attr in _NAME_KEYS and isinstance(value, str):
                    found.add(value)
                else:
                    stack.append(value)
        elif hasattr(item, "sources") and hasattr(item, "table"):  # an InsertSummary
            found.add(item.table)
            found.update(name for _schema, name in item.sources)
    return found


def do_block_scope(body: str, language: str = "plpgsql") -> frozenset[str] | None:
    """The names a DO block's statements may touch; None when it may touch anything."""
    from pglast.parser import ParseError, parse_plpgsql_json

    if language.lower() != "plpgsql" or "$lumiku_do$" in body:
        return None
    try:
        tree = json.loads(parse_plpgsql_json(
            f"CREATE FUNCTION lumiku_do() RETURNS void LANGUAGE plpgsql AS $lumiku_do${body}$lumiku_do$"))
    except (ParseError, ValueError):
        return None
    names: set[str] = set()
    stack: list[Any] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.startswith("PLpgSQL_stmt_") and key not in _PLPGSQL_FOLLOWED:
                return None
            if key == "PLpgSQL_expr":
                found = _query_names(value.get("query", ""), value.get("parseMode", 0))
                if found is None:
                    return None
                names |= found
            elif key != "datums":
                stack.append(value)
    return frozenset(names)


def _query_names(query: str, mode: int) -> set[str] | None:
    """The names one embedded query holds; None when it may touch more than it names."""
    from pglast.parser import ParseError, parse_sql_json

    if mode == 3:  # an assignment: `target := expression`
        query = re.split(r":=|=", query, maxsplit=1)[-1]
    text = query if mode == 0 else f"SELECT {query}"
    try:
        statements = json.loads(parse_sql_json(text)).get("stmts", ())
    except (ParseError, ValueError):
        return None
    names: set[str] = set()
    for raw in statements:
        stmt = raw.get("stmt", {})
        kind = next(iter(stmt), "")
        if kind not in _SCOPED_KINDS:
            return None
        if kind == "AlterTableStmt" and any(
                "DROP" in cmd.get("AlterTableCmd", {}).get("subtype", "").upper()
                for cmd in stmt[kind].get("cmds", ())):
            return None
        if side_effects(stmt) is not None:
            return None
        _collect_names(stmt, names)
    return names


def _dicts(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object of a parse tree in pglast's JSON, however deep (without recursion)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            yield item
            stack.extend(item.values())


def _collect_names(tree: Any, names: set[str]) -> None:
    for item in _dicts(tree):
        names.update(value for key, value in item.items() if key in _NAME_KEYS and isinstance(value, str))


def side_effects(tree: Any) -> str | None:
    """What a parsed statement (pglast JSON) runs that may change the schema or data beyond what it names: a
    function not known to be harmless (`create_hypertable`, anything the project defined), or SELECT INTO."""
    for item in _dicts(tree):
        call = item.get("FuncCall")
        if isinstance(call, dict):
            names = [n.get("String", {}).get("sval", "") for n in call.get("funcname", ())]
            name = names[-1].lower() if names else ""
            if name not in HARMLESS_FUNCTIONS:
                return f"SELECT {'.'.join(n for n in names if n)}()"
        select = item.get("SelectStmt")
        if isinstance(select, dict) and "intoClause" in select:
            return "SELECT ... INTO"
    return None
