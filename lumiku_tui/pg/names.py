"""Names and types spelled the way PostgreSQL prints them: one table of type names for every reader.

`verify` compares what a migration declares with what `format_type()` prints; the safety
rules compare an old column type with a new one. Both read the same alias table here, so
`float`, `int4`, `serial8` or `timestamptz` mean the same thing to each of them.
"""

from __future__ import annotations

import re
from typing import Any

#: Internal or alias type names -> what format_type() prints (without modifiers).
TYPE_NAMES = {
    "int4": "integer", "int": "integer", "integer": "integer",
    "int8": "bigint", "bigint": "bigint",
    "int2": "smallint", "smallint": "smallint",
    "serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
    "smallserial": "smallint", "serial2": "smallint",
    "float8": "double precision", "float": "double precision", "double precision": "double precision",
    "float4": "real", "real": "real",
    "bool": "boolean", "boolean": "boolean",
    "varchar": "character varying", "character varying": "character varying",
    "bpchar": "character", "char": "character", "character": "character",
    "timestamp": "timestamp without time zone", "timestamptz": "timestamp with time zone",
    "time": "time without time zone", "timetz": "time with time zone",
    "decimal": "numeric", "varbit": "bit varying", "bit varying": "bit varying",
}
#: Types PostgreSQL makes NOT NULL with a sequence behind them; each is its integer type otherwise.
SERIAL_TYPES = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})
#: Types format_type() prints under their own name.
BUILTIN_TYPES = frozenset({
    "text", "jsonb", "json", "uuid", "bytea", "date", "numeric", "interval", "inet", "cidr", "macaddr",
    "money", "xml", "tsvector", "tsquery", "oid", "citext", "bit", "varbit", "point", "name",
})
#: Time types take their precision between the type word and the zone words: timestamp(3) with time zone.
_TIME_TYPES = {"timestamp": ("timestamp", "without time zone"), "time": ("time", "without time zone"),
               "timestamptz": ("timestamp", "with time zone"), "timetz": ("time", "with time zone")}


def canonical_type(name: str) -> str:
    """A type's bare name (no modifiers, no array) as format_type() prints it: `int4` -> `integer`."""
    return TYPE_NAMES.get(name, name)


def _reserved() -> frozenset[str]:
    from pglast import keywords

    return frozenset(keywords.RESERVED_KEYWORDS) | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS) | frozenset(
        keywords.COL_NAME_KEYWORDS
    )


# PostgreSQL leaves a name bare only if it is lower-case letters, digits and underscores (not `$`).
_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_RESERVED: frozenset[str] | None = None


def quote_ident(name: str) -> str:
    """Like PostgreSQL's quote_ident: quotes only when the name needs it."""
    global _RESERVED
    if _RESERVED is None:
        _RESERVED = _reserved()
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified_name(schema: str, name: str, default_schema: str) -> str:
    """`name`, or `schema.name` outside the default schema, each part quoted only if it must be."""
    return (quote_ident(schema) + "." if schema != default_schema else "") + quote_ident(name)


def names_of(node: Any) -> list[str]:
    """The dotted name a parse-tree node spells: a List of Strings, a TypeName, a tuple of Strings or one String."""
    if node is None:
        return []
    if isinstance(node, (list, tuple)):
        return [part.sval for part in node if getattr(part, "kind", None) == "String"]
    if node.kind == "List":
        return names_of(node.items)
    if node.kind == "TypeName":
        return names_of(node.names)
    if node.kind == "String":
        return [node.sval]
    return []


def is_serial(type_name: Any) -> bool:
    """Whether a TypeName node names a serial type (unqualified, as PostgreSQL requires)."""
    names = names_of(type_name.names) if type_name is not None else []
    return len(names) == 1 and names[0].lower() in SERIAL_TYPES


def format_type(type_name: Any, schema: str = "public") -> str:
    """A TypeName node (the parser's JSON form) as PostgreSQL's format_type() prints the column's type."""
    names = [n.sval for n in type_name.names]
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    mods: list[str] = []
    for mod in type_name.typmods or ():
        # An integer constant; the JSON leaves out a zero value ({"ival": {}}).
        value = (mod.ival.ival or 0) if mod.kind == "A_Const" and mod.has("ival") else None
        mods.append(str(value) if value is not None else "?")
    base = names[-1]
    if len(names) == 1 and base in _TIME_TYPES:
        word, zone = _TIME_TYPES[base]
        text = f"{word}({mods[0]}) {zone}" if mods else f"{word} {zone}"
    elif len(names) == 1 and (base in TYPE_NAMES or base in BUILTIN_TYPES):
        text = canonical_type(base)
        if base == "interval":
            mods = []  # interval field restrictions print differently; the bare type is enough
        elif base in ("numeric", "decimal") and len(mods) == 1:
            mods.append("0")  # NUMERIC(p) is stored as NUMERIC(p,0)
        if mods:
            text += "(" + ",".join(mods) + ")"
    else:
        # A user type (an enum): printed by name, schema-qualified only outside the search path.
        text = qualified_name(names[0], names[1], schema) if len(names) == 2 else ".".join(
            quote_ident(n) for n in names)
        if mods:
            text += "(" + ",".join(mods) + ")"
    if type_name.arrayBounds:
        text += "[]"
    return text


def comment_end(text: str, i: int) -> int | None:
    """Where the comment starting at `i` ends (`--` to its line's end, `/* */` nested as PostgreSQL nests
    them, unclosed to the end of the text); None when no comment starts there."""
    if text.startswith("--", i):
        newline = text.find("\n", i)
        return len(text) if newline < 0 else newline + 1
    if not text.startswith("/*", i):
        return None
    depth, i, n = 1, i + 2, len(text)
    while i < n and depth:
        if text.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i
