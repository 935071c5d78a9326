"""A data migration's long run of INSERTs is linted by its shape: the gate as strict, the work not per row."""

from __future__ import annotations

from pathlib import Path

from lumiku_tui.prisma.folder import LocalMigration
from lumiku_tui.safety.lint import lint_migrations
from lumiku_tui.safety.rules.model import Rule, Severity

CREATE = 'CREATE TABLE "Event" ("id" INTEGER NOT NULL, "note" TEXT);\n'


def _migration(name: str, script: str) -> LocalMigration:
    return LocalMigration(name, Path("/nowhere") / name, script.encode())


def _rows(count: int, *, table: str = '"Event"', start: int = 1) -> str:
    return "".join(f"INSERT INTO {table} (\"id\", \"note\") VALUES ({i}, 'row {i}; with a semicolon');\n"
                   for i in range(start, start + count))


def test_a_run_of_same_shape_inserts_is_judged_once_and_named_in_one_finding() -> None:
    report = lint_migrations([_migration("20240101000000_a", CREATE + _rows(1000))])
    data = [f for f in report.findings if f.rule is Rule.DATA_CHANGE]
    # The first and the last INSERT are analysed (the last keeps where rows were last added); one finding
    # names the 998 between, which were not parsed one by one.
    assert [f.statement for f in data] == [2, 3, 1001]
    summary = data[1]
    assert summary.severity is Severity.INFO
    assert "Statements 3-1000 (998 INSERTs)" in summary.message and "statement 2" in summary.message
    assert "PostgreSQL reports a syntax error among them" in summary.message


def test_short_runs_and_other_shapes_are_analysed_statement_by_statement() -> None:
    script = (CREATE + _rows(3) + _rows(2, table='public."Event"', start=10)
              + "INSERT INTO \"Event\" (\"id\", \"note\") VALUES (99, 'x') ON CONFLICT DO NOTHING;\n"
              + "INSERT INTO \"Event\" (\"id\") VALUES (100);\n")
    report = lint_migrations([_migration("20240101000000_a", script)])
    data = [f for f in report.findings if f.rule is Rule.DATA_CHANGE]
    assert [f.statement for f in data] == [2, 3, 4, 5, 6, 7, 8]
    assert not any("not parsed one by one" in f.message for f in data)


def test_a_syntax_error_in_the_first_or_last_insert_of_a_run_is_still_found() -> None:
    bad_last = CREATE + _rows(100) + "INSERT INTO \"Event\" (\"id\", \"note\") VALUES (101, 'x',);\n"
    report = lint_migrations([_migration("20240101000000_a", bad_last)])
    assert [f.statement for f in report.findings if f.rule is Rule.SYNTAX_ERROR] == [102]
