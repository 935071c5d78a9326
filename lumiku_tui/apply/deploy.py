"""Apply pending migrations: Prisma's lock, one transaction per migration, typed events.

Order of work, so that nothing is touched before everything is known to be sound:
connect -> check the server is writable -> take Prisma's advisory lock -> read the
history -> refuse on an unresolved failure (P3009) -> plan every pending migration
(split, sort statements by kind, refuse unsafe shapes) -> create the history table if missing ->
apply each migration in order.

A transactional migration inserts its history row, runs its statements and marks the
row finished inside one transaction: a crash, a kill or a lost connection leaves no
trace, and the next run simply applies it again. A failing SQL statement rolls the
transaction back and then writes a failed row the way Prisma does, so Prisma and this
tool both refuse to go on until the failure is resolved. Lock and statement timeouts,
cancellation and a lost connection are not the migration's fault: they are rolled back
and not recorded, so a plain re-run retries them.

A migration whose script commits on its own runs in parts, one transaction each, as
PostgreSQL runs the file when Prisma sends it whole; its row is inserted with the first
part and finished with the last. Cut off between parts, a re-run resumes after the committed
parts; failed by its SQL, `deploy --resume` does, in both cases only while the committed parts
are byte for byte unchanged (apply/resume.py). A COMMIT whose reply is lost is settled on a new
connection.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import psycopg
from psycopg import errors as pgerrors
from psycopg import pq, sql

from lumiku_tui.apply.events import (
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
    Precheck,
    StatementResults,
    ignore,
)
from lumiku_tui.apply.grouped import ANSWERS, MAX_MIGRATIONS, SEPARATOR, Member, Piece, Role, compose
from lumiku_tui.apply.plan import plan_batch
from lumiku_tui.apply.resume import CUT_OFF, Resume
from lumiku_tui.apply.schema_shift import refuse_a_schema_shift
from lumiku_tui.apply.executor import (
    SCRIPT_BYTES,
    Cancelled,
    StatementRunner,
    StatementWatcher,
    failure_reason,
    primary_message,
    where_it_failed,
)
from lumiku_tui.defaults import (
    CLIENT_CHECK_INTERVAL_S,
    DEFAULT_LOCK_TIMEOUT_S,
    DEFAULT_STATEMENT_TIMEOUT_S,
    HISTORY_LOCK_TIMEOUT_S,
    IDLE_IN_TRANSACTION_TIMEOUT_S,
    IDLE_SESSION_TIMEOUT_S,
    REPLY_GRACE_S,
    TCP_USER_TIMEOUT_S,
)
from lumiku_tui.errors import DeployInterrupted, LockTimeout, LumikuError, PlanError, ScriptChanged
from lumiku_tui.pg import locks
from lumiku_tui.pg.connection import cut
from lumiku_tui.pg.server import ServerInfo, ensure_database, require_writable, server_info
from lumiku_tui.prisma import history
from lumiku_tui.prisma.failure_logs import write_failure_logs
from lumiku_tui.prisma.history import from_database_error
from lumiku_tui.prisma.status import MigrationStatus, classify, prisma_next_ledger, prisma_next_notice
from lumiku_tui.redact import redact
from lumiku_tui.sql.split import MigrationPlan, Statement
from lumiku_tui.sql.streamed import non_data

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from lumiku_tui.pg.target import Target
    from lumiku_tui.journal import Journal
    from lumiku_tui.prisma.folder import MigrationsFolder

#: The default of DeployOptions.in_doubt_check_s.
_IN_DOUBT_CHECK_S = 3.0
#: A statement that waits this long for a lock has its blockers looked up and reported.
_BLOCKER_CHECK_AFTER_S = 0.5
#: The default of DeployOptions.cancel_grace_s.
CANCEL_GRACE_S = 2.0


@dataclass(frozen=True)
class DeployOptions:
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # 0 disables
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S  # 0 disables
    advisory_lock_wait_s: float = locks.PRISMA_LOCK_WAIT_S
    #: The names the operator approved; the deploy refuses if the pending list changed since.
    approved: tuple[str, ...] | None = None
    #: (name, checksum) of each migration as the operator saw it when approving: a file changed on disk
    #: since then stops the deploy before that migration, so only the bytes approved are applied.
    approved_checksums: tuple[tuple[str, str], ...] | None = None
    #: Apply migrations up to and including this one only (the demo's "report state").
    until: str | None = None
    #: Send each migration's statements pipelined, as scripts (no round trip per statement). Results,
    #: row counts and the failing statement are still per statement, but their durations are not
    #: observable one by one. Off for the wizard, which shows each statement live with a timer.
    pipeline: bool = False
    #: The operator approved creating the URL's database when it does not exist (as Prisma's deploy does).
    create_database: bool = False
    #: How long past the statement timeout a migration's statement may go without a reply (README's bounds table).
    reply_grace_s: float = REPLY_GRACE_S
    #: How long a cancel waits for the server to stop the statement before it cuts the link.
    cancel_grace_s: float = CANCEL_GRACE_S
    #: How long to try, on a new connection, to learn whether a COMMIT whose reply was lost went through.
    in_doubt_check_s: float = _IN_DOUBT_CHECK_S
    #: Continue a migration in parts that failed by its SQL in a later part from that part (`deploy --resume`).
    resume: bool = False
    #: Checks that guard a migration (the runbook's prechecks with `migration`): called with each pending
    #: migration's name right before it runs, once the earlier ones committed, it runs the checks guarding it
    #: and returns their outcomes (`object`, `expected`, `found`, `ok`; none when nothing guards it). A failing
    #: one stops the deploy there. A migration resumed after committed parts has started already: not called.
    guards: "Callable[[str], Sequence[Any]] | None" = None


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


class Deployment:
    """One deploy run. `run()` blocks; `cancel()` may be called from another thread."""

    def __init__(
        self,
        target: "Target",
        folder: "MigrationsFolder",
        options: DeployOptions | None = None,
        on_event: EventSink = ignore,
        journal: "Journal | None" = None,
    ) -> None:
        self.target = target
        self.folder = folder
        self.options = options or DeployOptions()
        self.journal = journal
        self._front_end = on_event
        #: Every event goes to the journal before the front end sees it: what a screen shows happened.
        self.emit = on_event if journal is None else _journaled(journal, folder, on_event)
        self._cancel = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._runner: StatementRunner | None = None
        #: Set when a run has let go of its connection: a cancel no longer needs to cut it.
        self._finished = threading.Event()
        self._silent_server = False
        self._session_settings = ""
        self._session_settings_list: list[str] = []
        #: Whether small migrations go several to a message in this run (apply/grouped.py).
        self._grouping = False
        self._plan: MigrationPlan | None = None
        self._history_exists = False
        self._resume: dict[str, Resume] = {}
        self._pid: int | None = None
        #: What the logs of the migration in parts now running say about this run (resumed, and why).
        self._run_note = ""
        self._planned: list[str] | None = None  # what this run found pending, once read under the lock

    # -- control from another thread ------------------------------------------------------

    def cancel(self) -> None:
        """Stop after rolling back the current migration. Safe from any thread or a signal handler."""
        self._cancel.set()
        runner = self._runner
        if runner is not None:
            runner.interrupt(timeout=self.options.cancel_grace_s)
        # A server that does not answer (a silent network) would keep this run waiting for a reply
        # up to its deadline: past a short grace, cut the link. The server rolls back on its side.
        conn = self._conn
        if conn is not None and not self._finished.wait(self.options.cancel_grace_s):
            cut(conn)

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
        batch = plan_batch(statuses, self.folder.path, until=self.options.until, resume=self.options.resume)
        batch.refuse_blocked()
        batch.refuse_unapproved(self.options.approved)
        plans = batch.plans()
        self._resume = {m.name: m.resume for m in batch.migrations if m.resume is not None}
        for notice in batch.notices():
            self.emit(Notice(notice))
        return statuses, plans

    def run(self) -> DeployResult:
        started = time.perf_counter()
        result = DeployResult(self.target.display)
        # The database thread never waits on a front end: a stalled display would otherwise keep
        # the migration's transaction idle until the server ends the session.
        sink = self.emit
        pump = _EventPump(self._front_end, _journal_items(self.journal, self.folder))
        self.emit = pump
        try:
            self._run(started, result)
        except LumikuError as err:
            # A refusal before anything ran is part of the story too.
            self._note("deploy_refused", what=err.what, why=err.why or "", hint=err.hint or "")
            raise
        finally:
            pump.close()
            self.emit = sink
        self.emit(DeployFinished(tuple(a.name for a in result.applied),
                                 result.failure.name if result.failure else None, result.duration_ms))
        if (self.journal is not None and result.ok and self.options.until is None
                and len(result.applied) == len(self._planned or ()) and self._left_nothing_pending):
            self._note("deployment_complete", applied=[a.name for a in result.applied])
        return result

    def _note(self, kind: str, **fields: object) -> None:
        """An entry of the run's own; a journal that cannot be written was already reported as an event."""
        if self.journal is not None:
            try:
                self.journal.append(kind, **fields)
            except OSError:
                pass

    @property
    def _left_nothing_pending(self) -> bool:
        """This run applied all it found pending, and the deployment it ends did something.

        A run with nothing to do after a complete deployment opens no new one (its record would
        be empty).
        """
        from lumiku_tui.journal import DEPLOYMENT_ACTIVITY, since_last_complete

        if self._planned is None or self.journal is None:
            return False
        if self._planned:
            return True
        try:
            return any(e.kind in DEPLOYMENT_ACTIVITY
                       for e in since_last_complete(self.journal.entries_since("deployment_complete")))
        except OSError:
            return False

    def _run(self, started: float, result: DeployResult) -> DeployResult:
        if self.options.create_database and ensure_database(self.target):
            self.emit(Notice(f"Created the database {self.target.dbname} (it did not exist), as Prisma's deploy does."))
        conn = self.target.connect("deploy")
        self._conn = conn
        watcher: StatementWatcher | None = None
        self._locked = False
        try:
            try:
                facts, plans = self._prepare(conn, result)
                self._pid = facts.pid
            except psycopg.Error as exc:
                # Outside any migration (lock wait, history read, set-up): nothing was applied.
                raise from_database_error(self.target, exc) from None
            if plans:
                watcher = StatementWatcher(self.target, facts.pid, self.emit, on_deadline=self._give_up_on_connection,
                                           check_after_s=_BLOCKER_CHECK_AFTER_S)
            # While statements run, the watcher bounds the wait (asking the server whether a long
            # statement is still at work); only Prisma's socket_timeout is a deadline of its own.
            self._runner = StatementRunner(conn, self.emit, watcher, cancelled=self._cancel.is_set,
                                           hard_deadline=bool(self.target.socket_timeout_s),
                                           statement_reply_deadline_s=self.target.socket_timeout_s,
                                           results=getattr(self.emit, "results", None))
            self._grouping = (len(plans) > 1 and self.options.pipeline and groups_on(facts.version_num)
                              and _can_raise_notices(conn))
            done = 0
            while done < len(plans):
                if self.cancelled:
                    result.cancelled = True
                    break
                stopped = self._guard(plans[done], len(result.applied))
                if stopped is not None:
                    result.failure = stopped
                    break
                group = self._group_from(plans, done)
                if len(group) > 1:
                    outcomes = self._apply_group(conn, group, done + 1, len(plans), self._runner)
                else:
                    outcomes = [self._apply(conn, group[0], done + 1, len(plans), self._runner)]
                for outcome in outcomes:
                    if isinstance(outcome, MigrationFailed):
                        result.failure = outcome
                        result.cancelled = outcome.reason == "cancelled"
                        break
                    result.applied.append(outcome)
                if result.failure is not None:
                    break
                done += len(outcomes)
                if conn.broken and done < len(plans):
                    # Its COMMIT went through although the link died on the reply: the rest waits for a re-run.
                    result.failure = self._not_started(plans[done])
                    break
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
            self._runner = None
            self._finished.set()
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _prepare(self, conn: psycopg.Connection, result: DeployResult) -> tuple[ServerInfo, list[MigrationPlan]]:
        """Everything before the first migration: checks, Prisma's lock, the plan, the history table."""
        facts = server_info(conn)
        require_writable(facts, self.target)
        self._session_settings_list = _session_settings(facts.version_num)
        self._session_settings = "; ".join(self._session_settings_list)
        conn.execute(self._session_settings)
        result.lock_waited_ms = self._acquire_lock(conn)
        self._locked = True
        _statuses, plans = self.plan(conn)
        self._planned = [p.name for p in plans]
        refuse_a_schema_shift(conn, self.target, plans)
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
        for setting in self._timeout_settings(conn, local=local):
            conn.execute(setting)  # type: ignore[arg-type]  # written out by psycopg.sql

    def _apply(
        self,
        conn: psycopg.Connection,
        plan: MigrationPlan,
        position: int,
        total: int,
        runner: StatementRunner,
        *,
        announced: bool = False,
    ) -> AppliedMigration | MigrationFailed:
        """`announced`: its MigrationStarted was told already (by a message that did not run after all)."""
        migration = plan.migration
        schema = self.target.schema
        self._plan = plan
        changed = self._changed_since_approval(plan)
        if changed is not None:
            return changed
        resume = self._resume.get(plan.name)
        if not announced:
            self._announce(plan, position, total, resume)
        started = time.perf_counter()
        runner.current = None
        runner.commit_sent = False
        row_id = history.new_id()
        deadline = self._reply_deadline_s()
        if plan.transactional and (len(plan.parts) > 1 or resume is not None):
            return self._apply_parts(conn, plan, runner, resume, started, deadline)
        try:
            if plan.transactional and self.options.pipeline:
                def before(c: psycopg.Connection) -> None:
                    self._set_timeouts(c, local=True)

                def after(c: psycopg.Connection) -> None:
                    # After the statements, in their transaction: the script's SET TRANSACTION must
                    # come before any query of the deploy's own.
                    history.insert_started(c, schema, row_id, plan.name, migration.checksum)
                    history.record_success(c, schema, row_id)

                runner.run_pipelined(plan.name, plan.statements, before=before, after=after, deadline_s=deadline)
            elif plan.transactional:
                try:
                    with conn.transaction():
                        # The timeouts travel in one round trip; the history row follows the
                        # statements, in their transaction, so that no query precedes a SET TRANSACTION.
                        with conn.pipeline():
                            self._set_timeouts(conn, local=True)
                        runner.run_live(plan.name, plan.statements, deadline_s=deadline)
                        with conn.pipeline():
                            history.insert_started(conn, schema, row_id, plan.name, migration.checksum)
                            history.record_success(conn, schema, row_id)
                        runner.watch_commit(plan.name, deadline)
                finally:
                    runner.commit_done()
            else:
                # Committed before the statement runs, as Prisma does: if this run dies, the row
                # shows the migration as failed, which is the truth for a half-built CONCURRENTLY index.
                with conn.pipeline():
                    history.insert_started(conn, schema, row_id, plan.name, migration.checksum)
                    self._set_timeouts(conn, local=False)
                runner.run_live(plan.name, plan.statements, deadline_s=deadline)
                runner.watch_commit(plan.name, deadline)  # autocommit: the UPDATE is its own COMMIT
                try:
                    history.record_success(conn, schema, row_id)
                finally:
                    runner.commit_done()
            # A plain SET inside a script would otherwise leak into the next migration.
            conn.execute(self._session_settings)
        except Cancelled:
            return self._failed(conn, plan, None, None, started, "cancelled", row_id, runner.watcher)
        except ScriptChanged as changed:
            # Read from its file as it was sent, the file ended otherwise than the one read with the folder:
            # what was sent is rolled back (run_pipelined ends the transaction before this is raised).
            return self._changed_while_sent(plan, changed, started)
        except psycopg.Error as exc:
            settled = self._settle_lost_link(conn, exc, row_id)
            if settled is not None and settled[0]:
                return self._committed_after_all(plan, started)
            return self._failed(conn, plan, runner.current, exc, started, None, row_id, runner.watcher,
                                in_doubt=settled is None and runner.commit_sent, checked=settled is not None)
        duration = (time.perf_counter() - started) * 1000
        self.emit(MigrationFinished(plan.name, duration, len(plan.statements)))
        return AppliedMigration(plan.name, duration, len(plan.statements))

    def _announce(self, plan: MigrationPlan, position: int, total: int, resume: Resume | None = None) -> None:
        self.emit(MigrationStarted(plan.name, position, total, len(plan.statements), plan.transactional,
                                   len(plan.parts) or 1, plan.commit_points,
                                   resume.skipped_parts if resume is not None else (),
                                   resume.because if resume is not None else ""))

    # -- several migrations in one message (apply/grouped.py) -----------------------------

    def _group_from(self, plans: "Sequence[MigrationPlan]", start: int) -> list[MigrationPlan]:
        """The migrations from `start` that go out in one message: plain one-transaction migrations, up to
        SCRIPT_BYTES of SQL, none guarded by a precheck (that runs right before it) or changed since approval
        after the first, each after the first able to tell the deploy when it starts (`_tells_its_start`)."""
        first = plans[start]
        if not self._grouping or not self._plain(first):
            return [first]
        group = [first]
        size = _sql_bytes(first)
        for plan in plans[start + 1:start + MAX_MIGRATIONS]:
            if not self._plain(plan) or not _tells_its_start(plan) or self._guarded(plan):
                break
            size += _sql_bytes(plan)
            if size > SCRIPT_BYTES or self._approval_mismatch(plan) is not None:
                break
            group.append(plan)
        return group

    def _plain(self, plan: MigrationPlan) -> bool:
        # A migration read from its file in windows goes alone, sent script by script: never held as one message.
        return (plan.transactional and len(plan.parts) <= 1 and plan.name not in self._resume
                and not plan.migration.streamed)

    def _guarded(self, plan: MigrationPlan) -> bool:
        guards = self.options.guards
        if guards is None:
            return False
        covers = getattr(guards, "covers", None)
        return True if covers is None else bool(covers(plan.name))

    def _apply_group(self, conn: psycopg.Connection, group: list[MigrationPlan], first_position: int, total: int,
                     runner: StatementRunner) -> list[AppliedMigration | MigrationFailed]:
        """`group` in one message (apply/grouped.py): the outcome of each migration that ran, in order, ending
        with the one that failed if one did. Nothing after a failure runs."""
        changed = self._changed_since_approval(group[0])
        if changed is not None:
            return [changed]
        schema = self.target.schema
        row_ids = [history.new_id() for _ in group]
        settings = self._timeout_settings(conn, local=True)
        members = [Member([*settings, *([] if number == 0 else [_STARTED_NOTICE])], plan.statements,
                          [history.insert_started_sql(schema, row_id, plan.name, plan.migration.checksum).as_string(conn),
                           history.record_success_sql(schema, row_id).as_string(conn)])
                   for number, (plan, row_id) in enumerate(zip(group, row_ids))]
        message = compose(members, self._session_settings_list, [plan.name for plan in group])
        deadline = self._reply_deadline_s(group)
        hard = bool(self.target.socket_timeout_s)
        outcomes: list[AppliedMigration | MigrationFailed] = []
        rowcounts: list[int] = []
        failed: list[tuple[Piece, psycopg.pq.abc.PGresult]] = []
        misaligned: list[int] = []
        state = {"member": 0, "started": time.perf_counter()}

        def start(number: int) -> None:
            plan = group[number]
            self._plan = plan
            state["member"], state["started"] = number, time.perf_counter()
            rowcounts.clear()
            self._announce(plan, first_position + number, total)
            if runner.watcher is not None:
                runner.watcher.watch(plan.name, None, state["started"], deadline, {}, hard=hard)

        def on_result(place: int, res: "psycopg.pq.abc.PGresult") -> None:
            if failed or misaligned:
                return  # nothing after the first error runs; after a mismatch nothing is read as an answer
            piece = message.pieces[place]
            if res.status == psycopg.pq.ExecStatus.FATAL_ERROR or (
                    piece.role is Role.COMMIT and res.command_status == b"ROLLBACK"):
                failed.append((piece, res))
                return
            expected = ANSWERS.get(piece.role)
            if expected is not None and not (res.command_status or b"").startswith(expected):
                # An answer that is not the one this piece gives: what follows cannot be told by its place. The
                # history rows, read on a new connection, say what committed.
                misaligned.append(place)
                return
            if piece.role is Role.BEGIN and piece.member > 0:
                start(piece.member)
            elif piece.role is Role.STATEMENT:
                rowcounts.append(res.command_tuples if res.command_tuples is not None else -1)
            elif piece.role is Role.COMMIT:
                plan = group[piece.member]
                runner.results(StatementResults(plan.name, plan.statements, list(rowcounts), 1,
                                                len(plan.statements)))
                duration = (time.perf_counter() - state["started"]) * 1000
                self.emit(MigrationFinished(plan.name, duration, len(plan.statements)))
                outcomes.append(AppliedMigration(plan.name, duration, len(plan.statements)))

        start(0)
        runner.current = None
        runner.position_offset = 0
        runner.commit_sent = True  # every COMMIT of the message may run once it is sent
        runner.running.set()
        lost: psycopg.Error | None = None
        try:
            answered = runner.run_message(message.text, on_result)
            if misaligned:
                lost = psycopg.OperationalError("the server's answers did not match the statements sent")
            elif not failed and answered < len(message.pieces):
                lost = psycopg.OperationalError("the server stopped answering in the middle of the migrations")
        except psycopg.OperationalError as exc:
            lost = exc
        finally:
            runner.running.clear()
            if runner.watcher is not None:
                runner.watcher.unwatch()
        number = state["member"]
        plan, row_id, started = group[number], row_ids[number], state["started"]
        if failed and not misaligned:
            # The server's own error (even one that ends the session): everything it ran before it was read, in
            # order, so the migrations not told committed did not.
            piece, res = failed[0]
            if not outcomes and piece.member == 0 and piece.role is Role.BEGIN and lost is None:
                # PostgreSQL parses a message whole before it runs any of it: a syntax error anywhere stops all.
                # Nothing ran; each migration goes alone, so the one at fault fails on its own.
                return self._one_at_a_time(conn, group, first_position, total, runner)
            error = pgerrors.error_from_result(res, encoding=conn.info.encoding)
            if piece.role is Role.COMMIT and res.status != psycopg.pq.ExecStatus.FATAL_ERROR:
                error = psycopg.DatabaseError(f"COMMIT answered {res.command_status!r}: the transaction was rolled back")
            runner.current = piece.statement
            runner.position_offset = piece.offset
            self._rolled_back(conn)
            if piece.role is Role.RESET:
                # The migration before it committed and was told; the session ended (or failed) while being
                # set up again for the next one, which never started.
                if conn.broken or conn.closed:
                    return outcomes  # the deploy says the next one did not start, and a re-run goes on
                raise from_database_error(self.target, error) from None
            # The member the error belongs to (its BEGIN was read before, so it is the one started last).
            plan, row_id = group[piece.member], row_ids[piece.member]
            outcomes.append(self._failed(conn, plan, piece.statement, error, started, None, row_id, runner.watcher))
            return outcomes
        if lost is not None:
            runner.current = None
            return outcomes + self._settle_group(conn, group, row_ids, number, len(outcomes), lost, started,
                                                 first_position, total)
        return outcomes

    def _one_at_a_time(self, conn: psycopg.Connection, group: list[MigrationPlan], first_position: int, total: int,
                       runner: StatementRunner) -> list[AppliedMigration | MigrationFailed]:
        outcomes: list[AppliedMigration | MigrationFailed] = []
        for number, plan in enumerate(group):
            outcome = self._apply(conn, plan, first_position + number, total, runner, announced=number == 0)
            outcomes.append(outcome)
            if isinstance(outcome, MigrationFailed) or conn.broken:
                break
        return outcomes

    def _settle_group(self, conn: psycopg.Connection, group: list[MigrationPlan], row_ids: list[str], number: int,
                      told: int, exc: psycopg.Error, started: float, first_position: int,
                      total: int) -> list[AppliedMigration | MigrationFailed]:
        """The link failed while the message ran: which of the migrations not yet told committed, read on a new
        connection; the first that did not is the failure (nothing after it ran)."""
        outcomes: list[AppliedMigration | MigrationFailed] = []
        unknown = list(range(told, len(group)))
        rows = self._rows_after_loss([row_ids[n] for n in unknown])
        if rows is None:
            plan = group[told]
            self._plan = plan
            if told != number:
                self._announce(plan, first_position + told, total)
            later = [p.name for p in group[told + 1:]]
            failure = self._failed(conn, plan, None, exc, started, None, row_ids[told], self._runner.watcher if
                                   self._runner else None, in_doubt=True, sent_after=later)
            return [failure]
        for n, (finished, _steps) in zip(unknown, rows):
            plan = group[n]
            self._plan = plan
            if finished:
                if n != number:
                    self._announce(plan, first_position + n, total)
                outcomes.append(self._committed_after_all(plan, started))
                started = time.perf_counter()
                continue
            if n != number:
                self._announce(plan, first_position + n, total)
            outcomes.append(self._failed(conn, plan, None, exc, started, None, row_ids[n],
                                         self._runner.watcher if self._runner else None, checked=True))
            break
        return outcomes

    def _rolled_back(self, conn: psycopg.Connection) -> None:
        """After an error inside the message: end the failed transaction and put the session's settings back
        (the rollback also undid the reset that came after the last COMMIT)."""
        if conn.broken or conn.closed:
            return
        try:
            if conn.info.transaction_status != pq.TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            conn.execute(self._session_settings)
        except psycopg.Error:
            pass

    def _timeout_settings(self, conn: psycopg.Connection, *, local: bool) -> list[str]:
        # SET, not SELECT set_config(): a query would take the transaction's snapshot, after which
        # PostgreSQL refuses the script's own SET TRANSACTION, which the file may place first.
        # `local` scopes them to the migration's transaction.
        scope = sql.SQL("SET LOCAL" if local else "SET")
        return [sql.SQL("{} {} = {}").format(scope, sql.Identifier(name), sql.Literal(f"{int(seconds * 1000)}"))
                .as_string(conn)
                for name, seconds in (("lock_timeout", self.options.lock_timeout_s),
                                      ("statement_timeout", self.options.statement_timeout_s))]

    def _settle_lost_link(self, conn: psycopg.Connection, exc: BaseException,
                          row_id: str) -> tuple[bool, int] | None:
        """After a lost connection: what really committed, and the stranded session ended.

        Read on a new connection, after ending the old session (it may still hold its transaction and
        its locks, or be committing it), so the answer is final: (row finished, applied_steps_count),
        (False, 0) when there is no row. None when no COMMIT was sent and the operator cancelled or the
        migration runs outside a transaction, or when the server cannot be asked within a few seconds.
        """
        runner = self._runner
        if runner is None or failure_reason(exc, conn, self.cancelled) != "connection_lost":
            return None
        if not runner.commit_sent and (self.cancelled or (self._plan is not None and not self._plan.transactional)):
            # No COMMIT went out, so nothing committed; the operator asked to stop: do not make them wait.
            # (A migration outside a transaction has no COMMIT to settle: its row says what it is.)
            return None
        rows = self._rows_after_loss([row_id])
        return rows[0] if rows is not None else None

    def _rows_after_loss(self, row_ids: "Sequence[str]") -> list[tuple[bool, int]] | None:
        """(finished, applied_steps_count) of each row, read on a new connection once the old session is gone;
        None when the server cannot tell within `in_doubt_check_s`."""
        answer: list[list[tuple[bool, int]]] = []
        thread = threading.Thread(target=self._read_rows_after_loss, args=(row_ids, answer), daemon=True,
                                  name="lumiku-in-doubt")
        thread.start()
        thread.join(self.options.in_doubt_check_s)  # a server that cannot be reached leaves the outcome in doubt
        return answer[0] if answer else None

    def _read_rows_after_loss(self, row_ids: "Sequence[str]", answer: list[list[tuple[bool, int]]]) -> None:
        try:
            with self.target.connect("deploy") as fresh:
                fresh.execute("SET statement_timeout = '2s'")
                if self._pid is not None:
                    fresh.execute("SELECT pg_terminate_backend(%s)", (self._pid,))
                    deadline = time.monotonic() + 2
                    while fresh.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (self._pid,)).fetchone():
                        if time.monotonic() > deadline:
                            return  # still there: its outcome is not settled yet
                        time.sleep(0.05)
                found = {row[0]: (bool(row[1]), int(row[2])) for row in fresh.execute(
                    sql.SQL("SELECT id, finished_at IS NOT NULL, applied_steps_count FROM {}.{} "
                            "WHERE id = ANY(%s)").format(sql.Identifier(self.target.schema),
                                                         sql.Identifier(history.TABLE)), (list(row_ids),))}
        except Exception:
            return
        answer.append([found.get(r, (False, 0)) for r in row_ids])

    def _committed_after_all(self, plan: MigrationPlan, started: float) -> AppliedMigration:
        self.emit(Notice(f"The connection was lost on the reply to {plan.name}'s COMMIT; checked on a new "
                         "connection: it committed and its history row is finished. It is applied."))
        duration = (time.perf_counter() - started) * 1000
        self.emit(MigrationFinished(plan.name, duration, len(plan.statements)))
        return AppliedMigration(plan.name, duration, len(plan.statements))

    def _guard(self, plan: MigrationPlan, applied: int) -> MigrationFailed | None:
        """The runbook's prechecks guarding `plan`, run just before it; the failure that stops the deploy."""
        guards = self.options.guards
        if guards is None or plan.name in self._resume:
            return None
        from lumiku_tui.errors import LumikuError

        started = time.perf_counter()
        try:
            results = list(guards(plan.name))
        except LumikuError as err:
            failed = f"the precheck(s) guarding it could not run: {err.what}"
        else:
            for check in results:
                self.emit(Precheck(plan.name, check.object, check.expected, check.found, check.ok))
            bad = [c for c in results if not c.ok]
            if not bad:
                return None
            failed = f"precheck “{bad[0].object}” failed: expected {bad[0].expected}, found {bad[0].found}"
        before = (f"the {applied} migration(s) before it in this deploy are applied and stay applied"
                  if applied else "nothing was applied in this deploy")
        event = MigrationFailed(
            name=plan.name, statement_index=None, line=None, column=None, statement="", sqlstate="",
            message=f"not started: {failed}", detail="", hint="",
            duration_ms=(time.perf_counter() - started) * 1000, reason="precheck", rolled_back=True,
            recorded_failed=False,
            next_step=f"Nothing of {plan.name} ran; {before}. Fix what the precheck looks at (the runbook says "
                      f"what it guards against), then deploy again: it goes on with {plan.name}.")
        self.emit(event)
        return event

    def _approval_mismatch(self, plan: MigrationPlan) -> tuple[str, str | None] | None:
        """(checksum approved, checksum on disk now) when `plan`'s file (as read now, or as this run holds it)
        is not the one approved; None when it is, or when nothing was approved by checksum."""
        expected = dict(self.options.approved_checksums or ()).get(plan.name)
        if expected is None:
            return None
        from lumiku_tui.prisma.folder import checksum_on_disk

        on_disk = checksum_on_disk(plan.migration.path)
        if plan.migration.checksum == expected and on_disk == expected:
            return None
        return expected, on_disk

    def _changed_since_approval(self, plan: MigrationPlan) -> MigrationFailed | None:
        """Stop before `plan` when its file is not the one approved."""
        mismatch = self._approval_mismatch(plan)
        if mismatch is None:
            return None
        expected, on_disk = mismatch
        now = "can no longer be read" if on_disk is None else f"now has checksum {on_disk[:12]}"
        event = MigrationFailed(
            name=plan.name, statement_index=None, line=None, column=None, statement="", sqlstate="",
            message=f"not started: {plan.name}/migration.sql changed after it was approved (approved checksum "
                    f"{expected[:12]}, the file {now})",
            detail="", hint="", duration_ms=0.0, reason="changed_since_approval", rolled_back=True,
            recorded_failed=False,
            next_step="Nothing of it ran; migrations before it stay applied. Review the new text (preview it again) "
                      "and approve the deploy again.")
        self.emit(event)
        return event

    def _changed_while_sent(self, plan: MigrationPlan, changed: "ScriptChanged", started: float) -> MigrationFailed:
        event = MigrationFailed(
            name=plan.name, statement_index=None, line=None, column=None, statement="", sqlstate="",
            message=f"rolled back: {changed.what}", detail="", hint="",
            duration_ms=(time.perf_counter() - started) * 1000, reason="changed_since_approval", rolled_back=True,
            recorded_failed=False,
            next_step="Nothing of it was committed; migrations before it stay applied. Review the file as it is now "
                      "(preview it again) and run the deploy again.")
        self.emit(event)
        return event

    def _not_started(self, plan: MigrationPlan) -> MigrationFailed:
        event = MigrationFailed(
            name=plan.name, statement_index=None, line=None, column=None, statement="", sqlstate="",
            message="not started: the connection was lost after the previous migration committed",
            detail="", hint="", duration_ms=0.0, reason="connection_lost", rolled_back=True, recorded_failed=False,
            next_step="Nothing of it ran. Check the server and the network, then run the deploy again: it resumes "
                      "with this migration.")
        self.emit(event)
        return event

    def _apply_parts(self, conn: psycopg.Connection, plan: MigrationPlan, runner: StatementRunner,
                     resume: Resume | None, started: float, deadline: float | None) -> AppliedMigration | MigrationFailed:
        """One transaction per part; the row is inserted with the first part run and finished with the last."""
        schema = self.target.schema
        total = len(plan.parts)
        row_id = resume.row_id if resume is not None else history.new_id()
        row_exists = resume is not None
        skip = resume.skip if resume is not None else 0
        run_note = ""
        committed: list[history.CommittedPart] = []
        if resume is not None:
            why = ("it was cut off earlier (not failed by its SQL): a plain deploy continues"
                   if resume.because == CUT_OFF else "it failed by its SQL in part "
                   f"{skip + 1} earlier; the operator fixed that part and chose deploy --resume")
            run_note = f"this run resumed from part {skip + 1}: {why}."
            committed = [dataclasses.replace(
                c, total=total, earlier=False,
                note="skipped in this run: committed by an earlier run, byte for byte unchanged")
                for c in resume.committed[:skip]]
            refused = self._carry_session(conn, plan, resume)
            if refused is not None:
                raise refused
        offset = sum(len(p.statements) for p in plan.parts[:skip])
        count = len(plan.statements)
        checksum = plan.migration.checksum if resume is not None else None
        self._parts_state = (row_id, row_exists, committed)
        self._run_note = run_note
        for part in plan.parts[skip:]:
            finished = part.number == total
            done = [*committed, history.CommittedPart(part.number, total, part.first_line, part.last_line,
                                                      part.checksum, note="ran in this run" if run_note else "")]
            logs = history.progress_logs(total, done, run_note)
            insert = not row_exists

            def before(c: psycopg.Connection) -> None:
                self._set_timeouts(c, local=True)

            # The row is written after the part's statements, in their transaction: no query of the
            # deploy's own may precede the script's SET TRANSACTION.
            def after(c: psycopg.Connection, part=part, logs=logs, finished=finished, insert=insert) -> None:
                if insert:
                    history.insert_started(c, schema, row_id, plan.name, plan.migration.checksum)
                history.record_parts(c, schema, row_id, part.number, logs, finished=finished, checksum=checksum)

            runner.commit_sent = False
            try:
                if self.options.pipeline:
                    runner.run_pipelined(plan.name, part.statements, before=before, after=after,
                                         deadline_s=deadline, count=count, first_position=offset + 1)
                else:
                    try:
                        with conn.transaction():
                            with conn.pipeline():
                                before(conn)
                            runner.run_live(plan.name, part.statements, deadline_s=deadline, count=count,
                                            first_position=offset + 1)
                            with conn.pipeline():
                                after(conn)
                            runner.watch_commit(plan.name, deadline)
                    finally:
                        runner.commit_done()
            except Cancelled:
                return self._failed(conn, plan, None, None, started, "cancelled", row_id, runner.watcher,
                                    part=part.number)
            except psycopg.Error as exc:
                settled = self._settle_lost_link(conn, exc, row_id)
                if settled is not None and settled[0]:
                    return self._committed_after_all(plan, started)
                if settled is not None and settled[1] >= part.number:
                    # This part committed; only its reply was lost. The next run resumes after it.
                    self._parts_state = (row_id, True, done)
                    nxt = plan.parts[part.number] if part.number < total else part
                    return self._failed(conn, plan, None, exc, started, None, row_id, runner.watcher,
                                        part=nxt.number)
                return self._failed(conn, plan, runner.current, exc, started, None, row_id, runner.watcher,
                                    part=part.number, in_doubt=settled is None and runner.commit_sent,
                                    checked=settled is not None)
            row_exists = True
            committed = done
            self._parts_state = (row_id, row_exists, committed)
            offset += len(part.statements)
            if not finished:
                self.emit(Notice(f"{plan.name}: part {part.number} of {total} committed ({part.where}); "
                                 f"{total - part.number} to go."))
        try:
            conn.execute(self._session_settings)
        except psycopg.Error as exc:
            return self._failed(conn, plan, None, exc, started, None, row_id, runner.watcher, part=total)
        duration = (time.perf_counter() - started) * 1000
        self.emit(MigrationFinished(plan.name, duration, len(plan.statements)))
        return AppliedMigration(plan.name, duration, len(plan.statements))

    def _carry_session(self, conn: psycopg.Connection, plan: MigrationPlan, resume: Resume) -> PlanError | None:
        """Set the session up as the committed parts left it (their SET, set_config), before any part runs.

        These statements succeeded when their part committed; one that fails now (a role since dropped) stops
        the resume before anything of this migration runs, and nothing is recorded."""
        for stmt in resume.session:
            try:
                conn.execute(stmt.text)
            except psycopg.Error as exc:
                if conn.broken:
                    raise from_database_error(self.target, exc) from None
                return PlanError(
                    f"`{plan.name}` cannot resume: statement {stmt.index} (line {stmt.line}), `{stmt.summary}`, which "
                    f"part {next(p.number for p in plan.parts if stmt in p.statements)} ran to set up its session, "
                    f"fails now ({primary_message(exc)}); nothing of the migration ran.",
                    why="The parts still to run rely on the session as the committed parts left it.",
                    hint=f"Make the statement work again (e.g. recreate what it names) and deploy again; or undo by "
                    f"hand what the committed parts did, `lumiku-tui resolve --rolled-back {plan.name}`, and deploy.")
        if resume.session:
            self.emit(Notice(f"{plan.name}: the session is set up as part(s) 1-{resume.skip} left it: "
                             + "; ".join(f"`{s.summary}`" for s in resume.session) + "."))
        return None

    def _reply_deadline_s(self, plans: "Sequence[MigrationPlan] | None" = None) -> float | None:
        """How long the server may stay silent before the network counts as gone.

        Prisma's socket_timeout when the URL sets one: final (for a pipelined migration it bounds
        each script of its statements, which for most migrations is the whole of them, as Prisma's one
        query per file). Otherwise the statement
        timeout plus a grace period, after which the server is asked whether the session is at work.
        """
        if self.target.socket_timeout_s:
            return self.target.socket_timeout_s
        if not self.options.statement_timeout_s:
            return None
        if plans is None:
            plans = [self._plan] if self._plan is not None else []
        if any(s.first_keyword == "SET" and "STATEMENT_TIMEOUT" in s.keywords[:4]
               for plan in plans for s in non_data(plan.statements)):
            return None  # the script sets its own statement timeout: a long silence may be intended
        # Past this silence the watcher asks the server, from a second connection, whether the
        # deploy session is still at work; only if it is not (or cannot say) is the link given up.
        return self.options.statement_timeout_s + self.options.reply_grace_s

    def _give_up_on_connection(self) -> None:
        """Called by the watcher when the server stays silent past the deadline."""
        self._silent_server = True
        runner = self._runner
        if runner is not None:
            runner.abandon()

    def _failed(
        self,
        conn: psycopg.Connection,
        plan: MigrationPlan,
        stmt: Statement | None,
        exc: psycopg.Error | None,
        started: float,
        reason: str | None,
        row_id: str,
        watcher: StatementWatcher | None,
        *,
        part: int | None = None,
        in_doubt: bool = False,
        checked: bool = False,
        sent_after: "Sequence[str]" = (),
    ) -> MigrationFailed:
        duration = (time.perf_counter() - started) * 1000
        diag = exc.diag if exc is not None else None
        sqlstate = (exc.sqlstate or "") if exc is not None else ""
        if reason is None:
            reason = failure_reason(exc, conn, self.cancelled)
        message = primary_message(exc)
        runner = self._runner
        site = where_it_failed(stmt, exc, runner.position_offset if runner is not None and stmt is not None
                               and stmt is runner.current else 0)
        line, column = site.line, site.column
        blockers = watcher.last_blockers if watcher is not None else ()
        recorded = False
        rolled_back = plan.transactional or (stmt is None and reason == "cancelled")
        in_parts = part is not None
        committed: list[history.CommittedPart] = []
        row_exists = False
        if in_parts:
            _row, row_exists, committed = self._parts_state
            rolled_back = not committed  # committed parts (of this run or an earlier one) stay
        if in_parts and (row_exists or committed):
            logs = (history.progress_logs(len(plan.parts), committed, self._run_note)
                    + "\n" + failure_logs(plan.name, stmt, exc, line, column, reason))
            if row_exists:
                recorded = self._record_failure(conn, plan, row_id, logs, update=True)
            elif reason == "sql_error":
                recorded = self._record_failure(conn, plan, row_id, logs)
        elif reason == "sql_error" or not plan.transactional:
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
        if reason == "connection_lost" and in_doubt:
            reason = "commit_in_doubt"
            rolled_back = False
            message = (f"the connection was lost after COMMIT was sent, and the server could not be asked whether "
                       f"it committed ({message})")
            next_step = (f"Whether {plan.name} committed is unknown. Run `lumiku-tui status` once the server "
                         "answers: applied means it committed; pending or failed means it did not (a re-run "
                         "applies it, or resumes it after its committed parts).")
            if sent_after:
                message += (f"; the {len(sent_after)} migration(s) sent after it in the same message "
                            f"({sent_after[0]}{' ... ' + sent_after[-1] if len(sent_after) > 1 else ''}) may have "
                            "committed too")
                next_step += (f" The same goes for the {len(sent_after)} migration(s) sent with it after it: each "
                              "committed only if every one before it did; status shows which.")
        elif reason == "connection_lost" and checked:
            message = f"{message} (checked on a new connection: its transaction did not commit)"
        if in_parts and committed and reason != "commit_in_doubt":
            kept = len(committed)
            failing = plan.parts[part - 1] if part else None
            lines = f" (lines {failing.first_line}-{failing.last_line})" if failing else ""
            if reason == "sql_error":
                parts = f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''}"
                next_step = (f"{parts.capitalize()} of {len(plan.parts)} committed and stay{'' if kept > 1 else 's'} "
                             f"in the database; part {part}{lines} was rolled back. Either fix part {part} in "
                             f"{plan.name}/migration.sql and run `lumiku-tui deploy --resume`: it continues from "
                             f"part {part}, and only while {parts} {'are' if kept > 1 else 'is'} byte for byte "
                             f"unchanged; or undo by hand what {parts} did, then `lumiku-tui resolve --rolled-back "
                             f"{plan.name}` and deploy: the whole file runs again. (`resolve --applied` if you "
                             "finish it by hand.)")
            else:
                next_step = (f"Part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''} of {len(plan.parts)} "
                             f"committed and stay{'' if kept > 1 else 's'} in the database; part {part}{lines} was "
                             f"rolled back ({reason.replace('_', ' ')}). Run the deploy again: it resumes with "
                             f"part {part}.")
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
            position=next((n for n, s in enumerate(plan.statements, 1) if s.index == stmt.index), None) if stmt else None,
        )
        self.emit(event)
        return event

    def _record_failure(self, conn: psycopg.Connection, plan: MigrationPlan, row_id: str, logs: str,
                        *, update: bool = False) -> bool:
        fresh = None
        try:
            if conn.broken or conn.closed:
                conn = fresh = self.target.connect("deploy")
            if update:
                history.record_failure(conn, self.target.schema, row_id, logs)
            elif plan.transactional:
                history.insert_failed(conn, self.target.schema, plan.name, plan.migration.checksum, logs)
            else:
                history.record_failure(conn, self.target.schema, row_id, logs)
            return True
        except Exception:
            return False
        finally:
            if fresh is not None:
                fresh.close()


