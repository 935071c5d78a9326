"""Conventions: `?` lists the keys, `t` troubleshoots, ctrl+p, `/`, `q`, `j/k`, and no footer key is dead."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Input

from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.keys import KeysScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.troubleshoot import TroubleshootMenu

from tests.conftest import SHIPPED_MIGRATIONS
from .test_tui_flow import _to_approval, _to_overview
from .test_tui_support import flat, make_app, screen_text, shared_demo, wait_until

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def report_db(pg_server, demo_template):  # type: ignore[no-untyped-def]
    return shared_demo(pg_server, demo_template, "tui_keys")


async def test_question_mark_lists_every_key_of_the_screen_and_the_shared_ones(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        overview = await _to_overview(pilot, app)
        described = {b.description for b in OverviewScreen.BINDINGS if b.description}
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysScreen), "the Keys panel")
        listed = app.screen.listed()
        for description in described - {"Checklist", "Verify"}:  # those two only with saved progress / up to date
            assert description in listed, description
        for shared in ("Troubleshoot", "Quit", "Command palette", "Down in the list", "Filter"):
            assert shared in listed, shared
        assert "?" in listed and "/" in listed and "ctrl+p" in listed
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is overview, "the overview again")


async def test_t_troubleshoots_and_ctrl_p_offers_the_screens_actions(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        overview = await _to_overview(pilot, app)
        titles = [command.title for command in app.get_system_commands(overview)]
        assert "Preview" in titles and "Theme" in titles and "Keys" in titles and "Troubleshoot" in titles
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), "the command palette")
        # Before anything is typed, the screen's own actions lead, in the order the palette lists them;
        # Textual's own (focus, copy, theme, quit) come after the Keys panel.
        await wait_until(pilot, lambda: "Preview" in screen_text(app), "the palette's list")
        listed = [line.strip(" ▊▎█▄") for line in screen_text(app).splitlines()]
        first = next(i for i, line in enumerate(listed) if "Search for commands" in line)
        assert [line for line in listed[first + 1:] if line][0] == "Preview", "\n".join(listed)
        order = [command.title for command in app.get_system_commands(overview)]
        assert order.index("Refresh") < order.index("Keys") < order.index("Focus Next") < order.index("Theme")
        await pilot.press(*"preview")
        await wait_until(pilot, lambda: "Preview" in screen_text(app) and "key ⏎" in flat(screen_text(app)),
                         "the Preview command")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview, from the palette")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootMenu), "troubleshooting on t")


async def test_slash_filters_j_k_move_and_q_quits(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        overview = await _to_overview(pilot, app)
        table = overview.query_one("#migrations", DataTable)
        everything = table.row_count
        row = table.cursor_row
        await pilot.press("j")
        await pilot.pause()
        assert table.cursor_row == row + 1
        await pilot.press("k")
        await pilot.pause()
        assert table.cursor_row == row
        await pilot.press("slash", *"recovery")
        await pilot.pause()
        assert table.row_count == 1 and "20251015_add_recovery_indexes" in screen_text(app)
        assert "20251014_add_avatar_creator_complete" not in screen_text(app)
        await pilot.press("enter")  # keeps the filter, back in the list
        await pilot.pause()
        assert table.has_focus and table.row_count == 1
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert table.row_count == everything
        # The preview's list filters the same way.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        await pilot.press("slash", *"variation")
        await wait_until(pilot, lambda: app.screen.query_one("#pending").option_count == 1, "the filtered list")
        await wait_until(pilot, lambda: app.screen.selected == "20251015_add_variation_key_to_generated_pose",
                         "the filtered migration's SQL")
        await pilot.press("enter", "escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview")
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_code is not None or not app.is_running, "the wizard to end")
    assert app.return_code == 0


async def test_typing_the_name_is_not_taken_for_keys(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        await pilot.press(*"q?tjk/")
        await pilot.pause()
        assert app.screen is approval and approval.query_one(Input).value == "q?tjk/"
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysScreen), "the Keys panel on F1")
        assert isinstance(app.screen.below, ApprovalScreen)


async def test_an_up_to_date_overview_hides_the_preview_key(db, migrations, tmp_path: Path) -> None:
    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder

    folder = migrations({"20250101000000_people": "CREATE TABLE people (id int PRIMARY KEY);\n"})
    Deployment(db.target, load_folder(folder)).run()
    app = make_app(db.url, folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        overview = await _to_overview(pilot, app)
        footer = screen_text(app).splitlines()[-1]
        assert "Preview" not in footer and "Verify" in footer
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is overview


async def test_the_overview_footer_keeps_quit_in_view_at_80_columns(report_db, tmp_path: Path, monkeypatch) -> None:
    from lumiku_tui.tui.app import WizardApp

    # With a saved checklist to return to, the overview has its most keys.
    monkeypatch.setattr(WizardApp, "saved_session_has_progress", lambda self: True)
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_overview(pilot, app)
        footer = screen_text(app).splitlines()[-1]
        assert "Preview" in footer and "Checklist" in footer and "^q Quit" in footer, footer
        await pilot.press("slash")
        await pilot.pause()
        assert app.screen.filtering, "/ still filters, listed in the Keys panel"
