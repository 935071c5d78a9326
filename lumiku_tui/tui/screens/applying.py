"""Step 4: the deploy, live. The engine runs in a process of its own (apply/detached.py) whose journal a worker
thread follows, or, for the demo, in the worker thread itself; either way its events are drawn here."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual import log, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, RichLog, Static

from lumiku_tui.apply import events as ev
from lumiku_tui.apply import wording
from lumiku_tui.apply.deploy import Deployment, DeployOptions, DeployResult
from lumiku_tui.apply.detached import Control, DeployProcess
from lumiku_tui.errors import LockTimeout, LumikuError
from lumiku_tui.pg.locks import Backend
from lumiku_tui.tui import words
from lumiku_tui.tui.navigation import DeployRetried, TroubleshootRequested, VerificationRequested
from lumiku_tui.tui.screens.base import ConfirmModal, TimeoutModal, WizardScreen

#: Events drawn at once rather than with the next batch of the screen's timer.
_URGENT = (ev.MigrationFailed, ev.BlockedByLock, ev.LockWaiting, ev.LockAcquired, ev.DeployFinished, ev.Notice)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


class ApplyingScreen(WizardScreen):
    SUB_TITLE = "4/7 Applying"
    BINDINGS = [
        Binding("c", "cancel_deploy", "Cancel deploy"),
        Binding("k", "end_blocker", "End blocker…"),
        Binding("r", "retry", "Retry…"),
        Binding("enter", "next", "Verify", priority=True),
        Binding("t", "troubleshoot_failure", "Troubleshoot"),
        Binding("o", "overview", "Overview"),
    ]

    def __init__(self, approved: tuple[str, ...], options: DeployOptions | None = None, *,
                 detached: bool = False, attach_to: DeployProcess | None = None) -> None:
        super().__init__()
        self.approved = approved
        #: Run (or follow) the deploy in its own process, read back from the journal (apply/detached.py).
        self.detached = detached or attach_to is not None
        self.attach_to = attach_to
        self.process: DeployProcess | None = attach_to
        #: This view's control of the detached deploy, or who holds it (a dict) while this view watches.
        self.control: Control | dict | None = None
        self._leaving = threading.Event()
        #: When the migration in progress started (UTC), as the journal says: a pipelined migration's only clock.
        self.migration_since: datetime | None = None
        # Pipelined as the headless deploy is: each migration's statements in one round trip. Results stay
        # per statement (the log shows each); only their one-by-one durations are not measured.
        self.options = options or DeployOptions(approved=approved, pipeline=True)
        self.deployment: Deployment | None = None
        self.running = False
        self.finished = False
        self.result: DeployResult | None = None
        self.failure: ev.MigrationFailed | None = None
        self.error: LumikuError | None = None
        self.cancel_requested = False
        #: A detached deploy is asked to cancel once, by whichever comes second: the cancel, or this view
        #: taking control of the deploy it just started.
        self._cancel_sent = False
        self._cancel_lock = threading.Lock()
        self.statement_started: float | None = None
        self.current_text = ""
        self.events_seen = 0
        self._buffer: list[ev.Event] = []
        self._buffer_lock = threading.Lock()
        self._lines: list[Text] = []
        self._advanced = 0
        self._drain_asked = False
        #: How many batches of events the screen has drawn (each one log write and one repaint).
        self.batches_drawn = 0
        #: The migration bar as the events left it (position, statements, done), and as last drawn.
        self._migration_bar = (0, 0, 0)
        self._migration_shown = (0, 0, 0)
        self._migrations_total = 0
        #: The table-lock wait in progress: the event, and when (monotonic) the wait began.
        self.blocked: ev.BlockedByLock | None = None
        self.blocked_since = 0.0
        self.current_statement: tuple[str, int] | None = None
        self.ended_blocker: int | None = None

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static(f"Applying {len(self.approved)} migration(s) to {self.ctx.display}", id="apply-title",
                     markup=False)
        with Horizontal(classes="bar-row"):
            yield Label("Overall   ", classes="bar-label")
            yield ProgressBar(total=None, show_eta=False, id="overall")
        with Horizontal(classes="bar-row"):
            yield Label("Migration ", classes="bar-label", id="migration-label")
            yield ProgressBar(total=None, show_eta=False, id="migration")
        yield Static("Connecting and taking Prisma's migration lock…", id="current", markup=False)
        yield Static("", id="lock-banner", classes="banner error hidden", markup=False)
        yield RichLog(id="apply-log", wrap=True, markup=False, highlight=False, min_width=20, max_lines=5000)
        yield from self.footer()

    def on_mount(self) -> None:
        # Four batches a second: often enough to read, rare enough to leave the CPU to the deploy.
        self.set_interval(0.25, self._tick)
        self.running = True
        self.ctx.deploying = True
        self.refresh_bindings()
        self._deploy()

    # -- the worker ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="deploy")
    def _deploy(self) -> None:
        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None
        if self.detached:
            self._follow_detached()
            return
        options = self.options
        if ctx.runbook is not None and options.guards is None:  # prechecks guarding a migration run right before it
            from lumiku_tui.runbook.reader import migration_guards

            options = replace(options, guards=migration_guards(ctx.target, ctx.runbook))
        self.deployment = Deployment(ctx.target, ctx.folder, options, on_event=self._from_engine,
                                     journal=self.wizard.journal)
        if self.cancel_requested:
            self.deployment.cancel()
        try:
            result = self.deployment.run()
        except LumikuError as err:
            self.call_ui(self._engine_refused, err)
            return
        except Exception as exc:  # an unexpected engine error must still end the screen's running state
            self.call_ui(self._engine_refused, LumikuError(f"The deploy stopped: {exc}",
                                                           hint="Check the log above, then the overview."))
            return
        self.call_ui(self._done, result)

    def _follow_detached(self) -> None:
        """Start the approved deploy in its own process (or take up the one running), then draw what it writes to
        the journal, four times a second, until its outcome. The deploy never waits on this view."""
        from lumiku_tui.apply import detached
        from lumiku_tui.journal import Journal
        from lumiku_tui.locations import Locations

        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None
        journal = Journal.for_target(ctx.target, ctx.state_dir)
        launched = None
        try:
            if self.attach_to is None:
                where = ctx.locations or Locations.from_options(database_url=ctx.database_url,
                                                                migrations=str(ctx.folder.path))
                launched = detached.start(ctx.target, ctx.folder, where, self.options, state_dir=ctx.state_dir)
            process = detached.last_deploy_process(journal)
        except LumikuError as err:
            self.call_ui(self._engine_refused, err)
            return
        if process is None:
            self.call_ui(self._engine_refused, LumikuError("The deploy process left nothing in the journal.",
                                                           hint="Look at the overview, then deploy again."))
            return
        self.process = process
        control = detached.Control.take(journal, view="the wizard")
        # Known here, not only once the UI draws it: a signal that comes meanwhile must find this view in control.
        self.control = control
        self._send_cancel()
        self.call_ui(self._attached, process, control)
        offset, seen = process.offset, []
        while not self._leaving.is_set():
            entries, offset = journal.read(offset)
            for entry in entries:
                seen.append(entry)
                if entry.kind == detached.ENDED and process.pid in (entry.pid, entry.get("for_pid")):
                    self._ended(entry, seen)
                    return
                event = detached.event_of(entry)
                if entry.kind == "migration_started":
                    self.migration_since = entry.at  # its clock is the deploy process's, not this view's
                elif entry.kind in ("migration_finished", "migration_failed"):
                    self.migration_since = None
                if event is not None:
                    self._from_engine(event)
                elif entry.kind == detached.SAFE_DEFAULT:
                    self.call_ui(self._say, f"Asked with no view in control: {entry.get('question')} "
                                 f"{entry.get('answer')}")
                elif entry.kind == detached.CANCEL_REQUESTED and entry.pid != os.getpid():
                    self.call_ui(self._say, f"{entry.who} asked to cancel the deploy from another view.")
            if launched is not None:
                launched.process.poll()  # this view started it: leave no zombie behind
            if not entries and not detached.pid_alive(process.pid):
                if journal.read(offset)[0]:
                    continue  # its last words landed meanwhile
                lost = detached.last_deploy_process(journal)
                self.call_ui(self._engine_refused, LumikuError(
                    lost.describe() if lost is not None else "The deploy process ended without a word.",
                    hint="The overview shows each migration's state as the database records it; deploy again to "
                    "resume or retry."))
                return
            time.sleep(0.25)

    def _ended(self, entry, seen) -> None:  # type: ignore[no-untyped-def]
        from lumiku_tui.apply.detached import result_of

        if entry.get("outcome") in ("refused", "lost"):
            self.call_ui(self._engine_refused, LumikuError(str(entry.get("message")), hint=str(entry.get("hint", ""))))
            return
        self.call_ui(self._done, result_of(seen, self.ctx.display))

    def _attached(self, process: DeployProcess, control: Control | dict) -> None:
        self.control = control
        title = self.query_one("#apply-title", Static)
        when = self.ctx.presentation.text(f"{process.started:%Y-%m-%d %H:%M:%S} UTC")
        if isinstance(control, Control):
            who = "this view controls it (c cancels, k ends a blocking session)"
        else:
            who = (f"{control.get('who')} controls it from {control.get('view', 'another view')} (process "
                   f"{control.get('pid')}); this view watches")
        title.update(f"Deploy of {len(process.approved)} migration(s) to {self.ctx.display}, started by {process.who} "
                     f"at {when} in its own process ({process.pid}): closing this terminal leaves it running; "
                     f"{who}.")
        self.refresh_bindings()

    def _say(self, text: str) -> None:
        self._log(Text(text, style="yellow"))
        self._flush()

    @property
    def in_control(self) -> bool:
        """Whether this view may cancel and end blocking sessions (always, for a deploy in this process)."""
        return not self.detached or isinstance(self.control, Control)

    @property
    def watching_only(self) -> bool:
        """Another view controls the deploy. Not yet known right after the deploy process starts: a cancel asked
        for then is carried out as soon as this view takes control (`_send_cancel`)."""
        return self.detached and self.control is not None and not isinstance(self.control, Control)

    def leave(self) -> None:
        """This view goes; a detached deploy goes on."""
        self._leaving.set()
        if isinstance(self.control, Control):
            self.control.release()
            self.control = None

    def on_unmount(self) -> None:
        self.leave()

    def _from_engine(self, event: ev.Event) -> None:
        """Called on the deploy thread for every event; it never waits for the screen.

        Events are queued and drawn in batches by the screen's timer: a deploy of hundreds of
        migrations must not pause on the screen for each of them (`call_from_thread` would
        block the deploy until the screen had drawn). What the operator must see at once (a
        failure, a lock wait, the end) asks for a batch immediately.
        """
        with self._buffer_lock:
            self._buffer.append(event)
            if not isinstance(event, _URGENT) or self._drain_asked:
                return
            self._drain_asked = True
        # As a message to this screen: an error while drawing ends the app like any handler's error.
        try:
            queued = self.call_later(self._drain)
        except RuntimeError:  # the event loop has closed
            queued = False
        if not queued:
            log.info(f"{type(event).__name__} not drawn: the deploy's screen has closed")

    def _drain(self) -> None:
        with self._buffer_lock:
            events, self._buffer = self._buffer, []
            self._drain_asked = False
        for event in events:
            self.show_event(event)
        self._flush()
        if events:
            self.batches_drawn += 1
            self._show_current()

    def _flush(self) -> None:
        """Draw what a batch of events produced: one log write and one update of each bar."""
        if self._lines:
            lines, self._lines = self._lines, []
            self.query_one("#apply-log", RichLog).write(Text("\n").join(lines))
        if self._advanced:
            advanced, self._advanced = self._advanced, 0
            self.query_one("#overall", ProgressBar).advance(advanced)
        if self._migration_shown != self._migration_bar:
            self._migration_shown = position, total, done = self._migration_bar
            if position:
                self.query_one("#migration-label", Label).update(f"[{position}/{self._migrations_total}]     ")
            self.query_one("#migration", ProgressBar).update(total=max(total, 1), progress=done)

    # -- drawing events -----------------------------------------------------------------------

    def _log(self, text: str | Text) -> None:
        """Queue a log line; `_flush` writes the batch."""
        self._lines.append(Text(self.ctx.presentation.text(text)) if isinstance(text, str) else text)

    def show_event(self, event: ev.Event) -> None:
        self.events_seen += 1
        present = self.ctx.presentation
        # The log is the screen less its padding and scrollbar; the CLI's columns take the rest.
        voice = words.voice(present, summary_width=self.size.width - 28)
        banner = self.query_one("#lock-banner", Static)
        if isinstance(event, ev.LockWaiting):
            banner.update(wording.lock_waiting(event, voice))
            banner.remove_class("hidden")
            return
        if isinstance(event, ev.LockAcquired):
            banner.add_class("hidden")
            self._log("Took Prisma's migration lock.")
            return
        if isinstance(event, ev.DeployPlanned):
            self.query_one("#overall", ProgressBar).update(total=max(event.statements, 1), progress=0)
        elif isinstance(event, ev.MigrationStarted):
            self._migrations_total = event.total
            self._migration_bar = (event.position, event.statements, 0)
            self.current_text = f"[{event.position}/{event.total}] {event.name}"
        elif isinstance(event, ev.StatementStarted):
            self.statement_started = time.monotonic()
            self.current_text = f"Statement {event.index} (line {event.line}): {event.summary}"
            self.current_statement = (event.migration, event.index)
            self._unblocked()
            return
        elif isinstance(event, (ev.StatementFinished, ev.StatementsFinished)):
            finished = len(event.rowcounts) if isinstance(event, ev.StatementsFinished) else 1
            self.statement_started = None
            self._advanced += finished
            position, total, done = self._migration_bar
            self._migration_bar = (position, total, done + finished)
            if self.blocked is not None:
                self._unblocked()
        elif isinstance(event, ev.BlockedByLock):
            if self.blocked is None:
                self.refresh_bindings()
            self.blocked = event
            self.blocked_since = time.monotonic() - event.waited_ms / 1000
            self._show_blocked()
            return  # the banner says it while it lasts
        elif isinstance(event, ev.MigrationFailed):
            self.failure = event
        elif isinstance(event, ev.Precheck) and self.wizard.session is not None:
            self._record_precheck(event)
        for line in wording.event_lines(event, voice, full=False):
            self._log(words.rich_line(line, present))

    def _record_precheck(self, event: ev.Precheck) -> None:
        """A precheck guarding a migration ran in the deploy: the record lists it beside those run at approval."""
        from lumiku_tui.runbook.reader import KIND, RUNBOOK_NAME
        from lumiku_tui.verification.verify import Check

        session = self.wizard.session
        source = self.ctx.runbook.source if self.ctx.runbook is not None else RUNBOOK_NAME
        session.record_prechecks([*session.prechecks, Check(source, KIND, event.name, event.expected, event.found,
                                                            event.ok)])

    def _unblocked(self) -> None:
        if self.blocked is not None:
            self.blocked = None
            self.refresh_bindings()
        self.query_one("#lock-banner", Static).add_class("hidden")

    def _blocked_table(self) -> str:
        """The table the waiting statement locks, as the safety check named it."""
        from lumiku_tui.project import findings_for

        if self.blocked is not None and self.blocked.index is not None:
            for finding in findings_for(self.ctx.lint, self.blocked.migration, self.blocked.index):
                if finding.table:
                    return finding.table
        return "that table"

    def _show_blocked(self) -> None:
        """Who holds the lock, for how long it has idled, when the wait gives up, and who queues behind it."""
        event = self.blocked
        if event is None or self.finished:
            return
        present = self.ctx.presentation
        # Who, in short: the lines below give each blocker's state, age and query.
        voice = replace(words.voice(present), session=lambda b: "pid {} ({})".format(
            "-----" if present.fixed_sessions else b.pid, b.application_name or "an unnamed client"))
        limit = self.options.lock_timeout_s
        waited = time.monotonic() - self.blocked_since
        text = Text(wording.table_lock_wait(event, voice) + ".\n", style="bold")
        for blocker in event.blockers[:2]:
            text.append(f"  {self._blocker_age(blocker)}\n")
        if limit:
            left = "--" if present.still else f"{max(0.0, limit - waited):.0f}"
            text.append(f"Gives up in {left} s (lock timeout {limit:g} s). ", style="bold")
        table = self._blocked_table()
        text.append(f"Meanwhile the app's queries on {table} queue behind this waiting statement. "
                    "k ends the blocking session · c cancels (rolls this migration back).")
        banner = self.query_one("#lock-banner", Static)
        banner.update(text)
        banner.remove_class("hidden")

    def _blocker_age(self, blocker: Backend) -> str:
        present = self.ctx.presentation
        pid = "-----" if present.fixed_sessions else str(blocker.pid)
        now = datetime.now(UTC)
        parts = [f"pid {pid} ({blocker.application_name or 'an unnamed client'}, user {blocker.user})"]
        if blocker.state:
            idle = ""
            if blocker.state_change is not None and not present.still:
                idle = f" for {_age(now - blocker.state_change)}"
            parts.append(f"{blocker.state}{idle}")
        if blocker.backend_start is not None and not present.still:
            parts.append(f"connected {_age(now - blocker.backend_start)} ago")
        if blocker.query:
            parts.append("last query: " + wording.cut(present.text(blocker.query), 60))
        return " · ".join(parts)

    def _tick(self) -> None:
        self._drain()
        self._show_current()
        if self.blocked is not None:
            self._show_blocked()

    def _show_current(self) -> None:
        current = self.query_one("#current", Static)
        if self.finished:
            return
        if self.statement_started is not None:
            elapsed = (time.monotonic() - self.statement_started) * 1000
            current.update(f"▶ {self.current_text}  {self.ctx.presentation.duration(elapsed)}")
        elif self.migration_since is not None and self.current_text:
            elapsed = (datetime.now(UTC) - self.migration_since).total_seconds() * 1000
            current.update(f"▶ {self.current_text}  running {self.ctx.presentation.duration(max(elapsed, 0))}")
        elif self.current_text:
            current.update(f"  {self.current_text}")

    def _stopped(self) -> None:
        self.blocked = None
        self.query_one("#lock-banner", Static).add_class("hidden")
        # A question about the running deploy (cancel, end a blocker) means nothing once it has ended.
        if isinstance(self.app.screen, ConfirmModal) and self.app.screen_stack[-2] is self:
            self.app.screen.dismiss(False)
        self.running = False
        self.finished = True
        self.ctx.deploying = False
        if isinstance(self.control, Control):
            self.control.release()  # nothing left to control: the next view may take it
        if self.ctx.interrupted_by is not None:
            # A signal asked the wizard to end; the migration in progress is rolled back by now.
            self.app.exit(128 + self.ctx.interrupted_by)
        self.refresh_bindings()

    def _done(self, result: DeployResult) -> None:
        self._drain()
        self.result = result
        self.ctx.result = result
        self._stopped()
        session = self.wizard.session
        if session is not None:
            session.record_deploy(result)
        current = self.query_one("#current", Static)
        if result.ok:
            current.update(Text(f"✓ Applied {len(result.applied)} migration(s) in "
                                f"{self.ctx.presentation.duration(result.duration_ms)}. "
                                "Press Enter to verify.", style="bold green"))
            current.set_classes("banner ok")
        elif result.cancelled:
            current.update(Text(f"Cancelled: the migration in progress was rolled back; {len(result.applied)} "
                                "migration(s) before it stay applied. Press o for the overview.", style="yellow"))
            current.set_classes("banner attention")
        else:
            failure = result.failure
            name = failure.name if failure else "a migration"
            if self.retryable and failure is not None:
                what = "a table lock" if failure.reason == "lock_timeout" else "its statement"
                current.update(Text(f"✗ {name} gave up waiting for {what} (timeout); it was rolled back and nothing "
                                    "was recorded. Press r to retry (the timeout can be changed), t to see who held "
                                    "it.", style="bold red"))
            else:
                current.update(Text(f"✗ {name} failed; it was rolled back. Press t to see why and what to do.",
                                    style="bold red"))
            current.set_classes("banner error")

    def _engine_refused(self, err: LumikuError) -> None:
        self._drain()
        self.error = err
        self._stopped()
        self.query_one("#lock-banner", Static).add_class("hidden")
        current = self.query_one("#current", Static)
        extra = "Press r to retry (the wait can be changed), t to see who holds the lock." \
            if isinstance(err, LockTimeout) else ""
        current.update(words.error_rich(err, self.ctx.presentation, extra=extra))
        current.set_classes("banner error")

    # -- keys ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_deploy":
            return self.running and self.in_control
        if action == "end_blocker":
            return bool(self.running and self.in_control and self.blocked is not None and self.blocked.blockers)
        if action == "retry":
            return self.retryable
        if action == "next":
            return bool(self.finished and self.result is not None and self.result.ok)
        if action == "overview":
            return self.finished
        return True

    def action_cancel_deploy(self) -> None:
        if not self.running:
            return
        self.app.push_screen(
            ConfirmModal("Cancel the deploy?",
                         "The migration in progress is rolled back; migrations already applied stay applied.",
                         yes="y = cancel the deploy", no="n / Esc = keep going"),
            self._cancel_confirmed,
        )

    def _cancel_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self.cancel()

    def cancel(self) -> None:
        """Roll back the migration in progress and stop (after the operator confirmed, or on a signal)."""
        if not self.running or self.cancel_requested:
            return
        self.cancel_requested = True
        if not self.detached and self.wizard.journal is not None:  # a detached deploy's control journals its own
            self.wizard.journal.append("cancel_requested", by="signal" if self.ctx.interrupted_by else "operator")
        self._log(Text("Cancelling: rolling back the migration in progress…", style="yellow"))
        self._flush()
        if self.detached:
            self._send_cancel()
            return
        deployment = self.deployment
        if deployment is not None:
            # cancel() may wait on the server for a moment; the UI must not.
            threading.Thread(target=deployment.cancel, name="lumiku-cancel", daemon=True).start()

    def _send_cancel(self) -> None:
        """Ask the detached deploy to cancel, once, when a cancel was asked for and this view controls it. The
        deploy process rolls back on SIGTERM, as a foreground deploy does on a confirmed cancel."""
        with self._cancel_lock:
            control, process = self.control, self.process
            if self._cancel_sent or not self.cancel_requested or not isinstance(control, Control) or process is None:
                return
            self._cancel_sent = True
        threading.Thread(target=control.cancel, args=(process,), name="lumiku-cancel", daemon=True).start()

    # -- recovering from a lock -----------------------------------------------------------------

    @property
    def retryable(self) -> bool:
        """A lock or statement timeout: nothing was recorded, so the same deploy can simply run again."""
        return self._timeout() is not None

    def _timeout(self) -> tuple[str, str, str] | None:
        """What gave up: (what to retry, the timeout's name, the option that sets it), or None."""
        if not self.finished:
            return None
        if self.failure is not None and self.failure.reason == "lock_timeout":
            return self.failure.name, "lock timeout", "lock_timeout_s"
        if self.failure is not None and self.failure.reason == "statement_timeout":
            return self.failure.name, "statement timeout", "statement_timeout_s"
        if isinstance(self.error, LockTimeout):
            return "the deploy", "wait for Prisma's migration lock", "advisory_lock_wait_s"
        return None

    def action_end_blocker(self) -> None:
        if self.blocked is None or not self.blocked.blockers:
            return
        blocker = self.blocked.blockers[0]
        self.end_session_after_asking(
            blocker.pid, f"End session pid {self.session_label(blocker.pid)}, which blocks {self._blocked_table()}?",
            self._blocker_age(blocker) + ".\nPostgreSQL terminates that backend: its open transaction is rolled "
            "back and its lock released; this deploy then goes on.", no="n / Esc = keep waiting",
            done=self._blocker_ended)

    def _blocker_ended(self, pid: int, ended: bool) -> None:
        self.ended_blocker = pid
        self.notify("Session ended; its lock is released." if ended else "That session had already gone.")

    def action_retry(self) -> None:
        timeout = self._timeout()
        if timeout is None:
            return
        what, kind, which = timeout
        if self.wizard.typeahead is None:  # digits typed before the dialog opens are its new timeout
            self.wizard.typeahead = []
        self.app.push_screen(TimeoutModal(what, kind, getattr(self.options, which)), self._retry_with)

    def _retry_with(self, seconds: float | None) -> None:
        timeout = self._timeout()
        if seconds is None or timeout is None:
            return
        which = timeout[2]
        journal = self.wizard.journal
        if journal is not None:
            old = getattr(self.options, which)
            if old != seconds:
                journal.append("timeout_changed", which=timeout[1], option=which, old=old, new=seconds)
            journal.append("retry", why=f"{timeout[1]} on {timeout[0]}")
        applied = {m.name for m in self.result.applied} if self.result is not None else set()
        remaining = tuple(name for name in self.approved if name not in applied)
        options = replace(self.options, approved=remaining, **{which: seconds})
        self.post_message(DeployRetried(remaining, options))

    def action_next(self) -> None:
        if self.result is not None and self.result.ok:
            self.post_message(VerificationRequested(tuple(a.name for a in self.result.applied), after_deploy=True))

    def action_troubleshoot_failure(self) -> None:
        if self.failure is not None and self.failure.reason != "cancelled":
            self.post_message(TroubleshootRequested("failure", failure=self.failure))
        elif isinstance(self.error, LockTimeout):
            self.post_message(TroubleshootRequested("lock"))
        elif self.error is not None:
            from lumiku_tui.errors import DeployBlocked, TargetError

            if isinstance(self.error, DeployBlocked) and self.error.failed:
                self.post_message(TroubleshootRequested("failure", name=self.error.failed[0]))
            elif isinstance(self.error, TargetError):
                self.post_message(TroubleshootRequested("connect"))
            else:
                self.post_message(TroubleshootRequested("menu"))
        else:
            self.action_troubleshoot()

    def action_overview(self) -> None:
        if self.finished:
            self.dismiss()
