"""Step 7: the runbook's success criteria. Proven items tick themselves; the operator ticks the rest."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from lumiku_tui.errors import LumikuError
from lumiku_tui.tui.screens.base import ConfirmModal, WizardScreen


class ChecklistScreen(WizardScreen):
    SUB_TITLE = "7/7 Checklist"
    BINDINGS = [
        Binding("space", "toggle", "Tick/untick"),
        Binding("enter", "finish", "Write record", priority=True),
        Binding("enter", "leave", "Leave", priority=True),
        Binding("escape", "back", "Back"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield Static(id="checklist-summary", classes="banner info", markup=False)
        yield DataTable(id="checklist", cursor_type="row")
        yield Static(id="checklist-evidence", markup=False)
        yield from self.footer()

    def on_mount(self) -> None:
        table = self.query_one("#checklist", DataTable)
        table.add_columns("", "Success criterion", "Proof")
        session = self.wizard.session
        if session is not None:
            session.apply_evidence()
        self._fill()
        table.focus()

    @property
    def items(self) -> list:  # type: ignore[type-arg]
        session = self.wizard.session
        return list(session.checklist) if session is not None else []

    def _fill(self, keep_row: int = 0) -> None:
        table = self.query_one("#checklist", DataTable)
        table.clear()
        for item in self.items:
            mark = Text("[x]", style="bold green") if item.done else Text("[ ]", style="bold yellow")
            how = Text("automatic", style="dim") if item.automatic else Text("you (space)", style="cyan")
            table.add_row(mark, item.label.replace("`", ""), how, key=item.key)
        if self.items:
            table.move_cursor(row=min(keep_row, len(self.items) - 1), animate=False)
        self._summary()
        self._evidence()

    def _summary(self) -> None:
        items = self.items
        done = sum(1 for i in items if i.done)
        summary = self.query_one("#checklist-summary", Static)
        if self.ctx.record_path is not None:
            # The folder and the file name each on a line of their own: a line the terminal wraps mid-word
            # is copied from a browser terminal with a break in it. (The full path is printed on exit too.)
            path = self.ctx.record_path
            summary.update(f"✓ Deployment record written to\n  {self.ctx.presentation.path(path.parent)}/\n"
                           f"  {self.ctx.presentation.path(path.name)}\nPress Enter to leave; the path is printed "
                           "again when the wizard closes.")
            summary.set_classes("banner ok")
            return
        summary.update(f"{done} of {len(items)} criteria met. Space ticks the ones only you can check; "
                       "Enter writes the deployment record. Progress is saved as you go.")
        summary.set_classes("banner ok" if done == len(items) else "banner attention")

    @on(DataTable.RowHighlighted, "#checklist")
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._evidence()

    def _evidence(self) -> None:
        table = self.query_one("#checklist", DataTable)
        items = self.items
        row = table.cursor_row
        panel = self.query_one("#checklist-evidence", Static)
        if not (0 <= row < len(items)):
            panel.update("")
            return
        item = items[row]
        text = Text()
        text.append("Evidence: " if item.automatic else "Operator: ", style="bold")
        text.append(self.ctx.presentation.text(item.evidence) or ("not ticked yet" if not item.automatic else "-"))
        panel.update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        written = self.ctx.record_path is not None
        if action == "finish":
            return not written
        if action == "leave":
            return written
        return True

    def action_leave(self) -> None:
        self.app.exit(0)

    def action_toggle(self) -> None:
        session = self.wizard.session
        table = self.query_one("#checklist", DataTable)
        items = self.items
        row = table.cursor_row
        if session is None or not (0 <= row < len(items)):
            return
        try:
            session.toggle(items[row].key)
        except LumikuError as err:
            self.notify(err.what + (f" {err.why}" if err.why else ""), severity="warning")
            return
        self._fill(keep_row=row)

    def action_finish(self) -> None:
        session = self.wizard.session
        if session is None:
            return
        open_items = [i for i in session.checklist if not i.done]
        if open_items:
            self.app.push_screen(
                ConfirmModal(f"{len(open_items)} criteria are not met yet.",
                             "Write the record now? It will say which ones are open.",
                             yes="y = write it", no="n / Esc = keep ticking"),
                self._write_confirmed,
            )
            return
        self._write()

    def _write_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self._write()

    def _write(self) -> None:
        session = self.wizard.session
        try:
            path = session.write_record(self.ctx.record_dir)
        except OSError as err:
            self.notify(f"Could not write the record in {self.ctx.record_dir}: {err.strerror}. Set "
                        "LUMIKU_RECORD_DIR to a writable folder.", severity="error")
            return
        self.ctx.record_path = path
        self._summary()
        self.refresh_bindings()

    def action_back(self) -> None:
        self.dismiss()
