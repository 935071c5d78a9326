"""A stop asked for in the moment between starting the detached deploy and taking control of it is not lost.

The wizard starts the deploy process, then takes control of it. A SIGTERM or SIGINT that comes in between
used to find the view "not in control" and leave the deploy running while the wizard exited. Now the
cancel is remembered and sent once this view holds control; a view that another view controls still
only watches.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lumiku_tui.apply.detached import Control
from lumiku_tui.tui.screens.applying import ApplyingScreen


class _Recorded(Control):
    """Control whose cancel records what it was asked, instead of signalling a process."""

    def __init__(self) -> None:
        self.cancelled: list[object] = []
        self.done = threading.Event()

    def cancel(self, process):  # type: ignore[no-untyped-def]
        self.cancelled.append(process)
        self.done.set()
        return True


def _screen() -> ApplyingScreen:
    screen = ApplyingScreen(("20250101000000_a",), detached=True)
    screen.running = True
    screen._log = lambda *a, **k: None  # type: ignore[method-assign]  # not mounted: nothing to draw
    screen._flush = lambda: None  # type: ignore[method-assign]
    return screen


def test_a_cancel_before_control_is_sent_once_control_is_taken(tmp_path: Path) -> None:
    screen = _screen()
    assert not screen.watching_only  # control not known yet: a stop must not leave the deploy running
    screen.cancel()
    assert screen.cancel_requested
    control, process = _Recorded(), object()
    screen.process = process  # type: ignore[assignment]
    screen.control = control
    screen._send_cancel()  # what the worker does right after taking control
    assert control.done.wait(5)
    screen._send_cancel()
    screen.cancel()
    assert control.cancelled == [process]  # once, however many ask


def test_a_cancel_after_control_is_sent_at_once_and_a_watching_view_sends_none() -> None:
    screen = _screen()
    control, process = _Recorded(), object()
    screen.process, screen.control = process, control  # type: ignore[assignment]
    screen.cancel()
    assert control.done.wait(5) and control.cancelled == [process]

    watcher = _screen()
    watcher.process, watcher.control = object(), {"who": "someone", "pid": 1}  # type: ignore[assignment]
    assert watcher.watching_only
    watcher.cancel()
    watcher._send_cancel()
    assert watcher.cancel_requested  # asked, but it is not this view's deploy to stop
