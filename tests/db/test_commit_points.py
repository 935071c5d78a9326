"""Migrations whose script commits on its own run in parts, as Prisma runs them, and resume instead of repair."""

from __future__ import annotations

import pytest

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.deploy import DeployOptions, Deployment
from lumiku_tui.errors import DeployBlocked, PlanError
from lumiku_tui.prisma import history
from lumiku_tui.prisma.folder import LocalMigration, load_folder
from lumiku_tui.sql.split import plan_migration

ENUM_VALUE = (
    'CREATE TYPE "s" AS ENUM (\'a\', \'b\');\n'
    'CREATE TABLE "t" ("id" int PRIMARY KEY, "st" "s" NOT NULL DEFAULT \'a\');\n'
    "INSERT INTO t VALUES (1, 'a');\n"
)
# Hand-written: the new value must be committed before it can be used (55P04 otherwise).
ADD_AND_USE = (
    "BEGIN;\n"
    "ALTER TYPE \"s\" ADD VALUE 'x';\n"
    "COMMIT;\n"
    "UPDATE t SET st = 'x';\n"
    "ALTER TABLE t ALTER COLUMN st SET DEFAULT 'x';\n"
)


def deploy(db, path, **options):
    events: list[ev.Event] = []
    result = Deployment(db.target, load_folder(path), DeployOptions(**options), events.append).run()
    return result, events


def notices(events) -> list[str]:
    return [e.message for e in events if isinstance(e, ev.Notice)]


def row(db, name):
    rows = [r for r in db.history() if r[0] == name]
    return rows[-1] if rows else None


def _plan(script: str, name: str = "20240101000000_m"):
    from pathlib import Path

    return plan_migration(LocalMigration(name, Path("/nonexistent"), script.encode()))


# --- the plan -------------------------------------------------------------------------------------------


def test_plan_splits_at_the_scripts_own_commits_and_says_it_is_not_atomic():
    plan = _plan(ADD_AND_USE)
    assert not plan.atomic and plan.transactional
    assert len(plan.parts) == 2 and plan.commit_points == (3,)
    assert [len(p.statements) for p in plan.parts] == [1, 2]
    assert (plan.parts[0].first_line, plan.parts[0].last_line) == (2, 2)
    assert (plan.parts[1].first_line, plan.parts[1].last_line) == (4, 5)
    text = plan.describe_parts()
    assert "not atomic" in text and "2 parts" in text and "line 3" in text
    assert "part 1 (lines 2-2, 1 statement(s)) stays committed" in plan.left_behind(2)


@pytest.mark.parametrize("script", [
    "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n",
    "BEGIN;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCOMMIT;\n",
    "CREATE TABLE a (id int);\nBEGIN;\nCREATE TABLE b (id int);\nCOMMIT;\n",  # statements before BEGIN join it
])
def test_a_script_without_an_inner_commit_point_stays_atomic(script):
    plan = _plan(script)
    assert plan.atomic and len(plan.parts) == 1 and plan.commit_points == () and plan.describe_parts() == ""


def test_commit_without_begin_is_a_commit_point_too():
    plan = _plan("CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n")
    assert plan.commit_points == (2,) and len(plan.parts) == 2


def test_rollback_and_an_unclosed_begin_are_refused_with_their_line():
    with pytest.raises(PlanError) as err:
        _plan("CREATE TABLE a (id int);\nROLLBACK;\nCREATE TABLE b (id int);\n")
    assert "line 2" in err.value.what
    with pytest.raises(PlanError) as err:
        _plan("CREATE TABLE a (id int);\nBEGIN;\nCREATE TABLE b (id int);\n")
    assert "line 2" in err.value.what and "never committed" in err.value.what


def test_concurrently_alone_runs_outside_a_transaction_and_mixed_is_warned_before_anything_runs():
    alone = _plan("CREATE INDEX CONCURRENTLY i ON t (a);")
    assert not alone.transactional and not alone.warnings
    mixed = _plan("CREATE TABLE t (a int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);\n")
    assert mixed.transactional and len(mixed.warnings) == 1
    assert "line 3" in mixed.warnings[0] and "25001" in mixed.warnings[0]
    assert "part 1 before it stays committed" in mixed.warnings[0]
    assert not _plan("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\n").warnings