def failure_logs(
    name: str, stmt: Statement | None, exc: psycopg.Error | None, line: int | None, column: int | None, reason: str
) -> str:
    return write_failure_logs(name, exc, reason, statement_index=stmt.index if stmt is not None else None,
                              statement_text=stmt.text if stmt is not None else None, line=line, column=column)


def _journal_items(journal: "Journal | None", folder: "MigrationsFolder") -> "Callable[[list[Event]], None] | None":
    """Writes a burst of events to the journal with one flush (None without a journal)."""
    from lumiku_tui.journal import event_item

    if journal is None:
        return None
    local = folder.by_name()

    failed: list[OSError] = []

    def write(events: list[Event]) -> None:
        # A migration's start carries the checksum of the bytes it runs: a file changed between
        # attempts shows in the record.
        try:
            journal.append_many([event_item(e, checksum=local[e.name].checksum)
                                 if isinstance(e, MigrationStarted) and e.name in local else event_item(e)
                                 for e in events])
        except OSError as exc:
            # A full disk must not hide a running deploy from its operator: the events still go to the
            # screen, and the operator is told once that the journal (and so the record) misses them.
            if not failed:
                failed.append(exc)
                events.insert(0, Notice(f"The journal {journal.path} could not be written ({exc.strerror or exc}); "
                                        "the deployment record will miss what follows."))

    return write


