"""Who holds Prisma's migration lock, and ending that session once the operator has confirmed it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

from lumiku_tui.errors import LumikuError
from lumiku_tui.pg import locks
from lumiku_tui.pg.locks import Backend
from lumiku_tui.redact import redact

if TYPE_CHECKING:
    from lumiku_tui.pg.target import Target


class JournalAppend(Protocol):
    """Where a done change is written (lumiku_tui.journal.Journal; a lower layer does not import it)."""

    def append(self, kind: str, **fields: Any) -> object: ...


class SessionError(LumikuError):
    """A session could not be ended: it is gone, or the role may not end it."""

    code = "diagnose"


def advisory_lock_report(target: "Target") -> tuple[Backend, ...]:
    """Who holds Prisma's migration lock in the target database (empty when nobody)."""
    with target.connect("doctor") as conn:
        return locks.advisory_lock_holders(conn)


def end_session(target: "Target", pid: int, journal: "JournalAppend | None" = None) -> bool:
    """End backend `pid` (its open transaction rolls back). Call only after the operator confirmed.

    With a journal, the session ended (its pid, client and query) is written before this returns.
    """
    import psycopg

    with target.connect("doctor") as conn:
        row = conn.execute(
            "SELECT pg_backend_pid(), (SELECT array[application_name, usename::text, query] FROM pg_stat_activity "
            "WHERE pid = %s AND datname = current_database())", (pid,)).fetchone()
        assert row is not None
        _own, seen = row
        exists = seen is not None
        if not exists:
            raise SessionError(f"No session with pid {pid} is connected to {target.dbname}.",
                               hint="It may have ended already; look at the lock holders again.")
        holding = getattr(journal, "exclusive", None)
        try:
            # The journal is held across the end and its entry: a deploy that was waiting behind the session
            # goes on at once, and what it journals next must come after the end that let it.
            with holding() if holding is not None else contextlib.nullcontext(
                    journal.append if journal is not None else None) as write:
                ended = locks.terminate_backend(conn, pid)
                if write is not None:
                    write("session_ended", ended_pid=pid, application_name=seen[0], user=seen[1],
                          query=seen[2], ok=ended)
            return ended
        except psycopg.errors.InsufficientPrivilege as exc:
            raise SessionError(
                f"{target.user} may not end session {pid}.",
                why=redact(exc.diag.message_primary or str(exc)),
                hint=f"Ask an administrator to run SELECT pg_terminate_backend({pid}); or grant "
                f'pg_signal_backend to "{target.user}".',
            ) from None