# --- deploying in parts -----------------------------------------------------------------------------------


def test_enum_value_added_then_used_deploys_in_parts(db, migrations):
    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": ADD_AND_USE})
    result, events = deploy(db, path)
    assert result.ok, result.failure
    assert db.query("SELECT st::text FROM t") == [("x",)]
    name, finished, rolled_back, steps, logs = row(db, "20240102000000_add_x")
    assert finished and not rolled_back and steps == 2
    started = [e for e in events if isinstance(e, ev.MigrationStarted) and e.name == "20240102000000_add_x"][0]
    assert started.parts == 2 and started.commit_points == (3,)
    assert started.to_dict()["commit_points"] == [3]
    # Said before the first statement runs.
    first_statement = next(i for i, e in enumerate(events) if isinstance(e, ev.StatementStarted | ev.StatementFinished))
    said = next(i for i, e in enumerate(events) if isinstance(e, ev.Notice) and "not atomic" in e.message)
    assert said < first_statement


@pytest.mark.parametrize("pipeline", [False, True], ids=["live", "pipelined"])
def test_without_the_commit_point_the_same_script_fails_with_55p04(db, migrations, pipeline):
    path = migrations({"20240101000000_init": ENUM_VALUE,
                       "20240102000000_add_x": ADD_AND_USE.replace("BEGIN;\n", "").replace("COMMIT;\n", "")})
    result, _ = deploy(db, path, pipeline=pipeline)
    assert result.failure.sqlstate == "55P04" and result.failure.rolled_back


@pytest.mark.parametrize("pipeline", [False, True], ids=["live", "pipelined"])
def test_failure_in_a_later_part_keeps_earlier_parts_and_resumes_after_the_fix(db, migrations, run_cli, pipeline):
    broken = ADD_AND_USE.replace("UPDATE t SET st = 'x';", "UPDATE t SET st = 'x' WHERE 1/0 = 1;")
    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": broken})
    result, _ = deploy(db, path, pipeline=pipeline)
    failure = result.failure
    assert failure.sqlstate == "22012" and failure.line == 4 and not failure.rolled_back and failure.recorded_failed
    assert "Part 1 of 2 committed" in failure.next_step and "resolve --rolled-back" in failure.next_step
    # Part 1 committed: the value exists; the row is unfinished (Prisma reads it as failed) with one part.
    assert db.query("SELECT enum_range(NULL::s)::text") == [("{a,b,x}",)]
    _, finished, _, steps, logs = row(db, "20240102000000_add_x")
    assert not finished and steps == 1 and history.parse_progress(logs).stopped_by == "sql_error"
    assert "deploy --resume" in failure.next_step and "whole file runs again" in failure.next_step
    # A plain re-run refuses, as Prisma does (P3009), naming the choices.
    with pytest.raises(DeployBlocked) as refused:
        deploy(db, path)
    assert "deploy --resume" in refused.value.hint and "resolve --rolled-back" in refused.value.hint
    # Fix part 2, deploy --resume: part 1 (ADD VALUE, which would now fail: the value exists) is not run again.
    (path / "20240102000000_add_x" / "migration.sql").write_text(ADD_AND_USE)
    result, events = deploy(db, path, pipeline=pipeline, resume=True)
    assert result.ok, result.failure
    assert any("not run again" in n and "part 2" in n for n in notices(events))
    ran = [e.index for e in events if isinstance(e, ev.StatementFinished) and e.migration == "20240102000000_add_x"]
    assert ran == [4, 5]
    started = [e for e in events if isinstance(e, ev.MigrationStarted) and e.name == "20240102000000_add_x"][0]
    assert started.skipped_parts == (1,) and started.resumed_because == "resumed_after_sql_error"
    assert db.query("SELECT st::text FROM t") == [("x",)]
    rows = [r for r in db.history() if r[0] == "20240102000000_add_x"]
    assert [(r[1], r[2]) for r in rows] == [(True, False)]  # the same row, finished
    logs = rows[0][4]
    assert "resumed from part 2" in logs and "deploy --resume" in logs
    assert "skipped in this run: committed by an earlier run" in logs and "ran in this run" in logs


