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
        if len(self.counts) < len(self.pending):
            self._count()
        if self.precheck_plan is not None and self.precheck_plan.now and not self.precheck_block:
            self.precheck_block = None
            self._precheck()

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
        """Risk first: the target, errors and warnings by kind with counts, what the dry run said."""
        errors, warnings = self._findings()
        parts: list[Text] = []
        target = Text("Target      ", style="bold")
        target.append(self.ctx.display)
        parts.append(target)
        if self.ctx.lint is None:
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
            shown = kinds if len(kinds) <= _KIND_LINES else kinds[: _KIND_LINES - 1]
            # At 80x24 one line each, cut with "..." at the screen's edge; a taller terminal has room for
            # every word.
            roomy = self.app.size.height >= 30
            for mark, style, rule, found in shown:
                line = Text(f"  {mark} {rule} ×{len(found)}: ", style=style, no_wrap=not roomy,
                            overflow="fold" if roomy else "ellipsis")
                line.append(" ".join(found[0].message.split()), style="")
                parts.append(line)
            if len(kinds) > len(shown):
                parts.append(Text(f"  ...and {len(kinds) - len(shown)} more kind(s) of warning, in the preview",
                                  style="dim"))
        rehearsal = self.ctx.rehearsal
        dry = Text("Dry run     ", style="bold")
        if rehearsal is None:
            dry.append("not run (d on the preview runs everything and rolls it back)", style="dim")
        elif rehearsal.ok:
            dry.append(f"all {len(rehearsal.migrations)} ran and were rolled back", style="green")
        else:
            dry.append(f"{len(rehearsal.failed)} would FAIL: " + ", ".join(m.name for m in rehearsal.failed),
                       style="bold red")
        parts.append(dry)
        self.query_one("#approval-findings", Static).update(Group(*parts))

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
        if self.precheck_block is None:
            self.approve_when_checked = True
            message.update(Text("Waiting for the runbook's prechecks…", style="yellow"))
            return
        self._approve()

    def _approve(self) -> None:
        message = self.query_one("#approval-message", Static)
        if self.precheck_block:
            message.update(Text(self.precheck_block, style="bold red"))
            return
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
        self.post_message(DeployApproved(tuple(self.pending)))

    def _confirmed_errors(self, accepted: bool | None) -> None:
        if accepted:
            self.post_message(DeployApproved(tuple(self.pending)))
        else:
            self.query_one("#approval-message", Static).update(
                Text("Not approved: nothing was applied.", style="yellow"))

    def action_back(self) -> None:
        self.dismiss()
