"""Several small migrations in one message (apply/grouped.py), against the real embedded PostgreSQL.

Each still commits on its own with its history row; nothing after a failure runs; a failure is named
as exactly as when the migration goes alone; what the deploy tells is what the database holds.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from lumiku_tui.apply.deploy import Deployment, DeployOptions
from lumiku_tui.apply.events import BlockedByLock, MigrationFailed, MigrationFinished, MigrationStarted, StatementFinished
from lumiku_tui.prisma.folder import load_folder
from tests.db.faultkit import (
    ALONE,
    DeployProcess,
    FreezableProxy,
    assert_invariant,
    assert_rerun_completes,
    marked_history,
    set_slowness,
    wait_until_running,
)


def _deploy(db, path, **options):  # type: ignore[no-untyped-def]
    events: list[object] = []
    result = Deployment(db.target, load_folder(path), DeployOptions(pipeline=True, **options), events.append).run()
    return result, events


def _rows(db) -> dict[str, tuple[bool, bool]]:  # type: ignore[no-untyped-def]
    """Per migration: (finished, has logs) as the history table says."""
    return {name: (finished, logs) for name, finished, logs in db.query(
        "SELECT migration_name, finished_at IS NOT NULL, logs IS NOT NULL FROM _prisma_migrations")}


@pytest.fixture
def sent(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The messages of several migrations the deploy sends, as sent."""
    from lumiku_tui.apply.executor import StatementRunner

    messages: list[str] = []
    send = StatementRunner.run_message
    monkeypatch.setattr(StatementRunner, "run_message",
                        lambda self, text, on_result: (messages.append(text), send(self, text, on_result))[1])
    return messages


def _five(fault_at: int, fault: str) -> dict[str, str]:
    scripts = {f"2024010100000{n}_m{n}": f"CREATE TABLE t{n} (id int);\nINSERT INTO t{n} VALUES ({n});\n"
               for n in range(1, 6)}
    name = f"2024010100000{fault_at}_m{fault_at}"
    scripts[name] = scripts[name] + fault
    return scripts


def test_a_failing_migration_in_a_message_is_named_exactly_and_nothing_after_it_runs(db, migrations, sent):
    path = migrations(_five(3, "SELECT id, nosuch FROM t3;\nCREATE TABLE after_the_error (id int);\n"))
    result, events = _deploy(db, path)
    assert len(sent) == 1 and sent[0].count("COMMIT") >= 5, "the five went out as one message"
    assert [a.name for a in result.applied] == ["20240101000001_m1", "20240101000002_m2"]
    failure = result.failure
    assert failure is not None and failure.name == "20240101000003_m3" and failure.reason == "sql_error"
    # Statement 3 of the file, line 3, the column of `nosuch`: as when the migration is sent alone.
    assert (failure.statement_index, failure.line, failure.column) == (3, 3, 12), failure
    assert failure.statement == "SELECT id, nosuch FROM t3" and failure.recorded_failed and failure.rolled_back
    rows = _rows(db)
    assert rows["20240101000003_m3"] == (False, True)  # failed as Prisma records it, with the error in logs
    assert "20240101000004_m4" not in rows and "20240101000005_m5" not in rows
    assert db.query("SELECT to_regclass('t3'), to_regclass('after_the_error'), to_regclass('t4')") == [
        (None, None, None)]
    started = [e.name for e in events if isinstance(e, MigrationStarted)]
    assert started == ["20240101000001_m1", "20240101000002_m2", "20240101000003_m3"]  # m4, m5 never started


def test_a_syntax_error_stops_nothing_before_it(db, migrations):
    """PostgreSQL parses a message whole first: a syntax error in the fourth migration must not cost the three
    before it, nor be blamed on them."""
    path = migrations(_five(4, "CREATE TABLEE oops (id int);\n"))
    result, events = _deploy(db, path)
    assert [a.name for a in result.applied] == ["20240101000001_m1", "20240101000002_m2", "20240101000003_m3"]
    failure = result.failure
    assert failure is not None and failure.name == "20240101000004_m4" and failure.sqlstate == "42601"
    assert (failure.line, failure.column) == (3, 8), failure
    started = [e.name for e in events if isinstance(e, MigrationStarted)]
    assert started == [f"2024010100000{n}_m{n}" for n in range(1, 5)]  # each told once
    assert "20240101000005_m5" not in _rows(db)


