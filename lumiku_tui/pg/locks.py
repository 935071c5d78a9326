"""Prisma's advisory lock and the sessions that hold locks we wait for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from lumiku_tui.pg.names import comment_end
from lumiku_tui.redact import MASK, redact

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


_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)('[^']*'?|\S+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(://[^/@\s:]*:)[^\s'\"]*@")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_ASSIGN = ("=", "=>", ":=")
_STRING_PREFIX = re.compile(r"(?:[EeNnBbXx]|[Uu]&)?'")
_OPERATOR = re.compile(r"[=:<>!~+*/%^&|#@?-]+")


def _string_end(query: str, body: int, backslash_escapes: bool) -> int | None:
    """Offset of the closing quote of a '...' string whose body starts at `body`; None if cut off."""
    i, n = body, len(query)
    while i < n:
        char = query[i]
        if char == "\\" and backslash_escapes:
            i += 2
        elif char == "'":
            if query.startswith("''", i):
                i += 2
            else:
                return i
        else:
            i += 1
    return None  # cut off (pg_stat_activity shows a prefix): the rest of the text is the string


def _lex(query: str):  # type: ignore[no-untyped-def]
    """The string literals of `query`: (body start, body end, whether it follows PASSWORD).

    Written by hand rather than with PostgreSQL's scanner because the query may be cut in the
    middle of a string or comment, where a scanner gives up and a secret would stay unread.
    """
    i, n = 0, len(query)
    previous: list[str] = []  # the last two significant tokens, upper-cased
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
            continue
        skipped = comment_end(query, i)
        if skipped is not None:
            i = skipped
            continue
        after_password = bool(previous) and (previous[-1].endswith("PASSWORD") or (
            previous[-1] in _ASSIGN and len(previous) > 1 and previous[-2].endswith("PASSWORD")))
        prefix = _STRING_PREFIX.match(query, i)
        if prefix:
            body = prefix.end()
            # A secret may have been written for standard_conforming_strings = off: read the longer extent.
            escapes = after_password or prefix.group(0)[0] in "Ee"
            close = _string_end(query, body, escapes)
            yield body, n if close is None else close, after_password
            end = n if close is None else close + 1
            token = "'"
        elif char == "$" and (tag := _DOLLAR_TAG.match(query, i)):
            body = tag.end()
            close = query.find(tag.group(0), body)
            end = n if close < 0 else close + len(tag.group(0))
            yield body, n if close < 0 else close, after_password
            token = "$"
        elif char == '"':
            close = query.find('"', i + 1)
            end = n if close < 0 else close + 1
            token = query[i:end].upper()
        elif word := _WORD.match(query, i):
            end = word.end()
            token = word.group(0).upper()
        else:
            operator = _OPERATOR.match(query, i)
            end = operator.end() if operator else i + 1
            token = query[i:end]
        previous = [*previous[-1:], token]
        i = end


def _scrub_string(body: str) -> str:
    """A literal that is not itself a password may still hold one: a URL or a libpq key=value string."""
    body = _URL_USERINFO.sub(r"\1***@", body)
    scheme, found, rest = body.partition("://")
    if found and "@" not in rest:  # cut off before the host: what follows `user:` may be the secret
        user, colon, _secret = rest.partition(":")
        body = f"{scheme}://{user}:***" if colon else body
    return _PASSWORD_PARAM.sub(r"\1***", body)


def scrub_query(query: str) -> str:
    """Another session's query, with passwords masked wherever the SQL can carry one.

    A string after PASSWORD (in any quoting: '...', E'...', U&'...', $q$...$q$, with comments between)
    is masked whole; inside every other string, URL passwords and libpq `password=` values are.
    """
    pieces: list[str] = []
    cursor = 0
    for body_start, body_end, after_password in _lex(query):
        pieces.append(query[cursor:body_start])
        body = query[body_start:body_end]
        pieces.append(MASK if after_password else _scrub_string(body))
        cursor = body_end
    pieces.append(query[cursor:])
    return redact(" ".join("".join(pieces).split()))


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
