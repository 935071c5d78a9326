"""The one entry point a front end uses: open a project (its target, its migrations folder), see it.

`open_project()` finds the migrations folder and the database the way the CLI and the wizard
both need; a problem with either is kept as `error` rather than raised, so a front end can
still show what it found. `Project.overview()` gathers the first screen's facts in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from lumiku_tui.runbook.reader import NO_RUNBOOK, Runbook
from lumiku_tui.errors import LumikuError, TargetError
from lumiku_tui.locations import TYPED_IN_WIZARD, Given, Locations  # noqa: F401 (what front ends open)
from lumiku_tui.pg import locks
from lumiku_tui.pg.locks import Backend
from lumiku_tui.pg.server import ServerInfo, server_info
from lumiku_tui.pg.target import Target
from lumiku_tui.prisma.folder import MigrationsFolder
from lumiku_tui.prisma.status import State, StatusReport, read_status

if TYPE_CHECKING:
    from lumiku_tui.apply.plan import PendingBatch


@dataclass
class Project:
    """An app's migrations and the database they go to; either may be missing, with `error` saying why."""

    target: Target | None
    folder: MigrationsFolder | None
    error: LumikuError | None = None  # the first problem (folder, runbook, then target)
    locations: Locations = field(default_factory=Locations)
    runbook: Runbook = NO_RUNBOOK  # lumiku.toml, when the app has one
    #: Why no target was found (the doctor reports it as the first step), None when one was.
    target_error: LumikuError | None = None

    @property
    def database_url(self) -> str | None:
        """The URL as given, before resolution (holds the password)."""
        return self.locations.database_url.value if self.locations.database_url else None

    @property
    def migrations_dir(self) -> Path | None:
        """The folder as given with --migrations."""
        return Path(self.locations.migrations.value) if self.locations.migrations else None

    def require(self) -> tuple[Target, MigrationsFolder]:
        """The target and folder, or the error that stopped them from being found."""
        if self.error is not None:
            raise self.error
        assert self.target is not None and self.folder is not None
        return self.target, self.folder

    def overview(self) -> "Overview":
        target, folder = self.require()
        return gather_overview(target, folder)


def open_project(locations: Locations | None = None) -> Project:
    """Find the folder and the target as Prisma would (see prisma/config.py), given locations first,
    and the runbook (given, else lumiku.toml beside the folder or beside prisma/), read in full.

    The target is looked for even when the folder cannot be read (the doctor diagnoses it all the same).
    """
    from lumiku_tui.runbook.reader import find_runbook, load_runbook
    from lumiku_tui.prisma.config import find_target
    from lumiku_tui.prisma.folder import find_migrations_dir, load_folder

    locations = locations or Locations()
    schema = locations.schema.value if locations.schema else None
    config = locations.config.value if locations.config else None
    problems: list[LumikuError] = []
    folder: MigrationsFolder | None = None
    book = NO_RUNBOOK
    path: Path | None = None
    try:
        path, how = find_migrations_dir(locations.migrations.value if locations.migrations else None,
                                        schema=schema, config=config)
        folder = load_folder(path, how)
        book = load_runbook(find_runbook(path, locations.runbook.value if locations.runbook else None))
    except LumikuError as err:
        problems.append(err)
    target: Target | None = None
    target_error: LumikuError | None = None
    given = locations.database_url
    try:
        target = find_target(given.value if given else None, url_source=given.source if given else "",
                             migrations_dir=path, schema=schema, config=config)
    except LumikuError as err:
        target_error = err
        problems.append(err)
    return Project(target, folder, problems[0] if problems else None, locations, book, target_error)


@dataclass(frozen=True)
class Blocker:
    """Something that stops a deploy, and the troubleshooting screen that explains it."""

    kind: str  # "connect" | "failed" | "lock" | "read_only" | "prisma_next"
    message: str
    migration: str | None = None


@dataclass(frozen=True)
class Overview:
    server: ServerInfo | None
    status: StatusReport | None
    lock_holders: tuple[Backend, ...]
    blockers: tuple[Blocker, ...]
    warnings: tuple[str, ...]
    error: LumikuError | None = None

    @cached_property
    def batch(self) -> "PendingBatch | None":
        """What the next deploy applies (a migration it resumes included), as every front end reads it."""
        from lumiku_tui.apply.plan import batch_of

        return batch_of(self.status) if self.status else None

    @property
    def pending(self) -> list[str]:
        batch = self.batch
        return batch.names if batch is not None else []

    @property
    def can_deploy(self) -> bool:
        return not self.blockers and bool(self.pending)


def gather_overview(target: Target, folder: MigrationsFolder) -> Overview:
    try:
        conn = target.connect("observe")
    except LumikuError as err:
        return Overview(None, None, (), (Blocker("connect", err.what),), (), err)
    try:
        facts = server_info(conn)
        status = read_status(target, folder, conn=conn)
        holders = locks.advisory_lock_holders(conn)
    except LumikuError as err:
        return Overview(None, None, (), (Blocker("connect", err.what),), (), err)
    except Exception as exc:  # a query refused (privileges, a vanished connection)
        err = TargetError(f"Reading the database failed: {exc}",
                          hint="Run the connection check (t) to see which step fails.")
        return Overview(None, None, (), (Blocker("connect", err.what),), (), err)
    finally:
        conn.close()
    blockers: list[Blocker] = []
    warnings: list[str] = []
    from lumiku_tui.apply.plan import batch_of

    batch = batch_of(status)
    for failed in batch.blocked:  # a migration cut off between its parts is not one: the deploy resumes it
        blockers.append(Blocker("failed", f"{failed.name} failed and is not resolved: nothing can be applied "
                                          "until it is.", failed.name))
    if holders:
        who = ", ".join(f"pid {h.pid} ({h.application_name or 'unnamed client'})" for h in holders)
        blockers.append(Blocker("lock", f"Prisma's migration lock is held by {who}; a deploy would wait for it."))
    if not facts.writable:
        why = "a read-only replica (in recovery)" if facts.in_recovery else "read-only for this session"
        blockers.append(Blocker("read_only", f"The server is {why}: migrations must run on the primary."))
    warnings.extend(m.resume.message for m in batch.resuming if m.resume is not None)
    warnings.extend(target.notes)  # the target module explains a pooler URL there
    if status.prisma_next_ledger:
        from lumiku_tui.prisma.status import prisma_next_notice

        notice = prisma_next_notice(status.prisma_next_ledger, status.schema, status.history_table_exists)
        if status.history_table_exists:
            warnings.append(notice)
        else:
            blockers.append(Blocker("prisma_next", notice))
    modified = status.in_state(State.MODIFIED)
    if modified:
        warnings.append(f"{len(modified)} applied migration(s) were changed afterwards (checksum differs): "
                        + ", ".join(m.name for m in modified))
    missing = status.in_state(State.MISSING_LOCALLY)
    if missing:
        warnings.append(f"{len(missing)} migration(s) recorded in the database are missing from the folder: "
                        + ", ".join(m.name for m in missing))
    return Overview(facts, status, holders, tuple(blockers), tuple(warnings))


def lint_report(target: Target, folder: MigrationsFolder):  # type: ignore[no-untyped-def]
    """Safety findings for the pending migrations, or None when this build has no linter."""
    try:
        from lumiku_tui.safety.lint import lint_pending
    except ImportError:
        return None
    return lint_pending(target, folder)


def findings_for(report, migration: str, index: int | None = None) -> list:  # type: ignore[no-untyped-def]
    if report is None:
        return []
    if index is None:
        return list(report.for_migration(migration))
    return list(report.for_statement(migration, index))
