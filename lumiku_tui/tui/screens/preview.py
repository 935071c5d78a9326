"""Step 2: the pending migrations and their SQL, statement by statement, with safety findings."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import log, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option, OptionDoesNotExist

from lumiku_tui.apply.wording import error_text
from lumiku_tui.errors import LumikuError
from lumiku_tui.sql.split import Kind, sets_transaction_modes
from lumiku_tui.project import findings_for
from lumiku_tui.tui.navigation import ApprovalRequested, RehearsalRequested
from lumiku_tui.tui.offload import CHILD_THRESHOLD_BYTES
from lumiku_tui.tui.screens.base import FilteredListScreen, NameFilter
from lumiku_tui.tui.widgets.sql_view import Shown, SqlView

_SEVERITY_LOOK = {"error": ("✗ error", "bold red"), "warning": ("! warning", "yellow"), "info": ("i info", "cyan")}
#: Risk first: errors, then warnings, then notes.
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}
_WORST_MARK = {"error": ("✗", "bold red"), "warning": ("!", "yellow"), "info": ("i", "cyan")}


def by_risk(findings) -> list:  # type: ignore[no-untyped-def]
    """Errors first, then warnings, then notes; the file's order within each."""
    return sorted(findings, key=lambda f: (SEVERITY_RANK.get(f.severity, 3), f.statement))


def worst_severity(findings) -> str | None:  # type: ignore[no-untyped-def]
    ranked = by_risk(findings)
    return ranked[0].severity if ranked else None


def finding_text(finding) -> Text:  # type: ignore[no-untyped-def]
    label, style = _SEVERITY_LOOK.get(finding.severity, (finding.severity, ""))
    text = Text()
    text.append(f"{label} ", style=style)
    text.append(finding.message)
    if finding.lock:
        text.append(f"  [{finding.lock}]", style="dim")
    text.append(f"\n  → {finding.safe_alternative}", style="dim")
    return text


