"""A deploy waiting for a table lock: the banner counts down and names who queues; k ends the blocker; r retries."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from textual.widgets import Input

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.base import ConfirmModal, TimeoutModal

from .test_tui_flow import _to_approval
from .test_tui_support import enter_name, flat, make_app, screen_text, wait_until

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture
def busy_table(db, migrations):  # type: ignore[no-untyped-def]
    """`people` has rows; a pending migration alters it; a report job holds it in an idle transaction."""
    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"
                                                  "INSERT INTO people SELECT generate_series(1, 10);\n"})
    Deployment(db.target, load_folder(folder)).run()
    migrations({"20250201000000_people_email": "ALTER TABLE people ADD COLUMN email text;\n"}, folder=folder)
    blocker = psycopg.connect(db.url, application_name="nightly-report")
    blocker.execute("LOCK TABLE people IN ACCESS SHARE MODE")  # stays open: idle in transaction
    yield db, folder, blocker
    blocker.close()


def _applied(db) -> list[str]:  # type: ignore[no-untyped-def]
    return [name for name, finished, rolled_back, *_ in db.history() if finished and not rolled_back]


async def _waiting(pilot, app, db) -> ApplyingScreen:  # type: ignore[no-untyped-def]
    await _to_approval(pilot, app)
    await enter_name(pilot, db.name)
    await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.blocked is not None,
                     "the table-lock wait")
    return app.screen


async def test_the_banner_counts_down_and_k_ends_the_blocking_session(busy_table, tmp_path: Path) -> None:
    db, folder, blocker = busy_table
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _waiting(pilot, app, db)
        text = flat(screen_text(app))
        assert "is waiting for a table lock held by" in text and "nightly-report" in text
        assert "idle in transaction" in text
        assert "queue behind this waiting statement" in text and "people" in text
        first = applying.query_one("#lock-banner").render().plain
        assert "Gives up in " in first and "(lock timeout 5 s)" in first
        await wait_until(pilot, lambda: applying.query_one("#lock-banner").render().plain != first
                         or applying.blocked is None, "the countdown to move")
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        question = f"{app.screen.question} {app.screen.detail}"
        assert "End session pid" in question and "nightly-report" in question and "last query: LOCK TABLE" in question
        await pilot.press("y")
        await wait_until(pilot, lambda: applying.finished, "the deploy to go on and end")
        assert applying.result is not None and applying.result.ok
        assert applying.ended_blocker is not None
    assert "20250201000000_people_email" in _applied(db)


async def test_r_retries_after_a_lock_timeout_with_the_timeout_changed(busy_table, tmp_path: Path) -> None:
    db, folder, blocker = busy_table
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _waiting(pilot, app, db)
        footer = screen_text(app).splitlines()[-1]
        assert "End blocker" in footer and "Retry" not in footer
        await wait_until(pilot, lambda: applying.finished, "the lock timeout", steps=400)
        assert applying.failure is not None and applying.failure.reason == "lock_timeout"
        assert "Press r to retry" in flat(screen_text(app))
        assert "Retry" in screen_text(app).splitlines()[-1]
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal), "the timeout question")
        field = app.screen.query_one(Input)
        assert field.value == "5"
        field.value = "30"
        blocker.commit()  # the report job finishes meanwhile
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen is not applying
                         and app.screen.finished, "the retried deploy")
        retried = app.screen
        assert retried.options.lock_timeout_s == 30 and retried.result is not None and retried.result.ok
    assert "20250201000000_people_email" in _applied(db)


async def test_q_asks_while_migrating_and_an_open_question_closes_when_the_deploy_ends(busy_table,
                                                                                      tmp_path: Path) -> None:
    db, folder, blocker = busy_table
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _waiting(pilot, app, db)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the quit question")
        assert "A migration is running. Quit anyway?" in app.screen.question
        blocker.commit()  # the report job ends; the deploy goes on and finishes behind the question
        await wait_until(pilot, lambda: applying.finished and app.screen is applying, "the question to close")
        assert applying.result is not None and applying.result.ok and app.return_code is None


async def test_r_retries_after_prismas_lock_was_held_too_long(db, migrations, tmp_path: Path) -> None:
    from lumiku_tui.errors import LockTimeout
    from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY

    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"})
    holder = psycopg.connect(db.url, autocommit=True, application_name="prisma-migrate")
    try:
        app = make_app(db.url, folder, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await _to_approval(pilot, app)
            # Another deploy takes Prisma's lock after the overview was read, before the approval.
            holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            await enter_name(pilot, db.name)
            await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                             "Prisma's lock wait to give up", steps=600)
            applying = app.screen
            assert isinstance(applying.error, LockTimeout)
            assert "Press r to retry" in flat(screen_text(app))
            await pilot.press("r")
            await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal), "the wait question")
            app.screen.query_one(Input).value = "20"
            holder.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen is not applying
                             and app.screen.finished, "the retried deploy")
            assert app.screen.options.advisory_lock_wait_s == 20 and app.screen.result.ok
    finally:
        holder.close()
    assert _applied(db) == ["20250101000000_people"]


async def test_the_lock_timeout_troubleshooting_screen_offers_k_and_r_and_names_the_blocker_once(
        busy_table, tmp_path: Path) -> None:
    from lumiku_tui.tui.screens.troubleshoot.failure import FailureScreen

    db, folder, blocker = busy_table
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        applying = await _waiting(pilot, app, db)
        await wait_until(pilot, lambda: applying.finished, "the lock timeout", steps=400)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the troubleshooting screen")
        failure = app.screen
        text = screen_text(app)
        footer = text.splitlines()[-1]
        assert "End blocker" in footer and "Retry" in footer, footer
        assert flat(text).count("nightly-report") == 1, text
        await pilot.press("k")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: failure.ended_blocker is not None, "the blocker ended")
        # Typed at once after r, as a quick operator does (the keys arrive before the dialog is drawn): no
        # digit is lost while the dialog opens.
        from textual import events

        for key in ("r", "3", "0"):
            app.post_message(events.Key(key, key))
        await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal)
                         and app.screen.query_one(Input).has_focus, "the timeout question")
        await pilot.pause(0.2)
        assert app.screen.query_one(Input).value == "30"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen is not applying
                         and app.screen.finished, "the retried deploy")
        assert app.screen.options.lock_timeout_s == 30 and app.screen.result.ok
        kinds = [e.kind for e in app.journal.entries()]
    # What the operator did here is in the journal, in order: the session ended, then the retry.
    assert kinds.index("session_ended") < kinds.index("retry"), kinds
    assert "20250201000000_people_email" in _applied(db)


async def test_the_retry_dialog_keeps_the_old_timeout_when_nothing_is_typed(busy_table, tmp_path: Path) -> None:
    db, folder, blocker = busy_table
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        applying = await _waiting(pilot, app, db)
        await wait_until(pilot, lambda: applying.finished, "the lock timeout", steps=400)
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal), "the timeout question")
        await pilot.pause()
        assert app.screen.query_one(Input).value == "5"
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is applying, "the deploy's screen again")
        from textual import events

        for key in ("r", "4", "5"):  # typed at once on the deploy's screen
            app.post_message(events.Key(key, key))
        await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal)
                         and app.screen.query_one(Input).has_focus, "the timeout question")
        await pilot.pause(0.2)
        assert app.screen.query_one(Input).value == "45"
