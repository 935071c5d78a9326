"""A failed migration, recovered inside the wizard: the failing line in view, copy, resolve, edit."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.base import ConfirmModal
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.troubleshoot import FailureScreen
from lumiku_tui.tui.widgets.sql_view import SqlView

from .test_tui_flow import _to_overview
from .test_tui_support import flat, make_app, screen_text, wait_until

SIZE = (80, 24)
pytestmark = pytest.mark.anyio

FAILING = "20250201000000_link_avatars"
#: The failing ALTER sits on line 31, below what the SQL pane shows at first.
_SCRIPT = "".join(f"-- note {n}: why this migration exists\n" for n in range(1, 29)) + (
    "CREATE INDEX avatars_project_idx ON avatars (\"projectId\");\n"
    "\n"
    "ALTER TABLE avatars ADD CONSTRAINT avatars_project_fkey\n"
    "    FOREIGN KEY (\"projectId\") REFERENCES projects (id);\n"
)


@pytest.fixture
def failed(db, migrations):  # type: ignore[no-untyped-def]
    folder = migrations({
        "20250101000000_base": "CREATE TABLE projects (id text PRIMARY KEY);\n"
                               "CREATE TABLE avatars (id text PRIMARY KEY, \"projectId\" text);\n"
                               "INSERT INTO projects VALUES ('p1');\n"
                               "INSERT INTO avatars VALUES ('a1', 'p1'), ('a2', 'gone'), ('a3', 'gone');\n",
        FAILING: _SCRIPT,
    })
    result = Deployment(db.target, load_folder(folder)).run()
    assert result.failure is not None and result.failure.line == 31
    return db, folder


async def _failure_screen(pilot, app) -> FailureScreen:  # type: ignore[no-untyped-def]
    await _to_overview(pilot, app)
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                     "the diagnosis")
    view = app.screen.query_one("#failure-sql", SqlView)
    await wait_until(pilot, lambda: view.scroll_offset.y > 0, "the SQL pane at the failing line")
    return app.screen


def _state(db, name: str) -> list[tuple[bool, bool]]:  # type: ignore[no-untyped-def]
    return [(finished, rolled_back) for n, finished, rolled_back, *_ in db.history() if n == name]


async def test_opens_at_the_failing_line_with_the_error_and_copies_it(failed, tmp_path: Path) -> None:
    db, folder = failed
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _failure_screen(pilot, app)
        text = screen_text(app)
        marked = [line for line in text.splitlines() if "▶" in line]
        assert marked and "ALTER TABLE avatars ADD CONSTRAINT" in marked[0]
        assert "-- note 1:" not in text  # not line 1
        assert "violates foreign key constraint" in flat(text)  # the error, on the same screen
        await pilot.press("c")
        await pilot.pause()
        copied = app.clipboard
        assert "ALTER TABLE avatars ADD CONSTRAINT avatars_project_fkey" in copied
        assert "NOT EXISTS" in copied and "-- the rows in" in copied
        assert any("Copied the failing statement and the diagnostic query" in n.message for n in app._notifications)


async def test_R_marks_the_failed_attempt_rolled_back_after_asking(failed, tmp_path: Path) -> None:
    db, folder = failed
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _failure_screen(pilot, app)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        assert "rolled_back_at" in flat(screen_text(app)) and FAILING in flat(screen_text(app))
        await pilot.press("n")
        await pilot.pause()
        assert _state(db, FAILING) == [(False, False)]  # declined: nothing written
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "pending" in flat(screen_text(app)), "the overview, re-read")
        assert _state(db, FAILING) == [(False, True)]


async def test_A_marks_it_applied_after_asking(failed, tmp_path: Path) -> None:
    db, folder = failed
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _failure_screen(pilot, app)
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        assert "resolve --applied" in flat(screen_text(app))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "up to date" in flat(screen_text(app)), "the overview, up to date")
    assert sorted(_state(db, FAILING)) == [(False, True), (True, False)]


async def test_e_edits_the_migration_at_the_failing_line_and_replans(failed, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    db, folder = failed
    seen = tmp_path / "editor-args"
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\necho \"$@\" > {seen}\n"
                      "printf 'CREATE INDEX avatars_project_idx ON avatars (\"projectId\");\\n' > \"$2\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _failure_screen(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: screen.replanned is not None, "the re-plan")
        assert seen.read_text().split() == ["+31", str(folder / FAILING / "migration.sql")]
        assert screen.replanned == 1
        assert any("Re-planned" in n.message for n in app._notifications)
        assert app.ctx.folder.by_name()[FAILING].script.startswith("CREATE INDEX")
    assert os.path.exists(folder / FAILING / "migration.sql")


async def test_u_takes_a_new_database_url_masked_without_a_restart(db, migrations, tmp_path: Path) -> None:
    from urllib.parse import quote

    from tests.conftest import APP_PASSWORD

    folder = migrations({"20250101000000_a": "CREATE TABLE a (id int);\n"})
    wrong = db.url.replace(quote(APP_PASSWORD, safe=""), "not-the-password")
    app = make_app(wrong, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        assert "✗ Cannot connect" in screen_text(app) and "u enters another database URL" in flat(screen_text(app))
        await pilot.press("u")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "UrlModal", "the URL question")
        await pilot.press(*db.url)
        await pilot.pause()
        typed = screen_text(app)
        assert APP_PASSWORD not in typed and quote(APP_PASSWORD, safe="") not in typed and "•" in typed
        # Only the password is masked: the host, port and database can be checked while typing.
        host_and_db = db.url.rsplit("@", 1)[1].split("?")[0]
        assert host_and_db in typed and "lumiku_app:" in typed, typed
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "1 migration(s) pending" in flat(screen_text(app)), "the overview of the right database")
        assert app.ctx.target is not None and app.ctx.load_error is None
        assert APP_PASSWORD not in screen_text(app)
