"""Apply pending migrations: Prisma's lock, one transaction per migration, typed events.

Order of work, so that nothing is touched before everything is known to be sound:
connect -> check the server is writable -> take Prisma's advisory lock -> read the
history -> refuse on an unresolved failure (P3009) -> plan every pending migration
(split, classify, refuse unsafe shapes) -> create the history table if missing ->
apply each migration in order.

A transactional migration inserts its history row, runs its statements and marks the
row finished inside one transaction: a crash, a kill or a lost connection leaves no
trace, and the next run simply applies it again. A failing SQL statement rolls the
transaction back and then writes a failed row the way Prisma does, so Prisma and this
tool both refuse to go on until the failure is resolved. Lock and statement timeouts,
cancellation and a lost connection are not the migration's fault: they are rolled back
and not recorded, so a plain re-run retries them.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import psycopg
from psycopg import errors as pgerrors

from lumiku_tui.prisma import history

from lumiku_tui.pg import locks
from lumiku_tui.defaults import (
    CLIENT_CHECK_INTERVAL_S,
    DEFAULT_LOCK_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
    HISTORY_LOCK_TIMEOUT_S,
    IDLE_IN_TRANSACTION_TIMEOUT_S,
    REPLY_GRACE_S,
)
from lumiku_tui.errors import DeployBlocked, DeployInterrupted, LockTimeout, PlanError
from lumiku_tui.prisma.history import from_database_error
from lumiku_tui.apply.events import (
    BlockedByLock,
    DeployFinished,
    DeployPlanned,
    Event,
    EventSink,
    LockAcquired,
    LockWaiting,
    MigrationFailed,
    MigrationFinished,
    MigrationStarted,
    Notice,
    Backend,
    StatementFinished,
    StatementStarted,
    ignore,
)
from lumiku_tui.redact import redact
from lumiku_tui.pg.server import ServerInfo, ensure_database, require_writable, server_info
from lumiku_tui.prisma.folder import prisma_sort_key
from lumiku_tui.sql.split import MigrationPlan, Statement, plan_migration
from lumiku_tui.prisma.status import MigrationStatus, State, classify, prisma_next_ledger, prisma_next_notice

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import MigrationsFolder
    from lumiku_tui.pg.target import Target

#: How long the watcher waits for the server to say whether the deploy session is busy.
_BUSY_CHECK_WAIT_S = 2.0
#: A statement that waits this long for a lock has its blockers looked up and reported.
_BLOCKER_CHECK_AFTER_S = 0.5


@dataclass(frozen=True)
class DeployOptions:
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # 0 disables
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S  # 0 disables
    advisory_lock_wait_s: float = locks.PRISMA_LOCK_WAIT_S
    #: The names the operator approved; the deploy refuses if the pending list changed since.
    approved: tuple[str, ...] | None = None
    #: Apply migrations up to and including this one only (the demo's "report state").
    until: str | None = None
    #: Send each migration's statements in one pipeline (no round trip per statement). Results,
    #: row counts and the failing statement are still per statement, but their durations are not
    #: observable one by one. Off for the wizard, which shows each statement live with a timer.
    pipeline: bool = False
    #: The operator approved creating the URL's database when it does not exist (as Prisma's deploy does).
    create_database: bool = False


@dataclass(frozen=True)
class AppliedMigration:
    name: str
    duration_ms: float
    statements: int


@dataclass
class DeployResult:
    target: str
    applied: list[AppliedMigration] = field(default_factory=list)
    failure: MigrationFailed | None = None
    lock_waited_ms: int = 0
    duration_ms: float = 0.0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None and not self.cancelled


class _Cancelled(Exception):
    pass


class Deployment:
    """One deploy run. `run()` blocks; `cancel()` may be called from another thread."""

    def __init__(
        self,
        target: "Target",
        folder: "MigrationsFolder",
        options: DeployOptions | None = None,
        on_event: EventSink = ignore,
    ) -> None:
        self.target = target
        self.folder = folder
        self.options = options or DeployOptions()
        self.emit = on_event
        self._cancel = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._running_statement = threading.Event()
        self._current: Statement | None = None
        self._silent_server = False
        self._session_settings = ""
        self._plan: MigrationPlan | None = None
        self._history_exists = False

    # -- control from another thread ------------------------------------------------------

    def cancel(self) -> None:
        """Stop after rolling back the current migration. Safe from any thread or a signal handler."""
        self._cancel.set()
        conn = self._conn
        if conn is not None and self._running_statement.is_set():
            try:
                conn.cancel_safe(timeout=3.0)
            except Exception:  # the connection may be gone already; the rollback happens server-side
                pass

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # -- the run ------------------------------------------------------------------------

    def plan(self, conn: psycopg.Connection) -> tuple[list[MigrationStatus], list[MigrationPlan]]:
        """Read the history under the lock and plan what will run. Touches nothing."""
        has_table = self._history_exists = history.table_exists(conn, self.target.schema)
        rows = history.read_rows(conn, self.target.schema, known_to_exist=True) if has_table else []
        statuses = classify(self.folder, rows)
        ledger = None if has_table else prisma_next_ledger(conn)
        if ledger is not None:
            raise PlanError(prisma_next_notice(ledger, self.target.schema, False) + " Nothing was applied.",
                            why="Prisma Next records its migrations in its own ledger under another lock; "
                            "writing Prisma ORM's history next to it would split the record.",
                            hint="Deploy with Prisma Next's own CLI.")
        if not has_table and self.folder.migrations:
            tables = history.other_tables(conn, self.target.schema)
            if tables:
                raise PlanError(
                    f"Schema `{self.target.schema}` already holds tables ({', '.join(tables[:5])}"
                    f"{', ...' if len(tables) > 5 else ''}) but no migration history; nothing was applied.",
                    why="Prisma refuses this too (P3005): applying the whole history onto an existing schema would "
                    "fail or duplicate it. The database has to be baselined first.",
                    hint="For each migration the database already reflects, run `lumiku-tui resolve --applied NAME` "
                    "(oldest first); then deploy applies only the rest.",
                )
        failed = [s for s in statuses if s.state is State.FAILED]
        if failed:
            names = [s.name for s in failed]
            first = failed[0]
            started = f" started at {first.started_at:%Y-%m-%d %H:%M:%S %Z}" if first.started_at else ""
            raise DeployBlocked(
                f"The migration `{first.name}`{started} failed and is not resolved; no migration was applied.",
                failed=names,
                why="Prisma (P3009) and lumiku-tui refuse to apply new migrations while a failed one is "
                "recorded: the database may hold part of it.",
                hint=f"Check what `{first.name}` left behind, then either fix the database by hand and run "
                f"`lumiku-tui resolve --applied {first.name}`, or make sure nothing of it remains and run "
                f"`lumiku-tui resolve --rolled-back {first.name}` (it will be applied again on the next deploy).",
            )
        pending = [s for s in statuses if s.state.will_apply]
        if self.options.until is not None:
            until = prisma_sort_key(self.options.until)
            pending = [s for s in pending if prisma_sort_key(s.name) <= until]
        approved = self.options.approved
        if approved is not None and pending and tuple(s.name for s in pending) != tuple(approved):
            raise PlanError(
                "The pending migrations changed since they were approved; nothing was applied.",
                why="Approved: " + (", ".join(approved) or "none") + ". Pending now: "
                + ", ".join(s.name for s in pending) + ".",
                hint="Run the deploy again and review the new list.",
            )
        plans = [plan_migration(s.local) for s in pending if s.local is not None]
        applied_names = [s.name for s in statuses if s.state in (State.APPLIED, State.MODIFIED)]
        if plans and applied_names:
            latest = max(applied_names, key=prisma_sort_key)
            older = [p.name for p in plans if prisma_sort_key(p.name) < prisma_sort_key(latest)]
            if older:
                self.emit(Notice(
                    f"{', '.join(older)} sort(s) before `{latest}`, which is already applied: they were probably "
                    "merged from another branch. They will be applied now, as Prisma would; check that they do "
                    "not depend on being applied before it."
                ))
        for status in statuses:
            if status.state is State.MODIFIED:
                self.emit(Notice(f"`{status.name}` was changed after it was applied (checksum differs); "
                                 "the change is not applied. Revert the file, or create a new migration."))
            elif status.state is State.MISSING_LOCALLY:
                self.emit(Notice(f"`{status.name}` is recorded in the database but missing from {self.folder.path}."))
        for p in plans:
            if p.migration.has_bom:
                self.emit(Notice(f"`{p.name}` starts with a UTF-8 byte-order mark; it is skipped when running."))
            if p.migration.replaced:
                self.emit(Notice(f"`{p.name}` holds {p.migration.replaced} invalid UTF-8 sequence(s); they run as "
                                 "U+FFFD, as Prisma runs them."))
        return statuses, plans

    def run(self) -> DeployResult:
        started = time.perf_counter()
        result = DeployResult(self.target.display)
        # The database thread never waits on a front end: a stalled display would otherwise keep
        # the migration's transaction idle until the server ends the session.
        sink = self.emit
        pump = _EventPump(sink)
        self.emit = pump
        try:
            self._run(started, result)
        finally:
            pump.close()
            self.emit = sink
        self.emit(DeployFinished(tuple(a.name for a in result.applied),
                                 result.failure.name if result.failure else None, result.duration_ms))
        return result

    def _run(self, started: float, result: DeployResult) -> DeployResult:
        if self.options.create_database and ensure_database(self.target):
            self.emit(Notice(f"Created the database {self.target.dbname} (it did not exist), as Prisma's deploy does."))
        conn = self.target.connect("deploy")
        self._conn = conn
        watcher: _BlockerWatcher | None = None
        self._locked = False
        try:
            try:
                facts, plans = self._prepare(conn, result)
            except psycopg.Error as exc:
                # Outside any migration (lock wait, history read, set-up): nothing was applied.
                raise from_database_error(self.target, exc) from None
            if plans:
                watcher = _BlockerWatcher(self.target, facts.pid, self.emit, self._give_up_on_connection)
            for position, plan in enumerate(plans, start=1):
                if self.cancelled:
                    result.cancelled = True
                    break
                outcome = self._apply(conn, plan, position, len(plans), watcher)
                if isinstance(outcome, MigrationFailed):
                    result.failure = outcome
                    result.cancelled = outcome.reason == "cancelled"
                    break
                result.applied.append(outcome)
        finally:
            if watcher is not None:
                watcher.close()
            if self._locked and not conn.broken:
                try:
                    locks.advisory_unlock(conn)
                except psycopg.Error:
                    pass
            conn.close()
            self._conn = None
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _prepare(self, conn: psycopg.Connection, result: DeployResult) -> tuple[ServerInfo, list[MigrationPlan]]:
        """Everything before the first migration: checks, Prisma's lock, the plan, the history table."""
        facts = server_info(conn)
        require_writable(facts, self.target)
        self._session_settings = _session_settings_sql(facts.version_num)
        conn.execute(self._session_settings)
        result.lock_waited_ms = self._acquire_lock(conn)
        self._locked = True
        _statuses, plans = self.plan(conn)
        self.emit(DeployPlanned(self.target.display, tuple(p.name for p in plans),
                                sum(len(p.statements) for p in plans)))
        # plan() has just looked for the history table: only a missing one costs more queries.
        if plans and not self._history_exists and history.ensure_table(conn, self.target.schema):
            self.emit(Notice(f"Created the history table {self.target.schema}._prisma_migrations."))
        return facts, plans

    def _acquire_lock(self, conn: psycopg.Connection) -> int:
        started = time.perf_counter()
        limit = self.options.advisory_lock_wait_s
        last_report = -1.0
        while True:
            if locks.try_advisory_lock(conn):
                waited = int((time.perf_counter() - started) * 1000)
                self.emit(LockAcquired(waited))
                return waited
            waited_s = time.perf_counter() - started
            holders = locks.advisory_lock_holders(conn)
            if waited_s - last_report >= 1.0 or last_report < 0:
                last_report = waited_s
                self.emit(LockWaiting(int(waited_s * 1000), int(limit * 1000), holders))
            if self.cancelled:
                raise DeployInterrupted(
                    "Interrupted while waiting for Prisma's migration lock; nothing was applied.",
                    hint="Run the deploy again when the other migration run has finished.",
                )
            if waited_s >= limit:
                described = "; ".join(h.describe() for h in holders) or "a session that has since gone"
                raise LockTimeout(
                    f"Another migration run holds Prisma's migration lock (advisory lock {locks.ADVISORY_LOCK_KEY}); "
                    f"gave up after {waited_s:.0f} s. Nothing was applied.",
                    why=f"Held by {described}.",
                    hint="Wait for that `prisma migrate` or lumiku-tui run to finish and try again. If it is stuck, "
                    "the wizard's lock screen (or `lumiku-tui doctor`) shows it and can end that session.",
                )
            time.sleep(0.2)

    def _set_timeouts(self, conn: psycopg.Connection, *, local: bool) -> None:
        # One round trip for both settings; `local` scopes them to the migration's transaction.
        conn.execute(
            "SELECT set_config('lock_timeout', %s, %s), set_config('statement_timeout', %s, %s)",
            (f"{int(self.options.lock_timeout_s * 1000)}", local,
             f"{int(self.options.statement_timeout_s * 1000)}", local),
        )

    def _apply(
        self,
        conn: psycopg.Connection,
        plan: MigrationPlan,
        position: int,
        total: int,
        watcher: "_BlockerWatcher | None",
    ) -> AppliedMigration | MigrationFailed:
        migration = plan.migration
        schema = self.target.schema
        self._plan = plan
        self.emit(MigrationStarted(plan.name, position, total, len(plan.statements), plan.transactional))
        started = time.perf_counter()
        self._current = None
        row_id = history.new_id()
        try:
            if plan.transactional and self.options.pipeline:
                self._run_pipelined(conn, plan, row_id, watcher)
            elif plan.transactional:
                with conn.transaction():
                    # The timeouts and the history row travel in one round trip.
                    with conn.pipeline():
                        self._set_timeouts(conn, local=True)
                        history.insert_started(conn, schema, row_id, plan.name, migration.checksum)
                    self._run_statements(conn, plan, watcher)
                    history.record_success(conn, schema, row_id)
            else:
                # Committed before the statement runs, as Prisma does: if this run dies, the row
                # shows the migration as failed, which is the truth for a half-built CONCURRENTLY index.
                with conn.pipeline():
                    history.insert_started(conn, schema, row_id, plan.name, migration.checksum)
                    self._set_timeouts(conn, local=False)
                self._run_statements(conn, plan, watcher)
                history.record_success(conn, schema, row_id)
            # A plain SET inside a script would otherwise leak into the next migration.
            conn.execute(self._session_settings)
        except _Cancelled:
            return self._failed(conn, plan, None, None, started, "cancelled", row_id, watcher)
        except psycopg.Error as exc:
            return self._failed(conn, plan, self._current, exc, started, None, row_id, watcher)
        duration = (time.perf_counter() - started) * 1000
        self.emit(MigrationFinished(plan.name, duration, len(plan.statements)))
        return AppliedMigration(plan.name, duration, len(plan.statements))

    def _run_statements(
        self, conn: psycopg.Connection, plan: MigrationPlan, watcher: "_BlockerWatcher | None"
    ) -> None:
        count = len(plan.statements)
        cur = conn.cursor()
        emit = self.emit
        for position, stmt in enumerate(plan.statements, start=1):
            if self.cancelled:
                raise _Cancelled()
            self._current = stmt
            summary = stmt.summary
            emit(StatementStarted(plan.name, stmt.index, position, count, stmt.line, summary))
            t0 = time.perf_counter()
            if watcher is not None:
                watcher.watch(plan.name, stmt.index, t0, self._reply_deadline_s(),
                              hard=bool(self.target.socket_timeout_s))
            self._running_statement.set()
            try:
                # prepare=False: one-shot DDL gains nothing from a server-side plan, and a prepared
                # statement would break behind a transaction-mode pooler.
                cur.execute(stmt.text, prepare=False)  # type: ignore[arg-type]  # the operator's own SQL
            finally:
                self._running_statement.clear()
                if watcher is not None:
                    watcher.unwatch()
            emit(StatementFinished(plan.name, stmt.index, position, count,
                                   (time.perf_counter() - t0) * 1000, cur.rowcount, summary))
        self._current = None

    def _run_pipelined(self, conn: psycopg.Connection, plan: MigrationPlan, row_id: str,
                       watcher: "_BlockerWatcher | None") -> None:
        """The whole migration in one round trip: settings, history row, statements, finish."""
        schema = self.target.schema
        cursors: list[psycopg.Cursor] = []
        started = time.perf_counter()
        if watcher is not None:
            by_text = {stmt.text: stmt.index for stmt in plan.statements}
            watcher.watch(plan.name, None, started, self._reply_deadline_s(), by_text,
                          hard=bool(self.target.socket_timeout_s))
        self._running_statement.set()
        try:
            with conn.transaction(), conn.pipeline():
                self._set_timeouts(conn, local=True)
                history.insert_started(conn, schema, row_id, plan.name, plan.migration.checksum)
                for stmt in plan.statements:
                    cur = conn.cursor()
                    cursors.append(cur)
                    cur.execute(stmt.text, prepare=False)  # type: ignore[arg-type]  # the operator's own SQL
                history.record_success(conn, schema, row_id)
        except psycopg.Error:
            # Results come back in order: the first statement without one is the one that failed.
            failed_at = next((i for i, cur in enumerate(cursors) if cur.pgresult is None), None)
            self._current = plan.statements[failed_at] if failed_at is not None else None
            raise
        finally:
            self._running_statement.clear()
            if watcher is not None:
                watcher.unwatch()
        count = len(plan.statements)
        for position, (stmt, cur) in enumerate(zip(plan.statements, cursors), start=1):
            self.emit(StatementFinished(plan.name, stmt.index, position, count, None, cur.rowcount, stmt.summary))

    def _reply_deadline_s(self) -> float | None:
        """How long the server may stay silent before the network counts as gone.

        Prisma's socket_timeout when the URL sets one: final (for a pipelined migration it bounds
        the whole migration, as Prisma's one query per script does). Otherwise the statement
        timeout plus a grace period, after which the server is asked whether the session is at work.
        """
        if self.target.socket_timeout_s:
            return self.target.socket_timeout_s
        if not self.options.statement_timeout_s:
            return None
        if self._plan is not None and any(
            s.keywords[:1] == ("SET",) and "STATEMENT_TIMEOUT" in s.keywords[:4] for s in self._plan.statements
        ):
            return None  # the script sets its own statement timeout: a long silence may be intended
        # Past this silence the watcher asks the server, from a second connection, whether the
        # deploy session is still at work; only if it is not (or cannot say) is the link given up.
        return self.options.statement_timeout_s + REPLY_GRACE_S

    def _give_up_on_connection(self) -> None:
        """Called by the watcher when the server stays silent past the deadline."""
        self._silent_server = True
        conn = self._conn
        if conn is None:
            return
        try:
            conn.cancel_safe(timeout=2.0)
        except Exception:
            pass
        if self._running_statement.is_set():
            # Still blocked: cut the socket so the waiting read returns at once.
            import socket

            try:
                sock = socket.socket(fileno=os.dup(conn.fileno()))
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def _failed(
        self,
        conn: psycopg.Connection,
        plan: MigrationPlan,
        stmt: Statement | None,
        exc: psycopg.Error | None,
        started: float,
        reason: str | None,
        row_id: str,
        watcher: "_BlockerWatcher | None",
    ) -> MigrationFailed:
        duration = (time.perf_counter() - started) * 1000
        diag = exc.diag if exc is not None else None
        sqlstate = (exc.sqlstate or "") if exc is not None else ""
        if reason is None:
            reason = _reason(exc, conn, self.cancelled)
        message = redact((diag.message_primary if diag and diag.message_primary else str(exc or "")).strip())
        position = None
        if diag and diag.statement_position:
            try:
                position = int(diag.statement_position)
            except ValueError:
                position = None
        location = stmt.location(position) if stmt is not None else None
        line = location[0] if location else (stmt.line if stmt else None)
        column = location[1] if location else None
        blockers = watcher.last_blockers if watcher is not None else ()
        recorded = False
        rolled_back = plan.transactional or (stmt is None and reason == "cancelled")
        if reason == "sql_error" or not plan.transactional:
            logs = failure_logs(plan.name, stmt, exc, line, column, reason)
            recorded = self._record_failure(conn, plan, row_id, logs)
        if reason == "sql_error":
            next_step = (
                f"Fix the statement in {plan.name}/migration.sql and run `lumiku-tui resolve --rolled-back "
                f"{plan.name}` then deploy again; or, if you applied the change by hand, `lumiku-tui resolve "
                f"--applied {plan.name}`."
                if plan.transactional
                else f"This migration ran outside a transaction and may have left something behind (for an index "
                f"built CONCURRENTLY: an INVALID index). Drop what it left, then `lumiku-tui resolve --rolled-back "
                f"{plan.name}` and deploy again."
            )
        elif reason == "lock_timeout":
            who = "; ".join(b.describe() for b in blockers) or "another session"
            message = f"{message} (lock_timeout {self.options.lock_timeout_s:g} s; held by {who})"
            next_step = ("Nothing was recorded: run the deploy again when the table is free (a quieter moment), "
                         "or raise --lock-timeout.")
        elif reason == "statement_timeout":
            next_step = ("Nothing was recorded: run the deploy again with a larger --statement-timeout, "
                         "or at a quieter moment.")
        elif reason == "cancelled" and self.cancelled:
            next_step = "Cancelled by the operator. Nothing of this migration was kept; deploy again to apply it."
        elif reason == "cancelled":
            next_step = ("Another session cancelled the statement (pg_cancel_backend). Nothing of this migration "
                         "was kept or recorded; find out who and why, then deploy again.")
        else:
            if self._silent_server:
                message = (f"no reply from the server for {self._reply_deadline_s() or 0:g} s; the connection was given "
                           f"up ({message})")
            next_step = ("The connection was lost; PostgreSQL rolls this migration back and nothing was recorded. "
                         "Check the server and the network, then run the deploy again: it resumes with this "
                         "migration.")
        if not plan.transactional and reason != "sql_error":
            next_step = (f"{plan.name} ran outside a transaction and is recorded as failed. Check for a "
                         f"half-built object, then `lumiku-tui resolve --rolled-back {plan.name}`.")
        event = MigrationFailed(
            name=plan.name,
            statement_index=stmt.index if stmt else None,
            line=line,
            column=column,
            statement=redact(stmt.text) if stmt else "",
            sqlstate=sqlstate,
            message=message or reason,
            detail=redact(diag.message_detail or "") if diag else "",
            hint=redact(diag.message_hint or "") if diag else "",
            duration_ms=duration,
            reason=reason,
            rolled_back=rolled_back,
            recorded_failed=recorded,
            next_step=next_step,
            blockers=blockers,
        )
        self.emit(event)
        return event

    def _record_failure(self, conn: psycopg.Connection, plan: MigrationPlan, row_id: str, logs: str) -> bool:
        fresh = None
        try:
            if conn.broken or conn.closed:
                conn = fresh = self.target.connect("deploy")
            if plan.transactional:
                history.insert_failed(conn, self.target.schema, plan.name, plan.migration.checksum, logs)
            else:
                history.record_failure(conn, self.target.schema, row_id, logs)
            return True
        except Exception:
            return False
        finally:
            if fresh is not None:
                fresh.close()