def test_a_plain_set_in_one_migration_does_not_reach_the_next(db, migrations):
    with db.connect() as conn:
        conn.execute("CREATE SCHEMA elsewhere")
    path = migrations({
        "20240101000001_a": "SET search_path = elsewhere;\nCREATE TABLE a (id int);\nSET lock_timeout = 1;\n",
        "20240101000002_b": "CREATE TABLE b (id int);\nSELECT current_setting('lock_timeout');\n",
    })
    result, _ = _deploy(db, path, lock_timeout_s=7)
    assert result.ok, result.failure
    assert db.query("SELECT to_regclass('elsewhere.a') IS NOT NULL, to_regclass('public.b') IS NOT NULL") == [
        (True, True)]


def test_set_transaction_first_in_a_later_migration_still_works(db, migrations):
    path = migrations({
        "20240101000001_a": "CREATE TABLE a (id int);\n",
        "20240101000002_b": "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE b (id int);\n",
        "20240101000003_c": "CREATE TABLE c (id int);\n",
    })
    result, _ = _deploy(db, path)
    assert result.ok, result.failure
    assert sorted(_rows(db)) == ["20240101000001_a", "20240101000002_b", "20240101000003_c"]


def test_a_lock_timeout_in_a_message_rolls_back_that_migration_only(db, migrations):
    with db.connect() as conn:  # outside the migrated schema: the history starts empty
        conn.execute("CREATE SCHEMA side; CREATE TABLE side.busy (id int)")
    path = migrations({
        "20240101000001_a": "CREATE TABLE a (id int);\n",
        "20240101000002_b": "ALTER TABLE side.busy ADD COLUMN x int;\n",
        "20240101000003_c": "CREATE TABLE c (id int);\n",
    })
    with db.connect() as holder:
        holder.autocommit = False
        holder.execute("LOCK TABLE side.busy IN ACCESS SHARE MODE")
        result, events = _deploy(db, path, lock_timeout_s=2.0)
        holder.rollback()
    failure = result.failure
    # The wait is told under the migration that waits, not the one before it in the message.
    waits = [e for e in events if isinstance(e, BlockedByLock)]
    assert waits and {w.migration for w in waits} == {"20240101000002_b"}, waits
    assert [a.name for a in result.applied] == ["20240101000001_a"]
    assert failure is not None and failure.name == "20240101000002_b" and failure.reason == "lock_timeout"
    assert failure.rolled_back and not failure.recorded_failed
    assert sorted(_rows(db)) == ["20240101000001_a"]
    rerun, _ = _deploy(db, path)
    assert [a.name for a in rerun.applied] == ["20240101000002_b", "20240101000003_c"]


def test_the_log_tells_each_migration_as_when_each_goes_alone(db, make_db, migrations):
    """Same events, in the same order, with the same row counts: only the round trips differ."""
    scripts = _five(5, "UPDATE t5 SET id = id + 1;\n")
    grouped_events = _deploy(db, migrations(scripts))[1]
    alone_events: list[object] = []
    other = make_db()
    Deployment(other.target, load_folder(migrations({name: ALONE + text for name, text in scripts.items()})),
               DeployOptions(pipeline=True), alone_events.append).run()

    def shape(events):  # type: ignore[no-untyped-def]
        told = []
        for e in events:
            if isinstance(e, MigrationStarted):
                told.append(("started", e.name, e.position, e.total))
            elif isinstance(e, StatementFinished) and e.summary != ALONE.strip().rstrip(";"):
                told.append(("statement", e.migration, e.rowcount))
            elif isinstance(e, (MigrationFinished, MigrationFailed)):
                told.append((type(e).__name__, e.name))
        return told

    assert shape(grouped_events) == shape(alone_events)
    assert ("statement", "20240101000005_m5", 1) in shape(grouped_events)


