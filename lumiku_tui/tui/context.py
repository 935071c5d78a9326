"""What the wizard's screens share: the target, the folder, and what each step produced.

Nothing here imports Textual, so the flow's state can be built and inspected in tests
and reused by another front end.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lumiku_tui.redact import redact

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import DeployResult
    from lumiku_tui.errors import LumikuError
    from lumiku_tui.prisma.folder import MigrationsFolder
    from lumiku_tui.pg.target import Target


#: With the spaces before it: right-aligned numbers would otherwise shift the placeholder.
_DURATION = re.compile(r" *\b\d+(?:\.\d+)? ms\b")
_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\+00:00| UTC|Z)?")
_PID = re.compile(r"\bpid \d+\b")
_COMPACT_STAMP = re.compile(r"\d{8}T\d{6}Z")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Presentation:
    """How volatile values are drawn. Snapshots and screenshots pin them so images are stable."""

    #: Shown instead of the target's own display string (it carries a random demo port).
    target_display: str | None = None
    now: Callable[[], datetime] = _utc_now
    #: Durations drawn as a placeholder instead of measured values.
    fixed_durations: bool = False
    #: (prefix, shown-as) pairs for paths such as temporary folders.
    path_aliases: tuple[tuple[str, str], ...] = ()
    #: Process ids and session start times of other sessions drawn as placeholders.
    fixed_sessions: bool = False
    #: Timestamps inside free text (evidence, records) drawn as placeholders.
    fixed_times: bool = False

    def duration(self, ms: float | None) -> str:
        if ms is None:
            return ""
        if self.fixed_durations:
            return "-- ms"
        if ms >= 10_000:
            return f"{ms / 1000:.1f} s"
        return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"

    @property
    def still(self) -> bool:
        """Nothing blinks or ticks (stable images)."""
        return self.fixed_durations or self.fixed_times

    def path(self, path: Path | str) -> str:
        text = str(path)
        for prefix, alias in self.path_aliases:
            if text.startswith(prefix):
                text = alias + text[len(prefix):]
                break
        if self.fixed_times:
            text = _COMPACT_STAMP.sub("YYYYMMDDThhmmssZ", text)
        return redact(text)

    def text(self, value: str) -> str:
        """Free text (messages, session descriptions) with any aliased path replaced and secrets masked."""
        for prefix, alias in self.path_aliases:
            value = value.replace(prefix, alias)
        if self.fixed_durations:
            value = _DURATION.sub(lambda m: (" " if m.group(0).startswith(" ") else "") + "-- ms", value)
        if self.fixed_times:
            value = _TIMESTAMP.sub("YYYY-MM-DD hh:mm:ss", value)
        if self.fixed_sessions:
            value = _PID.sub("pid -----", value)
        return redact(value)


@dataclass(frozen=True)
class Basis:
    """What a verdict was computed on: (name, checksum) of each migration judged, and the applied set."""

    checksums: tuple[tuple[str, str], ...]
    applied: tuple[str, ...]


def basis_of(folder: Any, status: Any, names: Iterable[str]) -> Basis:
    """The Basis of a verdict on `names` computed on this folder (MigrationsFolder) and status (StatusReport)."""
    from lumiku_tui.prisma.status import State

    by_name = folder.by_name() if folder is not None else {}
    checksums = tuple((name, by_name[name].checksum if name in by_name else "") for name in names)
    applied = () if status is None else tuple(sorted(
        m.name for m in status.migrations if m.state in (State.APPLIED, State.MODIFIED)))
    return Basis(checksums, applied)


def default_record_dir() -> Path:
    from lumiku_tui.record.session import default_record_dir as durable

    return durable()


@dataclass
class WizardContext:
    """Everything the steps hand on to each other. Screens read it; workers fill it."""

    target: Target | None
    folder: MigrationsFolder | None
    load_error: LumikuError | None = None
    database_url: str | None = field(default=None, repr=False)  # carries the password
    migrations_dir: Path | None = None
    #: Where the project was found from (lumiku_tui.project.Locations); a new URL keeps the rest of it.
    locations: Any = None
    health_url: str | None = None
    runbook: Any = None  # lumiku_tui.runbook.reader.Runbook (NO_RUNBOOK when the app has none)
    demo: bool = False
    state_dir: Path | None = None
    record_dir: Path = field(default_factory=default_record_dir)
    presentation: Presentation = field(default_factory=Presentation)
    # Filled as the flow advances.
    status: Any = None  # lumiku_tui.prisma.status.StatusReport
    lint: Any = None  # lumiku_tui.safety.lint.LintReport, when that module is available
    rehearsal: Any = None  # lumiku_tui.apply.rehearse.RehearsalResult, when the operator ran a dry run
    #: What the findings and the dry run were computed on (`basis()`): a verdict whose basis differs from the
    #: files and the database now is out of date and never shown as current.
    lint_basis: Any = None
    rehearsal_basis: Any = None
    approved: tuple[str, ...] = ()
    approved_by: str | None = None
    approved_at: datetime | None = None
    result: DeployResult | None = None
    session: Any = None  # lumiku_tui.record.session.DeploymentSession
    checks: list[Any] = field(default_factory=list)
    health: Any = None
    record_path: Path | None = None
    #: A migration is being applied right now (quitting asks first).
    deploying: bool = False
    #: The signal (SIGTERM, SIGHUP) that asked the wizard to end, if one did.
    interrupted_by: int | None = None
    #: An approved deploy runs in a process of its own (apply/detached.py) that outlives this view: a closed
    #: terminal ends only the view. Off for the demo (its server ends with the wizard) and in-process tests.
    detach_deploys: bool = False
    #: The deploy process this view left running when it closed (its pid), said on the way out.
    left_running: int | None = None

    def basis(self, names: Iterable[str]) -> Basis:
        """The checksums of these migrations' files as held now, and the migrations the database has applied
        (as last read): what a verdict on them depends on."""
        return basis_of(self.folder, self.status, names)

    def reread_folder(self) -> list[str]:
        """Read the migrations folder from disk again (raises SourceError); returns the names of migrations
        added, removed or changed since it was last read."""
        from lumiku_tui.prisma.folder import load_folder

        old = self.folder
        if old is None:
            return []
        new = load_folder(old.path, old.how_found)
        before = {m.name: m.checksum for m in old.migrations}
        after = {m.name: m.checksum for m in new.migrations}
        self.folder = new
        return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))

    @staticmethod
    def stale(verdict_basis: Basis | None, now: Basis) -> list[str]:
        """What changed since a verdict was computed on `verdict_basis` (empty: it is current)."""
        if verdict_basis is None:
            return ["the files were read again"]
        why: list[str] = []
        then = dict(verdict_basis.checksums)
        changed = [name for name, checksum in now.checksums if then.get(name) != checksum]
        if changed:
            why.append(", ".join(changed) + (" changed" if all(n in then for n in changed) else " changed or is new"))
        if set(then) - {name for name, _ in now.checksums}:
            why.append("the pending list changed")
        if verdict_basis.applied != now.applied:
            why.append("the database's applied migrations changed")
        return why

    @property
    def display(self) -> str:
        """The only form of the target that may be drawn."""
        if self.presentation.target_display:
            return self.presentation.target_display
        if self.target is not None:
            return self.target.display
        return "(no database)"

    @property
    def dbname(self) -> str:
        return self.target.dbname if self.target is not None else ""
