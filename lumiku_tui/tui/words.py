"""`apply.wording`'s lines drawn with Rich: one place that maps its tags to styles."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from lumiku_tui.apply.wording import Line, Span, Voice, error_lines
from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.locks import Backend
from lumiku_tui.tui.context import Presentation

_TAG_STYLES = {"ok": "green", "error": "red", "warn": "yellow", "strong": "bold", "dim": "dim"}


def style_of(tag: str) -> str:
    return " ".join(_TAG_STYLES[word] for word in tag.split())


def rich_line(line: Sequence[Span], present: Presentation | None = None) -> Text:
    text = Text()
    for span in line:
        text.append(present.text(span.text) if present is not None else span.text, style=style_of(span.tag))
    return text


def rich_lines(lines: Sequence[Line], present: Presentation | None = None) -> Text:
    return Text("\n").join(rich_line(line, present) for line in lines)


def session_text(session: Backend, present: Presentation) -> str:
    """Another session as the wizard draws it (pinned for snapshots)."""
    if present.fixed_sessions:
        return f"pid ----- ({session.application_name or 'an unnamed client'}, user {session.user})"
    return present.text(session.describe())


def voice(present: Presentation, *, summary_width: int = 60) -> Voice:
    return Voice(statement_duration=lambda ms: f"{present.duration(ms):>8}",
                 migration_duration=present.duration,
                 deploy_duration=present.duration,
                 session=lambda s: session_text(s, present),
                 text=present.text,
                 summary_width=max(10, summary_width))


def error_rich(err: BaseException, present: Presentation, *, extra: str = "") -> Text:
    """The one way a screen draws an error: what, why, next step (and a screen's own pointer after)."""
    if isinstance(err, LumikuError):
        text = rich_lines(error_lines(err), present)
    else:
        text = Text(present.text(f"{type(err).__name__}: {err}"), style="red")
    if extra:
        text.append("\n" + extra)
    return text
