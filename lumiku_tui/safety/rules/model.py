"""Findings: what the safety analysis says about one statement.

A finding's message is for a person. What code needs to know (which rule, how grave, which lock,
whether the table is new or empty) is a field of its own: nothing reads the message to learn it.
Rule ids, severities and lock modes are StrEnums, so they compare equal to, and print and serialise
as, the strings the JSON output and the runbook's [gate] have always used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # will fail or lose data
    WARNING = "warning"  # blocks traffic, or risky
    INFO = "info"


SEVERITIES = tuple(Severity)


class LockMode(StrEnum):
    """PostgreSQL's table lock modes, strongest first."""

    ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"
    EXCLUSIVE = "EXCLUSIVE"
    SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
    SHARE = "SHARE"
    SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
    ROW_EXCLUSIVE = "ROW EXCLUSIVE"
    ROW_SHARE = "ROW SHARE"
    ACCESS_SHARE = "ACCESS SHARE"


class Rule(StrEnum):
    """Every rule id the safety analysis reports: the one list (the gate, `--accept-risk` and the runbook's
    [gate] name these)."""

    ADD_COLUMN_NOT_NULL_WITHOUT_DEFAULT = "add-column-not-null-without-default"
    ALREADY_EXISTS = "already-exists"
    CHECK_CONSTRAINT_WITHOUT_NOT_VALID = "check-constraint-without-not-valid"
    CONCURRENTLY_IN_TRANSACTION = "concurrently-in-transaction"
    CONSTRAINT_BUILDS_INDEX = "constraint-builds-index"
    DATA_CHANGE = "data-change"
    DELETE_WITHOUT_WHERE = "delete-without-where"
    DROP_BLOCKED = "drop-blocked"
    DROP_COLUMN = "drop-column"
    DROP_INDEX_WITHOUT_CONCURRENTLY = "drop-index-without-concurrently"
    DROP_TABLE = "drop-table"
    EXISTS_SKIPPED = "exists-skipped"
    FOREIGN_KEY_ORPHANS = "foreign-key-orphans"
    FOREIGN_KEY_UNCHECKED = "foreign-key-unchecked"
    FOREIGN_KEY_WITHOUT_NOT_VALID = "foreign-key-without-not-valid"
    INDEX_WITHOUT_CONCURRENTLY = "index-without-concurrently"
    LOCK = "lock"
    LOCKS_HELD_UNTIL_COMMIT = "locks-held-until-commit"
    MISSING_OBJECT = "missing-object"
    NOT_IDEMPOTENT = "not-idempotent"
    REINDEX_WITHOUT_CONCURRENTLY = "reindex-without-concurrently"
    RENAME_COLUMN = "rename-column"
    RENAME_TABLE = "rename-table"
    SET_LEAKS = "set-leaks"
    SET_NOT_NULL_HAS_NULLS = "set-not-null-has-nulls"
    SET_NOT_NULL_SCAN = "set-not-null-scan"
    SYNTAX_ERROR = "syntax-error"
    TABLE_REWRITE = "table-rewrite"
    TRANSACTION_CONTROL = "transaction-control"
    TRUNCATE = "truncate"
    UNIQUE_DUPLICATES = "unique-duplicates"
    UNIQUE_UNCHECKED = "unique-unchecked"
    UPDATE_WITHOUT_WHERE = "update-without-where"


@dataclass(frozen=True)
class Finding:
    migration: str  # folder name
    statement: int  # 1-based Statement.index in the file
    rule: Rule  # a plain string naming a rule is taken and checked against Rule
    severity: Severity
    message: str  # one line, with numbers: for a person, never read back by code
    table: str | None
    safe_alternative: str  # one line: what to do instead
    lock: LockMode | None = None  # lock mode taken
    #: The table was created earlier in the pending batch: nobody uses it yet, so its locks block nobody.
    created_in_batch: bool = False
    #: The table holds no rows when the statement runs (new, or empty in the live database).
    table_empty: bool = False
    #: The statement's number as the deploy sends and logs it (apply.plan.sent_numbers); None for one it does not
    #: send (the script's own BEGIN/COMMIT). What is shown; `statement` is the key within the file.
    number: int | None = None

    @property
    def shown_number(self) -> str:
        """How the statement is named to a person: its number as the deploy logs it, or what it is when unsent."""
        return str(self.number) if self.number is not None else "not sent"

    def __post_init__(self) -> None:
        # An unknown rule, severity or lock mode is a bug in a rule: fail loudly where it is written. (Given
        # as members, as thousands of remembered findings are, they are taken as they are.)
        if type(self.rule) is not Rule:
            object.__setattr__(self, "rule", Rule(self.rule))
        if type(self.severity) is not Severity:
            object.__setattr__(self, "severity", Severity(self.severity))
        if self.lock is not None and type(self.lock) is not LockMode:
            object.__setattr__(self, "lock", LockMode(self.lock))

    def to_dict(self) -> dict[str, object]:
        return {
            "migration": self.migration,
            # Numbered as the deploy's log numbers it (null: a statement the deploy does not send).
            "statement": self.number,
            "rule": self.rule.value,
            "severity": self.severity.value,
            "message": self.message,
            "table": self.table,
            "safe_alternative": self.safe_alternative,
            "lock": self.lock.value if self.lock is not None else None,
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
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def to_dict(self) -> dict[str, object]:
        return {"findings": [f.to_dict() for f in self.findings]}