class PreviewScreen(FilteredListScreen):
    SUB_TITLE = "2/7 Preview"
    BINDINGS = [
        Binding("enter", "approve", "Approve…", priority=True),
        Binding("n", "next_statement", "Stmt", key_display="n/p"),
        Binding("p", "previous_statement", "Previous statement", show=False),
        Binding("f", "read_findings", "Findings"),
        Binding("d", "dry_run", "Dry run"),
        Binding("escape", "back", "Back"),
        # In the Keys panel; the footer's 80 columns go to the keys of reading and approving.
        Binding("slash", "filter", "Filter", key_display="/", show=False),
    ]

    def __init__(self, pending: list[str]) -> None:
        super().__init__()
        self.pending = list(pending)
        #: Each migration's statements as split (of one too large to hold, their marks: sql/marks.py).
        self.statements: dict[str, Shown] = {}
        #: How many statements the deploy will send (the script's own BEGIN/COMMIT are not sent).
        self.run_counts: dict[str, int] = {}
        #: File index -> the number the deploy sends each statement under (apply.plan.sent_numbers).
        self.numbers: dict[str, Mapping[int, int]] = {}
        self.split_errors: dict[str, str] = {}
        #: Migrations the engine would refuse to run as written (PlanError), with its words.
        self.plan_errors: dict[str, str] = {}
        self.lint_done = False
        self.selected: str | None = None

    def compose(self) -> ComposeResult:
        yield from self.header()
        yield NameFilter()
        yield OptionList(*[Option(self._label(name), id=name) for name in self.pending], id="pending")
        yield SqlView(id="sql")
        with VerticalScroll(id="statement-pane"):
            yield Static(id="statement-info", markup=False)
        yield from self.footer()

    def _label(self, name: str) -> Text:
        found = findings_for(self.ctx.lint, name)
        worst = "error" if name in self.plan_errors or name in self.split_errors else worst_severity(found)
        if worst is not None:
            mark, mark_style = _WORST_MARK[worst]
            text = Text(f"{mark} ", style=mark_style)
        elif self.lint_done and self.ctx.lint is not None:
            text = Text("✓ ", style="green")
        else:
            text = Text("  ")
        text.append(name, style="bold")
        if name in self.plan_errors:
            text.append("  cannot run as written", style="bold red")
        elif name in self.statements:
            text.append(f"  {self.run_counts.get(name, len(self.statements[name]))} stmts", style="dim")
        elif name in self.split_errors:
            text.append("  cannot be split", style="red")
        else:
            text.append("  reading…", style="dim")
        errors = sum(1 for f in found if f.severity == "error")
        warnings = sum(1 for f in found if f.severity == "warning")
        if errors:
            text.append(f"  {errors} error(s)", style="bold red")
        if warnings:
            text.append(f"  {warnings} warning(s)", style="yellow")
        if self.lint_done and not found and self.ctx.lint is not None:
            text.append("  no findings", style="green")
        return text

    def on_mount(self) -> None:
        options = self.query_one("#pending", OptionList)
        options.styles.height = min(len(self.pending), 5)
        options.highlighted = 0
        options.focus()
        self.folder_read = self.ctx.folder
        self._split_all()
        self._lint()

    def on_screen_resume(self) -> None:
        # Back from the approval (which reads the files again) or an edit: show the text as it is now, and
        # judge it again, rather than the statements and findings of the old text.
        if self.ctx.folder is self.folder_read or self.ctx.folder is None:
            return
        if not self.is_current:
            # Passed through on the way to the deploy (the app closes the screens above the overview).
            return
        self.folder_read = self.ctx.folder
        by_name = self.ctx.folder.by_name()
        self.statements.clear()
        self.run_counts.clear()
        self.numbers.clear()
        self.split_errors.clear()
        self.plan_errors.clear()
        self.lint_done = False
        if self.selected in by_name:
            self.query_one(SqlView).load_migration(by_name[self.selected])
        for name in self.pending:
            self._relabel(name)
        self._split_all()
        self._lint()

    def list_widget(self) -> OptionList:
        return self.query_one("#pending", OptionList)

    def apply_filter(self, text: str) -> None:
        options = self.query_one("#pending", OptionList)
        shown = [name for name in self.pending if text in name.lower()]
        options.clear_options()
        options.add_options([Option(self._label(name), id=name) for name in shown])
        options.styles.height = max(1, min(len(shown), 5))
        if shown:
            options.highlighted = shown.index(self.selected) if self.selected in shown else 0

    @on(OptionList.OptionHighlighted, "#pending")
    def _selected(self, event: OptionList.OptionHighlighted) -> None:
        name = event.option.id
        if name is None or name == self.selected or self.ctx.folder is None:
            return
        self.selected = name
        migration = self.ctx.folder.by_name().get(name)
        if migration is None:
            return
        self.query_one(SqlView).load_migration(migration, self.statements.get(name), numbers=self.numbers.get(name))
        self._describe()

    def _split_all(self) -> None:
        folder = self.ctx.folder
        if folder is None:
            return
        by_name = folder.by_name()
        for name in self.pending:
            if name not in by_name:  # removed from disk since the overview read it; the approval says so
                continue
            self.wizard.offloader.run(
                "plan", (by_name[name],),
                lambda planned: self.call_ui(self._statements_ready, *planned),
                lambda exc, name=name: self.call_ui(self._split_failed, name, self._error_text(exc)),
                child=by_name[name].size > CHILD_THRESHOLD_BYTES,
            )

    def _error_text(self, exc: BaseException) -> str:
        return self.ctx.presentation.text(error_text(exc))

    def _statements_ready(self, name: str, statements: Shown, run_count: int, plan_error: str | None,
                          numbers: Mapping[int, int]) -> None:
        self.statements[name] = statements
        self.run_counts[name] = run_count
        self.numbers[name] = numbers
        if plan_error:
            self.plan_errors[name] = plan_error
        self._relabel(name)
        if name == self.selected:
            self.query_one(SqlView).set_statements(statements, numbers)
            self._describe()

    def _split_failed(self, name: str, message: str) -> None:
        self.split_errors[name] = message
        self._relabel(name)
        if name == self.selected:
            self._describe()

    def _lint(self) -> None:
        ctx = self.ctx
        if ctx.target is None or ctx.folder is None:
            return
        by_name = ctx.folder.by_name()
        size = sum(by_name[name].size for name in self.pending if name in by_name)
        basis = ctx.basis(self.pending)
        self.wizard.offloader.run("lint", (ctx.target, ctx.folder),
                                  lambda report: self.call_ui(self._lint_ready, report, basis),
                                  lambda exc: self.call_ui(self._lint_failed, exc),
                                  child=size > CHILD_THRESHOLD_BYTES)

    def _lint_failed(self, exc: BaseException) -> None:
        what = exc.what if isinstance(exc, LumikuError) else f"{type(exc).__name__}: {exc}"
        self.notify(f"The safety check did not run: {self.ctx.presentation.text(what)}", severity="warning",
                    timeout=10)
        self._lint_ready(None)

    def _lint_ready(self, report, basis=None) -> None:  # type: ignore[no-untyped-def]
        self.ctx.lint = report
        self.ctx.lint_basis = basis
        self.lint_done = True
        for name in self.pending:
            self._relabel(name)
        self._describe()

    def _relabel(self, name: str) -> None:
        options = self.query_one("#pending", OptionList)
        try:
            options.replace_option_prompt(name, self._label(name))
        except OptionDoesNotExist:  # the option list is being rebuilt; the rebuild draws the new label
            log.debug(f"{name} not relabelled: the list is being rebuilt")

    @on(SqlView.StatementChanged)
    def _statement_changed(self, _event: SqlView.StatementChanged) -> None:
        self._describe()

    def _describe(self) -> None:
        info = self.query_one("#statement-info", Static)
        name = self.selected
        if name is None:
            return
        if name in self.split_errors:
            info.update(Text(self.split_errors[name], style="red"))
            return
        view = self.query_one(SqlView)
        statement = view.current_statement
        if statement is None:
            if view.notice:
                info.update(Text(f"{name} cannot be shown as it was read (above: why, and what to do).", style="red"))
            elif view.reading:
                info.update(Text(f"{name}: reading its file…", style="dim"))
            else:
                info.update(Text(f"{name}: finding statement boundaries…  (scroll freely meanwhile)", style="dim"))
            return
        width = max(20, self.size.width - 4)  # padding and the pane's scrollbar
        sent = self.numbers.get(name, {})
        if statement.index in sent:
            # Counted as the list and the deploy's log count: the statements that are sent.
            head = Text(f"Statement {sent[statement.index]}/{len(sent)}", style="bold")
        else:
            head = Text("Not sent", style="bold")
        head.append(f" · line {statement.line} · ", style="")
        head.append(" ".join(statement.summary.split()))
        head.truncate(width, overflow="ellipsis")
        text = Text()
        text.append_text(head)
        if name in self.plan_errors:
            text.append("\n")
            text.append(self.plan_errors[name], style="bold red")
        found = findings_for(self.ctx.lint, name, statement.index)
        if (statement.kind in (Kind.BEGIN, Kind.COMMIT) and not sets_transaction_modes(statement)
                and name not in self.plan_errors):
            text.append("\nThe script's own transaction control: not sent; the migration runs in one transaction "
                        "of lumiku-tui's.", style="dim")
        if found:
            for finding in by_risk(found):
                text.append("\n")
                text.append_text(finding_text(finding))
        elif self.ctx.lint is not None:
            text.append("\nNo safety findings for this statement.", style="green")
        elif not self.lint_done:
            text.append("\nChecking safety against the live database…", style="dim")
        info.update(text)
        self.query_one("#statement-pane", VerticalScroll).scroll_home(animate=False)
        self.call_after_refresh(self._mark_overflow)

    def _mark_overflow(self) -> None:
        """A pane that holds more than it shows says so, and how to read the rest."""
        pane = next(iter(self.query("#statement-pane").results(VerticalScroll)), None)
        if pane is None:  # the screen was left (Enter pressed at once) before this refresh came
            return
        more = pane.max_scroll_y > 0
        pane.border_title = ("more below... f reads all" if not pane.has_focus else "↑/↓ scroll · f back") \
            if more else ""

    def action_read_findings(self) -> None:
        pane = self.query_one("#statement-pane", VerticalScroll)
        if pane.has_focus:
            self.query_one(SqlView).focus()
        else:
            pane.focus()
        self.call_after_refresh(self._mark_overflow)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.filtering and action == "approve":
            return False  # Enter keeps the filter while the filter box has the focus
        return True

    def action_next_statement(self) -> None:
        self.query_one(SqlView).next_statement()

    def action_previous_statement(self) -> None:
        self.query_one(SqlView).previous_statement()

    def action_dry_run(self) -> None:
        self.post_message(RehearsalRequested())

    def action_back(self) -> None:
        self.dismiss()

    def action_approve(self) -> None:
        refused = {**self.split_errors, **self.plan_errors}
        if refused:
            name = next(iter(refused))
            self.notify(f"{name} cannot run as written; fix it before deploying. {refused[name]}",
                        severity="error", timeout=10)
            return
        self.post_message(ApprovalRequested(self.pending, dict(self.run_counts)))
