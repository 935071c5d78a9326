"""A COMMIT whose reply is lost is settled on a new connection; two-phase commit is refused up front."""

from __future__ import annotations

import json

import pytest

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.deploy import DeployOptions, Deployment
from lumiku_tui.errors import PlanError
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.pg.target import parse_database_url

from tests.db.faultkit import DeployProcess, FreezableProxy, wait_for

# The COMMIT itself takes a while: a deferred constraint trigger sleeps when it fires at commit time. That is
# the moment the test silences the link, so the server commits and its reply is lost.
SLOW_COMMIT = """CREATE TABLE slow_commit (id int);
CREATE FUNCTION slow_commit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER slow_commit_trg AFTER INSERT ON slow_commit DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION slow_commit_fn();
INSERT INTO slow_commit VALUES (1);
"""
IN_PARTS = "CREATE TABLE first_part (id int);\nCOMMIT;\n" + SLOW_COMMIT


def sleeping_at_commit(db) -> bool:
    with db.admin() as admin:
        return bool(admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event = 'PgSleep' "
            "AND application_name LIKE 'lumiku-tui deploy%%'", (db.name,)).fetchone())


def _end_sleepers(db) -> None:
    with db.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                      "AND pid <> pg_backend_pid() AND application_name LIKE 'lumiku-tui deploy%%'", (db.name,))


def deploy_losing_the_commit_reply(pg_server, db, path, mode):  # type: ignore[no-untyped-def]
    """`deploy --json` through a proxy that goes silent while a COMMIT runs: the server commits, the reply is lost."""
    proxy = FreezableProxy(pg_server.port)
    proc = DeployProcess.start(proxy.url(db.url) + "?socket_timeout=3", path, "--json", *mode)
    try:
        wait_for(lambda: sleeping_at_commit(db), "the COMMIT to run", process=proc)
        proxy.freeze_open_links()  # new connections still get through: the server can be asked
        finished = proc.finish(timeout=30)
    finally:
        proc.kill()
        proxy.close()
        _end_sleepers(db)
    return finished, [json.loads(line) for line in finished.out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("mode", [(), ("--live",)], ids=["pipelined", "live"])
@pytest.mark.parametrize("script", [SLOW_COMMIT, IN_PARTS], ids=["one-part", "in-parts"])
def test_lost_reply_to_commit_reports_the_truth_it_committed(pg_server, db, migrations, mode, script):
    path = migrations({"20240101000000_slow": script, "20240102000000_next": "CREATE TABLE next_one (id int);"})
    finished, events = deploy_losing_the_commit_reply(pg_server, db, path, mode)
    kinds = [e["event"] for e in events]
    # The truth, checked on a new connection: it committed and its row is finished.
    assert db.query("SELECT migration_name, finished_at IS NOT NULL FROM _prisma_migrations "
                    "WHERE migration_name = '20240101000000_slow'") == [("20240101000000_slow", True)]
    assert "migration_finished" in kinds, finished.output
    notes = [e["message"] for e in events if e["event"] == "notice"]
    assert any("it committed and its history row is finished" in n for n in notes), notes
    done = next(e for e in events if e["event"] == "deploy_finished")
    finished_rows = [name for name, done_row in db.query(
        "SELECT migration_name, finished_at IS NOT NULL FROM _prisma_migrations ORDER BY migration_name") if done_row]
    # What the output calls applied is what the database holds finished, no more, no less. Sent alone, the next
    # migration never started (its connection is gone); sent in the same message, the server ran it while the
    # reply was lost, and the check on a new connection finds it committed too.
    assert done["applied"] == finished_rows, finished.output
    assert "20240101000000_slow" in done["applied"]
    failed = [e for e in events if e["event"] == "migration_failed"]
    if done["applied"] == ["20240101000000_slow"]:
        assert [(f["name"], f["rolled_back"], f["recorded_failed"]) for f in failed] == [
            ("20240102000000_next", True, False)]
        assert finished.code == 1
    else:
        assert not failed and finished.code == 0, finished.output
    rerun = Deployment(db.target, load_folder(path)).run()
    assert [a.name for a in rerun.applied] == [n for n in ("20240101000000_slow", "20240102000000_next")
                                               if n not in done["applied"]]


def test_lost_reply_when_the_server_cannot_be_asked_is_reported_in_doubt(pg_server, db, migrations):
    path = migrations({"20240101000000_slow": SLOW_COMMIT})
    proxy = FreezableProxy(pg_server.port)
    url = proxy.url(db.url) + "?socket_timeout=3"
    events: list[ev.Event] = []
    # The try to ask the server is shortened from README's 3 s (tests/unit/test_defaults.py checks the default).
    options = DeployOptions(pipeline=True, in_doubt_check_s=1.0)
    deployment = Deployment(parse_database_url(url), load_folder(path), options, events.append)
    import threading

    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(deployment.run()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: sleeping_at_commit(db), "the COMMIT to run")
        proxy.freeze()  # this link and every new one: nobody can ask the server
        thread.join(30)
        assert not thread.is_alive(), "the deploy did not give up on a silent server"
    finally:
        proxy.close()
        _end_sleepers(db)
    failure = outcome[0].failure
    assert failure.reason == "commit_in_doubt" and not failure.rolled_back
    assert "unknown" in failure.next_step and "lumiku-tui status" in failure.next_step
    assert failure.to_dict()["rolled_back"] is False


def test_lost_connection_before_commit_is_checked_and_said_not_committed(pg_server, db, migrations):
    # The link dies while a statement runs (pipelined: the COMMIT went out with it): the old session is ended
    # and the row read again, so "nothing was kept" is a fact, not a guess.
    path = migrations({"20240101000000_slow": "CREATE TABLE a (id int);\nSELECT pg_sleep(30);\n"})
    proxy = FreezableProxy(pg_server.port)
    events: list[ev.Event] = []
    target = parse_database_url(proxy.url(db.url) + "?socket_timeout=3")
    import threading

    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(
        Deployment(target, load_folder(path), DeployOptions(pipeline=True), events.append).run()), daemon=True)
    thread.start()
    try:
        wait_for(lambda: sleeping_at_commit(db), "the statement to run")
        proxy.freeze_open_links()
        thread.join(30)
    finally:
        proxy.close()
        _end_sleepers(db)
    failure = outcome[0].failure
    assert failure.reason == "connection_lost" and failure.rolled_back
    assert "checked on a new connection" in failure.message
    assert db.query("SELECT to_regclass('a') IS NULL") == [(True,)]
    assert db.query("SELECT count(*) FROM _prisma_migrations") == [(0,)]


