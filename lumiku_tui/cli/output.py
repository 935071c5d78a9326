"""Terminal and JSON output of the headless commands: colour, masking, errors, the target header."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, TextIO

from lumiku_tui.apply.wording import Line, error_lines
from lumiku_tui.errors import LumikuError
from lumiku_tui.redact import redact, redact_data, show_controls

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
        self._codes: set[str] = set()  # the colours style() has used: the only escapes line() lets through

    def style(self, text: str, code: str) -> str:
        if not self.colour:
            return text
        self._codes.add(code)
        return f"\033[{code}m{text}\033[0m"

    def render(self, line: Line) -> str:
        """Spans from `apply.wording` as terminal text: each tag becomes its colour."""
        return "".join(self.style(span.text, tag_code(span.tag)) if span.tag else span.text for span in line)

    def line(self, text: str = "") -> None:
        """One line: names and messages from folders and servers cannot add lines or steer the terminal."""
        self.stream.write(self._visible(redact(text)) + "\n")
        self.stream.flush()

    def _visible(self, text: str) -> str:
        """Control characters spelled out, except the colour codes this Out itself added."""
        if not self._codes:
            return show_controls(text)
        own = re.compile("(" + "|".join(re.escape(f"\033[{code}m") for code in (*self._codes, "0")) + ")")
        return "".join(piece if index % 2 else show_controls(piece)
                       for index, piece in enumerate(own.split(text)))

    def json(self, data: dict[str, Any]) -> None:
        # Masked before encoding: JSON spells a non-ASCII secret as \u escapes the text mask would miss.
        encoded = json.dumps(redact_data(data), default=lambda value: redact(str(value)))
        self.stream.write(redact(encoded) + "\n")
        self.stream.flush()

    def error(self, err: LumikuError) -> None:
        if self.json_mode:
            self.json({"event": "error", **err.to_dict()})
            return
        err_stream = sys.stderr
        colour = err_stream.isatty() and not os.environ.get("NO_COLOR")
        mark = "\033[31merror:\033[0m" if colour else "error:"
        headline, *rest = error_lines(err, indent="  ")
        err_stream.write(f"{mark} {_indented(headline[0].text)}\n")
        for line in rest:
            err_stream.write(_indented("".join(span.text for span in line)) + "\n")
        err_stream.flush()


#: Terminal colours for the semantic tags of `apply.wording` (colour first, then weight).
_TAG_CODES = {"ok": "32", "error": "31", "warn": "33", "strong": "1", "dim": "2"}


def tag_code(tag: str) -> str:
    words = tag.split()
    return ";".join(_TAG_CODES[word] for word in sorted(words, key=lambda w: w in ("strong", "dim")))


def _indented(text: str) -> str:
    """A server's multi-line message stays readable; its later lines are indented under the first, and
    no other control character reaches the terminal."""
    return "\n    ".join(show_controls(part) for part in redact(text).split("\n"))


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


