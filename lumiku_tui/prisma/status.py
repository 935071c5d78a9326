"""The local folder and the history table, joined into one state per migration.

The states follow Prisma's own reading of `_prisma_migrations`:
- a row with `finished_at` set and `rolled_back_at` unset means applied;
- a row with neither set means failed (Prisma's P3009 blocks deploys while it stays);
- rows that are all rolled back mean the migration will be applied again;
- an applied row whose checksum no longer matches the file means modified;
- an applied row with no folder means missing locally; a failed row blocks whether or not its
  folder is still there (Prisma's P3009 reads the table only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from lumiku_tui.prisma.history import HistoryRow, read_rows
from lumiku_tui.prisma.folder import LocalMigration, MigrationsFolder, prisma_sort_key

if TYPE_CHECKING:
    from lumiku_tui.pg.target import Target


class State(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    MODIFIED = "modified"
    MISSING_LOCALLY = "missing_locally"

    @property
    def will_apply(self) -> bool:
        return self in (State.PENDING, State.ROLLED_BACK)


@dataclass(frozen=True)
class MigrationStatus:
    name: str
    state: State
    checksum_ok: bool | None
    started_at: datetime | None
    finished_at: datetime | None
    local: LocalMigration | None = field(default=None, repr=False)
    rows: tuple[HistoryRow, ...] = field(default=(), repr=False)

    @property
    def failed_row(self) -> HistoryRow | None:
        return next((r for r in reversed(self.rows) if r.is_failed), None)

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "checksum_ok": self.checksum_ok,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class StatusReport:
    target_display: str
    schema: str
    folder: MigrationsFolder
    migrations: tuple[MigrationStatus, ...]
    history_table_exists: bool
    #: The Prisma Next ledger found in this database (e.g. `prisma_contract.marker`), or None.
    prisma_next_ledger: str | None = None

    def in_state(self, *states: State) -> list[MigrationStatus]:
        return [m for m in self.migrations if m.state in states]

    @property
    def to_apply(self) -> list[MigrationStatus]:
        return [m for m in self.migrations if m.state.will_apply]

    @property
    def failed(self) -> list[MigrationStatus]:
        return self.in_state(State.FAILED)

    @property
    def up_to_date(self) -> bool:
        return all(m.state is State.APPLIED for m in self.migrations)

    @property
    def managed(self) -> bool:
        """Whether Prisma Migrate manages this database: a history table, or migrations to give it one.

        With neither, `prisma migrate status` says NOT_MANAGED and exits 1 rather than "up to date".
        """
        return self.history_table_exists or bool(self.folder.migrations)

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target_display,
            "schema": self.schema,
            "prisma_next_ledger": self.prisma_next_ledger,
            "managed": self.managed,
            "up_to_date": self.up_to_date and self.managed,
            "migrations": [m.to_dict() for m in self.migrations],
        }


#: Prisma's words (migrate status) for a database with no history table and no local migrations.
NOT_MANAGED = "The current database is not managed by Prisma Migrate."
NOT_MANAGED_HINT = ("There is no _prisma_migrations table and no migration in the folder. To adopt an existing "
                    "database, baseline it: create its first migration, then `lumiku-tui resolve --applied NAME` "
                    "(Prisma: https://pris.ly/d/migrate-baseline).")


def classify(folder: MigrationsFolder, rows: list[HistoryRow]) -> tuple[MigrationStatus, ...]:
    rows_by_name: dict[str, list[HistoryRow]] = {}
    for row in rows:
        rows_by_name.setdefault(row.migration_name, []).append(row)
    local_by_name = folder.by_name()
    names = sorted(set(local_by_name) | set(rows_by_name), key=prisma_sort_key)
    result: list[MigrationStatus] = []
    for name in names:
        local = local_by_name.get(name)
        its_rows = tuple(rows_by_name.get(name, ()))
        applied = [r for r in its_rows if r.is_applied]
        failed = [r for r in its_rows if r.is_failed]
        if failed:
            row = failed[-1]
            ok = local.matches(row.checksum) if local is not None else None
            result.append(MigrationStatus(name, State.FAILED, ok, row.started_at, None, local, its_rows))
        elif local is None:
            if not applied:
                continue  # only rolled-back attempts of a removed migration: nothing to report
            row = applied[-1]
            result.append(MigrationStatus(name, State.MISSING_LOCALLY, None, row.started_at, row.finished_at,
                                          None, its_rows))
        elif applied:
            row = applied[-1]
            ok = local.matches(row.checksum)
            result.append(MigrationStatus(name, State.APPLIED if ok else State.MODIFIED, ok, row.started_at,
                                          row.finished_at, local, its_rows))
        elif its_rows:
            row = its_rows[-1]
            result.append(MigrationStatus(name, State.ROLLED_BACK, None, row.started_at, None, local, its_rows))
        else:
            result.append(MigrationStatus(name, State.PENDING, None, None, None, local, ()))
    return tuple(result)


#: Prisma Next keeps its state in these tables instead of `_prisma_migrations` (and takes another lock).
PRISMA_NEXT_TABLES = ("prisma_contract.marker", "prisma_contract.ledger")


def prisma_next_ledger(conn) -> str | None:  # type: ignore[no-untyped-def]
    """The first Prisma Next control table that exists, or None. Only read: lumiku-tui never writes to it.

    Asked of the catalog, which every role may read (the app's role may have no rights on that schema).
    """
    names = [name.split(".") for name in PRISMA_NEXT_TABLES]
    rows = conn.execute(
        """SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest(%s::text[], %s::text[]))""",
        ([schema for schema, _ in names], [table for _, table in names]),
    ).fetchall()
    found = {row[0] for row in rows}
    return next((name for name in PRISMA_NEXT_TABLES if name in found), None)


def prisma_next_notice(ledger: str, schema: str, history_exists: bool) -> str:
    if history_exists:
        return (f"This database also holds Prisma Next's ledger ({ledger}); lumiku-tui reads and writes only "
                f"Prisma ORM's {schema}._prisma_migrations and leaves that ledger alone.")
    return (f"This database is managed by Prisma Next ({ledger} exists, no _prisma_migrations in `{schema}`): "
            "lumiku-tui works with Prisma ORM's _prisma_migrations only and will not deploy here.")


def read_status(target: "Target", folder: MigrationsFolder, conn=None) -> StatusReport:  # type: ignore[no-untyped-def]
    """Read the history (one query) and classify. Opens a connection when none is given."""
    from lumiku_tui.prisma.history import table_exists

    import psycopg

    from lumiku_tui.defaults import HISTORY_LOCK_TIMEOUT_S
    from lumiku_tui.prisma.history import from_database_error

    own = conn is None
    if own:
        conn = target.connect("status")
    try:
        if own:
            # A session holding the history table must not make status hang without a word.
            conn.execute(f"SET lock_timeout = '{int(HISTORY_LOCK_TIMEOUT_S * 1000)}ms'")
        exists = table_exists(conn, target.schema)
        rows = read_rows(conn, target.schema, known_to_exist=True) if exists else []
        ledger = prisma_next_ledger(conn)
    except psycopg.Error as exc:
        raise from_database_error(target, exc, reading=True) from None
    finally:
        if own:
            conn.close()
    return StatusReport(target.display, target.schema, folder, classify(folder, rows), exists, ledger)
