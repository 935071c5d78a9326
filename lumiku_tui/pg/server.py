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
