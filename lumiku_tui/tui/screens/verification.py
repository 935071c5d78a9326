"""Step 5: what the applied migrations should have created, expected vs found in the live catalog,
and the runbook's own checks (its [[verify]] queries), each with what it found."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from lumiku_tui.apply.wording import cut
from lumiku_tui.errors import LumikuError
from lumiku_tui.tui.navigation import HealthRequested
from lumiku_tui.tui.screens.base import WizardScreen

class VerificationScreen(WizardScreen):
    SUB_TITLE = "5/7 Verify"
    BINDINGS = [
        Binding("enter", "next", "Health check", priority=True),
        Binding("f", "only_failures", "Failures only"),
        Binding("r", "rerun", "Re-check"),
        Binding("escape", "back", "Overview"),
    ]

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = names
        self.checks: list = []  # type: ignore[type-arg]
        self.shown: list = []  # type: ignore[type-arg]
        self.only_failures = False
        self.done = False

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static("Reading the catalog…", id="verify-summary", classes="banner info", markup=False)
        yield DataTable(id="checks", cursor_type="row")
        yield Static(id="check-detail", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        table = self.query_one("#checks", DataTable)
        # Fixed widths keep expected and found on screen at 80 columns; long names are cut, not wrapped.
        for label, width in (("", 1), ("Kind", 8), ("Object", 28), ("Expected", 15), ("Found", 15)):
            table.add_column(label, width=width)
        self._verify()

    @work(thread=True, exclusive=True, group="verify")
    def _verify(self) -> None:
        ctx = self.ctx
        try:
            from lumiku_tui.runbook.reader import NO_RUNBOOK, run_verify_checks
            from lumiku_tui.verification.verify import verify_migrations

            assert ctx.target is not None and ctx.folder is not None
            checks = verify_migrations(ctx.target, ctx.folder, list(self.names) or None)
            checks += run_verify_checks(ctx.target, ctx.runbook or NO_RUNBOOK)
        except LumikuError as err:
            self.call_ui(self._failed, err)
            return
        self.call_ui(self._show, checks)

    def _failed(self, err: LumikuError) -> None:
        summary = self.query_one("#verify-summary", Static)
        summary.update(f"✗ Verification could not run: {err.what}" + (f"\nNext step: {err.hint}" if err.hint else ""))
        summary.set_classes("banner error")
        self.done = True
        self.refresh_bindings()

    def _show(self, checks: list) -> None:  # type: ignore[type-arg]
        self.checks = checks
        self.ctx.checks = checks
        session = self.wizard.session
        if session is not None:
            session.record_checks(checks)
        self.done = True
        self._fill()
        failed = [c for c in checks if not c.ok]
        runbook = [c for c in checks if c.kind == "runbook"]
        summary = self.query_one("#verify-summary", Static)
        text = f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        text += (f" for {len(self.names)} migration(s)." if self.names
                 else f" for every applied migration ({sum(1 for c in checks if c.kind == 'history')}).")
        runbook_failed = [c for c in runbook if not c.ok]
        if runbook_failed:
            text += "\n✗ The runbook's checks that failed: " + ", ".join(c.object for c in runbook_failed) + "."
        elif runbook:
            text += f"\n✓ The runbook's {len(runbook)} check(s) pass (listed first below)."
        text += ("\nPress Enter for the health check." if not failed else
                 "\nFailing rows are at the top (f shows only them).")
        summary.update(text)
        summary.set_classes("banner ok" if not failed else "banner error")
        self.refresh_bindings()

    def _fill(self) -> None:
        table = self.query_one("#checks", DataTable)
        table.clear()
        present = self.ctx.presentation.text
        # Failures first, then the runbook's own checks, then the rest in order.
        self.shown = [c for c in sorted(self.checks, key=lambda c: (c.ok, c.kind != "runbook"))
                      if not (self.only_failures and c.ok)]
        for check in self.shown:
            mark = Text("✓", style="green") if check.ok else Text("✗", style="bold red")
            marked = check.kind == "runbook"
            # Cut with "..." to the column, never silently; the detail below shows the whole row.
            obj = Text(cut(check.object, 28), style="bold" if marked else "")
            found = Text(cut(present(check.found), 15), style="" if check.ok else "bold red")
            table.add_row(mark, check.kind, obj, cut(present(check.expected), 15), found)
        self._detail()

    @on(DataTable.RowHighlighted, "#checks")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        """The highlighted row in full: the table cuts long names and types to fit 80 columns."""
        row = self.query_one("#checks", DataTable).cursor_row
        panel = self.query_one("#check-detail", Static)
        if not (0 <= row < len(self.shown)):
            panel.update("")
            return
        check = self.shown[row]
        present = self.ctx.presentation.text
        text = Text()
        text.append(f"{check.kind} {check.object}", style="bold")
        if check.kind != "history":
            text.append(f"  ({check.migration})", style="dim")
        text.append(f"\nexpected  {present(check.expected)}\nfound     ")
        text.append(present(check.found), style="green" if check.ok else "bold red")
        panel.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next", "only_failures", "rerun"):
            return True if self.done else None
        return True

    def action_only_failures(self) -> None:
        self.only_failures = not self.only_failures
        self._fill()

    def action_rerun(self) -> None:
        self.done = False
        self.refresh_bindings()
        self._verify()

    def action_next(self) -> None:
        if not self.done:
            return
        self.post_message(HealthRequested())

    def action_back(self) -> None:
        self.dismiss()
