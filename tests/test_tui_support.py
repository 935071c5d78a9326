"""Helpers shared by the wizard's tests (no tests here): start the app, wait, read the screen."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from lumiku_tui.tui.app import WizardApp, build_context
from lumiku_tui.tui.context import Presentation


def shared_demo(server, name: str):  # type: ignore[no-untyped-def]
    """A demo database in the report's state for tests that only read it (one per module, not per test)."""
    import psycopg
    from psycopg import sql

    from lumiku_tui.demo import create_demo_database
    from lumiku_tui.prisma.folder import load_folder

    from .conftest import APP_PASSWORD, APP_ROLE, SHIPPED_MIGRATIONS, Database

    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    url = create_demo_database(server, load_folder(SHIPPED_MIGRATIONS), dbname=name, owner=APP_ROLE,
                               password=APP_PASSWORD)
    return Database(server, name, url)


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
