"""Every wizard screen at 80x24, compared with its approved SVG snapshot.

The databases are real, with fixed names (so prompts are stable) that start with `tui_`
so they cannot meet another module's databases on the shared test server. Values that change from run
to run - the server's port, durations, timestamps, process ids, temporary paths - are
drawn as placeholders through the app's `Presentation`, which is also what makes the
README screenshots reproducible. Update after an intended change with
`pytest tests/tui/test_tui_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from lumiku_tui.demo import REPORT_PENDING
from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from lumiku_tui.record.progress import operator_name
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.context import Presentation
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.base import ConfirmModal
from lumiku_tui.tui.screens.checklist import ChecklistScreen
from lumiku_tui.tui.screens.health import HealthScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.troubleshoot import (
    ConnectScreen,
    FailureScreen,
    LockScreen,
    TroubleshootMenu,
)
from lumiku_tui.tui.screens.verification import VerificationScreen
from lumiku_tui.tui.widgets.sql_view import SqlView

from tests.conftest import APP_PASSWORD, APP_ROLE, REPO, SHIPPED_MIGRATIONS, copy_demo
from .test_tui_support import enter_name, make_app, settle, wait_until

SIZE = (80, 24)


@pytest.fixture
def snap_compare(snap_compare):  # type: ignore[no-untyped-def]
    """The plugin's snap_compare, shooting only once the screen has settled (see `settle`)."""

    def compare(app, *, run_before=None, **kwargs):  # type: ignore[no-untyped-def]
        async def then_settle(pilot) -> None:  # type: ignore[no-untyped-def]
            result = run_before(pilot) if run_before is not None else None
            if inspect.isawaitable(result):
                await result
            await settle(pilot)

        return snap_compare(app, run_before=then_settle, **kwargs)

    return compare


class Fixed:
    """A database with a fixed name, and the presentation that pins everything volatile about it."""

    def __init__(self, server, name: str, url: str) -> None:  # type: ignore[no-untyped-def]
        self.server = server
        self.name = name
        self.url = url

    def presentation(self, tmp_path: Path, *extra: tuple[str, str]) -> Presentation:
        return Presentation(
            target_display=f"postgresql://{APP_ROLE}:***@localhost:5432/{self.name}",
            fixed_durations=True, fixed_times=True, fixed_sessions=True,
            path_aliases=((str(tmp_path), "~"), (str(REPO), "."), (f"127.0.0.1:{self.server.port}", "localhost:5432"),
                          (f"by {operator_name()} ", "by operator "), *extra),
        )

    def app(self, tmp_path: Path, *, url: str | None = None, migrations: Path = SHIPPED_MIGRATIONS,
            health_url: str | None = None, extra: tuple[tuple[str, str], ...] = ()):  # type: ignore[no-untyped-def]
        return make_app(url or self.url, migrations, tmp_path, health_url=health_url,
                        presentation=self.presentation(tmp_path, *extra))


def _fresh(server, name: str) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _demo(server, template: str, name: str) -> Fixed:  # type: ignore[no-untyped-def]
    return Fixed(server, name, copy_demo(server, template, name).url)


def _empty(server, name: str) -> Fixed:  # type: ignore[no-untyped-def]
    _fresh(server, name)
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
    return Fixed(server, name, server.url(name, user=APP_ROLE, password=APP_PASSWORD))


@pytest.fixture(scope="module")
def report_state(pg_server, demo_template) -> Fixed:  # type: ignore[no-untyped-def]
    """The demo in the report's state; the screens below only read it."""
    return _demo(pg_server, demo_template, "tui_lumiku")


@pytest.fixture(scope="module")
def deployed(pg_server, demo_template) -> Fixed:  # type: ignore[no-untyped-def]
    """The demo after the four pending migrations were applied (by the engine)."""
    fixed = _demo(pg_server, demo_template, "tui_lumiku_deployed")
    from lumiku_tui.pg.target import parse_database_url

    result = Deployment(parse_database_url(fixed.url), load_folder(SHIPPED_MIGRATIONS)).run()
    assert result.ok
    return fixed


@pytest.fixture(scope="module")
def health_url() -> Iterator[str]:
    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "timestamp": "2025-10-16T00:00:00Z"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def _until(condition, what: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: condition(pilot.app), what)

    return run_before


def _overview_ready(app) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(app.screen, OverviewScreen) and app.screen.ready


async def _to_approval(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait_until(pilot, lambda: _overview_ready(app), "the overview")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                     and len(app.screen.run_counts) == len(app.screen.pending), "the preview")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")


# --- the flow ------------------------------------------------------------------------------------


def test_overview(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE,
                        run_before=_until(_overview_ready, "the overview"))


