"""The deployment's checklist and its record.

The checklist is the runbook's success criteria (its lumiku.toml's [[verify]] and
[[manual]] items), or without a runbook what the deploy itself can prove. Items the program can
prove tick themselves from what it measured (the deploy result, the verification
checks, the health check) and carry that evidence; the others are ticked by the
operator. The session is saved as JSON after every change, keyed by the masked target
and the database, so closing the wizard and opening it again resumes where it stopped.
Finishing writes a Markdown record a person can attach to a ticket.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from lumiku_tui import __version__
from lumiku_tui.apply.deploy import AppliedMigration
from lumiku_tui.errors import LumikuError
from lumiku_tui.journal import default_state_dir, operator_name
from lumiku_tui.apply.events import MigrationFailed, Backend
from lumiku_tui.health import HealthResult
from lumiku_tui.redact import redact, show_controls
from lumiku_tui.runbook.reader import KIND as RUNBOOK_KIND
from lumiku_tui.runbook.reader import NO_RUNBOOK, Runbook
from lumiku_tui.verification.verify import Check

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import DeployResult

STATE_VERSION = 1
#: Every object the migrations create or change, found in the catalog as written (no runbook).
OBJECTS_LABEL = "Every object the migrations create or change is in the database as written"


class ChecklistError(LumikuError):
    """The checklist was asked for something it does not allow."""

    code = "checklist"


@dataclass
class ChecklistItem:
    key: str
    label: str  # the runbook's success criterion
    automatic: bool  # proven by the program rather than ticked by the operator
    done: bool = False
    evidence: str = ""  # what proves it (or why it is not proven)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _history_label(new_migrations: int | None) -> str:
    if new_migrations == 1:
        count = "the 1 new migration"
    else:
        count = f"all {new_migrations} new migrations" if new_migrations else "all the new migrations"
    return f"`_prisma_migrations` table shows {count}"


def _health_label(runbook: Runbook) -> str:
    status = runbook.health.status if runbook.health is not None else 200
    return f"Application health endpoint returns {status}" + (" OK" if status == 200 else "")


def default_checklist(new_migrations: int | None = None, runbook: Runbook = NO_RUNBOOK,
                      health_known: bool = False) -> list[ChecklistItem]:
    """The success criteria: the runbook's when there is one, else what the deploy itself can prove.

    Without a runbook: all applied, no errors, every object found, the history rows, and the
    health endpoint when a URL is known; nothing app-specific.
    """
    items = [
        ChecklistItem("all_applied", "All pending migrations applied successfully", True),
        ChecklistItem("no_errors", "No migration errors in output", True),
    ]
    if runbook.path is None:
        items.append(ChecklistItem("objects", OBJECTS_LABEL, True))
    items += [ChecklistItem(verify_key(check.name), check.name, True) for check in runbook.verify]
    items.append(ChecklistItem("history_rows", _history_label(new_migrations), True))
    if runbook.health is not None or health_known:
        items.append(ChecklistItem("health_200", _health_label(runbook), True))
    items += [ChecklistItem(manual_key(label), label, False) for label in runbook.manual]
    return items


def approval_facts(lint: Any, rehearsal: Any) -> dict[str, Any]:
    """What an approval accepted: the safety findings shown (errors and warnings) and the dry run's verdict.

    `lint` is a LintReport (or None when it did not run); `rehearsal` a RehearsalResult or None.
    """
    from lumiku_tui.runbook.reader import finding_line

    findings = [f for f in (lint.findings if lint is not None else ()) if f.severity in ("error", "warning")]
    verdict = None
    if rehearsal is not None:
        where = " on a copy of the schema" if rehearsal.on_copy else ""
        verdict = (f"all {len(rehearsal.migrations)} ran{where} and were rolled back" if rehearsal.ok else
                   f"{len(rehearsal.failed)} would fail{where}: " + ", ".join(m.name for m in rehearsal.failed))
    return {"accepted_findings": [finding_line(f) for f in findings], "rehearsal": verdict}


def verify_key(name: str) -> str:
    """The checklist key of a runbook verify check."""
    return "verify:" + name


def manual_key(label: str) -> str:
    return "manual:" + label


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
class DeploymentProgress:
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

    # -- persistence --------------------------------------------------------------------

    @classmethod
    def load_or_new(cls, state_dir: Path, target_display: str, dbname: str, runbook: Runbook = NO_RUNBOOK,
                    *, health_known: bool = False) -> "DeploymentProgress":
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
                session.plan(session.planned)
                return session
        return cls(path=path, target_display=target_display, dbname=dbname, checklist=checklist,
                   runbook=runbook_path)

    @classmethod
    def headless(cls, state_dir: Path, target_display: str, dbname: str,
                 runbook: Runbook = NO_RUNBOOK, *, health_known: bool = False) -> "DeploymentProgress":
        """A fresh progress for one headless deploy, saved apart from the wizard's resumable session."""
        target_display = redact(target_display)
        path = Path(state_dir) / f"deploy-{_slug(dbname)}-{_now():%Y%m%dT%H%M%S%fZ}.json"
        return cls(path=path, target_display=target_display, dbname=dbname,
                   checklist=default_checklist(None, runbook, health_known),
                   runbook=str(runbook.path) if runbook.path is not None else None)

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
        }

    @classmethod
    def _from_dict(cls, path: Path, data: dict[str, Any]) -> "DeploymentProgress | None":
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
        self.item("history_rows").label = _history_label(len(self.planned) or None)
        self.save()

    def record_prechecks(self, checks: Sequence[Check]) -> None:
        self.prechecks = list(checks)
        self.save()

    def record_approval(self, user: str | None = None, *, accepted_findings: Sequence[str] = (),
                        rehearsal: str | None = None) -> None:
        """Who approved and when, the findings they accepted, and the dry run's verdict if one ran."""
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
        self.apply_evidence()

    def record_checks(self, checks: Sequence[Check]) -> None:
        self.checks = list(checks)
        self.apply_evidence()

    def record_health(self, health: HealthResult) -> None:
        self.health = health
        self.apply_evidence()

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
        item.done = not item.done
        item.evidence = f"ticked by {operator_name()} at {_now():%Y-%m-%d %H:%M:%S UTC}" if item.done else ""
        self.save()

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.checklist)

    # -- evidence -----------------------------------------------------------------------

    def apply_evidence(self) -> None:
        """Tick the automatic items from the deploy result, the checks and the health check."""
        if self.health is not None and not self.health.skipped and not any(
                i.key == "health_200" for i in self.checklist):
            # A URL given only now (the wizard's health step): its result becomes a criterion too.
            manual_at = next((n for n, i in enumerate(self.checklist) if not i.automatic), len(self.checklist))
            self.checklist.insert(manual_at, ChecklistItem("health_200", _health_label(NO_RUNBOOK), True))
        deployed = self.deployed_at is not None or bool(self.applied) or self.failure is not None
        applied_names = [a.name for a in self.applied]
        for item in self.checklist:
            if item.key == "all_applied":
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
                    item.done = h.ok and (h.status_code == 200 or item.label != _health_label(NO_RUNBOOK))
                    item.evidence = h.describe()
        self.save()

    # -- the record ---------------------------------------------------------------------

    def write_record(self, directory: Path, path: Path | None = None) -> Path:
        """Write the Markdown record (to `path`, else a dated file in `directory`); returns its path.

        The target is masked.
        """
        now = _now()
        if path is None:
            path = Path(directory) / f"lumiku-deploy-{_slug(self.dbname)}-{now:%Y%m%dT%H%M%SZ}.md"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redact(self.render_markdown(now)), encoding="utf-8")
        self.record_path = path
        self.finished_at = now
        self.save()
        return path

    def render_markdown(self, now: datetime | None = None) -> str:
        now = now or _now()
        lines = [f"# Deployment record: {_text(self.dbname)}", ""]
        outcome = ("FAILED" if self.failure else "complete" if self.complete else "incomplete checklist")
        lines += [
            f"- **Target:** {_code(self.target_display)}",
            f"- **Database:** {_code(self.dbname)}",
            f"- **Approved by:** {_text(self.approved_by or 'not approved')}"
            + (f" at {self.approved_at:%Y-%m-%d %H:%M:%S UTC}" if self.approved_at else ""),
            f"- **Deployed at:** {self.deployed_at:%Y-%m-%d %H:%M:%S UTC}" if self.deployed_at
            else "- **Deployed at:** not deployed",
            f"- **Record written:** {now:%Y-%m-%d %H:%M:%S UTC} by lumiku-tui {__version__}",
            f"- **Outcome:** {outcome}",
            f"- **Runbook:** `{self.runbook}`" if self.runbook else "- **Runbook:** none (checklist derived from "
            "the migrations)",
            "",
            "## Approval",
            "",
            f"- **Dry run:** {self.rehearsal or 'not run'}",
        ]
        if self.accepted_findings:
            lines.append(f"- **Findings accepted at approval ({len(self.accepted_findings)}):**")
            lines += [f"  - {_cell(f)}" for f in self.accepted_findings]
        else:
            lines.append("- **Findings accepted at approval:** none")
        lines += ["", "## Prechecks", ""]
        if self.prechecks:
            lines += _checks_table(self.prechecks)
        else:
            lines.append("None in the runbook." if self.runbook else "No runbook.")
        lines += [
            "",
            "## Applied migrations",
            "",
        ]
        if self.applied:
            lines += ["| Migration | Statements | Duration |", "|---|---:|---:|"]
            lines += [f"| {_cell(a.name)} | {a.statements} | {a.duration_ms:.0f} ms |" for a in self.applied]
        else:
            lines.append("None.")
        if self.planned:
            not_applied = [n for n in self.planned if n not in {a.name for a in self.applied}]
            if not_applied:
                lines += ["", "Approved but not applied: " + ", ".join(_code(n) for n in not_applied)]
        lines += ["", "## Failure", ""]
        if self.failure is None:
            lines.append("None.")
        else:
            f = self.failure
            where = f"statement {f.statement_index}, line {f.line}" if f.statement_index is not None else "-"
            lines += [
                f"- **Migration:** {_code(f.name)} ({where})",
                f"- **Error:** {_text((f.sqlstate + ' ' if f.sqlstate else '') + f.message)}",
            ]
            if f.detail:
                lines.append(f"- **Detail:** {_text(f.detail)}")
            if f.hint:
                lines.append(f"- **Hint:** {_text(f.hint)}")
            state = "rolled back, nothing of it kept" if f.rolled_back else "may hold part of it"
            lines.append(f"- **Database state:** {state}")
            if f.next_step:
                lines.append(f"- **Next step:** {_text(f.next_step)}")
            if f.statement:
                lines += ["", *_fence(f.statement, "sql")]
        lines += ["", "## Verification", ""]
        if self.checks:
            failed = sum(1 for c in self.checks if not c.ok)
            lines.append(f"{len(self.checks) - failed} of {len(self.checks)} checks passed.")
            lines += [""] + _checks_table(self.checks)
        else:
            lines.append("Not run.")
        lines += ["", "## Health check", ""]
        lines.append(_text(self.health.describe()) if self.health else "Not run.")
        lines += ["", "## Success criteria", ""]
        for item in self.checklist:
            how = "automatic" if item.automatic else "manual"
            evidence = f" ({_text(item.evidence)})" if item.evidence else ""
            lines.append(f"- [{'x' if item.done else ' '}] {item.label} _{how}_{evidence}")
        lines.append("")
        return "\n".join(lines)


