"""The words for deploy events and errors, written once for both front ends.

Each function returns lines of `Span`s: plain text plus a semantic tag ("ok", "error",
"warn", "dim", "strong", or several separated by spaces). No ANSI, no Rich: the CLI turns
tags into terminal colours, the wizard into Rich styles. What varies between the front ends
(how a duration or another session is drawn, how wide a summary may be) is passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lumiku_tui.apply import events as ev
from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.locks import Backend

#: The tags a span may carry (space-separated for several).
TAGS = ("ok", "error", "warn", "dim", "strong")


@dataclass(frozen=True)
class Span:
    text: str
    tag: str = ""


Line = tuple[Span, ...]


def plain(line: Sequence[Span]) -> str:
    return "".join(span.text for span in line)


def _ms(ms: float | None) -> str:
    return f"{ms:8.1f} ms" if ms is not None else ""


def _describe(session: Backend) -> str:
    return session.describe()


@dataclass(frozen=True)
class Voice:
    """How one front end draws the volatile parts of a sentence."""

    #: A duration for a statement's timing column (None: not timed one by one).
    statement_duration: Callable[[float | None], str] = _ms
    #: A migration's total duration.
    migration_duration: Callable[[float], str] = lambda ms: f"{ms:.0f} ms"
    #: The whole deploy's duration.
    deploy_duration: Callable[[float], str] = lambda ms: f"{ms / 1000:.1f} s"
    #: Another session (lock holder, blocker).
    session: Callable[[Backend], str] = _describe
    #: Free text from the server or the engine (messages, paths), e.g. with paths aliased.
    text: Callable[[str], str] = lambda value: value
    #: Room for a statement's one-line summary.
    summary_width: int = 60
    #: Statement lines are left out (the CLI's --quiet).
    quiet: bool = False


CLI_VOICE = Voice()


def cut(text: str, width: int) -> str:
    """One line of at most `width` characters; a cut is always marked with "..."."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..."


def holders(sessions: Sequence[Backend], voice: Voice = CLI_VOICE) -> str:
    return "; ".join(voice.session(s) for s in sessions) or "another session"


def lock_waiting(event: ev.LockWaiting, voice: Voice = CLI_VOICE) -> str:
    return (f"Waiting for Prisma's migration lock ({event.waited_ms / 1000:.0f}/{event.limit_ms / 1000:.0f} s), "
            f"held by {holders(event.holders, voice)}")


def table_lock_wait(event: ev.BlockedByLock, voice: Voice = CLI_VOICE) -> str:
    """The banner's sentence while a statement waits for a table lock."""
    which = f"Statement {event.index}" if event.index is not None else "A statement"
    return f"{which} is waiting for a table lock held by {holders(event.blockers, voice)}"


def failed_where(event: ev.MigrationFailed) -> str:
    if event.statement_index is None:
        return ""
    # Numbered as the log numbered it while it ran.
    number = event.position if event.position is not None else event.statement_index
    where = f" at statement {number} (line {event.line}"
    return where + (f", column {event.column})" if event.column else ")")


