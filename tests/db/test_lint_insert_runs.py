"""The gate over a data migration linted by its shape: as strict as over one INSERT (a live catalog)."""

from __future__ import annotations

from lumiku_tui.safety.gate import blocking_findings
from lumiku_tui.safety.lint import lint_migrations
from lumiku_tui.safety.rules.model import Rule
from tests.unit.test_lint_insert_runs import _migration, _rows


def test_a_run_into_a_table_that_does_not_exist_stops_the_deploy_as_one_insert_does(db) -> None:
    with db.connect() as conn:
        one = lint_migrations([_migration("20240101000000_a", _rows(1, table='"Missing"'))], conn)
        many = lint_migrations([_migration("20240101000000_a", _rows(2000, table='"Missing"'))], conn)
    assert [(f.statement, f.rule) for f in blocking_findings(one)] == [(1, Rule.MISSING_OBJECT)]
    blocked = blocking_findings(many)
    assert blocked and blocked[0].statement == 1 and all(f.rule is Rule.MISSING_OBJECT for f in blocked)


def test_a_run_into_a_live_table_does_not_stop_the_deploy(db) -> None:
    with db.connect() as conn:
        conn.execute('CREATE TABLE "Event" ("id" INTEGER NOT NULL, "note" TEXT)')
        conn.commit()
        report = lint_migrations([_migration("20240101000000_a", _rows(2000))], conn)
    assert blocking_findings(report) == []
    assert any("not parsed one by one" in f.message for f in report.findings)