def test_preview(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        await wait_until(pilot, lambda: _overview_ready(app), "the overview")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                         and app.screen.query_one(SqlView).statements, "the preview")
        # Statement 17 adds a column the report is about; it carries findings.
        app.screen.query_one(SqlView).goto_statement(16)

    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_dry_run(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        await wait_until(pilot, lambda: _overview_ready(app), "the overview")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        await pilot.press("d")
        await wait_until(pilot, lambda: getattr(app.screen, "result", None) is not None, "the dry run")

    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_approval_refuses_a_wrong_name(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_approval(pilot)
        await enter_name(pilot, "tui_lumiku_prod")

    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_applying_finished(snap_compare, pg_server, demo_template, tmp_path: Path) -> None:
    fixed = _demo(pg_server, demo_template, "tui_lumiku_apply")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _to_approval(pilot)
        await enter_name(pilot, fixed.name)
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ApplyingScreen) and pilot.app.screen.finished,
                         "the end of the deploy")

    assert snap_compare(fixed.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_verification(snap_compare, deployed: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.app.push_screen(VerificationScreen(REPORT_PENDING))
        await wait_until(pilot, lambda: pilot.app.screen.done, "the verification table")

    assert snap_compare(deployed.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_health_skipped(snap_compare, deployed: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.app.push_screen(HealthScreen())
        await wait_until(pilot, lambda: pilot.app.screen.result is not None, "the health result")

    assert snap_compare(deployed.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_health_ok(snap_compare, deployed: Fixed, health_url: str, tmp_path: Path) -> None:
    base = health_url.rsplit("/", 1)[0]

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.app.push_screen(HealthScreen())
        await wait_until(pilot, lambda: pilot.app.screen.result is not None, "the health result")
        assert pilot.app.screen.result.ok

    app = deployed.app(tmp_path, health_url=health_url, extra=((base, "https://dev.lumiku.com"),))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def _checklist(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await wait_until(pilot, lambda: _overview_ready(app), "the overview")
    session = app.session
    session.plan(REPORT_PENDING)
    session.record_approval("operator")
    await app.push_screen(VerificationScreen(REPORT_PENDING))
    await wait_until(pilot, lambda: app.screen.done, "the verification")
    await app.push_screen(HealthScreen())
    await wait_until(pilot, lambda: app.screen.result is not None, "the health check")
    from lumiku_tui.apply.deploy import AppliedMigration, DeployResult

    session.record_deploy(DeployResult(app.ctx.target.display, [AppliedMigration(n, 1.0, 1) for n in REPORT_PENDING]))
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
    table = app.screen.query_one("#checklist")
    table.move_cursor(row=7)
    await pilot.press("space", "down", "space")


def test_checklist(snap_compare, deployed: Fixed, tmp_path: Path) -> None:
    assert snap_compare(deployed.app(tmp_path), terminal_size=SIZE, run_before=_checklist)


def test_checklist_asks_before_writing_an_incomplete_record(snap_compare, deployed: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _checklist(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal), "the question")

    assert snap_compare(deployed.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_record_written(snap_compare, deployed: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _checklist(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: pilot.app.ctx.record_path is not None, "the record")

    assert snap_compare(deployed.app(tmp_path), terminal_size=SIZE, run_before=run_before)


# --- troubleshooting -----------------------------------------------------------------------------


def test_troubleshooting_menu(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, TroubleshootMenu), "the menu")

    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)


def test_cannot_connect_wrong_password(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    url = report_state.url.replace(quote(APP_PASSWORD, safe=""), "wrong-password")

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConnectScreen) and pilot.app.screen.steps,
                         "the connection diagnosis")

    assert snap_compare(report_state.app(tmp_path, url=url), terminal_size=SIZE, run_before=run_before)


@pytest.fixture(scope="module")
def orphan_failure(pg_server, tmp_path_factory) -> tuple[Fixed, Path]:  # type: ignore[no-untyped-def]
    """A failed foreign key migration, recorded in the history: two avatars point at deleted projects."""
    fixed = _empty(pg_server, "tui_lumiku_orphans")
    folder = tmp_path_factory.mktemp("orphans") / "migrations"
    for name, script in {
        "20251001000000_base": "CREATE TABLE avatar_projects (id text PRIMARY KEY);\n"
                               "CREATE TABLE avatars (id text PRIMARY KEY, \"projectId\" text);\n"
                               "INSERT INTO avatar_projects VALUES ('p1');\n"
                               "INSERT INTO avatars VALUES ('a1', 'p1'), ('a2', 'p-deleted'), ('a3', 'p-deleted');\n",
        "20251014_add_avatar_fk": "-- Link avatars to their project\n"
                                  "ALTER TABLE \"avatars\" ADD CONSTRAINT \"avatars_projectId_fkey\"\n"
                                  "    FOREIGN KEY (\"projectId\") REFERENCES \"avatar_projects\"(\"id\")\n"
                                  "    ON DELETE CASCADE ON UPDATE CASCADE;\n",
    }.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "migration.sql").write_text(script)
    from lumiku_tui.pg.target import parse_database_url

    result = Deployment(parse_database_url(fixed.url), load_folder(folder)).run()
    assert result.failure is not None and result.failure.sqlstate == "23503"
    return fixed, folder


def test_blocked_overview(snap_compare, orphan_failure: tuple[Fixed, Path], tmp_path: Path) -> None:
    fixed, folder = orphan_failure
    app = fixed.app(tmp_path, migrations=folder, extra=((str(folder.parent), "~"),))
    assert snap_compare(app, terminal_size=SIZE, run_before=_until(_overview_ready, "the overview"))


def test_migration_failed_foreign_key(snap_compare, orphan_failure: tuple[Fixed, Path], tmp_path: Path) -> None:
    fixed, folder = orphan_failure

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FailureScreen)
                         and pilot.app.screen.diagnosis is not None, "the diagnosis")

    app = fixed.app(tmp_path, migrations=folder, extra=((str(folder.parent), "~"),))
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_advisory_lock_held(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    holder = psycopg.connect(report_state.url, autocommit=True, application_name="prisma-migrate")
    holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LockScreen) and pilot.app.screen.holders,
                         "the lock holders")

    try:
        assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)
    finally:
        holder.close()


def test_keys_panel(snap_compare, report_state: Fixed, tmp_path: Path) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: _overview_ready(pilot.app), "the overview")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == "KeysScreen", "the Keys panel")

    assert snap_compare(report_state.app(tmp_path), terminal_size=SIZE, run_before=run_before)