def test_a_changed_committed_part_runs_again(db, migrations, run_cli):
    script = "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\nSELECT 1/0;\n"
    path = migrations({"20240101000000_m": script})
    assert deploy(db, path)[0].failure.sqlstate == "22012"
    db.query("DROP TABLE a")  # the operator undid part 1 by hand and rewrote it
    (path / "20240101000000_m" / "migration.sql").write_text(
        "CREATE TABLE a2 (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n")
    run_cli("resolve", "--rolled-back", "20240101000000_m", "--database-url", db.url, "--migrations", str(path))
    result, events = deploy(db, path)
    assert result.ok
    ran = [e.index for e in events if isinstance(e, ev.StatementFinished)]
    assert ran == [1, 3]
    assert not any("not run again" in n for n in notices(events))


def test_concurrently_mixed_fails_at_that_statement_as_under_prisma(db, migrations):
    path = migrations({"20240101000000_m": "CREATE TABLE t (a int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);\n"})
    result, events = deploy(db, path)
    assert result.failure.sqlstate == "25001" and result.failure.line == 3
    assert db.query("SELECT to_regclass('t') IS NOT NULL") == [(True,)]  # part 1 committed, as under Prisma
    warned = next(i for i, e in enumerate(events) if isinstance(e, ev.Notice) and "25001" in e.message)
    first = next(i for i, e in enumerate(events) if isinstance(e, ev.StatementStarted))
    assert warned < first


def test_cut_off_between_parts_a_plain_rerun_resumes_and_needs_approval(db, migrations, run_cli):
    import psycopg

    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": ADD_AND_USE})
    assert deploy(db, path, until="20240101000000_init")[0].ok
    with psycopg.connect(db.url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # part 2 cannot get its lock
        result, _ = deploy(db, path, lock_timeout_s=0.3)
    failure = result.failure
    assert failure.reason == "lock_timeout" and not failure.rolled_back and failure.recorded_failed
    assert "resumes with part 2" in failure.next_step
    _, finished, _, steps, logs = row(db, "20240102000000_add_x")
    assert not finished and steps == 1 and history.parse_progress(logs).stopped_by == "lock_timeout"
    url = ["--database-url", db.url, "--migrations", str(path)]
    code, out, err = run_cli("deploy", *url)  # no TTY, no --yes: a resume is applied only when approved
    assert code != 0 and "without approval" in out + err
    assert not row(db, "20240102000000_add_x")[1]
    code, out, err = run_cli("deploy", "--yes", *url)
    assert code == 0, out + err
    assert "resuming with part 2" in out and "will not run again" in out
    assert "2 transactions, committing at line(s) 3 and at the end" in out
    assert db.query("SELECT st::text FROM t") == [("x",)]
    assert row(db, "20240102000000_add_x")[1:4] == (True, False, 2)


def test_json_migration_started_carries_parts_and_commit_points(db, migrations, run_cli):
    import json

    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": ADD_AND_USE})
    code, out, _ = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 0
    started = [json.loads(line) for line in out.splitlines() if '"migration_started"' in line]
    assert [(e["parts"], e["commit_points"]) for e in started] == [(1, []), (2, [3])]


def test_sigint_between_parts_keeps_the_committed_part_and_the_rerun_resumes(db, migrations):
    import signal

    from tests.db.faultkit import DeployProcess, wait_for

    script = ("CREATE TABLE first_part (id int);\nCOMMIT;\n"
              "SELECT pg_sleep(CASE WHEN to_regclass('aux.hold') IS NULL THEN 0 ELSE 30 END);\n"
              "CREATE TABLE second_part (id int);\n")
    path = migrations({"20240101000000_m": script})
    db.query("CREATE SCHEMA aux; CREATE TABLE aux.hold ()")  # outside the target schema: no P3005
    proc = DeployProcess.start(db.url, path, "--live")
    try:
        wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                                  "AND datname = current_database()")[0][0] == 1, "part 2 to run", process=proc)
        proc.signal(signal.SIGINT)
        finished = proc.finish(timeout=30)
    finally:
        proc.kill()
    assert finished.code == 130, finished.output
    assert "resumes with part 2" in finished.output
    assert db.query("SELECT to_regclass('first_part') IS NOT NULL, to_regclass('second_part') IS NULL") == [
        (True, True)]
    db.query("DROP TABLE aux.hold")
    result, events = deploy(db, path)
    assert result.ok
    assert [e.index for e in events if isinstance(e, ev.StatementFinished)] == [3, 4]
    assert any("resuming with part 2" in n for n in notices(events))


