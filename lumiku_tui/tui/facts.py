"""The overview's facts, gathered from the engine in one pass (runs in a worker thread).

This only combines engine results (server facts, status, lock holders) into what the
first screen shows; what each of them means is decided in the engine modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lumiku_tui import locks
from lumiku_tui.errors import LumikuError, TargetError
from lumiku_tui.events import Session
from lumiku_tui.server import ServerFacts, server_facts
from lumiku_tui.status import State, StatusReport, read_status

if TYPE_CHECKING:
    from lumiku_tui.source import MigrationsFolder
    from lumiku_tui.target import Target


@dataclass(frozen=True)
class Blocker:
    """Something that stops a deploy, and the troubleshooting screen that explains it."""

    kind: str  # "connect" | "failed" | "lock" | "read_only"
    message: str
    migration: str | None = None


@dataclass(frozen=True)
class Overview:
    facts: ServerFacts | None
    status: StatusReport | None
    lock_holders: tuple[Session, ...]
    blockers: tuple[Blocker, ...]
    warnings: tuple[str, ...]
    error: LumikuError | None = None

    @property
    def pending(self) -> list[str]:
        return [m.name for m in self.status.to_apply] if self.status else []

    @property
    def can_deploy(self) -> bool:
        return not self.blockers and bool(self.pending)


def gather_overview(target: Target, folder: MigrationsFolder) -> Overview:
    try:
        conn = target.connect("observe")
    except LumikuError as err:
        return Overview(None, None, (), (Blocker("connect", err.what),), (), err)
    try:
        facts = server_facts(conn)
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
    for failed in status.failed:
        blockers.append(Blocker("failed", f"{failed.name} failed and is not resolved: nothing can be applied "
                                          "until it is.", failed.name))
    if holders:
        who = ", ".join(f"pid {h.pid} ({h.application_name or 'unnamed client'})" for h in holders)
        blockers.append(Blocker("lock", f"Prisma's migration lock is held by {who}; a deploy would wait for it."))
    if not facts.writable:
        why = "a read-only replica (in recovery)" if facts.in_recovery else "read-only for this session"
        blockers.append(Blocker("read_only", f"The server is {why}: migrations must run on the primary."))
    warnings.extend(target.notes)  # the target module explains a pooler URL there
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
        from lumiku_tui.lint import lint_pending
    except ImportError:
        return None
    return lint_pending(target, folder)


def findings_for(report, migration: str, index: int | None = None) -> list:  # type: ignore[no-untyped-def]
    if report is None:
        return []
    if index is None:
        return list(report.for_migration(migration))
    return list(report.for_statement(migration, index))
