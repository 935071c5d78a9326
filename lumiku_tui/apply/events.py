"""What the engine reports while it works. Front ends render these; they decide nothing.

Events are plain frozen dataclasses. `to_dict` gives the JSON line the CLI prints with
`--json`; the `event` key names the type in snake_case.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from lumiku_tui.pg.locks import Backend

if TYPE_CHECKING:
    from lumiku_tui.sql.split import Statement


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in list(data.items()):
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return {"event": _snake(type(self).__name__), **_jsonable(data)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Notice(Event):
    """Something the operator should read; not an error."""

    message: str


@dataclass(frozen=True)
class LockWaiting(Event):
    """Prisma's advisory lock is held by someone else; we are waiting for it."""

    waited_ms: int
    limit_ms: int
    holders: tuple[Backend, ...]


@dataclass(frozen=True)
class LockAcquired(Event):
    waited_ms: int


@dataclass(frozen=True)
class DeployPlanned(Event):
    target: str
    migrations: tuple[str, ...]
    statements: int


@dataclass(frozen=True)
class MigrationStarted(Event):
    name: str
    position: int  # 1-based among the migrations of this deploy
    total: int
    statements: int
    transactional: bool
    #: Transactions it runs in: more than one when the script commits on its own (not atomic).
    parts: int = 1
    #: Lines of the script's own COMMITs that end a part; the last part commits at the end.
    commit_points: tuple[int, ...] = ()
    #: Parts not run in this run because an earlier run committed them (a resume), and why it resumed
    #: ("cut_off": a plain re-run continues; "resumed_after_sql_error": `deploy --resume`).
    skipped_parts: tuple[int, ...] = ()
    resumed_because: str = ""


@dataclass(frozen=True)
class StatementStarted(Event):
    migration: str
    index: int  # 1-based in the file
    position: int  # 1-based among the statements sent
    count: int
    line: int
    summary: str


@dataclass(frozen=True)
class StatementFinished(Event):
    migration: str
    index: int
    position: int
    count: int
    duration_ms: float | None  # None: sent in a pipeline, not timed one by one
    rowcount: int
    summary: str = ""


@dataclass(frozen=True)
class StatementsFinished(Event):
    """Statements of a migration read from its file in windows, sent as one script and answered, told together:
    a data migration of 100,000s of statements is told (and journaled) in a few hundred of these, not in one
    event each. Their indexes and positions follow the first one's."""

    migration: str
    index: int  # the first one's, 1-based in the file
    position: int  # the first one's, 1-based among the statements sent
    count: int  # the statements the migration sends
    rowcounts: tuple[int, ...]  # each one's row count (-1: none), in order


@dataclass(frozen=True)
class StatementResults:
    """The results of statements sent together (pipelined), handed over at once and told as one
    StatementFinished each, made only as they are delivered: a data migration of 100,000s of
    statements never holds all its events in memory. Not an event itself: front ends see only the
    StatementFinished it stands for."""

    migration: str
    statements: "Sequence[Statement]"
    rowcounts: Sequence[int]
    first_position: int
    count: int
    #: Each event with its statement's first words (False: without, as a rehearsal tells its statements).
    summaries: bool = True
    #: Told as one StatementsFinished (consecutive statements of a migration read from its file in windows).
    together: bool = False

    def events(self) -> Iterator["StatementFinished | StatementsFinished"]:
        if self.together:
            if self.statements:
                yield StatementsFinished(self.migration, self.statements[0].index, self.first_position, self.count,
                                         tuple(self.rowcounts))
            return
        for position, (stmt, rows) in enumerate(zip(self.statements, self.rowcounts), start=self.first_position):
            yield StatementFinished(self.migration, stmt.index, position, self.count, None, rows,
                                    stmt.summary if self.summaries else "")


@dataclass(frozen=True)
class BlockedByLock(Event):
    """A statement is waiting for a table lock held by other sessions."""

    migration: str
    index: int | None  # None: the waiting statement could not be told
    waited_ms: int
    blockers: tuple[Backend, ...]


@dataclass(frozen=True)
class MigrationFinished(Event):
    name: str
    duration_ms: float
    statements: int


@dataclass(frozen=True)
class MigrationFailed(Event):
    name: str
    statement_index: int | None
    line: int | None
    column: int | None
    statement: str
    sqlstate: str
    message: str
    detail: str
    hint: str
    duration_ms: float
    #: sql_error | lock_timeout | statement_timeout | cancelled | connection_lost | changed_since_approval (the
    #: file is not the one approved; nothing of it ran) | commit_in_doubt (the link died after COMMIT was sent
    #: and the server could not be asked whether it committed) | precheck (a runbook precheck that guards it
    #: failed: it never started)
    reason: str
    rolled_back: bool  # PostgreSQL undid every change of this migration
    recorded_failed: bool  # a failed row was written (Prisma will refuse to deploy until resolved)
    next_step: str = ""
    blockers: tuple[Backend, ...] = field(default=())
    #: The failing statement's number as the log numbers it (among the statements sent); statement_index is
    #: its place in the file, which counts the script's own BEGIN/COMMIT.
    position: int | None = None


@dataclass(frozen=True)
class Precheck(Event):
    """A runbook precheck that guards `migration` ran right before it (on the database the earlier
    migrations of the batch left)."""

    migration: str
    name: str
    expected: str
    found: str
    ok: bool


@dataclass(frozen=True)
class DeployFinished(Event):
    applied: tuple[str, ...]
    failed: str | None
    duration_ms: float


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    return None
