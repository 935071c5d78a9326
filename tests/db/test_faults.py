"""Faults while deploying, against the real embedded PostgreSQL.

After every fault: a migration's changes are in the database if and only if its
history row says applied, nothing ran twice, and a plain `lumiku-tui deploy --yes`
finishes the work with no repair by hand.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from lumiku_tui.apply.deploy import Deployment, DeployOptions
from lumiku_tui.apply.events import MigrationFailed
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from lumiku_tui.prisma.folder import load_folder
from tests.db.faultkit import (
    SLOW_SECONDS,
    DeployProcess,
    FreezableProxy,
    assert_invariant,
    assert_no_secret,
    assert_rerun_completes,
    cli_in_process,
    marked_history,
    read_state,
    running_backend,
    set_slowness,
    wait_for,
    wait_until_running,
)

REPO = Path(__file__).resolve().parents[2]



def _slow_history(db, migrations, count: int = 3, slow: int = 2):  # type: ignore[no-untyped-def]
    set_slowness(db, SLOW_SECONDS)
    return marked_history(migrations, count, slow=[slow])


def _end_stray_backends(db) -> None:  # type: ignore[no-untyped-def]
    """Leave no sleeping backend behind when a test fails halfway."""
    with db.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                      "AND pid <> pg_backend_pid()", (db.name,))


# --- the backend dies --------------------------------------------------------------------------


def test_backend_terminated_mid_statement_rolls_back_and_rerun_resumes(db, migrations):
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    pid = wait_until_running(db, process=proc)
    with db.admin() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
    finished = proc.finish()

    assert finished.code == 1, finished.output
    assert "connection was lost" in finished.output
    assert "run the deploy again" in finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]}
    assert not state.failed, "a lost connection is not the migration's fault and must not be recorded as failed"
    assert_rerun_completes(db, history)


def test_server_restarted_mid_deploy(pg_server, db, migrations):
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    wait_until_running(db, process=proc)
    pg_server.restart()  # fast shutdown: every backend is terminated, the server comes back on the same port
    finished = proc.finish()

    assert finished.code == 1, finished.output
    assert "connection was lost" in finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    assert_rerun_completes(db, history)


# --- the process dies or is interrupted -----------------------------------------------------------


def test_sigkill_mid_migration_leaves_nothing_half_applied(db, migrations):
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    wait_until_running(db, process=proc)
    proc.kill()
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    try:
        # The operator re-runs at once: the killed client's statement must not keep holding the locks
        # (a 5 s wait instead of Prisma's 10 s keeps the suite quick; the orphan would sleep for a minute).
        assert_rerun_completes(db, history, lock_wait_s=5)
    finally:
        _end_stray_backends(db)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_rolls_back_cleanly_with_message_and_exit_code(db, migrations, signum, code):
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    wait_until_running(db, process=proc)
    proc.signal(signum)
    finished = proc.finish()

    assert finished.code == code, finished.output
    name = signal.Signals(signum).name
    assert f"Interrupted by {name}: the migration in progress was rolled back" in finished.output
    assert "1 migration(s) applied before it stay applied" in finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]}
    assert not state.failed, "an operator's interrupt must not be recorded as a failed migration"
    with db.admin() as admin:
        assert running_backend(admin, db.name) is None, "the interrupted statement is still running on the server"
    assert_rerun_completes(db, history)


def test_cancel_from_another_thread_in_process(db, migrations):
    """The wizard's Cancel button drives `Deployment.cancel()` from the UI thread."""
    history = _slow_history(db, migrations)
    events: list[object] = []
    deployment = Deployment(db.target, load_folder(history.path), DeployOptions(), events.append)
    runner = threading.Thread(target=lambda: events.append(deployment.run()))
    runner.start()
    try:
        wait_until_running(db)
        deployment.cancel()
        runner.join(timeout=30)
        assert not runner.is_alive(), "run() did not return after cancel()"
    finally:
        if runner.is_alive():
            _end_stray_backends(db)
            runner.join(timeout=10)
    result = events[-1]
    assert result.cancelled and not result.ok  # type: ignore[attr-defined]
    failures = [e for e in events if isinstance(e, MigrationFailed)]
    assert [f.reason for f in failures] == ["cancelled"]
    assert failures[0].rolled_back and not failures[0].recorded_failed
    assert_invariant(db, history)
    assert_rerun_completes(db, history)


# --- the network stops answering ---------------------------------------------------------------