# --- two-phase commit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("statement", ["PREPARE TRANSACTION 'm1';", "COMMIT PREPARED 'm1';",
                                       "ROLLBACK PREPARED 'm1';", "prepare  transaction 'x';"])
def test_two_phase_commit_is_refused_up_front_naming_its_line(db, migrations, statement):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);",
                       "20240102000000_b": f"BEGIN;\nCREATE TABLE b (id int);\n{statement}\n"})
    with pytest.raises(PlanError) as err:
        Deployment(db.target, load_folder(path)).run()
    assert "20240102000000_b: statement 3 (line 3)" in err.value.what and "two-phase" in err.value.what
    assert db.query("SELECT to_regclass('a') IS NULL, to_regclass('_prisma_migrations') IS NULL") == [(True, True)]


def test_a_prepared_statement_is_not_two_phase_commit(db, migrations):
    path = migrations({"20240101000000_a": "CREATE TABLE prepared (id int);\nPREPARE ins AS INSERT INTO prepared "
                                          "VALUES (1);\nEXECUTE ins;\nDEALLOCATE ins;\n"})
    result = Deployment(db.target, load_folder(path)).run()
    assert result.ok and db.query("SELECT id FROM prepared") == [(1,)]


def test_two_phase_commit_refusal_reaches_the_cli_with_its_line(db, migrations, run_cli):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);\n\nPREPARE TRANSACTION 'x';\n"})
    code, out, err = run_cli("deploy", "--yes", "--json", "--database-url", db.url, "--migrations", str(path))
    assert code == 2
    assert "line 3" in out + err and "two-phase" in out + err


@pytest.mark.parametrize("mode", [(), ("--live",)], ids=["pipelined", "live"])
def test_lost_reply_to_a_middle_commit_point_is_settled_and_the_rerun_resumes(pg_server, db, migrations, mode):
    # Part 1 commits slowly and its reply is lost: it did commit, so the row shows one committed part and a
    # plain re-run goes on with part 2 instead of running part 1 again.
    path = migrations({"20240101000000_m": SLOW_COMMIT + "COMMIT;\nCREATE TABLE second_part (id int);\n"})
    finished, events = deploy_losing_the_commit_reply(pg_server, db, path, mode)
    [failed] = [e for e in events if e["event"] == "migration_failed"]
    assert failed["reason"] == "connection_lost" and not failed["rolled_back"] and failed["recorded_failed"]
    assert "resumes with part 2" in failed["next_step"]
    assert db.history()[0][1:4] == (False, False, 1)
    result_events: list[ev.Event] = []
    result = Deployment(db.target, load_folder(path), on_event=result_events.append).run()
    assert result.ok, result.failure
    assert [e.summary for e in result_events if isinstance(e, ev.StatementFinished)] == [
        "CREATE TABLE second_part (id int)"]
    assert db.query("SELECT count(*) FROM slow_commit") == [(1,)]
