"""Bounds on every wait: a silent network, a frozen client, a signal during a hang.

- A reply that never comes is given up after Prisma's `socket_timeout` when the URL sets one,
  else after 30 s (outside a migration's statements), wherever it is lost.
- SIGTERM ends a deploy that waits on a silent server within a few seconds.
- A client that freezes mid-migration (SIGSTOP, a stuck container) loses its session, its table
  locks and Prisma's lock once the running statement finishes, within
  idle_in_transaction_session_timeout (2 s); the migration is rolled back.
"""

from __future__ import annotations

import signal
import time

import pytest

from lumiku_tui.defaults import IDLE_IN_TRANSACTION_TIMEOUT_S
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from tests.db.faultkit import (
    DeployProcess,
    FreezableProxy,
    assert_invariant,
    assert_rerun_completes,
    marked_history,
    set_slowness,
    wait_until_running,
)

#: How long the slow statement sleeps after the client froze; the server can only notice after it.
SLEEP_S = 2.0
#: Scheduling slack on a loaded two-core machine.
SLACK_S = 4.0


def _session_state(db) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with db.admin() as admin:
        return admin.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND application_name LIKE 'lumiku-tui%%'",
            (db.name,)).fetchall()


def _advisory_lock_free(db) -> bool:  # type: ignore[no-untyped-def]
    with db.admin() as admin:
        return bool(admin.execute("SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
                                  (ADVISORY_LOCK_KEY,)).fetchone()[0])


@pytest.mark.parametrize("mode", [(), ("--live",)], ids=["pipelined", "live"])
def test_frozen_client_loses_its_locks_within_the_idle_timeout(db, migrations, mode):
    set_slowness(db, SLEEP_S)
    history = marked_history(migrations, 3, slow=[2], alone=True)
    proc = DeployProcess.start(db.url, history.path, *mode)
    try:
        wait_until_running(db, process=proc)
        proc.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        bound = SLEEP_S + IDLE_IN_TRANSACTION_TIMEOUT_S + SLACK_S
        while _session_state(db) or not _advisory_lock_free(db):
            assert time.monotonic() - frozen_at < bound, (
                f"a frozen client still holds its session after {bound:g} s: {_session_state(db)}")
            time.sleep(0.1)
        state = assert_invariant(db, history)
        assert len(state.applied) == 1, "the migration in progress must be rolled back, the first one kept"
    finally:
        proc.signal(signal.SIGKILL)
        proc.kill()
    assert_rerun_completes(db, history, lock_wait_s=5)


#: Where a reply can be lost outside a migration's own statements: (message, which occurrence, flags).
LOST_REPLIES = {
    "lock-query": (b"pg_try_advisory_lock", 1, ()),
    "reset-between-migrations": (b"RESET ALL", 2, ()),
    "history-update-live": (b'_prisma_migrations" SET', 1, ("--live",)),
    "commit-live": (b"COMMIT", 1, ("--live",)),
}


@pytest.mark.parametrize("place", list(LOST_REPLIES))
def test_a_lost_reply_is_given_up_after_socket_timeout(pg_server, db, migrations, place):
    pattern, occurrence, flags = LOST_REPLIES[place]
    history = marked_history(migrations, 3)
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(pattern, occurrence)
    try:
        proc = DeployProcess.start(proxy.url(db.url) + "?socket_timeout=2", history.path, *flags)
        finished = proc.finish(timeout=20)  # 2 s of silence, then a clear end: far inside this
        assert finished.code in (1, 2), finished.output
        assert "lost" in finished.output or "silent" in finished.output, finished.output
    finally:
        proxy.close()  # the network comes back: the server sees the old sessions end
    assert_invariant(db, history)
    assert_rerun_completes(db, history, lock_wait_s=5)


@pytest.mark.slow
def test_without_socket_timeout_a_lost_reply_is_given_up_after_thirty_seconds(pg_server, db, migrations):
    history = marked_history(migrations, 2, alone=True)  # the RESET after the first is a message of its own
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"RESET ALL", 2)
    try:
        started = time.monotonic()
        finished = DeployProcess.start(proxy.url(db.url), history.path).finish(timeout=60)
        assert finished.code == 1 and "silent" in finished.output, finished.output
        assert 25 < time.monotonic() - started < 50
    finally:
        proxy.close()
    assert_invariant(db, history)


