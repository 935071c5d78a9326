"""The deploy gate: findings that are certain to make a migration fail stop a deploy before anything runs.

A deploy that starts anyway fails at that statement and leaves a failed row in the history,
which blocks every later deploy until someone resolves it. So every front end asks the same
question before applying: `blocking_findings(report, accepted)`. Someone who knows better
(the data will be fixed by a trigger, the catalog was read from a stale replica) accepts a
rule by name, and the deploy goes ahead.

Data loss (DROP TABLE/COLUMN of rows, TRUNCATE, DELETE without WHERE) is graded "error" too,
but it is what the migration means to do, not a failure: the approval covers it, the gate does not.
"""

from __future__ import annotations

from typing import Iterable

from lumiku_tui.errors import PlanError
from lumiku_tui.safety.rules.model import Finding, LintReport, Rule, Severity

#: Error findings that mean "PostgreSQL will reject this statement", with what each one is about.
BLOCKING_RULES: dict[Rule, str] = {
    Rule.ADD_COLUMN_NOT_NULL_WITHOUT_DEFAULT: "a NOT NULL column without a default on a table with rows",
    Rule.SET_NOT_NULL_HAS_NULLS: "SET NOT NULL over rows holding NULL",
    Rule.FOREIGN_KEY_ORPHANS: "a foreign key that existing rows violate",
    Rule.UNIQUE_DUPLICATES: "a unique index or constraint over duplicated values",
    Rule.ALREADY_EXISTS: "an object that already exists",
    Rule.MISSING_OBJECT: "an object that does not exist",
    Rule.DROP_BLOCKED: "a drop that other objects depend on",
    Rule.CONCURRENTLY_IN_TRANSACTION: "CONCURRENTLY inside a transaction block",
}
# Not here: syntax errors and COMMIT/ROLLBACK inside a script. The engine refuses a script it cannot split
# before anything runs, and a parse error is reported by the server with its line and column.


def blocking_findings(report: LintReport, accepted: Iterable[str] = ()) -> list[Finding]:
    """The findings that stop a deploy: certain failures whose rule was not accepted."""
    skip = set(accepted)
    return [f for f in report.findings
            if f.severity is Severity.ERROR and f.rule in BLOCKING_RULES and f.rule not in skip]


def check_accepted_rules(accepted: Iterable[str]) -> None:
    unknown = sorted(name for name in set(accepted) if name not in BLOCKING_RULES)
    if unknown:
        raise PlanError(f"--accept-risk {unknown[0]}: no such rule stops a deploy; nothing was applied.",
                        why="Only rules that mean a statement will fail can be accepted: "
                        + ", ".join(sorted(BLOCKING_RULES)) + ".",
                        hint="Use the rule name `lumiku-tui lint` prints next to the finding.")


class CertainFailure(PlanError):
    """Lint found statements that will fail; the deploy refused before running anything."""

    code = "certain_failure"

    def __init__(self, what: str, *, findings: list[dict[str, object]], why: str = "", hint: str = "") -> None:
        super().__init__(what, why=why, hint=hint)
        self.findings = findings  # as plain data, so the error crosses the wizard's process pipe

    @classmethod
    def of(cls, findings: list[Finding]) -> "CertainFailure":
        first = findings[0]
        rules = sorted({f.rule for f in findings})
        listed = "; ".join(f"{f.migration} statement {f.shown_number} [{f.rule}]: {f.message}" for f in findings[:5])
        more = f" (and {len(findings) - 5} more)" if len(findings) > 5 else ""
        return cls(
            f"Refusing to deploy: {len(findings)} statement(s) will fail, first {first.migration} statement "
            f"{first.statement}; nothing was applied and no history row was written.",
            findings=[f.to_dict() for f in findings],
            why=listed + more,
            hint="Fix the migration (`lumiku-tui lint` shows each finding with what to do instead). If you know it "
            "will not fail, re-run with " + " ".join(f"--accept-risk {r}" for r in rules) + ".")

    def to_dict(self) -> dict[str, object]:  # type: ignore[override]
        return {**super().to_dict(), "findings": self.findings}


def refuse_certain_failures(report: LintReport, accepted: Iterable[str] = ()) -> None:
    """Raise CertainFailure when `report` holds a blocking finding not accepted."""
    accepted = list(accepted)
    check_accepted_rules(accepted)
    blocking = blocking_findings(report, accepted)
    if blocking:
        raise CertainFailure.of(blocking)
