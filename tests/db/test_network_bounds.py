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
    history = marked_history(migrations, 3, slow=[2])
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
    history = marked_history(migrations, 2)
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
