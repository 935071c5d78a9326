"""What every wizard screen has: the header, the footer with its bindings, the shared context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Header, Static

if TYPE_CHECKING:
    from lumiku_tui.tui.app import WizardApp
    from lumiku_tui.tui.context import WizardContext


class WizardScreen(Screen[Any]):
    # `?` first: a browser terminal (xterm.js in Coolify) may keep F1 for the browser's own help.
    BINDINGS = [
        Binding("question_mark", "troubleshoot", "Help", key_display="?"),
        Binding("f1", "troubleshoot", "Help", show=False),
    ]

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    @property
    def ctx(self) -> WizardContext:
        return self.wizard.ctx

    def header(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")

    def footer(self) -> ComposeResult:
        yield Footer()

    def action_troubleshoot(self) -> None:
        from lumiku_tui.tui.screens.troubleshoot import TroubleshootMenu

        self.app.push_screen(TroubleshootMenu())

    def call_ui(self, callback: Any, *args: Any) -> None:
        """From a worker thread: run `callback` on the UI thread, unless the app is gone."""
        try:
            self.app.call_from_thread(callback, *args)
        except Exception:  # the app closed while the work was finishing; nobody is left to tell
            pass


class ConfirmModal(ModalScreen[bool]):
    """A yes/no question; `y` confirms, `n` or Esc declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", show=True),
        Binding("n", "answer(False)", "No", show=True),
        Binding("escape", "answer(False)", "No", show=False),
    ]

    def __init__(self, question: str, detail: str = "", *, yes: str = "y = yes", no: str = "n / Esc = no") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question, id="confirm-question", markup=False)
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            yield Static(f"{self.yes}    {self.no}", id="confirm-keys", markup=False)
        yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
