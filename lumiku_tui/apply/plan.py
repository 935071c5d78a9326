"""The pending batch: what the next deploy applies, worked out once for every reader.

Deploy, rehearsal, lint, the safety gate, `init`, the CLI's approval and the wizard's preview
all ask the same question ("what will the next deploy run, and how?"). Each used to answer it
on its own, and a migration that a deploy resumes (cut off between its parts) was left out of
lint and the gate. `plan_batch` answers it from the history's states: the migrations to apply
in order, each one's statements and parts, where a resumed one picks up, and the notices.

Splitting a script goes through `statements_of` / `plan_of` here, memoised, so the preview,
the safety analysis and the deploy split each script once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterator, Mapping, Protocol, Sequence

from lumiku_tui.apply.resume import Resume, failed_part_sql_error, resume_of
from lumiku_tui.errors import DeployBlocked, PlanError
from lumiku_tui.prisma.folder import LocalMigration, prisma_sort_key
from lumiku_tui.prisma.status import MigrationStatus, State
from lumiku_tui.sql.remembered import plan_remembered
from lumiku_tui.sql.streamed import StatementStream, plan_streamed
from lumiku_tui.sql.split import MigrationPlan, Statement, split_statements

if TYPE_CHECKING:
    from pathlib import Path

    from lumiku_tui.prisma.status import StatusReport


#: Plans kept in memory: more than a long history's migrations, so the gate's lint and the deploy after it
#: split each script once (a plan holds small objects pointing into the script its migration already holds).
PLANS_KEPT = 4096


@functools.lru_cache(maxsize=PLANS_KEPT)
def plan_of(migration: "LocalMigration") -> MigrationPlan:
    """How `migration` runs (memoised, and remembered between runs: sql/remembered.py); raises PlanError for a
    script the deploy refuses."""
    if migration.streamed:
        streamed = plan_streamed(migration)
        if streamed is not None:
            return streamed
    return plan_remembered(migration)


class Script(Protocol):
    """A migration's SQL, or a piece of it attributed to one (hashable: splits are memoised)."""

    @property
    def name(self) -> str: ...

    @property
    def script(self) -> str: ...


@functools.lru_cache(maxsize=4096)
def _statements(script: Script) -> tuple[Statement, ...]:
    return tuple(split_statements(script.script))


def statements_of(migration: Script) -> tuple[Statement, ...]:
    """Every statement of the script as written, BEGIN/COMMIT included (memoised); raises PlanError when the
    script cannot even be split. Also for a script the deploy refuses to plan, so it can still be shown."""
    if isinstance(migration, LocalMigration):
        try:
            return plan_of(migration).all_statements  # planned already, or about to be: one split
        except PlanError:
            pass
    return _statements(migration)


class _Shifted(Mapping[int, int]):
    """File index -> number sent, for a streamed migration: the index less the statements skipped before."""

    def __init__(self, skipped: int, count: int) -> None:
        self._skipped = skipped
        self._count = count

    def __getitem__(self, index: int) -> int:
        number = index - self._skipped
        if type(index) is not int or not 1 <= number <= self._count:
            raise KeyError(index)
        return number

    def __iter__(self) -> Iterator[int]:
        return iter(range(1 + self._skipped, 1 + self._skipped + self._count))

    def __len__(self) -> int:
        return self._count


def sent_numbers(migration: "LocalMigration") -> Mapping[int, int]:
    """File index -> the statement's number as the deploy sends and logs it (1-based among the statements
    sent). The one numbering every screen, finding and log uses: the script's own BEGIN/COMMIT are not sent
    and have no number. For a script the deploy refuses (nothing is sent), the file's own order."""
    try:
        plan = plan_of(migration)
        if isinstance(plan.statements, StatementStream):
            # Every statement of the file is sent but a BEGIN and a COMMIT around them all.
            return _Shifted(1 if plan.wrapped else 0, len(plan.statements))
        return {s.index: number for number, s in enumerate(plan.statements, 1)}
    except PlanError:
        pass
    try:
        return {s.index: s.index for s in statements_of(migration)}
    except PlanError:
        return {}