@pytest.mark.parametrize("query, args, bound_s", [
    # Prisma's own knob: give up after 2 s of silence (pipelined: the default; live: one statement at a time)
    ("?socket_timeout=2", ("--statement-timeout", "3"), 10),
    ("?socket_timeout=2", ("--statement-timeout", "3", "--live"), 10),
    # no knob: the statement timeout plus a grace period
    ("", ("--statement-timeout", "1"), 15),
], ids=["socket_timeout", "socket_timeout-live", "statement_timeout"])
def test_connection_cut_by_silent_proxy_gives_up_in_bounded_time(pg_server, db, migrations, query, args, bound_s):
    history = _slow_history(db, migrations)
    proxy = FreezableProxy(pg_server.port)
    try:
        proc = DeployProcess.start(proxy.url(db.url) + query, history.path, *args)
        wait_until_running(db, process=proc)
        proxy.freeze()
        finished = proc.finish(timeout=bound_s)  # anything near the bound is a hang
        assert finished.code == 1, finished.output
        assert "connection was lost" in finished.output
        assert_invariant(db, history)
    finally:
        proxy.close()
        _end_stray_backends(db)


@pytest.mark.parametrize("mode", [(), ("--live",)],
                         ids=["pipelined", "live"])
def test_rerun_after_silent_network_cut_does_not_wait_for_the_orphaned_session(pg_server, db, migrations, mode):
    history = _slow_history(db, migrations)
    proxy = FreezableProxy(pg_server.port)
    proc = DeployProcess.start(proxy.url(db.url), history.path, "--statement-timeout", "1", *mode)
    try:
        wait_until_running(db, process=proc)
        proxy.freeze()  # the statement times out on the server; its reply never reaches the client
        proc.kill()  # the operator gives up on the hung terminal; the proxy keeps the server's socket open
        assert_rerun_completes(db, history, lock_wait_s=5)
    finally:
        proc.kill()
        proxy.close()
        _end_stray_backends(db)


def test_connection_reset_mid_statement_is_a_lost_connection(pg_server, db, migrations):
    """The opposite of a silent network: the peer closes at once (a pooler or load balancer restarting)."""
    history = _slow_history(db, migrations)
    proxy = FreezableProxy(pg_server.port)
    try:
        proc = DeployProcess.start(proxy.url(db.url), history.path)
        wait_until_running(db, process=proc)
        proxy.close()
        finished = proc.finish(timeout=15)
    finally:
        proxy.close()
    assert finished.code == 1, finished.output
    assert "connection was lost" in finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    assert_rerun_completes(db, history)


def test_deploy_through_proxy_without_faults_applies_everything(pg_server, db, run_cli, migrations):
    """The proxy itself is transparent: the faults above come from freezing it, nothing else."""
    history = marked_history(migrations, 3)
    proxy = FreezableProxy(pg_server.port)
    try:
        finished = cli_in_process(run_cli, proxy.url(db.url), history.path)
        assert finished.code == 0, finished.output
        assert assert_invariant(db, history).applied == set(history.marks)
    finally:
        proxy.close()


# --- timeouts -------------------------------------------------------------------------------------


def test_statement_timeout_rolls_back_and_is_not_recorded_as_failed(db, run_cli, migrations):
    history = _slow_history(db, migrations)
    finished = cli_in_process(run_cli, db.url, history.path, "--statement-timeout", "1")

    assert finished.code == 1, finished.output
    assert "statement timeout" in finished.output
    assert "Nothing was recorded" in finished.output
    assert "--statement-timeout" in finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    assert_rerun_completes(db, history)


def test_lock_timeout_names_the_blocker_and_rerun_succeeds_after_release(db, run_cli, migrations):
    first = marked_history(migrations, 1)
    assert cli_in_process(run_cli, db.url, first.path).code == 0
    history = marked_history(migrations, 3)  # same folder, two more migrations
    table = first.marks[first.names[0]]
    alter = f'ALTER TABLE "{table}" ADD COLUMN "note" TEXT;\n'
    second = history.path / history.names[1] / "migration.sql"
    second.write_text(second.read_text() + alter)

    blocker = psycopg.connect(db.url, application_name="nightly-report")
    try:
        blocker.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))  # holds ACCESS SHARE
        finished = cli_in_process(run_cli, db.url, history.path, "--lock-timeout", "2")
        assert finished.code == 1, finished.output
        assert "lock timeout" in finished.output
        assert "nightly-report" in finished.output, "the message must name the session holding the lock"
        assert "Nothing was recorded" in finished.output
        state = assert_invariant(db, history)
        assert state.applied == {history.names[0]} and not state.failed
    finally:
        blocker.close()
    assert_rerun_completes(db, history)
    with db.admin() as admin:
        assert admin.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s "
                             "AND column_name = 'note'", (table,)).fetchone() == (1,)


# --- concurrency ----------------------------------------------------------------------------------


def test_four_deploys_at_once_apply_each_migration_exactly_once(db, migrations):
    history = marked_history(migrations, 6)
    procs = [DeployProcess.start(db.url, history.path, "--lock-wait", "30") for _ in range(4)]
    results = [p.finish() for p in procs]

    assert [r.code for r in results] == [0, 0, 0, 0], "\n---\n".join(r.output for r in results)
    state = assert_invariant(db, history)
    assert state.applied == set(history.marks)
    assert all(count == 1 for count in state.rows_per_name.values()), state.rows_per_name
    applied_lines = sum(r.output.count("Applied ") for r in results)
    assert applied_lines == 1, "exactly one run applies; the others find the database up to date"
    assert sum("up to date" in r.output for r in results) == 3


