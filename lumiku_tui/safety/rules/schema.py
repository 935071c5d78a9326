"""The schema as it will be at each pending statement: the live catalog plus what earlier statements did.

Migrations build on each other: a table created earlier in the same batch is new and empty
(so building an index on it blocks nobody), and a column added earlier holds NULLs or its
default until something fills it. The analysis asks this model, not the catalog alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lumiku_tui.pg.names import TYPE_NAMES as ALIASES
from lumiku_tui.safety.measured import SchemaFacts, TableFacts


class Content:
    """What a column holds, as far as the batch so far tells."""

    LIVE = "live"  # as in the database now (count it there)
    NULL = "null"  # added by the batch without a default: NULL in every existing row
    DEFAULT = "default"  # added by the batch with a default: that value in every existing row
    FILLED = "filled"  # set for every row by an UPDATE of the batch
    UNKNOWN = "unknown"  # changed by the batch in a way the analysis cannot follow


@dataclass
class SimColumn:
    type: str | None
    not_null: bool
    content: str = Content.LIVE
    filled_by: int | None = None  # statement that filled it (numbered as the deploy logs it)


@dataclass
class SimConstraint:
    contype: str  # as pg_constraint.contype: p u f c x n t
    columns: tuple[str, ...] | None = None  # None: not known
    refs: str | None = None  # foreign keys: the referenced table's key
    ref_columns: tuple[str, ...] | None = None  # foreign keys: the referenced columns (() = its primary key)

    @property
    def has_index(self) -> bool:
        """PRIMARY KEY, UNIQUE and EXCLUDE own an index of the same name (renamed together)."""
        return self.contype in ("p", "u", "x")


@dataclass
class SimIndex:
    table: str  # key of the table it is on
    columns: tuple[str, ...] | None  # None: not known (expressions, or not read)
    created: bool = False  # built by this batch


@dataclass
class SimTable:
    name: str
    exists: bool | None  # None: unknown (linted without a database, or outside the target schema)
    created_at: tuple[str, int] | None = None  # (migration, statement) that created it in this batch
    rows: int | None = None
    exact: bool = False
    size_bytes: int | None = None
    columns: dict[str, SimColumn] = field(default_factory=dict)
    constraints: dict[str, SimConstraint] = field(default_factory=dict)
    filled_at: tuple[str, int] | None = None  # a batch statement inserted rows into it
    live: TableFacts | None = None
    columns_known: bool = False  # `columns` is the complete list (a missing name is certain to be missing)
    constraints_known: bool = False  # likewise for `constraints`
    partitions: list[str] = field(default_factory=list)  # keys of its partitions (and inheriting children)

    @property
    def created(self) -> bool:
        return self.created_at is not None

    @property
    def rows_known(self) -> bool:
        return self.rows is not None and self.filled_at is None

    def has_rows(self) -> bool | None:
        """True / False, or None when it cannot be told."""
        if self.filled_at is not None:
            return None if not self.rows else True
        if self.rows is None:
            return None if not self.created else False
        return self.rows > 0

    def lacks_column(self, name: str) -> bool:
        """Certain that the table has no column `name`."""
        return bool(self.exists) and self.columns_known and name not in self.columns

    def lacks_constraint(self, name: str) -> bool:
        return bool(self.exists) and self.constraints_known and name not in self.constraints

    def describe(self) -> str:
        """The table with its size, for messages: `avatar_generations (800 rows, 232 kB)`."""
        if self.created and self.filled_at is None:
            return f"{self.name} (created earlier in this batch, empty)"
        if self.created:
            return f"{self.name} (created in this batch, rows added by statement {self.filled_at[1]})"
        if self.exists is None:
            return f"{self.name} (size unknown: no database to read)"
        return f"{self.name} ({rows_text(self.rows, self.exact)}, {size_text(self.size_bytes)})"


def _forget_contents(table: SimTable, where: tuple[str, int]) -> None:
    for column in table.columns.values():
        column.content = Content.UNKNOWN
    if table.filled_at is None:
        table.filled_at = where  # rows may have been added or removed there: how many is not known


def rows_text(rows: int | None, exact: bool) -> str:
    if rows is None:
        return "row count unknown (never analyzed)"
    noun = "row" if rows == 1 else "rows"
    if exact:
        return f"{rows:,} {noun}"
    return f"~{_short(rows)} {noun} (estimated)"


def _short(number: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if number >= scale:
            return f"{number / scale:.1f}{unit}"
    return str(number)


def size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit in ("bytes", "kB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


#: PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
MAX_IDENTIFIER_BYTES = 63
#: Relation kinds that come with a row type of the same name (so CREATE TYPE of that name fails).
_ROW_TYPED = frozenset("rpvmfc")


def truncate_identifier(name: str) -> str:
    """The name PostgreSQL stores: at most 63 bytes, never cut inside a character."""
    data = name.encode()
    if len(data) <= MAX_IDENTIFIER_BYTES:
        return name
    return data[:MAX_IDENTIFIER_BYTES].decode(errors="ignore")


def _clip(text: str, length: int) -> str:
    return text.encode()[:length].decode(errors="ignore")


def object_name(name1: str, name2: str | None, label: str | None) -> str:
    """PostgreSQL's makeObjectName: `name1_name2_label`, shortening the longer of name1/name2 to fit 63 bytes."""
    overhead = (len(label.encode()) + 1 if label else 0) + (1 if name2 else 0)
    avail = MAX_IDENTIFIER_BYTES - overhead
    len1, len2 = len(name1.encode()), len(name2.encode()) if name2 else 0
    while len1 + len2 > avail:
        if len1 > len2:
            len1 -= 1
        else:
            len2 -= 1
    text = _clip(name1, len1)
    if name2:
        text += "_" + _clip(name2, len2)
    if label:
        text += "_" + label
    return text