@dataclass(frozen=True)
class PendingMigration:
    """One migration of the batch: its history state, how it runs, and where it resumes (if it does)."""

    status: MigrationStatus
    local: "LocalMigration"
    #: The operator chose to continue a migration in parts that failed by its SQL (`deploy --resume`).
    resume_requested: bool = False

    @property
    def name(self) -> str:
        return self.status.name

    @cached_property
    def plan_error(self) -> PlanError | None:
        try:
            plan_of(self.local)
        except PlanError as refused:
            return refused
        return None

    @property
    def plan(self) -> MigrationPlan:
        """Raises the PlanError the deploy refuses this migration with."""
        return plan_of(self.local)

    @property
    def statements(self) -> tuple[Statement, ...]:
        """Every statement as written (raises PlanError only when not even splitting works)."""
        return statements_of(self.local)

    @cached_property
    def _resume(self) -> Resume | PlanError | None:
        # Only a failed row can leave parts behind (rolled back means nothing of it remains: the whole file
        # runs): asked first, so a migration never tried is not split just to learn it has nothing to resume.
        if self.status.state is not State.FAILED or self.plan_error is not None:
            return None
        return resume_of(self.status, self.plan, after_sql_error=self.resume_requested)

    @property
    def resume(self) -> Resume | None:
        """Where the deploy picks this migration up, when parts of it are already committed."""
        found = self._resume
        return found if isinstance(found, Resume) else None

    @property
    def resume_refused(self) -> PlanError | None:
        """Why a failed migration in parts may not resume (a changed committed part, session state lost)."""
        found = self._resume
        return found if isinstance(found, PlanError) else None

    @property
    def skip(self) -> int:
        """Parts already committed that the deploy does not run again."""
        return self.resume.skip if self.resume is not None else 0

    @property
    def committed_statements(self) -> frozenset[int]:
        """Indexes (in the file) of the statements of the parts already committed."""
        if not self.skip:
            return frozenset()
        return frozenset(s.index for part in self.plan.parts[:self.skip] for s in part.statements)

    @property
    def attempted(self) -> bool:
        """The history shows an earlier attempt: a re-run of its statements is real."""
        return bool(self.status.rows)


@dataclass(frozen=True)
class PendingBatch:
    """What the next deploy applies, in order, and what blocks it."""

    statuses: tuple[MigrationStatus, ...]
    migrations: tuple[PendingMigration, ...]
    #: Failed migrations the deploy cannot resume: Prisma's P3009 refuses every deploy while one is recorded.
    blocked: tuple[MigrationStatus, ...]
    folder_path: "Path | None" = None
    #: Per blocked migration in parts, why it may not resume (said instead of the plain P3009).
    refusals: tuple[PlanError, ...] = ()

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.migrations]

    @property
    def locals(self) -> list["LocalMigration"]:
        return [m.local for m in self.migrations]

    def get(self, name: str) -> PendingMigration | None:
        return next((m for m in self.migrations if m.name == name), None)

    @property
    def resuming(self) -> list[PendingMigration]:
        return [m for m in self.migrations if m.resume is not None]

    @property
    def attempted(self) -> set[str]:
        """Migrations tried before (failed, then cut off or resolved as rolled back)."""
        return {m.name for m in self.migrations if m.attempted}

    @property
    def committed_statements(self) -> dict[str, frozenset[int]]:
        """Per resumed migration, the statements already in the database (not run again, not judged again)."""
        return {m.name: m.committed_statements for m in self.migrations if m.skip}

    def plans(self) -> list[MigrationPlan]:
        """Every migration's plan; raises the first PlanError, as the deploy refuses before running anything."""
        return [m.plan for m in self.migrations]

    def refuse_blocked(self) -> None:
        """Raise DeployBlocked (Prisma's P3009) when a failed migration is recorded that no deploy resumes."""
        if self.refusals:
            raise self.refusals[0]
        if not self.blocked:
            return
        first = self.blocked[0]
        started = f" started at {first.started_at:%Y-%m-%d %H:%M:%S %Z}" if first.started_at else ""
        progress = failed_part_sql_error(first)
        if progress is not None:
            kept, failed = progress.count, progress.count + 1
            parts = f"part{'s' if kept > 1 else ''} 1{'-' + str(kept) if kept > 1 else ''}"
            raise DeployBlocked(
                f"The migration `{first.name}`{started} failed by its SQL in part {failed}, after {parts} "
                "committed; no migration was applied.",
                failed=[s.name for s in self.blocked],
                why=f"Prisma (P3009) and lumiku-tui refuse to apply anything while a failed migration is recorded: "
                f"{parts} of it {'are' if kept > 1 else 'is'} in the database, part {failed} is not.",
                hint=f"Choose one: fix part {failed} in {first.name}/migration.sql and run `lumiku-tui deploy --resume` "
                f"(it continues from part {failed}; {parts} {'are' if kept > 1 else 'is'} not run again, and only if "
                f"{'they are' if kept > 1 else 'it is'} byte for byte unchanged); or undo by hand what {parts} did, "
                f"run `lumiku-tui resolve --rolled-back {first.name}` and deploy (the whole file runs again); or "
                f"finish the migration by hand and run `lumiku-tui resolve --applied {first.name}` (nothing of it "
                "runs).",
            )
        raise DeployBlocked(
            f"The migration `{first.name}`{started} failed and is not resolved; no migration was applied.",
            failed=[s.name for s in self.blocked],
            why="Prisma (P3009) and lumiku-tui refuse to apply new migrations while a failed one is "
            "recorded: the database may hold part of it.",
            hint=f"Check what `{first.name}` left behind, then either fix the database by hand and run "
            f"`lumiku-tui resolve --applied {first.name}`, or make sure nothing of it remains and run "
            f"`lumiku-tui resolve --rolled-back {first.name}` (it will be applied again on the next deploy).",
        )

    def refuse_unapproved(self, approved: Sequence[str] | None) -> None:
        """The operator approved a list; refuse when what is pending now differs from it."""
        if approved is not None and self.migrations and tuple(self.names) != tuple(approved):
            raise PlanError(
                "The pending migrations changed since they were approved; nothing was applied.",
                why="Approved: " + (", ".join(approved) or "none") + ". Pending now: " + ", ".join(self.names) + ".",
                hint="Run the deploy again and review the new list.",
            )

    def notices(self) -> list[str]:
        """What the operator is told before anything runs. Needs every plan (call `plans()` first)."""
        said: list[str] = []
        applied = [s.name for s in self.statuses if s.state in (State.APPLIED, State.MODIFIED)]
        if self.migrations and applied:
            latest = max(applied, key=prisma_sort_key)
            older = [m.name for m in self.migrations if prisma_sort_key(m.name) < prisma_sort_key(latest)]
            if older:
                said.append(
                    f"{', '.join(older)} sort(s) before `{latest}`, which is already applied: they were probably "
                    "merged from another branch. They will be applied now, as Prisma would; check that they do "
                    "not depend on being applied before it.")
        for status in self.statuses:
            if status.state is State.MODIFIED:
                said.append(f"`{status.name}` was changed after it was applied (checksum differs); "
                            "the change is not applied. Revert the file, or create a new migration.")
            elif status.state is State.MISSING_LOCALLY:
                where = f" from {self.folder_path}" if self.folder_path is not None else " from the folder"
                said.append(f"`{status.name}` is recorded in the database but missing{where}.")
        for pending in self.migrations:
            said.extend(notes_for(pending.plan, pending.resume))
        return said


