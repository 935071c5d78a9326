"""The preview: statement navigation, findings per statement, and a 10 MB migration that opens at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.widgets.sql_view import SqlView

from tests.conftest import SHIPPED_MIGRATIONS
from .test_tui_flow import _to_overview
from .test_tui_support import flat, make_app, screen_text, shared_demo, wait_until

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def report_db(pg_server, demo_template):  # type: ignore[no-untyped-def]
    """The report's state, shared by the tests here that only read it."""
    return shared_demo(pg_server, demo_template, "tui_preview")


def _big_script(target_bytes: int = 10 * 1024 * 1024, rows_per_statement: int = 500) -> str:
    """A data import as multi-row INSERTs (how large migrations usually look), with semicolons in strings."""
    head = "-- A data import far larger than any schema change\nCREATE TABLE big_import (id int PRIMARY KEY, " \
           "label text, payload jsonb);\n"
    parts = [head]
    size = len(head)
    n = 0
    while size < target_bytes:
        rows = []
        for _ in range(rows_per_statement):
            n += 1
            rows.append(f"    ({n}, 'label {n}; with a semicolon', '{{\"k\": {n}}}')")
        statement = "INSERT INTO big_import (id, label, payload) VALUES\n" + ",\n".join(rows) + ";\n"
        parts.append(statement)
        size += len(statement)
    parts.append("CREATE INDEX big_import_label_idx ON big_import (label);\n")
    return "".join(parts)


async def test_ten_megabyte_migration_opens_at_once_and_answers_keys(db, migrations, tmp_path: Path) -> None:
    script = _big_script()
    assert len(script.encode()) >= 10 * 1024 * 1024
    lines = script.count("\n") + 1
    statements = script.count(";\n")
    folder = migrations({"20250101000000_big_import": script})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        view = app.screen.query_one(SqlView)
        await wait_until(pilot, lambda: view.line_count == lines, "the script in the view")
        assert "CREATE TABLE big_import" in screen_text(app)

        # Keys are answered while the statement boundaries are still being computed in a worker.
        await pilot.press("tab")
        await pilot.press("end")
        await pilot.pause()
        assert view.scroll_offset.y > lines - SIZE[1]
        assert "big_import_label_idx" in screen_text(app)
        await pilot.press("home", "pagedown", "pagedown")
        await pilot.pause()
        assert 0 < view.scroll_offset.y < 100
        # Only what was on screen was highlighted, not the whole file.
        assert 0 < view.lexed_lines < 2_000

        await wait_until(pilot, lambda: len(view.statements) == statements, "the statement boundaries")
        await pilot.press("n", "n", "n")
        await pilot.pause()
        assert view.current_statement is not None and view.current_statement.index == 4
        assert "Statement 4/" in screen_text(app)
        assert view.lexed_lines < 5_000


async def test_statements_step_with_their_findings_and_escape_returns(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                         and app.screen.query_one(SqlView).statements, "the planned preview")
        preview = app.screen
        text = screen_text(app)
        assert "20251014_add_avatar_creator_complete  64 stmts" in text
        # Counted as the list and the deploy count them: the script's own BEGIN/COMMIT are not sent.
        assert "Not sent · line 18 · BEGIN" in text
        assert "not sent; the migration runs in one transaction" in flat(text)
        view = preview.query_one(SqlView)
        # Walk to the first statement that carries a safety finding and see it explained.
        flagged = next(s for s in view.statements if s.index > 2
                       and app.ctx.lint.for_statement("20251014_add_avatar_creator_complete", s.index))
        for _ in range(flagged.index - 1):
            await pilot.press("n")
        await pilot.pause()
        text = screen_text(app)
        assert f"Statement {flagged.index - 1}/64" in text
        finding = app.ctx.lint.for_statement("20251014_add_avatar_creator_complete", flagged.index)[0]
        assert finding.message[:30] in flat(text)
        await pilot.press("p")
        await pilot.pause()
        assert view.current_statement.index == flagged.index - 1

        await pilot.press("down")  # the next pending migration
        await wait_until(pilot, lambda: preview.selected == "20251015_add_recovery_indexes", "the second migration")
        await wait_until(pilot, lambda: "CREATE INDEX" in screen_text(app), "its SQL")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview")