def event_lines(event: ev.Event, voice: Voice = CLI_VOICE, *, full: bool = True) -> list[Line]:
    """The log lines for one event (none for events a log does not show).

    `full=False` gives a failed migration's headline and its rollback only; the wizard shows
    the rest on its failure screen.
    """
    if isinstance(event, ev.LockWaiting):
        return [(Span(lock_waiting(event, voice), "warn"),)]
    if isinstance(event, ev.DeployPlanned):
        if not event.migrations:
            return []
        return [(Span(f"Applying {len(event.migrations)} migration(s), {event.statements} statement(s), "
                      f"to {event.target}"),)]
    if isinstance(event, ev.MigrationStarted):
        how = "one transaction" if event.transactional else "outside a transaction"
        if event.parts > 1:
            how = (f"{event.parts} transactions, committing at line(s) "
                   f"{', '.join(map(str, event.commit_points))} and at the end")
        if event.skipped_parts:
            skipped = event.skipped_parts
            how += (f"; part{'s' if len(skipped) > 1 else ''} {', '.join(map(str, skipped))} skipped: committed by "
                    "an earlier run, byte for byte unchanged")
        return [(Span(f"[{event.position}/{event.total}] {event.name}", "strong"),
                 Span(f"  ({event.statements} statement(s), {how})"))]
    if isinstance(event, ev.StatementFinished):
        if voice.quiet:
            return []
        width = voice.summary_width
        summary = event.summary if len(event.summary) <= width else event.summary[: width - 3] + "..."
        timing = voice.statement_duration(event.duration_ms)
        rows = f"{event.rowcount} row(s)" if event.rowcount >= 0 else ""
        return [(Span(f"      {event.position:>3}/{event.count}  {summary:<{width}} "),
                 Span(timing or rows, "dim"))]
    if isinstance(event, ev.StatementsFinished):
        if voice.quiet:
            return []
        last = event.position + len(event.rowcounts) - 1
        rows = sum(count for count in event.rowcounts if count >= 0)
        sent = f"{len(event.rowcounts)} statement(s) in one script"
        return [(Span(f"      {event.position:>3}-{last}/{event.count}  {sent} "), Span(f"{rows} row(s)", "dim"))]
    if isinstance(event, ev.BlockedByLock):
        return [(Span(f"      waiting {event.waited_ms / 1000:.1f} s for a table lock held by "
                      f"{holders(event.blockers, voice)}", "warn"),)]
    if isinstance(event, ev.MigrationFinished):
        return [(Span(f"      applied in {voice.migration_duration(event.duration_ms)}", "ok"),)]
    if isinstance(event, ev.MigrationFailed):
        return _failed(event, voice, full)
    if isinstance(event, ev.Precheck):
        mark = Span("ok  ", "ok") if event.ok else Span("FAIL", "error strong")
        detail = event.found if event.ok else f"expected {event.expected}, found {event.found}"
        return [(Span("Precheck    "), mark, Span(f" {event.name} (before {event.migration}): {detail}"))]
    if isinstance(event, ev.Notice):
        return [(Span(f"note: {voice.text(event.message)}", "warn"),)]
    if isinstance(event, ev.DeployFinished):
        if event.failed is None and event.applied:
            return [(Span(f"Applied {len(event.applied)} migration(s) in {voice.deploy_duration(event.duration_ms)}.",
                          "ok strong"),)]
        return []
    return []


def _failed(event: ev.MigrationFailed, voice: Voice, full: bool) -> list[Line]:
    lines: list[Line] = [(Span(f"  ✗ {event.name} failed{failed_where(event)}: {voice.text(event.message)}",
                               "error strong"),)]
    if full:
        if event.sqlstate:
            lines.append((Span(f"    SQLSTATE {event.sqlstate}"),))
        if event.detail:
            lines.append((Span(f"    DETAIL: {voice.text(event.detail)}"),))
        if event.hint:
            lines.append((Span(f"    HINT: {voice.text(event.hint)}"),))
        if event.statement:
            first = " ".join(event.statement.split())
            lines.append((Span(f"    statement: {first[:200]}"),))
    if event.reason == "precheck":
        lines.append((Span("    Not started: nothing of this migration ran."),))
    elif event.rolled_back:
        lines.append((Span("    Rolled back: nothing of this migration was kept; the database is as it was before "
                           "it."),))
    if full:
        if event.recorded_failed:
            lines.append((Span("    Recorded as failed in _prisma_migrations (Prisma sees it failed too)."),))
        lines.append((Span(f"    Next step: {event.next_step}"),))
    return lines


def error_lines(err: LumikuError, *, indent: str = "") -> list[Line]:
    """What happened, why, and the next step: the one rendering of a LumikuError."""
    lines: list[Line] = [(Span(err.what, "error"),)]
    if err.why:
        lines.append((Span(f"{indent}{err.why}"),))
    if err.hint:
        lines.append((Span(f"{indent}Next step: {err.hint}"),))
    return lines


def error_text(err: BaseException) -> str:
    """An error as plain text: a LumikuError's own words, anything else with its type."""
    if isinstance(err, LumikuError):
        return "\n".join(plain(line) for line in error_lines(err))
    return f"{type(err).__name__}: {err}"