def test_sigterm_ends_a_deploy_waiting_on_a_silent_server_promptly(pg_server, db, migrations):
    history = marked_history(migrations, 2)
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"pg_try_advisory_lock")
    try:
        proc = DeployProcess.start(proxy.url(db.url), history.path)
        deadline = time.monotonic() + 20
        while not proxy._frozen.is_set():  # noqa: SLF001 - the test's own proxy
            assert time.monotonic() < deadline, proc.output_so_far()
            time.sleep(0.05)
        time.sleep(0.5)  # now blocked on the reply that will never come
        proc.signal(signal.SIGTERM)
        sent = time.monotonic()
        finished = proc.finish(timeout=15)
        assert time.monotonic() - sent < 8, "SIGTERM must end a hung deploy within a few seconds"
        assert finished.code in (143, 2), finished.output
    finally:
        proxy.close()
    assert_invariant(db, history)


def test_status_gives_up_on_a_silent_server(pg_server, db, migrations):
    history = marked_history(migrations, 2)
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"_prisma_migrations")
    try:
        proc = DeployProcess.start(proxy.url(db.url) + "?socket_timeout=2", history.path, command="status")
        finished = proc.finish(timeout=20)
        assert finished.code == 2 and "silent" in finished.output, finished.output
    finally:
        proxy.close()


# --- bounds whatever the migration's size and wherever the link goes silent ---------------------------