def _hold_prisma_lock(db):  # type: ignore[no-untyped-def]
    holder = psycopg.connect(db.url, autocommit=True, application_name="prisma-migrate-deploy")
    holder.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    return holder


def test_waits_for_prisma_advisory_lock_reports_holder_and_proceeds_when_released(db, migrations):
    history = marked_history(migrations, 2)
    holder = _hold_prisma_lock(db)
    try:
        proc = DeployProcess.start(db.url, history.path, "--lock-wait", "30")
        wait_for(lambda: "prisma-migrate-deploy" in proc.output_so_far(), "the holder to be reported", process=proc)
        assert read_state(db, history).applied == set(), "nothing may be applied while Prisma holds the lock"
    finally:
        holder.close()
    finished = proc.finish()
    assert finished.code == 0, finished.output
    assert assert_invariant(db, history).applied == set(history.marks)


def test_gives_up_on_prisma_advisory_lock_after_lock_wait(db, run_cli, migrations):
    history = marked_history(migrations, 2)
    holder = _hold_prisma_lock(db)
    try:
        finished = cli_in_process(run_cli, db.url, history.path, "--lock-wait", "1")
    finally:
        holder.close()
    assert finished.code == 1, finished.output
    assert "prisma-migrate-deploy" in finished.output
    assert "Nothing was applied" in finished.output
    state = read_state(db, history)
    assert not state.applied and not state.present and not state.rows_per_name
    assert_rerun_completes(db, history)


# --- a target that refuses writes ---------------------------------------------------------------


@pytest.mark.parametrize("scope", ["database", "role in database", "session"])
def test_read_only_target_is_refused_before_anything_runs(db, run_cli, migrations, scope):
    from tests.conftest import APP_ROLE

    history = marked_history(migrations, 2)
    url = db.url
    with db.admin() as admin:
        if scope == "database":
            admin.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on")
                          .format(sql.Identifier(db.name)))
        elif scope == "role in database":
            admin.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET default_transaction_read_only = on")
                          .format(sql.Identifier(APP_ROLE), sql.Identifier(db.name)))
        else:
            url = db.url_with(options="-c default_transaction_read_only=on")
    finished = cli_in_process(run_cli, url, history.path)

    assert finished.code == 2, finished.output
    assert "refuses writes: default_transaction_read_only is on" in finished.err
    assert "Next step:" in finished.err
    with db.admin() as admin:
        assert admin.execute("SELECT to_regclass('public._prisma_migrations')").fetchone() == (None,)
    assert not read_state(db, history).present


# --- the wizard killed while applying --------------------------------------------------------------


@pytest.mark.skipif(not (REPO / "lumiku_tui" / "tui" / "app.py").exists(),
                    reason="the wizard (lumiku_tui/tui/app.py) is not part of this build yet")
def _all_applied(db, history) -> bool:  # type: ignore[no-untyped-def]
    return read_state(db, history).applied == set(history.names)


def _view_ends_and_the_deploy_finishes(db, migrations, tmp_path, end_the_view) -> None:  # type: ignore[no-untyped-def]
    """Approve in a real wizard, end the view with `end_the_view(wizard)`, then the deploy finishes on its own."""
    from tests.db.faultkit import WizardProcess

    history = _slow_history(db, migrations)
    set_slowness(db, 4)
    wizard = WizardProcess.start(db.url, history.path, tmp_path)
    try:
        _approve_in_wizard(wizard, db)
        end_the_view(wizard)
        wait_for(lambda: _all_applied(db, history), "the deploy to finish without its view", 40)
        state = assert_invariant(db, history)
        assert not state.failed, "an ended view must not leave a migration recorded as failed"
    finally:
        wizard.kill()
        _end_stray_backends(db)


def test_wizard_killed_mid_apply_leaves_the_deploy_running_to_its_end(db, migrations, tmp_path):
    """The approved deploy runs in its own process: killing the view (a closed tab, a crash) loses nothing."""
    def kill(wizard) -> None:  # type: ignore[no-untyped-def]
        wizard.kill()
        assert running_backend_exists(db), "the deploy ended with its view"

    _view_ends_and_the_deploy_finishes(db, migrations, tmp_path, kill)


@pytest.mark.skipif(not (REPO / "lumiku_tui" / "tui" / "app.py").exists(),
                    reason="the wizard (lumiku_tui/tui/app.py) is not part of this build yet")
def test_wizard_quit_mid_apply_closes_only_the_view(db, migrations, tmp_path):
    """q while a deploy runs closes the view; the deploy goes on in its own process and finishes."""
    def quit_(wizard) -> None:  # type: ignore[no-untyped-def]
        wizard.press("\x11")  # ctrl+q
        assert wizard.proc.wait(timeout=30) == 0

    _view_ends_and_the_deploy_finishes(db, migrations, tmp_path, quit_)