def _reason(exc: psycopg.Error | None, conn: psycopg.Connection, cancelled: bool) -> str:
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


def failure_logs(
    name: str, stmt: Statement | None, exc: psycopg.Error | None, line: int | None, column: int | None, reason: str
) -> str:
    """The text stored in `_prisma_migrations.logs`, laid out like Prisma's P3018 failure logs."""
    diag = exc.diag if exc is not None else None
    error = [f"{(diag.severity if diag and diag.severity else 'ERROR')}: "
             f"{(diag.message_primary if diag and diag.message_primary else str(exc or reason))}"]
    if diag and diag.message_detail:
        error.append(f"DETAIL: {diag.message_detail}")
    if diag and diag.message_hint:
        error.append(f"HINT: {diag.message_hint}")
    parts = [
        "A migration failed to apply. New migrations cannot be applied before the error is recovered from. "
        "Read more about how to resolve migration issues in a production database: "
        "https://pris.ly/d/migrate-resolve",
        f"Migration name: {name}",
        f"Database error code: {(exc.sqlstate if exc is not None and exc.sqlstate else 'none')}",
        "Database error:\n" + "\n".join(error),
    ]
    if stmt is not None:
        where = f"statement {stmt.index}, line {line}" + (f", column {column}" if column else "")
        parts.append(f"Position:\n{where}\n{stmt.text}")
    parts.append(f"(recorded by lumiku-tui: {reason})")
    return redact("\n\n".join(parts) + "\n")


