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


async def test_C_continues_a_migration_in_parts_from_the_failed_part_after_asking(db, migrations, tmp_path: Path) -> None:
    """Failed by its SQL after part 1 committed: the failure screen says part 1 stays, and C (deploy --resume)
    runs only the fixed part 2; R warns that rolled back means part 1 must be undone first."""
    name = "20250102000000_move"
    part_1 = "UPDATE acct SET bal = bal + 10;\nCOMMIT;\n"
    folder = migrations({"20250101000000_acct": "CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL);\n"
                                                "INSERT INTO acct VALUES (1, 100);\n",
                         name: part_1 + "SELECT 1 / 0;\n"})
    assert Deployment(db.target, load_folder(folder)).run().failure.sqlstate == "22012"
    (folder / name / "migration.sql").write_text(part_1 + "CREATE TABLE moved (id int);\n")
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the diagnosis")
        assert app.screen.diagnosis.resumable == (1, 2)
        assert any("deploy --resume" in c for c in app.screen.diagnosis.choices)
        assert any("whole file runs again" in c for c in app.screen.diagnosis.choices)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the rolled-back question")
        assert "undo them by hand first" in flat(screen_text(app))
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the resume question")
        assert "from part 2" in flat(screen_text(app))
        await pilot.press("y")
        await wait_until(pilot, lambda: getattr(app.screen, "finished", False), "the resumed deploy", steps=1200)
        assert app.screen.result is not None and app.screen.result.ok
    assert db.query("SELECT bal FROM acct") == [(110,)]
    assert db.query("SELECT to_regclass('moved') IS NOT NULL") == [(True,)]
    assert _state(db, name) == [(True, False)]


async def test_e_R_and_a_redeploy_are_journaled_and_the_checklist_and_record_agree_with_status(
        failed, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lumiku_tui.journal import Journal
    from lumiku_tui.prisma.folder import checksum
    from lumiku_tui.prisma.status import State, read_status
    from lumiku_tui.tui.screens.applying import ApplyingScreen
    from lumiku_tui.tui.screens.checklist import ChecklistScreen

    from .test_tui_flow import _to_approval

    db, folder = failed
    old = checksum((folder / FAILING / "migration.sql").read_bytes())
    fixed = 'CREATE INDEX avatars_project_idx ON avatars ("projectId");\n'
    editor = tmp_path / "editor.sh"
    editor.write_text(f"#!/bin/sh\nprintf '{fixed.replace(chr(10), chr(92) + 'n')}' > \"$2\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _failure_screen(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, lambda: screen.replanned is not None, "the re-plan")
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "pending" in flat(screen_text(app)), "the overview, re-read")
        await _to_approval(pilot, app)
        await pilot.press(*db.name, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the end of the deploy")
        assert app.screen.result is not None and app.screen.result.ok
        journal = Journal.for_target(app.ctx.target, tmp_path / "state")
        kinds = [e.kind for e in journal.entries()]
        edited = next(e for e in journal.entries() if e.kind == "file_edited")
        assert (edited.get("name"), edited.get("old_checksum"), edited.get("new_checksum")) == \
            (FAILING, old, checksum(fixed.encode()))
        resolved = next(e for e in journal.entries() if e.kind == "resolved")
        assert (resolved.get("name"), resolved.get("action")) == (FAILING, "rolled_back")
        approved = next(e for e in journal.entries() if e.kind == "approved")
        assert approved.get("checksums") == {FAILING: checksum(fixed.encode())}
        assert kinds.index("file_edited") < kinds.index("resolved") < kinds.index("approved") \
            < kinds.index("migration_finished") < kinds.index("deployment_complete")
        await app.push_screen(ChecklistScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        session = app.ctx.session
        status = read_status(app.ctx.target, app.ctx.folder)
        assert next(m for m in status.migrations if m.name == FAILING).state is State.APPLIED
        assert session.item("all_applied").done and FAILING in session.item("all_applied").evidence
        assert session.item("history_rows").done
        assert "the 1 new migration" in session.item("history_rows").label
        path = session.write_record(tmp_path / "records")
    record = path.read_text()
    assert f"edited {FAILING}: checksum {old[:12]} → {checksum(fixed.encode())[:12]}" in record
    assert f"marked {FAILING} rolled back (resolve --rolled-back)" in record
    assert f"| {FAILING} | applied |" in record
    assert "**Outcome:** FAILED" not in record
    # The first failure was a deploy without the journal: its rolled-back row still speaks in the record.
    failures = record.split("## Failures")[1].split("## Verification")[0]
    assert "attempts the journal does not tell" in failures and f"`{FAILING}` started " in failures
    assert [e.kind for e in Journal.for_target(db.target, tmp_path / "state").entries()][-1] == "record_written"


async def test_lock_timeouts_retries_and_k_are_journaled_and_recorded(db, migrations, tmp_path: Path) -> None:
    """Two lock timeouts, two retries with the timeout changed, then k: the record tells each, status agrees."""
    import psycopg
    from textual.widgets import Input

    from lumiku_tui.journal import Journal
    from lumiku_tui.prisma.status import State, read_status
    from lumiku_tui.tui.screens.applying import ApplyingScreen
    from lumiku_tui.tui.screens.base import TimeoutModal
    from lumiku_tui.tui.screens.checklist import ChecklistScreen

    from .test_tui_flow import _to_approval
    from .test_tui_support import enter_name

    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"})
    Deployment(db.target, load_folder(folder)).run()
    email = "20250201000000_people_email"
    migrations({email: "ALTER TABLE people ADD COLUMN email text;\n"}, folder=folder)
    blocker = psycopg.connect(db.url, application_name="nightly-report")
    blocker.execute("LOCK TABLE people IN ACCESS SHARE MODE")  # idle in transaction, holding the table
    blocker_pid = blocker.info.backend_pid
    app = make_app(db.url, folder, tmp_path)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await _to_approval(pilot, app)
            await enter_name(pilot, db.name)
            for seconds in ("1", "30"):
                applying = app.screen
                await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                                 "the lock timeout", steps=400)
                assert applying.failure is not None and applying.failure.reason == "lock_timeout"
                await pilot.press("r")
                await wait_until(pilot, lambda: isinstance(app.screen, TimeoutModal), "the timeout question")
                app.screen.query_one(Input).value = seconds
                await pilot.press("enter")
                await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen)
                                 and app.screen is not applying, "the retried deploy")
            applying = app.screen
            await wait_until(pilot, lambda: applying.blocked is not None, "the table-lock wait")
            await pilot.press("k")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
            await pilot.press("y")
            await wait_until(pilot, lambda: applying.finished, "the deploy to go on and end")
            assert applying.result is not None and applying.result.ok
            await app.push_screen(ChecklistScreen())
            await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
            session = app.ctx.session
            assert session.item("all_applied").done and session.item("history_rows").done
            assert session.item("no_errors").done and "55P03" in session.item("no_errors").evidence
            path = session.write_record(tmp_path / "records")
    finally:
        blocker.close()
    status = read_status(db.target, load_folder(folder))
    assert all(m.state is State.APPLIED for m in status.migrations)
    kinds = [e.kind for e in Journal.for_target(db.target, tmp_path / "state").entries()]
    assert kinds.count("retry") == 2 and kinds.count("timeout_changed") == 2 and kinds.count("session_ended") == 1
    assert kinds.count("migration_failed") == 2 and kinds[-1] == "record_written"
    record = path.read_text()
    story = record.split("## What happened")[1].split("## Final state")[0]
    assert story.count(f"{email} failed at statement 1, line 1: 55P03") == 2
    assert "changed the lock timeout from 5.0 s to 1.0 s" in story
    assert "changed the lock timeout from 1.0 s to 30.0 s" in story
    assert story.count(f"retried (lock timeout on {email})") == 2
    assert f"ended session pid {blocker_pid} (LOCK TABLE people IN ACCESS SHARE MODE)" in story
    assert story.index("ended session") < story.index(f"{email} applied")
    assert f"| {email} | applied |" in record and "Attempt 3:" in story