@dataclass
class Blind:
    """A statement the simulation cannot see into, and what it may have changed from there on."""

    where: tuple[str, int]  # (migration, statement)
    what: str  # for messages: `a DO block`, `CALL refresh_all()`
    #: Names (unqualified) of the objects it may touch; None: anything. It grows: a later statement on one of
    #: them (a rename, an index, a foreign key) makes what that statement names unknown too.
    names: set[str] | None

    def covers(self, key: str | None, named: frozenset[str] = frozenset()) -> bool:
        """Whether it may have changed the table `key`, or an object a statement naming `named` touches."""
        if self.names is None:
            return True
        return any(self._may_name(n) for n in ((key.split(".")[-1],) if key is not None else ()) + tuple(named))

    def _may_name(self, name: str) -> bool:
        """`name` is one it names, or one PostgreSQL generates from it (`<table>_pkey`, `<table>_<col>_key`,
        `<table>_<col>_seq`, numbered or cut to 63 bytes): any name starting with one of its names and `_`."""
        assert self.names is not None
        if name in self.names:
            return True
        cut = name.find("_")
        while cut > 0:
            if name[:cut] in self.names:
                return True
            cut = name.find("_", cut + 1)
        return False

    def why(self) -> str:
        where = f"{self.what} (statement {self.where[1]} of {self.where[0]})"
        if self.names is None:
            return f"{where} runs code the analysis cannot see into, so it may have changed anything in the database"
        shown = sorted(n for n in self.names if _SHOWN_NAME.fullmatch(n) and n not in _NOT_OBJECTS)
        listed = ", ".join(shown[:8]) + (", ..." if len(shown) > 8 else "")
        return f"{where} may have changed {listed or 'what it names'} in ways the analysis does not follow"


_SHOWN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$ ]*")
_NOT_OBJECTS = frozenset({"pg_catalog", "int4", "int8", "text", "bool", "varchar", "timestamp", "numeric"})