class _EventPump:
    """Hands events to the front end from a thread of its own, in order."""

    _STOP = object()

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="lumiku-events", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        self._queue.put(event)

    def _loop(self) -> None:
        while (event := self._queue.get()) is not self._STOP:
            try:
                self._sink(event)  # type: ignore[arg-type]
            except Exception:  # a front end's bug must not stop the deploy's reporting
                pass

    def close(self) -> None:
        """Deliver everything queued, then stop."""
        self._queue.put(self._STOP)
        self._thread.join()


def _session_settings_sql(version_num: int) -> str:
    """RESET ALL, then the deploy session's own safeguards, as one round trip.

    A vanished client must not keep Prisma's lock and table locks: the server ends a session
    idle inside a transaction, and (PostgreSQL 14+) notices a dead client mid-statement.
    """
    settings = [f"SET idle_in_transaction_session_timeout = '{int(IDLE_IN_TRANSACTION_TIMEOUT_S * 1000)}ms'",
                # Reading the history must not queue forever behind a session holding the table.
                f"SET lock_timeout = '{int(HISTORY_LOCK_TIMEOUT_S * 1000)}ms'"]
    if version_num >= 140000:
        settings.append(f"SET client_connection_check_interval = '{int(CLIENT_CHECK_INTERVAL_S * 1000)}ms'")
    return "RESET ALL; " + "; ".join(settings)