def _journaled(journal: "Journal", folder: "MigrationsFolder", sink: EventSink) -> EventSink:
    """The sink, behind the journal: each event is durable before the front end is handed it."""
    write = _journal_items(journal, folder)
    assert write is not None

    def emit(event: Event) -> None:
        write([event])
        sink(event)

    return emit


class _EventPump:
    """Hands events to the front end from a thread of its own, in order."""

    _STOP = object()
    #: At most this many events per journal write: a pipelined migration of 100,000s of statements reports
    #: them all at once, and one write of them all would hold every line in memory at the same time.
    _BATCH = 512
    #: Statements' results waiting to be told: a migration streamed from its file hands its results over script
    #: by script, each holding the window of the file it was read from; beyond this many the deploy waits for
    #: the journal, so what is waiting stays small whatever the file's size.
    _RESULTS_WAITING = 8

    def __init__(self, sink: EventSink, journal: "Callable[[list[Event]], None] | None" = None) -> None:
        self._sink = sink
        self._journal = journal
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._room = threading.Semaphore(self._RESULTS_WAITING)
        self._thread = threading.Thread(target=self._loop, name="lumiku-events", daemon=True)
        self._thread.start()

    def __call__(self, event: Event) -> None:
        self._queue.put(event)

    def results(self, results: StatementResults) -> None:
        """Statements' results in one piece: their events are made as they are delivered."""
        while not self._room.acquire(timeout=1.0):
            if not self._thread.is_alive():
                return  # nothing tells them any more: not worth waiting for
        self._queue.put(results)

    def _loop(self) -> None:
        stop = False
        telling: "Iterator[Event] | None" = None  # the events of a StatementResults being delivered
        while not stop:
            batch: list[Event] = []
            # What queued meanwhile goes to the journal with one flush, then to the front end in order.
            while len(batch) < self._BATCH:
                if telling is not None:
                    event = next(telling, None)
                    if event is None:
                        telling = None
                        self._room.release()
                    else:
                        batch.append(event)
                    continue
                try:
                    item = self._queue.get_nowait() if batch else self._queue.get()
                except queue.Empty:
                    break
                if item is self._STOP:
                    stop = True
                    break
                if isinstance(item, StatementResults):
                    telling = item.events()
                else:
                    batch.append(item)  # type: ignore[arg-type]
            if batch and self._journal is not None:
                self._journal(batch)
            for event in batch:
                try:
                    self._sink(event)
                except Exception:  # a front end's bug must not stop the deploy's reporting
                    pass

    def close(self) -> None:
        """Deliver everything queued, then stop."""
        self._queue.put(self._STOP)
        self._thread.join()


