"""Troubleshooting: each screen diagnoses first (in a worker), then explains and offers the next step.

The diagnoses come from `lumiku_tui.diagnose`; these screens only draw them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from lumiku_tui.errors import LumikuError
from lumiku_tui.events import MigrationFailed, Session
from lumiku_tui.tui.screens.base import ConfirmModal, WizardScreen
from lumiku_tui.tui.widgets.sql_view import SqlView


def _mark(ok: bool | None) -> tuple[str, str]:
    if ok is None:
        return "·", "dim"
    return ("✓", "green") if ok else ("✗", "bold red")


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
            self.app.push_screen(ConnectScreen())
        elif choice == "lock":
            self.app.push_screen(LockScreen())
        elif choice.startswith("failed:"):
            self.app.push_screen(FailureScreen(name=choice.split(":", 1)[1]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "troubleshoot"  # this is the help already

    def action_back(self) -> None:
        self.app.pop_screen()


class ConnectScreen(WizardScreen):
    """Cannot connect: URL parses → host resolves → port answers → TLS → authentication → database → privileges."""

    SUB_TITLE = "Troubleshooting · connection"
    BINDINGS = [Binding("r", "rerun", "Check again"), Binding("escape", "back", "Back")]

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
        from lumiku_tui.diagnose import diagnose_connection

        ctx = self.ctx
        steps = diagnose_connection(ctx.database_url, migrations_dir=ctx.migrations_dir or
                                    (ctx.folder.path if ctx.folder else None), target=ctx.target)
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
        self.app.pop_screen()


def _describe_value(value: Any) -> list[str]:
    """Lines for a diagnosis part whose shape belongs to the diagnose module."""
    describe = getattr(value, "describe", None)
    if callable(describe):
        described = describe()
        return list(described) if isinstance(described, (list, tuple)) else [str(described)]
    if dataclasses.is_dataclass(value):
        return [f"{f.name}: {getattr(value, f.name)}" for f in dataclasses.fields(value)
                if getattr(value, f.name) not in (None, "", ())]
    return [str(value)]


class FailureScreen(WizardScreen):
    """A failed migration: the statement with the error position, the error, the database state, the choices."""

    SUB_TITLE = "Troubleshooting · failed migration"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("pagedown", "scroll_body(1)", "Scroll", key_display="PgDn/PgUp"),
        Binding("pageup", "scroll_body(-1)", "Scroll", show=False),
    ]

    def __init__(self, *, failure: MigrationFailed | None = None, name: str | None = None) -> None:
        super().__init__()
        self.failure = failure
        self.name_ = name or (failure.name if failure else None)
        self.diagnosis: Any = None

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static(f"Migration failed: {self.name_ or '?'}", classes="trouble-title", id="failure-title",
                     markup=False)
        yield SqlView(id="failure-sql")
        with VerticalScroll(classes="trouble-body", id="failure-body"):
            yield Static("Diagnosing…", id="failure-text", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        self.query_one("#failure-body", VerticalScroll).focus()
        self._diagnose()

    def action_scroll_body(self, direction: int) -> None:
        body = self.query_one("#failure-body", VerticalScroll)
        if direction > 0:
            body.scroll_page_down(animate=False)
        else:
            body.scroll_page_up(animate=False)

    @work(thread=True, exclusive=True, group="diagnose-failure")
    def _diagnose(self) -> None:
        ctx = self.ctx
        try:
            from lumiku_tui.diagnose import diagnose_failure

            assert ctx.target is not None and ctx.folder is not None
            diagnosis = diagnose_failure(ctx.target, ctx.folder, self.failure, self.name_)
        except LumikuError as err:
            self.call_ui(self._error, err)
            return
        self.call_ui(self._show, diagnosis)

    def _error(self, err: LumikuError) -> None:
        self.query_one("#failure-text", Static).update(
            Text(err.what + (f"\n{err.why}" if err.why else "") + (f"\nNext step: {err.hint}" if err.hint else ""),
                 style="red"))

    def _show(self, d: Any) -> None:
        self.diagnosis = d
        present = self.ctx.presentation
        where = f"statement {d.statement_index}" if d.statement_index is not None else "before any statement"
        if d.line:
            where += f", line {d.line}" + (f", column {d.column}" if d.column else "")
        self.query_one("#failure-title", Static).update(f"✗ {d.migration} failed at {where}")
        view = self.query_one("#failure-sql", SqlView)
        if d.statement:
            first_line = 1
            mark = None
            if d.line and d.statement_index is not None and self.ctx.folder is not None:
                local = self.ctx.folder.by_name().get(d.migration)
                if local is not None:
                    view.load(local.script, mark=(d.line, d.column))
                    view.goto_line(d.line)
                    view.styles.height = min(8, view.line_count + 1)
                    mark = True
            if mark is None:
                view.load(d.statement, mark=(first_line, None))
                view.styles.height = min(8, view.line_count + 1)
        else:
            view.display = False
        text = Text()
        if d.sqlstate:
            text.append("SQLSTATE  ", style="bold")
            text.append(f"{d.sqlstate}\n")
        text.append("Error     ", style="bold")
        text.append(f"{present.text(d.message)}\n", style="red")
        if d.detail:
            text.append("Detail    ", style="bold")
            text.append(f"{present.text(d.detail)}\n")
        if d.hint:
            text.append("Hint      ", style="bold")
            text.append(f"{present.text(d.hint)}\n")
        text.append("Database  ", style="bold")
        if d.database_unchanged:
            text.append("rolled back: nothing of this migration was kept; the database is as it was before it.\n",
                        style="green")
        else:
            text.append("may hold part of this migration (it ran outside a transaction); check before resolving.\n",
                        style="yellow")
        if d.summary:
            text.append(f"\n{present.text(d.summary)}\n", style="bold")
        existing = d.existing_object
        if existing is not None:
            text.append(f"\nThe {existing.kind} {existing.name} already exists\n", style="bold")
            text.append(f"  found:  {present.text(existing.found)}\n")
            text.append(f"  wanted: {present.text(existing.wanted)}\n")
            verdict = {True: ("matches what the migration wants", "green"),
                       False: ("does NOT match what the migration wants", "bold red"),
                       None: ("cannot tell whether it matches", "yellow")}[existing.matches]
            text.append(f"  → it {verdict[0]}. {present.text(existing.explanation)}\n", style=verdict[1])
        rows = d.orphans if d.orphans is not None else getattr(d, "bad_rows", None)
        if rows is not None:
            heading = "Orphaned rows" if d.orphans is not None else "Rows in the way"
            count = "could not be counted" if rows.count is None else f"{rows.count} row(s)"
            text.append(f"\n{heading} in {rows.table}: {count} (nothing is deleted)\n", style="bold")
            if rows.explanation and rows.explanation != d.summary:
                text.append(f"  {present.text(rows.explanation)}\n")
            text.append("  Find them with:\n", style="dim")
            text.append(f"  {rows.query}\n", style="cyan")
        for blocker in getattr(d, "blockers", ()):
            text.append(f"\nHeld by {self._session(blocker)}\n", style="yellow")
        if d.choices:
            text.append("\nWhat you can do\n", style="bold")
            for choice in d.choices:
                text.append(f"• {present.text(choice)}\n")
        self.query_one("#failure-text", Static).update(text)

    def _session(self, session: Session) -> str:
        text = session.describe()
        return self.ctx.presentation.text(text)

    def action_back(self) -> None:
        self.app.pop_screen()


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
        self.holders: tuple[Session, ...] | None = None
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
        from lumiku_tui.diagnose import advisory_lock_report

        ctx = self.ctx
        if ctx.target is None:
            return
        try:
            holders = advisory_lock_report(ctx.target)
        except LumikuError as err:
            self.call_ui(self.notify, err.what, severity="error")
            return
        self.call_ui(self._show, holders)

    def _session_lines(self, s: Session) -> Text:
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

    def _show(self, holders: tuple[Session, ...]) -> None:
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
            return True if self.holders else None
        return True

    def action_end_session(self) -> None:
        if not self.holders:
            return
        options = self.query_one("#lock-holders", OptionList)
        index = options.highlighted or 0
        holder = self.holders[min(index, len(self.holders) - 1)]
        label = "-----" if self.ctx.presentation.fixed_sessions else str(holder.pid)
        self.app.push_screen(
            ConfirmModal(f"End session pid {label} ({holder.application_name or 'unnamed client'})?",
                         "PostgreSQL terminates that backend: its open transaction is rolled back and Prisma's "
                         "lock is released. If it was a running deploy, that migration is undone.",
                         yes="y = end it", no="n / Esc = wait instead"),
            lambda confirmed: self._end(holder.pid) if confirmed else None,
        )

    @work(thread=True, group="diagnose-lock-end")
    def _end(self, pid: int) -> None:
        from lumiku_tui.diagnose import end_session

        ctx = self.ctx
        assert ctx.target is not None
        try:
            ended = end_session(ctx.target, pid)
        except LumikuError as err:
            self.call_ui(self.notify, err.what, severity="error")
            return
        self.ended.append(pid)
        self.call_ui(self.notify, "Session ended; the lock is released." if ended
                     else "That session had already gone.")
        self._read()

    def action_back(self) -> None:
        self.app.pop_screen()
