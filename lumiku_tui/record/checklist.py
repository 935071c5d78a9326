"""The deployment's success criteria: the runbook's, or what the deploy itself can prove.

Items the program can prove tick themselves from what was measured (the database, the
journal, the verification checks, the health check) and carry that evidence; the others
are ticked by the operator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lumiku_tui.errors import LumikuError
from lumiku_tui.runbook.reader import NO_RUNBOOK, Runbook

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


def history_label(new_migrations: int | None) -> str:
    if new_migrations == 1:
        count = "the 1 new migration"
    else:
        count = f"all {new_migrations} new migrations" if new_migrations else "all the new migrations"
    return f"`_prisma_migrations` table shows {count}"


def health_label(runbook: Runbook) -> str:
    status = runbook.health.status if runbook.health is not None else 200
    return f"Application health endpoint returns {status}" + (" OK" if status == 200 else "")


def verify_key(name: str) -> str:
    """The checklist key of a runbook verify check."""
    return "verify:" + name


def manual_key(label: str) -> str:
    return "manual:" + label


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
    items.append(ChecklistItem("history_rows", history_label(new_migrations), True))
    if runbook.health is not None or health_known:
        items.append(ChecklistItem("health_200", health_label(runbook), True))
    items += [ChecklistItem(manual_key(label), label, False) for label in runbook.manual]
    return items


__all__ = ["OBJECTS_LABEL", "ChecklistError", "ChecklistItem", "default_checklist", "health_label", "history_label",
           "manual_key", "verify_key"]
