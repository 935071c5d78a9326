"""What the Coolify web terminal needs: NO_COLOR honoured, 80x24 and larger, a footer of keys everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen

from tests.conftest import SHIPPED_MIGRATIONS
from .test_tui_support import enter_name, make_app, screen_text, shared_demo, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def report_db(pg_server, demo_template):  # type: ignore[no-untyped-def]
    """The report's state, shared by the tests here that only read it."""
    return shared_demo(pg_server, demo_template, "tui_terminal")


def _colours(svg: str) -> set[tuple[int, int, int]]:
    """Colours of the terminal's cells (text and backgrounds), not of the window frame's buttons."""
    cells = re.sub(r"<circle[^>]*>", "", svg)
    return {tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[misc]
            for h in re.findall(r"(?:fill|color)[:=]\s*\"?#([0-9a-fA-F]{6})", cells)}


async def test_no_color_draws_in_greys_only(report_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        colours = _colours(app.export_screenshot())
    assert app.no_color
    assert colours, "the screenshot carries its colours"
    # Greys only (the SVG theme's own default foreground, #c5c8c6, is a grey within a few units).
    hues = [c for c in colours if max(c) - min(c) > 4]
    assert not hues, f"colours under NO_COLOR: {hues}"


async def test_colour_is_used_without_no_color(report_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        colours = _colours(app.export_screenshot())
    assert any(max(c) - min(c) > 40 for c in colours), "pending rows and banners are coloured"


async def test_a_larger_terminal_shows_every_migration_and_the_keys(report_db, tmp_path: Path) -> None:
    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        text = screen_text(app)
        missing = [m.name for m in app.ctx.folder.migrations if m.name not in text]
        assert not missing, f"not on screen: {missing}\n{text}"
        assert text.count("● pending") == 4, text
        assert "⏎ Preview" in text and "^q Quit" in text
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen), "the preview")
        text = screen_text(app)
        assert "n/p Stmt" in text and "esc Back" in text


async def test_an_unwritable_state_folder_does_not_stop_the_wizard(demo_db, tmp_path: Path) -> None:
    from lumiku_tui.tui.screens.approval import ApprovalScreen

    app = make_app(demo_db.url, SHIPPED_MIGRATIONS, tmp_path)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the state folder should be")
    app.ctx.state_dir = blocked / "state"
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done, "the preview")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")
        await enter_name(pilot, demo_db.name)
        await wait_until(pilot, lambda: getattr(app.screen, "finished", False), "the end of the deploy")
        assert app.screen.result.ok
        assert app.ctx.session is not None and app.ctx.session.approved_at is not None
        assert not str(app.ctx.session.path).startswith(str(blocked))


async def test_a_crash_report_never_shows_the_password(report_db, tmp_path: Path) -> None:
    from tests.conftest import APP_PASSWORD

    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        url = app.ctx.database_url
        encoded = quote(APP_PASSWORD, safe="")
        assert url is not None and encoded in url
        try:
            raise RuntimeError(f"lost the connection to {url}")
        except RuntimeError:
            app._fatal_error()
        report = "".join(str(r) for r in app._exit_renderables)
    assert "RuntimeError: lost the connection to" in report
    assert encoded not in report and APP_PASSWORD not in report and "***" in report
    assert encoded not in repr(app.ctx)


async def test_sigterm_ends_the_wizard_with_its_exit_code(report_db, tmp_path: Path) -> None:
    import os
    import signal

    app = make_app(report_db.url, SHIPPED_MIGRATIONS, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
        # Only send it once the wizard handles it; otherwise it would end the test run itself.
        assert signal.SIGTERM in app._watched
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_until(pilot, lambda: app.return_value is not None, "the wizard to exit")
    assert app.return_value == 128 + signal.SIGTERM
    assert app.ctx.interrupted_by == signal.SIGTERM


def test_demo_says_what_it_does_before_the_server_is_up(tmp_path: Path) -> None:
    """`lumiku-tui demo` in a real terminal: a first line at once, then the wizard; SIGTERM ends it and the server."""
    import fcntl
    import os
    import pty
    import select
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    from tests.conftest import REPO

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "LUMIKU_STATE_DIR": str(tmp_path),
           "LUMIKU_RECORD_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "lumiku_tui", "demo"], stdin=follower, stdout=follower,
                            stderr=follower, env=env, cwd=tmp_path, start_new_session=True)
    os.close(follower)
    seen = b""
    first_line_s = wizard_s = None
    try:
        deadline = started + 90
        while time.monotonic() < deadline and wizard_s is None:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            seen += chunk
            if first_line_s is None and b"starting a throwaway PostgreSQL" in seen:
                first_line_s = time.monotonic() - started
            if b"Overview" in seen:
                wizard_s = time.monotonic() - started
        assert first_line_s is not None, seen[-2000:]
        assert b"Demo database ready" in seen and wizard_s is not None, seen[-2000:]
        # The first line comes before the server (which takes seconds) and well before the wizard.
        assert first_line_s < wizard_s
        print(f"demo: first line after {first_line_s:.2f} s, wizard after {wizard_s:.2f} s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            while proc.poll() is None:
                ready, _, _ = select.select([leader], [], [], 0.5)
                if ready:
                    try:
                        os.read(leader, 65536)
                    except OSError:
                        pass
                if time.monotonic() - started > 150:
                    proc.kill()
        finally:
            os.close(leader)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