@pytest.mark.skipif(not (REPO / "lumiku_tui" / "tui" / "app.py").exists(),
                    reason="the wizard (lumiku_tui/tui/app.py) is not part of this build yet")
def test_wizard_sigterm_mid_apply_cancels_and_exits(db, migrations, tmp_path):
    """`docker stop` / a closing web terminal sends SIGTERM: the wizard rolls back and exits, it does not linger."""
    from tests.db.faultkit import WizardProcess

    history = _slow_history(db, migrations)
    wizard = WizardProcess.start(db.url, history.path, tmp_path)
    try:
        _approve_in_wizard(wizard, db)
        wizard.proc.send_signal(signal.SIGTERM)
        code = wizard.proc.wait(timeout=15)
        with db.admin() as admin:
            wait_for(lambda: running_backend(admin, db.name) is None, "the statement to stop on the server", 10)
        state = assert_invariant(db, history)
        assert state.applied == {history.names[0]} and not state.failed
        assert_rerun_completes(db, history)
        # Checked last, so the invariant above is proven either way: the wizard's own exit.
        assert code == 143, f"the wizard died of SIGTERM (exit {code}) instead of cancelling and exiting"
        assert b"\x1b[?1049l" in wizard.raw(), "the terminal was left in the wizard's alternate screen"
    finally:
        wizard.kill()
        _end_stray_backends(db)


def _approve_in_wizard(wizard, db) -> None:  # type: ignore[no-untyped-def]
    """overview -> preview -> approval (type the database name) -> applying, until a statement runs."""
    wizard.wait_for_text("Preview")
    # Enter opens the preview once the overview has read the statuses; until then it does nothing.
    wait_for(lambda: wizard.press("\r") or _shown_within(wizard, "Approve", 2.0), "the preview to open")
    mark = wizard.mark()
    wizard.press("\r")
    wizard.wait_for_text(db.name, since=mark)
    wizard.press(db.name + "\r")

    def running_or_confirm() -> bool:
        if "Apply anyway" in wizard.drawn_since(mark):
            wizard.press("y")
        return running_backend_exists(db)

    wait_for(running_or_confirm, "the wizard to start applying")


