"""The wizard end to end against the real demo database: approve, apply, verify, checklist, record.

Each test drives the real app with Textual's Pilot (keyboard only, 80x24) and checks both
what the screen says and what the database holds afterwards.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import psycopg
import pytest

from lumiku_tui.demo import REPORT_PENDING
from lumiku_tui.apply.deploy import Deployment, DeployOptions
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.base import ConfirmModal
from lumiku_tui.tui.screens.checklist import ChecklistScreen
from lumiku_tui.tui.screens.health import HealthScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.verification import VerificationScreen

from tests.conftest import APP_PASSWORD, SHIPPED_MIGRATIONS
from .test_tui_support import (
    enter_name,
    flat,
    make_app,
    screen_text,
    shared_demo,
    wait_until,
)

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def report_db(pg_server, demo_template):  # type: ignore[no-untyped-def]
    """The report's state, shared by the tests here that only read it."""
    return shared_demo(pg_server, demo_template, "tui_flow")


def applied_names(db) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, finished, rolled_back, *_ in db.history() if finished and not rolled_back]


def _no_password(text: str) -> None:
    assert APP_PASSWORD not in text
    assert "s3cr3t" not in text


async def _to_overview(pilot, app) -> OverviewScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
    return app.screen


async def _to_approval(pilot, app) -> ApprovalScreen:  # type: ignore[no-untyped-def]
    await _to_overview(pilot, app)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
    await wait_until(pilot, lambda: app.screen.lint_done and len(app.screen.run_counts) == len(app.screen.pending),
                     "the preview's plan and findings")
    await pilot.press("enter")
    # Once it has read the files and the database again: what it shows then is current.
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.rechecked
                     and not app.screen.lint_stale, "the approval gate")
    return app.screen


async def test_whole_flow_from_overview_to_written_record(demo_db, tmp_path: Path) -> None:
    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    seen: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        text = screen_text(app)
        seen.append(text)
        assert "4 migration(s) pending" in text
        assert "● pending" in text and "lumiku_app:***@" in text

        approval = await _to_approval(pilot, app)
        text = screen_text(app)
        seen.append(text)
        assert "4 migration(s), 82 statement(s)" in text
        assert f"Type the database name {demo_db.name}" in text
        assert applied_names(demo_db)[-1] < REPORT_PENDING[0], "nothing may be applied before approval"

        await pilot.press(*demo_db.name, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the end of the deploy")
        text = screen_text(app)
        seen.append(text)
        assert "✓ Applied 4 migration(s)" in text
        assert set(REPORT_PENDING) <= set(applied_names(demo_db))
        assert approval.ctx.approved == REPORT_PENDING

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done,
                         "the verification table")
        text = screen_text(app)
        seen.append(text)
        assert "checks passed" in text and "✓ The runbook's 3 check(s) pass" in text
        # The report's three columns, at the top of the table (cut with "..." to the column's width).
        for column in ("`avatar_generations.avata...", "`avatar_generations.proje...", "`pose_generations.generat..."):
            assert f"runbook   {column}" in text
        assert all(check.ok for check in app.ctx.checks)
        assert {c.migration for c in app.ctx.checks if c.kind == "history"} == set(REPORT_PENDING)

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.result is not None,
                         "the health check")
        text = screen_text(app)
        seen.append(text)
        assert "Skipped: no health URL was given" in text

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        session = app.ctx.session
        automatic = {i.key: i.done for i in session.checklist if i.automatic}
        assert automatic == {"all_applied": True, "no_errors": True,
                             "verify:`avatar_generations.avatarId` column exists": True,
                             "verify:`avatar_generations.projectId` column exists": True,
                             "verify:`pose_generations.generationType` column exists": True, "history_rows": True}
        manual = [i.key for i in session.checklist if not i.automatic]
        table = app.screen.query_one("#checklist")
        # Tick every manual item with the space bar, walking down from the first one.
        first_manual = next(n for n, i in enumerate(session.checklist) if not i.automatic)
        table.move_cursor(row=first_manual)
        for _ in manual:
            await pilot.press("space", "down")
        assert all(i.done for i in session.checklist)
        text = screen_text(app)
        seen.append(text)
        assert "11 of 11 criteria met" in text

        await pilot.press("enter")
        await wait_until(pilot, lambda: app.ctx.record_path is not None, "the written record")
        text = screen_text(app)
        seen.append(text)
        assert "Deployment record written to" in text
        # Each part of the path on one line, never broken inside a word (a browser terminal copies it whole).
        lines = [line.strip(" ▊▎█") for line in text.splitlines()]
        assert app.ctx.record_path.name in lines, text
        assert f"{app.ctx.record_path.parent}/" in lines or len(str(app.ctx.record_path.parent)) > 76, text

    record = app.ctx.record_path.read_text()
    assert record.startswith("# Deployment record")
    assert getpass.getuser() in record and "Approved by" in record
    for name in REPORT_PENDING:
        assert name in record
    assert "- [x] Avatar Creator page loads without errors" in record
    _no_password(record)
    for text in seen:
        _no_password(text)


async def test_wrong_name_refuses_and_escape_goes_back_without_applying(report_db, tmp_path: Path) -> None:
    before = applied_names(report_db)
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        await pilot.press(*"production", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert f"`production` is not the database name ({report_db.name}). Nothing was applied." in text
        assert isinstance(app.screen, ApprovalScreen)
        # The name must match exactly; a prefix of it is refused as well.
        await pilot.press(*report_db.name[:-1], "enter")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview again")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview again")
        await pilot.pause(0.3)
        assert "4 migration(s) pending" in screen_text(app)
    assert applied_names(report_db) == before
    assert app.ctx.approved == ()


