"""Terminal and JSON output of the headless commands: colour, masking, errors, the target header."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from lumiku_tui.apply.wording import Line, error_lines
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import redact

EXIT_OK = 0
EXIT_ATTENTION = 1  # something pending/failed, or a migration failed
EXIT_USAGE = 2  # bad input, cannot connect, not approved


class Out:
    """Writes lines for a person (with colour on a terminal unless NO_COLOR) or JSON lines."""

    def __init__(self, stream: TextIO | None = None, *, json_mode: bool = False) -> None:
        stream = stream or sys.stdout
        self.stream = stream
        self.json_mode = json_mode
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"

    def style(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def render(self, line: Line) -> str:
        """Spans from `apply.wording` as terminal text: each tag becomes its colour."""
        return "".join(self.style(span.text, tag_code(span.tag)) if span.tag else span.text for span in line)

    def line(self, text: str = "") -> None:
        self.stream.write(redact(text) + "\n")
        self.stream.flush()

    def json(self, data: dict[str, Any]) -> None:
        self.stream.write(redact(json.dumps(data, default=str)) + "\n")
        self.stream.flush()

    def error(self, err: LumikuError) -> None:
        if self.json_mode:
            self.json({"event": "error", **err.to_dict()})
            return
        err_stream = sys.stderr
        colour = err_stream.isatty() and not os.environ.get("NO_COLOR")
        mark = "\033[31merror:\033[0m" if colour else "error:"
        headline, *rest = error_lines(err, indent="  ")
        err_stream.write(redact(f"{mark} {headline[0].text}\n"))
        for line in rest:
            err_stream.write(redact("".join(span.text for span in line) + "\n"))
        err_stream.flush()


#: Terminal colours for the semantic tags of `apply.wording` (colour first, then weight).
_TAG_CODES = {"ok": "32", "error": "31", "warn": "33", "strong": "1", "dim": "2"}


def tag_code(tag: str) -> str:
    words = tag.split()
    return ";".join(_TAG_CODES[word] for word in sorted(words, key=lambda w: w in ("strong", "dim")))



STATE_STYLE = {
    "applied": ("applied", "32"),
    "pending": ("pending", "33;1"),
    "failed": ("FAILED", "31;1"),
    "rolled_back": ("rolled back", "33"),
    "modified": ("MODIFIED", "35;1"),
    "missing_locally": ("missing locally", "35"),
}


def describe_target(out: Out, target, folder) -> None:
    out.line(f"Target      {target.display}  ({target.origin})")
    out.line(f"Migrations  {folder.path}  ({folder.how_found}; {len(folder.migrations)} migrations)")
    for note in target.notes:
        out.line(out.style(f"Note        {note}", "33"))


