"""What every wizard screen has: the header, the footer with its bindings, the shared context."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual import log, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.types import NoActiveAppError
from textual import events, on
from textual.widgets import Footer, Header, Input, Static

from lumiku_tui.tui.navigation import KeysRequested, TargetChangeRequested, TroubleshootRequested, Wizard

if TYPE_CHECKING:
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
    def wizard(self) -> Wizard:
        return cast(Wizard, self.app)

    @property
    def ctx(self) -> WizardContext:
        return self.wizard.ctx

    def header(self) -> ComposeResult:
        yield Header(show_clock=False, icon="◆")

    def footer(self) -> ComposeResult:
        # ctrl+p is listed in the Keys panel; the footer's room goes to the screen's own keys.
        yield Footer(show_command_palette=False)

    def action_keys(self) -> None:
        self.post_message(KeysRequested(self))

    def _list(self) -> Any:
        focused = self.focused
        return focused if focused is not None and hasattr(focused, "action_cursor_down") else None

    def action_cursor_down(self) -> None:
        if (widget := self._list()) is not None:
            widget.action_cursor_down()

    def action_cursor_up(self) -> None:
        if (widget := self._list()) is not None:
            widget.action_cursor_up()

    def action_new_url(self) -> None:
        self.app.push_screen(UrlModal(self.ctx.display), self._url_given)

    def _url_given(self, url: str | None) -> None:
        if url:
            self.post_message(TargetChangeRequested(url))

    def action_troubleshoot(self) -> None:
        self.post_message(TroubleshootRequested())

    def session_label(self, pid: int) -> str:
        """A session's pid as shown (fixed in screenshots and snapshots)."""
        return "-----" if self.ctx.presentation.fixed_sessions else str(pid)

    def end_session_after_asking(self, pid: int, question: str, detail: str, *, no: str,
                                 done: Callable[[int, bool], None], yes: str = "y = end that session") -> None:
        """Ask; if confirmed, end backend `pid` in a worker (journaled), then call `done(pid, ended)` on the UI
        thread (`ended` False: it had gone already). A refusal (no such session, no right to end it) is shown."""
        self.app.push_screen(ConfirmModal(question, detail, yes=yes, no=no),
                             lambda confirmed: self._end_session(pid, done) if confirmed else None)

    @work(thread=True, group="end-session")
    def _end_session(self, pid: int, done: Callable[[int, bool], None]) -> None:
        from lumiku_tui.errors import LumikuError
        from lumiku_tui.pg.sessions import end_session
        from lumiku_tui.tui import words

        assert self.ctx.target is not None
        try:
            ended = end_session(self.ctx.target, pid, self.wizard.journal)
        except LumikuError as err:
            self.call_ui(self.notify, words.error_rich(err, self.ctx.presentation).plain, severity="error",
                         timeout=15)
            return
        self.call_ui(done, pid, ended)

    def call_ui(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """From a worker thread: run `callback` on the UI thread and wait for it.

        An error in `callback` ends the wizard as an error in any handler does (exit 1, the
        masked traceback); only a result arriving after its screen or the wizard has closed is dropped,
        and logged (Textual's log).
        """
        what = getattr(callback, "__name__", repr(callback))
        try:
            app = self.app
        except NoActiveAppError:  # off the app's thread, a closed screen no longer leads to the app
            log.info(f"{what} dropped: its screen has closed")
            return
        try:
            app.call_from_thread(self._run_on_ui, partial(callback, *args, **kwargs))
        except RuntimeError:
            if app.is_running:
                raise  # called from the UI thread itself: a bug, not a closed wizard
            log.info(f"{what} dropped: the wizard closed before the work finished")

    def _run_on_ui(self, call: Callable[[], Any]) -> None:
        if not self.is_attached:
            # The operator left this screen while its work ran; what it found has no screen to go to.
            log.info(f"{getattr(call, 'func', call)!r} dropped: its screen has closed")
            return
        try:
            call()
        except Exception as error:
            # Raised back into the worker's thread it would end only that thread, unseen; the app
            # ends on it instead, as on an error in one of its own handlers.
            self.app._handle_exception(error)


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


class TimeoutModal(ModalScreen["float | None"]):
    """After a lock or statement timeout: the timeout for the retry, changeable on the spot."""

    BINDINGS = [Binding("escape", "cancel", "Don't retry")]

    def __init__(self, what: str, kind: str, seconds: float) -> None:
        super().__init__()
        self.what = what
        self.kind = kind
        self.seconds = seconds
        self._typed = False

    def compose(self) -> ComposeResult:
        kind = self.kind
        with Vertical(id="confirm-box"):
            yield Static(f"Retry {self.what}?", id="confirm-question", markup=False)
            yield Static(f"It gave up at the {kind} ({self.seconds:g} s); nothing was kept or recorded, so the "
                         f"deploy can simply run again from there. The {kind} in seconds (0 waits for ever):",
                         id="confirm-detail", markup=False)
            yield Input(value=f"{self.seconds:g}", id="timeout-input", type="number")
            yield Static("", id="timeout-message", markup=False)
            yield Static("Enter = retry    Esc = don't", id="confirm-keys", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        typed = getattr(self.app, "typeahead", None) or []
        self.app.typeahead = None  # type: ignore[attr-defined]
        for character in typed:
            self.take(character)
        self.query_one(Input).focus()

    def take(self, character: str) -> None:
        """A digit typed before the field had the focus (right after `r`): the first replaces the old value."""
        field = self.query_one(Input)
        field.value = (field.value if self._typed else "") + character
        self._typed = True
        field.cursor_position = len(field.value)
        field.select_on_focus = False
        field.focus()

    def on_key(self, event: events.Key) -> None:
        if not self.query_one(Input).has_focus and event.character and event.character in "0123456789.":
            self.take(event.character)
            event.stop()

    @on(Input.Submitted, "#timeout-input")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            seconds = float(event.value)
        except ValueError:
            seconds = -1.0
        if seconds < 0:
            self.query_one("#timeout-message", Static).update("A number of seconds, 0 or more.")
            return
        self.dismiss(seconds)

    def action_cancel(self) -> None:
        self.dismiss(None)


_SCHEME = re.compile(r"^[A-Za-z][\w+.-]*://")
_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)([^&]*)")


def mask_password(url: str) -> str:
    """`url` with its password drawn as dots, the same length (the cursor stays where it is typed); the
    scheme, user, host, port and database stay readable. While the password is typed (no `@` yet),
    everything after `user:` is masked."""
    shown = list(url)
    scheme = _SCHEME.match(url)
    if scheme is not None:
        end = url.rfind("@")
        end = end if end >= scheme.end() else len(url)
        colon = url.find(":", scheme.end(), end)
        if colon >= 0:
            shown[colon + 1:end] = "•" * (end - colon - 1)
    for match in _PASSWORD_PARAM.finditer(url):
        shown[match.start(2):match.end(2)] = "•" * (match.end(2) - match.start(2))
    return "".join(shown)


class UrlInput(Input):
    """An Input for a database URL that masks only the password, so host and database can be checked."""

    @property
    def _value(self) -> Text:
        return Text(mask_password(self.value), no_wrap=True, overflow="ignore", end="")


class UrlModal(ModalScreen["str | None"]):
    """A new database URL, typed masked (it carries the password); Esc keeps the current one."""

    BINDINGS = [Binding("escape", "cancel", "Keep the current URL")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static("Use another database URL?", id="confirm-question", markup=False)
            yield Static(f"Now: {self.current}\nThe wizard reads the new database at once; nothing is written. "
                         "The password is not shown, saved or logged.", id="confirm-detail", markup=False)
            yield UrlInput(placeholder="postgresql://user:password@host:5432/db", id="url-input")
            yield Static("Enter = use it    Esc = keep the current one", id="confirm-keys", markup=False)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted, "#url-input")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
