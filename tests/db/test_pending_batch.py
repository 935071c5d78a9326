"""One plan of the pending batch: what a deploy would resume is what lint, the gate, init and the CLI see too."""

from __future__ import annotations

import psycopg
import pytest

from lumiku_tui.apply.plan import batch_of
from lumiku_tui.errors import DeployBlocked
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.prisma.status import State, read_status
from lumiku_tui.safety.gate import CertainFailure, refuse_certain_failures
from lumiku_tui.safety.lint import lint_pending

from .test_commit_points import ADD_AND_USE, ENUM_VALUE, deploy, row

CUT = "20240102000000_add_x"
# Part 2 adds a NOT NULL column without a default to a table with a row: certain to fail (23502).
ADD_AND_BREAK = ADD_AND_USE + 'ALTER TABLE t ADD COLUMN "c" int NOT NULL;\n'


def _cut_after_part_one(db, migrations, script: str):
    """A deploy cut off between the parts of `CUT`: part 1 committed, the row left unfinished."""
    path = migrations({"20240101000000_init": ENUM_VALUE, CUT: script})
    assert deploy(db, path, until="20240101000000_init")[0].ok
    with psycopg.connect(db.url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # part 2 cannot get its lock
        assert deploy(db, path, lock_timeout_s=0.3)[0].failure.reason == "lock_timeout"
    assert row(db, CUT)[1:4] == (False, False, 1)  # unfinished, not rolled back, one part committed
    return path


def test_the_batch_holds_a_migration_the_deploy_resumes_and_from_where(db, migrations):
    path = _cut_after_part_one(db, migrations, ADD_AND_USE)
    report = read_status(db.target, load_folder(path))
    assert [m.state for m in report.migrations] == [State.APPLIED, State.FAILED]
    assert report.to_apply == []  # the history's own reading: failed, not pending
    batch = batch_of(report)
    assert batch.names == [CUT] and batch.blocked == ()
    [resumed] = batch.migrations
    assert resumed.skip == 1 and resumed.committed_statements == {2}  # ALTER TYPE ... ADD VALUE, line 2
    assert "resuming with part 2" in resumed.resume.message
    assert resumed.resume.message in batch.notices()


def test_lint_and_the_gate_read_a_resumed_migration_from_where_it_picks_up(db, migrations, run_cli):
    path = _cut_after_part_one(db, migrations, ADD_AND_USE)
    report = lint_pending(db.target, load_folder(path))
    statements = {f.statement for f in report.for_migration(CUT)}
    assert 4 in statements  # the UPDATE of part 2 is judged: it will run
    # The committed ADD VALUE 'x' is not judged again: against a type that holds 'x' it would read as
    # "already exists" and stop the deploy that resumes cleanly.
    assert 2 not in statements and not report.errors
    refuse_certain_failures(report)  # no false alarm: the gate lets the resume through
    url = ["--database-url", db.url, "--migrations", str(path)]
    code, out, err = run_cli("status", *url)
    # The history says failed; the next step is the plain deploy that resumes it, not a resolve.
    assert "resuming with part 2" in out and "resolve the failed migration" not in out, out + err
    code, out, err = run_cli("lint", *url)
    assert code == 0 and CUT in out and "resuming with part 2" in out, out + err
    code, out, err = run_cli("deploy", "--yes", *url)
    assert code == 0 and "resuming with part 2" in out, out + err
    assert row(db, CUT)[1:4] == (True, False, 2)


def test_the_gate_stops_a_resume_whose_remaining_part_is_certain_to_fail(db, migrations, run_cli):
    path = _cut_after_part_one(db, migrations, ADD_AND_BREAK)
    report = lint_pending(db.target, load_folder(path))
    [error] = report.errors
    assert (error.migration, error.statement, error.rule) == (CUT, 6, "add-column-not-null-without-default")
    with pytest.raises(CertainFailure):
        refuse_certain_failures(report)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code != 0 and "will fail" in out + err and CUT in out + err
    assert row(db, CUT)[1:4] == (False, False, 1)  # nothing more ran: the row is as the cut left it


def test_a_migration_failed_by_its_sql_blocks_the_batch_and_is_not_linted(db, migrations, run_cli):
    broken = ADD_AND_USE.replace("UPDATE t SET st = 'x';", "UPDATE t SET st = 'x' WHERE 1/0 = 1;")
    path = migrations({"20240101000000_init": ENUM_VALUE, CUT: broken})
    assert deploy(db, path)[0].failure.sqlstate == "22012"
    batch = batch_of(read_status(db.target, load_folder(path)))
    assert batch.names == [] and [s.name for s in batch.blocked] == [CUT]
    with pytest.raises(DeployBlocked):
        batch.refuse_blocked()
    code, out, _ = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert f"resolve --rolled-back {CUT}" in out
    assert lint_pending(db.target, load_folder(path)).findings == ()


def test_init_writes_checks_for_what_a_resumed_migration_adds(db, migrations):
    from lumiku_tui.runbook.starter import starter_runbook

    script = ADD_AND_USE + 'CREATE TABLE "later" ("id" int PRIMARY KEY);\n'
    path = _cut_after_part_one(db, migrations, script)
    text = starter_runbook(db.target, load_folder(path), None)
    assert "Table later has its columns" in text
