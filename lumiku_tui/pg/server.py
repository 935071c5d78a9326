"""Facts about the server a deploy is about to write to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumiku_tui.errors import ReadOnlyTarget

if TYPE_CHECKING:
    import psycopg

    from lumiku_tui.pg.target import Target


@dataclass(frozen=True)
class ServerInfo:
    version: str  # e.g. "16.4"
    version_num: int
    database: str
    user: str
    in_recovery: bool  # a hot-standby replica
    read_only: bool  # default_transaction_read_only for this session
    pid: int
    #: current_schema(): where unqualified names go, so where `_prisma_migrations` is (None: no schema).
    schema: str | None = None

    @property
    def writable(self) -> bool:
        return not (self.in_recovery or self.read_only)


def server_info(conn: "psycopg.Connection") -> ServerInfo:
    row = conn.execute(
        """SELECT current_setting('server_version'), current_setting('server_version_num')::int,
                  current_database(), current_user, pg_is_in_recovery(),
                  current_setting('default_transaction_read_only') = 'on', pg_backend_pid(), current_schema()"""
    ).fetchone()
    assert row is not None
    version, num, database, user, recovery, read_only, pid, schema = row
    return ServerInfo(version.split(" ")[0], num, database, user, recovery, read_only, pid, schema)


def require_writable(facts: ServerInfo, target: "Target") -> None:
    if facts.in_recovery:
        raise ReadOnlyTarget(
            f"{target.display} is a read-only replica (the server is in recovery).",
            why="Migrations must run on the primary; nothing was applied.",
            hint="Point DATABASE_URL (or DIRECT_URL) at the primary database.",
        )
    if facts.read_only:
        raise ReadOnlyTarget(
            f"{target.display} refuses writes: default_transaction_read_only is on for this session.",
            why="It is set for this user or database (or the server); nothing was applied.",
            hint=f'Connect as a user allowed to write, or run ALTER ROLE "{facts.user}" SET '
            "default_transaction_read_only = off as an administrator.",
        )


#: Where Prisma's schema engine goes to create a missing database, in its order.
MAINTENANCE_DATABASES = ("postgres", "template1", "defaultdb")


def _missing_database_error(err: Exception, dbname: str) -> bool:
    text = f"{getattr(err, 'what', '')} {getattr(err, 'why', '')}"
    return f'database "{dbname}" does not exist' in text


def connect_unless_missing(target: "Target", purpose: str = "observe") -> "psycopg.Connection | None":
    """A connection to the URL's database, or None when the server says it does not exist (other failures
    are raised)."""
    from lumiku_tui.errors import TargetError

    try:
        return target.connect(purpose)
    except TargetError as err:
        if _missing_database_error(err, target.dbname):
            return None
        raise


def database_missing(target: "Target") -> bool:
    """Whether the URL's database does not exist (the server says so); other failures are raised."""
    conn = connect_unless_missing(target)
    if conn is None:
        return True
    conn.close()
    return False


def ensure_database(target: "Target") -> bool:
    """Create the URL's database when it does not exist, as Prisma's `migrate deploy` does; True if created.

    Like Prisma, connects with the same credentials to `postgres`, else `template1`, else `defaultdb`,
    and runs CREATE DATABASE. Call it only after the operator approved the creation.
    """
    from psycopg import errors, sql

    from lumiku_tui.errors import TargetError

    if not database_missing(target):
        return False
    last: TargetError | None = None
    for name in MAINTENANCE_DATABASES:
        try:
            conn = target.with_database(name).connect("create database")
        except TargetError as err:
            last = err
            continue
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))
        except errors.DuplicateDatabase:
            return False  # created meanwhile by someone else: it exists, which is what was asked
        except errors.InsufficientPrivilege:
            raise TargetError(
                f"The database {target.dbname} does not exist and user {target.user} may not create it.",
                why="Prisma's migrate deploy would create it; this user lacks the CREATEDB privilege.",
                hint=f"Create it as an administrator (CREATE DATABASE \"{target.dbname}\" OWNER \"{target.user}\"), "
                "then deploy again.",
            ) from None
        finally:
            conn.close()
        return True
    raise TargetError(
        f"The database {target.dbname} does not exist, and no maintenance database "
        f"({', '.join(MAINTENANCE_DATABASES)}) accepted a connection to create it from.",
        why=last.why if last else None,
        hint="Create the database as an administrator, then deploy again.",
    )
