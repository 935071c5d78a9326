"""Deploy and rehearsal events as terminal lines (or JSON lines with --json); the words are `apply.wording`'s."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Callable

from lumiku_tui.apply.wording import CLI_VOICE, event_lines
from lumiku_tui.cli.output import Out


def event_printer(out: Out) -> Callable[[Any], None]:
    lock = threading.Lock()
    voice = replace(CLI_VOICE, quiet=bool(getattr(out, "quiet", False)))  # once: a data migration has 100,000s

    def show(event: Any) -> None:
        with lock:
            if out.json_mode:
                out.json(event.to_dict())
                return
            for line in event_lines(event, voice):
                out.line(out.render(line))

    return show