def _shown_within(wizard, needle: str, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    mark = wizard.mark()
    try:
        wizard.wait_for_text(needle, timeout=seconds, since=mark)
        return True
    except AssertionError:
        return needle in wizard.text()[-4000:]


def running_backend_exists(db) -> bool:  # type: ignore[no-untyped-def]
    with db.admin() as admin:
        return running_backend(admin, db.name) is not None


def test_failed_sql_statement_is_recorded_and_needs_resolve(db, run_cli, migrations):
    """The one fault a re-run must not paper over: a migration's own SQL error, as Prisma (P3009) does."""
    history = marked_history(migrations, 3)
    broken = history.path / history.names[1] / "migration.sql"
    original = broken.read_text()
    broken.write_text(original + 'INSERT INTO "no_such_table" VALUES (1);\n')
    # lint foresees this failure and the gate would refuse the deploy up front; accepted, it runs and fails.
    finished = cli_in_process(run_cli, db.url, history.path, "--accept-risk", "missing-object")
    assert finished.code == 1, finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and state.failed == {history.names[1]}

    blocked = cli_in_process(run_cli, db.url, history.path)
    assert blocked.code == 1 and "resolve" in blocked.output
    assert read_state(db, history).applied == {history.names[0]}

    broken.write_text(original)
    resolved = cli_in_process(run_cli, db.url, history.path, "--rolled-back", history.names[1], command="resolve")
    assert resolved.code == 0, resolved.output
    assert_no_secret(resolved.output)
    assert_rerun_completes(db, history)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_interrupt_while_waiting_for_prisma_lock_exits_as_interrupted(db, migrations, signum, code):
    history = marked_history(migrations, 2)
    holder = _hold_prisma_lock(db)
    try:
        proc = DeployProcess.start(db.url, history.path, "--lock-wait", "30")
        wait_for(lambda: "prisma-migrate-deploy" in proc.output_so_far(), "the holder to be reported", process=proc)
        proc.signal(signum)
        finished = proc.finish(timeout=10)
    finally:
        holder.close()
    assert finished.code == code, finished.output
    assert f"Interrupted by {signal.Signals(signum).name}" in finished.output
    assert "gave up after" not in finished.output, "an interrupt is not the lock holder's doing"
    assert not read_state(db, history).rows_per_name
    assert_rerun_completes(db, history)


@pytest.mark.skipif(not __import__("tests.prisma_cli.prisma_runner", fromlist=["x"]).prisma_available(),
                    reason="Prisma CLI not installed: run `npm ci` in tests/prisma_cli")
def test_racing_real_prisma_migrate_deploy_applies_each_migration_once(db, migrations, tmp_path):
    """Prisma deploys first; lumiku-tui arrives mid-deploy and must wait for Prisma's own lock."""
    from tests.prisma_cli.prisma_runner import run_prisma

    history = marked_history(migrations, 4)
    # Migration 3 waits for a lock the test holds: Prisma stays mid-deploy until the test lets go.
    gate_key = 4242
    third = history.path / history.names[2] / "migration.sql"
    third.write_text(third.read_text() + f"SELECT pg_advisory_xact_lock({gate_key});\n")
    gate = psycopg.connect(db.url, autocommit=True)
    gate.execute("SELECT pg_advisory_lock(%s)", (gate_key,))
    prisma_result: list[object] = []
    prisma = threading.Thread(target=lambda: prisma_result.append(
        run_prisma(["migrate", "deploy"], db.url, history.path, tmp_path / "prisma-run", timeout=60)))
    try:
        prisma.start()
        wait_until_running(db, f"pg_advisory_xact_lock({gate_key})")
        ours = DeployProcess.start(db.url, history.path, "--lock-wait", "30")
        wait_for(lambda: "Waiting for Prisma's migration lock" in ours.output_so_far(), "lumiku-tui to wait",
                 process=ours)
    finally:
        gate.close()
    finished = ours.finish()
    prisma.join(timeout=70)
    done = prisma_result[0]
    assert finished.code == 0, finished.output
    assert done.returncode == 0, done.stdout + done.stderr  # type: ignore[attr-defined]
    state = assert_invariant(db, history)
    assert state.applied == set(history.marks)
    assert all(count == 1 for count in state.rows_per_name.values()), state.rows_per_name


def test_interrupted_concurrent_index_is_recorded_failed_and_says_what_was_left(db, run_cli, migrations):
    """A migration outside a transaction cannot be rolled back: the truth is a failed row and a next step."""
    history = marked_history(migrations, 1)
    assert cli_in_process(run_cli, db.url, history.path).code == 0
    table = history.marks[history.names[0]]
    index_migration = "20240101000002_index"
    migrations({index_migration: f'CREATE INDEX CONCURRENTLY "idx_mark" ON "{table}" ("id");\n'},
               folder=history.path)
    # An open snapshot elsewhere: CREATE INDEX CONCURRENTLY waits for it to end before it can finish.
    reader = psycopg.connect(db.url, application_name="long-report")
    try:
        reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT 1")
        proc = DeployProcess.start(db.url, history.path, "--lock-timeout", "0")
        wait_until_running(db, "CONCURRENTLY", process=proc)
        proc.signal(signal.SIGINT)
        finished = proc.finish()
    finally:
        reader.close()
    assert finished.code == 130, finished.output
    assert "ran outside a transaction and is recorded as failed" in finished.output
    assert f"resolve --rolled-back {index_migration}" in finished.output
    rows = db.query("SELECT migration_name, finished_at IS NULL AND rolled_back_at IS NULL FROM _prisma_migrations "
                    "WHERE migration_name = %s", (index_migration,))
    assert rows == [(index_migration, True)]
    with db.admin() as admin:
        valid = admin.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('public.idx_mark')"
                              ).fetchall()
    assert valid in ([], [(False,)])
    # The one repair Prisma also requires: drop what was left, mark it rolled back, deploy again.
    with db.connect() as conn:
        conn.execute('DROP INDEX IF EXISTS "idx_mark"')
    resolved = cli_in_process(run_cli, db.url, history.path, "--rolled-back", index_migration, command="resolve")
    assert resolved.code == 0, resolved.output
    again = cli_in_process(run_cli, db.url, history.path)
    assert again.code == 0, again.output
    with db.admin() as admin:
        assert admin.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('public.idx_mark')"
                             ).fetchall() == [(True,)]
    # Checked last so the rest above is proven today: the interrupt line must not contradict the failure.
    assert "the migration in progress was rolled back" not in finished.output, \
        "nothing was rolled back: the half-built index is still there"
    assert "Run deploy again to continue" not in finished.output, "a plain deploy is refused until resolved"


def test_statement_timeout_while_waiting_for_a_table_lock_names_the_blocker(db, run_cli, migrations):
    """With lock_timeout off (0), the statement timeout ends the wait: the operator still needs to know who."""
    first = marked_history(migrations, 1)
    assert cli_in_process(run_cli, db.url, first.path).code == 0
    table = first.marks[first.names[0]]
    migrations({"20240101000002_alter": f'ALTER TABLE "{table}" ADD COLUMN "note" TEXT;\n'}, folder=first.path)
    blocker = psycopg.connect(db.url, application_name="nightly-report")
    try:
        blocker.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        finished = cli_in_process(run_cli, db.url, first.path, "--lock-timeout", "0", "--statement-timeout", "2")
    finally:
        blocker.close()
    assert finished.code == 1, finished.output
    assert "statement timeout" in finished.output
    assert "Nothing was recorded" in finished.output
    assert "nightly-report" in finished.output, "the wait was for a lock: the message must name who held it"


