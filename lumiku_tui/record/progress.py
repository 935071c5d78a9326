"""The deployment's checklist and its record.

The checklist is the runbook's "Success Criteria Checklist". Items the program can
prove tick themselves from what it measured (the deploy result, the verification
checks, the health check) and carry that evidence; the others are ticked by the
operator. The session is saved as JSON after every change, keyed by the masked target
and the database, so closing the wizard and opening it again resumes where it stopped.
Finishing writes a Markdown record a person can attach to a ticket.
"""

from __future__ import annotations

import getpass
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
from lumiku_tui.apply.events import MigrationFailed, Backend
from lumiku_tui.checks.health import HealthResult
from lumiku_tui.redact import redact, show_controls
from lumiku_tui.checks.verify import Check

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import DeployResult

STATE_VERSION = 1
#: The three columns the runbook checks by hand after the deploy (its "Verify Columns Exist").
REPORT_COLUMNS = (
    ("column_avatar_id", "avatar_generations", "avatarId"),
    ("column_project_id", "avatar_generations", "projectId"),
    ("column_generation_type", "pose_generations", "generationType"),
)
MANUAL_ITEMS = (
    ("page_loads", "Avatar Creator page loads without errors"),
    ("no_console_errors", "No console errors in browser developer tools"),
    ("projects_accessible", "User can access existing projects"),
    ("database_operations", "Database operations complete successfully"),
)


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


def default_checklist(new_migrations: int | None = None) -> list[ChecklistItem]:
    if new_migrations == 1:
        count = "the 1 new migration"
    else:
        count = f"all {new_migrations} new migrations" if new_migrations else "all the new migrations"
    items = [
        ChecklistItem("all_applied", "All pending migrations applied successfully", True),
        ChecklistItem("no_errors", "No migration errors in output", True),
    ]
    items += [ChecklistItem(key, f"`{table}.{column}` column exists", True) for key, table, column in REPORT_COLUMNS]
    items += [
        ChecklistItem("history_rows", f"`_prisma_migrations` table shows {count}", True),
        ChecklistItem("health_200", "Application health endpoint returns 200 OK", True),
    ]
    items += [ChecklistItem(key, label, False) for key, label in MANUAL_ITEMS]
    return items


def default_state_dir() -> Path:
    """Where sessions are kept: LUMIKU_STATE_DIR, else $XDG_STATE_HOME/lumiku-tui, else ~/.local/state."""
    override = os.environ.get("LUMIKU_STATE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lumiku-tui"


def operator_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers run as a bare uid)
        return os.environ.get("USER") or f"uid {os.getuid()}"


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
    record_path: Path | None = None
    finished_at: datetime | None = None

    # -- persistence --------------------------------------------------------------------

    @classmethod
    def load_or_new(cls, state_dir: Path, target_display: str, dbname: str) -> "DeploymentProgress":
        """The unfinished session for this target and database, or a new one."""
        target_display = redact(target_display)
        path = _session_file(Path(state_dir), target_display, dbname)
        if path.is_file():
            try:
                session = cls._from_dict(path, json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, TypeError, KeyError):
                session = None  # an unreadable or older file: start afresh rather than fail the wizard
            if session is not None and session.finished_at is None:
                return session
        return cls(path=path, target_display=target_display, dbname=dbname)

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
        label = next(i.label for i in default_checklist(len(self.planned) or None) if i.key == "history_rows")
        self.item("history_rows").label = label
        self.save()

    def record_approval(self, user: str | None = None) -> None:
        self.approved_by = user or operator_name()
        self.approved_at = _now()
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
            elif item.key.startswith("column_"):
                table, column = next((t, c) for k, t, c in REPORT_COLUMNS if k == item.key)
                check = _column_check(self.checks, table, column)
                if check is None:
                    item.done = False
                    item.evidence = "not verified yet" if not self.checks else \
                        f"{table}.{column} is not among the verified objects"
                else:
                    item.done = check.ok
                    item.evidence = (f"{check.object} {check.found} found" if check.ok
                                     else f"{check.object}: expected {check.expected}, found {check.found}")
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
                    item.done = h.ok and h.status_code == 200
                    item.evidence = h.describe()
        self.save()

    # -- the record ---------------------------------------------------------------------

    def write_record(self, directory: Path) -> Path:
        """Write the Markdown record; returns its path. The target is masked."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        now = _now()
        path = directory / f"lumiku-deploy-{_slug(self.dbname)}-{now:%Y%m%dT%H%M%SZ}.md"
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
            lines += ["", "| Result | Kind | Object | Expected | Found |", "|---|---|---|---|---|"]
            lines += [f"| {'pass' if c.ok else '**FAIL**'} | {_cell(c.kind)} | {_cell(c.object)} | {_cell(c.expected)} | "
                      f"{_cell(c.found)} |" for c in self.checks]
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


def _column_check(checks: Sequence[Check], table: str, column: str) -> Check | None:
    from lumiku_tui.pg.names import quote_ident

    wanted = f"{quote_ident(table)}.{quote_ident(column)}"
    return next((c for c in checks if c.kind == "column" and c.object == wanted), None)


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
