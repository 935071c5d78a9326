"""Prisma's advisory lock and the sessions that hold locks we wait for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lumiku_tui.redact import redact

if TYPE_CHECKING:
    import psycopg

#: The key `prisma migrate` takes with pg_advisory_lock, so deploys serialize with Prisma's.
ADVISORY_LOCK_KEY = 72707369
from lumiku_tui.defaults import PRISMA_LOCK_WAIT_S  # noqa: E402  (re-exported)

@dataclass(frozen=True)
class Backend:
    """Another backend, as far as pg_stat_activity tells (for lock holders and blockers)."""

    pid: int
    application_name: str
    user: str
    client: str
    state: str
    backend_start: datetime | None
    state_change: datetime | None
    query: str
    lock_mode: str = ""

    def describe(self) -> str:
        who = self.application_name or "an unnamed client"
        where = f" from {self.client}" if self.client else " over a local socket"
        since = f", connected since {self.backend_start:%Y-%m-%d %H:%M:%S %Z}" if self.backend_start else ""
        state = f", {self.state}" if self.state else ""
        query = f"; last query: {self.query}" if self.query else ""
        return f"pid {self.pid} ({who}, user {self.user}{where}{since}{state}){query}"



_SESSION_COLUMNS = """a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
       coalesce(host(a.client_addr), ''), coalesce(a.state, ''), a.backend_start, a.state_change,
       left(coalesce(a.query, ''), 300)"""


_PASSWORD_LITERAL = re.compile(r"(PASSWORD\s*)'(?:[^']|'')*'?", re.IGNORECASE)
_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)('[^']*'?|\S+)", re.IGNORECASE)


def scrub_query(query: str) -> str:
    """Another session's query, with password literals (ALTER ROLE ... PASSWORD, dblink) masked."""
    query = _PASSWORD_LITERAL.sub(r"\1'***'", " ".join(query.split()))
    return redact(_PASSWORD_PARAM.sub(r"\1***", query))


def _sessions(rows) -> tuple[Backend, ...]:  # type: ignore[no-untyped-def]
    return tuple(
        Backend(pid, app, user, client, state, started, changed, scrub_query(query), *rest)
        for pid, app, user, client, state, started, changed, query, *rest in rows
    )


def advisory_lock_holders(conn: "psycopg.Connection") -> tuple[Backend, ...]:
    """Sessions holding Prisma's migration lock in the current database."""
    # A bigint key is split over classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    rows = conn.execute(
        f"""SELECT {_SESSION_COLUMNS}, l.mode
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.classid = %s AND l.objid = %s
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
        (ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFFFFFF),
    ).fetchall()
    return _sessions(rows)


def blockers_of(conn: "psycopg.Connection", pid: int) -> tuple[Backend, ...]:
    """Sessions holding a lock that backend `pid` waits for."""
    rows = conn.execute(
        f"""SELECT {_SESSION_COLUMNS}
        FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids(%s)) ORDER BY a.pid""",
        (pid,),
    ).fetchall()
    return _sessions(rows)


def try_advisory_lock(conn: "psycopg.Connection") -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def advisory_unlock(conn: "psycopg.Connection") -> None:
    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def terminate_backend(conn: "psycopg.Connection", pid: int) -> bool:
    """End another session (its open transaction rolls back). Only after the operator confirms."""
    row = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
    return bool(row and row[0])


def relation_lock_holders(conn: "psycopg.Connection", qualified_name: str) -> tuple[Backend, ...]:
    """Sessions holding a granted lock on a table (for a read that timed out waiting for it)."""
    rows = conn.execute(
        f"""SELECT {_SESSION_COLUMNS}, l.mode
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.granted AND l.relation = to_regclass(%s)
          AND a.pid <> pg_backend_pid()""",
        (qualified_name,),
    ).fetchall()
    return _sessions(rows)
