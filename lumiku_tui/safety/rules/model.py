"""Findings: what the safety analysis says about one statement."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    migration: str  # folder name
    statement: int  # 1-based Statement.index in the file
    rule: str  # stable id, e.g. "add-column-not-null-without-default"
    severity: str  # "error" (will fail or lose data) | "warning" (blocks traffic / risky) | "info"
    message: str  # one line, with numbers
    table: str | None
    safe_alternative: str  # one line: what to do instead
    lock: str | None = None  # lock mode taken, e.g. "ACCESS EXCLUSIVE"

    def to_dict(self) -> dict[str, object]:
        return {
            "migration": self.migration,
            "statement": self.statement,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "table": self.table,
            "safe_alternative": self.safe_alternative,
            "lock": self.lock,
        }


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]

    def for_statement(self, migration: str, index: int) -> list[Finding]:
        return [f for f in self.findings if f.migration == migration and f.statement == index]

    def for_migration(self, migration: str) -> list[Finding]:
        return [f for f in self.findings if f.migration == migration]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_dict(self) -> dict[str, object]:
        return {"findings": [f.to_dict() for f in self.findings]}
