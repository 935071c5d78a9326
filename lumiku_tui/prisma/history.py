"""Prisma's `_prisma_migrations` table: its DDL, reads and writes, as Prisma issues them.

A row is written exactly as Prisma's schema engine writes it, so `prisma migrate
status` and lumiku-tui read the same history. One deliberate difference in *when*:
for a transactional migration the row is inserted and finished inside the migration's
own transaction, so a crash can never leave a row claiming work that did not commit. A
migration that commits in parts (its own COMMITs) gets its row with the first part and
finishes it with the last; see "migrations that commit in parts" below.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from psycopg import sql

from lumiku_tui.errors import LockTimeout, LumikuError, TargetError
from lumiku_tui.pg import locks
from lumiku_tui.redact import redact

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.pg.target import Target

TABLE = "_prisma_migrations"


def _table(schema: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TABLE))


def create_table_sql(schema: str) -> sql.Composed:
    return sql.SQL(
        """CREATE TABLE {} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)"""
    ).format(_table(schema))


@dataclass(frozen=True)
class HistoryRow:
    id: str
    checksum: str
    finished_at: datetime | None
    migration_name: str
    logs: str | None
    rolled_back_at: datetime | None
    started_at: datetime
    applied_steps_count: int

    @property
    def is_applied(self) -> bool:
        return self.finished_at is not None and self.rolled_back_at is None

    @property
    def is_failed(self) -> bool:
        return self.finished_at is None and self.rolled_back_at is None

    @property
    def is_rolled_back(self) -> bool:
        return self.rolled_back_at is not None


def table_exists(conn: "psycopg.Connection", schema: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s)",
        (schema, TABLE),
    ).fetchone()
    return bool(row and row[0])


def schema_exists(conn: "psycopg.Connection", schema: str) -> bool:
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %s)", (schema,)).fetchone()
    return bool(row and row[0])


def ensure_table(conn: "psycopg.Connection", schema: str) -> bool:
    """Create the schema and history table when missing, as `prisma migrate deploy` does.

    Returns True when something was created.
    """
    created = False
    with conn.transaction():
        if not schema_exists(conn, schema):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            created = True
        if not table_exists(conn, schema):
            conn.execute(create_table_sql(schema))
            created = True
    return created


def read_rows(conn: "psycopg.Connection", schema: str, *, known_to_exist: bool = False) -> list[HistoryRow]:
    """All rows, oldest first, the order Prisma loads them in. Empty when there is no table."""
    if not known_to_exist and not table_exists(conn, schema):
        return []
    cur = conn.execute(
        sql.SQL(
            "SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, "
            "applied_steps_count FROM {} ORDER BY started_at ASC"
        ).format(_table(schema))
    )
    return [HistoryRow(*row) for row in cur.fetchall()]


#: Tables PostGIS creates, which Prisma's emptiness check ignores (matched case-insensitively).
POSTGIS_TABLES = ("spatial_ref_sys", "geometry_columns", "geography_columns", "raster_columns", "raster_overviews")


def other_tables(conn: "psycopg.Connection", schema: str) -> list[str]:
    """Tables that make the schema "not empty" for Prisma's P3005, as its schema engine counts them.

    Only ordinary tables (relkind 'r': unlogged ones and partitions too) of the schema count; a
    partitioned parent, a view, a foreign table, a sequence or a type does not, nor do PostGIS's tables.
    Measured with the pinned Prisma CLI (tests/db/test_prisma_fidelity.py).
    """
    rows = conn.execute(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> %s
             AND lower(c.relname) <> ALL(%s) ORDER BY 1 LIMIT 6""",
        (schema, TABLE, list(POSTGIS_TABLES)),
    ).fetchall()
    return [r[0] for r in rows]


def new_id() -> str:
    return str(uuid.uuid4())


def insert_started_sql(schema: str, row_id: str, name: str, checksum: str) -> sql.Composed:
    """The started row, with its values written in (for a script sent as one message)."""
    return sql.SQL("INSERT INTO {} (id, checksum, started_at, migration_name) VALUES ({}, {}, now(), {})").format(
        _table(schema), sql.Literal(row_id), sql.Literal(checksum), sql.Literal(name))


def record_success_sql(schema: str, row_id: str) -> sql.Composed:
    """One successful step, then finished: Prisma counts the whole script as one step."""
    return sql.SQL(
        "UPDATE {} SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() WHERE id = {}"
    ).format(_table(schema), sql.Literal(row_id))