def _lock_table_within(db, table: str, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    """What the app sees: can it take `table` (ACCESS EXCLUSIVE, so any lock the deploy holds blocks it)?"""
    import psycopg

    with db.admin() as admin:
        admin.execute(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
        try:
            with admin.transaction():
                admin.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            return True
        except psycopg.errors.LockNotAvailable:
            return False


def _ten_megabytes_after_a_sleep() -> str:
    row = "('" + "x" * 1000 + "')"
    inserts = "".join(f"INSERT INTO big (payload) VALUES {', '.join([row] * 100)};\n" for _ in range(100))
    return ('ALTER TABLE users ADD COLUMN nickname TEXT;\nCREATE TABLE big (payload TEXT);\n'
            "SELECT pg_sleep(3);\n" + inserts)


def test_a_frozen_client_with_a_ten_megabyte_migration_frees_the_table_within_twenty_seconds(db, migrations):
    """The pipeline of a 10 MB migration no longer fits the socket buffers: were it one pipeline, the
    server would wait for its rest, active, holding ACCESS EXCLUSIVE on users for as long as the client
    is frozen. Sent as scripts of one message each, it is ended by idle_in_transaction_session_timeout."""
    from lumiku_tui.apply.deploy import Deployment, DeployOptions
    from lumiku_tui.prisma.folder import load_folder

    path = migrations({"20240101000000_base": "CREATE TABLE users (id int);",
                       "20240102000000_big": _ten_megabytes_after_a_sleep()})
    assert len((path / "20240102000000_big" / "migration.sql").read_bytes()) > 10_000_000
    assert Deployment(db.target, load_folder(path), DeployOptions(until="20240101000000_base")).run().ok
    proc = DeployProcess.start(db.url, path)
    try:
        wait_until_running(db, process=proc)
        time.sleep(0.5)
        proc.signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        assert _lock_table_within(db, "users", 20.0), "users stayed locked 20 s after the client froze"
        assert time.monotonic() - frozen_at < 20
        deadline = time.monotonic() + 30
        while not _advisory_lock_free(db):
            assert time.monotonic() < deadline, "Prisma's lock outlived the frozen client's session"
            time.sleep(0.2)
        assert db.query("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL") == [
            ("20240101000000_base",)]
        assert db.query("SELECT count(*) FROM _prisma_migrations WHERE migration_name = '20240102000000_big'") == [
            (0,)]
        assert db.query("SELECT to_regclass('big')") == [(None,)]
    finally:
        proc.signal(signal.SIGKILL)
        proc.kill()
    rerun = Deployment(db.target, load_folder(path)).run()
    assert rerun.ok and [a.name for a in rerun.applied] == ["20240102000000_big"]
    assert db.query("SELECT count(*) FROM big") == [(10_000,)]


def test_a_silent_network_after_the_statements_are_sent_ends_the_deploy_by_itself(pg_server, db, migrations):
    """The link stops forwarding (no reset) right after a migration's statements went out."""
    history = marked_history(migrations, 2, alone=True)
    scripts = {name: (history.path / name / "migration.sql").read_text() for name in history.names}
    second = history.names[1]
    (history.path / second / "migration.sql").write_text(scripts[second] + "\nSELECT 'the last statements';\n")
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"the last statements")
    try:
        started = time.monotonic()
        finished = DeployProcess.start(proxy.url(db.url), history.path, "--statement-timeout", "3").finish(timeout=45)
        took = time.monotonic() - started
        assert took < 30, f"the deploy took {took:.0f} s to give up on a silent network"
        assert finished.code == 1, finished.output
        assert "silent" in finished.output and "unknown" not in finished.output, finished.output
        ended = time.monotonic()
        while not _advisory_lock_free(db):
            assert time.monotonic() - ended < 30, "Prisma's lock outlived the silent link by 30 s"
            time.sleep(0.2)
        state = assert_invariant(db, history)
        assert state.applied == {history.names[0]} and not state.failed, "the history claims what did not commit"
    finally:
        proxy.close()
    assert_rerun_completes(db, history, lock_wait_s=5)


@pytest.mark.slow
def test_a_lost_reply_to_a_pipelined_commit_is_settled_within_thirty_seconds(pg_server, db, migrations):
    """No socket_timeout: the COMMIT's reply is a reply outside the statements, given up after 30 s (not the
    statement timeout's 605 s), then settled on a new connection."""
    from lumiku_tui.defaults import REPLY_DEADLINE_S
    from tests.db.test_in_doubt import SLOW_COMMIT, _end_sleepers, sleeping_at_commit
    from tests.db.faultkit import wait_for

    path = migrations({"20240101000000_slow": SLOW_COMMIT})
    proxy = FreezableProxy(pg_server.port)
    proc = DeployProcess.start(proxy.url(db.url), path)
    try:
        wait_for(lambda: sleeping_at_commit(db), "the COMMIT to run", process=proc)
        proxy.freeze_open_links()
        lost_at = time.monotonic()
        finished = proc.finish(timeout=60)
        assert time.monotonic() - lost_at < REPLY_DEADLINE_S + 3 + SLACK_S, finished.output
    finally:
        proc.kill()
        proxy.close()
        _end_sleepers(db)
    assert "it committed and its history row is finished" in finished.output, finished.output
    assert db.query("SELECT finished_at IS NOT NULL FROM _prisma_migrations") == [(True,)]


@pytest.mark.slow
def test_a_client_silent_between_migrations_loses_prismas_lock_within_a_minute(pg_server, db, migrations):
    """Between migrations the session holds only Prisma's lock, outside a transaction: when its client goes
    silent there, the server ends it after idle_session_timeout."""
    from lumiku_tui.defaults import IDLE_SESSION_TIMEOUT_S

    history = marked_history(migrations, 2, alone=True)
    proxy = FreezableProxy(pg_server.port)
    proxy.freeze_after(b"RESET ALL", 2)  # the RESET after the first migration reaches the server; then silence
    proc = DeployProcess.start(proxy.url(db.url), history.path)
    try:
        deadline = time.monotonic() + 20
        while not proxy._frozen.is_set():  # noqa: SLF001 - the test's own proxy
            assert time.monotonic() < deadline, proc.output_so_far()
            time.sleep(0.05)
        frozen_at = time.monotonic()
        while not _advisory_lock_free(db):
            assert time.monotonic() - frozen_at < IDLE_SESSION_TIMEOUT_S + SLACK_S, "Prisma's lock is still held"
            time.sleep(0.5)
        assert time.monotonic() - frozen_at > IDLE_SESSION_TIMEOUT_S - SLACK_S, "freed before the bound: by what?"
    finally:
        proc.kill()
        proxy.close()
    state = assert_invariant(db, history)
    assert state.applied == {history.names[0]}