def test_a_frozen_client_inside_a_message_keeps_no_table_locked(db, migrations):
    """The server has the whole message: it runs the rest of it, each migration committing as it would have,
    and holds no table once it is done; the history says exactly what committed."""
    set_slowness(db, 1.0)
    history = marked_history(migrations, 3, slow=[2])
    proc = DeployProcess.start(db.url, history.path)
    try:
        wait_until_running(db, process=proc)
        proc.signal(signal.SIGSTOP)
        deadline = time.monotonic() + 1.0 + 6.0
        while True:
            with db.admin() as admin:
                held = admin.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.datname = %s "
                    "AND a.application_name LIKE 'lumiku-tui%%' AND l.locktype = 'relation'", (db.name,)).fetchone()[0]
            if not held:
                break
            assert time.monotonic() < deadline, "a frozen client's message still holds table locks"
            time.sleep(0.1)
        state = assert_invariant(db, history)
        assert state.applied == set(history.names), "the server finishes the message it holds"
    finally:
        proc.signal(signal.SIGKILL)
        proc.kill()
    set_slowness(db, 0)
    assert_rerun_completes(db, history, lock_wait_s=5)


def test_a_silent_network_after_a_message_is_sent_claims_nothing_it_cannot_know(pg_server, db, migrations):
    """The link stops forwarding right after a message of two migrations went out: the deploy ends by itself,
    says it cannot tell what committed (the server cannot be asked over the same dead network) and how to find
    out; once the network is back, status and a re-run settle it."""
    history = marked_history(migrations, 2)
    second = history.names[1]
    script = (history.path / second / "migration.sql").read_text()
    (history.path / second / "migration.sql").write_text(script + "\nSELECT 'the last statements';\n")
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"the last statements")
    try:
        started = time.monotonic()
        finished = DeployProcess.start(proxy.url(db.url), history.path, "--statement-timeout", "3",
                                       "--json").finish(timeout=45)
        assert time.monotonic() - started < 30, "the deploy must give up on a silent network by itself"
    finally:
        proxy.close()
    events = [json.loads(line) for line in finished.out.splitlines() if line.startswith("{")]
    done = next(e for e in events if e["event"] == "deploy_finished")
    state = assert_invariant(db, history)
    assert set(done["applied"]) <= state.applied, "the output claims a migration the database does not hold"
    failed = [e for e in events if e["event"] == "migration_failed"]
    assert len(failed) == 1 and failed[0]["reason"] in ("commit_in_doubt", "connection_lost"), failed
    if failed[0]["reason"] == "commit_in_doubt":
        assert "lumiku-tui status" in failed[0]["next_step"] and second in failed[0]["message"], failed[0]
    assert_rerun_completes(db, history, lock_wait_s=35)


def test_a_guarded_migration_starts_a_message_of_its_own_after_its_check(db, migrations, sent):
    """A runbook precheck guarding the third runs once the first two committed; the rest still go together."""
    checked: list[tuple[str, list]] = []

    class Guards:
        def __call__(self, name: str) -> list:
            checked.append((name, db.query("SELECT migration_name FROM _prisma_migrations ORDER BY 1")))
            return []

        def covers(self, name: str) -> bool:
            return name == "20240101000003_m3"

    result, _ = _deploy(db, migrations(_five(5, "")), guards=Guards())
    assert result.ok and len(result.applied) == 5
    assert [name for name, _ in checked] == ["20240101000001_m1", "20240101000003_m3"]
    # The check before the third saw the first two committed.
    assert checked[1][1] == [("20240101000001_m1",), ("20240101000002_m2",)]
    assert len(sent) == 2 and "t2" in sent[0] and "t3" not in sent[0] and "t5" in sent[1]


def test_a_copy_through_the_client_in_a_message_ends_the_connection_instead_of_waiting(db):
    """The plan refuses COPY ... TO STDOUT / FROM STDIN; should one reach the server anyway, the deploy must
    not wait for ever on data that never comes."""
    import psycopg

    from lumiku_tui.apply.executor import StatementRunner

    conn = db.target.connect("deploy")
    runner = StatementRunner(conn, lambda _e: None)
    seen: list[int] = []
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="copying data through the client"):
        runner.run_message("SELECT 1;\nCOPY (SELECT 2) TO STDOUT;\nSELECT 3", lambda place, _r: seen.append(place))
    assert time.monotonic() - started < 5 and seen == [0]
    assert conn.broken or conn.closed or conn.pgconn.status != psycopg.pq.ConnStatus.OK
    conn.close()


