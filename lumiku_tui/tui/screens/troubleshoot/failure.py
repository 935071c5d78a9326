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
from lumiku_tui.tui.navigation import DeployResumed, EditRequested, OverviewRequested, RetryRequested
from lumiku_tui.tui.screens.base import ConfirmModal, WizardScreen
from lumiku_tui.tui.widgets.sql_view import SqlView


class FailureScreen(WizardScreen):
    """A failed migration: the statement with the error position, the error, the database state, the choices."""

    SUB_TITLE = "Troubleshooting · failed migration"
    BINDINGS = [
        Binding("c", "copy", "Copy"),
        Binding("e", "edit", "Edit"),
        Binding("R", "resolve('rolled_back')", "Resolve…", key_display="R/A"),
        # A lock timeout: end the session in the way, then retry the deploy (as on the deploy's screen).
        Binding("k", "end_blocker", "End blocker…"),
        Binding("r", "retry", "Retry…"),
        Binding("A", "resolve('applied')", "Mark applied…", show=False),
        Binding("C", "resume", "Continue…"),
        Binding("escape", "back", "Back"),
        Binding("pagedown", "scroll_body(1)", "Scroll the explanation", show=False),
        Binding("pageup", "scroll_body(-1)", "Scroll the explanation back", show=False),
    ]

    def __init__(self, *, failure: MigrationFailed | None = None, name: str | None = None) -> None:
        super().__init__()
        self.failure = failure
        self.name_ = name or (failure.name if failure else None)
        self.diagnosis: Any = None
        #: What the last resolve said, and how many statements the edited file has (for tests and the record).
        self.resolved: str | None = None
        self.replanned: int | None = None
        #: The pid of the blocking session `k` ended, if it did.
        self.ended_blocker: int | None = None

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

    def _lock_wait(self) -> bool:
        """The deploy just gave up waiting for a table lock (nothing recorded: a retry runs it again)."""
        return self.failure is not None and self.failure.reason == "lock_timeout"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resume":
            return bool(self.diagnosis is not None and self.diagnosis.resumable)  # only a migration in parts
        if action == "retry":
            return self._lock_wait()
        if action == "end_blocker":
            return self._lock_wait() and bool(self._blockers())
        if action in ("copy", "edit", "resolve"):
            if self.diagnosis is None:
                return None  # shown, not yet usable: the diagnosis is on its way
            if action == "copy":
                return bool(self.diagnosis.statement)
            if action == "edit":
                return self._local() is not None
            if action == "resolve":
                return bool(self.diagnosis.recorded_failed)
        return True

    def _local(self):  # type: ignore[no-untyped-def]
        folder = self.ctx.folder
        name = self.diagnosis.migration if self.diagnosis is not None else self.name_
        return folder.by_name().get(name) if folder is not None and name else None

    @work(thread=True, exclusive=True, group="diagnose-failure")
    def _diagnose(self) -> None:
        ctx = self.ctx
        try:
            from lumiku_tui.doctor.failure import diagnose_failure

            assert ctx.target is not None and ctx.folder is not None
            diagnosis = diagnose_failure(ctx.target, ctx.folder, self.failure, self.name_)
        except LumikuError as err:
            self.call_ui(self._error, err)
            return
        self.call_ui(self._show, diagnosis)

    def _number(self, migration: str, index: int) -> int:
        """The statement's number as the deploy's log showed it (the history's logs keep its place in the file)."""
        from lumiku_tui.apply.plan import sent_numbers

        local = self.ctx.folder.by_name().get(migration) if self.ctx.folder is not None else None
        return sent_numbers(local).get(index, index) if local is not None else index

    def _error(self, err: LumikuError) -> None:
        self.query_one("#failure-text", Static).update(words.error_rich(err, self.ctx.presentation))

    def _show(self, d: Any) -> None:
        self.diagnosis = d
        present = self.ctx.presentation
        where = (f"statement {self._number(d.migration, d.statement_index)}" if d.statement_index is not None
                 else "before any statement")
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
                    view.load_migration(local, mark=(d.line, d.column))
                    view.styles.height = 8 if local.streamed else min(8, view.line_count + 1)
                    # Once the view has its size: scrolling before that is clamped to line 1.
                    self.call_after_refresh(view.goto_line, d.line)
                    mark = True
            if mark is None:
                view.load(d.statement, mark=(first_line, None))
                view.styles.height = min(8, view.line_count + 1)
        else:
            view.display = False
        text = Text()
        message, summary = d.message, d.summary
        if d.kind == "lock" and getattr(d, "blockers", ()):
            # Who holds the table is said once, in the "Held by" lines below.
            message = message.split("; held by ")[0] + (")" if "; held by " in message else "")
            summary = "A table lock was not granted in time."
        # The error first, right under the statement it points at.
        text.append("Error     ", style="bold")
        text.append(f"{present.text(message)}\n", style="red")
        if d.sqlstate:
            text.append("SQLSTATE  ", style="bold")
            text.append(f"{d.sqlstate}\n")
        if d.detail:
            text.append("Detail    ", style="bold")
            text.append(f"{present.text(d.detail)}\n")
        if d.hint:
            text.append("Hint      ", style="bold")
            text.append(f"{present.text(d.hint)}\n")
        text.append("Database  ", style="bold")
        if d.resumable is not None:
            text.append(f"{d.database_state}.\n", style="yellow")
        elif d.database_unchanged:
            text.append("rolled back: nothing of this migration was kept; the database is as it was before it.\n",
                        style="green")
        else:
            text.append("may hold part of this migration (it ran outside a transaction); check before resolving.\n",
                        style="yellow")
        if summary:
            text.append(f"\n{present.text(summary)}\n", style="bold")
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
        if self._lock_wait():
            text.append("Here: k ends the session holding the table (asks first) · r retries the deploy, with "
                        "the lock timeout changeable\n", style="bold")
        if d.recorded_failed:
            text.append("Here: e edits the migration at this line · "
                        + ("C continues from the failed part (deploy --resume) · " if d.resumable else "")
                        + "R marks the failed attempt rolled back · A marks it applied · c copies the statement "
                        "(each asks first)\n", style="bold")
        self.query_one("#failure-text", Static).update(text)
        self.refresh_bindings()

    def _blockers(self) -> tuple[Backend, ...]:
        if self.diagnosis is not None and getattr(self.diagnosis, "blockers", ()):
            return tuple(self.diagnosis.blockers)
        return tuple(self.failure.blockers) if self.failure is not None else ()

    def action_end_blocker(self) -> None:
        blockers = self._blockers()
        if not self._lock_wait() or not blockers:
            return
        pid = blockers[0].pid
        self.end_session_after_asking(
            pid, f"End session pid {self.session_label(pid)}?",
            "PostgreSQL terminates that backend: its open transaction is rolled back and its lock released. Then r "
            "retries the deploy.", no="n / Esc = leave it", done=self._blocker_ended)

    def _blocker_ended(self, pid: int, ended: bool) -> None:
        self.ended_blocker = pid
        self.notify("Session ended; its lock is released. r retries the deploy." if ended
                    else "That session had already gone. r retries the deploy.", timeout=10)

    def action_retry(self) -> None:
        if self._lock_wait():
            self.wizard.typeahead = []  # digits typed before the dialog opens are its new timeout
            self.post_message(RetryRequested())

    def _session(self, session: Backend) -> str:
        text = session.describe()
        return self.ctx.presentation.text(text)

    # -- copying and recovering -------------------------------------------------------------------

    def copied_text(self) -> str:
        """The failing statement and, when there is one, the query that finds the rows in the way."""
        d = self.diagnosis
        parts = [f"-- {d.migration}: the failing statement" + (f" (line {d.line})" if d.line else ""),
                 d.statement.strip()]
        rows = d.orphans if d.orphans is not None else getattr(d, "bad_rows", None)
        if rows is not None and rows.query:
            parts += ["", f"-- the rows in {rows.table} that stop it", rows.query.strip()]
        return "\n".join(parts) + "\n"

    def action_copy(self) -> None:
        if self.diagnosis is None or not self.diagnosis.statement:
            return
        text = self.copied_text()
        # OSC 52: the terminal (xterm.js too) puts it on the clipboard, also over SSH.
        self.app.copy_to_clipboard(self.ctx.presentation.text(text))
        what = "the failing statement and the diagnostic query" if "\n\n--" in text else "the failing statement"
        self.notify(f"Copied {what} to the clipboard.", timeout=5)

    def action_resolve(self, how: str) -> None:
        d = self.diagnosis
        if d is None or not d.recorded_failed:
            return
        if how == "rolled_back":
            question = f"Mark the failed attempt of {d.migration} rolled back?"
            detail = ("Sets rolled_back_at on its failed row in _prisma_migrations, as `prisma migrate resolve "
                      "--rolled-back` does: it says nothing of the migration remains. Nothing else in the database "
                      "changes; the next deploy runs the whole file again (fix its cause or its SQL first).")
            if d.resumable:
                kept = d.resumable[0]
                detail += (f" Part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''} committed and "
                           "are still in the database: undo them by hand first, or they run twice. To continue "
                           "from the failed part instead, press C.")
            yes = "y = mark rolled back"
        else:
            question = f"Mark {d.migration} applied without running it?"
            detail = ("Records it as applied in _prisma_migrations, as `prisma migrate resolve --applied` does. "
                      "Only if you made its changes by hand: lumiku-tui will never run it.")
            yes = "y = mark applied"
        self.app.push_screen(ConfirmModal(question, detail, yes=yes, no="n / Esc = leave it"),
                             lambda confirmed: self._resolve(how) if confirmed else None)

    def action_resume(self) -> None:
        d = self.diagnosis
        if d is None or not d.resumable:
            return
        kept = d.resumable[0]
        parts = f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''}"
        detail = (f"Runs {d.migration} from part {kept + 1} as the file now reads (fix it first), on the same history "
                  f"row, then the migrations pending after it, as `lumiku-tui deploy --resume` does. {parts.capitalize()}, "
                  "already in the database, are not run again, and only while they are byte for byte what "
                  "committed; the session they set up (SET, search_path) is set up again first.")
        self.app.push_screen(ConfirmModal(f"Resume {d.migration} from part {kept + 1}?", detail,
                                          yes="y = resume", no="n / Esc = leave it"),
                             lambda confirmed: self._resume() if confirmed else None)

    @work(thread=True, exclusive=True, group="resolve")
    def _resume(self) -> None:
        from lumiku_tui.apply.plan import batch_of
        from lumiku_tui.prisma.status import read_status

        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None
        try:
            batch = batch_of(read_status(ctx.target, ctx.folder), resume=True)
            batch.refuse_blocked()  # a changed committed part, a session that cannot be set up again: said here
        except LumikuError as err:
            self.call_ui(self.notify, words.error_rich(err, ctx.presentation).plain, severity="error", timeout=20)
            return
        self.call_ui(self.post_message, DeployResumed(tuple(batch.names)))

    @work(thread=True, exclusive=True, group="resolve")
    def _resolve(self, how: str) -> None:
        from lumiku_tui.prisma.resolve import resolve_applied, resolve_rolled_back

        ctx = self.ctx
        assert ctx.target is not None and ctx.folder is not None and self.diagnosis is not None
        name = self.diagnosis.migration
        try:
            if how == "rolled_back":
                resolve_rolled_back(ctx.target, ctx.folder, name, self.wizard.journal)
            else:
                resolve_applied(ctx.target, ctx.folder, name, self.wizard.journal)
        except LumikuError as err:
            self.call_ui(self.notify, words.error_rich(err, ctx.presentation).plain, severity="error", timeout=15)
            return
        said = ("marked rolled back: the next deploy runs the whole file again" if how == "rolled_back"
                else "marked applied: it will not be run")
        self.call_ui(self._resolved, f"{name} {said}.")

    def _resolved(self, message: str) -> None:
        self.resolved = message
        self.notify(message, timeout=10)
        self.post_message(OverviewRequested())

    def action_edit(self) -> None:
        local = self._local()
        if local is None:
            return
        line = (self.diagnosis.line if self.diagnosis is not None else None) or 1
        self.post_message(EditRequested(local.path / "migration.sql" if local.path.is_dir() else local.path, line,
                                        then=self._edited))

    def _edited(self) -> None:
        """The file may have changed: read the folder again and diagnose against the new text."""
        from lumiku_tui.prisma.folder import load_folder

        ctx = self.ctx
        if ctx.folder is None:
            return
        before = self._local()
        try:
            ctx.folder = load_folder(ctx.folder.path, ctx.folder.how_found)
        except LumikuError as err:
            self.notify(words.error_rich(err, ctx.presentation).plain, severity="error", timeout=15)
            return
        ctx.lint = None  # the findings were for the old text
        local = self._local()
        if self.wizard.journal is not None and (before is not None or local is not None):
            self.wizard.journal.append("file_edited", name=(local or before).name,
                                       old_checksum=before.checksum if before is not None else None,
                                       new_checksum=local.checksum if local is not None else None)
        if local is not None:
            from lumiku_tui.apply.plan import statements_of

            try:
                count = len(statements_of(local))
            except LumikuError as err:
                self.notify(words.error_rich(err, ctx.presentation).plain, severity="error", timeout=15)
                return
            self.replanned = count
            self.query_one("#failure-sql", SqlView).load_migration(local)
            self.notify(f"Re-planned {local.name}: {count} statement(s). R marks the failed attempt rolled back; "
                        "the overview then deploys the edited migration.", timeout=10)

    def action_back(self) -> None:
        self.dismiss()
