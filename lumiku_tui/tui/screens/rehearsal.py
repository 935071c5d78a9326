"""A dry run from the preview: every pending migration in one transaction that is always rolled back."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from lumiku_tui.errors import LumikuError
from lumiku_tui.tui import words
from lumiku_tui.tui.screens.base import WizardScreen


class RehearsalScreen(WizardScreen):
    SUB_TITLE = "2/7 Preview · dry run"
    BINDINGS = [Binding("r", "rerun", "Run again"), Binding("escape", "back", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.result: Any = None
        self.error: LumikuError | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static(id="rehearsal-summary", classes="banner info", markup=False)
        with VerticalScroll(classes="trouble-body"):
            yield Static(id="rehearsal-lines", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self.action_rerun()

    def action_rerun(self) -> None:
        if self.running:
            return
        self.running = True
        summary = self.query_one("#rehearsal-summary", Static)
        summary.update("Running every pending migration in one transaction that is rolled back at the end…")
        summary.set_classes("banner info")
        self.refresh_bindings()
        self._rehearse()

    @work(thread=True, exclusive=True, group="rehearse")
    def _rehearse(self) -> None:
        from lumiku_tui.apply.rehearse import rehearse

        from lumiku_tui.tui.context import basis_of

        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None
        folder, status = ctx.folder, ctx.status
        try:
            result = rehearse(ctx.target, folder)
        except LumikuError as err:
            self.call_ui(self._refused, err)
            return
        journal = self.wizard.journal
        if journal is not None:
            from lumiku_tui.prisma.folder import checksums_of
            from lumiku_tui.record.session import rehearsal_verdict

            journal.append("dry_run", ok=result.ok, verdict=rehearsal_verdict(result),
                           checksums=checksums_of(ctx.folder, [m.name for m in result.migrations]))
        self.call_ui(self._show, result, basis_of(folder, status, [m.name for m in result.migrations]))

    def _refused(self, err: LumikuError) -> None:
        self.running = False
        self.error = err
        summary = self.query_one("#rehearsal-summary", Static)
        summary.update(words.error_rich(err, self.ctx.presentation))
        summary.set_classes("banner error")
        self.refresh_bindings()

    def _show(self, result: Any, basis: Any = None) -> None:
        self.running = False
        self.result = result
        self.ctx.rehearsal = result
        self.ctx.rehearsal_basis = basis
        present = self.ctx.presentation
        summary = self.query_one("#rehearsal-summary", Static)
        if result.ok:
            summary.update(f"✓ All {len(result.migrations)} migration(s) ran; everything was rolled back "
                           f"(took {present.duration(result.duration_ms)}).")
            summary.set_classes("banner ok")
        else:
            summary.update(f"✗ {len(result.failed)} migration(s) would fail. Nothing was kept.")
            summary.set_classes("banner error")
        text = Text()
        for line in result.describe():
            style = "bold red" if "would FAIL" in line else ("green" if line.lstrip().startswith("ok ") else "")
            text.append(present.text(line) + "\n", style=style)
        self.query_one("#rehearsal-lines", Static).update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rerun":
            return not self.running
        return True

    def action_back(self) -> None:
        self.dismiss()