async def test_dry_run_from_the_preview_keeps_nothing_and_informs_the_approval(report_db, tmp_path: Path) -> None:
    from lumiku_tui.demo import REPORT_PENDING
    from lumiku_tui.tui.screens.approval import ApprovalScreen
    from lumiku_tui.tui.screens.rehearsal import RehearsalScreen

    before = report_db.history()
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done, "the preview")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, RehearsalScreen) and app.screen.result is not None,
                         "the dry run")
        text = flat(screen_text(app))
        assert "✓ All 4 migration(s) ran; everything was rolled back" in text
        for name in REPORT_PENDING:
            assert name in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview again")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")
        assert "Dry run all 4 ran and were rolled back" in flat(screen_text(app))
    assert report_db.history() == before
    assert report_db.query("SELECT to_regclass('avatar_projects') IS NULL") == [(True,)]


async def test_dry_run_names_the_migration_that_would_fail(db, migrations, tmp_path: Path) -> None:
    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder
    from lumiku_tui.tui.screens.rehearsal import RehearsalScreen

    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"
                                                  "INSERT INTO people SELECT generate_series(1, 5);\n"})
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_email": "ALTER TABLE people ADD COLUMN email text NOT NULL;\n"}, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, RehearsalScreen) and app.screen.result is not None,
                         "the dry run")
        text = flat(screen_text(app))
        assert "✗ 1 migration(s) would fail. Nothing was kept." in text
        assert "20250201000000_email would FAIL at statement 1" in text
        assert "23502" in text
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'email'") == [(0,)]


async def test_findings_come_risk_first_and_can_be_read_in_full(db, migrations, tmp_path: Path) -> None:
    """At 80x24 the error of a statement is shown before its warnings and notes; what does not fit scrolls."""
    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder

    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY, name text);\n"
                                                  "INSERT INTO people SELECT g, 'n' FROM generate_series(1, 10) g;\n"})
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_email": "ALTER TABLE people ADD COLUMN email text NOT NULL, "
                                        "ALTER COLUMN name TYPE varchar(20), ALTER COLUMN name SET NOT NULL;\n",
                "20250202000000_quiet": "CREATE TABLE notes (id int PRIMARY KEY);\n"}, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                         and app.screen.query_one(SqlView).statements, "the planned preview")
        found = app.ctx.lint.for_statement("20250201000000_email", 1)
        severities = [f.severity for f in found]
        assert "error" in severities and len(found) >= 3, severities
        text = screen_text(app)
        # The list carries each migration's worst severity.
        assert "✗ 20250201000000_email" in text
        assert "i 20250202000000_quiet" in text  # a note only (the new table's lock)
        # The pane lists the error first, whatever order the rules found them in.
        info = app.screen.query_one("#statement-info").render().plain
        marks = [line[:2] for line in info.splitlines() if line[:2] in ("✗ ", "! ", "i ")]
        assert marks == sorted(marks, key=lambda m: {"✗ ": 0, "! ": 1, "i ": 2}[m]) and marks[0] == "✗ "
        error = next(f for f in found if f.severity == "error")
        assert error.message[:40] in flat(text)
        # Everything is in the pane, nothing dropped: every finding and its safe alternative.
        for finding in found:
            assert " ".join(finding.safe_alternative.split())[:60] in flat(info)
        pane = app.screen.query_one("#statement-pane")
        assert pane.size.height <= SIZE[1] // 2 + 1
        if pane.max_scroll_y > 0:
            assert "more below... f reads all" in screen_text(app)
            await pilot.press("f", "end")
            await pilot.pause()
            assert pane.has_focus and pane.scroll_y == pane.max_scroll_y
            last = found[-1] if len(found) == 1 else sorted(found, key=lambda f: ("error", "warning", "info").index(f.severity))[-1]
            assert " ".join(last.safe_alternative.split())[-30:] in flat(screen_text(app))