def test_rehearsal_of_a_migration_cut_off_between_parts_runs_only_what_the_deploy_will(db, migrations, run_cli):
    import psycopg

    from lumiku_tui.apply.rehearse import rehearse

    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": ADD_AND_USE})
    assert deploy(db, path, until="20240101000000_init")[0].ok
    with psycopg.connect(db.url) as holder:
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        assert deploy(db, path, lock_timeout_s=0.3)[0].failure.reason == "lock_timeout"
    events: list[ev.Event] = []
    result = rehearse(db.target, load_folder(path), on_event=events.append)
    assert result.ok and result.migrations[0].rehearsed, result.describe()
    assert any("part 1 of 2 is already in the database" in n for n in result.notes)
    assert [e.index for e in events if isinstance(e, ev.StatementFinished)] == [4, 5]


def test_rehearsal_after_a_later_part_failed_and_was_resolved_runs_the_whole_file(db, migrations, run_cli):
    """`resolve --rolled-back` says nothing of the migration remains: the rehearsal, like the deploy, runs the whole
    file, so with part 1 still in the database it truly would fail (ADD VALUE 'x' again)."""
    from lumiku_tui.apply.rehearse import rehearse

    broken = ADD_AND_USE.replace("UPDATE t SET st = 'x';", "UPDATE t SET st = 'x' WHERE 1/0 = 1;")
    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": broken})
    assert deploy(db, path)[0].failure.sqlstate == "22012"
    (path / "20240102000000_add_x" / "migration.sql").write_text(ADD_AND_USE)
    run_cli("resolve", "--rolled-back", "20240102000000_add_x", "--database-url", db.url, "--migrations", str(path))
    events: list[ev.Event] = []
    result = rehearse(db.target, load_folder(path), on_event=events.append)
    assert not result.ok and "already exists" in result.migrations[0].error, result.describe()
    assert [e.index for e in events if isinstance(e, ev.StatementFinished)] == []


def test_the_approval_prompt_says_a_migration_is_not_atomic_before_asking(db, migrations, tmp_path):
    from tests.db.faultkit import WizardProcess

    path = migrations({"20240101000000_init": ENUM_VALUE, "20240102000000_add_x": ADD_AND_USE})
    (tmp_path / "state").mkdir()
    prompt = WizardProcess(["deploy", "--database-url", db.url, "--migrations", str(path)], tmp_path / "state")
    try:
        prompt.wait_for_text("to apply, anything else to cancel")
        shown = " ".join(prompt.text().split())
        assert "`20240102000000_add_x` is not atomic" in shown and "COMMIT on line 3" in shown
        assert "20240101000000_init` is not atomic" not in shown
        prompt.press("no\r")
        prompt.wait_for_text("Not approved")
    finally:
        prompt.kill()
    assert db.query("SELECT to_regclass('t') IS NULL") == [(True,)]


# --- resume semantics: never apply a committed part twice (issue: acct holds one row, bal = 100) ---------------

ACCT = "CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL);\nINSERT INTO acct VALUES (1, 100);\n"
INIT, MOVE = "20240101000000_acct", "20240102000000_move"
PART_1 = "CREATE TABLE pre (id int);\nUPDATE acct SET bal = bal + 10;\nCOMMIT;\n"
BROKEN_2 = "INSERT INTO pre VALUES (1 / 0);\n"
FIXED_2 = "INSERT INTO pre VALUES (1);\n"


def bal(db) -> int:
    return db.query("SELECT bal FROM acct")[0][0]


def cli(run_cli, db, path, *args):
    return run_cli(*args, "--database-url", db.url, "--migrations", str(path))


def failed_in_part_2(db, migrations):
    path = migrations({INIT: ACCT, MOVE: PART_1 + BROKEN_2})
    failure = deploy(db, path)[0].failure
    assert failure.sqlstate == "22012" and failure.recorded_failed and bal(db) == 110
    return path


def write(path, text):
    (path / MOVE / "migration.sql").write_text(text)