class _BlockerWatcher:
    """Watches the running statement from a second thread.

    After a short wait it looks up, from a second connection, who blocks the statement; past
    the reply deadline it gives up on the connection, because a silent network never errors.
    """

    def __init__(self, target: "Target", pid: int, emit: EventSink, on_deadline: "Callable[[], None]") -> None:
        self._target = target
        self._pid = pid
        self._emit = emit
        self._deadline_s: float | None = None
        self._hard_deadline = False
        self._statement_by_text: dict[str, int] = {}
        self._on_deadline = on_deadline
        self._conn: psycopg.Connection | None = None
        self._current: tuple[str, int | None, float] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.last_blockers: tuple[Backend, ...] = ()
        self._thread = threading.Thread(target=self._loop, name="lumiku-statement-watch", daemon=True)
        self._thread.start()

    def watch(self, migration: str, index: int | None, started: float, deadline_s: float | None,
              statement_by_text: dict[str, int] | None = None, *, hard: bool = False) -> None:
        """`index` None: a pipelined migration, whose running statement is read from the server.

        A `hard` deadline (Prisma's socket_timeout) is final; otherwise the server is asked first.
        """
        # No wake-up here: most statements finish long before the first look.
        with self._lock:
            self._current = (migration, index, started)
            self._deadline_s = deadline_s
            self._hard_deadline = hard
            if statement_by_text is not None:
                self._statement_by_text = statement_by_text
            self.last_blockers = ()

    def unwatch(self) -> None:
        with self._lock:
            self._current = None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self._conn is not None:
            self._conn.close()

    def _loop(self) -> None:
        gave_up: tuple[str, int | None, float] | None = None
        next_look = 0.0
        looking: threading.Thread | None = None
        silence_from: tuple[tuple[str, int | None, float] | None, float] = (None, 0.0)
        check: tuple[threading.Thread, list[bool], float] | None = None
        while not self._stop.wait(0.25):
            with self._lock:
                current = self._current
            if current is None:
                continue
            now = time.perf_counter()
            waited = now - current[2]
            if silence_from[0] != current:
                silence_from, check = (current, current[2]), None
            silent = now - silence_from[1]
            if self._deadline_s is not None and silent > self._deadline_s and gave_up != current:
                if not self._hard_deadline:
                    if check is None:
                        answer: list[bool] = []
                        thread = threading.Thread(target=self._ask_if_busy, args=(answer,), daemon=True)
                        thread.start()
                        check = (thread, answer, now)
                        continue
                    thread, answer, asked = check
                    if thread.is_alive() and now - asked < _BUSY_CHECK_WAIT_S:
                        continue
                    check = None
                    if answer == [True]:
                        silence_from = (current, now)  # the server is working: a long statement, not a dead link
                        continue
                gave_up = current
                self._on_deadline()
                continue
            if waited < _BLOCKER_CHECK_AFTER_S or now < next_look or (looking and looking.is_alive()):
                continue
            next_look = now + 2.0
            # The lookup may block (a server that stopped answering); the deadline above must not.
            looking = threading.Thread(target=self._look_up_blockers, args=(current,), daemon=True)
            looking.start()

    def _ask_if_busy(self, answer: list[bool]) -> None:
        """Whether the deploy session is running a statement right now, as the server sees it."""
        try:
            if self._conn is None:
                self._conn = self._target.connect("observe")
            row = self._conn.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (self._pid,)).fetchone()
            answer.append(bool(row and row[0] == "active"))
        except Exception:
            answer.append(False)

    def _look_up_blockers(self, current: tuple[str, int | None, float]) -> None:
        migration, index, since = current
        try:
            if self._conn is None:
                self._conn = self._target.connect("observe")
            blockers = locks.blockers_of(self._conn, self._pid)
            if index is None and blockers:
                row = self._conn.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (self._pid,)).fetchone()
                index = self._statement_by_text.get(row[0]) if row else None
        except Exception:
            return
        with self._lock:
            still = self._current == current
            if still and blockers:
                self.last_blockers = blockers
        if still and blockers:
            self._emit(BlockedByLock(migration, index, int((time.perf_counter() - since) * 1000), blockers))
