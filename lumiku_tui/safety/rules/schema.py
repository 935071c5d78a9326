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
    filled_by: int | None = None  # statement that filled it


@dataclass
class SimTable:
    name: str
    exists: bool | None  # None: unknown (linted without a database, or outside the target schema)
    created_at: tuple[str, int] | None = None  # (migration, statement) that created it in this batch
    rows: int | None = None
    exact: bool = False
    size_bytes: int | None = None
    columns: dict[str, SimColumn] = field(default_factory=dict)
    constraints: set[str] = field(default_factory=set)
    filled_at: tuple[str, int] | None = None  # a batch statement inserted rows into it
    live: TableFacts | None = None

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

    def describe(self) -> str:
        """The table with its size, for messages: `avatar_generations (800 rows, 232 kB)`."""
        if self.created and self.filled_at is None:
            return f"{self.name} (created earlier in this batch, empty)"
        if self.created:
            return f"{self.name} (created in this batch, rows added by statement {self.filled_at[1]})"
        if self.exists is None:
            return f"{self.name} (size unknown: no database to read)"
        return f"{self.name} ({rows_text(self.rows, self.exact)}, {size_text(self.size_bytes)})"


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


class SimSchema:
    def __init__(self, facts: SchemaFacts) -> None:
        self.facts = facts
        self.tables: dict[str, SimTable] = {}
        self.relations: dict[str, str] = dict(facts.relations)
        self.types: set[str] = set(facts.types)
        self.dropped: set[str] = set()
        self.touched: set[str] = set()

    def key(self, schemaname: str | None, relname: str) -> str:
        if schemaname and schemaname != self.facts.schema:
            return f"{schemaname}.{relname}"
        return relname

    def in_target(self, key: str) -> bool:
        return "." not in key

    def table(self, key: str) -> SimTable:
        """The table as it stands now in the simulation (created on first sight from the live facts)."""
        self.touched.add(key)
        found = self.tables.get(key)
        if found is not None:
            return found
        live = self.facts.tables.get(key)
        if live is not None:
            table = SimTable(
                key, True, rows=live.rows, exact=live.exact, size_bytes=live.size_bytes,
                columns={n: SimColumn(c.type, c.not_null) for n, c in live.columns.items()},
                constraints=set(live.constraints), live=live,
            )
        elif self.facts.live and self.in_target(key):
            table = SimTable(key, key in self.relations)  # a view or sequence, or nothing
        else:
            table = SimTable(key, None)
        self.tables[key] = table
        return table

    def create_table(self, key: str, where: tuple[str, int]) -> SimTable:
        table = SimTable(key, True, created_at=where, rows=0, exact=True, size_bytes=0)
        self.tables[key] = table
        self.relations[key] = "r"
        self.touched.add(key)
        return table

    def drop_table(self, key: str) -> None:
        self.tables[key] = SimTable(key, False)
        self.relations.pop(key, None)

    def relation_exists(self, name: str) -> bool | None:
        if name in self.relations:
            return True
        return False if self.facts.live else None


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
