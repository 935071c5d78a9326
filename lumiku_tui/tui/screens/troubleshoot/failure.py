"""A failed migration: the statement with the error position, the error, the database state, the choices."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from lumiku_tui.errors import LumikuError
from lumiku_tui.apply.events import MigrationFailed, Backend
from lumiku_tui.tui import words
from lumiku_tui.tui.screens.base import WizardScreen
from lumiku_tui.tui.widgets.sql_view import SqlView


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
            from lumiku_tui.checks.failure import diagnose_failure

            assert ctx.target is not None and ctx.folder is not None
            diagnosis = diagnose_failure(ctx.target, ctx.folder, self.failure, self.name_)
        except LumikuError as err:
            self.call_ui(self._error, err)
            return
        self.call_ui(self._show, diagnosis)

    def _error(self, err: LumikuError) -> None:
        self.query_one("#failure-text", Static).update(words.error_rich(err, self.ctx.presentation))

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

    def _session(self, session: Backend) -> str:
        text = session.describe()
        return self.ctx.presentation.text(text)

    def action_back(self) -> None:
        self.app.pop_screen()
