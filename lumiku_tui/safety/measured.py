"""What the target database holds, read in a few batched catalog queries.

Everything here runs in one read-only transaction with a short statement timeout, so
linting a production database costs a handful of catalog reads and a few bounded
counts, never a long scan: a count runs only on tables whose estimate is below
`EXACT_COUNT_MAX_ROWS`; bigger tables are described by their estimate, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from psycopg import errors as pgerrors
from psycopg import sql

if TYPE_CHECKING:
    import psycopg

#: Tables up to this many rows (by the planner's estimate) get exact counts.
EXACT_COUNT_MAX_ROWS = 1_000_000
#: A table up to this size is counted exactly even when it was never analyzed.
EXACT_COUNT_MAX_BYTES = 256 * 1024 * 1024
#: No catalog read or count may take longer than this on a live database.
FACTS_STATEMENT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class ColumnFacts:
    type: str  # as format_type() prints it: "character varying(255)", "text", ...
    not_null: bool
    has_default: bool


@dataclass
class TableFacts:
    name: str
    rows: int | None  # None: never analyzed and too big to count
    exact: bool
    size_bytes: int
    columns: dict[str, ColumnFacts] = field(default_factory=dict)
    constraints: dict[str, str] = field(default_factory=dict)  # name -> contype (p, u, f, c, x, n)
    constraint_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> its columns

    @property
    def constraint_facts(self) -> dict[str, tuple[str, tuple[str, ...] | None]]:
        return {n: (t, self.constraint_columns.get(n)) for n, t in self.constraints.items()}

    @property
    def can_count(self) -> bool:
        return self.rows is not None and self.rows <= EXACT_COUNT_MAX_ROWS


@dataclass
class SchemaFacts:
    """The target schema as it is now. Empty when linting without a database."""

    schema: str
    live: bool
    relations: dict[str, str] = field(default_factory=dict)  # every relation name -> relkind
    types: set[str] = field(default_factory=set)
    tables: dict[str, TableFacts] = field(default_factory=dict)  # the tables the migrations touch
    server_version: int = 0
    enum_values: dict[str, set[str]] = field(default_factory=dict)
    indexes: dict[str, tuple[str, tuple[str, ...] | None]] = field(default_factory=dict)  # -> (table, columns)
    owned_sequences: dict[str, str] = field(default_factory=dict)  # sequence -> the table owning it
    foreign_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, name) -> referenced table

    @classmethod
    def offline(cls, schema: str = "public") -> "SchemaFacts":
        return cls(schema, live=False)


def has_tables(conn: "psycopg.Connection", schema: str) -> bool:
    """Whether `schema` holds any table (an empty database needs no first look at what the batch touches)."""
    with _read_only(conn):
        row = conn.execute(
            """SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm', 'f'))""", (schema,)).fetchone()
    return bool(row and row[0])


