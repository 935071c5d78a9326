"""A data migration too large to hold, the whole way through the wizard: previewed, approved, applied in the
deploy's own process, followed from its journal and verified, the journal told a script at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import ProgressBar

from bench.big_script import TABLE, write_big_migration
from lumiku_tui.prisma.folder import STREAM_FROM_BYTES
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.verification import VerificationScreen

from .test_tui_flow import _to_approval
from .test_tui_support import make_app, screen_text, wait_until

SIZE = (100, 30)
pytestmark = pytest.mark.anyio


async def test_a_data_migration_too_large_to_hold_goes_the_whole_way(db, tmp_path: Path) -> None:
    rows = 45_000
    big = write_big_migration(tmp_path / "prisma" / "migrations", mib=9, rows=rows)
    assert big.bytes > STREAM_FROM_BYTES  # read in windows by every process of the flow, the deploy's too
    app = make_app(db.url, big.folder, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        assert f"2 migration(s), {rows + 1} statement(s)" in screen_text(app)
        await pilot.press(*db.name, "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the end of the deploy", steps=2400)
        screen = app.screen
        text = screen_text(app)
        assert "✓ Applied 2 migration(s)" in text
        # Followed from the journal: the rows counted into the progress as the scripts were answered.
        overall = screen.query_one("#overall", ProgressBar)
        assert overall.total == rows + 1 and overall.progress == rows + 1
        assert screen.events_seen < 200
        with db.connect() as conn:
            assert conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone() == (rows,)
        journal = next((tmp_path / "state" / "journal").glob("*.jsonl"))
        assert journal.stat().st_size < big.bytes / 20  # not a line per statement (that was 1.8x the file)

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done,
                         "the verification table", steps=1200)
        assert all(check.ok for check in app.ctx.checks) and "checks passed" in screen_text(app)
