"""Deploy and rehearsal events as terminal lines (or JSON lines with --json)."""

from __future__ import annotations

import threading
from typing import Any, Callable

from lumiku_tui.cli.output import Out


def event_printer(out: Out) -> Callable[[Any], None]:
    from lumiku_tui.apply import events as ev

    lock = threading.Lock()

    def show(event: ev.Event) -> None:
        with lock:
            if out.json_mode:
                out.json(event.to_dict())
                return
            if isinstance(event, ev.LockWaiting):
                holders = "; ".join(h.describe() for h in event.holders) or "another session"
                out.line(out.style(f"Waiting for Prisma's migration lock ({event.waited_ms / 1000:.0f}/"
                                   f"{event.limit_ms / 1000:.0f} s), held by {holders}", "33"))
            elif isinstance(event, ev.DeployPlanned):
                if event.migrations:
                    out.line(f"Applying {len(event.migrations)} migration(s), {event.statements} statement(s), "
                             f"to {event.target}")
            elif isinstance(event, ev.MigrationStarted):
                how = "one transaction" if event.transactional else "outside a transaction"
                if event.parts > 1:
                    how = (f"{event.parts} transactions, committing at line(s) "
                           f"{', '.join(map(str, event.commit_points))} and at the end")
                out.line(out.style(f"[{event.position}/{event.total}] {event.name}", "1")
                         + f"  ({event.statements} statement(s), {how})")
            elif isinstance(event, ev.StatementFinished):
                if not getattr(out, "quiet", False):
                    summary = event.summary if len(event.summary) <= 60 else event.summary[:57] + "..."
                    timing = f"{event.duration_ms:8.1f} ms" if event.duration_ms is not None else ""
                    rows = f"{event.rowcount} row(s)" if event.rowcount >= 0 else ""
                    out.line(f"      {event.position:>3}/{event.count}  {summary:<60} "
                             f"{out.style(timing or rows, '2')}")
            elif isinstance(event, ev.BlockedByLock):
                who = "; ".join(b.describe() for b in event.blockers)
                out.line(out.style(f"      waiting {event.waited_ms / 1000:.1f} s for a table lock held by {who}",
                                   "33"))
            elif isinstance(event, ev.MigrationFinished):
                out.line(out.style(f"      applied in {event.duration_ms:.0f} ms", "32"))
            elif isinstance(event, ev.MigrationFailed):
                where = ""
                if event.statement_index is not None:
                    where = f" at statement {event.statement_index} (line {event.line}"
                    where += f", column {event.column})" if event.column else ")"
                out.line(out.style(f"  ✗ {event.name} failed{where}: {event.message}", "31;1"))
                if event.sqlstate:
                    out.line(f"    SQLSTATE {event.sqlstate}")
                if event.detail:
                    out.line(f"    DETAIL: {event.detail}")
                if event.hint:
                    out.line(f"    HINT: {event.hint}")
                if event.statement:
                    first = " ".join(event.statement.split())
                    out.line(f"    statement: {first[:200]}")
                if event.rolled_back:
                    out.line("    Rolled back: nothing of this migration was kept; the database is as it was "
                             "before it.")
                if event.recorded_failed:
                    out.line("    Recorded as failed in _prisma_migrations (Prisma sees it failed too).")
                out.line(f"    Next step: {event.next_step}")
            elif isinstance(event, ev.Notice):
                out.line(out.style(f"note: {event.message}", "33"))
            elif isinstance(event, ev.DeployFinished):
                if event.failed is None and event.applied:
                    out.line(out.style(f"Applied {len(event.applied)} migration(s) in "
                                       f"{event.duration_ms / 1000:.1f} s.", "32;1"))

    return show