@pytest.fixture
def filled_table_db(db, migrations):  # type: ignore[no-untyped-def]
    """A table with rows, and a pending migration that adds a NOT NULL column without a default."""
    folder = migrations({
        "20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY, name text);\n"
                                 "INSERT INTO people SELECT g, 'p' || g FROM generate_series(1, 50) g;\n",
    })
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_people_email": 'ALTER TABLE people ADD COLUMN email text NOT NULL;\n'},
               folder=folder)
    return db, folder


async def test_error_findings_need_an_extra_confirmation(filled_table_db, tmp_path: Path) -> None:
    db, folder = filled_table_db
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        assert approval.ctx.lint is not None and approval.ctx.lint.errors, "the linter flags this as an error"
        assert "1 error(s)" in screen_text(app)
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the extra confirmation")
        assert "finding(s) are errors" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate again")
        assert "Not approved: nothing was applied." in screen_text(app)
    assert applied_names(db) == ["20250101000000_people"]


async def test_quit_and_cancel_while_a_migration_waits_for_a_table_lock(demo_db, tmp_path: Path) -> None:
    """A second session holds pose_generations; the deploy waits, shows who, and cancel rolls it back. (Not
    avatar_generations: the runbook's precheck reads that table right before this migration, and a precheck
    that cannot get its lock stops the deploy rather than wait.)"""
    before = applied_names(demo_db)
    blocker = psycopg.connect(demo_db.url, application_name="busy-report-job")
    try:
        app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await _to_approval(pilot, app)
            blocker.execute("LOCK TABLE pose_generations IN ACCESS EXCLUSIVE MODE")
            await enter_name(pilot, demo_db.name)
            await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen), "the applying screen")
            applying = app.screen
            await wait_until(pilot, lambda: "busy-report-job" in screen_text(app), "the lock banner")
            assert "is waiting for a table lock held by" in flat(screen_text(app))

            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the quit question")
            assert "A migration is running. Quit anyway?" in screen_text(app)
            await pilot.press("n")
            await wait_until(pilot, lambda: app.screen is applying, "the applying screen again")
            assert applying.running, "declining to quit keeps the deploy going"

            await pilot.press("c")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the cancel question")
            await pilot.press("y")
            await wait_until(pilot, lambda: applying.finished, "the cancelled deploy")
            assert applying.result is not None and applying.result.cancelled
            assert "Cancelled: the migration in progress was rolled back" in screen_text(app)
    finally:
        blocker.close()
    assert applied_names(demo_db) == before
    columns = demo_db.query("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'avatar_generations' AND column_name = 'projectId'")
    assert columns == [], "the cancelled migration left nothing behind"


async def test_checklist_progress_survives_closing_the_wizard(demo_db, tmp_path: Path) -> None:
    target = demo_db.target
    Deployment(target, load_folder(SHIPPED_MIGRATIONS), DeployOptions()).run()
    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert "up to date" in screen_text(app)
        assert not app.saved_session_has_progress(), "nothing was deployed through the wizard yet"
    # A deploy made through the wizard leaves a session; simulate the first run's end state.
    from lumiku_tui.apply.deploy import AppliedMigration, DeployResult
    from lumiku_tui.record.progress import DeploymentProgress

    session = DeploymentProgress.load_or_new(tmp_path / "state", target.display, target.dbname)
    session.plan(REPORT_PENDING)
    session.record_approval("operator")
    session.record_deploy(DeployResult(target.display, [AppliedMigration(n, 5.0, 1) for n in REPORT_PENDING]))

    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert app.saved_session_has_progress()
        assert "c Checklist" in screen_text(app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the resumed checklist")
        rows = app.ctx.session.checklist
        first_manual = next(n for n, i in enumerate(rows) if not i.automatic)
        app.screen.query_one("#checklist").move_cursor(row=first_manual)
        await pilot.press("space")
        assert rows[first_manual].done

    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist, reopened")
        reopened = app.ctx.session.checklist
        assert reopened[first_manual].done, "the tick made before closing is still there"
        assert reopened[0].done, "the deploy evidence is still there"


async def test_an_up_to_date_database_can_be_verified_without_deploying(demo_db, tmp_path: Path) -> None:
    Deployment(demo_db.target, load_folder(SHIPPED_MIGRATIONS)).run()
    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert "v Verify" in screen_text(app)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done,
                         "the verification of every applied migration")
        text = flat(screen_text(app))
        assert "for every applied migration (22)" in text
        assert "✓ The runbook's 3 check(s) pass" in text
        assert all(check.ok for check in app.ctx.checks)


async def test_unhealthy_app_is_reported_and_leaves_its_checklist_item_open(demo_db, tmp_path: Path) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Degraded(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = json.dumps({"status": "degraded"}).encode()
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Degraded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/health"
    Deployment(demo_db.target, load_folder(SHIPPED_MIGRATIONS)).run()
    try:
        app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path, health_url=url)
        async with app.run_test(size=SIZE) as pilot:
            await _to_overview(pilot, app)
            await app.push_screen(HealthScreen())
            await wait_until(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.result is not None,
                             "the health check")
            text = flat(screen_text(app))
            assert "✗ NOT healthy" in text and "Status code 503" in text and "JSON status degraded" in text
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
            health_item = next(i for i in app.ctx.session.checklist if i.key == "health_200")
            assert health_item.automatic and not health_item.done
            assert "503" in health_item.evidence
            # A proven item cannot be ticked by hand.
            row = app.ctx.session.checklist.index(health_item)
            app.screen.query_one("#checklist").move_cursor(row=row)
            await pilot.press("space")
            assert not health_item.done
    finally:
        server.shutdown()