async def test_a_migration_the_deploy_would_resume_is_what_the_preview_shows(db, migrations, tmp_path: Path) -> None:
    """Issue 17: the wizard reads the same plan of the pending batch as deploy, lint and the gate."""
    from tests.db.test_pending_batch import ADD_AND_USE, CUT, _cut_after_part_one

    path = _cut_after_part_one(db, migrations, ADD_AND_USE)
    app = make_app(db.url, path, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        overview_screen = await _to_overview(pilot, app)
        overview = overview_screen.overview
        assert overview.blockers == () and overview.pending == overview.batch.names == [CUT]
        assert any("resuming with part 2" in w for w in overview.warnings)
        assert "failed and is not resolved" not in flat(screen_text(app))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done,
                         "the preview with its findings")
        assert app.screen.pending == [CUT]
        statements = {f.statement for f in app.ctx.lint.for_migration(CUT)}
        assert 4 in statements and 2 not in statements and not app.ctx.lint.errors


async def test_a_migration_too_large_to_hold_is_previewed_from_its_file(db, migrations, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its lines are read from the file as they are shown and its statements arrive as marks: the same text,
    numbers and statement details as a held one; edited on disk meanwhile, it is shown as changed, not as new
    text."""
    from lumiku_tui.prisma import folder as folder_module
    from lumiku_tui.sql.marks import StatementMarks
    from lumiku_tui.sql.split import split_statements

    rows = 3000
    script = ("-- A data migration read in windows\n"
              "CREATE TABLE streamed_items (id int PRIMARY KEY, note text);\n"
              + "".join(f"INSERT INTO streamed_items VALUES ({n}, 'row {n};\twith a tab');\n" for n in range(1, rows + 1))
              + "CREATE INDEX streamed_items_note ON streamed_items (note);\n")
    name = "20250101000000_streamed_items"
    folder = migrations({name: script})
    monkeypatch.setattr(folder_module, "STREAM_FROM_BYTES", 4096)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert app.ctx.folder.by_name()[name].streamed
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        preview = app.screen
        view = preview.query_one(SqlView)
        await wait_until(pilot, lambda: not view.reading and len(view.statements) == rows + 2,
                         "the lines and the statement marks")
        assert isinstance(preview.statements[name], StatementMarks)
        assert view.line_count == script.count("\n") + 1
        text = screen_text(app)
        assert "CREATE TABLE streamed_items" in text and f"Statement 1/{rows + 2}" in text
        await pilot.press("n", "n", "n")
        await pilot.pause()
        text = screen_text(app)
        assert f"Statement 4/{rows + 2} · line 5 · INSERT INTO streamed_items VALUES (3, 'row 3;" in flat(text)
        held = split_statements(script)[3]
        assert (view.current_statement.text, view.current_statement.summary) == (held.text, held.summary)
        assert "(3, 'row 3;    with a tab')" in text  # the tab drawn as four spaces, as in a held script
        view.scroll_end(animate=False)  # not animated: only the last lines are read from the file
        await pilot.pause()
        text = screen_text(app)
        assert "streamed_items_note" in text and f"{rows + 2}  CREATE INDEX" in text

        path = folder / name / "migration.sql"
        path.write_text(script.replace("(1500, 'row 1500;", "(1500, 'row 9999;"))
        view.goto_statement(1500)
        await wait_until(pilot, lambda: view.notice, "the view noticing the edit")
        text = screen_text(app)
        assert "changed on disk after it was read" in flat(text).replace(" -- ", " ") and "9999" not in text
        assert "press r" in flat(text).replace(" -- ", " ")
        assert "cannot be shown as it was read" in flat(text)
