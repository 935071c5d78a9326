"""Step 1: the target, the folder, every migration's state, and what blocks a deploy."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from lumiku_tui.prisma.status import State
from lumiku_tui.project import Overview, gather_overview
from lumiku_tui.tui import words
from lumiku_tui.tui.navigation import (ChecklistRequested, DeployAttachRequested, PreviewRequested,
                                       TroubleshootRequested, VerificationRequested)
from lumiku_tui.tui.screens.base import FilteredListScreen, NameFilter

_STATE_LOOK = {
    State.APPLIED: ("applied", "green"),
    State.PENDING: ("● pending", "bold yellow"),
    State.FAILED: ("✗ FAILED", "bold red"),
    State.ROLLED_BACK: ("● rolled back", "yellow"),
    State.MODIFIED: ("! MODIFIED", "bold magenta"),
    State.MISSING_LOCALLY: ("! missing here", "magenta"),
}


class OverviewScreen(FilteredListScreen):
    SUB_TITLE = "1/7 Overview"
    BINDINGS = [
        Binding("enter", "preview", "Preview", priority=True),
        Binding("t", "troubleshoot_blocker", "Troubleshoot"),
        Binding("c", "resume", "Checklist"),
        Binding("v", "verify", "Verify"),
        Binding("r", "refresh", "Refresh"),
        Binding("u", "new_url", "New URL…"),
        # In the Keys panel: at 80 columns the footer keeps its room for the keys above and quit.
        Binding("slash", "filter", "Filter", key_display="/", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.overview: Overview | None = None
        #: The last deploy run in a process of its own for this target (apply/detached.py), as last read.
        self.deploy_process = None
        #: The facts are drawn and the rows needing attention are in view.
        self.ready = False
        self.left = False

    def compose(self) -> ComposeResult:
        yield from self.header()
        with Vertical(id="overview-facts", classes="facts"):
            yield Static(id="target-line", markup=False)
            yield Static(id="server-line", markup=False)
            yield Static(id="folder-line", markup=False)
        yield Static("Reading the database…", id="overview-banner", classes="banner info", markup=False)
        yield NameFilter()
        table: DataTable[Text] = DataTable(id="migrations", cursor_type="row", zebra_stripes=False)
        yield table
        yield from self.footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Draw the target and folder, then read the database (again, after a new URL)."""
        ctx = self.ctx
        self.left = False
        self.overview = None
        self.query_one("#server-line", Static).update("")
        self.query_one("#target-line", Static).update(f"Target      {ctx.display}")
        if ctx.folder is not None:
            self.query_one("#folder-line", Static).update(
                f"Migrations  {ctx.presentation.path(ctx.folder.path)} ({len(ctx.folder.migrations)} migrations)")
        if ctx.target is None or ctx.folder is None:
            self.query_one("#migrations", DataTable).clear()
            self._show_load_error()
            return
        self.action_refresh()

    def _show_load_error(self) -> None:
        err = self.ctx.load_error
        banner = self.query_one("#overview-banner", Static)
        pointer = "Press t to run the connection check step by step, u to enter another database URL."
        banner.update(words.error_rich(err, self.ctx.presentation, extra=pointer) if err
                      else f"No database to work on.\n{pointer}")
        banner.set_classes("banner error")
        self.query_one("#server-line", Static).update("Server      not reached")
        self.refresh_bindings()
        self.ready = True

    def action_refresh(self) -> None:
        if self.ctx.target is None:
            return
        banner = self.query_one("#overview-banner", Static)
        banner.update("Reading the database…")
        banner.set_classes("banner info")
        self._gather()

    @work(thread=True, exclusive=True, group="overview")
    def _gather(self) -> None:
        """The folder and the database, both read again: a new or edited migration shows as it is on disk."""
        from lumiku_tui.errors import LumikuError
        from lumiku_tui.prisma.folder import load_folder

        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None
        try:
            folder = load_folder(ctx.folder.path, ctx.folder.how_found)
        except LumikuError as err:
            self.call_ui(self._folder_unreadable, err)
            return
        overview = gather_overview(ctx.target, folder)
        self.deploy_process = _deploy_process(ctx)
        self.call_ui(self._read_again, overview, folder)

    def _folder_unreadable(self, err) -> None:  # type: ignore[no-untyped-def]
        self.ctx.load_error = err
        self.overview = None
        self.query_one("#migrations", DataTable).clear()
        self._show_load_error()

    def _read_again(self, overview: Overview, folder) -> None:  # type: ignore[no-untyped-def]
        self.ctx.folder = folder
        self.query_one("#folder-line", Static).update(
            f"Migrations  {self.ctx.presentation.path(folder.path)} ({len(folder.migrations)} migrations)")
        self._show(overview)

    def _show(self, overview: Overview) -> None:
        self.ready = False
        self.overview = overview
        self.ctx.status = overview.status
        facts = overview.server
        server = self.query_one("#server-line", Static)
        if facts is not None:
            role = "read-only replica" if facts.in_recovery else ("read-only" if facts.read_only else "writable")
            pooler = " · pooler (transaction mode)" if self.ctx.target and self.ctx.target.pooler else ""
            server.update(f"Server      PostgreSQL {facts.version} · db {facts.database} · schema "
                          f"{facts.schema or '(none)'} · {role}{pooler}")
        else:
            server.update("Server      not reached")
        first_attention, last_attention = self._fill_table()
        self._update_banner(overview)
        self.refresh_bindings()
        self.query_one("#migrations", DataTable).focus()
        # After the refresh, when the new rows have a size to scroll to.
        self.call_after_refresh(self._settle, first_attention, last_attention)

    def list_widget(self) -> DataTable:  # type: ignore[type-arg]
        return self.query_one("#migrations", DataTable)

    def apply_filter(self, text: str) -> None:
        if self.overview is not None:
            self._fill_table()

    def _fill_table(self) -> tuple[int | None, int | None]:
        """The rows whose names hold the filter text; returns the first and last needing attention."""
        overview = self.overview
        assert overview is not None
        table = self.query_one("#migrations", DataTable)
        # Widths are set from the data: left to the table, a refresh that lands before it
        # re-measures keeps the headers' widths and cuts the names.
        migrations = overview.status.migrations if overview.status is not None else ()
        table.clear(columns=True)
        table.add_column("State", width=max([5, *(len(_STATE_LOOK[m.state][0]) for m in migrations)]))
        table.add_column("Migration", width=max([9, *(len(m.name) for m in migrations)]))
        table.add_column("Applied at", width=16)
        first_attention = last_attention = None
        wanted = self.name_filter_text
        shown = [m for m in migrations if wanted in m.name.lower()]
        for row_number, m in enumerate(shown):
            label, style = _STATE_LOOK[m.state]
            when = m.finished_at or m.started_at
            stamp = self.ctx.presentation.text(f"{when:%Y-%m-%d %H:%M}") if when else ""
            name_style = style if m.state is not State.APPLIED else ""
            table.add_row(Text(label, style=style), Text(m.name, style=name_style), Text(stamp, style="dim"),
                          key=m.name)
            if m.state is not State.APPLIED:
                last_attention = row_number
                if first_attention is None:
                    first_attention = row_number
        return first_attention, last_attention

    def _settle(self, first_attention: int | None, last_attention: int | None) -> None:
        """Bring every row that needs attention into view, then rest the cursor on the first."""
        table = self.query_one("#migrations", DataTable)
        if first_attention is not None and last_attention is not None:
            table.move_cursor(row=last_attention, animate=False, scroll=True)
            table.scroll_to(y=max(0, last_attention - table.size.height + 3), animate=False, immediate=True)
            table.move_cursor(row=first_attention, animate=False, scroll=False)
        self.ready = True

    def _update_banner(self, overview: Overview) -> None:
        banner = self.query_one("#overview-banner", Static)
        lines: list[str] = []
        if overview.error is not None:
            banner.set_classes("banner error")
            text = Text("✗ Cannot connect: ", style="bold")
            text.append_text(words.error_rich(overview.error, self.ctx.presentation,
                                              extra="Press t to find the failing step. u enters another "
                                                    "database URL."))
            for warning in overview.warnings:
                text.append(f"\n! {warning}")
            banner.update(text)
            return
        if overview.blockers:
            lines.extend(f"✗ {b.message}" for b in overview.blockers)
            lines.append("Deploy is blocked. Press t to see why and what to do.")
            banner.set_classes("banner error")
        elif overview.pending:
            lines.append(f"{len(overview.pending)} migration(s) pending. Press Enter to preview them; nothing is "
                         "applied before you approve.")
            banner.set_classes("banner attention")
        else:
            lines.append("✓ The database is up to date with the migrations folder. Nothing to apply.")
            banner.set_classes("banner ok")
        lines.extend(f"! {w}" for w in overview.warnings)
        process = self.deploy_process
        if process is not None and process.running:
            lines.insert(0, f"▶ {self.ctx.presentation.text(process.describe())} Press Enter to follow it.")
            banner.set_classes("banner attention")
        elif process is not None and process.lost:
            lines.insert(0, f"✗ {self.ctx.presentation.text(process.describe())} The states below are the "
                         "database's own; deploying again resumes or retries.")
            banner.set_classes("banner error")
        banner.update("\n".join(lines))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        overview = self.overview
        if action == "preview" and self.deploy_process is not None and self.deploy_process.running:
            return True  # one deploy at a time: Enter follows the running one rather than preparing another
        if self.filtering and action == "preview":
            return False  # Enter keeps the filter while the filter box has the focus
        if action == "preview":
            # Hidden, not dimmed, when there is nothing to preview: a key in the footer always does something.
            return bool(overview is not None and overview.can_deploy)
        if action == "resume":
            return True if self.wizard.saved_session_has_progress() else False
        if action == "verify":
            # For a database deployed elsewhere (or earlier): check what is applied without deploying.
            return bool(overview is not None and overview.status is not None and overview.status.up_to_date
                        and overview.status.migrations)
        return True

    def action_preview(self) -> None:
        if self.deploy_process is not None and self.deploy_process.running:
            self.post_message(DeployAttachRequested(self.deploy_process))
            return
        if self.overview is None or not self.overview.can_deploy:
            return
        self.post_message(PreviewRequested(self.overview.pending))

    def action_troubleshoot_blocker(self) -> None:
        overview = self.overview
        if self.ctx.target is None or (overview is not None and overview.error is not None):
            self.post_message(TroubleshootRequested("connect"))
            return
        if overview is None or not overview.blockers:
            self.action_troubleshoot()
            return
        blocker = overview.blockers[0]
        if blocker.kind == "failed" and blocker.migration:
            self.post_message(TroubleshootRequested("failure", name=blocker.migration))
        elif blocker.kind == "lock":
            self.post_message(TroubleshootRequested("lock"))
        else:
            self.post_message(TroubleshootRequested("connect"))

    def action_verify(self) -> None:
        self.post_message(VerificationRequested(()))

    def action_resume(self) -> None:
        self.post_message(ChecklistRequested())

    def on_screen_suspend(self) -> None:
        self.left = True

    def on_screen_resume(self) -> None:
        # Coming back from another step: the database may have changed (a deploy, a resolve).
        if self.left and self.ctx.target is not None:
            self.left = False
            self.action_refresh()


def _deploy_process(ctx):  # type: ignore[no-untyped-def]
    """The last deploy process of the target's journal (None if none ever ran, or the journal cannot be read)."""
    from lumiku_tui.apply.detached import last_deploy_process
    from lumiku_tui.journal import Journal

    try:
        return last_deploy_process(Journal.for_target(ctx.target, ctx.state_dir))
    except OSError:
        return None
