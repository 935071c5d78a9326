"""A deploy in its own process: it outlives the command that approved it, is followed from the journal,
cancelled on purpose (a view with control, SIGTERM), and explained after a kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from lumiku_tui.apply.detached import Control, controller_of, last_deploy_process
from lumiku_tui.journal import Journal
from tests.conftest import APP_PASSWORD, REPO

SLOW = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    # Seconds of work inside one transaction: long enough to close a terminal on it and look in from others
    # (each look starts a program: a second or two on a busy machine).
    "20240102000000_slow": "CREATE TABLE slow (id int);\nSELECT pg_sleep(12);\nINSERT INTO slow VALUES (1);",
}


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


def cli(state: Path, *args: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUMIKU_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "lumiku_tui", *args], capture_output=True, text=True,
                          input=stdin, timeout=timeout, env=env, cwd=REPO)


def start_detached(db, state: Path, path: Path, *extra: str) -> int:
    proc = cli(state, "deploy", "--detach", "--yes", "--json", "--database-url", db.url, "--migrations", str(path),
               *extra)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    started = json.loads(proc.stdout.splitlines()[-1])
    assert started["event"] == "deploy_detached"
    return int(started["pid"])


def journal_of(db, state: Path) -> Journal:
    return Journal.for_target(db.target, state)


def wait_for(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def in_statement(journal: Journal, migration: str, index: int) -> bool:
    """Whether the deploy has begun `index` of `migration` (the statement's own event with --live; else the
    migration's start, and a moment for the quick statements before `index` to have run)."""
    entries = journal.entries()
    if any(e.kind == "statement_started" and e.get("migration") == migration and e.get("index") == index
           for e in entries):
        return True
    if any(e.kind == "migration_started" and e.get("name") == migration for e in entries) and \
            not any(e.kind == "statement_started" for e in entries):
        time.sleep(0.5)
        return True
    return False


def ended(journal: Journal):  # type: ignore[no-untyped-def]
    process = last_deploy_process(journal)
    return process.outcome if process is not None and process.outcome is not None else None


def test_detached_deploy_outlives_the_command_and_the_journal_holds_the_story(db, migrations, state):
    path = migrations(SLOW)
    pid = start_detached(db, state, path, "--live")  # statements one by one: status names the one running
    journal = journal_of(db, state)
    # The command that approved it has returned; the deploy goes on in its own session.
    assert os.getsid(pid) == pid
    # It was told the URL through a pipe: neither `ps` nor its environment shows the password.
    for shown in ("cmdline", "environ"):
        data = Path(f"/proc/{pid}/{shown}").read_bytes()
        assert APP_PASSWORD.encode() not in data and quote(APP_PASSWORD, safe="").encode() not in data
    wait_for(lambda: in_statement(journal, "20240102000000_slow", 2))
    status = cli(state, "status", "--json", "--database-url", db.url, "--migrations", str(path))
    running = json.loads(status.stdout)["deploy_running"]
    assert running["pid"] == pid and running["state"] == "running"
    assert running["migration"]["name"] == "20240102000000_slow" and running["statement"]["index"] == 2
    text = cli(state, "status", "--database-url", db.url, "--migrations", str(path)).stdout
    assert "A deploy started by" in text and "20240102000000_slow" in text and "lumiku-tui attach" in text
    assert "the running deploy applies them" in text and "Next step: `lumiku-tui deploy`" not in text
    # A second deploy is refused with the running one named, before anything is asked or touched.
    second = cli(state, "deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert second.returncode == 2 and f"(process {pid})" in second.stderr and "attach" in second.stderr
    # attach follows it to its end.
    follow = cli(state, "attach", "--database-url", db.url, "--migrations", str(path))
    assert follow.returncode == 0, follow.stdout + follow.stderr
    assert "The deploy ended: applied 2 migration(s)." in follow.stdout
    outcome = wait_for(lambda: ended(journal))
    assert outcome.get("outcome") == "applied"
    assert [r[0] for r in db.history() if r[1]] == list(SLOW)
    kinds = [e.kind for e in journal.entries()]
    # The approval is journaled by the command that asked for it, then the process it started tells the rest.
    assert kinds[:2] == ["approved", "deploy_process"] and kinds[-1] == "deploy_process_ended"
    for kind in ("lock_acquired", "migration_started", "statement_finished", "migration_finished", "deploy_finished",
                 "deployment_complete"):
        assert kind in kinds
    start = journal.entries()[1]
    approved = start.get("approved")
    assert [a["name"] for a in approved] == list(SLOW) and all(a["checksum"] for a in approved)
    assert quote(APP_PASSWORD, safe="") not in journal.path.read_text() and APP_PASSWORD not in journal.path.read_text()
    after = json.loads(cli(state, "status", "--json", "--database-url", db.url, "--migrations", str(path)).stdout)
    assert after["deploy_running"] is None and after["deploy_process_lost"] is None


def test_sigterm_to_the_deploy_process_rolls_back_the_migration_in_progress(db, migrations, state):
    path = migrations(SLOW)
    pid = start_detached(db, state, path)
    journal = journal_of(db, state)
    wait_for(lambda: in_statement(journal, "20240102000000_slow", 2))
    os.kill(pid, signal.SIGHUP)  # the terminal that started it closing: not a stop
    time.sleep(0.5)
    assert last_deploy_process(journal).running
    os.kill(pid, signal.SIGTERM)
    outcome = wait_for(lambda: ended(journal))
    assert outcome.get("outcome") == "cancelled" and "SIGTERM" in outcome.get("message")
    assert [r[0] for r in db.history()] == ["20240101000000_a"]
    assert db.query("SELECT to_regclass('slow') IS NULL") == [(True,)]
    failed = [e for e in journal.entries() if e.kind == "migration_failed"]
    assert failed and failed[-1].get("reason") == "cancelled" and failed[-1].get("rolled_back") is True


def test_cancel_from_a_view_in_control_while_a_second_view_watches(db, migrations, state):
    path = migrations(SLOW)
    pid = start_detached(db, state, path)
    journal = journal_of(db, state)
    wait_for(lambda: in_statement(journal, "20240102000000_slow", 2))
    # A view in another process holds control; a second one may only watch, and is told who controls.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from lumiku_tui.journal import Journal\n"
        "from lumiku_tui.apply.detached import Control\n"
        f"c = Control.take(Journal(Path({str(journal.path)!r})), view='wizard')\n"
        "print('held' if isinstance(c, Control) else 'refused', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "held"
        who = controller_of(journal)
        assert who is not None and who["pid"] == holder.pid and who["view"] == "wizard"
        refused = cli(state, "attach", "--cancel", "--yes", "--database-url", db.url, "--migrations", str(path))
        assert refused.returncode == 2
        assert f"process {holder.pid}" in refused.stderr and "only watches" in refused.stderr
        assert last_deploy_process(journal).running  # the watcher's cancel did nothing
        watched = json.loads(cli(state, "status", "--json", "--database-url", db.url, "--migrations",
                                 str(path)).stdout)["deploy_running"]
        assert watched["controller"]["pid"] == holder.pid
    finally:
        holder.kill()
        holder.wait()
    # The controlling view vanished: its control went with it, and the next view takes it and cancels.
    assert controller_of(journal) is None
    cancelled = cli(state, "attach", "--cancel", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert cancelled.returncode == 1, cancelled.stdout + cancelled.stderr
    assert "Cancel sent" in cancelled.stdout and "The deploy ended: cancelled" in cancelled.stdout
    outcome = ended(journal)
    assert outcome is not None and outcome.get("outcome") == "cancelled"
    asked = [e for e in journal.entries() if e.kind == "cancel_requested"]
    assert asked and asked[-1].get("deploy_pid") == pid
    assert [r[0] for r in db.history()] == ["20240101000000_a"]
    assert db.query("SELECT to_regclass('slow') IS NULL") == [(True,)]


def test_cancel_without_a_yes_and_without_a_terminal_leaves_it_running(db, migrations, state):
    path = migrations(SLOW)
    start_detached(db, state, path)
    journal = journal_of(db, state)
    wait_for(lambda: in_statement(journal, "20240102000000_slow", 2))
    refused = cli(state, "attach", "--cancel", "--database-url", db.url, "--migrations", str(path), stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert last_deploy_process(journal).running
    assert controller_of(journal) is None  # the refusing view let go of control
    outcome = wait_for(lambda: ended(journal))
    assert outcome.get("outcome") == "applied"


def test_kill_9_of_the_deploy_process_is_explained_and_the_rerun_applies_it(db, migrations, state):
    path = migrations(SLOW)
    pid = start_detached(db, state, path)
    journal = journal_of(db, state)
    wait_for(lambda: in_statement(journal, "20240102000000_slow", 2))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not last_deploy_process(journal).alive)
    report = json.loads(cli(state, "status", "--json", "--database-url", db.url, "--migrations", str(path)).stdout)
    assert report["deploy_running"] is None
    lost = report["deploy_process_lost"]
    assert lost["pid"] == pid and lost["migration"]["name"] == "20240102000000_slow"
    assert "ended without a word" in lost["describe"] and "killed" in lost["describe"]
    text = cli(state, "status", "--database-url", db.url, "--migrations", str(path)).stdout
    assert "Lost" in text and "deploy again" in text
    # PostgreSQL rolled the transaction back when the connection closed: nothing of it is recorded, and the
    # server may take a moment to notice the dead client.
    wait_for(lambda: db.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lumiku-tui deploy'")
             == [(0,)])
    assert [r[0] for r in db.history()] == ["20240101000000_a"]
    rerun = cli(state, "deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "ended without a word" in rerun.stdout
    assert [r[0] for r in db.history() if r[1]] == list(SLOW)
    after = json.loads(cli(state, "status", "--json", "--database-url", db.url, "--migrations", str(path)).stdout)
    assert after["deploy_process_lost"] is None  # settled by the deploy that took over


def test_a_question_with_no_view_in_control_gets_the_safe_default_and_is_journaled(db, migrations, state):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert cli(state, "deploy", "--yes", "--database-url", db.url, "--migrations", str(path)).returncode == 0
    path = migrations({"20240102000000_b": "ALTER TABLE a ADD COLUMN b int;"})
    with db.connect(autocommit=False) as app:
        app.execute("LOCK TABLE a IN ACCESS SHARE MODE")  # an app's open transaction holds the table
        start_detached(db, state, path, "--lock-timeout", "3")
        journal = journal_of(db, state)
        outcome = wait_for(lambda: ended(journal))
    assert outcome.get("outcome") == "failed" and outcome.get("reason") == "lock_timeout"
    answers = [e for e in journal.entries() if e.kind == "question_answered"]
    assert [a.get("question").split(" ")[0] for a in answers] == ["End", "Retry"]
    assert answers[0].get("answer").startswith("No: keep waiting; the lock timeout (3 s)")
    assert "No view controls" in answers[0].get("why")
    assert [r[0] for r in db.history()] == ["20240101000000_a"]  # rolled back, nothing recorded


def test_a_question_while_a_view_controls_is_left_to_that_view(db, migrations, state):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert cli(state, "deploy", "--yes", "--database-url", db.url, "--migrations", str(path)).returncode == 0
    path = migrations({"20240102000000_b": "ALTER TABLE a ADD COLUMN b int;"})
    journal = journal_of(db, state)
    control = Control.take(journal, view="test")
    assert isinstance(control, Control)
    try:
        with db.connect(autocommit=False) as app:
            app.execute("LOCK TABLE a IN ACCESS SHARE MODE")
            start_detached(db, state, path, "--lock-timeout", "2")
            outcome = wait_for(lambda: ended(journal))
    finally:
        control.release()
    assert outcome.get("reason") == "lock_timeout"
    assert not [e for e in journal.entries() if e.kind == "question_answered"]


def test_attach_with_nothing_running_says_so(db, migrations, state):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    proc = cli(state, "attach", "--database-url", db.url, "--migrations", str(path))
    assert proc.returncode == 0 and "No deploy is running in the background" in proc.stdout


def test_a_question_pending_when_the_view_in_control_vanished_gets_the_safe_default(db, migrations, state):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert cli(state, "deploy", "--yes", "--database-url", db.url, "--migrations", str(path)).returncode == 0
    path = migrations({"20240102000000_b": "ALTER TABLE a ADD COLUMN b int;"})
    journal = journal_of(db, state)
    view = subprocess.Popen([sys.executable, "-c", (
        "import time\n"
        "from pathlib import Path\n"
        "from lumiku_tui.journal import Journal\n"
        "from lumiku_tui.apply.detached import Control\n"
        f"c = Control.take(Journal(Path({str(journal.path)!r})), view='wizard')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert view.stdout.readline().strip() == "held"
        with db.connect(autocommit=False) as app:
            app.execute("LOCK TABLE a IN ACCESS SHARE MODE")
            start_detached(db, state, path, "--lock-timeout", "4")
            # The deploy waits on the table while the view in control is asked; then the view vanishes.
            wait_for(lambda: any(e.kind == "blocked_by_lock" for e in journal.entries()))
            view.kill()
            view.wait()
            outcome = wait_for(lambda: ended(journal))
    finally:
        view.kill()
        view.wait()
    assert outcome.get("reason") == "lock_timeout" and outcome.get("rolled_back") is True
    answers = [e for e in journal.entries() if e.kind == "question_answered"]
    assert answers and answers[-1].get("question").startswith("Retry 20240102000000_b")
    assert answers[-1].get("answer").startswith("No: it was rolled back and nothing was recorded")
    assert [r[0] for r in db.history()] == ["20240101000000_a"]