def notes_for(plan: MigrationPlan, resume: Resume | None = None) -> list[str]:
    """What is said about how one migration runs: in parts, bound to fail at a statement, resumed, its bytes."""
    said: list[str] = []
    if len(plan.parts) > 1 and plan.transactional:
        said.append(plan.describe_parts())
    said.extend(plan.warnings)
    if resume is not None:
        said.append(resume.message)
    if plan.migration.has_bom:
        said.append(f"`{plan.name}` starts with a UTF-8 byte-order mark; it is skipped when running.")
    if plan.migration.replaced:
        said.append(f"`{plan.name}` holds {plan.migration.replaced} invalid UTF-8 sequence(s); they run as "
                    "U+FFFD, as Prisma runs them.")
    return said


def plan_batch(statuses: Sequence[MigrationStatus], folder_path: "Path | None" = None, *,
               until: str | None = None, resume: bool = False) -> PendingBatch:
    """The batch the next deploy applies to a database in these states (up to `until`, when given).

    Pending and rolled-back migrations run (a rolled-back one whole). A failed migration in parts
    resumes from the first part that did not commit when it was cut off between parts, or, with
    `resume` (`deploy --resume`), when it failed by its SQL in a later part; in both cases only when
    its committed parts are byte for byte unchanged. Any other failed migration blocks the batch.
    """
    statuses = tuple(statuses)
    members: list[PendingMigration] = []
    blocked: list[MigrationStatus] = []
    refusals: list[PlanError] = []
    for status in statuses:
        if status.state is State.FAILED:
            candidate = PendingMigration(status, status.local, resume) if status.local is not None else None
            if candidate is None or candidate.resume is None:
                blocked.append(status)
                if candidate is not None and candidate.resume_refused is not None:
                    refusals.append(candidate.resume_refused)
                continue
            members.append(candidate)
        elif status.state.will_apply and status.local is not None:
            members.append(PendingMigration(status, status.local))
    if until is not None:
        last = prisma_sort_key(until)
        members = [m for m in members if prisma_sort_key(m.name) <= last]
    return PendingBatch(statuses, tuple(members), tuple(blocked), folder_path, tuple(refusals))


def batch_of(report: "StatusReport", *, until: str | None = None, resume: bool = False) -> PendingBatch:
    return plan_batch(report.migrations, report.folder.path, until=until, resume=resume)


__all__ = ["PendingBatch", "PendingMigration", "batch_of", "notes_for", "plan_batch", "plan_of", "Script", "sent_numbers",
           "statements_of"]
