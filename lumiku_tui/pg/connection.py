"""Connections on which every wait for the server has a deadline.

libpq waits for a reply for ever: on a network that stops answering without a reset (a
firewall dropping packets, a frozen proxy), TCP keepalives notice only when nothing is in
flight and only after tens of seconds, and a userspace hop that keeps acknowledging hides the
loss entirely. So each wait on a `BoundedConnection` is given up after `reply_deadline_s`:
the connection is closed and the caller gets an `OperationalError` saying the server went
silent, which every layer already treats as a lost connection.
"""

from __future__ import annotations

import logging
import os
import socket
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg

from lumiku_tui.defaults import REPLY_DEADLINE_S

# psycopg logs, as a warning with its own objects' repr ("error ignored terminating <psycopg.Pipeline
# [BAD] ...>"), errors it drops while leaving a pipeline on a failed connection; the error that
# matters is raised to the caller and reported from there. Without a handler, Python would print it.
logging.getLogger("psycopg").addHandler(logging.NullHandler())


class ServerWentSilent(psycopg.OperationalError):
    """No reply from the server within the deadline; the connection was closed."""


class BoundedConnection(psycopg.Connection[Any]):
    #: The longest wait for any reply; None while something else guards the wait (a statement
    #: whose watcher asks the server, from a second connection, whether it is still at work).
    reply_deadline_s: float | None = REPLY_DEADLINE_S
    #: Set once a deadline cut the link, so an error can say "went silent" rather than "closed".
    went_silent: bool = False

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:  # noqa: D102
        limit = timeout if timeout is not None else self.reply_deadline_s
        try:
            return super().wait(gen, interval, limit)
        except psycopg.OperationalError as exc:
            # psycopg's own timeout is a private subclass: tell it apart by the deadline having passed.
            if limit is None or type(exc).__name__ != "_WaitTimeout":
                raise
            self.went_silent = True
            self.pgconn.finish()  # mid-protocol: the connection cannot be used again
            raise ServerWentSilent(
                f"no reply from the server within {limit:g} s: the network or the server went silent, "
                "and the connection was closed") from None


@contextmanager
def reply_deadline(conn: psycopg.Connection[Any], seconds: float | None) -> Iterator[None]:
    """Wait up to `seconds` (None: without a deadline) for the replies inside the block."""
    if not isinstance(conn, BoundedConnection):
        yield
        return
    previous = conn.reply_deadline_s
    conn.reply_deadline_s = seconds
    try:
        yield
    finally:
        conn.reply_deadline_s = previous


def cut(conn: psycopg.Connection[Any]) -> None:
    """Shut the connection's socket down, so a read blocked on it in another thread returns at once."""
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    except (OSError, psycopg.Error):
        pass
