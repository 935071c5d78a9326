"""What the migrations' SQL says should exist: every migration replayed, in order, into expected objects.

The expectations are read from the migrations themselves (PostgreSQL's parser, via
pglast), replaying every applied migration in order so that a later statement
overrides an earlier one and a DROP removes what it drops. Each expectation belongs to
the migration that last shaped it; `checks.verify` compares them with the live catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.names import format_type, is_serial, names_of, qualified_name
from lumiku_tui.apply.plan import statements_of
from lumiku_tui.sql.split import Statement
from lumiku_tui.sql.streamed import non_data

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import LocalMigration


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



def _implies_not_null(column: Any) -> bool:
    """NOT NULL, PRIMARY KEY, an identity or a serial type (which PostgreSQL makes NOT NULL)."""
    if column.is_not_null:
        return True
    if is_serial(column.typeName):
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
        if getattr(migration, "streamed", False):
            # Tens of megabytes of rows: parsed whole they would take gigabytes, and rows create no objects.
            nodes = self._parse_each(migration, schema_only=True)
        else:
            try:
                nodes = parse_nodes(migration.script)
            except ValueError:
                nodes = self._parse_each(migration)
        for node in nodes:
            self._apply(node, migration.name)

    def _parse_each(self, migration: "LocalMigration | SqlScript", *, schema_only: bool = False) -> list[Node]:
        """Statement by statement, so one the parser rejects does not hide the others; with `schema_only`, the
        statements but INSERTs, UPDATEs and DELETEs."""
        try:
            statements: Iterable[Statement] = statements_of(migration)
            if schema_only:
                statements = non_data(statements)  # type: ignore[arg-type]
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
                self._add_column(key, table, element, owner)
            elif element.kind == "Constraint":
                self._add_constraint(key, element, owner, ())

    def _add_column(self, table_key: tuple[str, str], table: _Table, column: Any, owner: str) -> None:
        """A column definition (CREATE TABLE or ADD COLUMN) with the constraints written on it."""
        for con in column.constraints or ():
            if con.contype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE", "CONSTR_FOREIGN"):
                self._add_constraint(table_key, con, owner, (column.colname,))
        table.columns[column.colname] = _Column(format_type(column.typeName, self.default_schema),
                                                _implies_not_null(column), owner)

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
                self._add_column(key, table, column, owner)
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
            old_text = qualified_name(*key, self.default_schema)
            new_text = qualified_name(*new_key, self.default_schema)
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