def _session_settings(version_num: int) -> list[str]:
    """RESET ALL, then the deploy session's own safeguards, as one round trip.

    A vanished client must not keep Prisma's lock and table locks: the server ends a session
    idle inside a transaction, and (PostgreSQL 14+) notices a dead client mid-statement.
    """
    settings = [f"SET idle_in_transaction_session_timeout = '{int(IDLE_IN_TRANSACTION_TIMEOUT_S * 1000)}ms'",
                # Reading the history must not queue forever behind a session holding the table.
                f"SET lock_timeout = '{int(HISTORY_LOCK_TIMEOUT_S * 1000)}ms'",
                # The server's own view of a silent network (ignored over a Unix socket).
                "SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5", "SET tcp_keepalives_count = 3",
                f"SET tcp_user_timeout = '{int(TCP_USER_TIMEOUT_S * 1000)}ms'"]
    if version_num >= 140000:
        settings.append(f"SET client_connection_check_interval = '{int(CLIENT_CHECK_INTERVAL_S * 1000)}ms'")
        # Between migrations the session holds Prisma's lock outside any transaction.
        settings.append(f"SET idle_session_timeout = '{int(IDLE_SESSION_TIMEOUT_S * 1000)}ms'")
    return ["RESET ALL", *settings]


#: Raised by each migration of a message but the first, right after its BEGIN: a notice makes PostgreSQL
#: send at once what it has answered so far (the COMMIT of the migration before, this one's BEGIN), so the
#: deploy learns that this one started when it does. NOTICE, not WARNING: nothing reaches the server's log.
_STARTED_NOTICE = "DO $lumiku$BEGIN RAISE NOTICE 'lumiku-tui: next migration started'; END$lumiku$"


def groups_on(version_num: int) -> bool:
    """Whether migrations may go several to a message on this server. Before PostgreSQL 13 statement_timeout
    timed a simple-query message whole, and a SET inside it might not re-arm it: there each goes alone."""
    return version_num >= 130000


def _can_raise_notices(conn: psycopg.Connection) -> bool:
    """Whether this session may run the DO block of _STARTED_NOTICE (PL/pgSQL installed and usable)."""
    try:
        row = conn.execute("SELECT coalesce((SELECT has_language_privilege(oid, 'USAGE') FROM pg_language "
                           "WHERE lanname = 'plpgsql'), false)").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0])


def _tells_its_start(plan: MigrationPlan) -> bool:
    """Whether the notice may run first in its transaction: not before a SET TRANSACTION (or a SET of a
    transaction_* setting), which PostgreSQL accepts only before the transaction's first query."""
    return not any(s.first_keyword == "SET" and "TRANSACTION" in s.text.upper() for s in non_data(plan.statements))


def _sql_bytes(plan: MigrationPlan) -> int:
    return sum(len(s.text.encode()) + len(SEPARATOR) for s in plan.statements)
