"""Everything `doctor` checks, in one report: the connection step by step, the folder,
Prisma's lock, the migration states and each failed migration's diagnosis.

The parts live by concern: `checks.connection` (the connection, layer by layer),
`checks.failure` (a failed migration), `pg.sessions` (who holds Prisma's lock, ending a
session).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from lumiku_tui.doctor.connection import Step, diagnose_connection
from lumiku_tui.doctor.failure import FailureDiagnosis, diagnose_failure
from lumiku_tui.errors import LumikuError
from lumiku_tui.pg.locks import Backend
from lumiku_tui.pg.sessions import advisory_lock_report

if TYPE_CHECKING:
    from lumiku_tui.prisma.folder import MigrationsFolder
    from lumiku_tui.pg.target import Target


# --- the whole check, for `doctor` -----------------------------------------------------------


@dataclass
class DoctorReport:
    """The connection step by step, the folder, Prisma's lock, the migration states, failed migrations."""

    steps: list[Step]
    folder: "MigrationsFolder | None"
    folder_problem: LumikuError | None
    holders: tuple[Backend, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[FailureDiagnosis] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def healthy(self) -> bool:
        return self.connected and not self.failures and not self.holders and self.folder_problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.healthy,
            "connection": [s.to_dict() for s in self.steps],
            "migrations_folder": self.folder_problem.to_dict() if self.folder_problem
            else (str(self.folder.path) if self.folder else None),
            "migration_states": self.counts,
            "failed_migrations": [f.to_dict() for f in self.failures],
            "advisory_lock_holders": [{**asdict(h), "backend_start": h.backend_start.isoformat()
                                       if h.backend_start else None,
                                       "state_change": h.state_change.isoformat() if h.state_change else None}
                                      for h in self.holders],
        }


def doctor(found: "Target | LumikuError", folder: "MigrationsFolder | None",
           folder_problem: LumikuError | None = None) -> DoctorReport:
    """Everything `doctor` checks, given what opening the project found (project.open_project): the
    target or why there is none, the folder or why there is none. Never raises for what it diagnoses."""
    report = DoctorReport(diagnose_connection(found), folder, folder_problem)
    if not report.connected:
        return report
    assert not isinstance(found, LumikuError)
    target = found
    report.holders = advisory_lock_report(target)
    if folder is not None:
        from lumiku_tui.prisma.status import State, read_status

        status = read_status(target, folder)
        for migration in status.migrations:
            report.counts[migration.state.value] = report.counts.get(migration.state.value, 0) + 1
        report.failures = [diagnose_failure(target, folder, name=m.name)
                           for m in status.migrations if m.state is State.FAILED]
    return report