def test_front_end_that_stalls_between_statements_does_not_fail_the_migration(db, migrations):
    """A terminal paused with Ctrl-S, or a UI thread busy drawing, stops the event sink for a while.

    The server-side guard against vanished clients (idle_in_transaction_session_timeout) must not
    mistake a slow front end for a dead one and end the deploy session mid-migration.
    """
    import time

    from lumiku_tui.apply.events import StatementFinished

    history = marked_history(migrations, 2)
    stalled: list[str] = []

    def slow_front_end(event: object) -> None:
        if isinstance(event, StatementFinished) and not stalled:
            stalled.append(event.migration if hasattr(event, "migration") else "")
            time.sleep(2.5)  # the fault itself: longer than the 2 s the server allows an idle transaction

    result = Deployment(db.target, load_folder(history.path), DeployOptions(), slow_front_end).run()
    assert stalled, "the front end was never called"
    assert result.ok, f"a slow front end failed the deploy: {result.failure}"
    assert assert_invariant(db, history).applied == set(history.marks)


def test_backend_terminated_while_waiting_for_prisma_lock_is_a_clear_error(db, migrations):
    history = marked_history(migrations, 2)
    holder = _hold_prisma_lock(db)
    try:
        proc = DeployProcess.start(db.url, history.path, "--lock-wait", "30")
        wait_for(lambda: "prisma-migrate-deploy" in proc.output_so_far(), "the holder to be reported", process=proc)
        with db.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND application_name LIKE 'lumiku-tui%%'", (db.name,))
        finished = proc.finish(timeout=15)
    finally:
        holder.close()
    assert finished.code in (1, 2), finished.output
    assert "Traceback" not in finished.output, finished.output
    assert "error:" in finished.err and "Next step:" in finished.err
    assert not read_state(db, history).rows_per_name
    assert_rerun_completes(db, history)


def test_json_output_stays_machine_readable_through_an_interrupt(db, migrations):
    import json

    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path, "--json")
    wait_until_running(db, process=proc)
    proc.signal(signal.SIGTERM)
    finished = proc.finish()
    assert finished.code == 143, finished.output
    events = [json.loads(line) for line in finished.out.splitlines() if line.strip()]  # every line is JSON
    failed = [e for e in events if e["event"] == "migration_failed"]
    assert [(f["name"], f["reason"], f["rolled_back"]) for f in failed] == [(history.names[1], "cancelled", True)]
    assert any(e["event"] == "migration_finished" and e["name"] == history.names[0] for e in events)
    assert_invariant(db, history)


def test_statement_cancelled_by_another_session_is_not_called_a_timeout(db, migrations):
    """A DBA's pg_cancel_backend is neither a statement timeout nor the migration's fault."""
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    pid = wait_until_running(db, process=proc)
    with db.admin() as admin:
        assert admin.execute("SELECT pg_cancel_backend(%s)", (pid,)).fetchone() == (True,)
    finished = proc.finish()
    assert finished.code == 1, finished.output
    assert "canceling statement due to user request" in finished.output
    assert "--statement-timeout" not in finished.output, "it was not a timeout: raising it would not help"
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]}
    assert not state.failed, "a cancel from outside is not the migration's fault and must not need resolve"
    assert_rerun_completes(db, history)


def test_role_without_create_privilege_is_refused_with_a_next_step(db, run_cli, migrations):
    """Not read-only, but not allowed to create anything either: a clear refusal, nothing half-done."""
    import secrets as pysecrets

    role = f"viewer_{db.name}"
    password = pysecrets.token_urlsafe(12)
    with db.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
    history = marked_history(migrations, 2)
    finished = cli_in_process(run_cli, db.server.url(db.name, user=role, password=password), history.path)
    assert password not in finished.output
    assert finished.code == 2, finished.output
    assert "Traceback" not in finished.output, finished.output
    assert "permission denied" in finished.err
    assert "Next step:" in finished.err
    assert not read_state(db, history).present


