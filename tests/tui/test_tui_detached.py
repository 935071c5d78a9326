"""The wizard as the view of a deploy running in its own process: a closed terminal ends only the view, the
next view shows the deploy at once and re-attaches with the controls, one view controls while others watch,
and a deploy process killed outright is explained."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from lumiku_tui.apply import detached
from lumiku_tui.apply.deploy import DeployOptions
from lumiku_tui.journal import Journal
from lumiku_tui.locations import Locations
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.base import ConfirmModal

from .test_tui_flow import _to_approval
from .test_tui_support import enter_name, flat, make_app, screen_text, wait_until

SIZE = (100, 30)
pytestmark = pytest.mark.anyio

SLOW = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    "20240102000000_slow": "CREATE TABLE slow (id int);\nSELECT pg_sleep(10);\nINSERT INTO slow VALUES (1);",
}


def _app(db, folder: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app(db.url, folder, tmp_path, demo=False)
    app.ctx.detach_deploys = True
    return app


def _journal(db, tmp_path: Path) -> Journal:
    return Journal.for_target(db.target, tmp_path / "state")


def _start(db, folder: Path, tmp_path: Path) -> detached.Started:
    """A detached deploy as `deploy --detach` starts it (the view that approved it has gone)."""
    options = DeployOptions(approved=tuple(SLOW), pipeline=True)
    return detached.start(db.target, load_folder(folder), Locations.from_options(database_url=db.url,
                          migrations=str(folder)), options, state_dir=tmp_path / "state")


def _wait(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out")


def _in_slow(journal: Journal) -> bool:
    return any(e.kind == "migration_started" and e.get("name") == "20240102000000_slow" for e in journal.entries())


def _applied(db) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, finished, rolled_back, *_ in db.history() if finished and not rolled_back]


async def test_a_closed_terminal_ends_only_the_view_and_the_next_view_reattaches(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    app = _app(db, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.process is not None,
                         "the deploy process")
        applying = app.screen
        pid = applying.process.pid
        assert "in its own process" in flat(screen_text(app)) and "this view controls it" in flat(screen_text(app))
        await wait_until(pilot, lambda: _in_slow(journal), "the slow migration")
        app._on_end_signal(signal.SIGHUP)  # the browser tab closed
        await pilot.pause(0.2)
    assert app.ctx.left_running == pid
    assert detached.last_deploy_process(journal).running  # the deploy goes on without its view
    assert detached.controller_of(journal) is None  # and the view's control went with it

    again = _app(db, folder, tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(again.screen, ApplyingScreen), "the running deploy, at once")
        view = again.screen
        await wait_until(pilot, lambda: "20240102000000_slow" in flat(screen_text(again)), "the migration's name")
        await wait_until(pilot, lambda: "▶ [2/2] 20240102000000_slow running" in flat(screen_text(again)),
                         "the migration in progress with its clock")
        text = flat(screen_text(again))
        assert f"in its own process ({pid})" in text and "started by" in text
        await wait_until(pilot, lambda: view.finished, "the outcome", steps=600)
        assert view.result is not None and view.result.ok
        assert [a.name for a in view.result.applied] == ["20240101000000_a", "20240102000000_slow"]
        assert "Applied 2 migration(s)" in flat(screen_text(again))
    assert _applied(db) == list(SLOW)
    kinds = [e.kind for e in journal.entries()]
    # The wizard journals the approval, then the process it started tells the rest.
    assert kinds[:2] == ["approved", "deploy_process"] and kinds[-1] == "deploy_process_ended"
    assert kinds.count("migration_finished") == 2


async def test_cancel_from_a_reattached_view_rolls_back_and_is_journaled(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    started = _start(db, folder, tmp_path)
    _wait(lambda: _in_slow(journal))
    app = _app(db, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.control is not None,
                         "the re-attached deploy")
        view = app.screen
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: view.finished, "the rollback", steps=600)
        assert view.result is not None and view.result.cancelled
        assert "Cancelled: the migration in progress was rolled back" in flat(screen_text(app))
    started.process.wait(timeout=30)
    assert _applied(db) == ["20240101000000_a"]
    assert db.query("SELECT to_regclass('slow') IS NULL") == [(True,)]
    entries = journal.entries()
    assert [e.get("deploy_pid") for e in entries if e.kind == "cancel_requested"] == [started.pid]
    assert entries[-1].kind == "deploy_process_ended" and entries[-1].get("outcome") == "cancelled"


async def test_a_second_view_watches_while_another_controls(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    started = _start(db, folder, tmp_path)
    _wait(lambda: _in_slow(journal))
    first = detached.Control.take(journal, view="attach")
    assert isinstance(first, detached.Control)
    try:
        app = _app(db, folder, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.control is not None,
                             "the re-attached deploy")
            view = app.screen
            text = flat(screen_text(app))
            assert f"controls it from attach (process {os.getpid()}); this view watches" in text
            assert not view.in_control and view.check_action("cancel_deploy", ()) is False
            await pilot.press("c")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmModal)  # a watcher cannot cancel
            await wait_until(pilot, lambda: view.finished, "the outcome", steps=600)
            assert view.result is not None and view.result.ok
    finally:
        first.release()
        started.process.wait(timeout=30)
    assert _applied(db) == list(SLOW)
    assert not [e for e in journal.entries() if e.kind == "cancel_requested"]


async def test_a_deploy_process_killed_outright_is_explained_by_the_next_view(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    started = _start(db, folder, tmp_path)
    _wait(lambda: _in_slow(journal))
    os.kill(started.pid, signal.SIGKILL)
    started.process.wait(timeout=30)
    app = _app(db, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "ended without a word" in flat(screen_text(app)), "the explanation")
        text = flat(screen_text(app))
        assert "killed" in text and not isinstance(app.screen, ApplyingScreen)
    # PostgreSQL rolled back the open transaction: the slow migration is not recorded, so a re-run applies it.
    assert "20240102000000_slow" not in _applied(db)


async def _deploying(pilot, app, db, journal: Journal) -> ApplyingScreen:  # type: ignore[no-untyped-def]
    await _to_approval(pilot, app)
    await enter_name(pilot, db.name)
    await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.control is not None,
                     "the deploy process")
    await wait_until(pilot, lambda: _in_slow(journal), "the slow migration")
    return app.screen


async def test_sigterm_to_the_wizard_in_control_rolls_the_deploy_back(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    app = _app(db, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _deploying(pilot, app, db, journal)
        pid = applying.process.pid
        app._on_end_signal(signal.SIGTERM)  # `kill` of the wizard: stopping on purpose still stops
        await wait_until(pilot, lambda: app.return_value is not None, "the wizard to exit", steps=600)
    assert app.return_value == 128 + signal.SIGTERM and app.ctx.left_running is None
    _wait(lambda: not detached.pid_alive(pid))
    outcome = detached.last_deploy_process(journal).outcome
    assert outcome is not None and outcome.get("outcome") == "cancelled"
    assert _applied(db) == ["20240101000000_a"]


async def test_quitting_while_a_deploy_runs_closes_only_the_view(db, migrations, tmp_path) -> None:
    folder = migrations(SLOW)
    journal = _journal(db, tmp_path)
    app = _app(db, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _deploying(pilot, app, db, journal)
        pid = applying.process.pid
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: app.return_value is not None, "the wizard to exit")
    assert app.return_value == 0 and app.ctx.left_running == pid
    assert detached.last_deploy_process(journal).running
    _wait(lambda: detached.last_deploy_process(journal).outcome is not None, timeout=60)
    assert detached.last_deploy_process(journal).outcome.get("outcome") == "applied"
    assert _applied(db) == list(SLOW)