class SimSchema:
    """Relations, types, tables with their columns and constraints, indexes and foreign keys: PostgreSQL's
    catalog as the batch changes it. What the live catalog does not tell (columns of a table not read,
    another schema) stays unknown, so no finding claims a failure there."""

    def __init__(self, facts: SchemaFacts) -> None:
        self.facts = facts
        self.tables: dict[str, SimTable] = {}
        self.relations: dict[str, str] = dict(facts.relations)  # key -> relkind
        self.types: set[str] = set(facts.types)
        self.enum_values: dict[str, set[str]] = {k: set(v) for k, v in facts.enum_values.items()}
        self.indexes: dict[str, SimIndex] = {k: SimIndex(t, c) for k, (t, c) in facts.indexes.items()}
        self.owned: dict[str, str] = dict(facts.owned_sequences)  # sequence key -> table key
        self.foreign_keys: dict[tuple[str, str], str] = dict(facts.foreign_keys)  # (child, name) -> parent
        self.gone_types: set[str] = set()  # dropped or renamed away by the batch
        self.uncertain: set[str] = set()  # relation names whose existence the simulation lost track of
        self.schemas: set[str] = set()  # schemas the batch creates (their contents are known)
        self.touched: set[str] = set()
        self.blind: list[Blind] = []  # opaque statements so far: what they may have changed is not known
        self._type_keys: dict[str, str] = {}

    # -- names -------------------------------------------------------------------------------

    def key(self, schemaname: str | None, relname: str) -> str:
        relname = truncate_identifier(relname)
        if schemaname and schemaname != self.facts.schema:
            return f"{schemaname}.{relname}"
        return relname

    def key_of(self, names: list[str]) -> str:
        """The key of a possibly qualified name list (["s", "t"] or ["t"])."""
        names = [n for n in names if n]
        if len(names) >= 2 and names[-2] == "pg_catalog":
            return "pg_catalog." + names[-1]
        return self.key(names[-2] if len(names) > 1 else None, names[-1]) if names else "?"

    def in_target(self, key: str) -> bool:
        return "." not in key

    def knows(self, key: str) -> bool:
        """Whether the absence of `key` from the simulation means it does not exist."""
        if key in self.uncertain:
            return False
        if "." not in key:
            return self.facts.live
        return key.split(".", 1)[0] in self.schemas

    # -- relations ----------------------------------------------------------------------------

    def relation_exists(self, key: str) -> bool | None:
        if key in self.relations:
            return True
        return False if self.knows(key) else None

    def type_exists(self, key: str) -> bool | None:
        """A type of that name: an enum, domain, composite or range, or the row type of a table or view."""
        if key in self.types or self.relations.get(key, "") in _ROW_TYPED:
            return True
        return False if self.knows(key) else None

    def table(self, key: str) -> SimTable:
        """The table as it stands now in the simulation (created on first sight from the live facts)."""
        self.touched.add(key)
        found = self.tables.get(key)
        if found is not None:
            return found
        live = self.facts.tables.get(key)
        if live is not None and key in self.relations:
            table = SimTable(
                key, True, rows=live.rows, exact=live.exact, size_bytes=live.size_bytes,
                columns={n: SimColumn(c.type, c.not_null) for n, c in live.columns.items()},
                constraints={n: SimConstraint(t, cols) for n, (t, cols) in live.constraint_facts.items()},
                live=live, columns_known=True, constraints_known=True,
            )
        else:
            table = SimTable(key, self.relation_exists(key))  # a view or sequence, an unread table, or nothing
        blind = self.obscured(key)
        if blind is not None:
            _forget_contents(table, blind.where)
        self.tables[key] = table
        return table

    # -- what the simulation cannot see ----------------------------------------------------------

    def cannot_see(self, where: tuple[str, int], what: str, names: frozenset[str] | None = None) -> None:
        """From here on, the objects an opaque statement may touch are unknown. The simulation goes on as if
        it changed nothing (the best guess, so the rules can still say what they would have found), but
        what their rows hold is forgotten, and a finding about them can no longer say "will fail"."""
        self.blind.append(Blind(where, what, None if names is None else set(names)))
        for key, table in self.tables.items():
            if names is None or key.split(".")[-1] in names:
                _forget_contents(table, where)

    def obscured(self, key: str | None, named: frozenset[str] = frozenset()) -> Blind | None:
        """The first opaque statement that may have changed the table `key` or an object named in `named`."""
        for blind in self.blind:
            if blind.covers(key, named):
                return blind
        return None

    def unique_relation_name(self, name1: str, name2: str | None, label: str) -> str:
        """PostgreSQL's ChooseRelationName: the generated name, numbered until no relation has it."""
        count = 0
        while True:
            name = object_name(name1, name2, label if not count else f"{label}{count}")
            if self.relation_exists(self.key(None, name)) is not True:
                return name
            count += 1

    def create_table(self, key: str, where: tuple[str, int]) -> SimTable:
        table = SimTable(key, True, created_at=where, rows=0, exact=True, size_bytes=0, columns_known=True,
                         constraints_known=True)
        self.tables[key] = table
        self.relations[key] = "r"
        self.uncertain.discard(key)
        self.touched.add(key)
        return table

    def drop_table(self, key: str, cascade: bool = False) -> None:
        """The table, its indexes, owned sequences, partitions and (with CASCADE) the foreign keys to it."""
        table = self.tables.get(key)
        for child in list(table.partitions if table is not None else ()):
            self.drop_table(child, cascade)
        self.tables[key] = SimTable(key, False if self.knows(key) else None)
        self.relations.pop(key, None)
        for name, index in list(self.indexes.items()):
            if index.table == key:
                self.drop_relation(name)
        for name, owner in list(self.owned.items()):
            if owner == key:
                self.drop_relation(name)
        for (child, name), parent in list(self.foreign_keys.items()):
            if child == key:
                del self.foreign_keys[(child, name)]
            elif parent == key:  # only reached with CASCADE: without it PostgreSQL refuses the drop
                self.drop_constraint(child, name)
        for other in self.tables.values():
            if key in other.partitions:
                other.partitions.remove(key)

    def drop_relation(self, key: str) -> None:
        self.relations.pop(key, None)
        self.indexes.pop(key, None)
        self.owned.pop(key, None)
        self.uncertain.discard(key)

    def rename_relation(self, old: str, new: str) -> None:
        """ALTER TABLE/INDEX/SEQUENCE/VIEW ... RENAME TO: the same object under a new name."""
        kind = self.relations.get(old)
        moved = self.table(old) if kind in _ROW_TYPED or old in self.tables and self.tables[old].exists else None
        self.relations.pop(old, None)
        if kind is not None:
            self.relations[new] = kind
        if old in self.uncertain:
            self.uncertain.discard(old)
            self.uncertain.add(new)
        if old in self.indexes:
            index = self.indexes.pop(old)
            self.indexes[new] = index
            owner = self.tables.get(index.table)
            if owner is not None and old in owner.constraints:  # the constraint is renamed with its index
                owner.constraints[new] = owner.constraints.pop(old)
        if old in self.owned:
            self.owned[new] = self.owned.pop(old)
        if moved is None:
            return
        moved.name = new
        self.tables[new] = moved
        self.tables[old] = SimTable(old, False if self.knows(old) else None)
        self.touched.add(new)
        for index in self.indexes.values():
            if index.table == old:
                index.table = new
        for seq, owner_key in self.owned.items():
            if owner_key == old:
                self.owned[seq] = new
        for fk, parent in list(self.foreign_keys.items()):
            del self.foreign_keys[fk]
            self.foreign_keys[(new if fk[0] == old else fk[0], fk[1])] = new if parent == old else parent
        for other in self.tables.values():
            other.partitions = [new if p == old else p for p in other.partitions]
            for constraint in other.constraints.values():
                if constraint.refs == old:
                    constraint.refs = new

    # -- constraints and indexes --------------------------------------------------------------

    def add_index(self, name: str, table: SimTable, columns: tuple[str, ...] | None) -> None:
        key = self.key(None, name) if "." not in table.name else f"{table.name.split('.', 1)[0]}.{name}"
        self.relations[key] = "i"
        self.uncertain.discard(key)
        self.indexes[key] = SimIndex(table.name, columns, created=True)

    def add_constraint(self, table: SimTable, name: str, constraint: SimConstraint) -> None:
        table.constraints[name] = constraint
        if constraint.has_index:
            self.add_index(name, table, constraint.columns)
        if constraint.contype == "f" and constraint.refs:
            self.foreign_keys[(table.name, name)] = constraint.refs

    def drop_constraint(self, table_key: str, name: str) -> None:
        """The constraint, its index, and the foreign keys that relied on that index (CASCADE)."""
        table = self.tables.get(table_key)
        for child, fk in self.dependents(table_key, name):
            self.drop_constraint(child, fk)
        constraint = table.constraints.pop(name, None) if table is not None else None
        self.foreign_keys.pop((table_key, name), None)
        if constraint is None or constraint.has_index:
            index_key = self.index_key(table_key, name)
            if index_key in self.indexes and self.indexes[index_key].table == table_key:
                self.drop_relation(index_key)

    def dependents(self, table_key: str, name: str) -> list[tuple[str, str]]:
        """Foreign keys (child, name) of other tables that use the index of constraint `name` of `table_key`."""
        table = self.tables.get(table_key)
        constraint = table.constraints.get(name) if table is not None else None
        if constraint is None or not constraint.has_index:
            return []
        found = []
        for child, fk in self.referencing(table_key):
            child_table = self.tables.get(child)
            refs = child_table.constraints.get(fk) if child_table is not None else None
            ref_columns = refs.ref_columns if refs is not None else None
            if ref_columns:
                match = tuple(ref_columns) == tuple(constraint.columns or ())
            else:  # references the primary key (or the columns are not known: assume the usual case)
                match = constraint.contype == "p"
            if match:
                found.append((child, fk))
        return found

    def constraint_name(self, table_key: str, letter: str, columns: tuple[str, ...] | None) -> str:
        """The name PostgreSQL gives an unnamed constraint (ChooseConstraintName / ChooseIndexName)."""
        table = table_key.split(".")[-1]
        joined = "_".join(columns) if columns else None
        if letter == "p":
            return self.unique_relation_name(table, None, "pkey")
        if letter in "ux":
            return self.unique_relation_name(table, joined, "key" if letter == "u" else "excl")
        label = {"f": "fkey", "c": "check"}.get(letter, "con")
        if letter == "c" and columns is not None and len(set(columns)) != 1:
            joined = None
        taken = {n for t in self.tables.values() for n in t.constraints}
        count = 0
        while True:
            name = object_name(table, joined, label if not count else f"{label}{count}")
            if name not in taken:
                return name
            count += 1

    def inherit_indexes(self, parent: SimTable, partition: SimTable) -> None:
        """A new partition gets its own copy of each index of the partitioned table, under generated names."""
        bare = partition.name.split(".")[-1]
        for key, index in list(self.indexes.items()):
            if index.table != parent.name:
                continue
            constraint = parent.constraints.get(key.split(".")[-1])
            if constraint is not None and constraint.has_index:
                name = self.constraint_name(partition.name, constraint.contype, constraint.columns)
                self.add_constraint(partition, name, SimConstraint(constraint.contype, constraint.columns))
            else:
                joined = "_".join(index.columns) if index.columns else "expr"
                self.add_index(self.unique_relation_name(bare, joined, "idx"), partition, index.columns)

    def index_key(self, table_key: str, name: str) -> str:
        """Indexes live in their table's schema."""
        name = truncate_identifier(name)
        return f"{table_key.split('.', 1)[0]}.{name}" if "." in table_key else name

    def referencing(self, parent: str) -> list[tuple[str, str]]:
        """Foreign keys of other tables that reference `parent`: (child, constraint name)."""
        return [fk for fk, target in self.foreign_keys.items() if target == parent and fk[0] != parent]

    def drop_column(self, table: SimTable, name: str) -> None:
        """The column, and every index and constraint that uses it (PostgreSQL drops them with it)."""
        table.columns.pop(name, None)
        for key, index in list(self.indexes.items()):
            if index.table == table.name:
                if index.columns is None:
                    self.uncertain.add(key)  # may or may not have used the column
                elif name in index.columns:
                    self.drop_relation(key)
        for cname, constraint in list(table.constraints.items()):
            if constraint.columns is not None and name in constraint.columns:
                self.drop_constraint(table.name, cname)
            elif constraint.columns is None and constraint.contype != "p":
                table.constraints_known = False
        for child in table.partitions:
            self.drop_column(self.table(child), name)

    def rename_column(self, table: SimTable, old: str, new: str) -> None:
        column = table.columns.pop(old, None)
        if column is not None:
            table.columns[new] = column
        for index in self.indexes.values():
            if index.table == table.name and index.columns is not None:
                index.columns = tuple(new if c == old else c for c in index.columns)
        for constraint in table.constraints.values():
            if constraint.columns is not None:
                constraint.columns = tuple(new if c == old else c for c in constraint.columns)
        for child in table.partitions:
            self.rename_column(self.table(child), old, new)

    # -- types ------------------------------------------------------------------------------------

    def create_type(self, key: str, values: list[str] | None = None) -> None:
        self.types.add(key)
        self.gone_types.discard(key)
        if values is not None:
            self.enum_values[key] = set(values)

    def drop_type(self, key: str) -> None:
        self.types.discard(key)
        self.enum_values.pop(key, None)
        self.gone_types.add(key)

    def rename_type(self, old: str, new: str) -> None:
        """Columns keep their type (PostgreSQL follows it by OID), so they now carry the new name."""
        self.types.discard(old)
        self.types.add(new)
        self.gone_types.add(old)
        self.gone_types.discard(new)
        if old in self.enum_values:
            self.enum_values[new] = self.enum_values.pop(old)
        for table in self.tables.values():
            for column in table.columns.values():
                if column.type and old in column.type and self.type_key(column.type) == old:
                    column.type = new + ("[]" if column.type.endswith("[]") else "")

    def columns_of_type(self, key: str) -> list[str]:
        """`table.column` of every known column of type `key` (or an array of it)."""
        return [f"{t.name}.{n}" for t in self.tables.values() if t.exists for n, c in t.columns.items()
                if c.type and key in c.type and self.type_key(c.type) == key]

    def type_key(self, type_text: str) -> str:
        """The key of the type a column's type text names: `"X"[]`, `public.X`, `X(3)` -> `X`."""
        found = self._type_keys.get(type_text)
        if found is None:
            base = type_text.removesuffix("[]").split("(", 1)[0].strip()
            found = self._type_keys[type_text] = self.key_of([p.strip().strip('"') for p in base.split(".")])
        return found