def test_four_deploys_in_threads_of_one_process_apply_each_migration_once(db, migrations):
    """The wizard and a script in one process (or four workers) share nothing but the database."""
    history = marked_history(migrations, 5)
    folder = load_folder(history.path)
    results: list[object] = []

    def deploy() -> None:
        results.append(Deployment(db.target, folder, DeployOptions(advisory_lock_wait_s=30)).run())

    threads = [threading.Thread(target=deploy) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4 and all(r.ok for r in results), results  # type: ignore[attr-defined]
    assert sorted(len(r.applied) for r in results) == [0, 0, 0, 5]  # type: ignore[attr-defined]
    state = assert_invariant(db, history)
    assert state.applied == set(history.marks)
    assert all(count == 1 for count in state.rows_per_name.values()), state.rows_per_name


def test_database_allowing_a_single_connection_still_deploys(db, run_cli, migrations):
    """A busy production database may have one slot left: the deploy must not need a second one to succeed."""
    history = marked_history(migrations, 3)
    with db.admin() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 1").format(sql.Identifier(db.name)))
    finished = cli_in_process(run_cli, db.url, history.path)
    assert finished.code == 0, finished.output
    assert assert_invariant(db, history).applied == set(history.marks)


def test_sighup_when_the_terminal_closes_leaves_nothing_half_applied(db, migrations):
    """A closed SSH session or web terminal sends SIGHUP; whatever the process does, the database stays whole."""
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    wait_until_running(db, process=proc)
    proc.signal(signal.SIGHUP)
    proc.proc.wait(timeout=15)
    with db.admin() as admin:
        wait_for(lambda: running_backend(admin, db.name) is None, "the statement to stop on the server", 10)
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    assert_rerun_completes(db, history)


def test_history_table_locked_by_another_session_is_reported_not_waited_on_forever(db, migrations):
    """Someone's open transaction holds `_prisma_migrations` (a manual fix in psql, left open)."""
    history = marked_history(migrations, 2)
    first = marked_history(migrations, 1)
    assert DeployProcess.start(db.url, first.path).finish().code == 0
    holder = psycopg.connect(db.url, application_name="psql-manual-fix")
    try:
        holder.execute("LOCK TABLE _prisma_migrations IN ACCESS EXCLUSIVE MODE")  # stays open: no commit
        finished = DeployProcess.start(db.url, history.path, "--lock-timeout", "1").finish(timeout=8)
    finally:
        holder.close()
    assert finished.code in (1, 2), finished.output
    assert "Traceback" not in finished.output, finished.output
    assert "psql-manual-fix" in finished.output, "the message must name the session holding the history table"
    assert_invariant(db, history)


def test_blocker_query_holding_a_password_is_not_shown(db, migrations, run_cli):
    """The blocker's last query is shown to help find it; a password literal in it must not be."""
    from tests.conftest import APP_ROLE

    first = marked_history(migrations, 1)
    assert cli_in_process(run_cli, db.url, first.path).code == 0
    table = first.marks[first.names[0]]
    migrations({"20240101000002_alter": f'ALTER TABLE "{table}" ADD COLUMN "note" TEXT;\n'}, folder=first.path)
    new_password = "N3w-R0tated-" + db.name
    # The app's own role rotating its password in an open transaction (visible to the same role).
    rotation = psycopg.connect(db.url, application_name="password-rotation")
    try:
        rotation.execute(sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(sql.Identifier(table)))
        rotation.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(APP_ROLE),
                                                                     sql.Literal(new_password)))
        finished = cli_in_process(run_cli, db.url, first.path, "--lock-timeout", "2")
    finally:
        rotation.rollback()  # never committed: the shared role keeps its password
        rotation.close()
    assert finished.code == 1, finished.output
    assert "password-rotation" in finished.output
    assert new_password not in finished.output, "another session's password was printed from its last query"


def test_interrupt_with_a_non_public_schema_keeps_the_invariant_in_that_schema(db, migrations, run_cli):
    """Prisma's `?schema=` moves the history and the migrations' objects; a fault must not scatter them."""
    history = _slow_history(db, migrations)
    url = db.url_with(schema="tenant_a")
    proc = DeployProcess.start(url, history.path)
    wait_until_running(db, process=proc)
    proc.signal(signal.SIGINT)
    assert proc.finish().code == 130
    state = assert_invariant(db, history, schema="tenant_a")
    assert state.applied == {history.names[0]} and not state.failed
    set_slowness(db, 0)
    assert cli_in_process(run_cli, url, history.path).code == 0
    assert assert_invariant(db, history, schema="tenant_a").applied == set(history.marks)
    with db.admin() as admin:
        stray = admin.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert stray == (0,), "something was created in public instead of the URL's schema"


def test_script_that_lifts_statement_timeout_is_not_cut_by_the_reply_deadline(db, migrations):
    """`SET statement_timeout = 0` before a long backfill is common advice; the server is busy, not silent."""
    history = marked_history(migrations, 1)
    script = history.path / history.names[0] / "migration.sql"
    # Half a second of statement timeout plus the grace (shortened from README's 5 s, see tests/unit/test_defaults.py):
    # the reply deadline falls inside the statement.
    options = DeployOptions(statement_timeout_s=0.5, reply_grace_s=1.0)
    busy_s = options.statement_timeout_s + options.reply_grace_s + 0.5
    script.write_text("SET statement_timeout = 0;\n" + script.read_text() + f"SELECT pg_sleep({busy_s});\n")
    result = Deployment(db.target, load_folder(history.path), options).run()
    assert result.ok, f"a busy server was taken for a silent network: {result.failure}"
    assert assert_invariant(db, history).applied == set(history.marks)


# --- honest interrupt and failure output --------------------------------------------------------------