def insert_started(conn: "psycopg.Connection", schema: str, row_id: str, name: str, checksum: str) -> None:
    conn.execute(insert_started_sql(schema, row_id, name, checksum))


def record_success(conn: "psycopg.Connection", schema: str, row_id: str) -> None:
    conn.execute(record_success_sql(schema, row_id))


def record_failure(conn: "psycopg.Connection", schema: str, row_id: str, logs: str) -> None:
    conn.execute(sql.SQL("UPDATE {} SET logs = %s WHERE id = %s").format(_table(schema)), (logs, row_id))


def insert_failed(conn: "psycopg.Connection", schema: str, name: str, checksum: str, logs: str) -> str:
    """A failed attempt as Prisma leaves it: started, not finished, not rolled back, the error in logs."""
    row_id = new_id()
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, checksum, started_at, migration_name, logs, applied_steps_count) "
            "VALUES (%s, %s, now(), %s, %s, 0)"
        ).format(_table(schema)),
        (row_id, checksum, name, logs),
    )
    return row_id


def insert_applied(conn: "psycopg.Connection", schema: str, name: str, checksum: str) -> str:
    """What `prisma migrate resolve --applied` writes: empty logs, started = finished, no steps."""
    row_id = new_id()
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, checksum, logs, started_at, finished_at, migration_name, applied_steps_count) "
            "VALUES (%s, %s, '', now(), now(), %s, 0)"
        ).format(_table(schema)),
        (row_id, checksum, name),
    )
    return row_id


# --- migrations that commit in parts ------------------------------------------------------------
#
# A migration whose script commits on its own runs in parts, one transaction each. Its row is
# inserted with the first part and finished only with the last, so between parts Prisma reads it
# as failed (started, not finished: P3009), which is the truth: part of it is in the database.
# `applied_steps_count` counts the committed parts, and the logs list each committed part with the
# checksum of its text, so a later run can resume after them, and only if they are unchanged.

_PROGRESS_HEAD = "lumiku-tui: this migration commits in {total} parts; the row is finished when the last one commits."
_PART_LINE = re.compile(
    r"^part (?P<number>\d+)/(?P<total>\d+) committed(?P<earlier> earlier)?: lines (?P<first>\d+)-(?P<last>\d+), "
    r"sha256 (?P<checksum>[0-9a-f]{64})(?:; (?P<note>[^\n]*))?$", re.MULTILINE)
_REASON = re.compile(r"^\(recorded by lumiku-tui: (?P<reason>[a-z_]+)\)$", re.MULTILINE)


@dataclass(frozen=True)
class CommittedPart:
    number: int
    total: int
    first_line: int
    last_line: int
    checksum: str
    earlier: bool = False  # written by versions that resumed after a rolled-back row; read, never written now
    #: What the run that wrote the logs did with this part: "ran in this run", or why it was skipped.
    note: str = ""


@dataclass(frozen=True)
class PartsProgress:
    """What a row's logs say about a migration that commits in parts."""

    committed: tuple[CommittedPart, ...]
    #: Why the last attempt stopped, as recorded (sql_error, lock_timeout, ...); None: it was cut off.
    stopped_by: str | None

    @property
    def count(self) -> int:
        return len(self.committed)


def progress_logs(total: int, committed: "list[CommittedPart]", run: str = "") -> str:
    """`run`: one line on what the run writing the logs did (resumed, and why), when it resumed."""
    lines = [_PROGRESS_HEAD.format(total=total)]
    if run:
        lines.append(f"lumiku-tui: {run}")
    for part in committed:
        lines.append(f"part {part.number}/{part.total} committed{' earlier' if part.earlier else ''}: "
                     f"lines {part.first_line}-{part.last_line}, sha256 {part.checksum}"
                     + (f"; {part.note}" if part.note else ""))
    return "\n".join(lines) + "\n"


def parse_progress(logs: str | None) -> PartsProgress | None:
    """The committed parts a row's logs record; None when the row is not a migration in parts."""
    if not logs or not logs.startswith("lumiku-tui: this migration commits in "):
        return None
    committed = tuple(
        CommittedPart(int(m["number"]), int(m["total"]), int(m["first"]), int(m["last"]), m["checksum"],
                      bool(m["earlier"]), m["note"] or "")
        for m in _PART_LINE.finditer(logs))
    reason = _REASON.search(logs)
    return PartsProgress(committed, reason["reason"] if reason else None)