# --- column types: which changes rewrite the table ------------------------------------------------

_MODS = re.compile(r"\(([^)]*)\)")


def normalize_type(text: str) -> tuple[str, tuple[int, ...], bool]:
    """`character varying(255)` -> ("character varying", (255,), False); arrays flagged."""
    text = text.strip().lower()
    array = text.endswith("[]")
    text = text.removesuffix("[]").strip()
    mods: tuple[int, ...] = ()
    match = _MODS.search(text)
    if match:
        try:
            mods = tuple(int(m) for m in match.group(1).split(","))
        except ValueError:
            mods = ()
        text = (text[: match.start()] + text[match.end():]).strip()
    text = " ".join(text.replace('"', "").split())
    text = text.removeprefix("pg_catalog.")
    if text in ("timestamp", "time") or text.startswith(("timestamp ", "time ")):
        text = ALIASES.get(text, text)
    return ALIASES.get(text, text), mods, array


_GROWABLE = {"character varying", "bit varying"}
_PRECISION = {"timestamp without time zone", "timestamp with time zone", "time without time zone",
              "time with time zone", "interval"}


def rewrites(old: str, new: str) -> bool:
    """Whether ALTER COLUMN ... TYPE from `old` to `new` rewrites the table (PostgreSQL 9.2+ rules)."""
    old_base, old_mods, old_array = normalize_type(old)
    new_base, new_mods, new_array = normalize_type(new)
    if old_array != new_array:
        return True
    if (old_base, old_mods) == (new_base, new_mods):
        return False
    if old_base in _GROWABLE and new_base == old_base:
        return bool(new_mods) and bool(old_mods) and new_mods[0] < old_mods[0] or (bool(new_mods) and not old_mods)
    if old_base == "character varying" and new_base == "text":
        return False
    if old_base == "text" and new_base == "character varying" and not new_mods:
        return False
    if old_base == "numeric" and new_base == "numeric":
        if not new_mods:
            return False
        if old_mods and len(old_mods) == len(new_mods) == 2:
            return not (new_mods[1] == old_mods[1] and new_mods[0] >= old_mods[0])
        return True
    if old_base in _PRECISION and new_base == old_base:
        return bool(new_mods) and (not old_mods or new_mods[0] < old_mods[0])
    if old_base == "cidr" and new_base == "inet":
        return False
    return True
