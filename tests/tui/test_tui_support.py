"""Helpers shared by the wizard's tests (no tests here): start the app, wait, read the screen."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from lumiku_tui.tui.app import WizardApp, build_context
from lumiku_tui.tui.context import Presentation


def shared_demo(server, template: str, name: str):  # type: ignore[no-untyped-def]
    """A demo database in the report's state for tests that only read it (one per module, not per test)."""
    from tests.conftest import copy_demo

    return copy_demo(server, template, name)


def screen_text(app: WizardApp) -> str:
    """What the terminal shows now, as plain text (the same render a screenshot takes)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def flat(text: str) -> str:
    """Screen text as one line: wrapping and the banners' edge marks removed, for phrase checks."""
    return " ".join(text.replace("█", " ").replace("▊", " ").replace("▎", " ").split())


async def wait_until(pilot, predicate: Callable[[], object], what: str = "the condition", steps: int = 400) -> None:  # type: ignore[no-untyped-def]
    """Let the app run (workers, timers) until `predicate()` holds; fails the test if it never does."""
    for _ in range(steps):
        if predicate():
            await pilot.pause()  # let the screen repaint what the state change asked for
            return
        await pilot.pause(0.05)
    raise AssertionError(f"the wizard never reached {what}; the screen shows:\n{screen_text(pilot.app)}")


async def settle(pilot, *, quiet_checks: int = 3, limit_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until the screen stops changing, however busy the machine: the app's workers finished, no
    animation scheduled, and the same screenshot `quiet_checks` times in a row. A snapshot taken on a
    clock instead can catch a layout half done (a scrollbar thumb drawn before the content's height
    was known)."""
    import asyncio
    import time

    app = pilot.app
    deadline = time.monotonic() + limit_s
    previous, same = None, 0
    while same < quiet_checks:
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen kept changing for {limit_s:g} s; it shows:\n{screen_text(app)}")
        await asyncio.wait_for(app.workers.wait_for_complete(), timeout=max(deadline - time.monotonic(), 0.1))
        await pilot.wait_for_scheduled_animations()
        await pilot.pause(0.02)
        current = app.export_screenshot(simplify=True)
        same = same + 1 if current == previous else 0
        previous = current


async def enter_name(pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    """Fill the approval field and press Enter (the flow test types it key by key; this is quicker)."""
    from textual.widgets import Input

    field = pilot.app.screen.query_one(Input)
    field.value = name
    field.cursor_position = len(name)
    await pilot.press("enter")


def make_app(database_url: str | None, migrations: Path | str | None, tmp_path: Path, *, health_url: str | None = None,
             presentation: Presentation | None = None, demo: bool = True) -> WizardApp:
    ctx = build_context(database_url=database_url, migrations=str(migrations) if migrations else None,
                        health_url=health_url, demo=demo, presentation=presentation, state_dir=tmp_path / "state",
                        record_dir=tmp_path / "records")
    return WizardApp(ctx)
