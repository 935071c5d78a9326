"""Did the applied migrations leave what their SQL says? Expected objects vs the live catalog.

`checks.expectations` replays the migrations into the objects they should leave; here
`verify_migrations` reports the ones owned by the migrations asked about, compared with
the catalog in one query per kind of object, each after its migration's history row.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Sequence

from lumiku_tui.verification.expectations import Expectations, _Constraint, expectations_of
from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.names import qualified_name, quote_ident

if TYPE_CHECKING:

    import psycopg

    from lumiku_tui.prisma.folder import MigrationsFolder
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
        name = qualified_name(key[0], key[1], default)
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
            checks.append(Check(index.owner, "index", qualified_name(key[0], key[1], default), want, found, ok))

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
            checks.append(Check(con.owner, "constraint", f"{qualified_name(key[0], key[1], default)}.{quote_ident(key[2])}",
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
            checks.append(Check(owner, "enum", qualified_name(key[0], key[1], default), want, found, found == want))
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
