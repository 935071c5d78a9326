"""Prisma's advisory lock is held: who holds it, since when, from where; wait, or end that session."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lumiku_tui.errors import LumikuError
from lumiku_tui.apply.events import Backend
from lumiku_tui.tui.screens.base import WizardScreen


class LockScreen(WizardScreen):
    """Prisma's advisory lock is held: who, since when, from where; wait, or end that session."""

    SUB_TITLE = "Troubleshooting · migration lock"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("k", "end_session", "End session…"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.holders: tuple[Backend, ...] | None = None
        self.ended: list[int] = []

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static("Looking for the session that holds Prisma's migration lock…", classes="trouble-title",
                     id="lock-title", markup=False)
        yield OptionList(id="lock-holders")
        yield Static(id="lock-help", classes="trouble-body", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self.action_refresh()
        self.set_interval(2.0, self.action_refresh)

    def action_refresh(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="diagnose-lock")
    def _read(self) -> None:
        from lumiku_tui.pg.sessions import advisory_lock_report

        ctx = self.ctx
        if ctx.target is None:
            return
        try:
            holders = advisory_lock_report(ctx.target)
        except LumikuError as err:
            self.call_ui(self.notify, err.what, severity="error")
            return
        self.call_ui(self._show, holders)

    def _session_lines(self, s: Backend) -> Text:
        present = self.ctx.presentation
        pid = "-----" if present.fixed_sessions else str(s.pid)
        since = ("YYYY-MM-DD hh:mm:ss" if present.fixed_sessions or present.fixed_times
                 else (f"{s.backend_start:%Y-%m-%d %H:%M:%S %Z}" if s.backend_start else "unknown"))
        where = s.client or "local socket"
        text = Text()
        text.append(f"pid {pid}", style="bold")
        text.append(f"  {s.application_name or 'unnamed client'} · user {s.user} · from {where}\n")
        text.append(f"   connected since {since} · {s.state or 'unknown state'}\n", style="dim")
        if s.query:
            text.append(f"   last query: {present.text(s.query)[:200]}", style="dim")
        return text

    def _show(self, holders: tuple[Backend, ...]) -> None:
        self.holders = holders
        title = self.query_one("#lock-title", Static)
        options = self.query_one("#lock-holders", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        help_text = self.query_one("#lock-help", Static)
        if not holders:
            title.update(Text("✓ Nobody holds Prisma's migration lock now. Esc goes back; a deploy can proceed.",
                              style="bold green"))
            options.display = False
            help_text.update("")
            self.refresh_bindings()
            return
        options.display = True
        title.update(Text(f"✗ Prisma's migration lock (advisory lock 72707369) is held by {len(holders)} session(s).",
                          style="bold red"))
        for holder in holders:
            options.add_option(Option(self._session_lines(holder), id=str(holder.pid)))
        options.highlighted = min(highlighted or 0, len(holders) - 1)
        options.focus()
        help_text.update(
            "Usually another `prisma migrate deploy` or lumiku-tui run is still working: wait, this screen "
            "refreshes every 2 s. If that session is stuck (idle for long, its deploy gone), k ends it after you "
            "confirm: its open transaction is rolled back and the lock is released.")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "end_session":
            return bool(self.holders)
        return True

    def action_end_session(self) -> None:
        if not self.holders:
            return
        options = self.query_one("#lock-holders", OptionList)
        index = options.highlighted or 0
        holder = self.holders[min(index, len(self.holders) - 1)]
        self.end_session_after_asking(
            holder.pid, f"End session pid {self.session_label(holder.pid)} "
            f"({holder.application_name or 'unnamed client'})?",
            "PostgreSQL terminates that backend: its open transaction is rolled back and Prisma's lock is released. "
            "If it was a running deploy, that migration is undone.",
            yes="y = end it", no="n / Esc = wait instead", done=self._ended)

    def _ended(self, pid: int, ended: bool) -> None:
        self.ended.append(pid)
        self.notify("Session ended; the lock is released." if ended else "That session had already gone.")
        self._read()

    def action_back(self) -> None:
        self.dismiss()
