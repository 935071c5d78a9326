"""Resume instead of repair: where a migration that commits in parts picks up again.

A migration cut off between its parts (killed, disconnected, timed out: not failed by its own SQL)
resumes on a plain re-run after the parts already committed. One that failed by its SQL in a later
part resumes after `resolve --rolled-back`, skipping the committed parts whose text is unchanged.
What committed is read from the history row (`prisma.history.parse_progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumiku_tui.prisma import history

if TYPE_CHECKING:
    from lumiku_tui.prisma.status import MigrationStatus
    from lumiku_tui.sql.split import MigrationPlan


@dataclass(frozen=True)
class Resume:
    """Where a migration that commits in parts picks up: after the parts already in the database."""

    skip: int  # parts 1..skip are committed and are not run again
    row_id: str | None  # the unfinished row to continue; None: a new row (the last one was rolled back)
    committed: tuple[history.CommittedPart, ...]
    message: str



def unchanged_prefix(plan: "MigrationPlan", committed: "tuple[history.CommittedPart, ...]") -> int:
    """How many leading parts were committed and still read exactly as they did then."""
    count = 0
    for part, done in zip(plan.parts, committed):
        if done.number != part.number or done.checksum != part.checksum or done.total != len(plan.parts):
            break
        count += 1
    return count


def resume_after_rollback(plan: "MigrationPlan", rows: "tuple[history.HistoryRow, ...]") -> Resume | None:
    """After `resolve --rolled-back` of a migration that failed in a later part: skip the parts it committed.

    Only the parts whose text is unchanged are skipped; the first changed part and everything after it run.
    """
    if len(plan.parts) < 2 or not rows:
        return None
    last = rows[-1]
    progress = history.parse_progress(last.logs) if last.is_rolled_back else None
    if progress is None or not progress.committed:
        return None
    skip = unchanged_prefix(plan, progress.committed)
    changed = progress.count - skip
    if skip == 0:
        return None
    note = (f" Part {skip + 1} changed since it committed, so it runs again{' with the rest' if changed > 1 else ''}."
            if changed > 0 else "")
    return Resume(skip, None, progress.committed[:skip],
                  f"`{plan.name}` failed in part {progress.count + 1} of an earlier run (resolved as rolled back); "
                  f"part{'s' if skip > 1 else ''} 1{'-' + str(skip) if skip > 1 else ''} committed then and "
                  f"{'are' if skip > 1 else 'is'} unchanged, so {'they are' if skip > 1 else 'it is'} not run "
                  f"again; deploying from part {skip + 1}.{note}")


def resume_after_cut(status: "MigrationStatus", plan: "MigrationPlan") -> Resume | None:
    """A migration in parts whose run was cut off between parts (not failed by its SQL) resumes.

    `plan` is the plan of `status.local` (apply/plan.py makes it, once)."""
    row = status.failed_row
    progress = history.parse_progress(row.logs) if row is not None else None
    if row is None or progress is None or status.local is None or progress.stopped_by == "sql_error":
        return None
    if not status.local.matches(row.checksum):
        return None  # the file changed since: the operator decides (resolve), not a silent resume
    skip = unchanged_prefix(plan, progress.committed)
    if skip != progress.count or skip == 0:
        return None
    when = f" on {row.started_at:%Y-%m-%d %H:%M:%S %Z}" if row.started_at else ""
    return Resume(skip, row.id, progress.committed,
                  f"`{status.name}` was cut off after part {skip} of {len(plan.parts)} committed (started{when}): "
                  f"resuming with part {skip + 1}; part{'s' if skip > 1 else ''} 1"
                  f"{'-' + str(skip) if skip > 1 else ''} (lines 1-{plan.parts[skip - 1].last_line}) "
                  f"{'are' if skip > 1 else 'is'} already in the database and will not run again.")


__all__ = ["Resume", "resume_after_cut", "resume_after_rollback", "unchanged_prefix"]
