"""The wizard's app picks every next screen; an error drawing a worker's result ends the wizard with exit 1.

Both directions: a broken callback is never swallowed (the app exits 1, the test sees the error), and a
result that arrives after the operator left its screen is dropped without ending the wizard.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lumiku_tui.locations import Locations
from lumiku_tui.tui.app import WizardApp, run_wizard
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.troubleshoot import TroubleshootMenu

from .test_tui_support import make_app, wait_until

pytestmark = pytest.mark.anyio

_ONE_MIGRATION = {"20250101000000_init": "CREATE TABLE note (id int PRIMARY KEY);\n"}


def _broken_show(self: OverviewScreen, overview: object) -> None:
    raise RuntimeError("the overview could not be drawn")


async def test_an_error_drawing_a_workers_result_ends_the_wizard_with_exit_1(db, migrations, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OverviewScreen, "_show", _broken_show)
    app = make_app(db.url, migrations(_ONE_MIGRATION), tmp_path, demo=False)
    with pytest.raises(RuntimeError, match="the overview could not be drawn"):
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: app.return_code is not None, "the wizard to end")
    assert app.return_code == 1


def test_a_crash_exits_the_program_non_zero(db, migrations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(OverviewScreen, "_show", _broken_show)
    monkeypatch.setenv("LUMIKU_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LUMIKU_RECORD_DIR", str(tmp_path / "records"))
    run = WizardApp.run
    # No terminal in a test run: the same app, drawn headless.
    monkeypatch.setattr(WizardApp, "run", lambda self, **kw: run(self, headless=True, size=(100, 30), **kw))
    where = Locations.from_options(database_url=db.url, migrations=str(migrations(_ONE_MIGRATION)))
    assert run_wizard(where) == 1
    shown = capsys.readouterr()
    assert "RuntimeError: the overview could not be drawn" in shown.out + shown.err


async def test_a_result_for_a_closed_screen_is_dropped_and_the_wizard_goes_on(db, migrations,
                                                                             tmp_path: Path) -> None:
    app = make_app(db.url, migrations(_ONE_MIGRATION), tmp_path, demo=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        overview = app.screen
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, TroubleshootMenu), "the troubleshooting menu")
        menu = app.screen
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is overview, "the overview again")

        delivered: list[str] = []
        for screen, what in ((menu, "for the closed menu"), (overview, "for the overview")):
            worker = threading.Thread(target=screen.call_ui, args=(delivered.append, what))
            worker.start()
            await wait_until(pilot, lambda: not worker.is_alive(), "the worker to hand over its result")
        assert delivered == ["for the overview"]
        assert app.is_running and app.return_code is None
