"""Safety findings, each rule against a real database state that triggers it and one that does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lumiku_tui.safety.lint import LintReport, lint_migrations, lint_pending
from lumiku_tui.apply.rehearse import rehearse
from lumiku_tui.safety import measured as facts_module
from lumiku_tui.prisma.folder import load_folder
from tests.conftest import APP_PASSWORD, SHIPPED_MIGRATIONS, Database

AVATAR = "20251014_add_avatar_creator_complete"


@pytest.fixture
def lint(db: Database, migrations: Callable[..., Path]) -> Callable[..., LintReport]:
    """lint(setup_sql, {"name": sql, ...} or one script) -> the report for the pending migrations."""

    def run(setup: str, scripts: dict[str, str] | str) -> LintReport:
        if setup:
            with db.connect() as conn:
                conn.execute(setup.encode())  # type: ignore[arg-type]
                conn.execute("ANALYZE")
        if isinstance(scripts, str):
            scripts = {"20250101000000_change": scripts}
        folder = load_folder(migrations(scripts))
        return lint_pending(db.target, folder)

    return run


def rules(report: LintReport, severity: str | None = None) -> set[str]:
    return {f.rule for f in report.findings if severity is None or f.severity == severity}


def only(report: LintReport, rule: str) -> list:
    return [f for f in report.findings if f.rule == rule]


ROWS3 = "CREATE TABLE t (id int PRIMARY KEY, a int, b text); INSERT INTO t SELECT g, g, 'x' FROM generate_series(1, 3) g;"
EMPTY = "CREATE TABLE t (id int PRIMARY KEY, a int, b text);"


# --- the demo: the report's own migrations against the report's database --------------------------


def test_demo_shows_the_reports_real_risks(demo_db: Database) -> None:
    report = lint_pending(demo_db.target, load_folder(SHIPPED_MIGRATIONS))
    avatar = report.for_migration(AVATAR)

    def at(statement: int, rule: str):  # type: ignore[no-untyped-def]
        found = [f for f in avatar if f.statement == statement and f.rule == rule]
        assert found, f"no {rule} at statement {statement}: {[(f.statement, f.rule) for f in avatar]}"
        return found[0]

    # BEGIN/COMMIT inside the script, although each migration already runs in a transaction.
    assert at(1, "transaction-control").severity == "warning"
    # The backfill UPDATE: the report says "no data modifications".
    update = at(20, "data-change")
    assert "all 800 rows" in update.message and update.table == "avatar_generations"
    # SET NOT NULL scans the table under ACCESS EXCLUSIVE; the backfill leaves no NULLs, so it will not fail.
    scan = at(21, "set-not-null-scan")
    # Messages number statements as the deploy's log does: the script's own BEGIN is not sent, so the UPDATE,
    # 20th in the file, is statement 19.
    assert scan.lock == "ACCESS EXCLUSIVE" and "800 rows" in scan.message and "backfill in statement 19" in scan.message
    assert not report.errors
    # Index builds on tables with rows block writes; the ones on tables the migration creates do not.
    index = at(36, "index-without-concurrently")
    assert index.lock == "SHARE" and "avatar_generations (800 rows" in index.message
    # avatars_userId_idx: on a table this migration creates, the lock blocks nobody.
    assert [(f.rule, f.severity) for f in avatar if f.statement == 26] == [("index-without-concurrently", "info")]
    # Foreign keys validated without NOT VALID on a table with rows lock both tables.
    fk = at(56, "foreign-key-without-not-valid")
    assert fk.lock == "SHARE ROW EXCLUSIVE" and "avatar_projects" in fk.message
    # "Safe to re-run": the ADD CONSTRAINTs are not; said as info, since nothing of it ran before.
    assert at(50, "not-idempotent").severity == "info"
    assert len([f for f in avatar if f.rule == "not-idempotent"]) == 16
    # And the whole-migration view: users stays locked while the slow statements run.
    held = at(12, "locks-held-until-commit")
    assert "users (from statement 11)" in held.message and "35" in held.message
    assert held.number == 11 and update.number == 19, "shown as the deploy's log numbers them"
    recovery = report.for_migration("20251015_add_recovery_indexes")
    assert {f.rule for f in recovery} == {"index-without-concurrently"} and len(recovery) == 5


def test_a_rerun_after_a_partial_apply_fails_on_the_foreign_keys(demo_db: Database) -> None:
    """The report's troubleshooting says IF NOT EXISTS makes a re-run skip what exists. Its ADD CONSTRAINTs
    have no such guard: once the script ran by hand (history not written), deploying it again fails."""
    script = (SHIPPED_MIGRATIONS / AVATAR / "migration.sql").read_text()
    with demo_db.connect() as conn:
        conn.execute(script.encode())  # type: ignore[arg-type]  # applied by hand, as in the report's terminal
    report = lint_pending(demo_db.target, load_folder(SHIPPED_MIGRATIONS))
    errors = [f for f in report.errors if f.migration == AVATAR]
    assert len(errors) == 16 and {f.rule for f in errors} == {"already-exists"}
    assert "avatar_projects_userId_fkey already exists" in errors[0].message
    skipped = [f for f in report.for_migration(AVATAR) if f.rule == "exists-skipped"]
    assert len(skipped) >= 10 and all(f.severity == "info" for f in skipped)
    # The rehearsal agrees: it fails at the first of those statements.
    rehearsal = rehearse(demo_db.target, load_folder(SHIPPED_MIGRATIONS))
    failed = rehearsal.migrations[0]
    # The dry run and lint name the statement by the same number (as the deploy logs it).
    assert not failed.ok and failed.statement_index == errors[0].number and failed.sqlstate == "42710"


def test_demo_lint_cli_json_and_exit_code(demo_db: Database, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = run_cli("lint", "--json", "--database-url", demo_db.url, "--migrations", str(SHIPPED_MIGRATIONS))
    assert code == 0, err
    data = json.loads(out)
    assert data["findings"] and {"migration", "statement", "rule", "severity", "message", "table"} <= set(
        data["findings"][0])
    assert APP_PASSWORD not in out + err
    code, out, err = run_cli("lint", "--database-url", demo_db.url, "--migrations", str(SHIPPED_MIGRATIONS))
    assert code == 0 and "index-without-concurrently" in out and "4 pending migration(s)" in out
    # Numbered as the deploy's log numbers them: the avatar migration's own BEGIN is not sent.
    assert "stmt  16 line  233  info    lock [ACCESS EXCLUSIVE]" in out  # avatar_generations: shown in full
    assert "lock(s) on tables this batch creates (statements 24-34, 37-47" in out
    assert "stmt  18 line  238  info    data-change" in out
    assert APP_PASSWORD not in out + err


def test_cli_exits_1_on_an_error_finding(db: Database, migrations: Callable[..., Path],
                                         run_cli: Callable[..., tuple[int, str, str]]) -> None:
    db.query(ROWS3)
    path = migrations({"20250101000000_req": "ALTER TABLE t ADD COLUMN c int NOT NULL;"})
    code, out, _ = run_cli("lint", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 1
    assert [f["rule"] for f in json.loads(out)["findings"] if f["severity"] == "error"] == [
        "add-column-not-null-without-default"]


def test_nothing_pending_means_no_findings(db: Database, migrations: Callable[..., Path],
                                           run_cli: Callable[..., tuple[int, str, str]]) -> None:
    path = migrations({"20250101000000_a": "CREATE TABLE a (id int);"})
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))[0] == 0
    code, out, _ = run_cli("lint", "--database-url", db.url, "--migrations", str(path))
    assert code == 0 and "Nothing pending" in out


# --- required fields --------------------------------------------------------------------------------


def test_add_not_null_column_without_default(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "ALTER TABLE t ADD COLUMN c int NOT NULL;")
    [finding] = only(report, "add-column-not-null-without-default")
    assert finding.severity == "error" and "3 rows" in finding.message and finding.table == "t"


def test_add_not_null_column_on_an_empty_table_or_with_default_is_fine(lint: Callable[..., LintReport]) -> None:
    assert not only(lint(EMPTY, "ALTER TABLE t ADD COLUMN c int NOT NULL;"), "add-column-not-null-without-default")


def test_add_not_null_column_with_default(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;")
    assert not report.errors and not only(report, "table-rewrite")
    [lock] = only(report, "lock")
    assert lock.lock == "ACCESS EXCLUSIVE" and "3 rows" in lock.message and "no rewrite" in lock.message


# --- SET NOT NULL -----------------------------------------------------------------------------------


def test_set_not_null_counts_the_nulls(lint: Callable[..., LintReport]) -> None:
    setup = ROWS3 + "INSERT INTO t VALUES (4, NULL, 'y'), (5, NULL, 'z');"
    [finding] = only(lint(setup, 'ALTER TABLE t ALTER COLUMN a SET NOT NULL;'), "set-not-null-has-nulls")
    assert finding.severity == "error" and "2 of 5 rows" in finding.message


def test_set_not_null_without_nulls_is_a_scan_warning(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;")
    assert not report.errors
    [scan] = only(report, "set-not-null-scan")
    assert scan.severity == "warning" and scan.lock == "ACCESS EXCLUSIVE" and "no NULLs now" in scan.message


def test_set_not_null_on_a_column_added_in_the_batch_without_backfill(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {"20250101000000_add": "ALTER TABLE t ADD COLUMN c text;",
                          "20250102000000_req": "ALTER TABLE t ALTER COLUMN c SET NOT NULL;"})
    [finding] = only(report, "set-not-null-has-nulls")
    assert finding.migration == "20250102000000_req" and "3 of 3 rows" in finding.message


def test_set_not_null_after_a_partial_backfill_is_left_to_the_rehearsal(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "ALTER TABLE t ADD COLUMN IF NOT EXISTS c text;\nUPDATE t SET c = 'x' WHERE id < 3;\n"
                         "ALTER TABLE t ALTER COLUMN c SET NOT NULL;")
    assert not only(report, "set-not-null-has-nulls")
    [scan] = only(report, "set-not-null-scan")
    assert "cannot be told beforehand" in scan.message and "statement 2" in scan.message


def test_big_tables_are_estimated_not_counted(lint: Callable[..., LintReport], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts_module, "EXACT_COUNT_MAX_ROWS", 2)
    monkeypatch.setattr(facts_module, "EXACT_COUNT_MAX_BYTES", 1)
    setup = ROWS3 + "INSERT INTO t VALUES (4, NULL, 'y');"
    report = lint(setup, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;")
    assert not only(report, "set-not-null-has-nulls")  # not counted on a "big" table
    [scan] = only(report, "set-not-null-scan")
    assert "~4 rows (estimated)" in scan.message and "NULLs not counted" in scan.message


# --- uniqueness -------------------------------------------------------------------------------------


def test_unique_index_over_duplicates(lint: Callable[..., LintReport]) -> None:
    setup = ROWS3 + "INSERT INTO t VALUES (4, 1, 'x'), (5, 2, 'x');"
    report = lint(setup, 'CREATE UNIQUE INDEX IF NOT EXISTS t_a_key ON t (a);')
    [finding] = only(report, "unique-duplicates")
    assert finding.severity == "error" and "2 duplicated value(s)" in finding.message


def test_unique_constraint_over_distinct_values(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);")
    assert not only(report, "unique-duplicates") and not report.errors
    [build] = only(report, "constraint-builds-index")
    assert build.lock == "ACCESS EXCLUSIVE"


# --- index builds -----------------------------------------------------------------------------------


def test_index_without_concurrently_on_a_table_with_rows(lint: Callable[..., LintReport]) -> None:
    [finding] = only(lint(ROWS3, "CREATE INDEX IF NOT EXISTS t_a_idx ON t (a);"), "index-without-concurrently")
    assert finding.severity == "warning" and finding.lock == "SHARE" and "3 rows" in finding.message
    assert not finding.table_empty and not finding.created_in_batch  # a live table with rows: its lock matters


def test_index_on_an_empty_or_new_table_is_not_a_warning(lint: Callable[..., LintReport]) -> None:
    report = lint(EMPTY, {"20250101000000_a": "CREATE INDEX IF NOT EXISTS t_a_idx ON t (a);",
                          "20250102000000_b": "CREATE TABLE IF NOT EXISTS n (x int);",
                          "20250103000000_c": "CREATE INDEX IF NOT EXISTS n_x_idx ON n (x);"})
    assert not rules(report, "warning") and not report.errors
    assert [f.message for f in report.findings if f.rule == "lock"][0].count("empty") == 1
    # A table of this batch: nobody uses it yet, so the build is only mentioned.
    [new_table] = report.for_migration("20250103000000_c")
    assert new_table.severity == "info" and "blocks nobody" in new_table.message
    # The same facts as fields, for code to read: the live table is empty but not new; the other is both.
    [live] = report.for_migration("20250101000000_a")
    assert live.table_empty and not live.created_in_batch
    assert new_table.created_in_batch and new_table.table_empty


def test_concurrently_alone_is_fine_but_not_inside_a_transaction(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {
        "20250101000000_alone": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);",
        "20250102000000_mixed": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_b_idx ON t (b);\n"
                                "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;",
    })
    assert not report.for_migration("20250101000000_alone") or all(
        f.severity == "info" for f in report.for_migration("20250101000000_alone"))
    [finding] = only(report, "concurrently-in-transaction")
    assert finding.migration == "20250102000000_mixed" and finding.severity == "error"


def test_drop_index_without_concurrently(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3 + "CREATE INDEX t_a_idx ON t (a);", "DROP INDEX IF EXISTS t_a_idx;")
    assert only(report, "drop-index-without-concurrently")
    report = lint("", {"20250101000000_x": "DROP INDEX CONCURRENTLY IF EXISTS t_a_idx;"})
    assert not [f for f in only(report, "drop-index-without-concurrently") if f.migration == "20250101000000_x"]


# --- foreign keys -----------------------------------------------------------------------------------

PARENT_CHILD = ("CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1), (2);"
                "CREATE TABLE c (id int PRIMARY KEY, p_id int); INSERT INTO c VALUES (1, 1), (2, 2), (3, NULL);")
ADD_FK = "ALTER TABLE c ADD CONSTRAINT c_p_fkey FOREIGN KEY (p_id) REFERENCES p(id)"


def test_foreign_key_without_not_valid_locks_both_tables(lint: Callable[..., LintReport]) -> None:
    report = lint(PARENT_CHILD, ADD_FK + ";")
    [finding] = only(report, "foreign-key-without-not-valid")
    assert finding.lock == "SHARE ROW EXCLUSIVE" and "c (3 rows" in finding.message and "p (2 rows" in finding.message
    assert not report.errors


def test_foreign_key_not_valid_is_fine(lint: Callable[..., LintReport]) -> None:
    report = lint(PARENT_CHILD, ADD_FK + " NOT VALID;")
    assert not only(report, "foreign-key-without-not-valid") and not report.errors
    assert [f.lock for f in only(report, "lock")] == ["SHARE ROW EXCLUSIVE"]


def test_foreign_key_orphans_are_counted(lint: Callable[..., LintReport]) -> None:
    report = lint(PARENT_CHILD + "INSERT INTO c VALUES (4, 99), (5, 98);", ADD_FK + ";")
    [finding] = only(report, "foreign-key-orphans")
    assert finding.severity == "error" and "2 row(s) of c" in finding.message


def test_check_constraint_without_not_valid(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {"20250101000000_a": "ALTER TABLE t ADD CONSTRAINT t_a_pos CHECK (a > 0);",
                          "20250102000000_b": "ALTER TABLE t ADD CONSTRAINT t_id_pos CHECK (id > 0) NOT VALID;"})
    [finding] = only(report, "check-constraint-without-not-valid")
    assert finding.migration == "20250101000000_a" and "3 rows" in finding.message


def test_unique_constraint_using_an_existing_index_builds_nothing(lint: Callable[..., LintReport]) -> None:
    setup = ROWS3 + "CREATE UNIQUE INDEX t_a_idx ON t (a);"
    report = lint(setup, "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE USING INDEX t_a_idx;")
    assert not only(report, "constraint-builds-index") and not report.errors


def test_foreign_key_to_a_new_empty_table_orphans_every_row(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "CREATE TABLE IF NOT EXISTS kinds (id int PRIMARY KEY);\n"
                         "ALTER TABLE t ADD CONSTRAINT t_kind_fkey FOREIGN KEY (a) REFERENCES kinds(id);")
    [finding] = only(report, "foreign-key-orphans")
    assert "3 row(s) of t reference a missing kinds row" in finding.message


# --- rewrites, renames, drops -----------------------------------------------------------------------


def test_type_change_that_rewrites(lint: Callable[..., LintReport]) -> None:
    [finding] = only(lint(ROWS3, "ALTER TABLE t ALTER COLUMN a TYPE bigint;"), "table-rewrite")
    assert "integer -> bigint" in finding.message and finding.lock == "ACCESS EXCLUSIVE"


def test_binary_compatible_type_change_does_not_rewrite(lint: Callable[..., LintReport]) -> None:
    setup = "CREATE TABLE t (id int, v varchar(50)); INSERT INTO t VALUES (1, 'a');"
    report = lint(setup, "ALTER TABLE t ALTER COLUMN v TYPE text;")
    assert not only(report, "table-rewrite")
    assert "no rewrite" in only(report, "lock")[0].message


def test_volatile_default_rewrites_constant_does_not(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {"20250101000000_a": "ALTER TABLE t ADD COLUMN IF NOT EXISTS u uuid DEFAULT gen_random_uuid();",
                          "20250102000000_b": "ALTER TABLE t ADD COLUMN IF NOT EXISTS s timestamptz DEFAULT now();"})
    assert [f.migration for f in only(report, "table-rewrite")] == ["20250101000000_a"]


def test_renames_break_the_running_app(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {"20250101000000_a": "ALTER TABLE t RENAME COLUMN b TO label;",
                          "20250102000000_b": "ALTER TABLE t RENAME TO things;"})
    assert rules(report, "warning") >= {"rename-column", "rename-table"}


def test_drops_lose_data_only_when_there_is_data(lint: Callable[..., LintReport]) -> None:
    with_rows = lint(ROWS3 + "CREATE TABLE gone (id int); INSERT INTO gone VALUES (1);",
                     {"20250101000000_a": "ALTER TABLE t DROP COLUMN IF EXISTS b;",
                      "20250102000000_b": "DROP TABLE IF EXISTS gone;"})
    assert {f.rule for f in with_rows.errors} == {"drop-column", "drop-table"}
    assert "all 3 rows" in only(with_rows, "drop-column")[0].message


def test_drops_of_empty_tables_are_warnings(lint: Callable[..., LintReport]) -> None:
    report = lint(EMPTY, "ALTER TABLE t DROP COLUMN IF EXISTS b;")
    assert not report.errors and only(report, "drop-column")[0].severity == "warning"


def test_truncate_loses_rows(lint: Callable[..., LintReport]) -> None:
    assert only(lint(ROWS3, "TRUNCATE t;"), "truncate")[0].severity == "error"


def test_truncate_of_an_empty_table_is_a_warning(lint: Callable[..., LintReport]) -> None:
    assert only(lint(EMPTY, "TRUNCATE t;"), "truncate")[0].severity == "warning"


def test_locks_held_while_later_statements_work(lint: Callable[..., LintReport]) -> None:
    together = lint(ROWS3, "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCREATE INDEX IF NOT EXISTS t_a_idx ON t (a);")
    [held] = only(together, "locks-held-until-commit")
    assert held.statement == 1 and "t (from statement 1)" in held.message and "statement 2 runs" in held.message


def test_no_locks_held_across_separate_migrations(lint: Callable[..., LintReport]) -> None:
    apart = lint(ROWS3, {"20250101000000_a": "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;",
                         "20250102000000_b": "CREATE INDEX IF NOT EXISTS t_a_idx ON t (a);"})
    assert not only(apart, "locks-held-until-commit")


# --- data changes -----------------------------------------------------------------------------------


def test_update_and_delete_without_where(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, {"20250101000000_a": "UPDATE t SET b = 'y';", "20250102000000_b": "DELETE FROM t;"})
    [update] = only(report, "update-without-where")
    assert update.severity == "warning" and "all 3 rows" in update.message
    [delete] = only(report, "delete-without-where")
    assert delete.severity == "error"


def test_update_with_where_is_a_data_change_not_an_error(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "UPDATE t SET b = 'y' WHERE id = 1;")
    assert rules(report) == {"data-change"} and not report.errors


def test_a_schema_only_migration_has_no_data_change(lint: Callable[..., LintReport]) -> None:
    assert not only(lint(ROWS3, "ALTER TABLE t ADD COLUMN IF NOT EXISTS c int;"), "data-change")


# --- idempotency and existing objects ----------------------------------------------------------------


def test_existing_objects_make_statements_fail(lint: Callable[..., LintReport]) -> None:
    setup = ROWS3 + "ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a > 0);"
    report = lint(setup, {"20250101000000_a": "CREATE TABLE t (id int);",
                          "20250102000000_b": "ALTER TABLE t ADD CONSTRAINT t_a_check CHECK (a > 0);",
                          "20250103000000_c": "ALTER TABLE t ADD COLUMN a int;"})
    assert [f.migration for f in only(report, "already-exists")] == [
        "20250101000000_a", "20250102000000_b", "20250103000000_c"]


def test_if_not_exists_on_a_different_existing_table_is_named(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "CREATE TABLE IF NOT EXISTS t (id int, a int, b text, avatar text);")
    [skipped] = only(report, "exists-skipped")
    assert skipped.severity == "warning" and "avatar" in skipped.message


def test_not_idempotent_only_flags_statements_without_guards(lint: Callable[..., LintReport]) -> None:
    report = lint("", {"20250101000000_a": "CREATE TABLE IF NOT EXISTS a (id int);\nCREATE TABLE b (id int);"})
    [finding] = only(report, "not-idempotent")
    # A first run in one transaction cannot half-apply: only mentioned, with why it would matter.
    assert finding.statement == 2 and finding.severity == "info" and "written to be re-run" in finding.message
    plain = lint("", {"20250102000000_c": "CREATE TABLE c (id int);"})
    assert [f.severity for f in only(plain, "not-idempotent") if f.migration == "20250102000000_c"] == ["info"]


def test_not_idempotent_is_a_warning_where_objects_already_exist(lint: Callable[..., LintReport]) -> None:
    """Applied in part by hand: the table exists, so the unguarded index after it is what stops a re-run."""
    report = lint("CREATE TABLE a (id int);", "CREATE TABLE IF NOT EXISTS a (id int);\nCREATE INDEX a_id_idx ON a (id);")
    [finding] = only(report, "not-idempotent")
    assert finding.severity == "warning" and "already exist" in finding.message


def test_not_idempotent_is_a_warning_in_a_migration_that_failed_before(
        db: Database, migrations: Callable[..., Path], run_cli: Callable[..., tuple[int, str, str]]) -> None:
    path = migrations({"20250101000000_a": "CREATE TABLE a (id int);\nSELECT 1/0;"})
    assert run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))[0] == 1
    assert run_cli("resolve", "--rolled-back", "20250101000000_a", "--database-url", db.url,
                   "--migrations", str(path))[0] == 0
    report = lint_pending(db.target, load_folder(path))
    [finding] = only(report, "not-idempotent")
    assert finding.severity == "warning" and "failed before" in finding.message


# --- scripts: transaction control, settings, syntax, missing tables -----------------------------------


def test_transaction_control(lint: Callable[..., LintReport]) -> None:
    report = lint(EMPTY, {"20250101000000_wrapped": "BEGIN;\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;\nCOMMIT;",
                          "20250102000000_inner": "ALTER TABLE t ADD COLUMN IF NOT EXISTS d int;\nCOMMIT;\n"
                                                  "ALTER TABLE t ADD COLUMN IF NOT EXISTS e int;",
                          "20250103000000_plain": "ALTER TABLE t ADD COLUMN IF NOT EXISTS f int;",
                          "20250104000000_rollback": "ALTER TABLE t ADD COLUMN IF NOT EXISTS g int;\nROLLBACK;\n"
                                                     "ALTER TABLE t ADD COLUMN IF NOT EXISTS h int;"})
    found = {(f.migration, f.severity) for f in only(report, "transaction-control")}
    # A COMMIT inside runs the script in parts, as Prisma does: not atomic (a warning), yet it deploys.
    # What the deploy refuses (a ROLLBACK in the middle) is an error.
    assert found == {("20250101000000_wrapped", "warning"), ("20250102000000_inner", "warning"),
                     ("20250104000000_rollback", "error")}
    [inner] = [f for f in only(report, "transaction-control") if f.migration == "20250102000000_inner"]
    assert "is not atomic" in inner.message and "2 parts" in inner.message


def test_set_without_local_leaks(lint: Callable[..., LintReport]) -> None:
    report = lint(EMPTY, {"20250101000000_a": "SET search_path = other;\nALTER TABLE t ADD COLUMN IF NOT EXISTS c int;",
                          "20250102000000_b": "SET LOCAL search_path = public;"})
    [leak] = only(report, "set-leaks")
    assert leak.migration == "20250101000000_a" and leak.severity == "warning"


def test_syntax_error_with_position(lint: Callable[..., LintReport]) -> None:
    report = lint("", "CREATE TABLE IF NOT EXISTS a (id int);\n\nCREATE TABLE IF NOT EXISTS b (id int,, x int);")
    [finding] = only(report, "syntax-error")
    assert finding.statement == 2 and "line 3, column 38" in finding.message


def test_missing_table(lint: Callable[..., LintReport]) -> None:
    report = lint("", "ALTER TABLE nowhere ADD COLUMN IF NOT EXISTS c int;")
    assert [f.rule for f in report.errors] == ["missing-object"]
    created = lint("", "CREATE TABLE IF NOT EXISTS somewhere (id int);\nALTER TABLE somewhere ADD COLUMN IF NOT EXISTS c int;")
    assert not created.errors


def test_a_schema_other_than_public(db: Database, migrations: Callable[..., Path]) -> None:
    from lumiku_tui.pg.target import parse_database_url

    db.query("CREATE SCHEMA app; CREATE TABLE app.t (id int, a int); INSERT INTO app.t VALUES (1, NULL), (2, 2);"
             "CREATE TABLE public.t (id int, a int);")
    folder = load_folder(migrations({"20250101000000_a": "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"}))
    report = lint_pending(parse_database_url(db.url_with(schema="app"), origin="test"), folder)
    [finding] = only(report, "set-not-null-has-nulls")  # counted in app.t, not in the empty public.t
    assert "1 of 2 rows" in finding.message


# --- without a database -------------------------------------------------------------------------------


def test_static_lint_without_a_database(migrations: Callable[..., Path]) -> None:
    folder = load_folder(migrations({"20250101000000_a": "ALTER TABLE t ADD COLUMN c int NOT NULL;\n"
                                                         "CREATE INDEX t_c_idx ON t (c);"}))
    report = lint_migrations(folder.migrations)
    by_rule = {f.rule: f for f in report.findings}
    # Sizes are unknown: a possible failure is a warning, not an error.
    assert by_rule["add-column-not-null-without-default"].severity == "warning"
    assert "size unknown" in by_rule["index-without-concurrently"].message
    assert not report.errors
    assert report.to_dict()["findings"][0]["migration"] == "20250101000000_a"


# --- any mix of statements: findings always point at a real statement ------------------------------

_TEMPLATES = (
    "CREATE TABLE IF NOT EXISTS {t} (id int PRIMARY KEY, a int)", "CREATE TABLE {t} (id int)",
    "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS c int NOT NULL", "ALTER TABLE {t} ADD COLUMN d uuid DEFAULT gen_random_uuid()",
    "ALTER TABLE {t} ALTER COLUMN a SET NOT NULL", "ALTER TABLE {t} ALTER COLUMN a TYPE bigint",
    "ALTER TABLE {t} DROP COLUMN IF EXISTS a", "ALTER TABLE {t} RENAME COLUMN a TO b", "ALTER TABLE {t} RENAME TO {t}_x",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_fk FOREIGN KEY (a) REFERENCES other(id)", "ALTER TABLE {t} ADD UNIQUE (a)",
    "ALTER TABLE {t} ADD CONSTRAINT {t}_ck CHECK (a > 0) NOT VALID", "CREATE UNIQUE INDEX {t}_idx ON {t} (a)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {t}_c ON {t} (a)", "DROP INDEX IF EXISTS {t}_idx", "DROP TABLE {t}",
    "UPDATE {t} SET a = 1", "UPDATE {t} SET a = 1 WHERE a IS NULL", "DELETE FROM {t} WHERE id = 1", "TRUNCATE {t}",
    "INSERT INTO {t} (id) VALUES (1), (2)", "INSERT INTO {t} SELECT * FROM other", "SET lock_timeout = '1s'",
    "BEGIN", "COMMIT", "SELECT 1", "CREATE TYPE {t}_kind AS ENUM ('a')", "CREATE TABLE broken (id int,, a int)",
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TEMPLATES), st.sampled_from(["t", "other", "new_t"])), min_size=1,
                max_size=8))
def test_findings_always_point_at_a_statement_of_the_script(statements: list[tuple[str, str]]) -> None:
    from lumiku_tui.prisma.folder import LocalMigration
    from lumiku_tui.sql.split import split_statements

    script = ";\n".join(template.format(t=table) for template, table in statements) + ";\n"
    migration = LocalMigration("20250101000000_mix", Path("mix"), script.encode())
    report = lint_migrations([migration])
    indexes = {s.index for s in split_statements(script)}
    for finding in report.findings:
        assert finding.statement in indexes
        assert finding.severity in ("error", "warning", "info") and finding.message and finding.safe_alternative
    assert ("broken" in script) == any(f.rule == "syntax-error" for f in report.findings)


# --- every rule: a case where it must fire and one where it must stay silent ---------------------------

_RANK = {"info": 0, "warning": 1, "error": 2}
PARENT = "CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1);"
PARENT_ALL = "CREATE TABLE p (id int PRIMARY KEY); INSERT INTO p VALUES (1), (2), (3);"
NULLS = ROWS3 + "INSERT INTO t VALUES (4, NULL, 'y');"
DEPENDENT = ROWS3 + "CREATE TABLE c (t_id int REFERENCES t (id));"
INDEXED = ROWS3 + "CREATE INDEX t_a_idx ON t (a);"

#: rule, severity it fires at (at least), (setup, script) where it fires, (setup, script) where it must not
RULE_CASES = [
    ("add-column-not-null-without-default", "error", (ROWS3, "ALTER TABLE t ADD COLUMN c int NOT NULL;"),
     (ROWS3, "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0;")),
    ("already-exists", "error", (ROWS3, "CREATE TABLE t (id int);"),
     (ROWS3, "CREATE TABLE IF NOT EXISTS t (id int, a int, b text);")),
    ("check-constraint-without-not-valid", "warning", (ROWS3, "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0);"),
     (ROWS3, "ALTER TABLE t ADD CONSTRAINT k CHECK (a > 0) NOT VALID;")),
    ("concurrently-in-transaction", "error", (ROWS3, "CREATE INDEX CONCURRENTLY i ON t (a);\nSELECT 1;"),
     (ROWS3, "CREATE INDEX CONCURRENTLY i ON t (a);")),
    ("constraint-builds-index", "warning", (ROWS3, "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a);"),
     (INDEXED.replace("INDEX", "UNIQUE INDEX"), "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE USING INDEX t_a_idx;")),
    ("data-change", "warning", (ROWS3, "UPDATE t SET b = 'y' WHERE id = 1;"), (ROWS3, "ALTER TABLE t ADD COLUMN c int;")),
    ("delete-without-where", "error", (ROWS3, "DELETE FROM t;"), (ROWS3, "DELETE FROM t WHERE id = 1;")),
    ("drop-blocked", "error", (DEPENDENT, "DROP TABLE t;"), (DEPENDENT, "DROP TABLE t CASCADE;")),
    ("drop-column", "error", (ROWS3, "ALTER TABLE t DROP COLUMN b;"),
     (ROWS3, "CREATE TABLE n (x int, y int);\nALTER TABLE n DROP COLUMN y;")),
    ("drop-index-without-concurrently", "warning", (INDEXED, "DROP INDEX t_a_idx;"),
     (INDEXED, "DROP INDEX CONCURRENTLY t_a_idx;")),
    ("drop-table", "error", (ROWS3, "DROP TABLE t;"), (ROWS3, "CREATE TABLE n (x int);\nDROP TABLE n;")),
    ("exists-skipped", "info", (ROWS3, "CREATE TABLE IF NOT EXISTS t (id int);"),
     (ROWS3, "CREATE TABLE IF NOT EXISTS n (id int);")),
    ("foreign-key-orphans", "error", (ROWS3 + PARENT, "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id);"),
     (ROWS3 + PARENT_ALL, "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id);")),
    ("foreign-key-unchecked", "info",
     (ROWS3 + PARENT, "INSERT INTO t VALUES (9, 9, 'z');\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id);"),
     (ROWS3 + PARENT, "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id);")),
    ("foreign-key-without-not-valid", "warning",
     (ROWS3 + PARENT_ALL, "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id);"),
     (ROWS3 + PARENT_ALL, "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id) NOT VALID;")),
    ("index-without-concurrently", "warning", (ROWS3, "CREATE INDEX i ON t (a);"),
     (ROWS3, "CREATE INDEX CONCURRENTLY i ON t (a);")),
    ("lock", "info", (ROWS3, "ALTER TABLE t ADD COLUMN c int;"),
     (ROWS3, "ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();")),
    ("locks-held-until-commit", "warning", (ROWS3, "ALTER TABLE t ADD COLUMN c int;\nCREATE INDEX i ON t (a);"),
     (ROWS3, "CREATE INDEX i ON t (a);\nALTER TABLE t ADD COLUMN c int;")),
    ("missing-object", "error", (ROWS3, "ALTER TABLE nowhere ADD COLUMN c int;"),
     (ROWS3, "ALTER TABLE IF EXISTS nowhere ADD COLUMN c int;")),
    ("not-idempotent", "info", (ROWS3, "CREATE TABLE n (x int);"), (ROWS3, "CREATE TABLE IF NOT EXISTS n (x int);")),
    ("reindex-without-concurrently", "warning", (ROWS3, "REINDEX TABLE t;"), (ROWS3, "REINDEX TABLE CONCURRENTLY t;")),
    ("rename-column", "warning", (ROWS3, "ALTER TABLE t RENAME COLUMN b TO c;"),
     (ROWS3, "CREATE TABLE n (x int);\nALTER TABLE n RENAME COLUMN x TO y;")),
    ("rename-table", "warning", (ROWS3, "ALTER TABLE t RENAME TO u;"),
     (ROWS3, "CREATE TABLE n (x int);\nALTER TABLE n RENAME TO m;")),
    ("set-leaks", "warning", (ROWS3, "SET search_path = x;"), (ROWS3, "SET LOCAL search_path = x;")),
    ("set-not-null-has-nulls", "error", (NULLS, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
     (ROWS3, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;")),
    ("set-not-null-scan", "warning", (ROWS3, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
     (EMPTY, "ALTER TABLE t ALTER COLUMN a SET NOT NULL;")),
    ("syntax-error", "error", (ROWS3, "CREATE TABLE n (x int,, y int);"), (ROWS3, "CREATE TABLE n (x int, y int);")),
    ("table-rewrite", "warning", (ROWS3, "ALTER TABLE t ALTER COLUMN a TYPE bigint;"),
     (ROWS3, "ALTER TABLE t ALTER COLUMN b TYPE varchar;")),
    ("transaction-control", "error", (ROWS3, "SELECT 1;\nROLLBACK;\nSELECT 2;"), (ROWS3, "SELECT 1;\nSELECT 2;")),
    ("truncate", "error", (ROWS3, "TRUNCATE t;"), (ROWS3, "CREATE TABLE n (x int);\nTRUNCATE n;")),
    ("unique-duplicates", "error", (ROWS3, "CREATE UNIQUE INDEX u ON t (b);"), (ROWS3, "CREATE UNIQUE INDEX u ON t (a);")),
    ("update-without-where", "warning", (ROWS3, "UPDATE t SET b = 'y';"), (ROWS3, "UPDATE t SET b = 'y' WHERE id = 1;")),
]


def _at_least(report: LintReport, rule: str, severity: str) -> list:
    return [f for f in report.findings if f.rule == rule and _RANK[f.severity] >= _RANK[severity]]


@pytest.mark.parametrize("rule, severity, fires, silent", RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_each_rule_fires_and_stays_silent(db: Database, migrations: Callable[..., Path], tmp_path: Path, rule: str,
                                          severity: str, fires: tuple[str, str], silent: tuple[str, str]) -> None:
    from lumiku_tui.pg.target import parse_database_url

    for (setup, script), expected in ((fires, True), (silent, False)):
        schema = f"case_{expected}".lower()  # one schema per half: the halves do not see each other
        db.query(f"CREATE SCHEMA {schema}; SET search_path TO {schema}; {setup} ANALYZE")
        folder = load_folder(migrations({"20250101000000_case": script}, folder=tmp_path / schema))
        target = parse_database_url(db.url_with(schema=schema), origin="test")
        found = _at_least(lint_pending(target, folder), rule, severity)
        assert bool(found) == expected, f"{rule} {'did not fire' if expected else 'fired'} on: {script}\n{found}"


def test_unique_build_on_a_table_too_big_to_count_is_unchecked(lint: Callable[..., LintReport],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts_module, "EXACT_COUNT_MAX_ROWS", 2)
    monkeypatch.setattr(facts_module, "EXACT_COUNT_MAX_BYTES", 1)
    [finding] = only(lint(ROWS3, "CREATE UNIQUE INDEX u ON t (a);"), "unique-unchecked")
    assert "too big to count" in finding.message


def test_unique_build_on_a_table_small_enough_is_counted(lint: Callable[..., LintReport]) -> None:
    report = lint(ROWS3, "CREATE UNIQUE INDEX u ON t (a);")
    assert not only(report, "unique-unchecked") and not only(report, "unique-duplicates")


def test_every_rule_has_a_case() -> None:
    """A new rule without a must-fire and a must-stay-silent case fails here."""
    import re

    source = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[2] / "lumiku_tui" / "safety").rglob("*.py"))
    emitted = set(re.findall(r'(?:self\.add|self\.fails|Finding)\(\s*(?:[\w.]+,\s*){0,2}"([a-z]+(?:-[a-z]+)+)"', source))
    emitted |= {"table-rewrite", "locks-held-until-commit"}
    covered = {c[0] for c in RULE_CASES} | {"unique-unchecked"}
    assert emitted and emitted <= covered, sorted(emitted - covered)
