"""Cannot connect: each layer of the connection checked in order, stopping at the first that fails."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from lumiku_tui.tui.screens.base import WizardScreen


def _mark(ok: bool | None) -> tuple[str, str]:
    if ok is None:
        return "·", "dim"
    return ("✓", "green") if ok else ("✗", "bold red")


class ConnectScreen(WizardScreen):
    """Cannot connect: URL parses → host resolves → port answers → TLS → authentication → database → privileges."""

    SUB_TITLE = "Troubleshooting · connection"
    BINDINGS = [Binding("r", "rerun", "Check again"), Binding("u", "new_url", "New URL…"),
                Binding("escape", "back", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[Any] | None = None

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static("Checking the connection step by step…", classes="trouble-title", id="connect-title",
                     markup=False)
        with VerticalScroll(classes="trouble-body"):
            yield Static(id="connect-steps", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self._diagnose()

    def action_rerun(self) -> None:
        self.query_one("#connect-title", Static).update("Checking the connection step by step…")
        self._diagnose()

    @work(thread=True, exclusive=True, group="diagnose-connect")
    def _diagnose(self) -> None:
        from lumiku_tui.doctor.connection import diagnose_connection
        from lumiku_tui.project import open_project

        ctx = self.ctx
        # Without a target, the project is opened again: the check shows why no URL was found (now).
        if ctx.target is not None:
            steps = diagnose_connection(ctx.target)
        else:
            project = open_project(ctx.locations)
            steps = diagnose_connection(project.target or project.target_error)  # type: ignore[arg-type]
        self.call_ui(self._show, steps)

    def _show(self, steps: list[Any]) -> None:
        self.steps = steps
        present = self.ctx.presentation
        failing = next((s for s in steps if s.ok is False), None)
        title = self.query_one("#connect-title", Static)
        if failing is None:
            title.update(Text("✓ Every step passes: the database is reachable with these credentials.",
                              style="bold green"))
        else:
            title.update(Text(f"✗ Stopped at “{failing.name}”.", style="bold red"))
        text = Text()
        for step in steps:
            mark, style = _mark(step.ok)
            text.append(f"{mark} {step.name:<17}", style=style)
            detail = present.text(step.detail) if step.ok is not None else "not reached"
            text.append(f"{detail}\n", style="" if step.ok is not None else "dim")
            if step.ok is False and step.fix:
                text.append(f"  Fix: {present.text(step.fix)}\n", style="bold")
        self.query_one("#connect-steps", Static).update(text)

    def action_back(self) -> None:
        self.dismiss()
