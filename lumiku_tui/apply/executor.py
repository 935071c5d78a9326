"""The one execution core of deploy and rehearse: run a migration's statements, watch them, explain failures.

`StatementRunner` sends statements on one connection, either one at a time (each timed and
reported as it starts and ends) or pipelined (a few round trips for a whole part of a migration).
`StatementWatcher` watches the running statement from a second thread: who blocks it, which
table it waits for, and whether a silent server is still at work. `where_it_failed` and
`failure_reason` turn a psycopg error into what a person needs: the statement, its line and
column in the file, and whether the migration itself is at fault.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import psycopg
from psycopg import errors as pgerrors
from psycopg import generators, pq

from lumiku_tui.apply.events import (
    Backend,
    BlockedByLock,
    EventSink,
    StatementFinished,
    StatementResults,
    StatementStarted,
)
from lumiku_tui.pg import locks
from lumiku_tui.pg.connection import cut, reply_deadline
from lumiku_tui.redact import redact
from lumiku_tui.sql.streamed import StatementStream

if TYPE_CHECKING:
    from lumiku_tui.pg.target import Target
    from lumiku_tui.sql.split import Statement

#: How long the watcher waits for the server to say whether the watched session is busy.
BUSY_CHECK_WAIT_S = 2.0
#: The most statement text sent as one message by a pipelined migration (a longer statement goes alone).
SCRIPT_BYTES = 256 * 1024
_COPY_STATES = frozenset({pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_OUT, pq.ExecStatus.COPY_BOTH})
#: Between two statements of a script: a statement may end in a `--` comment.
_SEPARATOR = "\n;\n"


class Cancelled(Exception):
    """The operator cancelled between two statements."""


# --- what went wrong, and where ------------------------------------------------------------------


@dataclass(frozen=True)
class FailureSite:
    """Where in the file a server error points: the statement's line, or the exact character."""

    line: int | None
    column: int | None


def where_it_failed(stmt: "Statement | None", exc: BaseException | None, offset: int = 0) -> FailureSite:
    """Line and column in migration.sql of the error's position (PostgreSQL's 1-based character offset,
    counted from `offset` characters before the statement when it ran inside a longer script)."""
    if stmt is None:
        return FailureSite(None, None)
    diag = getattr(exc, "diag", None)
    position = None
    if diag is not None and diag.statement_position:
        try:
            position = int(diag.statement_position) - offset
        except ValueError:
            position = None
        if position is not None and not 0 < position <= len(stmt.text):
            position = None
    location = stmt.location(position)
    if location is None:
        return FailureSite(stmt.line, None)
    return FailureSite(location[0], location[1])


def failure_reason(exc: BaseException | None, conn: psycopg.Connection, cancelled: bool) -> str:
    """sql_error (the migration's fault) | lock_timeout | statement_timeout | cancelled | connection_lost."""
    if conn.broken or conn.closed:
        return "connection_lost"
    if isinstance(exc, pgerrors.LockNotAvailable):
        return "lock_timeout"
    if isinstance(exc, pgerrors.QueryCanceled):
        # "due to user request": our own cancel, or pg_cancel_backend from another session.
        return "cancelled" if cancelled or "user request" in str(exc) else "statement_timeout"
    if isinstance(exc, (pgerrors.AdminShutdown, pgerrors.CrashShutdown, pgerrors.CannotConnectNow)):
        return "connection_lost"
    if isinstance(exc, psycopg.OperationalError) and not exc.sqlstate:
        return "connection_lost"
    return "sql_error"


def primary_message(exc: BaseException | None) -> str:
    """The server's primary message (redacted), or the exception's text when there is none."""
    diag = getattr(exc, "diag", None)
    text = diag.message_primary if diag is not None and diag.message_primary else str(exc or "")
    return redact(text.strip())


