"""Step 3: the approval gate. Nothing is applied before the database name is typed here."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from lumiku_tui.errors import LumikuError
from lumiku_tui.apply.plan import plan_of
from lumiku_tui.tui.navigation import DeployApproved
from lumiku_tui.tui.screens.base import ConfirmModal, WizardScreen

#: Kinds of finding listed one line each; the rest are counted (the summary must fit 80x24 beside the prompt).
_KIND_LINES = 6


def _by_rule(findings) -> dict:  # type: ignore[no-untyped-def]
    grouped: dict = {}  # type: ignore[type-arg]
    for finding in findings:
        grouped.setdefault(finding.rule, []).append(finding)
    return grouped


class ApprovalScreen(WizardScreen):
    SUB_TITLE = "3/7 Approve"
    # `?` types into the name field here, so F1 is the Keys panel's key this screen shows.
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("f1", "keys", "Keys"),
        # `r` types into the name field; ctrl+r reads the files, the database and the prechecks again.
        Binding("ctrl+r", "recheck", "Check again", key_display="^r"),
    ]

    def __init__(self, pending: list[str], run_counts: dict[str, int]) -> None:
        super().__init__()
        self.pending = list(pending)
        self.counts = dict(run_counts)
        #: Why the runbook's prechecks block approval ("" when they passed or there are none); None while running.
        self.precheck_block: str | None = ""
        self.approve_when_checked = False
        #: Which prechecks run before approval and which guard a pending migration (run by the deploy).
        self.precheck_plan = None
        #: (name, checksum) of each migration as this screen shows it: what an approval applies.
        self.shown: tuple[tuple[str, str], ...] = ()
        #: The files and the database have been read again since the screen opened (None: reading now).
        self.rechecked: bool | None = None
        #: Why approving is refused now (the pending list changed, the folder cannot be read); "" when not.
        self.recheck_block = ""
        #: Why the findings are being computed again ([]: they are current).
        self.lint_stale: list[str] = []

    def compose(self) -> ComposeResult:
        yield from self.header()
        with VerticalScroll(id="approval-summary"):
            yield Static(id="approval-findings", markup=False)
            yield Static(id="approval-plan", markup=False)
        yield Static(id="approval-prompt", markup=False)
        yield Input(placeholder="database name", id="approval-input")
        yield Static("", id="approval-message", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self._plan_prechecks()
        self._render_plan()
        self._render_findings()
        self.query_one("#approval-prompt", Static).update(
            Text.assemble("Type the database name ", (self.ctx.dbname, "bold"),
                          " and press Enter to apply. Esc goes back; nothing has been applied."))
        field = self.query_one(Input)
        field.cursor_blink = not self.ctx.presentation.still
        field.focus()
        self.shown = self.ctx.basis(self.pending).checksums
        self.action_recheck()

    def on_screen_resume(self) -> None:
        # Back from a modal or the Keys panel: a failed precheck may pass now (the data fixed meanwhile).
        if self.precheck_block and self.is_current:
            self._start_prechecks()

    def action_recheck(self) -> None:
        """Read the files and the database again, then the prechecks: no verdict from before is shown as current."""
        self.rechecked = None
        self._recheck()
        self._start_prechecks()

    def _start_prechecks(self) -> None:
        # Only those that run before approval; the ones guarding a migration run in the deploy, right before it.
        if self.precheck_plan is not None and self.precheck_plan.now:
            self.precheck_block = None
            self._precheck()

    @work(thread=True, exclusive=True, group="approval-recheck")
    def _recheck(self) -> None:
        from lumiku_tui.prisma.folder import load_folder
        from lumiku_tui.prisma.status import read_status

        ctx = self.ctx
        if ctx.folder is None or ctx.target is None:
            self.call_ui(self._rechecked, None, None, None)
            return
        try:
            folder = load_folder(ctx.folder.path, ctx.folder.how_found)
            status = read_status(ctx.target, folder)
        except LumikuError as err:
            self.call_ui(self._rechecked, None, None, err)
            return
        self.call_ui(self._rechecked, folder, status, None)

    def _rechecked(self, folder, status, error: LumikuError | None) -> None:  # type: ignore[no-untyped-def]
        from lumiku_tui.apply.plan import batch_of

        ctx = self.ctx
        self.recheck_block = ""
        if error is not None:
            self.recheck_block = f"✗ The files or the database could not be read again: {error.what}"
        elif folder is not None and status is not None:
            ctx.folder, ctx.status = folder, status
            pending_now = batch_of(status).names
            if pending_now != self.pending:
                self.recheck_block = ("✗ The pending migrations changed since the preview (now: "
                                      + (", ".join(pending_now) or "none") + "). Esc goes back; preview them again.")
        now = ctx.basis(self.pending)
        changed = {name for name, checksum in now.checksums if dict(self.shown).get(name) != checksum}
        self.shown = now.checksums
        for name in changed:
            self.counts.pop(name, None)
        if len(self.counts) < len(self.pending):
            self._count()
        self.lint_stale = ctx.stale(ctx.lint_basis, now) if ctx.lint is not None or ctx.lint_basis is not None else []
        if self.lint_stale:
            self._relint(now)
        self.rechecked = True
        self._render_plan()
        self._render_findings()
        message = self.query_one("#approval-message", Static)
        if self.recheck_block:
            message.update(Text(self.recheck_block, style="bold red"))
            self.approve_when_checked = False
        elif changed and self.approve_when_checked:
            self.approve_when_checked = False
            message.update(Text(", ".join(sorted(changed)) + " changed on disk: the screen shows the new state. "
                                "Read it, then type the name again.", style="bold yellow"))
        elif self.approve_when_checked:
            self._approve()

    def _relint(self, basis) -> None:  # type: ignore[no-untyped-def]
        ctx = self.ctx
        if ctx.target is None or ctx.folder is None:
            return

        def ready(report) -> None:  # type: ignore[no-untyped-def]
            ctx.lint, ctx.lint_basis = report, basis
            self.lint_stale = []
            self._render_findings()
            if self.approve_when_checked:
                self._approve()

        def failed(_exc: BaseException) -> None:
            ctx.lint, ctx.lint_basis = None, basis
            self.lint_stale = []
            self._render_findings()
            if self.approve_when_checked:
                self._approve()

        self.wizard.offloader.run("lint", (ctx.target, ctx.folder), lambda report: self.call_ui(ready, report),
                                  lambda exc: self.call_ui(failed, exc))

    def _plan_prechecks(self) -> None:
        from lumiku_tui.runbook.reader import plan_prechecks

        runbook, folder = self.ctx.runbook, self.ctx.folder
        if runbook is None or not runbook.prechecks or folder is None:
            return
        try:
            self.precheck_plan = plan_prechecks(runbook, list(folder.by_name()), self.pending)
        except LumikuError as err:
            self.precheck_block = f"✗ {err.what}"
            self.query_one("#approval-message", Static).update(Text(self.precheck_block, style="bold red"))

    @work(thread=True, group="approval-precheck")
    def _precheck(self) -> None:
        from lumiku_tui.runbook.reader import precheck_blocker, run_prechecks

        try:
            checks = run_prechecks(self.ctx.target, self.ctx.runbook, self.precheck_plan.now)
        except LumikuError as err:
            self.call_ui(self._prechecked, [], f"✗ The runbook's prechecks could not run: {err.what}")
            return
        blocker = precheck_blocker(checks)
        self.call_ui(self._prechecked, checks, f"✗ {blocker.what} Expected {blocker.why.removeprefix('expected ')}."
                     if blocker else "")

    def _prechecked(self, checks: list, block: str) -> None:  # type: ignore[type-arg]
        self.precheck_block = block
        session = self.wizard.session
        if session is not None:
            session.record_prechecks(checks)
        if block:
            self.query_one("#approval-message", Static).update(Text(block, style="bold red"))
        elif self.approve_when_checked:
            self._approve()

    @work(thread=True, group="approval-count")
    def _count(self) -> None:
        folder = self.ctx.folder
        if folder is None:
            return
        counts = {}
        for name in self.pending:
            if name not in self.counts:
                try:
                    counts[name] = len(plan_of(folder.by_name()[name]).statements)
                except LumikuError:
                    counts[name] = 0
        self.call_ui(self._counted, counts)

    def _counted(self, counts: dict[str, int]) -> None:
        self.counts.update(counts)
        self._render_plan()

    def _render_plan(self) -> None:
        """The names come last: with hundreds pending, the risk must not sit pages below them."""
        total = sum(self.counts.values()) if len(self.counts) == len(self.pending) else None
        text = Text()
        text.append("Apply       ", style="bold")
        text.append(f"{len(self.pending)} migration(s), "
                    + (f"{total} statement(s)" if total is not None else "counting statements…")
                    + ", one transaction each")
        for said in self.precheck_plan.lines() if self.precheck_plan is not None else ():
            text.append(f"\nPrecheck    {said}", style="dim")
        for name in self.pending:
            count = self.counts.get(name)
            text.append(f"\n  {name}", style="yellow")
            text.append(f"  {count} stmts" if count is not None else "", style="dim")
        self.query_one("#approval-plan", Static).update(text)

    def _findings(self) -> tuple[list, list]:  # type: ignore[type-arg]
        report = self.ctx.lint
        if report is None:
            return [], []
        return list(report.errors), list(report.warnings)

    def _render_findings(self) -> None:
        """Risk first: the target, errors and warnings by kind with counts, what the dry run said.

        Only verdicts computed on the files and the database as they are now are shown as current; the
        findings take the screen's room before the list of names (which scrolls)."""
        ctx = self.ctx
        errors, warnings = self._findings()
        width = max(20, self.app.size.width - 3)  # the summary's padding and scrollbar
        parts: list[Text] = []
        target = Text("Target      ", style="bold")
        target.append(ctx.display)
        parts.append(target)
        kinds: list = []  # type: ignore[type-arg]
        if self.rechecked is None and (ctx.lint is not None or ctx.rehearsal is not None):
            parts.append(Text("Findings    reading the files and the database again…", style="yellow"))
        elif self.lint_stale:
            parts.append(Text("Findings    checking again: " + "; ".join(self.lint_stale) + " since they were computed…",
                              style="yellow"))
        elif ctx.lint is None:
            parts.append(Text("Findings    not available (the safety check did not run)", style="dim"))
        elif not errors and not warnings:
            parts.append(Text("Findings    none need attention", style="green"))
        else:
            head = Text("Findings    ", style="bold")
            head.append(f"{len(errors)} error(s)", style="bold red" if errors else "")
            head.append(f", {len(warnings)} warning(s)", style="yellow" if warnings else "")
            head.append(" (each in full in the preview)", style="dim")
            parts.append(head)
            kinds = [("✗", "bold red", rule, found) for rule, found in _by_rule(errors).items()]
            kinds += [("!", "yellow", rule, found) for rule, found in _by_rule(warnings).items()]
        parts.append(self._dry_run_line())
        shown = kinds if len(kinds) <= _KIND_LINES else kinds[: _KIND_LINES - 1]
        lines = []
        for mark, style, rule, found in shown:
            line = Text(f"  {mark} {rule} ×{len(found)}: ", style=style)
            line.append(" ".join(found[0].message.split()), style="")
            lines.append(line)
        # Header, prompt (2 rows), field (3), message (2), footer, and the plan's first line stay visible.
        used = sum(len(part.wrap(self.app.console, width)) for part in parts) + (len(kinds) > len(shown))
        room = self.app.size.height - 10 - used - len(lines)
        for line in lines:
            # Errors first: each finding in full while the screen has room, else one line cut at the edge.
            extra = len(line.wrap(self.app.console, width)) - 1
            if extra <= room:
                room -= extra
                line.overflow = "fold"
            else:
                line.no_wrap, line.overflow = True, "ellipsis"
        parts[-1:-1] = lines
        if len(kinds) > len(shown):
            parts.insert(-1, Text(f"  ...and {len(kinds) - len(shown)} more kind(s) of warning, in the preview",
                                  style="dim"))
        self.query_one("#approval-findings", Static).update(Group(*parts))

    def _dry_run_line(self) -> Text:
        ctx = self.ctx
        rehearsal = ctx.rehearsal
        dry = Text("Dry run     ", style="bold")
        stale = ctx.stale(ctx.rehearsal_basis, ctx.basis(self.pending)) if rehearsal is not None else []
        if rehearsal is None:
            dry.append("not run (d on the preview runs everything and rolls it back)", style="dim")
        elif self.rechecked is None:
            dry.append("reading the files and the database again…", style="yellow")
        elif stale:
            # The verdict was on other bytes or another database: neither its pass nor its failure holds.
            dry.append("out of date: " + "; ".join(stale) + " since it ran. d on the preview runs it again.",
                       style="yellow")
        elif rehearsal.ok:
            dry.append(f"all {len(rehearsal.migrations)} ran and were rolled back", style="green")
        else:
            dry.append(f"{len(rehearsal.failed)} would FAIL: " + ", ".join(m.name for m in rehearsal.failed),
                       style="bold red")
        return dry

    @on(Input.Submitted, "#approval-input")
    def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        message = self.query_one("#approval-message", Static)
        if typed != self.ctx.dbname:
            shown = typed if len(typed) <= 40 else typed[:37] + "..."
            message.update(Text(f"✗ `{shown}` is not the database name ({self.ctx.dbname}). Nothing was applied.",
                                style="bold red"))
            event.input.value = ""
            return
        if self.precheck_block:
            # Checked again on every try: the data may have been fixed since they failed.
            self.approve_when_checked = True
            message.update(Text("Running the runbook's prechecks again…", style="yellow"))
            self._start_prechecks()
            return
        if self._changed_on_disk():
            return
        self.approve_when_checked = True
        self._approve()

    def _changed_on_disk(self) -> bool:
        """Read the files once more: approving applies exactly what this screen shows, never newer bytes."""
        from lumiku_tui.prisma.folder import checksum_on_disk

        folder = self.ctx.folder
        if folder is None:
            return False
        by_name = folder.by_name()
        changed: list[str] = []
        for name, checksum in self.shown:
            local = by_name.get(name)
            now = (checksum_on_disk(local.path) or "") if local else ""
            if now != checksum:
                changed.append(name)
        if not changed:
            return False
        self.approve_when_checked = False
        self.query_one("#approval-message", Static).update(
            Text(", ".join(changed) + " changed on disk since this screen read it; reading it again. Nothing was "
                 "applied.", style="bold yellow"))
        self.action_recheck()
        return True

    def _approve(self) -> None:
        message = self.query_one("#approval-message", Static)
        if self.recheck_block:
            self.approve_when_checked = False
            message.update(Text(self.recheck_block, style="bold red"))
            return
        if self.precheck_block:
            self.approve_when_checked = False
            message.update(Text(self.precheck_block, style="bold red"))
            return
        if self.rechecked is not True or self.lint_stale or self.precheck_block is None:
            waiting = ("the runbook's prechecks" if self.precheck_block is None and self.rechecked
                       else "the files and the database to be read again")
            message.update(Text(f"Waiting for {waiting}…", style="yellow"))
            return
        self.approve_when_checked = False
        errors, warnings = self._findings()
        runbook = self.ctx.runbook
        gated = [f for f in warnings if runbook is not None and runbook.gate.confirms(f)]
        if errors or gated:
            what = "are errors" if not gated else "are errors or named in the runbook's [gate]"
            self.app.push_screen(
                ConfirmModal(f"{len(errors) + len(gated)} finding(s) {what}: these statements will fail or lose data.",
                             "Apply anyway? Only if you have read each one and accept it.",
                             yes="y = apply anyway", no="n / Esc = go back"),
                self._confirmed_errors,
            )
            return
        self.post_message(DeployApproved(tuple(self.pending), self.shown))

    def _confirmed_errors(self, accepted: bool | None) -> None:
        if accepted:
            self.post_message(DeployApproved(tuple(self.pending), self.shown))
        else:
            self.query_one("#approval-message", Static).update(
                Text("Not approved: nothing was applied.", style="yellow"))

    def action_back(self) -> None:
        self.dismiss()
