"""No stale verdict: what the wizard shows and applies follows the files and the database as they are now.

A dry run, findings or a pending list computed on other bytes (a file fixed on disk, a folder added)
is recomputed or said to be out of date, never shown as current; what is applied is what the approval
screen read.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.rehearsal import RehearsalScreen

from .test_tui_support import enter_name, flat, make_app, screen_text, wait_until

SIZE = (100, 30)
pytestmark = pytest.mark.anyio

BROKEN = "ALTER TABLE nowhere ADD COLUMN note text;\n"
FIXED = "CREATE TABLE notes (id int PRIMARY KEY, note text);\n"


def checksum_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _overview(pilot, app) -> OverviewScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
    return app.screen


async def _preview(pilot, app) -> PreviewScreen:  # type: ignore[no-untyped-def]
    await _overview(pilot, app)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done
                     and len(app.screen.run_counts) == len(app.screen.pending), "the preview")
    return app.screen


async def _approval(pilot, app) -> ApprovalScreen:  # type: ignore[no-untyped-def]
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.rechecked
                     and not app.screen.lint_stale, "the approval gate, files read again")
    return app.screen


async def test_a_failed_dry_run_is_not_shown_after_the_file_is_fixed(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_notes": BROKEN})
    script = folder / "20250101000000_notes" / "migration.sql"
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _preview(pilot, app)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, RehearsalScreen) and app.screen.result is not None,
                         "the dry run's verdict")
        assert "would fail" in flat(screen_text(app))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview again")
        script.write_text(FIXED)
        await _approval(pilot, app)
        text = flat(screen_text(app))
        assert "would FAIL" not in text, text
        assert "Dry run out of date: 20250101000000_notes changed since it ran" in text, text
        # Both directions: the old verdict is gone, and the new text was judged (no finding blocks it).
        assert "Findings none need attention" in text, text
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the deploy's end")
        assert app.screen.result is not None and app.screen.result.ok, screen_text(app)
    rows = db.query("SELECT migration_name, checksum, finished_at IS NOT NULL FROM _prisma_migrations")
    assert rows == [("20250101000000_notes", checksum_of(script), True)]
    assert db.query("SELECT to_regclass('public.notes') IS NOT NULL") == [(True,)]


async def test_a_passing_dry_run_on_the_same_files_stays_current(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_notes": FIXED})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _preview(pilot, app)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, RehearsalScreen) and app.screen.result is not None,
                         "the dry run's verdict")
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview again")
        await _approval(pilot, app)
        text = flat(screen_text(app))
        assert "Dry run all 1 ran and were rolled back" in text, text
        assert "out of date" not in text


async def test_a_file_changed_while_the_approval_is_open_is_read_before_it_is_applied(db, migrations,
                                                                                    tmp_path: Path) -> None:
    folder = migrations({"20250101000000_notes": FIXED})
    script = folder / "20250101000000_notes" / "migration.sql"
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _preview(pilot, app)
        approval = await _approval(pilot, app)
        script.write_text(FIXED.replace("note text", "note text, author text"))
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: "changed on disk since this screen read it" in flat(screen_text(app)),
                         "the approval refusing bytes it did not show")
        assert isinstance(app.screen, ApprovalScreen)
        assert db.query("SELECT count(*) FROM information_schema.tables WHERE table_name = '_prisma_migrations'") \
            == [(0,)], "nothing was applied"
        await wait_until(pilot, lambda: approval.rechecked and not approval.lint_stale, "the files read again")
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the deploy's end")
    assert db.query("SELECT checksum FROM _prisma_migrations") == [(checksum_of(script),)]
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes' "
                    "AND column_name = 'author'") == [(1,)]


async def test_a_folder_added_on_disk_appears_after_r(db, migrations, tmp_path: Path) -> None:
    folder = migrations({"20250101000000_notes": FIXED})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _overview(pilot, app)
        assert "1 migration(s) pending" in flat(screen_text(app))
        assert "20250201000000_later" not in screen_text(app)
        migrations({"20250201000000_later": "CREATE TABLE later (id int);\n"}, folder=folder)
        await pilot.press("r")
        await wait_until(pilot, lambda: "20250201000000_later" in screen_text(app), "the new folder listed")
        await wait_until(pilot, lambda: app.screen.ready, "the overview settled")
        text = flat(screen_text(app))
        assert "2 migration(s) pending" in text and "(2 migrations)" in text, text


async def test_the_preview_gutter_numbers_statements_as_the_deploy_log_and_lint_do(db, migrations,
                                                                                  tmp_path: Path) -> None:
    from lumiku_tui.tui.widgets.sql_view import SqlView

    folder = migrations({"20250101000000_wrapped": "BEGIN;\nCREATE TABLE t (id int, v int);\n"
                                                   "INSERT INTO t VALUES (1, 1);\nUPDATE t SET v = 2;\nCOMMIT;\n"})
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        preview = await _preview(pilot, app)
        await wait_until(pilot, lambda: preview.query_one(SqlView).statements, "the statements in the gutter")
        rows = screen_text(app).splitlines()
        # The current statement's gutter carries a bar beside its mark.
        gutter = {row.split(None, 1)[1].strip(): row.split(None, 1)[0].rstrip("▌") for row in rows
                  if row.strip() and row.split(None, 1)[0].rstrip("▌") in {"-", "1", "2", "3"}
                  and len(row.split(None, 1)) > 1}
        # The script's BEGIN and COMMIT are not sent: no number; the UPDATE is the 3rd statement sent.
        assert gutter.get("BEGIN;") == "-" and gutter.get("COMMIT;") == "-", rows
        assert gutter.get("CREATE TABLE t (id int, v int);") == "1" and gutter.get("UPDATE t SET v = 2;") == "3", rows
        update = [f for f in app.ctx.lint.findings if f.rule == "update-without-where"]
        assert update and update[0].number == 3