def test_an_empty_migration_in_a_message_is_applied_as_prisma_applies_it(db, migrations):
    path = migrations({"20240101000001_a": "CREATE TABLE a (id int);\n", "20240101000002_empty": "-- nothing yet\n",
                       "20240101000003_c": "CREATE TABLE c (id int);\n"})
    result, _ = _deploy(db, path)
    assert result.ok and [a.name for a in result.applied] == ["20240101000001_a", "20240101000002_empty",
                                                              "20240101000003_c"]
    assert all(finished for finished, _logs in _rows(db).values())


def test_without_plpgsql_each_migration_goes_alone_and_all_apply(db, migrations, sent):
    """The notice that tells a migration's start needs PL/pgSQL: where the role may not use it, nothing is
    grouped, and the deploy is otherwise the same."""
    with db.admin() as admin:
        admin.execute("REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC")
    result, _ = _deploy(db, migrations(_five(5, "")))
    assert result.ok and len(result.applied) == 5 and not sent


def test_migrations_go_together_only_on_postgresql_13_and_later():
    """Before 13, statement_timeout timed a simple-query message whole (PostgreSQL's documentation of
    statement_timeout): each migration goes alone there."""
    from lumiku_tui.apply.deploy import groups_on

    assert groups_on(130000) and groups_on(180004)
    assert not groups_on(120022) and not groups_on(90624)


def test_a_session_ended_between_two_migrations_of_a_message_keeps_the_first_and_never_starts_the_next(
        db, migrations, monkeypatch):
    """The server ends the session right after the first migration's COMMIT (here: the session ends itself while
    its settings are put back): the first is applied and told so; the next never started; a re-run goes on."""
    from lumiku_tui.apply import deploy as deploy_module

    compose = deploy_module.compose
    monkeypatch.setattr(deploy_module, "compose", lambda members, reset, names=(): compose(
        members, [*reset, "SELECT pg_terminate_backend(pg_backend_pid())"], names))
    path = migrations(_five(5, ""))
    result, events = _deploy(db, path)
    assert [a.name for a in result.applied] == ["20240101000001_m1"]
    failure = result.failure
    assert failure is not None and failure.name == "20240101000002_m2" and failure.reason == "connection_lost"
    assert failure.rolled_back and not failure.recorded_failed and "not started" in failure.message
    assert sorted(_rows(db)) == ["20240101000001_m1"]
    monkeypatch.setattr(deploy_module, "compose", compose)
    rerun, _ = _deploy(db, path)
    assert [a.name for a in rerun.applied] == [f"2024010100000{n}_m{n}" for n in range(2, 6)]


def test_answers_that_do_not_line_up_with_the_statements_sent_are_never_read_as_outcomes(db, migrations,
                                                                                           monkeypatch):
    """Should a piece of a message draw one answer too many, every later answer would be read against the wrong
    piece: a COMMIT's place would get the answer of the history update before it, and the migration would be
    told applied before its COMMIT ran (here it then fails: a deferred foreign key). The deploy notices the
    first answer out of place, reads nothing more as an outcome, and takes what committed from the history."""
    from lumiku_tui.apply import deploy as deploy_module
    from lumiku_tui.apply.grouped import GroupedMessage

    compose = deploy_module.compose

    def one_answer_too_many(members, reset, names=()):  # type: ignore[no-untyped-def]
        message = compose(members, reset, names)
        text = message.text.replace('INSERT INTO "public"."_prisma_migrations"',
                                    'SELECT 1\n;\nINSERT INTO "public"."_prisma_migrations"', 1)
        return GroupedMessage(text, message.pieces)

    monkeypatch.setattr(deploy_module, "compose", one_answer_too_many)
    path = migrations({
        "20240101000001_a": "CREATE TABLE p (id int PRIMARY KEY);\n"
                            "CREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
                            "INSERT INTO c VALUES (1);\n",
        "20240101000002_b": "CREATE TABLE b (id int);\n",
    })
    result, events = _deploy(db, path)
    finished = sorted(name for name, (done, _logs) in _rows(db).items() if done)
    assert finished == [] and result.applied == []
    told = [e.name for e in events if isinstance(e, MigrationFinished)]
    assert told == [], "a migration was told applied before its COMMIT ran"
    assert result.failure is not None and result.failure.name == "20240101000001_a"


