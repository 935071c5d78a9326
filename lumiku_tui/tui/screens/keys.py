"""The Keys panel (`?`, F1): every key of the screen below it, then the keys every screen shares."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from lumiku_tui.tui.screens.base import GLOBAL_ACTIONS

#: Shared keys that are not bindings of a wizard screen (the app's, and the palette's).
_APP_KEYS = (("ctrl+p", "Command palette: the screen's actions, the theme"),
             ("ctrl+q", "Quit (asks first while a migration runs)"))
#: Keys on a screen that are answered by the widget with the focus rather than by a binding.
_WIDGET_KEYS = (("↑/↓  PgUp/PgDn", "Move and scroll in the focused list or view"),
                ("Tab", "Next pane"))


def _key_name(app, key: str, display: str | None) -> str:  # type: ignore[no-untyped-def]
    return display or app.get_key_display(Binding(key, ""))


class KeysScreen(ModalScreen[None]):
    """Lists the keys of `below` as they stand now: what each does, and which are not available yet."""

    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("question_mark", "dismiss", "Close", show=False),
                Binding("q", "dismiss", "Close", show=False), Binding("f1", "dismiss", "Close", show=False),
                Binding("t", "troubleshoot", "Troubleshoot")]

    def __init__(self, below: Screen) -> None:  # type: ignore[type-arg]
        super().__init__()
        self.below = below
        self.rows = self._rows()

    def _rows(self) -> tuple[list[tuple[str, str, bool]], list[tuple[str, str, bool]]]:
        own: list[tuple[str, str, bool]] = []
        shared: list[tuple[str, str, bool]] = []
        seen: set[tuple[str, str]] = set()
        # The wizard's own bindings only: the widgets' (cursor keys, Textual's focus and copy keys) are
        # summed up in one line rather than listed one by one.
        ours = {(b.key, b.action) for cls in type(self.below).__mro__ for b in cls.__dict__.get("BINDINGS", [])
                if isinstance(b, Binding) and cls.__module__.startswith("lumiku_tui.")}
        for key, active in self.below.active_bindings.items():
            binding = active.binding
            if not binding.description or (binding.key, binding.action) not in ours:
                continue
            name = _key_name(self.app, key, binding.key_display)
            if (name, binding.description) in seen:
                continue
            seen.add((name, binding.description))
            row = (name, binding.description, active.enabled)
            rows = shared if binding.action in GLOBAL_ACTIONS or active.node is self.app else own
            same = next((n for n, r in enumerate(rows) if r[1] == binding.description), None)
            if same is not None:  # one line for `?` and F1
                rows[same] = (f"{rows[same][0]} / {name}", binding.description, rows[same][2] or active.enabled)
            else:
                rows.append(row)
        shared += [(key, what, True) for key, what in _APP_KEYS]
        own += [(key, what, True) for key, what in _WIDGET_KEYS]
        return own, shared

    def compose(self) -> ComposeResult:
        own, shared = self.rows
        title = getattr(self.below, "SUB_TITLE", "") or "this screen"
        text = Text()
        text.append(f"Keys · {title}\n", style="bold")
        for key, what, enabled in own:
            text.append(f"  {key:<16}", style="bold" if enabled else "dim")
            text.append(what + ("" if enabled else "  (not now)") + "\n", style="" if enabled else "dim")
        text.append("\nEverywhere\n", style="bold")
        for key, what, _enabled in shared:
            text.append(f"  {key:<16}", style="bold")
            text.append(what + "\n")
        text.rstrip()
        with VerticalScroll(id="keys-box"):
            yield Static(text, id="keys-text")
        yield Footer(show_command_palette=False)

    def action_troubleshoot(self) -> None:
        """From the panel too: the approval's name field would take a bare `t` as a letter."""
        below = self.below
        self.dismiss()
        if hasattr(below, "action_troubleshoot"):
            below.action_troubleshoot()

    def listed(self) -> str:
        return self.query_one("#keys-text", Static).render().plain  # type: ignore[union-attr]
