"""What every wizard screen has: the header, the footer with its bindings, the shared context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual import on
from textual.widgets import Footer, Header, Input, Static

if TYPE_CHECKING:
    from lumiku_tui.tui.app import WizardApp
    from lumiku_tui.tui.context import WizardContext


#: Keys every screen answers the same way (the Keys panel lists them apart from the screen's own).
GLOBAL_ACTIONS = ("keys", "troubleshoot", "app.quit", "quit", "cursor_down", "cursor_up", "app.command_palette",
                  "command_palette")


class WizardScreen(Screen[Any]):
    # `?` first: a browser terminal (xterm.js in Coolify) may keep F1 for the browser's own help.
    BINDINGS = [
        Binding("question_mark", "keys", "Keys", key_display="?"),
        Binding("f1", "keys", "Keys", show=False),
        Binding("t", "troubleshoot", "Troubleshoot", show=False),
        Binding("q", "app.quit", "Quit", show=False),
        Binding("j", "cursor_down", "Down in the list", show=False),
        Binding("k", "cursor_up", "Up in the list", show=False),
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
        # ctrl+p is listed in the Keys panel; the footer's room goes to the screen's own keys.
        yield Footer(show_command_palette=False)

    def action_keys(self) -> None:
        from lumiku_tui.tui.screens.keys import KeysScreen

        self.app.push_screen(KeysScreen(self))

    def _list(self) -> Any:
        focused = self.focused
        return focused if focused is not None and hasattr(focused, "action_cursor_down") else None

    def action_cursor_down(self) -> None:
        if (widget := self._list()) is not None:
            widget.action_cursor_down()

    def action_cursor_up(self) -> None:
        if (widget := self._list()) is not None:
            widget.action_cursor_up()

    def action_troubleshoot(self) -> None:
        from lumiku_tui.tui.screens.troubleshoot import TroubleshootMenu

        self.app.push_screen(TroubleshootMenu())

    def call_ui(self, callback: Any, *args: Any) -> None:
        """From a worker thread: run `callback` on the UI thread, unless the app is gone."""
        try:
            self.app.call_from_thread(callback, *args)
        except Exception:  # the app closed while the work was finishing; nobody is left to tell
            pass


class NameFilter(Input):
    """`/` on a list of migrations: type part of a name; Enter keeps the filter, Esc clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    def __init__(self) -> None:
        super().__init__(placeholder="filter by name · Enter keeps it · Esc clears", id="name-filter",
                         classes="hidden")

    def open(self) -> None:
        self.remove_class("hidden")
        self.focus()

    def action_clear(self) -> None:
        self.value = ""
        self.add_class("hidden")
        screen = self.screen
        if isinstance(screen, FilteredListScreen):
            screen.apply_filter("")
            screen.list_widget().focus()


class FilteredListScreen(WizardScreen):
    """A screen with a list of migrations that `/` filters by name."""

    FILTER_BINDING = Binding("slash", "filter", "Filter", key_display="/")
    name_filter_text = ""

    @property
    def filtering(self) -> bool:
        return isinstance(self.focused, NameFilter)

    def action_filter(self) -> None:
        self.query_one(NameFilter).open()

    @on(Input.Changed, "#name-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        text = event.value.strip().lower()
        if text != self.name_filter_text:
            self.name_filter_text = text
            self.apply_filter(text)

    @on(Input.Submitted, "#name-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.add_class("hidden")
        self.list_widget().focus()

    def apply_filter(self, text: str) -> None:
        raise NotImplementedError

    def list_widget(self) -> Any:
        raise NotImplementedError


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
