"""The deployment session: the checklist ticks and measurements one deployment collects.

Saved as JSON after every change, keyed by the masked target and the database, so closing
the wizard and opening it again resumes where it stopped. With a journal and a way to read
the database attached (`attach`), what was applied, what failed and the automatic items'
evidence are computed from those two when asked, never from what a screen last showed; the
Markdown record is rendered by lumiku_tui.record.markdown.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from lumiku_tui.apply.deploy import AppliedMigration
from lumiku_tui.apply.events import Backend, MigrationFailed
from lumiku_tui.errors import LumikuError
from lumiku_tui.health import HealthResult
from lumiku_tui.journal import Journal, current_deployment, operator_name
from lumiku_tui.state import default_state_dir
from lumiku_tui.record.checklist import (ChecklistError, ChecklistItem, default_checklist, health_label,
                                         history_label)
from lumiku_tui.record.story import DeploymentStory, failure_text, read_story
from lumiku_tui.redact import redact
from lumiku_tui.runbook.reader import KIND as RUNBOOK_KIND
from lumiku_tui.runbook.reader import NO_RUNBOOK, Runbook
from lumiku_tui.verification.verify import Check

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import DeployResult
    from lumiku_tui.prisma.status import StatusReport

STATE_VERSION = 1


def approval_facts(lint: Any, rehearsal: Any) -> dict[str, Any]:
    """What an approval accepted: the safety findings shown (errors and warnings) and the dry run's verdict.

    `lint` is a LintReport (or None when it did not run); `rehearsal` a RehearsalResult or None.
    """
    from lumiku_tui.runbook.reader import finding_line

    findings = [f for f in (lint.findings if lint is not None else ()) if f.severity in ("error", "warning")]
    return {"accepted_findings": [finding_line(f) for f in findings], "rehearsal": rehearsal_verdict(rehearsal)}


def rehearsal_verdict(rehearsal: Any) -> str | None:
    if rehearsal is None:
        return None
    where = " on a copy of the schema" if rehearsal.on_copy else ""
    return (f"all {len(rehearsal.migrations)} ran{where} and were rolled back" if rehearsal.ok else
            f"{len(rehearsal.failed)} would fail{where}: " + ", ".join(m.name for m in rehearsal.failed))


def default_record_dir() -> Path:
    """Where records go: LUMIKU_RECORD_DIR, else the state folder (it outlives a replaced container's CWD)."""
    override = os.environ.get("LUMIKU_RECORD_DIR")
    return Path(override) if override else default_state_dir() / "records"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "db"


def _session_file(state_dir: Path, target_display: str, dbname: str) -> Path:
    digest = hashlib.sha256(redact(f"{target_display}\n{dbname}").encode()).hexdigest()[:12]
    return state_dir / f"session-{_slug(dbname)}-{digest}.json"


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _failure_from(data: dict[str, Any] | None) -> MigrationFailed | None:
    if not data:
        return None
    data = {k: v for k, v in data.items() if k != "event"}
    blockers = tuple(
        Backend(**{**b, "backend_start": _dt(b.get("backend_start")), "state_change": _dt(b.get("state_change"))})
        for b in data.pop("blockers", ()) or ()
    )
    return MigrationFailed(**data, blockers=blockers)


@dataclass
class DeploymentSession:
    """Everything the record needs. Saved after every change; `load_or_new` resumes it."""

    path: Path
    target_display: str
    dbname: str
    started_at: datetime = field(default_factory=_now)
    planned: list[str] = field(default_factory=list)  # the migrations the operator approved
    approved_by: str | None = None
    approved_at: datetime | None = None
    applied: list[AppliedMigration] = field(default_factory=list)
    failure: MigrationFailed | None = None
    deployed_at: datetime | None = None
    checks: list[Check] = field(default_factory=list)
    health: HealthResult | None = None
    checklist: list[ChecklistItem] = field(default_factory=default_checklist)
    runbook: str | None = None  # the runbook file the checklist came from
    prechecks: list[Check] = field(default_factory=list)  # the runbook's, run before approval
    accepted_findings: list[str] = field(default_factory=list)  # safety findings the approver accepted
    rehearsal: str | None = None  # the dry run's verdict, when one ran before approval
    record_path: Path | None = None
    finished_at: datetime | None = None
    app: str | None = None  # the application's name: the record file is named after it
    #: Where what happened is read from (not saved: attached by the front end on every run).
    journal: Journal | None = field(default=None, repr=False, compare=False)
    #: Reads _prisma_migrations now (prisma.status.read_status for the target and folder).
    read_status: "Callable[[], StatusReport] | None" = field(default=None, repr=False, compare=False)
    #: Why the database could not be read the last time the evidence was computed.
    database_error: str | None = field(default=None, repr=False, compare=False)

    def attach(self, journal: Journal | None, read_status: "Callable[[], StatusReport] | None") -> None:
        """Compute the deploy's evidence and the record from this journal and database from now on."""
        self.journal = journal
        self.read_status = read_status

    def story(self) -> DeploymentStory | None:
        """The current deployment as the journal tells it (None without a journal)."""
        if self.journal is None:
            return None
        # From the last but one complete deployment on: all current_deployment may tell.
        return read_story(current_deployment(self.journal.entries_since("deployment_complete", 2)))

    def database(self) -> "StatusReport | None":
        """The migrations' state in the database at this moment, or None (the reason in database_error)."""
        self.database_error = None
        if self.read_status is None:
            return None
        try:
            return self.read_status()
        except (LumikuError, OSError) as err:
            self.database_error = getattr(err, "what", None) or str(err)
            return None

    def _journal(self, kind: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.append(kind, **fields)

    # -- persistence --------------------------------------------------------------------

    @classmethod
    def load_or_new(cls, state_dir: Path, target_display: str, dbname: str, runbook: Runbook = NO_RUNBOOK,
                    *, health_known: bool = False, app: str | None = None) -> "DeploymentSession":
        """The unfinished session for this target and database, or a new one.

        The checklist follows the runbook as it is now; a resumed session keeps what was ticked.
        """
        target_display = redact(target_display)
        path = _session_file(Path(state_dir), target_display, dbname)
        checklist = default_checklist(None, runbook, health_known)
        runbook_path = str(runbook.path) if runbook.path is not None else None
        if path.is_file():
            try:
                session = cls._from_dict(path, json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError, KeyError):
                session = None  # an unreadable or older file: start afresh rather than fail the wizard
            if session is not None and session.finished_at is None:
                kept = {item.key: item for item in session.checklist}
                session.checklist = [kept.get(item.key, item) for item in checklist]
                session.runbook = runbook_path
                session.app = app or runbook.app
                session.plan(session.planned)
                return session
        return cls(path=path, target_display=target_display, dbname=dbname, checklist=checklist,
                   runbook=runbook_path, app=app or runbook.app)

    @classmethod
    def headless(cls, state_dir: Path, target_display: str, dbname: str,
                 runbook: Runbook = NO_RUNBOOK, *, health_known: bool = False,
                 app: str | None = None) -> "DeploymentSession":
        """A fresh progress for one headless deploy, saved apart from the wizard's resumable session."""
        target_display = redact(target_display)
        path = Path(state_dir) / f"deploy-{_slug(dbname)}-{_now():%Y%m%dT%H%M%S%fZ}.json"
        return cls(path=path, target_display=target_display, dbname=dbname,
                   checklist=default_checklist(None, runbook, health_known),
                   runbook=str(runbook.path) if runbook.path is not None else None, app=app or runbook.app)

    @property
    def resumed(self) -> bool:
        """Whether anything happened in this session before (the wizard says it resumes)."""
        return bool(self.approved_at or self.applied or self.failure or self.checks or self.health
                    or any(i.done for i in self.checklist if not i.automatic))

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "version": STATE_VERSION,
            "target": self.target_display,
            "dbname": self.dbname,
            "started_at": iso(self.started_at),
            "planned": list(self.planned),
            "approved_by": self.approved_by,
            "approved_at": iso(self.approved_at),
            "applied": [asdict(a) for a in self.applied],
            "failure": self.failure.to_dict() if self.failure else None,
            "deployed_at": iso(self.deployed_at),
            "checks": [c.to_dict() for c in self.checks],
            "health": self.health.to_dict() if self.health else None,
            "checklist": [i.to_dict() for i in self.checklist],
            "runbook": self.runbook,
            "prechecks": [c.to_dict() for c in self.prechecks],
            "accepted_findings": list(self.accepted_findings),
            "rehearsal": self.rehearsal,
            "record_path": str(self.record_path) if self.record_path else None,
            "finished_at": iso(self.finished_at),
            "app": self.app,
        }

    @classmethod
    def _from_dict(cls, path: Path, data: dict[str, Any]) -> "DeploymentSession | None":
        if data.get("version") != STATE_VERSION:
            return None
        return cls(
            path=path,
            target_display=data["target"],
            dbname=data["dbname"],
            started_at=_dt(data.get("started_at")) or _now(),
            planned=list(data.get("planned") or []),
            approved_by=data.get("approved_by"),
            approved_at=_dt(data.get("approved_at")),
            applied=[AppliedMigration(**a) for a in data.get("applied") or []],
            failure=_failure_from(data.get("failure")),
            deployed_at=_dt(data.get("deployed_at")),
            checks=[Check(**c) for c in data.get("checks") or []],
            health=HealthResult(**data["health"]) if data.get("health") else None,
            checklist=[ChecklistItem(**i) for i in data.get("checklist") or []] or default_checklist(),
            runbook=data.get("runbook"),
            prechecks=[Check(**c) for c in data.get("prechecks") or []],
            accepted_findings=list(data.get("accepted_findings") or []),
            rehearsal=data.get("rehearsal"),
            record_path=Path(data["record_path"]) if data.get("record_path") else None,
            finished_at=_dt(data.get("finished_at")),
            app=data.get("app"),
        )

    def save(self) -> None:
        """Write the session atomically; secrets are masked on the way out."""
        # The session holds SQL and names from a production database: readable by its owner only.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = redact(json.dumps(self.to_dict(), indent=2, default=str))
        tmp = self.path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, self.path)

    def discard(self) -> None:
        """Forget this session (the operator starts over)."""
        self.path.unlink(missing_ok=True)

    # -- what happened -----------------------------------------------------------------

    def plan(self, names: Sequence[str]) -> None:
        """The migrations about to be approved; the history item's label counts them.

        After a deploy that stopped part-way, a new plan adds to the old one: the record is of
        the whole deployment, not of the last attempt.
        """
        if self.deployed_at is None:
            self.planned = list(names)
        else:
            self.planned += [n for n in names if n not in self.planned]
        self.item("history_rows").label = history_label(len(self.planned) or None)
        self.save()

    def record_prechecks(self, checks: Sequence[Check]) -> None:
        self._journal("precheck", checks=[c.to_dict() for c in checks])
        self.prechecks = list(checks)
        self.save()

    def record_approval(self, user: str | None = None, *, accepted_findings: Sequence[str] = (),
                        rehearsal: str | None = None, checksums: dict[str, str] | None = None,
                        via: str = "") -> None:
        """Who approved and when, the findings they accepted, the dry run's verdict if one ran, and the
        checksums of the files approved (journaled before anything runs)."""
        self._journal("approved", migrations=list(self.planned), checksums=dict(checksums or {}), via=via,
                      accepted_findings=list(accepted_findings), dry_run=rehearsal)
        self.approved_by = user or operator_name()
        self.approved_at = _now()
        self.accepted_findings = list(accepted_findings)
        self.rehearsal = rehearsal
        self.save()

    def record_deploy(self, result: "DeployResult") -> None:
        known = {a.name for a in self.applied}
        self.applied += [a for a in result.applied if a.name not in known]
        self.failure = result.failure
        self.deployed_at = _now()
        self.apply_evidence(read_database=False)

    def record_checks(self, checks: Sequence[Check]) -> None:
        self._journal("verification", total=len(checks), passed=sum(1 for c in checks if c.ok),
                      failed=[c.to_dict() for c in checks if not c.ok])
        self.checks = list(checks)
        self.apply_evidence(read_database=False)

    def record_health(self, health: HealthResult) -> None:
        self._journal("health", ok=health.ok, skipped=health.skipped, said=health.describe())
        self.health = health
        self.apply_evidence(read_database=False)

    def item(self, key: str) -> ChecklistItem:
        for item in self.checklist:
            if item.key == key:
                return item
        raise ChecklistError(f"No checklist item `{key}`.",
                          hint="Use one of: " + ", ".join(i.key for i in self.checklist) + ".")

    def toggle(self, key: str) -> None:
        """Tick or untick a manual item."""
        item = self.item(key)
        if item.automatic:
            raise ChecklistError(
                f"“{item.label}” is proven by the program and cannot be ticked by hand.",
                why=item.evidence or "Its evidence has not been collected yet.",
                hint="Run the step that measures it (deploy, verify or health check).",
            )
        self._journal("checklist_tick", key=item.key, label=item.label, done=not item.done)
        item.done = not item.done
        item.evidence = f"ticked by {operator_name()} at {_now():%Y-%m-%d %H:%M:%S UTC}" if item.done else ""
        self.save()

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.checklist)

    # -- evidence -----------------------------------------------------------------------

    def deployment_migrations(self, story: DeploymentStory | None = None) -> list[str]:
        """The migrations of this deployment: approved, run or resolved (journal), else those planned here."""
        story = story if story is not None else self.story()
        names = list(story.migrations) if story is not None else []
        return names + [n for n in self.planned if n not in names]

    def _deploy_evidence(self) -> dict[str, tuple[bool, str]]:
        """The deploy's items from the database and the journal, as they are now; {} without both.

        Applied means a finished, not rolled-back row in _prisma_migrations whose checksum
        matches the file: also a migration recorded with `resolve --applied`.
        """
        from lumiku_tui.prisma.status import State

        story = self.story()
        if story is None or self.read_status is None:
            return {}
        status = self.database()
        if status is None:
            unknown = (False, f"the database could not be read: {self.database_error}")
            return {"all_applied": unknown, "no_errors": unknown, "history_rows": unknown}
        names = self.deployment_migrations(story)
        state = {m.name: m for m in status.migrations}
        applied = [n for n in names if n in state and state[n].state is State.APPLIED]
        missing = [n for n in names if n not in applied]
        failed_now = [m.name for m in status.failed]
        evidence: dict[str, tuple[bool, str]] = {}

        def how(name: str) -> str:
            done = story.applied.get(name)
            if done is None:
                return f"{name} (applied earlier)"
            if done.how == "resolve":
                return f"{name} (marked applied with resolve --applied)"
            return f"{name} ({done.duration_ms or 0:.0f} ms)"

        def states(names: Sequence[str]) -> str:
            return ", ".join(f"{n} ({state[n].state.value.replace('_', ' ') if n in state else 'not in the folder'})"
                             for n in names)

        if not names:
            evidence["all_applied"] = ((True, "nothing was pending") if story.deployed and not failed_now
                                       else (False, "not deployed yet"))
        elif missing:
            evidence["all_applied"] = (False, f"{len(applied)} of {len(names)} applied; not applied: "
                                       + states(missing))
        else:
            evidence["all_applied"] = (True, f"{len(applied)} applied: " + ", ".join(how(n) for n in applied))
        earlier = [f for f in story.failures if f is not story.last_failure]
        told = ("; earlier in this deployment: " + "; ".join(failure_text(f) for f in earlier)) if earlier else ""
        if failed_now:
            evidence["no_errors"] = (False, "failed in the database: " + ", ".join(failed_now)
                                     + (f"; {failure_text(story.last_failure)}" if story.last_failure else ""))
        elif story.last_failure is not None:
            evidence["no_errors"] = (False, "the last deploy stopped: " + failure_text(story.last_failure) + told)
        elif story.deployed and story.last_attempt_finished:
            evidence["no_errors"] = (True, "the last deploy finished without an error" + told)
        elif not story.deployed and names and not missing:
            evidence["no_errors"] = (True, "nothing was deployed: every migration was recorded with resolve" + told)
        else:
            evidence["no_errors"] = (False, "not deployed yet")
        if not names:
            evidence["history_rows"] = ((True, "nothing was pending, so no new rows were due") if story.deployed
                                        and not failed_now else (False, "not deployed yet"))
        elif missing:
            evidence["history_rows"] = (False, "not finished in _prisma_migrations: " + states(missing))
        else:
            evidence["history_rows"] = (True, f"{len(applied)} rows finished and not rolled back, checksums match")
        return evidence

    def apply_evidence(self, *, read_database: bool = True) -> None:
        """Tick the automatic items from the database and the journal, the checks and the health check.

        `read_database=False` leaves the deploy's items as last computed: a step that measured something
        else (a screen's thread) does not wait on the database; the checklist and the record read it.
        """
        if self.health is not None and not self.health.skipped and not any(
                i.key == "health_200" for i in self.checklist):
            # A URL given only now (the wizard's health step): its result becomes a criterion too.
            manual_at = next((n for n, i in enumerate(self.checklist) if not i.automatic), len(self.checklist))
            self.checklist.insert(manual_at, ChecklistItem("health_200", health_label(NO_RUNBOOK), True))
        deployed = self.deployed_at is not None or bool(self.applied) or self.failure is not None
        applied_names = [a.name for a in self.applied]
        attached = self.journal is not None and self.read_status is not None
        measured = self._deploy_evidence() if read_database else {}
        for item in self.checklist:
            if attached and not read_database and item.key in ("all_applied", "no_errors", "history_rows"):
                continue  # as the database said when last read
            if item.key in measured:
                item.done, item.evidence = measured[item.key]
                if item.key == "history_rows":
                    item.label = history_label(len(self.deployment_migrations()) or None)
            elif item.key == "all_applied":
                missing = [n for n in self.planned if n not in applied_names]
                if self.failure is not None:
                    item.done, item.evidence = False, f"`{self.failure.name}` failed; {len(applied_names)} applied"
                elif not deployed:
                    item.done, item.evidence = False, "not deployed yet"
                elif missing:
                    item.done, item.evidence = False, "not applied: " + ", ".join(missing)
                else:
                    item.done = True
                    item.evidence = (f"{len(applied_names)} applied: "
                                     + ", ".join(f"{a.name} ({a.duration_ms:.0f} ms)" for a in self.applied)
                                     if applied_names else "nothing was pending")
            elif item.key == "no_errors":
                if self.failure is not None:
                    f = self.failure
                    item.done = False
                    item.evidence = f"{f.name} failed: {f.sqlstate + ' ' if f.sqlstate else ''}{f.message}"
                elif deployed:
                    item.done, item.evidence = True, "the deploy finished without an error"
                else:
                    item.done, item.evidence = False, "not deployed yet"
            elif item.key == "objects":
                objects = [c for c in self.checks if c.kind not in ("history", RUNBOOK_KIND)]
                bad = [c for c in objects if not c.ok]
                if not self.checks:
                    item.done, item.evidence = False, "not verified yet"
                elif bad:
                    item.done = False
                    item.evidence = f"{len(bad)} of {len(objects)} differ: " + "; ".join(
                        f"{c.object}: expected {c.expected}, found {c.found}" for c in bad[:3])
                else:
                    item.done = True
                    item.evidence = (f"{len(objects)} objects found as written" if objects else
                                     "the migrations create no objects to look for")
            elif item.key.startswith("verify:"):
                name = item.key.removeprefix("verify:")
                check = next((c for c in self.checks if c.kind == RUNBOOK_KIND and c.object == name), None)
                if check is None:
                    item.done, item.evidence = False, "not verified yet"
                else:
                    item.done = check.ok
                    item.evidence = (f"found {check.found}" if check.ok
                                     else f"expected {check.expected}, found {check.found}")
            elif item.key == "history_rows":
                history = {c.object: c for c in self.checks if c.kind == "history"}
                wanted = self.planned or applied_names
                if not wanted and deployed and self.failure is None:
                    item.done, item.evidence = True, "nothing was pending, so no new rows were due"
                elif not history or not wanted:
                    item.done, item.evidence = False, "not verified yet"
                else:
                    bad = [n for n in wanted if n not in history or not history[n].ok]
                    item.done = not bad
                    item.evidence = (f"{len(wanted)} rows finished, none rolled back" if not bad else
                                     "; ".join(f"{n}: {history[n].found if n in history else 'not checked'}"
                                               for n in bad))
            elif item.key == "health_200":
                h = self.health
                if h is None:
                    item.automatic, item.done, item.evidence = True, False, "not checked yet"
                elif h.skipped:
                    # Without a URL the program proves nothing; the operator checks by hand.
                    if item.automatic:
                        item.done = False
                    item.automatic = False
                    item.evidence = "skipped: no health URL given; check it by hand and tick"
                else:
                    item.automatic = True
                    # A runbook's own status was asked for already; the derived item promises a 200.
                    item.done = h.ok and (h.status_code == 200 or item.label != health_label(NO_RUNBOOK))
                    item.evidence = h.describe()
        self.save()

    # -- the record ---------------------------------------------------------------------

    def write_record(self, directory: Path, path: Path | None = None) -> Path:
        """Write the Markdown record (to `path`, else a dated file in `directory`); returns its path.

        Rendered from the journal and the database at this moment; the target is masked. The
        journal says it was written before the caller does.
        """
        from lumiku_tui.record.markdown import record_file_name, render_record

        now = _now()
        if path is None:
            path = Path(directory) / record_file_name(self.app, self.dbname, now)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.apply_evidence()
        path.write_text(redact(render_record(self, now)), encoding="utf-8")
        self._journal("record_written", path=str(path), complete=self.complete)
        self.record_path = path
        self.finished_at = now
        self.save()
        return path

    def render_markdown(self, now: datetime | None = None) -> str:
        from lumiku_tui.record.markdown import render_record

        return render_record(self, now or _now())


__all__ = ["STATE_VERSION", "DeploymentSession", "approval_facts", "default_record_dir",
           "rehearsal_verdict"]