def _checks_table(checks: Sequence[Check]) -> list[str]:
    return ["| Result | Kind | Object | Expected | Found |", "|---|---|---|---|---|"] + [
        f"| {'pass' if c.ok else '**FAIL**'} | {_cell(c.kind)} | {_cell(c.object)} | {_cell(c.expected)} | {_cell(c.found)} |"
        for c in checks]


# Markdown's inline syntax: escaped, so quoted text (a statement, an error, a name) stays text. An
# underscore inside a word starts no emphasis, and names are full of them: only the others are escaped.
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>&|~!#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _one_line(text: str) -> str:
    return show_controls(" ".join(redact(str(text)).split()))


def _text(text: str) -> str:
    """Quoted prose (an error message, a detail): one line, no live Markdown or HTML."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), _one_line(text))


def _code(text: str) -> str:
    """An inline code span that no backtick inside `text` can close early."""
    text = _one_line(text)
    ticks = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fence(text: str, language: str) -> list[str]:
    """A fenced block longer than any backtick run inside, so a quoted ``` cannot end it."""
    text = "\n".join(show_controls(line) for line in redact(text).strip().split("\n"))
    ticks = "`" * max(3, max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return [f"{ticks}{language}", text, ticks]


def _cell(text: str) -> str:
    return _text(text)
