"""The help key's menu: which kind of trouble to diagnose."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lumiku_tui.tui.navigation import TroubleshootRequested
from lumiku_tui.tui.screens.base import WizardScreen


class TroubleshootMenu(WizardScreen):
    SUB_TITLE = "Troubleshooting"
    BINDINGS = [Binding("escape", "back", "Back")]

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static("What went wrong? Each check reads the database first, then explains.", classes="trouble-title",
                     markup=False)
        options = [Option("Cannot connect: check the connection step by step", id="connect"),
                   Option("Prisma's migration lock is held: who holds it, wait or end it", id="lock")]
        status = self.ctx.status
        for failed in (status.failed if status is not None else []):
            options.append(Option(f"Migration failed: {failed.name}", id=f"failed:{failed.name}"))
        yield OptionList(*options, id="menu")
        yield from self.footer()

    def on_mount(self) -> None:
        self.query_one("#menu", OptionList).focus()

    @on(OptionList.OptionSelected, "#menu")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or ""
        if choice == "connect":
            self.post_message(TroubleshootRequested("connect"))
        elif choice == "lock":
            self.post_message(TroubleshootRequested("lock"))
        elif choice.startswith("failed:"):
            self.post_message(TroubleshootRequested("failure", name=choice.split(":", 1)[1]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "troubleshoot"  # this is the help already

    def action_back(self) -> None:
        self.dismiss()
