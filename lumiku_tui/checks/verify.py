"""Did the applied migrations leave what their SQL says? Expected objects vs the live catalog.

The expectations are read from the migrations themselves (PostgreSQL's parser, via
pglast), replaying every applied migration in order so that a later statement
overrides an earlier one and a DROP removes what it drops. Each expectation belongs to
the migration that last shaped it; `verify_migrations` reports the ones owned by the
migrations asked about, compared with the catalog in one query per kind of object.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from lumiku_tui.errors import LumikuError
from lumiku_tui.sql.split import split_statements

if TYPE_CHECKING:

    import psycopg

    from lumiku_tui.prisma.folder import LocalMigration, MigrationsFolder
    from lumiku_tui.pg.target import Target

MISSING = "missing"
KINDS = ("table", "column", "index", "constraint", "enum", "history")


class VerifyError(LumikuError):
    """Verification was asked for something that does not exist."""

    code = "verify"


@dataclass(frozen=True)
class Check:
    migration: str
    kind: str  # "table" | "column" | "index" | "constraint" | "enum" | "history"
    object: str  # e.g. 'avatar_generations."projectId"'
    expected: str  # e.g. "text NOT NULL"
    found: str  # e.g. "text NOT NULL", or "missing"
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- names and types, spelled the way PostgreSQL prints them ------------------------------


def _reserved() -> frozenset[str]:
    from pglast import keywords

    return frozenset(keywords.RESERVED_KEYWORDS) | frozenset(keywords.TYPE_FUNC_NAME_KEYWORDS) | frozenset(
        keywords.COL_NAME_KEYWORDS
    )


_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")
_RESERVED: frozenset[str] | None = None


def quote_ident(name: str) -> str:
    """Like PostgreSQL's quote_ident: quotes only when the name needs it."""
    global _RESERVED
    if _RESERVED is None:
        _RESERVED = _reserved()
    if _PLAIN.fullmatch(name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


class Node:
    """A parse-tree node from PostgreSQL's parser (pglast's JSON form), read by attribute.

    Building pglast's Python AST costs ~15x more than reading its JSON; replaying a long
    history is dominated by that, so the tree is kept as plain dicts. Missing fields read
    as None (the JSON leaves out false, zero and empty values); enums are their names.
    """

    __slots__ = ("kind", "_fields")

    def __init__(self, kind: str, fields: dict[str, Any]) -> None:
        self.kind = kind
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._fields.get("def" if name == "def_" else name)

    def has(self, name: str) -> bool:
        return name in self._fields

    def __repr__(self) -> str:
        return f"<{self.kind or 'struct'} {self._fields!r}>"


def _as_node(fields: dict[str, Any]) -> Node:
    # The JSON spells a node of a generic field as {"TypeName": {...fields}}: the inner dict is
    # decoded first (as an untyped Node), then named by its single capitalised key.
    if len(fields) == 1:
        ((key, inner),) = fields.items()
        if key[:1].isupper() and isinstance(inner, Node) and not inner.kind:
            inner.kind = key
            return inner
    return Node("", fields)


def parse_nodes(text: str) -> list[Node]:
    """The statements of `text` as parse trees. Raises ValueError when PostgreSQL's parser rejects it."""
    import json

    from pglast import parser

    try:
        tree = json.loads(parser.parse_sql_json(text), object_hook=_as_node)
    except parser.ParseError as exc:
        raise ValueError(str(exc)) from None
    return [raw.stmt for raw in tree.stmts or () if raw.stmt is not None]


def names_of(node: Any) -> list[str]:
    """The dotted name a node spells: a List of Strings, a TypeName, a tuple of Strings or one String."""
    if node is None:
        return []
    if isinstance(node, (list, tuple)):
        return [part.sval for part in node if isinstance(part, Node) and part.kind == "String"]
    if node.kind == "List":
        return names_of(node.items)
    if node.kind == "TypeName":
        return names_of(node.names)
    if node.kind == "String":
        return [node.sval]
    return []


#: Internal or alias type names -> what format_type() prints.
_TYPE_NAMES = {
    "int4": "integer", "int": "integer", "integer": "integer", "serial": "integer", "serial4": "integer",
    "int8": "bigint", "bigint": "bigint", "bigserial": "bigint", "serial8": "bigint",
    "int2": "smallint", "smallint": "smallint", "smallserial": "smallint", "serial2": "smallint",
    "float8": "double precision", "float4": "real", "bool": "boolean", "boolean": "boolean",
    "varchar": "character varying", "bpchar": "character", "char": "character",
    "timestamptz": "timestamp with time zone", "timetz": "time with time zone",
    "decimal": "numeric", "varbit": "bit varying",
}
#: Types format_type() prints under their own name.
_BUILTIN = frozenset({
    "text", "jsonb", "json", "uuid", "bytea", "date", "numeric", "interval", "inet", "cidr", "macaddr",
    "money", "xml", "tsvector", "tsquery", "oid", "citext", "bit", "varbit", "point", "name",
})
_TIME_TYPES = {"timestamp": "without time zone", "time": "without time zone",
               "timestamptz": "with time zone", "timetz": "with time zone"}


def format_type(type_name: Any, schema: str = "public") -> str:
    """A TypeName node as PostgreSQL's format_type() would print the column's type."""
    names = [n.sval for n in type_name.names]
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    mods: list[str] = []
    for mod in type_name.typmods or ():
        # An integer constant; the JSON leaves out a zero value ({"ival": {}}).
        value = (mod.ival.ival or 0) if mod.kind == "A_Const" and mod.has("ival") else None
        mods.append(str(value) if value is not None else "?")
    base = names[-1]
    if len(names) == 1 and (base in _TYPE_NAMES or base in _TIME_TYPES or base in _BUILTIN):
        if base in _TIME_TYPES:
            kind = "timestamp" if base.startswith("timestamp") else "time"
            text = f"{kind}({mods[0]}) {_TIME_TYPES[base]}" if mods else f"{kind} {_TIME_TYPES[base]}"
        else:
            text = _TYPE_NAMES.get(base, base)
            if base == "interval":
                mods = []  # interval field restrictions print differently; the bare type is enough
            elif base in ("numeric", "decimal") and len(mods) == 1:
                mods.append("0")  # NUMERIC(p) is stored as NUMERIC(p,0)
            if mods:
                text += "(" + ",".join(mods) + ")"
    else:
        # A user type (an enum): printed by name, schema-qualified only outside the search path.
        shown = [quote_ident(n) for n in names]
        if len(shown) == 2 and names[0] == schema:
            shown = shown[1:]
        text = ".".join(shown)
        if mods:
            text += "(" + ",".join(mods) + ")"
    if type_name.arrayBounds:
        text += "[]"
    return text


_SERIALS = frozenset({"serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"})


def _implies_not_null(column: Any) -> bool:
    """NOT NULL, PRIMARY KEY, an identity or a serial type (which PostgreSQL makes NOT NULL)."""
    if column.is_not_null:
        return True
    names = names_of(column.typeName.names) if column.typeName is not None else []
    if len(names) == 1 and names[0] in _SERIALS:
        return True
    return any(con.contype in ("CONSTR_NOTNULL", "CONSTR_PRIMARY", "CONSTR_IDENTITY")
               for con in column.constraints or ())


# --- what the SQL says should exist -------------------------------------------------------


@dataclass
class _Column:
    type: str | None  # None: shaped here (e.g. SET NOT NULL) but created where we cannot see it
    not_null: bool | None
    owner: str


@dataclass
class _Table:
    owner: str
    columns: dict[str, _Column] = field(default_factory=dict)


@dataclass
class _Index:
    table: str
    unique: bool
    columns: tuple[str, ...] | None  # None when an expression is indexed
    owner: str


@dataclass
class _Constraint:
    table: str
    kind: str  # "PRIMARY KEY" | "FOREIGN KEY" | "UNIQUE" | "CHECK" | "EXCLUDE"
    columns: tuple[str, ...]
    references: tuple[str, tuple[str, ...]] | None
    owner: str


@dataclass
class Expectations:
    """The schema the migrations describe, keyed by (schema, name)."""

    default_schema: str = "public"
    tables: dict[tuple[str, str], _Table] = field(default_factory=dict)
    indexes: dict[tuple[str, str], _Index] = field(default_factory=dict)
    constraints: dict[tuple[str, str, str], _Constraint] = field(default_factory=dict)  # (schema, table, name)
    enums: dict[tuple[str, str], tuple[list[str], str]] = field(default_factory=dict)
    unparsed: list[tuple[str, int]] = field(default_factory=list)  # (migration, statement index)

    # -- replay -----------------------------------------------------------------------

    def replay(self, migration: "LocalMigration | SqlScript") -> None:
        try:
            nodes = parse_nodes(migration.script)
        except ValueError:
            nodes = self._parse_each(migration)
        for node in nodes:
            self._apply(node, migration.name)

    def _parse_each(self, migration: "LocalMigration | SqlScript") -> list[Node]:
        """Statement by statement, so one the parser rejects does not hide the others."""
        try:
            statements = split_statements(migration.script)
        except LumikuError:
            self.unparsed.append((migration.name, 0))
            return []
        nodes: list[Node] = []
        for stmt in statements:
            try:
                nodes += parse_nodes(stmt.text)
            except ValueError:  # a statement PostgreSQL's parser rejects created nothing either
                self.unparsed.append((migration.name, stmt.index))
        return nodes

    def _rel(self, rangevar: Any) -> tuple[str, str]:
        return (rangevar.schemaname or self.default_schema, rangevar.relname)

    def _apply(self, node: Any, owner: str) -> None:
        handler = _HANDLERS.get(node.kind)
        if handler is not None:
            getattr(self, handler)(node, owner)

    def _create_table(self, node: Any, owner: str) -> None:
        key = self._rel(node.relation)
        if node.if_not_exists and key in self.tables:
            return  # PostgreSQL skips it: the earlier definition stands
        table = _Table(owner)
        self.tables[key] = table
        for element in node.tableElts or ():
            if element.kind == "ColumnDef":
                not_null = _implies_not_null(element)
                for con in element.constraints or ():
                    if con.contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN"):
                        self._add_constraint(key, con, owner, (element.colname,))
                table.columns[element.colname] = _Column(format_type(element.typeName, self.default_schema),
                                                         not_null, owner)
            elif element.kind == "Constraint":
                self._add_constraint(key, element, owner, ())

    def _add_constraint(self, table_key: tuple[str, str], con: Any, owner: str, inline: tuple[str, ...]) -> None:
        kinds = {"CONSTR_PRIMARY": "PRIMARY KEY", "CONSTR_FOREIGN": "FOREIGN KEY", "CONSTR_UNIQUE": "UNIQUE",
                 "CONSTR_CHECK": "CHECK", "CONSTR_EXCLUSION": "EXCLUDE"}
        kind = kinds.get(con.contype)
        if kind is None:
            return
        schema, table = table_key
        if kind == "FOREIGN KEY":
            columns = tuple(s.sval for s in con.fk_attrs or ()) or inline
            ref_table = self._rel(con.pktable)[1]
            references = (ref_table, tuple(s.sval for s in con.pk_attrs or ()))
        else:
            columns = tuple(s.sval for s in con.keys or ()) or inline
            references = None
        name = con.conname or _default_constraint_name(table, kind, columns)
        if name is None:
            return
        if kind == "PRIMARY KEY":
            for column in columns:
                existing = self.tables.get(table_key)
                if existing is not None and column in existing.columns:
                    existing.columns[column].not_null = True
        self.constraints[(schema, table, name)] = _Constraint(table, kind, columns, references, owner)

    def _alter_table(self, node: Any, owner: str) -> None:
        key = self._rel(node.relation)
        table = self.tables.get(key)
        for cmd in node.cmds or ():
            sub = cmd.subtype
            if sub == "AT_AddColumn":
                column = cmd.def_
                if table is None:
                    table = self.tables[key] = _Table(owner="")  # created before what we can see
                if cmd.missing_ok and column.colname in table.columns:
                    continue
                not_null = _implies_not_null(column)
                for con in column.constraints or ():
                    if con.contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN"):
                        self._add_constraint(key, con, owner, (column.colname,))
                table.columns[column.colname] = _Column(format_type(column.typeName, self.default_schema),
                                                        not_null, owner)
            elif sub in ("AT_SetNotNull", "AT_DropNotNull", "AT_AlterColumnType"):
                if table is None:
                    table = self.tables[key] = _Table(owner="")
                col = table.columns.get(cmd.name) or _Column(None, None, owner)
                col.owner = owner
                if sub == "AT_SetNotNull":
                    col.not_null = True
                elif sub == "AT_DropNotNull":
                    col.not_null = False
                else:
                    col.type = format_type(cmd.def_.typeName, self.default_schema)
                table.columns[cmd.name] = col
            elif sub == "AT_DropColumn":
                if table is not None:
                    table.columns.pop(cmd.name, None)
                self._drop_constraints_on(key, column=cmd.name)
                self._drop_indexes_on(key, column=cmd.name)
            elif sub == "AT_AddConstraint":
                self._add_constraint(key, cmd.def_, owner, ())
            elif sub == "AT_DropConstraint":
                self.constraints.pop((key[0], key[1], cmd.name), None)
                self.indexes.pop((key[0], cmd.name), None)

    def _create_index(self, node: Any, owner: str) -> None:
        schema, table = self._rel(node.relation)
        name = node.idxname
        if name is None:
            return  # PostgreSQL invents the name; nothing stable to look up
        if node.if_not_exists and (schema, name) in self.indexes:
            return
        columns: tuple[str, ...] | None = tuple(e.name for e in node.indexParams if e.name)
        if len(columns) != len(node.indexParams):
            columns = None
        self.indexes[(schema, name)] = _Index(table, bool(node.unique), columns, owner)

    def _create_enum(self, node: Any, owner: str) -> None:
        names = names_of(node.typeName)
        key = (names[0], names[1]) if len(names) == 2 else (self.default_schema, names[0])
        self.enums[key] = ([s.sval for s in node.vals], owner)

    def _alter_enum(self, node: Any, owner: str) -> None:
        names = names_of(node.typeName)
        key = (names[0], names[1]) if len(names) == 2 else (self.default_schema, names[0])
        if key not in self.enums or not node.newVal:
            return
        values, _ = self.enums[key]
        if node.oldVal:  # RENAME VALUE
            values = [node.newVal if v == node.oldVal else v for v in values]
        elif node.newVal not in values:
            if node.newValNeighbor and node.newValNeighbor in values:
                at = values.index(node.newValNeighbor) + (1 if node.newValIsAfter else 0)
                values = values[:at] + [node.newVal] + values[at:]
            else:
                values = values + [node.newVal]
        self.enums[key] = (values, owner)

    def _drop(self, node: Any, owner: str) -> None:
        for obj in node.objects or ():
            parts = names_of(obj)
            if not parts:
                continue
            key = (parts[0], parts[1]) if len(parts) == 2 else (self.default_schema, parts[-1])
            if node.removeType == "OBJECT_TABLE":
                self.tables.pop(key, None)
                self._drop_constraints_on(key)
                self._drop_indexes_on(key)
            elif node.removeType == "OBJECT_INDEX":
                self.indexes.pop(key, None)
            elif node.removeType == "OBJECT_TYPE":
                self.enums.pop(key, None)

    def _rename(self, node: Any, owner: str) -> None:
        if node.renameType == "OBJECT_TABLE":
            key = self._rel(node.relation)
            new_key = (key[0], node.newname)
            if key in self.tables:
                self.tables[new_key] = self.tables.pop(key)
                self.tables[new_key].owner = owner
            for ckey in [k for k in self.constraints if k[:2] == key]:
                con = self.constraints.pop(ckey)
                con.table = node.newname
                self.constraints[(key[0], node.newname, ckey[2])] = con
            for index in self.indexes.values():
                if index.table == key[1]:
                    index.table = node.newname
        elif node.renameType == "OBJECT_COLUMN":
            table = self.tables.get(self._rel(node.relation))
            if table is not None and node.subname in table.columns:
                col = table.columns.pop(node.subname)
                col.owner = owner
                table.columns[node.newname] = col
        elif node.renameType == "OBJECT_INDEX":
            key = self._rel(node.relation)
            if key in self.indexes:
                index = self.indexes.pop(key)
                index.owner = owner
                self.indexes[(key[0], node.newname)] = index
        elif node.renameType == "OBJECT_TYPE":
            # Prisma removes an enum value by building "X_new", moving columns to it, then renaming it to X.
            names = names_of(node.object)
            if not names:
                return
            key = (names[0], names[1]) if len(names) == 2 else (self.default_schema, names[-1])
            new_key = (key[0], node.newname)
            if key in self.enums:
                values, _ = self.enums.pop(key)
                self.enums[new_key] = (values, owner)
            old_text = _type_text(key, self.default_schema)
            new_text = _type_text(new_key, self.default_schema)
            for table in self.tables.values():
                for col in table.columns.values():
                    if col.type in (old_text, old_text + "[]"):
                        col.type = new_text + col.type[len(old_text):]
                        col.owner = owner
        elif node.renameType == "OBJECT_TABCONSTRAINT":
            key = self._rel(node.relation)
            con = self.constraints.pop((key[0], key[1], node.subname), None)
            if con is not None:
                con.owner = owner
                self.constraints[(key[0], key[1], node.newname)] = con

    def _drop_constraints_on(self, table_key: tuple[str, str], column: str | None = None) -> None:
        for key in [k for k, c in self.constraints.items() if k[:2] == table_key
                    and (column is None or column in c.columns)]:
            del self.constraints[key]

    def _drop_indexes_on(self, table_key: tuple[str, str], column: str | None = None) -> None:
        for key in [k for k, i in self.indexes.items() if k[0] == table_key[0] and i.table == table_key[1]
                    and (column is None or (i.columns is not None and column in i.columns))]:
            del self.indexes[key]


#: Statement kinds that create, change or drop what verify checks; the rest (data, code, grants) is skipped.
_HANDLERS = {
    "CreateStmt": "_create_table", "AlterTableStmt": "_alter_table", "IndexStmt": "_create_index",
    "CreateEnumStmt": "_create_enum", "AlterEnumStmt": "_alter_enum", "DropStmt": "_drop", "RenameStmt": "_rename",
}


def _type_text(key: tuple[str, str], default_schema: str) -> str:
    schema, name = key
    return (quote_ident(schema) + "." if schema != default_schema else "") + quote_ident(name)


def _default_constraint_name(table: str, kind: str, columns: tuple[str, ...]) -> str | None:
    """The name PostgreSQL gives an unnamed constraint (short names only; long ones are truncated)."""
    suffix = {"PRIMARY KEY": "pkey", "FOREIGN KEY": "fkey", "UNIQUE": "key"}.get(kind)
    if suffix is None:
        return None
    name = table + "_pkey" if kind == "PRIMARY KEY" else f"{table}_{'_'.join(columns)}_{suffix}"
    return name if len(name) <= 63 else None


@dataclass(frozen=True)
class SqlScript:
    """A piece of SQL to read expectations from, attributed to a migration (e.g. one failing statement)."""

    name: str
    script: str


def expectations_of(migrations: Iterable["LocalMigration | SqlScript"], schema: str = "public") -> Expectations:
    expected = Expectations(default_schema=schema)
    for migration in migrations:
        expected.replay(migration)
    return expected


# --- the catalog ----------------------------------------------------------------------------


def _column_text(type_text: str | None, not_null: bool | None) -> str:
    parts = [p for p in (type_text, None if not_null is None else ("NOT NULL" if not_null else "NULL")) if p]
    return " ".join(parts)


def _cols(columns: Sequence[str]) -> str:
    return "(" + ", ".join(quote_ident(c) for c in columns) + ")"


def _index_text(table: str, unique: bool, columns: Sequence[str] | None) -> str:
    head = ("unique index" if unique else "index") + f" on {quote_ident(table)}"
    return head + (" " + _cols(columns) if columns is not None else "")


def _constraint_text(con: _Constraint | tuple[str, str, tuple[str, ...], str | None, tuple[str, ...]]) -> str:
    if isinstance(con, _Constraint):
        kind, columns, refs = con.kind, con.columns, con.references
    else:
        _table, kind, columns, ref_table, ref_cols = con
        refs = (ref_table, ref_cols) if ref_table else None
    text = f"{kind} {_cols(columns)}" if kind not in ("CHECK", "EXCLUDE") else kind
    if refs is not None:
        text += f" REFERENCES {quote_ident(refs[0])}{_cols(refs[1])}"
    return text


_CONTYPE = {"p": "PRIMARY KEY", "f": "FOREIGN KEY", "u": "UNIQUE", "c": "CHECK", "x": "EXCLUDE"}


def _obj(schema: str, name: str, default_schema: str) -> str:
    return (quote_ident(schema) + "." if schema != default_schema else "") + quote_ident(name)


def compare(expected: Expectations, conn: "psycopg.Connection", owners: set[str]) -> list[Check]:
    """Expected objects owned by `owners` vs the catalog, in one query per kind of object."""
    default = expected.default_schema
    tables = {k: t for k, t in expected.tables.items()}
    wanted_tables = sorted({k for k, t in tables.items()
                            if t.owner in owners or any(c.owner in owners for c in t.columns.values())})
    checks: list[Check] = []

    found_tables: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
    if wanted_tables:
        rows = conn.execute(
            """SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN unnest(%s::text[], %s::text[]) AS w(nsp, rel) ON w.nsp = n.nspname AND w.rel = c.relname
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               WHERE c.relkind IN ('r', 'p')""",
            ([s for s, _ in wanted_tables], [t for _, t in wanted_tables]),
        ).fetchall()
        for nsp, rel, att, typ, notnull in rows:
            cols = found_tables.setdefault((nsp, rel), {})
            if att is not None:
                cols[att] = (typ, notnull)
    for key in wanted_tables:
        table = tables[key]
        live = found_tables.get(key)
        name = _obj(key[0], key[1], default)
        if table.owner in owners:
            checks.append(Check(table.owner, "table", name, "table", "table" if live is not None else MISSING,
                                live is not None))
        for col_name, col in table.columns.items():
            if col.owner not in owners:
                continue
            want = _column_text(col.type, col.not_null)
            got_col = (live or {}).get(col_name)
            if got_col is None:
                found, ok = MISSING, False
            else:
                found_full = _column_text(got_col[0], got_col[1])
                found_cmp = _column_text(got_col[0] if col.type else None, got_col[1] if col.not_null is not None
                                         else None)
                found, ok = found_full, found_cmp == want
            checks.append(Check(col.owner, "column", f"{name}.{quote_ident(col_name)}", want, found, ok))

    indexes = {k: i for k, i in expected.indexes.items() if i.owner in owners}
    if indexes:
        rows = conn.execute(
            """SELECT n.nspname, ic.relname, tc.relname, i.indisunique, i.indisvalid,
                      ARRAY(SELECT CASE WHEN i.indkey[k] = 0 THEN NULL
                                        ELSE (SELECT attname FROM pg_attribute
                                              WHERE attrelid = i.indrelid AND attnum = i.indkey[k]) END
                            FROM generate_subscripts(i.indkey, 1) AS k
                            WHERE k < i.indnkeyatts ORDER BY k)
               FROM pg_index i
               JOIN pg_class ic ON ic.oid = i.indexrelid
               JOIN pg_class tc ON tc.oid = i.indrelid
               JOIN pg_namespace n ON n.oid = ic.relnamespace
               JOIN unnest(%s::text[], %s::text[]) AS w(nsp, rel) ON w.nsp = n.nspname AND w.rel = ic.relname""",
            ([s for s, _ in indexes], [n for _, n in indexes]),
        ).fetchall()
        live_indexes = {(r[0], r[1]): r[2:] for r in rows}
        for key, index in sorted(indexes.items()):
            want = _index_text(index.table, index.unique, index.columns)
            got = live_indexes.get(key)
            if got is None:
                found, ok = MISSING, False
            else:
                table_name, unique, valid, cols = got
                columns = None if index.columns is None or any(c is None for c in cols) else tuple(cols)
                found = _index_text(table_name, unique, columns if index.columns is not None else None)
                if not valid:
                    found = "INVALID " + found + " (a CREATE INDEX CONCURRENTLY that failed; drop and rebuild it)"
                ok = valid and found == want
            checks.append(Check(index.owner, "index", _obj(key[0], key[1], default), want, found, ok))

    constraints = {k: c for k, c in expected.constraints.items() if c.owner in owners}
    if constraints:
        rows = conn.execute(
            """SELECT n.nspname, t.relname, c.conname, c.contype,
                      ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(num, ord)
                            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.ord),
                      r.relname,
                      ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(num, ord)
                            JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.ord),
                      c.convalidated
               FROM pg_constraint c
               JOIN pg_class t ON t.oid = c.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
               LEFT JOIN pg_class r ON r.oid = c.confrelid
               JOIN unnest(%s::text[], %s::text[], %s::text[]) AS w(nsp, rel, con)
                 ON w.nsp = n.nspname AND w.rel = t.relname AND w.con = c.conname""",
            ([k[0] for k in constraints], [k[1] for k in constraints], [k[2] for k in constraints]),
        ).fetchall()
        live_constraints = {(r[0], r[1], r[2]): r[3:] for r in rows}
        for key, con in sorted(constraints.items()):
            want = _constraint_text(con)
            got = live_constraints.get(key)
            if got is None:
                found, ok = MISSING, False
            else:
                contype, cols, ref_table, ref_cols, validated = got
                found = _constraint_text((key[1], _CONTYPE.get(contype, contype), tuple(cols), ref_table,
                                          tuple(ref_cols or ())))
                ok = found == want
                if not validated:
                    found += " (NOT VALID: existing rows were not checked)"
            checks.append(Check(con.owner, "constraint", f"{_obj(key[0], key[1], default)}.{quote_ident(key[2])}",
                                want, found, ok))

    enums = {k: v for k, v in expected.enums.items() if v[1] in owners}
    if enums:
        rows = conn.execute(
            """SELECT n.nspname, t.typname, ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                                                  WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder)
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
               JOIN unnest(%s::text[], %s::text[]) AS w(nsp, typ) ON w.nsp = n.nspname AND w.typ = t.typname
               WHERE t.typtype = 'e'""",
            ([k[0] for k in enums], [k[1] for k in enums]),
        ).fetchall()
        live_enums = {(r[0], r[1]): list(r[2]) for r in rows}
        for key, (values, owner) in sorted(enums.items()):
            want = _enum_text(values)
            got = live_enums.get(key)
            found = MISSING if got is None else _enum_text(got)
            checks.append(Check(owner, "enum", _obj(key[0], key[1], default), want, found, found == want))
    return checks


def _enum_text(values: Sequence[str]) -> str:
    return "enum (" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _history_checks(names: Sequence[str], statuses: dict[str, Any]) -> list[Check]:
    from lumiku_tui.prisma.status import State

    checks = []
    for name in names:
        status = statuses.get(name)
        if status is None:
            found = "no row in _prisma_migrations"
        elif status.state is State.APPLIED:
            found = f"applied {status.finished_at:%Y-%m-%d %H:%M:%S %Z}".strip() if status.finished_at else "applied"
        elif status.state is State.MODIFIED:
            found = "applied, but the file changed since (checksum differs)"
        elif status.state is State.FAILED:
            found = "failed (finished_at empty)"
        elif status.state is State.ROLLED_BACK:
            found = "rolled back"
        elif status.state is State.PENDING:
            found = "pending (no row in _prisma_migrations)"
        else:
            found = status.state.value.replace("_", " ")
        ok = status is not None and status.state is State.APPLIED
        checks.append(Check(name, "history", name, "applied (finished, not rolled back, checksum matches)",
                            found, ok))
    return checks


def verify_migrations(
    target: "Target",
    folder: "MigrationsFolder",
    names: Sequence[str] | None = None,
    *,
    conn: "psycopg.Connection | None" = None,
) -> list[Check]:
    """Checks for `names` (default: every applied migration), history rows first per migration."""
    from lumiku_tui.prisma.status import State, read_status

    own = conn is None
    if own:
        conn = target.connect("verify")
    try:
        report = read_status(target, folder, conn=conn)
        statuses = {m.name: m for m in report.migrations}
        applied = [m.name for m in report.migrations if m.state in (State.APPLIED, State.MODIFIED)]
        if names is None:
            names = applied
        unknown = [n for n in names if n not in statuses and n not in folder.by_name()]
        if unknown:
            raise VerifyError(
                f"No migration named {', '.join(unknown)} in {folder.path}.",
                hint="Use a folder name as `lumiku-tui status` lists it.",
            )
        wanted = set(names)
        local = folder.by_name()
        # Replay every applied migration plus the asked-for ones, in folder order, so later changes win.
        replayed = [local[n] for n in sorted(set(applied) | wanted) if n in local]
        expected = expectations_of(replayed, target.schema)
        object_checks = compare(expected, conn, wanted)
    finally:
        if own:
            conn.close()
    by_migration: dict[str, list[Check]] = {}
    for check in object_checks:
        by_migration.setdefault(check.migration, []).append(check)
    ordered: list[Check] = []
    for history_check in _history_checks(sorted(wanted), statuses):
        ordered.append(history_check)
        ordered.extend(by_migration.get(history_check.migration, []))
    return ordered
