"""A client that freezes mid-migration (SIGSTOP, a stuck container) must not keep its locks.

The bound: once the statement it waits on finishes, the server ends the frozen client's
session within idle_in_transaction_session_timeout (2 s), releasing its table locks and
Prisma's advisory lock; the migration is rolled back and a plain re-run applies it.
"""

from __future__ import annotations

import signal
import time

import pytest

from lumiku_tui.defaults import IDLE_IN_TRANSACTION_TIMEOUT_S
from lumiku_tui.pg.locks import ADVISORY_LOCK_KEY
from tests.faultkit import (
    DeployProcess,
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
