"""Step 4: the deploy, live. The engine runs in a worker thread; its events are drawn here."""

from __future__ import annotations

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

    def __init__(self, approved: tuple[str, ...], options: DeployOptions | None = None) -> None:
        super().__init__()
        self.approved = approved
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
        self.deployment = Deployment(ctx.target, ctx.folder, self.options, on_event=self._from_engine)
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
        elif isinstance(event, ev.StatementFinished):
            self.statement_started = None
            self._advanced += 1
            position, total, done = self._migration_bar
            self._migration_bar = (position, total, done + 1)
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
        for line in wording.event_lines(event, voice, full=False):
            self._log(words.rich_line(line, present))

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
            return self.running
        if action == "end_blocker":
            return bool(self.running and self.blocked is not None and self.blocked.blockers)
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
        self._log(Text("Cancelling: rolling back the migration in progress…", style="yellow"))
        self._flush()
        deployment = self.deployment
        if deployment is not None:
            # cancel() may wait on the server for a moment; the UI must not.
            threading.Thread(target=deployment.cancel, name="lumiku-cancel", daemon=True).start()

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
        pid = "-----" if self.ctx.presentation.fixed_sessions else str(blocker.pid)
        self.app.push_screen(
            ConfirmModal(f"End session pid {pid}, which blocks {self._blocked_table()}?",
                         self._blocker_age(blocker) + ".\nPostgreSQL terminates that backend: its open transaction "
                         "is rolled back and its lock released; this deploy then goes on.",
                         yes="y = end that session", no="n / Esc = keep waiting"),
            lambda confirmed: self._end_blocker(blocker.pid) if confirmed else None,
        )

    @work(thread=True, group="end-blocker")
    def _end_blocker(self, pid: int) -> None:
        from lumiku_tui.pg.sessions import end_session

        assert self.ctx.target is not None
        try:
            ended = end_session(self.ctx.target, pid)
        except LumikuError as err:
            self.call_ui(self.notify, words.error_rich(err, self.ctx.presentation).plain, severity="error",
                         timeout=15)
            return
        self.ended_blocker = pid
        self.call_ui(self.notify, "Session ended; its lock is released." if ended else "That session had already gone.")

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