def test_each_migration_of_a_message_is_told_as_it_commits_and_the_message_names_them(db, migrations):
    """The log is live inside a message: the first migration is told applied while the second still runs; and
    pg_stat_activity shows the message beginning with a comment naming its migrations."""
    import threading

    path = migrations({"20240101000001_quick": "CREATE TABLE quick (id int);\n",
                       "20240101000002_slow": "CREATE TABLE slow (id int);\nSELECT pg_sleep(1.5);\n"})
    told: dict[str, float] = {}
    seen: list[str] = []

    def sink(event) -> None:  # type: ignore[no-untyped-def]
        if isinstance(event, MigrationFinished):
            told[event.name] = time.monotonic()

    def watch() -> None:
        deadline = time.monotonic() + 10
        with db.admin() as admin:
            while time.monotonic() < deadline and not seen:
                row = admin.execute("SELECT query FROM pg_stat_activity WHERE datname = %s AND wait_event = "
                                    "'PgSleep'", (db.name,)).fetchone()
                if row:
                    seen.append(row[0])
                time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = Deployment(db.target, load_folder(path), DeployOptions(pipeline=True), sink).run()
    watcher.join()
    assert result.ok
    assert told["20240101000002_slow"] - told["20240101000001_quick"] > 1.0, told
    assert seen and seen[0].startswith("/* lumiku-tui deploy: 2 migrations, each in its own transaction: "
                                       "20240101000001_quick 20240101000002_slow */"), seen


def test_a_message_carries_at_most_32_migrations_and_a_large_one_goes_alone(db, migrations, sent):
    many = {f"2024010100{n:04d}_m{n}": f"CREATE TABLE t{n} (id int);\n" for n in range(1, 41)}
    result, _ = _deploy(db, migrations(many))
    assert result.ok and len(result.applied) == 40
    assert len(sent) == 2
    assert sent[0].startswith("/* lumiku-tui deploy: 32 migrations") and \
        sent[1].startswith("/* lumiku-tui deploy: 8 migrations")
    sent.clear()
    large = "INSERT INTO big VALUES " + ", ".join(f"({n})" for n in range(60_000)) + ";\n"  # over 256 KB
    result, _ = _deploy(db, migrations({"2024020100000001_big_table": "CREATE TABLE big (id int);\n",
                                        "2024020100000002_big_rows": large,
                                        "2024020100000003_after": "CREATE TABLE after_big (id int);\n"}))
    assert result.ok and len(result.applied) == 3
    assert not sent, "a migration over 256 KB goes alone, and so do the ones on either side of it here"


def test_a_cancel_during_a_message_stops_the_running_statement_at_once(db, migrations, sent):  # type: ignore[no-untyped-def]
    """The statement stops within seconds (the grace before the link would be cut is 20 s here), the migration
    rolls back as cancelled, and the one before it in the message stays committed."""
    import threading

    path = migrations({"20240101000001_m1": "CREATE TABLE t1 (id int);\n",
                       "20240101000002_m2": "CREATE TABLE t2 (id int);\nSELECT pg_sleep(30);\n",
                       "20240101000003_m3": "CREATE TABLE t3 (id int);\n"})
    events: list[object] = []
    deployment = Deployment(db.target, load_folder(path), DeployOptions(pipeline=True, cancel_grace_s=20.0),
                            events.append)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(deployment.run()))
    worker.start()
    with db.admin() as admin:
        from tests.db.faultkit import running_backend, wait_for

        wait_for(lambda: running_backend(admin, db.name) is not None, "the sleep to run", 10)
        asked = time.monotonic()
        deployment.cancel()
        worker.join(15)
        assert not worker.is_alive() and time.monotonic() - asked < 10
        assert running_backend(admin, db.name) is None
    assert len(sent) == 1  # the three went as one message
    [failed] = [e for e in events if isinstance(e, MigrationFailed)]
    assert failed.name == "20240101000002_m2" and failed.reason == "cancelled" and failed.rolled_back
    assert _rows(db) == {"20240101000001_m1": (True, False)}