def record_parts(conn: "psycopg.Connection", schema: str, row_id: str, committed: int, logs: str | None,
                 *, finished: bool, checksum: str | None = None) -> None:
    """Inside the part's own transaction: it counts once that part commits.

    `checksum`: the file's checksum now, for a resumed row whose later parts were fixed since it was
    inserted, so that Prisma, once the row is finished, reads it as the file that is applied."""
    finish = sql.SQL(", finished_at = clock_timestamp()") if finished else sql.SQL("")
    if checksum is not None:
        finish = sql.SQL(", checksum = {}").format(sql.Literal(checksum)) + finish
    conn.execute(
        sql.SQL("UPDATE {} SET applied_steps_count = %s, logs = %s{} WHERE id = %s").format(_table(schema), finish),
        (committed, logs, row_id),
    )


def is_finished(conn: "psycopg.Connection", schema: str, row_id: str) -> bool | None:
    """Whether the row is finished; None when there is no such row."""
    row = conn.execute(sql.SQL("SELECT finished_at IS NOT NULL FROM {} WHERE id = %s").format(_table(schema)),
                       (row_id,)).fetchone()
    return None if row is None else bool(row[0])


def mark_rolled_back(conn: "psycopg.Connection", schema: str, row_id: str) -> None:
    conn.execute(sql.SQL("UPDATE {} SET rolled_back_at = now() WHERE id = %s").format(_table(schema)), (row_id,))


def from_database_error(target: "Target", exc: Exception, *, reading: bool = False) -> LumikuError:
    """A server error outside any migration (lock wait, history read, set-up), with a next step.

    `reading`: the error came while only reading the history (status), not in a deploy."""
    from psycopg import errors as pgerrors

    message = redact(str(getattr(getattr(exc, "diag", None), "message_primary", None) or exc).strip())
    if reading and isinstance(exc, pgerrors.InsufficientPrivilege):
        return TargetError(
            f"The database refused to let role `{target.user}` read the migration history: {message}.",
            why=f"Reading `{target.schema}`.{TABLE} needs USAGE on the schema and SELECT on the table. "
            "Nothing was changed.",
            hint=f'Grant it: GRANT USAGE ON SCHEMA "{target.schema}" TO "{target.user}"; GRANT SELECT ON '
            f'"{target.schema}".{TABLE} TO "{target.user}"; or connect as the role that deploys.',
        )
    if reading and getattr(exc, "sqlstate", None) and not isinstance(
            exc, (pgerrors.LockNotAvailable, pgerrors.AdminShutdown, pgerrors.CrashShutdown)):
        return TargetError(
            f"The database refused to let lumiku-tui read the migration history: {message}.",
            why=f"SQLSTATE {getattr(exc, 'sqlstate', '')}. Nothing was changed.",
            hint="`lumiku-tui doctor` diagnoses the connection and privileges.",
        )
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return TargetError(
            f"The database refused the deploy before any migration ran: {message}.",
            why=f"Role `{target.user}` may not create or change the history table in schema `{target.schema}`. "
            "Nothing was applied.",
            hint=f'Grant it: GRANT CREATE, USAGE ON SCHEMA "{target.schema}" TO "{target.user}"; or run as the '
            "schema's owner. `lumiku-tui doctor` checks every privilege a deploy needs.",
        )
    if isinstance(exc, pgerrors.LockNotAvailable):
        holders = "another session"
        try:
            with target.connect("observe") as conn:
                found = locks.relation_lock_holders(conn, f'"{target.schema}".{TABLE}')
            holders = "; ".join(h.describe() for h in found) or holders
        except Exception:
            pass
        return LockTimeout(
            "The history table _prisma_migrations is locked by another session; nothing was applied.",
            why=f"Held by {holders}.",
            hint="Wait for that session to finish (or end it from the wizard's lock screen) and run again.",
        )
    if isinstance(exc, (pgerrors.AdminShutdown, pgerrors.CrashShutdown)) or getattr(exc, "sqlstate", None) is None:
        return TargetError(
            f"The connection to {target.display} was lost before any migration started: {message}.",
            why="Nothing was applied.",
            hint="Check that the server is up (`lumiku-tui doctor`), then run the deploy again.",
        )
    return TargetError(
        f"The database refused the deploy before any migration ran: {message}.",
        why=f"SQLSTATE {getattr(exc, 'sqlstate', '')}. Nothing was applied.",
        hint="`lumiku-tui doctor` diagnoses the connection and privileges.",
    )