def prisma_status(db, path, tmp_path):
    from tests.prisma_cli.prisma_runner import prisma_available, run_prisma

    if not prisma_available():
        pytest.skip("the pinned Prisma CLI is not installed")
    return run_prisma(["migrate", "status"], db.url, path, tmp_path / "prisma-run")


def prisma_up_to_date(db, path, tmp_path) -> None:
    proc = prisma_status(db, path, tmp_path)
    assert proc.returncode == 0 and "Database schema is up to date!" in proc.stdout, proc.stdout + proc.stderr


def prisma_sees_failed(db, path, tmp_path) -> None:
    proc = prisma_status(db, path, tmp_path)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and MOVE in text and "failed" in text.lower(), text


def test_part_2_fixed_deploy_resume_finishes_without_accept_risk_and_prisma_agrees(db, migrations, run_cli,
                                                                                  tmp_path):
    path = failed_in_part_2(db, migrations)
    prisma_sees_failed(db, path, tmp_path)  # part 1 is in, part 2 is not: Prisma reads it failed
    write(path, PART_1 + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")  # plain: P3009, with the choices
    assert code == 1 and "--resume" in out + err and "resolve --rolled-back" in out + err, out + err
    assert bal(db) == 110
    code, out, err = cli(run_cli, db, path, "deploy", "--yes", "--resume")  # `pre` is expected, not "will fail"
    assert code == 0, out + err
    assert "will not run again" in out and "accept-risk" not in out + err
    assert bal(db) == 110 and db.query("SELECT id FROM pre") == [(1,)]
    prisma_up_to_date(db, path, tmp_path)


def test_json_events_say_which_parts_were_skipped_and_why(db, migrations, run_cli):
    import json

    path = failed_in_part_2(db, migrations)
    write(path, PART_1 + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes", "--json", "--resume")
    assert code == 0, out + err
    started = [json.loads(line) for line in out.splitlines() if '"migration_started"' in line]
    assert [(e["skipped_parts"], e["resumed_because"]) for e in started] == [([1], "resumed_after_sql_error")]


def test_cut_during_part_2_plain_deploy_resumes_and_prisma_agrees(db, migrations, run_cli, tmp_path):
    import psycopg

    path = migrations({INIT: ACCT, MOVE: PART_1 + FIXED_2})
    assert deploy(db, path, until=INIT)[0].ok
    db.query("CREATE TABLE pre (id int); DROP TABLE pre")
    with psycopg.connect(db.url) as holder:
        holder.execute("CREATE TABLE lockme (id int)")
        holder.execute("LOCK TABLE acct IN SHARE MODE")  # part 1 waits, times out: nothing committed
        assert deploy(db, path, lock_timeout_s=0.3)[0].failure.reason == "lock_timeout"
    assert bal(db) == 100
    write(path, PART_1 + "LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE;\n" + FIXED_2)
    with psycopg.connect(db.url) as holder:
        holder.execute("BEGIN; LOCK TABLE lockme IN ACCESS EXCLUSIVE MODE")
        failure = deploy(db, path, lock_timeout_s=0.3)[0].failure
        holder.execute("ROLLBACK")
    assert failure.reason == "lock_timeout" and bal(db) == 110
    prisma_sees_failed(db, path, tmp_path)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")
    assert code == 0, out + err
    assert bal(db) == 110 and db.query("SELECT id FROM pre") == [(1,)]
    prisma_up_to_date(db, path, tmp_path)


def test_part_1_undone_resolved_rolled_back_then_the_whole_file_runs(db, migrations, run_cli, tmp_path):
    path = failed_in_part_2(db, migrations)
    db.query("UPDATE acct SET bal = bal - 10; DROP TABLE pre")  # the operator undid part 1 by hand
    code, out, err = cli(run_cli, db, path, "resolve", "--rolled-back", MOVE)
    assert code == 0, out + err
    assert "runs the whole file again" in out and "committed part 1" in out and "undo it by hand" in out
    write(path, PART_1 + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")
    assert code == 0, out + err
    assert "not run again" not in out
    assert bal(db) == 110 and db.query("SELECT id FROM pre") == [(1,)]
    prisma_up_to_date(db, path, tmp_path)


def test_resolved_rolled_back_with_part_1_still_there_the_gate_says_it_will_fail(db, migrations, run_cli):
    path = failed_in_part_2(db, migrations)
    cli(run_cli, db, path, "resolve", "--rolled-back", MOVE)  # a lie: part 1 is still in the database
    write(path, PART_1 + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")
    assert code == 2 and "already exists" in out + err, out + err  # the whole file read against the database
    assert bal(db) == 110


@pytest.mark.parametrize("changed", [
    "-- moved 10 to the account\n" + PART_1 + FIXED_2,
    PART_1.replace("bal + 10", "bal  +  10") + FIXED_2,
    PART_1.replace("COMMIT;\n", "") + FIXED_2,  # its COMMIT removed: one part now
], ids=["comment-above-part-1", "part-1-reformatted", "commit-removed"])
def test_part_1_changed_after_it_committed_nothing_runs_twice(db, migrations, run_cli, changed):
    path = failed_in_part_2(db, migrations)
    write(path, changed)
    for args in (("deploy", "--yes"), ("deploy", "--yes", "--resume")):
        code, out, err = cli(run_cli, db, path, *args)
        assert code != 0, out + err
        assert bal(db) == 110
    assert "part 1" in out + err and "byte for byte" in out + err and "resolve --rolled-back" in out + err
    assert not row(db, MOVE)[1]  # still failed; the refusal is not recorded as a failure
    assert history.parse_progress(row(db, MOVE)[4]).stopped_by == "sql_error"


def test_part_2_split_by_another_commit_resumes_from_the_unchanged_prefix(db, migrations, run_cli, tmp_path):
    path = failed_in_part_2(db, migrations)
    write(path, PART_1 + "CREATE TABLE extra (id int);\nCOMMIT;\n" + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes", "--resume")
    assert code == 0, out + err
    assert bal(db) == 110 and db.query("SELECT id FROM pre") == [(1,)]
    assert row(db, MOVE)[1:4] == (True, False, 3)
    prisma_up_to_date(db, path, tmp_path)


def test_a_cut_with_part_1_changed_is_refused_naming_the_part(db, migrations, run_cli):
    import psycopg

    path = migrations({INIT: ACCT, MOVE: PART_1 + "LOCK TABLE acct IN ACCESS EXCLUSIVE MODE;\n" + FIXED_2})
    assert deploy(db, path, until=INIT)[0].ok
    with psycopg.connect(db.url) as holder:
        holder.execute("BEGIN; CREATE TABLE dummy (); LOCK TABLE acct IN ROW SHARE MODE")
        holder.execute("SELECT 1")
        result = deploy(db, path, lock_timeout_s=0.3)[0]
        holder.execute("ROLLBACK")
    assert result.failure is not None and bal(db) == 110, result.failure
    write(path, "-- a note\n" + PART_1 + FIXED_2)
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")
    assert code != 0 and "part 1" in out + err and "byte for byte" in out + err, out + err
    assert bal(db) == 110


def _killed_in_part_2(db, migrations, part_1: str, part_2: str):
    import signal

    from tests.db.faultkit import DeployProcess, wait_for

    script = (part_1 + "COMMIT;\nSELECT pg_sleep(CASE WHEN to_regclass('aux.hold') IS NULL THEN 0 ELSE 30 END);\n"
              + part_2)
    path = migrations({"20240101000000_m": script})
    db.query("CREATE SCHEMA aux; CREATE TABLE aux.hold ()")
    proc = DeployProcess.start(db.url, path, "--live")
    try:
        wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                                  "AND datname = current_database()")[0][0] == 1, "part 2 to run", process=proc)
        proc.signal(signal.SIGKILL)
        proc.finish(timeout=30)
    finally:
        proc.kill()
    db.query("DROP TABLE aux.hold")
    return path


def test_killed_in_part_2_after_set_search_path_the_rerun_creates_the_table_in_that_schema(db, migrations):
    path = _killed_in_part_2(db, migrations, "CREATE SCHEMA tenant;\nSET search_path TO tenant;\n",
                             "CREATE TABLE t (id int);\n")
    result, events = deploy(db, path)
    assert result.ok, result.failure
    assert db.query("SELECT to_regclass('tenant.t') IS NOT NULL, to_regclass('public.t') IS NULL") == [(True, True)]
    assert any("session is set up" in n and "search_path" in n for n in notices(events))
    assert row(db, "20240101000000_m")[1:4] == (True, False, 2)


def test_killed_in_part_2_after_set_config_the_rerun_keeps_it(db, migrations):
    path = _killed_in_part_2(db, migrations,
                             "CREATE SCHEMA tenant;\nSELECT pg_catalog.set_config('search_path', 'tenant', false);\n",
                             "CREATE TABLE t (id int);\n")
    assert deploy(db, path)[0].ok
    assert db.query("SELECT to_regclass('tenant.t') IS NOT NULL, to_regclass('public.t') IS NULL") == [(True, True)]


def test_killed_after_a_temp_table_the_resume_refuses_before_running_naming_it(db, migrations, run_cli):
    path = _killed_in_part_2(db, migrations, "CREATE TEMP TABLE carry AS SELECT 1 AS a;\n",
                             "CREATE TABLE t AS SELECT * FROM carry;\n")
    before = row(db, "20240101000000_m")
    with pytest.raises(PlanError) as refused:
        deploy(db, path)
    assert "CREATE TEMP TABLE carry" in refused.value.what and "line 1" in refused.value.what
    assert "resolve --rolled-back" in refused.value.hint
    after = row(db, "20240101000000_m")
    assert after == before and history.parse_progress(after[4]).stopped_by is None  # no SQL failure recorded
    assert db.query("SELECT to_regclass('t') IS NULL") == [(True,)]
    code, out, err = cli(run_cli, db, path, "deploy", "--yes")
    assert code != 0 and "CREATE TEMP TABLE carry" in out + err


@pytest.mark.parametrize("statement", [
    "PREPARE q AS SELECT 1", "LISTEN chan", "SELECT pg_advisory_lock(42)", "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    "CREATE TEMPORARY TABLE x (a int)", "CREATE TABLE pg_temp.x (a int)", "SELECT 1 AS a INTO TEMP x",
    "DO $$ BEGIN PERFORM set_config('search_path', 'tenant', false); END $$",
])
def test_session_state_a_new_session_cannot_get_back_refuses_the_resume(statement):
    from lumiku_tui.apply.resume import session_carry

    plan = _plan(f"CREATE TABLE a (id int);\n{statement};\nCOMMIT;\nCREATE TABLE b (id int);\n")
    _again, refused = session_carry(plan, 1)
    assert refused is not None and refused.line == 2


def test_session_settings_are_carried_and_harmless_statements_are_not_refused():
    from lumiku_tui.apply.resume import session_carry

    plan = _plan("SET search_path TO tenant;\nSET LOCAL lock_timeout = 1;\nCREATE TABLE a (id int);\n"
                 "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE FUNCTION f() RETURNS int "
                 "LANGUAGE sql AS 'SELECT 1';\nCOMMIT;\nCREATE TABLE b (id int);\n")
    again, refused = session_carry(plan, 1)
    assert refused is None
    assert [s.line for s in again] == [1, 4]


def test_dry_run_resume_rehearses_from_the_failed_part_in_the_session_part_1_left(db, migrations, run_cli):
    from lumiku_tui.apply.rehearse import rehearse

    part_1 = "CREATE SCHEMA tenant;\nSET search_path TO tenant;\nCREATE TABLE pre (id int);\nCOMMIT;\n"
    path = migrations({MOVE: part_1 + "INSERT INTO pre VALUES (1 / 0);\n"})
    assert deploy(db, path)[0].failure.sqlstate == "22012"
    write(path, part_1 + "INSERT INTO pre VALUES (1);\n")
    with pytest.raises(DeployBlocked):
        rehearse(db.target, load_folder(path))  # as a plain deploy: P3009
    events: list[ev.Event] = []
    result = rehearse(db.target, load_folder(path), resume=True, on_event=events.append)
    assert result.ok and result.migrations[0].rehearsed, result.describe()  # `pre` found in tenant, not public
    assert [e.index for e in events if isinstance(e, ev.StatementFinished)] == [2, 5]
    code, out, err = cli(run_cli, db, path, "deploy", "--dry-run", "--resume")
    assert code == 0, out + err
