"""Each troubleshooting screen, reached from a real failure: it diagnoses, explains and offers a next step."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.base import ConfirmModal
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.troubleshoot import (
    ConnectScreen,
    FailureScreen,
    LockScreen,
    TroubleshootMenu,
)

from tests.conftest import APP_PASSWORD, APP_ROLE
from .test_tui_flow import _to_approval, _to_overview
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
    return shared_demo(pg_server, demo_template, "tui_troubleshoot")


def _history(db) -> list[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    return [(name, finished) for name, finished, _rolled_back, *_ in db.history()]


async def _deploy_and_fail(pilot, app, db) -> ApplyingScreen:  # type: ignore[no-untyped-def]
    await _to_approval(pilot, app)
    await enter_name(pilot, db.name)
    if await _modal_soon(pilot, app):
        await pilot.press("y")  # the linter may flag the failing statement as an error: accept it
    await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the failed deploy")
    return app.screen


async def _modal_soon(pilot, app) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(10):
        if isinstance(app.screen, ConfirmModal):
            return True
        if isinstance(app.screen, ApplyingScreen):
            return False
        await pilot.pause(0.05)
    return isinstance(app.screen, ConfirmModal)


async def test_wrong_password_leads_to_the_failing_connection_step(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    wrong = "not-the-" + APP_PASSWORD
    url = db.url.replace(quote(APP_PASSWORD, safe=""), quote(wrong, safe=""))
    assert url != db.url
    app = make_app(url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        overview_text = screen_text(app)
        assert "✗ Cannot connect" in overview_text
        assert "Press t to find the failing step." in overview_text
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.steps is not None,
                         "the connection diagnosis")
        text = screen_text(app)
        assert "✗ Stopped at “Authentication”." in text
        assert "✓ URL parses" in text and "✓ Port answers" in text
        assert f"rejected the password for user {APP_ROLE}" in text
        assert "Fix: Copy the password again" in text
        assert "· Database exists" in text, "later steps are marked as not reached"
        for shown in (overview_text, text):
            assert wrong not in shown and APP_PASSWORD not in shown and "s3cr3t" not in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview again")


async def test_foreign_key_failure_shows_orphans_and_deletes_nothing(db, migrations, tmp_path: Path) -> None:
    folder = migrations({
        "20250101000000_base": "CREATE TABLE projects (id text PRIMARY KEY);\n"
                               "CREATE TABLE avatars (id text PRIMARY KEY, \"projectId\" text);\n"
                               "INSERT INTO projects VALUES ('p1');\n"
                               "INSERT INTO avatars VALUES ('a1', 'p1'), ('a2', 'gone'), ('a3', 'gone-too');\n",
    })
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_fk": 'ALTER TABLE avatars ADD CONSTRAINT "avatars_projectId_fkey" '
                                     'FOREIGN KEY ("projectId") REFERENCES projects(id);\n'}, folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _deploy_and_fail(pilot, app, db)
        assert applying.failure is not None and applying.failure.sqlstate == "23503"
        assert "✗ 20250201000000_fk failed" in screen_text(app)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the failure diagnosis")
        screen = app.screen
        assert screen.diagnosis.kind == "foreign_key"
        body = screen.query_one("#failure-text").render()
        text = str(body)
        assert "SQLSTATE  23503" in text
        assert "Orphaned rows in avatars: 2 row(s) (nothing is deleted)" in text
        assert "SELECT" in text and "projects" in text
        assert "rolled back: nothing of this migration was kept" in text
        assert "resolve --rolled-back" in text
        assert "statement 1" in screen_text(app)
    assert db.query("SELECT count(*) FROM avatars") == [(3,)], "the orphans are still there"
    assert ("20250201000000_fk", False) in _history(db)


async def test_object_already_exists_says_whether_it_matches(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_base": "CREATE TABLE projects (id text PRIMARY KEY);\n"})
    Deployment(db.target, load_folder(folder)).run()
    db.query("CREATE TABLE labels (id int PRIMARY KEY, name varchar(20))")  # a hotfix made by hand
    migrations({"20250201000000_labels": "CREATE TABLE labels (id int PRIMARY KEY, name text NOT NULL);\n"},
               folder=folder)
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _deploy_and_fail(pilot, app, db)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the failure diagnosis")
        diagnosis = app.screen.diagnosis
        assert diagnosis.kind == "already_exists" and diagnosis.existing_object is not None
        text = str(app.screen.query_one("#failure-text").render())
        assert "SQLSTATE  42P07" in text
        assert "already exists" in text
        assert "does NOT match what the migration wants" in text


async def test_recorded_failure_blocks_the_overview_and_opens_its_diagnosis(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_bad": "CREATE TABLE t (id int);\nSELECT 1/0;\n"})
    result = Deployment(db.target, load_folder(folder)).run()
    assert result.failure is not None
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        text = screen_text(app)
        assert "✗ FAILED" in text and "Deploy is blocked" in text
        assert "⏎ Preview" not in text or not app.screen.overview.can_deploy
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen), "a blocked deploy cannot be previewed for approval"
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the failure diagnosis from the history row")
        text = str(app.screen.query_one("#failure-text").render())
        assert "22012" in text and "division by zero" in text
        assert "resolve --rolled-back 20250101000000_bad" in text


async def test_held_advisory_lock_shows_holder_and_ends_it_after_confirmation(db, migrations,
                                                                                tmp_path: Path) -> None:
    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    holder = psycopg.connect(db.url, autocommit=True, application_name="stuck prisma migrate")
    holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    holder_pid = holder.info.backend_pid
    try:
        app = make_app(db.url, folder, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await _to_overview(pilot, app)
            assert "Prisma's migration lock is held by" in screen_text(app)
            assert f"pid {holder_pid}" in screen_text(app)
            await pilot.press("t")
            await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and app.screen.holders, "the holders")
            text = screen_text(app)
            assert f"pid {holder_pid}" in text and "stuck prisma migrate" in text
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
            assert f"End session pid {holder_pid}" in screen_text(app)
            await pilot.press("n")
            await wait_until(pilot, lambda: isinstance(app.screen, LockScreen), "the lock screen again")
            assert db.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (holder_pid,)) == [(1,)], \
                "declining ends nothing"
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
            await pilot.press("y")
            await wait_until(pilot, lambda: isinstance(app.screen, LockScreen) and app.screen.holders == (),
                             "the lock to be free")
            assert "Nobody holds Prisma's migration lock now" in screen_text(app)
    finally:
        holder.close()
    assert db.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (holder_pid,)) == [(0,)]


async def test_help_key_opens_the_troubleshooting_menu_from_any_step(report_db, tmp_path: Path) -> None:
    from tests.conftest import SHIPPED_MIGRATIONS

    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        # `t` would type into the name field: F1 opens the Keys panel, whose `t` troubleshoots.
        await pilot.press("f1", "t")
        await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootMenu), "the troubleshooting menu")
        text = screen_text(app)
        assert "Cannot connect: check the connection step by step" in text
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.steps is not None,
                         "the connection check")
        assert "✓ Every step passes" in screen_text(app)
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "ApprovalScreen"


async def test_read_only_target_blocks_and_pooler_is_flagged(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    with db.admin() as admin:
        admin.execute(f'ALTER DATABASE "{db.name}" SET default_transaction_read_only = on')
    app = make_app(db.url_with(pgbouncer="true"), folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        text = flat(screen_text(app))
        assert "read-only" in text and "migrations must run on the primary" in text
        assert "Deploy is blocked" in text
        assert "pooler" in text
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen), "nothing to approve on a read-only server"
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.steps is not None,
                         "the connection check")
        assert "✗ Stopped at “Privileges”." in screen_text(app)
        assert "default_transaction_read_only" in flat(screen_text(app))
    assert db.query("SELECT to_regclass('a') IS NULL") == [(True,)]


async def test_a_url_given_with_u_keeps_the_runbook_and_is_named_as_typed(db, migrations, tmp_path: Path) -> None:
    from lumiku_tui.project import TYPED_IN_WIZARD, Locations
    from lumiku_tui.tui.app import WizardApp, build_context

    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    runbook = tmp_path / "ops.toml"
    runbook.write_text('[[manual]]\nlabel = "Look at the dashboard"\n')
    wrong = f"postgresql://{APP_ROLE}:not-the-pw@127.0.0.1:1/{db.name}"
    where = Locations.from_options(database_url=wrong, migrations=folder, runbook=runbook)
    app = WizardApp(build_context(where, state_dir=tmp_path / "state", record_dir=tmp_path / "records"))
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert app.ctx.runbook.manual == ("Look at the dashboard",)
        app.change_target(db.url)
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "1 migration(s) pending" in flat(screen_text(app)), "the overview of the new database")
        # The other locations stay: the runbook given with --runbook is still the one in use.
        assert app.ctx.runbook.manual == ("Look at the dashboard",)
        assert app.ctx.target.origin == TYPED_IN_WIZARD
        app.push_screen(ConnectScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, ConnectScreen) and app.screen.steps is not None,
                         "the connection check")
        url_step = app.screen.steps[0]
        assert f"(from {TYPED_IN_WIZARD})" in url_step.detail and "--database-url" not in url_step.detail
        assert APP_PASSWORD not in screen_text(app)