def lock_mode_name(mode: str) -> str:
    """pg_locks' `AccessExclusiveLock` as the documentation and the findings write it: ACCESS EXCLUSIVE."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", mode.removesuffix("Lock")).upper()


def _scripts(statements: Sequence["Statement"]) -> "Iterator[tuple[str, list[Statement], list[int]]]":
    """The statements in scripts of at most SCRIPT_BYTES: (text, its statements, where each starts in it).

    Made one at a time, as they are sent: a long data migration is never held twice over in memory."""
    texts: list[str] = []
    chunk: list[Statement] = []
    offsets: list[int] = []
    size = chars = 0
    for stmt in statements:
        length = len(stmt.text.encode())
        if chunk and size + length > SCRIPT_BYTES:
            yield _SEPARATOR.join(texts), chunk, offsets
            texts, chunk, offsets, size, chars = [], [], [], 0, 0
        offsets.append(chars)
        texts.append(stmt.text)
        chunk.append(stmt)
        size += length + len(_SEPARATOR)
        chars += len(stmt.text) + len(_SEPARATOR)
    if chunk:
        yield _SEPARATOR.join(texts), chunk, offsets


# --- the watcher ----------------------------------------------------------------------------------


class StatementWatcher:
    """Watches the running statement of one session from a second thread and a second connection.

    After `check_after_s` it looks up, every `repeat_s`, which table the statement waits for and
    who holds it, and reports them (BlockedByLock). With a reply deadline it also guards against a
    silent network, which never errors: past the deadline it asks the server whether the session
    is still at work (unless the deadline is `hard`), and gives up on the link if not.
    """

    def __init__(self, target: "Target", pid: int, emit: EventSink, *,
                 on_deadline: Callable[[], None] | None = None, check_after_s: float = 0.5,
                 repeat_s: float = 2.0) -> None:
        self._target = target
        self._pid = pid
        self._emit = emit
        self._on_deadline = on_deadline
        self._check_after_s = check_after_s
        self._repeat_s = repeat_s
        self._deadline_s: float | None = None
        self._hard_deadline = False
        self._statement_by_text: dict[str, int] = {}
        self._conn: psycopg.Connection | None = None
        self._current: tuple[str, int | None, float] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.last_blockers: tuple[Backend, ...] = ()
        self.waiting_for: str | None = None  # "table (LOCK MODE)" the statement waits for
        self._thread = threading.Thread(target=self._loop, name="lumiku-statement-watch", daemon=True)
        self._thread.start()

    @property
    def last(self) -> tuple[str | None, tuple[Backend, ...]]:
        with self._lock:
            return self.waiting_for, self.last_blockers

    def watch(self, migration: str, index: int | None, started: float | None = None,
              deadline_s: float | None = None, statement_by_text: dict[str, int] | None = None, *,
              hard: bool = False) -> None:
        """`index` None: a pipelined part, whose running statement is read from the server.

        A `hard` deadline (Prisma's socket_timeout) is final; otherwise the server is asked first.
        """
        with self._lock:
            self._current = (migration, index, time.perf_counter() if started is None else started)
            self._deadline_s = deadline_s
            self._hard_deadline = hard
            if statement_by_text is not None:
                self._statement_by_text = statement_by_text
            self.last_blockers = ()
            self.waiting_for = None
        # Most statements finish long before the first look; waking only re-arms the timer.
        self._wake.set()

    def unwatch(self) -> None:
        with self._lock:
            self._current = None

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=3)
        if self._conn is not None:
            self._conn.close()

    def _loop(self) -> None:
        gave_up: tuple[str, int | None, float] | None = None
        next_look = 0.0
        looking: threading.Thread | None = None
        silence_from: tuple[tuple[str, int | None, float] | None, float] = (None, 0.0)
        check: tuple[threading.Thread, list[bool], float] | None = None
        tick = min(0.25, max(self._check_after_s / 3, 0.05))
        while not self._stop.is_set():
            self._wake.wait(timeout=tick)
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._lock:
                current = self._current
                deadline_s = self._deadline_s
                hard = self._hard_deadline
            if current is None:
                continue
            now = time.perf_counter()
            waited = now - current[2]
            if silence_from[0] != current:
                silence_from, check, next_look = (current, current[2]), None, 0.0
            silent = now - silence_from[1]
            if deadline_s is not None and silent > deadline_s and gave_up != current and self._on_deadline:
                if not hard:
                    if check is None:
                        answer: list[bool] = []
                        thread = threading.Thread(target=self._ask_if_busy, args=(answer,), daemon=True)
                        thread.start()
                        check = (thread, answer, now)
                        continue
                    thread, answer, asked = check
                    if thread.is_alive() and now - asked < BUSY_CHECK_WAIT_S:
                        continue
                    check = None
                    if answer == [True]:
                        silence_from = (current, now)  # the server is working: a long statement, not a dead link
                        continue
                gave_up = current
                self._on_deadline()
                continue
            if waited < self._check_after_s or now < next_look or (looking and looking.is_alive()):
                continue
            next_look = now + self._repeat_s
            # The lookup may block (a server that stopped answering); the deadline above must not.
            looking = threading.Thread(target=self._look_up_blockers, args=(current,), daemon=True)
            looking.start()

    def _observer(self) -> psycopg.Connection:
        if self._conn is None:
            self._conn = self._target.connect("observe")
        return self._conn

    def _ask_if_busy(self, answer: list[bool]) -> None:
        """Whether the watched session is running a statement right now, as the server sees it."""
        try:
            row = self._observer().execute("SELECT state, wait_event FROM pg_stat_activity WHERE pid = %s",
                                           (self._pid,)).fetchone()
            # Active but waiting to read from the client, while the client waits for it: the link is dead.
            answer.append(bool(row and row[0] == "active" and row[1] != "ClientRead"))
        except Exception:
            answer.append(False)

    def _look_up_blockers(self, current: tuple[str, int | None, float]) -> None:
        migration, index, since = current
        try:
            conn = self._observer()
            row = conn.execute(
                "SELECT l.relation::regclass::text, l.mode FROM pg_locks l "
                "WHERE l.pid = %s AND NOT l.granted AND l.relation IS NOT NULL LIMIT 1", (self._pid,)
            ).fetchone()
            waiting = f"{row[0]} ({lock_mode_name(row[1])})" if row else None
            blockers = locks.blockers_of(conn, self._pid)
            if index is None and blockers:
                row = conn.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (self._pid,)).fetchone()
                index = self._statement_by_text.get(row[0]) if row else None
        except Exception:
            return
        with self._lock:
            still = self._current == current
            if still and blockers:
                self.last_blockers = blockers
            if still and waiting:
                self.waiting_for = waiting
        if still and blockers:
            self._emit(BlockedByLock(migration, index, int((time.perf_counter() - since) * 1000), blockers))


# --- running statements -----------------------------------------------------------------------------


class StatementRunner:
    """Sends a migration's statements on one connection and reports each one.

    `current` names the statement that was running when an error came back, for the error's
    line and column. `interrupt()` and `abandon()` may be called from another thread.
    """

    def __init__(self, conn: psycopg.Connection, emit: EventSink, watcher: StatementWatcher | None = None, *,
                 cancelled: Callable[[], bool] = lambda: False, hard_deadline: bool = False,
                 statement_reply_deadline_s: float | None | EllipsisType = ...,
                 results: Callable[[StatementResults], None] | None = None) -> None:
        self.conn = conn
        self.emit = emit
        #: Where a pipelined run's results go in one piece (the deploy's event pump tells them one by one).
        self.results = results if results is not None else self._tell_each
        self.watcher = watcher
        self.current: "Statement | None" = None
        #: The COMMIT of the current transaction may have reached the server (its outcome is then in doubt
        #: if the link dies before the reply): set while committing, and for a pipeline once it is sent.
        self.commit_sent = False
        #: Characters before `current` in the script it was sent in (a pipelined migration's error
        #: positions count from the script's start).
        self.position_offset = 0
        self.running = threading.Event()
        self._cancelled = cancelled
        self._hard_deadline = hard_deadline
        #: The connection's own reply deadline while statements run (None: the watcher alone
        #: bounds them); `...` keeps whatever the connection has.
        self._statement_reply_deadline_s = statement_reply_deadline_s

    def _statement_deadline(self) -> Any:
        if self._statement_reply_deadline_s is ...:
            return nullcontext()
        return reply_deadline(self.conn, self._statement_reply_deadline_s)

    def run_live(self, migration: str, statements: Sequence["Statement"], *, deadline_s: float | None = None,
                 count: int | None = None, first_position: int = 1, summaries: bool = True,
                 before_each: Callable[["Statement"], None] | None = None,
                 after_each: Callable[["Statement", float], None] | None = None) -> None:
        """One statement at a time, each timed. Raises Cancelled between statements, psycopg.Error on failure."""
        count = len(statements) if count is None else count
        self.position_offset = 0
        cur = self.conn.cursor()
        emit = self.emit
        watcher = self.watcher
        for position, stmt in enumerate(statements, start=first_position):
            if self._cancelled():
                raise Cancelled()
            self.current = stmt
            if before_each is not None:
                before_each(stmt)
            summary = stmt.summary
            emit(StatementStarted(migration, stmt.index, position, count, stmt.line, summary))
            t0 = time.perf_counter()
            if watcher is not None:
                watcher.watch(migration, stmt.index, t0, deadline_s, hard=self._hard_deadline)
            self.running.set()
            try:
                # prepare=False: one-shot DDL gains nothing from a server-side plan, and a prepared
                # statement would break behind a transaction-mode pooler.
                with self._statement_deadline():
                    cur.execute(stmt.text, prepare=False)  # type: ignore[arg-type]  # the operator's own SQL
            finally:
                self.running.clear()
                if watcher is not None:
                    watcher.unwatch()
            emit(StatementFinished(migration, stmt.index, position, count, (time.perf_counter() - t0) * 1000,
                                   cur.rowcount, summary if summaries else ""))
            if after_each is not None:
                after_each(stmt, t0)
        self.current = None

    def run_pipelined(self, migration: str, statements: Sequence["Statement"], *,
                      before: Callable[[psycopg.Connection], None], after: Callable[[psycopg.Connection], None],
                      deadline_s: float | None = None, count: int | None = None, first_position: int = 1) -> None:
        """`before`, the statements and `after`, in one transaction, with few round trips.

        `before` (with BEGIN) is one pipeline; the statements go as scripts of at most
        `SCRIPT_BYTES`, each one simple-query message; `after` and COMMIT are one pipeline.
        The bound this buys: PostgreSQL reads a message whole before it runs any of it, and
        while it waits for one, right after answering the previous one, idle_in_transaction_session_timeout
        runs. A client that freezes (or a link that dies) while sending a script of any size
        therefore leaves a session the server ends within that timeout. A pipeline of separate
        messages has no such bound: past its first message the server waits for the rest, in
        state active, holding every lock, for as long as the client is frozen.
        """
        conn = self.conn
        count = len(statements) if count is None else count
        started = time.perf_counter()
        self.commit_sent = False
        self.position_offset = 0
        if self.watcher is not None:
            self.watcher.watch(migration, None, started, deadline_s, {}, hard=self._hard_deadline)
        self.running.set()
        try:
            with conn.pipeline():
                conn.execute("BEGIN")
                before(conn)
            untold = self.run_scripts(migration, statements, deadline_s=deadline_s, count=count,
                                      first_position=first_position, started=started)
            with conn.pipeline():
                after(conn)
                # From here the COMMIT may reach the server: a lost reply leaves the outcome in doubt.
                self.commit_sent = True
                conn.execute("COMMIT")
        except BaseException:
            if not conn.broken and not conn.closed and conn.info.transaction_status != pq.TransactionStatus.IDLE:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass
            raise
        finally:
            self.running.clear()
            if self.watcher is not None:
                self.watcher.unwatch()
        if untold is not None:
            self.results(untold)

    def run_scripts(self, migration: str, statements: Sequence["Statement"], *, deadline_s: float | None = None,
                    count: int | None = None, first_position: int = 1, started: float | None = None,
                    summaries: bool = True) -> StatementResults | None:
        """The statements, in the transaction the caller holds, as scripts of at most SCRIPT_BYTES, each one
        simple-query message. Their results are returned, for the caller to tell when it sees fit (after its
        COMMIT); of a migration read from its file in windows they are told script by script instead, and None
        is returned. Raises Cancelled between scripts, psycopg.Error at the first failing statement (`current`
        and `position_offset` say which, and where in its script)."""
        count = len(statements) if count is None else count
        started = time.perf_counter() if started is None else started
        self.position_offset = 0
        rowcounts: list[int] = []
        # A migration read from its file in windows is told script by script, so that neither its statements
        # nor their row counts are held to the end (their events come before the COMMIT, as with run_live).
        told_each_script = isinstance(statements, StatementStream)
        told = 0
        running = self.running.is_set()
        self.running.set()
        try:
            with self._statement_deadline():
                for script, chunk, offsets in _scripts(statements):
                    if self._cancelled():  # a cancel between two scripts finds no statement to stop
                        raise Cancelled()
                    if self.watcher is not None and len(chunk) == 1:
                        self.watcher.watch(migration, None, started, deadline_s, {script: chunk[0].index},
                                           hard=self._hard_deadline)
                    counted = self._run_script(script, chunk, offsets)
                    if told_each_script:
                        self.results(StatementResults(migration, chunk, counted, first_position + told, count,
                                                      summaries, together=True))
                        told += len(chunk)
                    else:
                        rowcounts += counted
        finally:
            if not running:
                self.running.clear()
        self.current = None
        if told_each_script:
            return None
        return StatementResults(migration, statements, rowcounts, first_position, count, summaries)

    def _tell_each(self, results: StatementResults) -> None:
        for event in results.events():
            self.emit(event)

    def run_message(self, text: str, on_result: Callable[[int, "pq.abc.PGresult"], None]) -> int:
        """Send `text` as one simple-query message and hand each result to `on_result` as it arrives (with its
        0-based place among the results); the number of results. After an error the server runs nothing more
        of the message, so the error's result is the last. `on_result` must not raise: the connection is
        only usable again once every result is read. A failed link raises psycopg.OperationalError."""
        conn = self.conn
        count = 0
        # While the message runs, a cancel (interrupt) asks the server to stop its running statement.
        self.running.set()
        try:
            with self._statement_deadline(), conn.lock:
                conn.pgconn.send_query(text.encode(conn.info.encoding))
                conn.wait(generators.send(conn.pgconn))
                while (result := conn.wait(generators.fetch(conn.pgconn))) is not None:
                    if result.status in _COPY_STATES:
                        # The plan refuses COPY through the client; should one come anyway, the session waits for
                        # data that never comes: it is closed (PostgreSQL rolls back), not waited on.
                        conn.pgconn.finish()
                        raise psycopg.OperationalError("a statement started copying data through the client; "
                                                       "the connection was closed")
                    on_result(count, result)
                    count += 1
        finally:
            self.running.clear()
        return count

    def _run_script(self, script: str, chunk: Sequence["Statement"], offsets: Sequence[int]) -> list[int]:
        """One simple-query message; the row count of each statement. On an error, `current` is the statement
        whose result is the error (results come back one per statement, in order)."""
        conn = self.conn
        self.current = chunk[0]
        try:
            with conn.lock:
                conn.pgconn.send_query(script.encode(conn.info.encoding))
                results = conn.wait(generators.execute(conn.pgconn))
        except psycopg.OperationalError:
            # The link failed before the replies came: which of the script's statements was running is
            # not known (the replies of those that finished were lost with it), so none is named.
            self.current = chunk[0] if len(chunk) == 1 else None
            raise
        rowcounts = []
        for stmt, offset, result in zip(chunk, offsets, results):
            self.current = stmt
            self.position_offset = offset
            if result.status == pq.ExecStatus.FATAL_ERROR:
                error = pgerrors.error_from_result(result, encoding=conn.info.encoding)
                self._blame_by_position(error, chunk, offsets)
                raise error
            rowcounts.append(result.command_tuples if result.command_tuples is not None else -1)
        if len(results) < len(chunk):  # no error, yet not every statement answered: the link failed
            self.current = chunk[len(results)]
            raise psycopg.OperationalError("the server stopped answering in the middle of the migration")
        self.current = None
        return rowcounts

    def _blame_by_position(self, error: psycopg.Error, chunk: Sequence["Statement"], offsets: Sequence[int]) -> None:
        """A syntax error comes back as the script's only result (PostgreSQL parses a message whole before
        running any of it), so the statement to name is the one holding the error's position."""
        position = error.diag.statement_position
        if not position or not position.isdigit():
            return
        at = int(position) - 1
        for stmt, offset in reversed(list(zip(chunk, offsets))):
            if offset <= at:
                self.current, self.position_offset = stmt, offset
                return

    def watch_commit(self, migration: str, deadline_s: float | None) -> None:
        """Call as the last thing inside a transaction block: its COMMIT's reply is watched like a statement's."""
        self.current = None
        self.commit_sent = True
        if self.watcher is not None:
            self.watcher.watch(migration, None, None, deadline_s, hard=self._hard_deadline)
        self.running.set()

    def commit_done(self) -> None:
        self.running.clear()
        if self.watcher is not None:
            self.watcher.unwatch()

    def interrupt(self, timeout: float = 3.0) -> None:
        """Ask the server to cancel the running statement, if one runs."""
        if self.running.is_set():
            try:
                self.conn.cancel_safe(timeout=timeout)
            except Exception:  # the connection may be gone already; the rollback happens server-side
                pass

    def abandon(self) -> None:
        """Give up on a silent connection: cancel, and if still blocked cut the socket so the read returns."""
        conn = self.conn
        try:
            conn.cancel_safe(timeout=2.0)
        except Exception:
            pass
        if self.running.is_set():
            cut(conn)


__all__ = ["Cancelled", "FailureSite", "StatementRunner", "StatementWatcher", "failure_reason", "lock_mode_name",
           "primary_message", "where_it_failed"]