async def test_A_after_a_manual_fix_then_the_rest_deployed_the_checklist_agrees_with_status(
        db, migrations, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The issue's sequence: a batch fails part-way, the failure is fixed by hand and marked applied with A,
    the rest is deployed; the checklist counts all three as applied, as `status` does."""
    from lumiku_tui.prisma.status import State, read_status
    from lumiku_tui.tui.screens.applying import ApplyingScreen
    from lumiku_tui.tui.screens.checklist import ChecklistScreen

    from .test_tui_flow import _to_approval
    from .test_tui_support import enter_name

    base, unique, third = "20250101000000_base", "20250201000000_unique", "20250301000000_third"
    folder = migrations({base: "CREATE TABLE t (id text);\nINSERT INTO t VALUES ('a'), ('a');\n",
                         unique: 'CREATE UNIQUE INDEX "t_id_key" ON t (id);\n',
                         third: "CREATE TABLE u (id text);\n"})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _to_approval(pilot, app)
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the failed deploy")
        assert app.screen.failure is not None and app.screen.failure.name == unique
        with db.connect() as conn:  # the operator fixes the data and makes the change by hand
            conn.execute("DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t)")
            conn.execute('CREATE UNIQUE INDEX "t_id_key" ON t (id)')
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, FailureScreen) and app.screen.diagnosis is not None,
                         "the diagnosis")
        await pilot.press("A")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the question")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready
                         and "pending" in flat(screen_text(app)), "the overview with the third pending")
        await _to_approval(pilot, app)
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the second deploy")
        assert app.screen.result is not None and app.screen.result.ok
        await app.push_screen(ChecklistScreen())
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        session = app.ctx.session
        status = read_status(db.target, load_folder(folder))
        assert all(m.state is State.APPLIED for m in status.migrations)
        items = {i.key: i for i in session.checklist}
        assert items["all_applied"].done, items["all_applied"].evidence
        assert f"{unique} (marked applied with resolve --applied)" in items["all_applied"].evidence
        assert items["history_rows"].done and "all 3 new migrations" in items["history_rows"].label
        assert items["no_errors"].done and f"earlier in this deployment: {unique} failed" in items["no_errors"].evidence
        record = session.write_record(tmp_path / "records").read_text()
    assert "Approved but not applied" not in record and "None in the journal." not in record
    assert '- **Error:** 23505 could not create unique index "t\\_id\\_key"' in record or \
        '- **Error:** 23505 could not create unique index "t_id_key"' in record
    assert f"marked {unique} applied (resolve --applied; not run)" in record
    deploys = record.split("**Deployed at:** ")[1].splitlines()[0]
    assert "(2 attempts)" in deploys  # the batch was applied in two, and the record says so
