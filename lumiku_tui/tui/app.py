"""The deployment wizard: overview → preview → approval → applying → verification → health → checklist.

`run_wizard(locations, demo=...)` is what `lumiku-tui` and `lumiku-tui demo` call. The app
holds one `WizardContext`; each screen reads it, and workers fill it with engine results.

The app is the one navigator: a screen posts a request (`tui/navigation.py`) or dismisses itself,
and the handlers below pick the next screen. Only this module imports the screens.
"""

from __future__ import annotations

import asyncio
import io
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from rich.console import Console
from rich.text import Text
from textual import on
from textual.app import App, SuspendNotSupported, SystemCommand
from textual.binding import Binding
from textual.command import DiscoveryHit, Hits
from textual.system_commands import SystemCommandsProvider

from lumiku_tui.errors import LumikuError
from lumiku_tui.project import TYPED_IN_WIZARD, Locations, open_project
from lumiku_tui.redact import redact
from lumiku_tui.tui import navigation as nav
from lumiku_tui.tui.context import Presentation, WizardContext
from lumiku_tui.tui.offload import Offloader
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.base import GLOBAL_ACTIONS, ConfirmModal, TimeoutModal
from lumiku_tui.tui.screens.checklist import ChecklistScreen
from lumiku_tui.tui.screens.health import HealthScreen
from lumiku_tui.tui.screens.keys import KeysScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.rehearsal import RehearsalScreen
from lumiku_tui.tui.screens.troubleshoot.connect import ConnectScreen
from lumiku_tui.tui.screens.troubleshoot.failure import FailureScreen
from lumiku_tui.tui.screens.troubleshoot.lock import LockScreen
from lumiku_tui.tui.screens.troubleshoot.menu import TroubleshootMenu
from lumiku_tui.tui.screens.verification import VerificationScreen

class ScreenFirstCommands(SystemCommandsProvider):
    """The palette's list before anything is typed, in the order `get_system_commands` gives: the screen's own
    actions first (Textual's own provider sorts them by name, mixing in its theme and quit)."""

    async def discover(self) -> Hits:
        for name, help_text, callback, discover in self.app.get_system_commands(self.screen):
            if discover:
                yield DiscoveryHit(name, callback, help=help_text)


#: Signals that end the wizard the way a confirmed cancel does (SIGINT from `kill -INT` too: in the
#: wizard Ctrl+C is a key, so a SIGINT comes from outside and means stop, as SIGTERM does).
_END_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name))
#: How long a signalled wizard waits for the rollback before it leaves anyway.
_SIGNAL_GRACE_S = 10.0


class WizardApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "lumiku-tui"
    # ctrl+p: the screen's own actions by name, the Keys panel and Textual's theme switch.
    ENABLE_COMMAND_PALETTE = True
    COMMANDS = {ScreenFirstCommands}
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", show=True, priority=True)]

    def __init__(self, ctx: WizardContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.offloader = Offloader()
        if ctx.demo:
            self.title = "lumiku-tui · demo"

    #: Digits typed after `r` asked for the retry dialog but before it could take them (None: not collecting).
    typeahead: list[str] | None = None

    def on_key(self, event: Any) -> None:
        # A digit no widget took while a dialog that takes a number opens (typed quickly after `r`): it goes
        # to that dialog, or is kept for it until it is drawn.
        if not (event.character and event.character in "0123456789."):
            return
        if isinstance(self.screen, TimeoutModal):
            self.screen.take(event.character)
            event.stop()
        elif self.typeahead is not None:
            self.typeahead.append(event.character)
            event.stop()

    def on_mount(self) -> None:
        self._watch_signals()
        self.push_screen(OverviewScreen())
        self._attach_to_running_deploy()

    def attach_deploy(self, process: Any) -> None:
        """Show a deploy running in its own process and take up its controls (or watch, if another view has them)."""
        from lumiku_tui.apply.deploy import DeployOptions

        bounds = {name: value for name in ("lock_timeout_s", "statement_timeout_s")
                  if (value := getattr(process, name)) is not None}
        options = DeployOptions(approved=process.approved, pipeline=True, **bounds)
        self.push_screen(ApplyingScreen(process.approved, options, attach_to=process))

    def _attach_to_running_deploy(self) -> None:
        """A deploy running in its own process for this target is shown at once, and re-attached (one that died
        without a word is explained by the overview's banner)."""
        from lumiku_tui.apply.detached import last_deploy_process
        from lumiku_tui.journal import Journal

        ctx = self.ctx
        if ctx.target is None or ctx.folder is None:
            return
        try:
            process = last_deploy_process(Journal.for_target(ctx.target, ctx.state_dir))
        except OSError:
            return
        if process is None:
            return
        if process.running:
            self.attach_deploy(process)

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """The palette offers the screen's own keys first (by name), then the Keys panel and troubleshooting,
        then what the focused widget's keys do (moving a cursor), then theme and quit."""
        # The screen's own: declared by the wizard's screen classes, not Textual's Screen (focus, copy).
        declared = {b.action for cls in type(screen).__mro__ if cls.__module__.startswith("lumiku_tui")
                    for b in cls.__dict__.get("BINDINGS", ()) if isinstance(b, Binding)}
        seen: set[str] = set()
        own: list[SystemCommand] = []
        widgets: list[SystemCommand] = []
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if (not active.enabled or not binding.description or binding.action in GLOBAL_ACTIONS
                    or binding.description in seen):
                continue
            seen.add(binding.description)
            command = SystemCommand(binding.description,
                                    f"key {binding.key_display or self.get_key_display(binding)}",
                                    partial(self.run_action, binding.action, active.node))
            (own if active.node is screen and binding.action in declared else widgets).append(command)
        yield from own
        if hasattr(screen, "action_keys"):
            yield SystemCommand("Keys", "Every key of this screen and the shared ones (?)", screen.action_keys)
        if hasattr(screen, "action_troubleshoot"):
            yield SystemCommand("Troubleshoot", "Connection, Prisma's lock, a failed migration (t)",
                                screen.action_troubleshoot)
        yield from widgets
        for command in super().get_system_commands(screen):
            if command.title in ("Theme", "Quit"):
                yield command

    def on_unmount(self) -> None:
        self.offloader.close()
        self._unwatch_signals()

    # -- signals: `docker stop`, a closed web terminal -------------------------------------------

    def _watch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        self._watched: list[int] = []
        for sig in _END_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_end_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal
                continue
            self._watched.append(sig)

    def _unwatch_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in getattr(self, "_watched", ()):
            loop.remove_signal_handler(sig)

    def _on_end_signal(self, sig: int) -> None:
        """End like a cancel: roll back the migration in progress, restore the terminal, exit 128+signal."""
        if self.ctx.interrupted_by is not None:
            return
        self.ctx.interrupted_by = sig
        running = [s for s in self.screen_stack if isinstance(s, ApplyingScreen) and s.running]
        if not running:
            self.exit(128 + sig)
            return
        if running[0].detached and (sig == getattr(signal, "SIGHUP", None) or running[0].watching_only):
            # A closed terminal ends only this view: the deploy goes on in its own process.
            self._leave_running(running[0])
            self.exit(128 + sig)
            return
        running[0].cancel()  # the screen exits the app once the rollback is done
        # Should the server not answer the cancel, the connection closing at exit rolls back instead.
        self.set_timer(_SIGNAL_GRACE_S, lambda: self.exit(128 + sig))

    # -- the deployment session (checklist state, saved between runs) --------------------------

    @property
    def session(self) -> Any:
        ctx = self.ctx
        if ctx.session is None and ctx.target is not None:
            from lumiku_tui.runbook.reader import NO_RUNBOOK
            from lumiku_tui.state import default_state_dir
            from lumiku_tui.record.session import DeploymentSession

            state_dir = ctx.state_dir or default_state_dir()
            try:
                Path(state_dir).mkdir(parents=True, exist_ok=True)
                if not os.access(state_dir, os.W_OK):
                    raise PermissionError(13, "not writable")
                ctx.session = DeploymentSession.load_or_new(state_dir, ctx.target.display, ctx.target.dbname,
                                                             ctx.runbook or NO_RUNBOOK,
                                                             health_known=bool(ctx.health_url))
            except OSError as err:
                # A read-only home must not stop a deploy; only resuming after a restart is lost.
                fallback = Path(tempfile.mkdtemp(prefix="lumiku-tui-state-"))
                self.notify(f"Progress cannot be saved in {state_dir} ({err.strerror}); using {fallback} for this "
                            "run. Set LUMIKU_STATE_DIR to a writable folder to resume after closing.",
                            severity="warning", timeout=15)
                ctx.session = DeploymentSession.load_or_new(fallback, ctx.target.display, ctx.target.dbname,
                                                             ctx.runbook or NO_RUNBOOK,
                                                             health_known=bool(ctx.health_url))
                state_dir = fallback
            self._attach_journal(ctx.session, Path(state_dir))
        return ctx.session

    def _attach_journal(self, session: Any, state_dir: Path) -> None:
        """The checklist and the record read what happened from the target's journal and the database."""
        from lumiku_tui.journal import Journal
        from lumiku_tui.prisma.status import read_status
        from lumiku_tui.record.markdown import app_name

        ctx = self.ctx
        assert ctx.target is not None
        target = ctx.target
        session.app = session.app or app_name(ctx.runbook, ctx.folder.path if ctx.folder is not None else None)
        # The folder as read now (it is re-read after an edit or a refresh), not as it was at the start.
        session.attach(Journal.for_target(target, state_dir),
                       lambda: read_status(target, ctx.folder) if ctx.folder is not None else None)

    @property
    def journal(self) -> Any:
        try:
            session = self.session
        except (LumikuError, OSError):
            return None
        return session.journal if session is not None else None

    def saved_session_has_progress(self) -> bool:
        try:
            session = self.session
        except (LumikuError, OSError):
            return False
        return bool(session is not None and (session.applied or session.deployed_at))

    def start_deploy(self, approved: tuple[str, ...], checksums: tuple[tuple[str, str], ...] = (), *,
                     resume: bool = False) -> None:
        """The operator approved: record who and when, then apply exactly these migrations, as these bytes
        (a file changed on disk since stops the deploy before it).

        `resume`: continue a migration in parts that failed by its SQL from the failed part (deploy --resume)."""
        from lumiku_tui.apply.deploy import DeployOptions
        from lumiku_tui.journal import operator_name

        ctx = self.ctx
        ctx.approved = approved
        ctx.approved_by = operator_name()
        ctx.approved_at = ctx.presentation.now()
        session = self.session
        if session is not None:
            from lumiku_tui.prisma.folder import checksums_of
            from lumiku_tui.record.session import approval_facts

            now = ctx.basis(approved)
            # A verdict computed on other files or another database state is not what was approved on.
            lint = ctx.lint if not ctx.stale(ctx.lint_basis, now) else None
            rehearsal = ctx.rehearsal if not ctx.stale(ctx.rehearsal_basis, now) else None
            session.plan(approved)
            session.record_approval(ctx.approved_by, **approval_facts(lint, rehearsal),
                                    checksums=dict(checksums) if checksums else checksums_of(ctx.folder, approved),
                                    via="the wizard's approval")
        while not isinstance(self.screen, OverviewScreen) and len(self.screen_stack) > 2:
            self.pop_screen()
        options = DeployOptions(approved=approved, approved_checksums=checksums or None, pipeline=True, resume=resume)
        self.push_screen(ApplyingScreen(approved, options, detached=ctx.detach_deploys))

    def record_deploy(self, result: Any) -> None:
        session = self.session
        if session is not None:
            session.record_deploy(result)

    def change_target(self, url: str) -> None:
        """Work on another database from now on (a wrong password, another host), without a restart."""
        ctx = self.ctx
        if ctx.deploying:
            self.notify("A migration is running; change the database after it ends.", severity="warning")
            return
        where = ctx.locations or Locations.from_options(
            migrations=ctx.migrations_dir or (ctx.folder.path if ctx.folder is not None else None))
        project = open_project(where.with_database_url(url, TYPED_IN_WIZARD))
        ctx.locations = project.locations
        ctx.database_url = url
        ctx.target = project.target
        ctx.load_error = project.error
        ctx.runbook = project.runbook
        if project.folder is not None:
            ctx.folder = project.folder
        # What was read from the old database says nothing about the new one.
        ctx.status = ctx.lint = ctx.rehearsal = ctx.session = ctx.lint_basis = ctx.rehearsal_basis = None
        if ctx.presentation.target_display:
            from dataclasses import replace

            ctx.presentation = replace(ctx.presentation, target_display=None)
        self.back_to_overview()
        for screen in self.screen_stack:
            if isinstance(screen, OverviewScreen):
                screen.reload()

    def back_to_overview(self) -> None:
        """Close every screen above the overview (it re-reads the database when it shows again)."""
        while len(self.screen_stack) > 2 and not isinstance(self.screen, OverviewScreen):
            self.pop_screen()

    def edit_file(self, path: Path, line: int, *, then: Callable[[], None]) -> None:
        """Open $EDITOR (or vi) at `line` of `path` with the terminal handed over; `then` runs when it closes."""
        editor = shlex.split(os.environ.get("EDITOR") or "vi") or ["vi"]
        command = [*editor, f"+{line}", str(path)]
        try:
            try:
                with self.suspend():
                    subprocess.call(command)
            except SuspendNotSupported:
                # No terminal to hand over (a pipe, a test): run the editor without one.
                subprocess.call(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=600)
        except (OSError, subprocess.SubprocessError) as err:
            self.notify(f"The editor `{editor[0]}` did not start: {err}. Set EDITOR to the editor you use.",
                        severity="error", timeout=15)
            return
        then()

    def open_checklist(self) -> None:
        self.push_screen(ChecklistScreen())

    # -- what comes next: the screens' requests -------------------------------------------------

    @on(nav.PreviewRequested)
    def _preview(self, request: nav.PreviewRequested) -> None:
        self.push_screen(PreviewScreen(request.pending))

    @on(nav.RehearsalRequested)
    def _rehearsal(self, _request: nav.RehearsalRequested) -> None:
        self.push_screen(RehearsalScreen())

    @on(nav.ApprovalRequested)
    def _approval(self, request: nav.ApprovalRequested) -> None:
        self.push_screen(ApprovalScreen(request.pending, request.run_counts))

    @on(nav.DeployApproved)
    def _approved(self, request: nav.DeployApproved) -> None:
        self.start_deploy(request.approved, request.checksums)

    @on(nav.DeployResumed)
    def _resumed(self, request: nav.DeployResumed) -> None:
        self.start_deploy(request.approved, resume=True)

    @on(nav.DeployAttachRequested)
    def _attach(self, request: nav.DeployAttachRequested) -> None:
        self.attach_deploy(request.process)

    @on(nav.DeployRetried)
    def _retried(self, request: nav.DeployRetried) -> None:
        # The finished deploy's screen gives way to the retry's: Esc from it goes to the overview.
        self.switch_screen(ApplyingScreen(request.remaining, request.options, detached=self.ctx.detach_deploys))

    @on(nav.RetryRequested)
    def _retry(self, _request: nav.RetryRequested) -> None:
        while len(self.screen_stack) > 2 and not isinstance(self.screen, (ApplyingScreen, OverviewScreen)):
            self.pop_screen()
        if isinstance(self.screen, ApplyingScreen):
            self.screen.action_retry()

    @on(nav.VerificationRequested)
    def _verification(self, request: nav.VerificationRequested) -> None:
        screen = VerificationScreen(request.applied)
        if request.after_deploy:
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    @on(nav.HealthRequested)
    def _health(self, _request: nav.HealthRequested) -> None:
        self.push_screen(HealthScreen())

    @on(nav.ChecklistRequested)
    def _checklist(self, _request: nav.ChecklistRequested) -> None:
        self.open_checklist()

    @on(nav.KeysRequested)
    def _keys(self, request: nav.KeysRequested) -> None:
        self.push_screen(KeysScreen(request.screen))

    @on(nav.TroubleshootRequested)
    def _troubleshoot(self, request: nav.TroubleshootRequested) -> None:
        if request.topic == "connect":
            self.push_screen(ConnectScreen())
        elif request.topic == "lock":
            self.push_screen(LockScreen())
        elif request.topic == "failure" and request.failure is not None:
            self.push_screen(FailureScreen(failure=request.failure))
        elif request.topic == "failure" and request.name:
            self.push_screen(FailureScreen(name=request.name))
        else:
            self.push_screen(TroubleshootMenu())

    @on(nav.TargetChangeRequested)
    def _target_change(self, request: nav.TargetChangeRequested) -> None:
        self.change_target(request.url)

    @on(nav.OverviewRequested)
    def _overview(self, _request: nav.OverviewRequested) -> None:
        self.back_to_overview()

    @on(nav.EditRequested)
    def _edit(self, request: nav.EditRequested) -> None:
        self.edit_file(request.path, request.line, then=request.then)

    # -- a crash --------------------------------------------------------------------------------

    def _fatal_error(self) -> None:
        """Textual's crash report, without local variables and with secrets masked.

        Textual prints the traceback of an unexpected error with every frame's locals; a URL
        held in one of them would carry the password to the terminal. The frames alone say
        where it broke.
        """
        from rich.traceback import Traceback

        self.bell()
        console = Console(file=io.StringIO(), width=self.console.width or 100, color_system=None,
                          legacy_windows=False)
        console.print(Traceback(show_locals=False, width=None))
        self._exit_renderables.append(Text(redact(console.file.getvalue())))  # type: ignore[attr-defined]
        self._close_messages_no_wait()

    # -- quitting -----------------------------------------------------------------------------

    def _leave_running(self, screen: ApplyingScreen) -> None:
        self.ctx.left_running = screen.process.pid if screen.process is not None else None
        screen.leave()

    async def action_quit(self) -> None:
        if not self.ctx.deploying:
            self.exit(0)
            return
        detached = [s for s in self.screen_stack if isinstance(s, ApplyingScreen) and s.running and s.detached]
        if detached:
            # Only the view closes; `lumiku-tui attach` or the wizard takes it up again.
            self._leave_running(detached[0])
            self.exit(0)
            return

        def decided(quit_now: bool | None) -> None:
            if quit_now:
                self._cancel_and_exit()

        self.push_screen(
            ConfirmModal("A migration is running. Quit anyway?",
                         "Quitting cancels the deploy: the migration in progress is rolled back; migrations "
                         "already applied stay applied.", yes="y = cancel and quit", no="n / Esc = keep going"),
            decided,
        )

    def _cancel_and_exit(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ApplyingScreen) and screen.deployment is not None:
                screen.deployment.cancel()
        self.exit(130)


def build_context(where: Locations | None = None, *, database_url: str | None = None,
                  migrations: str | Path | None = None, health_url: str | None = None, demo: bool = False,
                  presentation: Presentation | None = None, state_dir: Path | None = None,
                  record_dir: Path | None = None, runbook: str | Path | None = None) -> WizardContext:
    """Open the project at `where` (else as the keyword options name it) as every front end does; a load
    error becomes the overview's first message."""
    from lumiku_tui.runbook.reader import health_url as runbook_health_url

    if where is None:
        where = Locations.from_options(database_url=database_url, migrations=migrations, runbook=runbook)
    project = open_project(where)
    explicit_health = health_url or os.environ.get("HEALTH_URL")
    ctx = WizardContext(
        target=project.target,
        folder=project.folder,
        load_error=project.error,
        database_url=project.database_url,
        migrations_dir=project.migrations_dir,
        locations=where,
        # The demo database is not behind the runbook's app: its health URL would ask a real site.
        health_url=explicit_health if demo else runbook_health_url(project.runbook, explicit_health),
        runbook=project.runbook,
        demo=demo,
        state_dir=state_dir,
        presentation=presentation or Presentation(),
    )
    if record_dir is not None:
        ctx.record_dir = record_dir
    return ctx


def run_wizard(where: Locations, *, health_url: str | None = None, demo: bool = False) -> int:
    ctx = build_context(where, health_url=health_url, demo=demo)
    ctx.detach_deploys = not demo  # the demo's server ends with the wizard: a deploy left running would lose it
    app = WizardApp(ctx)
    result = app.run()
    if ctx.record_path is not None:
        print(f"Deployment record written to {ctx.record_path}")
    if ctx.left_running is not None:
        sys.stderr.write(f"The deploy goes on in its own process ({ctx.left_running}); only this view closed. "
                         "`lumiku-tui attach` or `lumiku-tui` follows it again.\n")
        return 128 + ctx.interrupted_by if ctx.interrupted_by is not None else 0
    if ctx.interrupted_by is not None:
        name = signal.Signals(ctx.interrupted_by).name
        deployed = ctx.result
        if deployed is not None or ctx.approved:
            kept = len(deployed.applied) if deployed is not None else 0
            sys.stderr.write(f"Interrupted by {name}: the migration in progress was rolled back; {kept} migration(s) "
                             "applied before it stay applied. Run the wizard (or `lumiku-tui deploy`) again to "
                             "continue.\n")
        else:
            sys.stderr.write(f"Interrupted by {name}; nothing was applied.\n")
        return 128 + ctx.interrupted_by
    if app.return_code:
        return app.return_code  # a crash: Textual has shown the (masked) traceback
    return int(result or 0)