def load_facts(conn: "psycopg.Connection", schema: str, table_names: Iterable[str]) -> SchemaFacts:
    """Relations and types of `schema`, and for the named tables: size, rows, columns, constraints."""
    wanted = sorted(set(table_names))
    facts = SchemaFacts(schema, live=True, server_version=conn.info.server_version)
    with _read_only(conn):
        for name, kind in conn.execute(
            """SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s""",
            (schema,),
        ):
            facts.relations[name] = kind
        facts.types = {
            row[0]
            for row in conn.execute(
                """SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = %s AND (t.typtype IN ('e', 'd', 'r', 'm')
                         OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))""",
                (schema,),
            )
        }
        for typname, label in conn.execute(
            """SELECT t.typname, e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
               JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = %s""",
            (schema,),
        ):
            facts.enum_values.setdefault(typname, set()).add(label)
        # Indexes with their columns (None when an expression is part of it), sequences owned by a column,
        # and foreign keys between tables of the schema: what renames and drops carry along.
        for index, table, columns, expressions in conn.execute(
            """SELECT i.relname, t.relname,
                      ARRAY(SELECT a.attname FROM unnest(x.indkey) k JOIN pg_attribute a
                            ON a.attrelid = x.indrelid AND a.attnum = k)::text[],
                      x.indexprs IS NOT NULL OR 0 = ANY(x.indkey::int2[])
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
               JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = %s""",
            (schema,),
        ):
            facts.indexes[index] = (table, None if expressions else tuple(columns))
        for sequence, table in conn.execute(
            """SELECT s.relname, t.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
               JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = s.relnamespace
               WHERE n.nspname = %s AND s.relkind = 'S' AND d.classid = 'pg_class'::regclass
                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')""",
            (schema,),
        ):
            facts.owned_sequences[sequence] = table
        for child, name, parent in conn.execute(
            """SELECT c.relname, k.conname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
               JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE n.nspname = %s AND pn.nspname = %s
                 AND k.contype = 'f'""",
            (schema, schema),
        ):
            facts.foreign_keys[(child, name)] = parent
        rows = conn.execute(
            """SELECT c.relname, c.reltuples::bigint, c.relpages, pg_total_relation_size(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'm')""",
            (schema, wanted),
        ).fetchall()
        for name, reltuples, relpages, size in rows:
            # reltuples is -1 until the first VACUUM/ANALYZE (PostgreSQL 14+); 0 with pages means stale.
            estimate = int(reltuples) if reltuples is not None and reltuples >= 0 else None
            if estimate == 0 and relpages:
                estimate = None
            facts.tables[name] = TableFacts(name, estimate, False, int(size or 0))
        if facts.tables:
            for table, column, type_, not_null, has_default in conn.execute(
                """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
                   ORDER BY c.relname, a.attnum""",
                (schema, list(facts.tables)),
            ):
                facts.tables[table].columns[column] = ColumnFacts(type_, bool(not_null), bool(has_default))
            for table, name, contype, columns in conn.execute(
                """SELECT c.relname, k.conname, k.contype::text,
                          ARRAY(SELECT a.attname FROM unnest(k.conkey) n JOIN pg_attribute a
                                ON a.attrelid = k.conrelid AND a.attnum = n)::text[]
                   FROM pg_constraint k
                   JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = %s AND c.relname = ANY(%s)""",
                (schema, list(facts.tables)),
            ):
                facts.tables[table].constraints[name] = contype
                if columns:
                    facts.tables[table].constraint_columns[name] = tuple(columns)
            _exact_counts(conn, facts)
    return facts


def _exact_counts(conn: "psycopg.Connection", facts: SchemaFacts) -> None:
    small = [
        t for t in facts.tables.values()
        if (t.rows is None or t.rows <= EXACT_COUNT_MAX_ROWS) and t.size_bytes <= EXACT_COUNT_MAX_BYTES
    ]
    if not small:
        return
    queries = {t.name: sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(facts.schema, t.name)) for t in small}
    for name, count in run_counts(conn, queries).items():
        facts.tables[name].rows = count
        facts.tables[name].exact = True


def run_counts(conn: "psycopg.Connection", queries: dict[str, sql.Composable]) -> dict[str, int]:
    """Run many `SELECT count(*) ...` as one statement; a query that fails is left out, not fatal."""
    if not queries:
        return {}
    keys = list(queries)
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}::int, ({})").format(sql.Literal(i), queries[key]) for i, key in enumerate(keys)
    )
    results: dict[str, int] = {}
    with _read_only(conn):
        try:
            with conn.transaction():
                for position, count in conn.execute(union):
                    results[keys[position]] = int(count)
            return results
        except pgerrors.QueryCanceled:
            return results  # the live database is busier than the estimates said: leave the counts out
        except Exception:  # one bad query (a type mismatch) must not lose the others
            pass
        for key in keys:
            try:
                with conn.transaction():
                    row = conn.execute(queries[key]).fetchone()
                    if row is not None:
                        results[key] = int(row[0])
            except pgerrors.QueryCanceled:
                break
            except Exception:
                continue
    return results


class _read_only:
    """A read-only transaction with a short statement timeout (or a savepoint inside one)."""

    def __init__(self, conn: "psycopg.Connection") -> None:
        self.conn = conn
        self.tx = None

    def __enter__(self) -> None:
        outer = self.conn.info.transaction_status == 0  # idle: not inside a transaction yet
        self.tx = self.conn.transaction()
        self.tx.__enter__()
        if outer:
            self.conn.execute("SET TRANSACTION READ ONLY")
        self.conn.execute(
            sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(str(FACTS_STATEMENT_TIMEOUT_MS)))
        )

    def __exit__(self, *exc: object) -> None:
        assert self.tx is not None
        self.tx.__exit__(*exc)  # type: ignore[arg-type]
