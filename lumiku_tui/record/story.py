"""What the journal says happened in one deployment, in order: the facts the checklist and record read.

Built from the journal's entries (lumiku_tui.journal.current_deployment), never from a
screen: a failure that was fixed, a resolve, a file changed between attempts, a session
ended by the operator all stay part of the deployment's story.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from lumiku_tui.journal import Entry


@dataclass(frozen=True)
class Applied:
    name: str
    how: str  # "deploy" | "resolve" (recorded as applied without being run)
    statements: int | None = None
    duration_ms: float | None = None


@dataclass
class DeploymentStory:
    entries: list[Entry]
    #: The migrations of this deployment, in the order they were first approved, run or resolved.
    migrations: list[str] = field(default_factory=list)
    applied: dict[str, Applied] = field(default_factory=dict)
    failures: list[Entry] = field(default_factory=list)
    attempts: int = 0
    #: The last deploy attempt's failure (its entry), or None when it ended without one.
    last_failure: Entry | None = None
    last_attempt_finished: bool = False

    @property
    def approvals(self) -> list[Entry]:
        return [e for e in self.entries if e.kind == "approved"]

    @property
    def deployed(self) -> bool:
        return self.attempts > 0


def read_story(entries: Sequence[Entry]) -> DeploymentStory:
    story = DeploymentStory(list(entries))

    def note(name: str) -> None:
        if name and name not in story.migrations:
            story.migrations.append(name)

    for entry in story.entries:
        kind = entry.kind
        if kind == "approved":
            for name in entry.get("migrations") or ():
                note(name)
        elif kind == "deploy_planned":
            story.attempts += 1
            story.last_failure = None
            story.last_attempt_finished = False
            for name in entry.get("migrations") or ():
                note(name)
        elif kind == "migration_finished":
            note(entry.get("name"))
            story.applied[entry.get("name")] = Applied(entry.get("name"), "deploy", entry.get("statements"),
                                                       entry.get("duration_ms"))
        elif kind == "migration_failed":
            note(entry.get("name"))
            story.failures.append(entry)
            story.last_failure = entry
        elif kind == "deploy_finished":
            story.last_attempt_finished = True
        elif kind == "resolved":
            note(entry.get("name"))
            if entry.get("action") == "applied":
                story.applied[entry.get("name")] = Applied(entry.get("name"), "resolve")
    return story


def short(checksum: Any) -> str:
    return str(checksum or "")[:12] or "unknown"


def _blockers(entry: Entry) -> str:
    said = []
    for b in entry.get("blockers") or entry.get("holders") or ():
        who = b.get("application_name") or "an unnamed client"
        query = " ".join(str(b.get("query") or "").split())[:80]
        said.append(f"pid {b.get('pid')} ({who}, user {b.get('user')}" + (f": {query}" if query else "") + ")")
    return "; ".join(said) or "another session"


def failure_text(entry: Entry) -> str:
    error = ((entry.get("sqlstate") + " ") if entry.get("sqlstate") else "") + str(entry.get("message") or "")
    # Numbered as the deploy's log numbers it (`position`); older entries have only the file's order.
    number = entry.get("position") if entry.get("position") is not None else entry.get("statement_index")
    where = f"statement {number}, line {entry.get('line')}" if number is not None else ""
    return f"{entry.get('name')} failed" + (f" at {where}" if where else "") + f": {error}"


def story_lines(story: DeploymentStory) -> list[tuple[Entry, str]]:
    """Each entry worth telling, with its sentence (statement-level events are summed up, not listed)."""
    lines: list[tuple[Entry, str]] = []
    attempt = 0
    checksums: dict[str, tuple[int, str]] = {}  # name -> (attempt, checksum) it last ran with
    told_waits: set[tuple[str, str]] = set()
    for e in story.entries:
        k = e.kind
        said = ""
        if k == "approved":
            sums = e.get("checksums") or {}
            said = (f"{e.who} approved {', '.join(e.get('migrations') or ()) or 'nothing'}"
                    + (f" ({e.get('via')})" if e.get("via") else "")
                    + ("; checksums " + ", ".join(f"{n} {short(c)}" for n, c in sums.items()) if sums else ""))
        elif k == "dry_run":
            sums = e.get("checksums") or {}
            said = (f"{e.who} ran a dry run: {e.get('verdict')}"
                    + ("; on checksums " + ", ".join(f"{n} {short(c)}" for n, c in sums.items()) if sums else ""))
        elif k == "precheck":
            bad = [c for c in e.get("checks") or () if not c.get("ok")]
            total = len(e.get("checks") or ())
            said = "" if not total else (f"Prechecks: {total - len(bad)} of {total} passed"
                    + ("; failed: " + "; ".join(f"{c.get('object')} (found {c.get('found')})" for c in bad)
                       if bad else ""))
        elif k == "deploy_planned":
            attempt += 1
            names = e.get("migrations") or ()
            said = f"Attempt {attempt}: deploy of {', '.join(names)}" if names else \
                f"Attempt {attempt}: deploy found nothing pending"
        elif k == "migration_started":
            name, checksum = e.get("name"), e.get("checksum")
            before = checksums.get(name)
            if checksum and before is not None and before[1] != checksum:
                said = (f"{name}'s file changed since attempt {before[0]}: checksum {short(before[1])} "
                        f"then, {short(checksum)} now")
            if checksum:
                checksums[name] = (attempt, checksum)
        elif k == "migration_finished":
            count = e.get("statements")
            said = (f"{e.get('name')} applied ({count} statement{'' if count == 1 else 's'}, "
                    f"{e.get('duration_ms') or 0:.0f} ms)")
        elif k == "migration_failed":
            kept = ("rolled back, nothing of it kept" if e.get("rolled_back") else
                    "recorded as failed" if e.get("recorded_failed") else "may hold part of it")
            said = f"{failure_text(e)} ({e.get('reason')}; {kept})"
        elif k in ("lock_waiting", "blocked_by_lock"):
            key = (k, str(e.get("migration") or ""))
            if key not in told_waits:
                told_waits.add(key)
                what = ("Waited for Prisma's migration lock" if k == "lock_waiting"
                        else f"{e.get('migration')} waited for a table lock")
                said = f"{what}, held by {_blockers(e)}"
        elif k == "deploy_finished":
            applied = e.get("applied") or ()
            said = (f"Attempt {attempt} ended: {len(applied)} applied"
                    + (f", {e.get('failed')} failed" if e.get("failed") else ""))
            told_waits.clear()
        elif k == "deploy_refused":
            said = f"Deploy refused: {e.get('what')}"
        elif k == "resolved":
            how = "applied (resolve --applied; not run)" if e.get("action") == "applied" else \
                "rolled back (resolve --rolled-back)"
            said = f"{e.who} marked {e.get('name')} {how}"
        elif k == "file_edited":
            said = (f"{e.who} edited {e.get('name')}: checksum {short(e.get('old_checksum'))} → "
                    f"{short(e.get('new_checksum'))}" if e.get("old_checksum") != e.get("new_checksum")
                    else f"{e.who} opened {e.get('name')} in the editor; it was not changed")
        elif k == "session_ended":
            query = " ".join(str(e.get("query") or "").split())[:80]
            said = (f"{e.who} ended session pid {e.get('ended_pid')}" + (f" ({query})" if query else "")
                    + ("" if e.get("ok", True) else f": {e.get('error')}"))
        elif k == "timeout_changed":
            said = f"{e.who} changed the {e.get('which')} from {e.get('old')} s to {e.get('new')} s"
        elif k == "retry":
            said = f"{e.who} retried" + (f" ({e.get('why')})" if e.get("why") else "")
        elif k == "cancel_requested":
            said = f"{e.who} cancelled the deploy"
        elif k == "verification":
            said = f"Verification: {e.get('passed')} of {e.get('total')} checks passed"
        elif k == "health":
            said = f"Health check: {e.get('said')}"
        elif k == "checklist_tick":
            said = f"{e.who} {'ticked' if e.get('done') else 'unticked'} “{e.get('label')}”"
        elif k == "record_written":
            said = f"Record written to {e.get('path')}"
        elif k == "notice":
            said = str(e.get("message") or "")
        elif k == "deployment_complete":
            said = "Deployment complete: nothing left pending"
        if said:
            lines.append((e, said))
    return lines


__all__ = ["Applied", "DeploymentStory", "failure_text", "read_story", "short", "story_lines"]