def test_sigterm_in_a_pipelined_migration_says_rolled_back_and_nothing_else(db, migrations):
    """No COMMIT was sent, so nothing is "unknown"; no psycopg object text reaches the terminal."""
    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)  # pipelined: the CLI's default
    wait_until_running(db, process=proc)
    proc.signal(signal.SIGTERM)
    finished = proc.finish()
    assert finished.code == 143, finished.output
    assert "Interrupted by SIGTERM: the migration in progress was rolled back" in finished.output
    for wrong in ("unknown", "error ignored", "<psycopg", "in doubt"):
        assert wrong not in finished.output, finished.output
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]} and not state.failed
    assert_rerun_completes(db, history)


def test_sigterm_against_a_stopped_backend_exits_two_seconds_after_the_cancel(db, migrations):
    """The README's bound: the statement is cancelled; a server that does not answer is cut off 2 s later."""
    import os
    import time

    from lumiku_tui.apply.deploy import CANCEL_GRACE_S

    history = _slow_history(db, migrations)
    proc = DeployProcess.start(db.url, history.path)
    backend = wait_until_running(db, process=proc)
    os.kill(backend, signal.SIGSTOP)  # the backend cannot answer the cancel
    try:
        proc.signal(signal.SIGTERM)
        sent = time.monotonic()
        finished = proc.finish(timeout=30)
        took = time.monotonic() - sent
    finally:
        os.kill(backend, signal.SIGCONT)
    assert finished.code == 143, finished.output
    assert took < CANCEL_GRACE_S + 2.5, f"exited {took:.1f} s after SIGTERM"
    assert "<psycopg" not in finished.output, finished.output
    # Small migrations go out together, each COMMIT in the same message: once the link is cut, whether the server
    # went on to commit is known only by asking it, and a stopped backend cannot be ended to ask. Then it says
    # so, and how to find out; it never claims a rollback it cannot know.
    assert "unknown" not in finished.output or "Run `lumiku-tui status`" in finished.output, finished.output
    wait_for(lambda: running_backend(db.admin(), db.name) is None, "the stopped backend to go")
    assert_invariant(db, history)
    assert_rerun_completes(db, history, lock_wait_s=5)


def test_a_pipelined_failure_names_the_statement_that_failed_with_its_column(db, migrations):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n"
                                           "SELECT id, nosuch FROM a;\nCREATE TABLE b (id int);\n"})
    result = Deployment(db.target, load_folder(path), DeployOptions(pipeline=True)).run()
    failure = result.failure
    assert failure is not None and failure.reason == "sql_error"
    assert (failure.statement_index, failure.line, failure.column) == (3, 3, 12), failure
    assert failure.statement == "SELECT id, nosuch FROM a"


def test_a_cancelled_pipelined_migration_names_the_statement_that_was_running(db, migrations):
    history = _slow_history(db, migrations, count=1, slow=1)
    events: list[object] = []
    deployment = Deployment(db.target, load_folder(history.path), DeployOptions(pipeline=True), events.append)
    runner = threading.Thread(target=lambda: events.append(deployment.run()))
    runner.start()
    try:
        wait_until_running(db)
        deployment.cancel()
        runner.join(timeout=30)
    finally:
        if runner.is_alive():
            _end_stray_backends(db)
            runner.join(timeout=10)
    (failure,) = [e for e in events if isinstance(e, MigrationFailed)]
    assert failure.reason == "cancelled" and failure.rolled_back
    assert failure.statement_index == 2 and "pg_sleep" in failure.statement, failure


def test_status_without_privilege_on_the_history_says_so_not_refused_the_deploy(db, migrations, run_cli):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert Deployment(db.target, load_folder(path)).run().ok
    with db.admin() as admin:
        admin.execute("DROP ROLE IF EXISTS lumiku_outsider")
        admin.execute("CREATE ROLE lumiku_outsider LOGIN PASSWORD 'outsider-pw'")
    url = db.server.url(db.name, user="lumiku_outsider", password="outsider-pw")
    try:
        code, out, err = run_cli("status", "--database-url", url, "--migrations", str(path))
    finally:
        with db.admin() as admin:
            admin.execute("DROP OWNED BY lumiku_outsider; DROP ROLE lumiku_outsider")
    assert code == 2, out + err
    assert "refused the deploy" not in err and "read the migration history" in err, err
    assert "GRANT SELECT ON" in err, err


def test_a_slot_held_by_someone_else_is_refused_after_a_short_wait(db, run_cli, migrations):
    """The retry covers a backend still leaving; a slot another session holds is not waited for."""
    history = marked_history(migrations, 1)
    with db.admin() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 1").format(sql.Identifier(db.name)))
    holder = db.connect()
    try:
        started = time.monotonic()
        finished = cli_in_process(run_cli, db.url, history.path)
        waited = time.monotonic() - started
    finally:
        holder.close()
    assert finished.code == 2, finished.output
    assert "too many connections" in finished.output
    assert waited < 10, waited
    assert assert_invariant(db, history).applied == set()
