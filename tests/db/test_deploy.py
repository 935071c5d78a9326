"""Deploy against a real PostgreSQL: Prisma-compatible rows, atomic migrations, locks, schemas."""

from __future__ import annotations

import hashlib
import re
import threading
import uuid

import psycopg
import pytest

from lumiku_tui.apply import events as ev
from lumiku_tui.apply.deploy import DeployOptions, Deployment
from lumiku_tui.errors import DeployBlocked, PlanError
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.pg.target import parse_database_url

THREE = {
    "20240101000000_users": 'CREATE TABLE "users" ("id" TEXT NOT NULL, CONSTRAINT "users_pkey" PRIMARY KEY ("id"));\n',
    "20240102000000_posts": (
        'CREATE TABLE "posts" ("id" TEXT NOT NULL, "userId" TEXT NOT NULL);\n'
        'ALTER TABLE "posts" ADD CONSTRAINT "posts_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id");\n'
    ),
    "20240103000000_index": 'CREATE INDEX "posts_userId_idx" ON "posts"("userId");\n',
}


def deploy(db, folder_path, **options):
    collected: list[ev.Event] = []
    result = Deployment(db.target, load_folder(folder_path), DeployOptions(**options), collected.append).run()
    return result, collected


def regclass(db, name: str) -> bool:
    return db.query("SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0]


def test_happy_path_writes_rows_exactly_as_prisma_does(db, migrations):
    path = migrations(THREE)
    result, events = deploy(db, path)
    assert result.ok and [a.name for a in result.applied] == list(THREE)
    rows = db.query("SELECT id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, "
                    "applied_steps_count FROM _prisma_migrations ORDER BY started_at")
    assert [r[3] for r in rows] == list(THREE)
    for row, script in zip(rows, THREE.values()):
        row_id, digest, finished, _name, logs, rolled_back, started, steps = row
        assert str(uuid.UUID(row_id)) == row_id and len(row_id) == 36
        assert digest == hashlib.sha256(script.encode()).hexdigest()
        assert finished is not None and finished >= started and rolled_back is None
        assert logs is None and steps == 1
    assert regclass(db, "posts_userId_idx") is False  # quoted name: lookup needs quotes
    assert regclass(db, '"posts_userId_idx"')
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["LockAcquired", "DeployPlanned", "Notice"]  # Notice: history table created
    assert kinds.count("StatementFinished") == 4 and kinds[-1] == "DeployFinished"


def test_nothing_pending_is_a_successful_no_op(db, migrations):
    path = migrations(THREE)
    deploy(db, path)
    result, events = deploy(db, path)
    assert result.ok and result.applied == []
    assert len(db.history()) == 3


def test_failure_mid_migration_rolls_back_and_is_recorded_like_prisma(db, migrations):
    path = migrations({
        **THREE,
        "20240104000000_broken": (
            'CREATE TABLE "comments" ("id" TEXT NOT NULL);\n'
            '-- the next statement references a table that does not exist\n'
            'ALTER TABLE "comments" ADD COLUMN "postId" TEXT REFERENCES "postz"("id");\n'
            'CREATE TABLE "never" ("id" int);\n'
        ),
        "20240105000000_after": 'CREATE TABLE "after" ("id" int);\n',
    })
    result, events = deploy(db, path)
    assert not result.ok
    failure = result.failure
    assert failure.name == "20240104000000_broken" and failure.statement_index == 2 and failure.line == 3
    assert failure.sqlstate == "42P01" and 'relation "postz" does not exist' in failure.message
    assert failure.rolled_back and failure.recorded_failed and failure.reason == "sql_error"
    assert "resolve --rolled-back 20240104000000_broken" in failure.next_step
    # Nothing of the failed migration stays, and the one after it never ran.
    assert not regclass(db, "comments") and not regclass(db, "never") and not regclass(db, "after")
    rows = db.history()
    assert [r[0] for r in rows] == [*THREE, "20240104000000_broken"]
    name, finished, rolled_back, steps, logs = rows[-1]
    assert (finished, rolled_back, steps) == (False, False, 0)  # Prisma's reading: failed
    assert "Database error code: 42P01" in logs and 'relation "postz" does not exist' in logs
    assert "Migration name: 20240104000000_broken" in logs and "statement 2, line 3" in logs
    # A second deploy refuses, as Prisma's P3009 does, and names both ways out.
    with pytest.raises(DeployBlocked) as blocked:
        deploy(db, path)
    assert blocked.value.failed == ["20240104000000_broken"]
    assert "--applied 20240104000000_broken" in blocked.value.hint
    assert "--rolled-back 20240104000000_broken" in blocked.value.hint


def test_script_wrapped_in_begin_commit_runs_as_one_transaction(db, migrations):
    ok = migrations({"20240101000000_wrapped": "BEGIN;\nCREATE TABLE a (id int);\nCREATE TABLE b (id int);\nCOMMIT;\n"})
    result, _ = deploy(db, ok)
    assert result.ok and regclass(db, "a") and regclass(db, "b")


def test_failure_inside_begin_commit_leaves_nothing(db, migrations):
    path = migrations({"20240101000000_wrapped": "BEGIN;\nCREATE TABLE a (id int);\nSELECT 1/0;\nCOMMIT;\n"})
    result, _ = deploy(db, path)
    assert result.failure.statement_index == 3 and result.failure.sqlstate == "22012"
    assert not regclass(db, "a")
    with db.connect() as conn:  # the connection after the failure is usable: nothing left open
        assert conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()[0] == 1


def test_commit_in_the_middle_commits_there_as_under_prisma(db, migrations):
    # Prisma sends the file as one query string: PostgreSQL commits at the COMMIT and runs the rest in a
    # new transaction. The deploy runs the same two parts, and says so before it starts.
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n"})
    result, events = deploy(db, path)
    assert result.ok and regclass(db, "a") and regclass(db, "b")
    assert any(isinstance(e, ev.Notice) and "not atomic" in e.message and "line 2" in e.message for e in events)
    assert db.history()[-1][1:4] == (True, False, 2)


def test_concurrently_alone_runs_outside_a_transaction(db, migrations):
    path = migrations({
        "20240101000000_t": "CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 1000);",
        "20240102000000_idx": "CREATE INDEX CONCURRENTLY t_a_idx ON t (a);",
    })
    result, events = deploy(db, path)
    assert result.ok
    started = [e for e in events if isinstance(e, ev.MigrationStarted)]
    assert [e.transactional for e in started] == [True, False]
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_idx'::regclass") == [(True,)]
    assert db.history()[-1][1:4] == (True, False, 1)


def test_concurrently_mixed_with_other_statements_is_warned_up_front_and_fails_as_under_prisma(db, migrations):
    path = migrations({
        "20240101000000_t": "CREATE TABLE t (a int);",
        "20240102000000_mixed": "ALTER TABLE t ADD COLUMN b int;\nCREATE INDEX CONCURRENTLY t_b_idx ON t (b);",
    })
    result, events = deploy(db, path)
    warning = next(i for i, e in enumerate(events) if isinstance(e, ev.Notice)
                   and "20240102000000_mixed: statement 2 (line 2)" in e.message and "own" in e.message)
    assert warning < next(i for i, e in enumerate(events) if isinstance(e, ev.MigrationStarted))
    assert [a.name for a in result.applied] == ["20240101000000_t"]
    assert result.failure.sqlstate == "25001" and result.failure.line == 2 and result.failure.rolled_back
    assert regclass(db, "t") and not regclass(db, "t_b_idx")


def test_lock_timeout_names_the_blocker_and_is_not_recorded(db, migrations):
    path = migrations({"20240101000000_t": "CREATE TABLE t (a int);"})
    deploy(db, path)
    path = migrations({"20240102000000_alter": "ALTER TABLE t ADD COLUMN b int;"})
    holder = db.connect(autocommit=False)
    holder.execute("SET application_name = 'nightly-report'")
    holder.execute("LOCK TABLE t IN ACCESS SHARE MODE")  # a long read holds the table
    try:
        result, events = deploy(db, path, lock_timeout_s=1.0)
    finally:
        holder.rollback()
        holder.close()
    failure = result.failure
    assert failure.reason == "lock_timeout" and failure.sqlstate == "55P03"
    assert not failure.recorded_failed and failure.rolled_back
    assert "nightly-report" in failure.message
    assert any(isinstance(e, ev.BlockedByLock) and "nightly-report" in e.blockers[0].describe() for e in events)
    assert [r[0] for r in db.history()] == ["20240101000000_t"]
    result, _ = deploy(db, path)  # once the lock is gone a plain re-run finishes the work
    assert result.ok and db.query("SELECT count(*) FROM information_schema.columns WHERE column_name='b'") == [(1,)]


def test_statement_timeout_is_reported_and_not_recorded(db, migrations):
    path = migrations({"20240101000000_slow": "CREATE TABLE s (a int);\nSELECT pg_sleep(5);"})
    result, _ = deploy(db, path, statement_timeout_s=0.3)
    assert result.failure.reason == "statement_timeout" and not result.failure.recorded_failed
    assert not regclass(db, "s") and db.history() == []


def test_two_deploys_at_once_apply_each_migration_exactly_once(db, migrations):
    path = migrations({
        "20240101000000_slow": "CREATE TABLE a (id int); SELECT pg_sleep(0.5);",
        "20240102000000_b": "CREATE TABLE b (id int);",
        "20240103000000_c": "CREATE TABLE c (id int);",
    })
    results = []

    def run():
        results.append(deploy(db, path))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(r.ok for r, _ in results)
    applied = sorted(len(r.applied) for r, _ in results)
    assert applied == [0, 3]
    names = [r[0] for r in db.history()]
    assert sorted(names) == sorted(set(names)) and len(names) == 3
    waited = [e for _, evs in results for e in evs if isinstance(e, ev.LockWaiting)]
    assert waited and "lumiku-tui deploy" in waited[0].holders[0].application_name


def test_non_public_schema_from_the_url(db, migrations):
    path = migrations(THREE)
    target = parse_database_url(db.url + "?schema=tenant_a")
    result = Deployment(target, load_folder(path)).run()
    assert result.ok
    assert db.query("SELECT count(*) FROM tenant_a._prisma_migrations") == [(3,)]
    assert regclass(db, "tenant_a.posts") and not regclass(db, "public.posts")
    assert not regclass(db, "public._prisma_migrations")


def test_set_in_one_migration_does_not_leak_into_the_next(db, migrations):
    path = migrations({
        "20240101000000_a": "CREATE SCHEMA other; SET search_path = other; CREATE TABLE inside (id int);",
        "20240102000000_b": "CREATE TABLE outside (id int);",
    })
    assert deploy(db, path)[0].ok
    assert regclass(db, "other.inside") and regclass(db, "public.outside")


def test_existing_schema_without_history_must_be_baselined_first(db, migrations):
    db.query("CREATE TABLE legacy (id int)")
    with pytest.raises(PlanError) as err:
        deploy(db, migrations(THREE))
    assert "legacy" in err.value.what and "P3005" in err.value.why and "resolve --applied" in err.value.hint
    assert not regclass(db, "_prisma_migrations")


def test_rolled_back_migration_is_applied_again_with_a_new_row(db, migrations, run_cli):
    path = migrations({"20240101000000_x": "CREATE TABLE x (id int); SELECT 1/0;"})
    deploy(db, path)
    code, out, err = run_cli("resolve", "--rolled-back", "20240101000000_x", "--database-url", db.url,
                             "--migrations", str(path))
    assert code == 0
    (path / "20240101000000_x" / "migration.sql").write_text("CREATE TABLE x (id int);")
    result, _ = deploy(db, path)
    assert result.ok and regclass(db, "x")
    rows = db.history()
    assert [(r[1], r[2]) for r in rows] == [(False, True), (True, False)]


def test_approved_list_must_still_match_under_the_lock(db, migrations):
    path = migrations(THREE)
    with pytest.raises(PlanError, match="changed since they were approved"):
        deploy(db, path, approved=("20240101000000_users",))
    assert not regclass(db, "users")


def test_connection_lost_mid_migration_leaves_no_trace_and_rerun_finishes(db, migrations):
    path = migrations({
        "20240101000000_a": "CREATE TABLE a (id int);",
        "20240102000000_slow": "CREATE TABLE b (id int);\nSELECT pg_sleep(30);\nCREATE TABLE c (id int);",
    })
    done = threading.Event()
    outcome = []

    def run():
        outcome.append(deploy(db, path))
        done.set()

    threading.Thread(target=run, daemon=True).start()
    with db.admin() as admin:
        pid = None
        for _ in range(200):
            row = admin.execute("SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%%' "
                                "AND application_name = 'lumiku-tui deploy'").fetchone()
            if row:
                pid = row[0]
                break
            done.wait(0.05)
        assert pid, "the slow statement never started"
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert done.wait(30)
    result, _ = outcome[0]
    assert result.failure.reason == "connection_lost" and not result.failure.recorded_failed
    assert [r[0] for r in db.history()] == ["20240101000000_a"]
    assert regclass(db, "a") and not regclass(db, "b")
    (path / "20240102000000_slow" / "migration.sql").write_text("CREATE TABLE b (id int);\nCREATE TABLE c (id int);")
    # Edited after the failure: the checksum of the applied row is what it was when it ran.
    result, _ = deploy(db, path)
    assert result.ok and regclass(db, "c")


def test_long_pipelined_migration_is_not_taken_for_a_dead_network(db, migrations):
    # Each statement stays under the statement timeout; together they run past the reply
    # deadline (timeout + grace, the grace shortened from 5 s). The server says the session is busy, so nothing is cut.
    options = DeployOptions(statement_timeout_s=1.0, reply_grace_s=1.0, pipeline=True)
    count = 4
    assert count * 0.9 > options.statement_timeout_s + options.reply_grace_s
    sleeps = "\n".join("SELECT pg_sleep(0.9);" for _ in range(count))
    path = migrations({"20240101000000_slow": f"CREATE TABLE slow (id int);\n{sleeps}"})
    result, _ = deploy(db, path, statement_timeout_s=options.statement_timeout_s, reply_grace_s=options.reply_grace_s,
                       pipeline=True)
    assert result.ok, result.failure
    assert regclass(db, "slow")


# --- a migration that moves the server's choice of schema ------------------------------------------------


def test_a_migration_creating_the_login_roles_schema_is_refused_before_anything_runs(db, migrations, run_cli):
    """Without ?schema=, `"$user"` comes first on the search_path: creating it moves current_schema()."""
    from tests.conftest import APP_ROLE

    for creation in (f'CREATE SCHEMA "{APP_ROLE}";', f"CREATE SCHEMA AUTHORIZATION {APP_ROLE};"):
        path = migrations({"20240101000000_a": "CREATE TABLE a (id int);",
                           "20240102000000_schema": creation,
                           "20240103000000_c": "CREATE TABLE c (id int);"})
        code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
        assert code == 2, out + err
        assert f'20240102000000_schema (line 1) creates the schema "{APP_ROLE}"' in err, err
        assert 'the history stays in "public" (Prisma does the same)' in err and "?schema=public" in err, err
        assert db.query("SELECT to_regclass('a'), to_regnamespace(%s)", (APP_ROLE,)) == [(None, None)]


def test_other_schemas_and_an_explicit_schema_deploy_as_before(db, migrations, run_cli):
    from tests.conftest import APP_ROLE

    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);",
                       "20240102000000_schema": 'CREATE SCHEMA "reports"; CREATE TABLE reports.r (id int);'})
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 0, out + err
    path = migrations({"20240103000000_schema": f'CREATE SCHEMA "{APP_ROLE}";',
                       "20240104000000_c": "CREATE TABLE c (id int);"}, folder=path)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url_with(schema="public"),
                             "--migrations", str(path))
    assert code == 0, out + err
    assert db.query("SELECT to_regclass('public.c') IS NOT NULL") == [(True,)]
    assert db.query("SELECT count(*) FROM public._prisma_migrations WHERE finished_at IS NOT NULL") == [(4,)]


def test_after_the_roles_schema_appears_the_history_is_still_read_where_prisma_reads_it(db, migrations, run_cli):
    """As after Prisma ran such a migration: the history in public, a schema named after the role ahead of it
    on the search_path. status reads that history and a re-run writes no second one."""
    from tests.conftest import APP_ROLE

    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert Deployment(db.target, load_folder(path)).run().ok
    db.query(f'CREATE SCHEMA "{APP_ROLE}"')
    code, out, err = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert code == 0 and "up to date" in out.lower(), out + err
    path = migrations({"20240102000000_b": "CREATE TABLE b (id int);"}, folder=path)
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 0, out + err
    assert db.query("SELECT count(*) FROM public._prisma_migrations WHERE finished_at IS NOT NULL") == [(2,)]
    assert db.query("SELECT to_regclass(%s)", (f'"{APP_ROLE}"._prisma_migrations',)) == [(None,)]
