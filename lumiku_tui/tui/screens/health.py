"""Step 6: the app's health endpoint, asked with a timeout and retries."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from lumiku_tui.tui.navigation import ChecklistRequested
from lumiku_tui.tui.screens.base import WizardScreen


class HealthScreen(WizardScreen):
    SUB_TITLE = "6/7 Health"
    BINDINGS = [
        Binding("enter", "next", "Checklist", priority=True),
        Binding("r", "recheck", "Check again"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result = None
        self.checking = False

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static(id="health-summary", classes="banner info", markup=False)
        yield Static(id="health-details", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self.action_recheck()

    def action_recheck(self) -> None:
        if self.checking:
            return
        self.checking = True
        url = self.ctx.health_url
        summary = self.query_one("#health-summary", Static)
        summary.update(f"GET {self.ctx.presentation.text(url)} …" if url else "No health URL given.")
        summary.set_classes("banner info")
        self.refresh_bindings()
        self._check()

    @work(thread=True, exclusive=True, group="health")
    def _check(self) -> None:
        from lumiku_tui.health import check_health
        from lumiku_tui.runbook.reader import NO_RUNBOOK, health_options

        result = check_health(self.ctx.health_url, **health_options(self.ctx.runbook or NO_RUNBOOK))
        self.call_ui(self._show, result)

    def _show(self, result) -> None:  # type: ignore[no-untyped-def]
        self.result = result
        self.checking = False
        self.ctx.health = result
        session = self.wizard.session
        if session is not None:
            session.record_health(result)
        present = self.ctx.presentation
        summary = self.query_one("#health-summary", Static)
        details = Text()
        if result.skipped:
            summary.update("– Skipped: no health URL was given (--health-url or HEALTH_URL). The checklist asks you "
                           "to check the app by hand instead.")
            summary.set_classes("banner attention")
        else:
            if result.ok:
                summary.update(f"✓ The app answers healthy: HTTP {result.status_code}"
                               + (f', status "{result.status_field}"' if result.status_field is not None else ""))
            else:
                summary.update(f"✗ NOT healthy: {present.text(result.describe())}")
            summary.set_classes("banner ok" if result.ok else "banner error")
            rows = [
                ("URL", present.text(result.url or "")),
                ("Status code", str(result.status_code) if result.status_code is not None else "no answer"),
                ("Latency", present.duration(result.latency_ms) if result.latency_ms is not None else "-"),
                ("JSON status", result.status_field if result.status_field is not None else "(none)"),
                ("Attempts", str(result.attempts)),
            ]
            if result.error:
                rows.append(("Error", present.text(result.error)))
            for label, value in rows:
                details.append(f"{label:<12}", style="bold")
                details.append(f"{value}\n")
        details.append("\nEnter continues to the checklist; r asks again.", style="dim")
        self.query_one("#health-details", Static).update(details)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next", "recheck"):
            return not self.checking
        return True

    def action_next(self) -> None:
        if self.checking:
            return
        self.post_message(ChecklistRequested())

    def action_back(self) -> None:
        self.dismiss()
