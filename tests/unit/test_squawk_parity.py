"""Every statement Squawk flags for locking, rewrites, required fields, concurrent indexes and foreign
keys, lumiku-tui flags too - on a corpus of migrations and on the report's own migrations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lumiku_tui.safety.lint import lint_migrations
from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.sql.split import split_statements
from tests.conftest import SHIPPED_MIGRATIONS

CORPUS = Path(__file__).parent / "squawk_corpus"
REPORT_MIGRATIONS = ("20251014_add_avatar_creator_complete", "20251015_add_recovery_indexes",
                     "20251015_add_variation_key_to_generated_pose", "20251016_p2_performance_indexes")

#: Squawk rule -> the lumiku-tui rules that cover it. A statement Squawk flags must carry one of them.
COVERED_BY: dict[str, set[str]] = {
    # locking
    "require-lock-timeout": set(),  # special: any finding that names the lock the statement takes
    "require-concurrent-index-creation": {"index-without-concurrently", "concurrently-in-transaction"},
    "require-concurrent-index-deletion": {"drop-index-without-concurrently"},
    "disallowed-unique-constraint": {"constraint-builds-index"},
    "adding-primary-key-constraint": {"constraint-builds-index"},
    "renaming-column": {"rename-column"},
    "renaming-table": {"rename-table"},
    "ban-drop-column": {"drop-column"},
    "ban-drop-table": {"drop-table"},
    "ban-truncate-cascade": {"truncate"},
    # rewrites
    "changing-column-type": {"table-rewrite"},
    "adding-field-with-default": {"table-rewrite"},
    "adding-serial-primary-key-field": {"table-rewrite", "constraint-builds-index"},
    # required fields
    "adding-required-field": {"add-column-not-null-without-default"},
    "adding-not-nullable-field": {"set-not-null-scan", "set-not-null-has-nulls", "add-column-not-null-without-default"},
    # concurrent indexes
    "ban-concurrent-index-creation-in-transaction": {"concurrently-in-transaction"},
    # foreign keys and validation
    "adding-foreign-key-constraint": {"foreign-key-without-not-valid", "lock"},
    "constraint-missing-not-valid": {"foreign-key-without-not-valid", "check-constraint-without-not-valid",
                                     "constraint-builds-index"},
    # transaction control
    "transaction-nesting": {"transaction-control"},
}

# pip puts squawk-cli's executable beside the interpreter, which is not on PATH when the venv's python is run
# by its path (README's test command).
squawk = shutil.which("squawk") or shutil.which("squawk", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(squawk is None, reason="squawk is not on PATH (pip install squawk-cli)")


def _squawk_findings(paths: list[Path]) -> list[dict]:
    proc = subprocess.run([squawk, "--reporter", "json", *map(str, paths)], capture_output=True, text=True)  # type: ignore[list-item]
    assert proc.stdout.strip(), f"squawk printed nothing: {proc.stderr}"
    return json.loads(proc.stdout)


def _statement_at(migration: LocalMigration, line0: int) -> int:
    """The statement index covering 0-based `line0` of the file (Squawk's line numbers)."""
    line = line0 + 1
    covering = 0
    for stmt in split_statements(migration.script):
        if stmt.text_line <= line <= stmt.text_line + stmt.text.count("\n"):
            covering = stmt.index
    assert covering, f"no statement at line {line} of {migration.name}"
    return covering


def _compare(migrations: list[LocalMigration]) -> tuple[list[str], int]:
    """Statements Squawk flags in a covered family that lumiku-tui leaves unflagged; and how many were checked."""
    by_file = {str(m.path): m for m in migrations}
    reports = {m.name: lint_migrations([m]) for m in migrations}
    missing: list[str] = []
    checked = 0
    for item in _squawk_findings([m.path for m in migrations]):
        rule = item["rule_name"]
        if rule not in COVERED_BY:
            continue  # style rules (prefer-text-field, prefer-bigint-over-int, ...) are not safety findings
        migration = by_file[item["file"]]
        index = _statement_at(migration, item["line"])
        ours = reports[migration.name].for_statement(migration.name, index)
        wanted = COVERED_BY[rule]
        covered = any(f.lock for f in ours) if not wanted else any(f.rule in wanted for f in ours)
        checked += 1
        if not covered:
            missing.append(f"{migration.name} statement {index}: squawk {rule}; lumiku-tui: "
                           f"{sorted(f.rule for f in ours) or 'nothing'}")
    return missing, checked


def test_corpus_covers_every_rule_family() -> None:
    flagged = {item["rule_name"] for item in _squawk_findings(sorted(CORPUS.glob("*.sql")))}
    for family in ("require-lock-timeout", "changing-column-type", "adding-field-with-default",
                   "adding-required-field", "adding-not-nullable-field", "require-concurrent-index-creation",
                   "ban-concurrent-index-creation-in-transaction", "adding-foreign-key-constraint",
                   "constraint-missing-not-valid"):
        assert family in flagged, f"the corpus no longer triggers squawk's {family}"


def test_lumiku_flags_everything_squawk_flags_on_the_corpus() -> None:
    corpus = [LocalMigration(p.stem, p, p.read_bytes()) for p in sorted(CORPUS.glob("*.sql"))]
    missing, checked = _compare(corpus)
    assert checked >= 40
    assert not missing, "\n".join(missing)


def test_lumiku_flags_everything_squawk_flags_on_the_reports_migrations() -> None:
    paths = [SHIPPED_MIGRATIONS / name / "migration.sql" for name in REPORT_MIGRATIONS]
    missing, checked = _compare([LocalMigration(p.parent.name, p, p.read_bytes()) for p in paths])
    assert checked >= 20
    assert not missing, "\n".join(missing)
