"""The deployment record in Markdown: the story the journal tells, then the database as it is now.

Rendered when written, from the session's journal and a fresh read of _prisma_migrations;
quoted text (statements, errors, names) is escaped so the record stays text when a ticket
or a browser renders it. Without a journal (a session used on its own) the session's own
facts are rendered.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from lumiku_tui import __version__
from lumiku_tui.redact import redact, show_controls
from lumiku_tui.verification.verify import Check

if TYPE_CHECKING:
    from lumiku_tui.prisma.status import StatusReport


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "db"


def app_name(runbook: Any = None, migrations: Path | None = None) -> str | None:
    """The application's name: the runbook's `app`, else the `name` in the project's package.json."""
    app = getattr(runbook, "app", None)
    if app:
        return str(app)
    if migrations is None:
        return None
    for folder in list(Path(migrations).resolve().parents)[:3]:
        package = folder / "package.json"
        try:
            name = json.loads(package.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(name, str) and name.strip():
            return name.strip().rsplit("/", 1)[-1]  # @scope/app -> app
    return None


def record_file_name(app: str | None, dbname: str, now: datetime) -> str:
    """`<app>-deploy-<database>-<UTC time>.md`; the database alone names it when the app is not known."""
    prefix = f"{_slug(app)}-deploy-" if app else "deploy-"
    return f"{prefix}{_slug(dbname)}-{now:%Y%m%dT%H%M%SZ}.md"


def render_record(session: Any, now: datetime) -> str:
    story = session.story()
    status = session.database() if story is not None else None
    if story is None:
        return _render(session, now, None, None)
    return _render(session, now, story, status)


def _at(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S UTC}"


def _outcome(session: Any, story: "Any | None", status: "StatusReport | None",
             missing: Sequence[str]) -> str:
    if story is None:
        return "FAILED" if session.failure else "complete" if session.complete else "incomplete checklist"
    if story.last_failure is not None or (status is not None and status.failed):
        return "FAILED"
    if status is None:
        return "unknown: the database could not be read"
    if missing:
        return "not all applied"
    return "complete" if session.complete else "incomplete checklist"


def _render(session: Any, now: datetime, story: "Any | None",
            status: "StatusReport | None") -> str:
    from lumiku_tui.prisma.status import State
    from lumiku_tui.record.story import short, story_lines

    s = session
    names = s.deployment_migrations(story) if story is not None else list(s.planned)
    state = {m.name: m for m in status.migrations} if status is not None else {}
    if story is not None:
        missing = [n for n in names if n not in state or state[n].state is not State.APPLIED]
    else:
        missing = [n for n in s.planned if n not in {a.name for a in s.applied}]
    title = f"{s.app}: {s.dbname}" if s.app else s.dbname
    lines = [f"# Deployment record: {_text(title)}", ""]
    approvals = story.approvals if story is not None else []
    if approvals:
        approved = "; ".join(f"{_text(e.who)} at {_at(e.at)}" for e in approvals)
    else:
        approved = _text(s.approved_by or "not approved") + (f" at {_at(s.approved_at)}" if s.approved_at else "")
    attempts = [e for e in story.entries if e.kind == "deploy_planned"] if story is not None else []
    if attempts:
        deployed = ", ".join(_at(e.at) for e in attempts) + (f" ({len(attempts)} attempts)" if len(attempts) > 1
                                                              else "")
    else:
        deployed = _at(s.deployed_at) if s.deployed_at else "not deployed"
    lines += [
        f"- **Target:** {_code(s.target_display)}",
        f"- **Database:** {_code(s.dbname)}",
        f"- **Approved by:** {approved}",
        f"- **Deployed at:** {deployed}",
        f"- **Record written:** {_at(now)} by lumiku-tui {__version__}",
        f"- **Outcome:** {_outcome(s, story, status, missing)}",
        f"- **Runbook:** `{s.runbook}`" if s.runbook else "- **Runbook:** none (checklist derived from "
        "the migrations)",
    ]
    if story is not None:
        lines += ["", "## What happened", ""]
        told = story_lines(story)
        if told:
            lines += [f"{n}. {e.at:%Y-%m-%d %H:%M:%S} {_text(said)}" for n, (e, said) in enumerate(told, start=1)]
        else:
            lines.append("Nothing is in the journal for this deployment yet.")
        lines += ["", f"## Final state in the database (read at {_at(now)})", ""]
        if status is None:
            lines.append(_text(f"The database could not be read: {s.database_error or 'no connection'}."))
        elif not names:
            lines.append("No migration was pending in this deployment.")
        else:
            lines += ["| Migration | State | Finished at | How |", "|---|---|---|---|"]
            for name in names:
                m = state.get(name)
                done = story.applied.get(name)
                how = ("resolve --applied (not run)" if done is not None and done.how == "resolve" else
                       f"deploy ({done.duration_ms or 0:.0f} ms)" if done is not None else "-")
                lines.append(f"| {_cell(name)} | {m.state.value.replace('_', ' ') if m else 'not in the folder'} | "
                             f"{_at(m.finished_at) if m and m.finished_at else '-'} | {how} |")
            others = [m for m in status.migrations if m.name not in names and m.state is not State.APPLIED]
            if others:
                lines += ["", "Outside this deployment, not applied: "
                          + ", ".join(f"{_code(m.name)} ({m.state.value.replace('_', ' ')})" for m in others)]
    lines += ["", "## Approval", ""]
    dry_runs = [e for e in story.entries if e.kind == "dry_run"] if story is not None else []
    if dry_runs:
        last = dry_runs[-1]
        sums = last.get("checksums") or {}
        lines.append(f"- **Dry run:** {_text(str(last.get('verdict')))} (at {_at(last.at)}"
                     + (", on checksums " + ", ".join(f"{_text(n)} {short(c)}" for n, c in sums.items())
                        if sums else "") + ")")
    else:
        lines.append(f"- **Dry run:** {_text(s.rehearsal or 'not run')}")
    findings = list(approvals[-1].get("accepted_findings") or ()) if approvals else list(s.accepted_findings)
    if findings:
        lines.append(f"- **Findings accepted at approval ({len(findings)}):**")
        lines += [f"  - {_cell(f)}" for f in findings]
    else:
        lines.append("- **Findings accepted at approval:** none")
    lines += ["", "## Prechecks", ""]
    if s.prechecks:
        lines += _checks_table(s.prechecks)
    else:
        lines.append("None in the runbook." if s.runbook else "No runbook.")
    lines += ["", "## Applied migrations", ""]
    if story is not None:
        rows = [story.applied[n] for n in names if n in story.applied
                and (status is None or (n in state and state[n].state is State.APPLIED))]
        if rows:
            lines += ["| Migration | Statements | Duration |", "|---|---:|---:|"]
            lines += [f"| {_cell(a.name)} | {a.statements} | {a.duration_ms or 0:.0f} ms |" if a.how == "deploy"
                      else f"| {_cell(a.name)} | - | not run: marked applied with resolve --applied |"
                      for a in rows]
        else:
            lines.append("None.")
    elif s.applied:
        lines += ["| Migration | Statements | Duration |", "|---|---:|---:|"]
        lines += [f"| {_cell(a.name)} | {a.statements} | {a.duration_ms:.0f} ms |" for a in s.applied]
    else:
        lines.append("None.")
    if missing:
        lines += ["", "Approved but not applied: " + ", ".join(_code(n) for n in missing)]
    lines += ["", "## Failures", ""]
    if story is not None:
        if story.failures:
            for n, entry in enumerate(story.failures, start=1):
                if len(story.failures) > 1 or story.failures[-1] is not story.last_failure:
                    lines += [f"### {n}. {_text(str(entry.get('name')))} at {_at(entry.at)}", ""]
                lines += _failure_lines(entry.fields)
                lines.append("")
            if story.last_failure is None:
                lines.append("The last deploy attempt ended without an error.")
        else:
            lines.append("None in the journal.")
        # Attempts the journal cannot tell (a deploy by another tool, or before the journal existed) still
        # left their rows: the record never says "no failure" while the history holds one.
        unjournaled = [(n, r) for n in names if n in state for r in state[n].rows
                       if r.is_rolled_back and not any(f.get("name") == n for f in story.failures)]
        if unjournaled:
            lines += ["", "_prisma_migrations also holds attempts the journal does not tell (run by another tool "
                      "or before this journal):"]
            for name, row in unjournaled:
                first = (row.logs or "").strip().splitlines()[:1]
                lines.append(f"- {_code(name)} started {_at(row.started_at)}, rolled back {_at(row.rolled_back_at)}"
                             + (f": {_text(first[0])}" if first else ""))
    elif s.failure is None:
        lines.append("None.")
    else:
        lines += _failure_lines(s.failure.to_dict())
    lines += ["", "## Verification", ""]
    if s.checks:
        failed = sum(1 for c in s.checks if not c.ok)
        lines.append(f"{len(s.checks) - failed} of {len(s.checks)} checks passed.")
        lines += [""] + _checks_table(s.checks)
    else:
        lines.append("Not run.")
    lines += ["", "## Health check", ""]
    lines.append(_text(s.health.describe()) if s.health else "Not run.")
    lines += ["", "## Success criteria", ""]
    for item in s.checklist:
        how = "automatic" if item.automatic else "manual"
        evidence = f" ({_text(item.evidence)})" if item.evidence else ""
        lines.append(f"- [{'x' if item.done else ' '}] {item.label} _{how}_{evidence}")
    lines.append("")
    return "\n".join(lines)


def _failure_lines(f: dict[str, Any]) -> list[str]:
    # Numbered as the deploy's log numbers it (`position`); older entries have only the file's order.
    number = f.get("position") if f.get("position") is not None else f.get("statement_index")
    where = f"statement {number}, line {f.get('line')}" if number is not None else "-"
    lines = [
        f"- **Migration:** {_code(str(f.get('name')))} ({where})",
        f"- **Error:** {_text((f['sqlstate'] + ' ' if f.get('sqlstate') else '') + str(f.get('message') or ''))}",
    ]
    if f.get("detail"):
        lines.append(f"- **Detail:** {_text(f['detail'])}")
    if f.get("hint"):
        lines.append(f"- **Hint:** {_text(f['hint'])}")
    state = "rolled back, nothing of it kept" if f.get("rolled_back") else "may hold part of it"
    lines.append(f"- **Database state:** {state}")
    if f.get("next_step"):
        lines.append(f"- **Next step:** {_text(f['next_step'])}")
    if f.get("statement"):
        lines += ["", *_fence(f["statement"], "sql")]
    return lines


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


__all__ = ["app_name", "record_file_name", "render_record"]
