"""Resume instead of repair: where a migration that commits in parts picks up again.

A migration's parts commit one by one; its history row stays unfinished (Prisma reads it as failed)
until the last one commits, and its logs list each committed part with the SHA-256 of its text.

- Cut off between parts (killed, disconnected, timed out: not failed by its own SQL): a plain
  re-run continues from the first part that did not commit.
- Failed by its SQL in a later part: a plain deploy refuses (Prisma's P3009); `deploy --resume`,
  after the operator fixed the failing part, continues from it.

Either way only when every committed part is byte for byte what committed, and only when what those
parts left in the session can be set up again (SET, set_config): a temporary table, a prepared
statement, a LISTEN or a session advisory lock cannot, and the resume is refused before anything runs.
`resolve --rolled-back` means nothing of the migration remains: the next deploy runs the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumiku_tui.errors import PlanError
from lumiku_tui.prisma import history

if TYPE_CHECKING:
    from lumiku_tui.prisma.status import MigrationStatus
    from lumiku_tui.sql.split import MigrationPlan, Statement

#: Why a resume skips the committed parts (recorded in the row's logs and said in the JSON events).
CUT_OFF = "cut_off"
AFTER_SQL_ERROR = "resumed_after_sql_error"


@dataclass(frozen=True)
class Resume:
    """Where a migration that commits in parts picks up: after the parts already in the database."""

    skip: int  # parts 1..skip are committed and are not run again
    row_id: str  # the unfinished row to continue (finished when the last part commits)
    committed: tuple[history.CommittedPart, ...]
    #: Statements of the committed parts that set up the session; run again before the first part that runs.
    session: tuple["Statement", ...]
    because: str  # CUT_OFF or AFTER_SQL_ERROR
    message: str

    @property
    def skipped_parts(self) -> tuple[int, ...]:
        return tuple(range(1, self.skip + 1))


def _parts_range(count: int) -> str:
    return f"part{'s' if count > 1 else ''} 1{'-' + str(count) if count > 1 else ''}"


def changed_part(plan: "MigrationPlan", committed: "tuple[history.CommittedPart, ...]") -> int | None:
    """The first committed part whose text in the file is no longer byte for byte what committed; None: all are."""
    for position, done in enumerate(committed, start=1):
        if (done.number != position or position > len(plan.parts)
                or plan.parts[position - 1].checksum != done.checksum):
            return position
    return None


def failed_part_sql_error(status: "MigrationStatus") -> history.PartsProgress | None:
    """The progress of a migration in parts whose last attempt failed by its own SQL after committing parts."""
    row = status.failed_row
    progress = history.parse_progress(row.logs) if row is not None else None
    if progress is None or progress.stopped_by != "sql_error" or not progress.committed:
        return None
    return progress


def resume_of(status: "MigrationStatus", plan: "MigrationPlan", *, after_sql_error: bool = False
              ) -> Resume | PlanError | None:
    """Where a failed migration in parts resumes; a PlanError when it may not (said before anything runs);
    None when it is no migration in parts with committed parts (or failed by its SQL without `after_sql_error`)."""
    row = status.failed_row
    progress = history.parse_progress(row.logs) if row is not None else None
    if row is None or progress is None or not progress.committed:
        return None
    by_sql = progress.stopped_by == "sql_error"
    if by_sql and not after_sql_error:
        return None  # Prisma's P3009: the operator chooses (deploy --resume, or resolve)
    name = status.name
    kept = progress.count
    changed = changed_part(plan, progress.committed)
    if changed is not None:
        was = progress.committed[changed - 1]
        return PlanError(
            f"`{name}`: part {changed} (lines {was.first_line}-{was.last_line} when it committed) is in the database, "
            f"but {name}/migration.sql no longer holds it byte for byte; nothing was applied.",
            why=f"{_parts_range(kept).capitalize()} of this migration committed in an earlier run. A resume skips "
            "committed parts only when the file still holds exactly what committed; otherwise what is in the "
            "database and what the file says can no longer be told apart.",
            hint=f"Either restore {name}/migration.sql up to the COMMIT ending part {kept} as it was (from version "
            f"control) and deploy again{' with --resume' if by_sql else ''}: it continues from part {kept + 1}; or "
            f"undo by hand what {_parts_range(kept)} did, run `lumiku-tui resolve --rolled-back {name}`, and "
            "deploy: the whole file runs again.")
    if kept >= len(plan.parts):
        return None  # every part committed yet the row is unfinished: nothing to resume, the operator resolves
    session, refused = session_carry(plan, kept)
    if refused is not None:
        return PlanError(
            f"`{name}` cannot resume after {_parts_range(kept)}: statement {refused.index} (line {refused.line}), "
            f"`{refused.summary}`, left something in the session of the earlier run that a new session cannot get "
            "back; nothing was applied.",
            why="Temporary tables, prepared statements, cursors WITH HOLD, LISTEN and session advisory locks end "
            "with the session that made them. The parts still to run may rely on them, and would then fail or "
            "act on something else.",
            hint=f"Either finish the migration by hand and run `lumiku-tui resolve --applied {name}`; or undo by "
            f"hand what {_parts_range(kept)} did, run `lumiku-tui resolve --rolled-back {name}`, and deploy: the "
            "whole file runs again, in one session.")
    last = plan.parts[kept - 1]
    carried = (f" First the session is set up as {_parts_range(kept)} left it ({len(session)} statement(s): "
               + ", ".join(f"line {s.line}" for s in session) + ")." if session else "")
    if by_sql:
        failed = kept + 1
        message = (f"`{name}` failed by its SQL in part {failed} of {len(plan.parts)} in an earlier run; --resume "
                   f"continues from part {failed}: {_parts_range(kept)} (lines 1-{last.last_line}) committed then, "
                   f"{'are' if kept > 1 else 'is'} byte for byte unchanged, and will not run again.{carried}")
    else:
        when = f" (started {row.started_at:%Y-%m-%d %H:%M:%S %Z})" if row.started_at else ""
        message = (f"`{name}` was cut off after part {kept} of {len(plan.parts)} committed{when}: resuming with "
                   f"part {kept + 1}; {_parts_range(kept)} (lines 1-{last.last_line}) "
                   f"{'are' if kept > 1 else 'is'} already in the database, byte for byte unchanged, and will not "
                   f"run again.{carried}")
    return Resume(kept, row.id, progress.committed, session, AFTER_SQL_ERROR if by_sql else CUT_OFF, message)


# --- what committed parts leave in the session ------------------------------------------------------------

_SET_CONFIG_ONLY = re.compile(
    r"^\s*select\s+(?:pg_catalog\s*\.\s*)?set_config\s*\(\s*'(?:[^']|'')*'\s*,\s*(?:'(?:[^']|'')*'|null)\s*,"
    r"\s*(?:false|true)\s*\)\s*(?:as\s+\w+\s*)?;?\s*$", re.IGNORECASE)
_SESSION_LOCK = re.compile(r"\bpg_(?:try_)?advisory_lock(?:_shared)?\s*\(", re.IGNORECASE)
_SESSION_WORDS = re.compile(r"\b(?:set_config|search_path|temp|temporary|pg_temp|prepare|listen|set\s+role|"
                            r"session\s+authorization)\b", re.IGNORECASE)
_RUNS_CODE = {"DO", "CALL", "SELECT", "WITH", "VALUES", "EXECUTE"}


def session_carry(plan: "MigrationPlan", kept: int) -> tuple[tuple["Statement", ...], "Statement | None"]:
    """The statements of parts 1..kept to run again so a new session is as they left it, and the first
    statement whose effect on the session cannot be set up again (None: there is none)."""
    again: list[Statement] = []
    for part in plan.parts[:kept]:
        for stmt in part.statements:
            words = stmt.keywords
            first = words[:1]
            text = _body(stmt.text)
            if first == ("SET",):
                if words[1:2] in (("LOCAL",), ("TRANSACTION",), ("CONSTRAINTS",)):
                    continue  # ends with its transaction
                again.append(stmt)
            elif first in (("RESET",), ("DISCARD",), ("LOAD",)):
                again.append(stmt)  # run again in order, it undoes (or loads) exactly what it did then
            elif _SET_CONFIG_ONLY.match(text):
                again.append(stmt)
            elif first in (("PREPARE",), ("LISTEN",)) or (first == ("DECLARE",) and "HOLD" in words and
                                                          "WITHOUT" not in words):
                return tuple(again), stmt
            elif first == ("CREATE",) and (set(words[1:4]) & {"TEMP", "TEMPORARY"} or "pg_temp" in text.lower()):
                return tuple(again), stmt
            elif first and first[0] in _RUNS_CODE and (
                    _SESSION_LOCK.search(text) or (first[0] != "VALUES" and _SESSION_WORDS.search(text))):
                # Runs code that may change the session in ways that cannot be read back: not certain.
                return tuple(again), stmt
    return tuple(again), None


def _body(text: str) -> str:
    """The statement without its leading comments."""
    from lumiku_tui.sql.split import _strip_leading_comments

    return _strip_leading_comments(text)


__all__ = ["AFTER_SQL_ERROR", "CUT_OFF", "Resume", "changed_part", "failed_part_sql_error", "resume_of",
           "session_carry"]
