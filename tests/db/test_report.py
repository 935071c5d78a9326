"""The checklist session and the deployment record, from a real deploy of the demo database."""

from __future__ import annotations

import json
import re
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from lumiku_tui.demo import REPORT_PENDING
from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.errors import LumikuError
from lumiku_tui.health import check_health
from lumiku_tui.record.progress import DeploymentProgress, default_state_dir
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.runbook.reader import health_options, load_runbook, run_verify_checks
from lumiku_tui.verification.verify import verify_migrations
from tests.conftest import APP_PASSWORD, SHIPPED_MIGRATIONS

#: The shipped Lumiku runbook: the report's success criteria as data.
LUMIKU = load_runbook(SHIPPED_MIGRATIONS.parent / "lumiku.toml")
AVATAR_ID = "verify:`avatar_generations.avatarId` column exists"
PROJECT_ID = "verify:`avatar_generations.projectId` column exists"
GENERATION_TYPE = "verify:`pose_generations.generationType` column exists"
PAGE_LOADS = "manual:Avatar Creator page loads without errors"


class _Health(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def health_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def _new(tmp_path, db, runbook=LUMIKU):
    target = db.target
    return DeploymentProgress.load_or_new(tmp_path / "state", target.display, target.dbname, runbook)


def test_a_full_deployment_ticks_the_automatic_items_and_writes_the_record(demo_db, tmp_path, health_url):
    folder = load_folder(SHIPPED_MIGRATIONS)
    session = _new(tmp_path, demo_db)
    assert not session.resumed
    session.plan(list(REPORT_PENDING))
    session.record_approval("alice")
    result = Deployment(demo_db.target, folder).run()
    session.record_deploy(result)
    session.record_checks(verify_migrations(demo_db.target, folder, [a.name for a in result.applied])
                          + run_verify_checks(demo_db.target, LUMIKU))
    session.record_health(check_health(health_url, **health_options(LUMIKU)))

    items = {i.key: i for i in session.checklist}
    assert len(items) == 11
    automatic = [i for i in session.checklist if i.automatic]
    assert [i.key for i in automatic] == ["all_applied", "no_errors", AVATAR_ID, PROJECT_ID, GENERATION_TYPE,
                                          "history_rows", "health_200"]
    assert all(i.done for i in automatic), [i for i in automatic if not i.done]
    assert items[AVATAR_ID].evidence == "found avatarId | text | YES"
    assert items[PROJECT_ID].evidence == "found projectId | text | NO"
    assert items["history_rows"].label == "`_prisma_migrations` table shows all 4 new migrations"
    assert "4 applied" in items["all_applied"].evidence
    assert "HTTP 200" in items["health_200"].evidence
    assert not session.complete
    for item in session.checklist:
        if not item.automatic:
            session.toggle(item.key)
    assert session.complete

    path = session.write_record(tmp_path / "records")
    assert re.fullmatch(rf"lumiku-deploy-{demo_db.name}-\d{{8}}T\d{{6}}Z\.md", path.name)
    record = path.read_text()
    assert APP_PASSWORD not in record
    assert demo_db.target.display in record and "***" in record
    assert "**Approved by:** alice at " in record
    for name in REPORT_PENDING:
        assert re.search(rf"\| {name} \| \d+ \| \d+ ms \|", record)
    assert '| pass | column | avatar_generations."avatarId" | text NULL | text NULL |' in record
    assert "| pass | runbook | \\`avatar_generations.avatarId\\` column exists | avatarId \\| text \\| YES |" in record
    assert "- [x] `avatar_generations.avatarId` column exists _automatic_" in record
    assert "- [x] User can access existing projects _manual_ (ticked by" in record
    assert "**Outcome:** complete" in record
    state_text = session.path.read_text()
    assert APP_PASSWORD not in state_text
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600  # holds production SQL: owner only


def test_closing_and_reopening_resumes(demo_db, tmp_path):
    session = _new(tmp_path, demo_db)
    session.plan(list(REPORT_PENDING))
    session.record_approval("bob")
    session.toggle(PAGE_LOADS)
    session.record_health(check_health(None))
    reopened = _new(tmp_path, demo_db)
    assert reopened.resumed
    assert reopened.path == session.path
    assert reopened.approved_by == "bob" and reopened.approved_at == session.approved_at
    assert reopened.planned == list(REPORT_PENDING)
    assert reopened.item(PAGE_LOADS).done
    assert reopened.health is not None and reopened.health.skipped
    assert APP_PASSWORD not in session.path.read_text()
    # Once the record is written, the next run starts a new session.
    reopened.write_record(tmp_path / "records")
    fresh = _new(tmp_path, demo_db)
    assert not fresh.resumed and fresh.approved_by is None


def test_a_failed_deploy_is_recorded_and_survives_a_reload(db, migrations, tmp_path):
    folder = load_folder(migrations({
        "20240101000000_init": 'CREATE TABLE "t" ("id" TEXT NOT NULL);',
        "20240102000000_bad": 'ALTER TABLE "t" ADD COLUMN "id" TEXT;',
    }))
    session = _new(tmp_path, db)
    session.plan([m.name for m in folder.migrations])
    session.record_approval()
    result = Deployment(db.target, folder).run()
    session.record_deploy(result)
    reopened = _new(tmp_path, db)
    assert reopened.failure is not None and reopened.failure.sqlstate == "42701"
    assert [a.name for a in reopened.applied] == ["20240101000000_init"]
    assert not reopened.item("all_applied").done
    assert "20240102000000_bad" in reopened.item("all_applied").evidence
    assert not reopened.item("no_errors").done and "42701" in reopened.item("no_errors").evidence
    record = reopened.write_record(tmp_path / "records").read_text()
    assert "**Outcome:** FAILED" in record
    assert "- **Error:** 42701 column \"id\" of relation \"t\" already exists" in record
    assert "Approved but not applied: `20240102000000_bad`" in record


def test_automatic_items_cannot_be_ticked_by_hand_but_a_skipped_health_check_can(db, tmp_path):
    session = _new(tmp_path, db)
    with pytest.raises(LumikuError, match="proven by the program"):
        session.toggle(AVATAR_ID)
    session.record_health(check_health(None))
    health = session.item("health_200")
    assert not health.automatic and "skipped" in health.evidence
    session.toggle("health_200")
    assert session.item("health_200").done
    with pytest.raises(LumikuError, match="No checklist item"):
        session.toggle("nope")


def test_an_unreadable_state_file_starts_afresh(db, tmp_path):
    session = _new(tmp_path, db)
    session.record_approval("carol")
    session.path.write_text("{not json")
    assert _new(tmp_path, db).approved_by is None
    session.path.write_text(json.dumps({"version": 999}))
    assert _new(tmp_path, db).approved_by is None


def test_state_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LUMIKU_STATE_DIR", str(tmp_path / "explicit"))
    assert default_state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("LUMIKU_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "xdg" / "lumiku-tui"


def test_a_retry_after_a_failure_adds_to_the_same_record(db, migrations, tmp_path):
    scripts = {
        "20240101000000_init": 'CREATE TABLE "t" ("id" TEXT NOT NULL);',
        "20240102000000_bad": 'ALTER TABLE "t" ADD COLUMN "id" TEXT;',
    }
    folder = load_folder(migrations(scripts))
    session = _new(tmp_path, db)
    session.plan([m.name for m in folder.migrations])
    session.record_deploy(Deployment(db.target, folder).run())
    # The operator fixes the file, marks the failed attempt rolled back, and deploys again.
    folder = load_folder(migrations({"20240102000000_bad": 'ALTER TABLE "t" ADD COLUMN "name" TEXT;'}))
    from lumiku_tui.prisma.resolve import resolve_rolled_back

    resolve_rolled_back(db.target, folder, "20240102000000_bad")
    session.plan(["20240102000000_bad"])
    session.record_deploy(Deployment(db.target, folder).run())
    session.record_checks(verify_migrations(db.target, folder, session.planned))
    assert [a.name for a in session.applied] == ["20240101000000_init", "20240102000000_bad"]
    assert session.failure is None
    assert session.item("all_applied").done and "2 applied" in session.item("all_applied").evidence
    assert session.item("history_rows").label == "`_prisma_migrations` table shows all 2 new migrations"
    assert session.item("history_rows").done


# -- the record from the journal and the database ---------------------------------------------------

INIT = "20240101000000_init"
BAD = "20240102000000_bad"
THIRD = "20240103000000_third"
#: Fails on the data (23505), which lint cannot foresee: the deploy gate lets it run.
FAILING = {INIT: 'CREATE TABLE "t" ("id" TEXT NOT NULL);\nINSERT INTO "t" VALUES (\'a\'), (\'a\');',
           BAD: 'CREATE UNIQUE INDEX "t_id_key" ON "t"("id");'}
FIXED = 'CREATE INDEX "t_id_idx" ON "t"("id");'
ERROR = '23505 could not create unique index "t_id_key"'



def _status(run_cli, db, folder) -> dict[str, str]:
    code, out, err = run_cli("status", "--json", "--database-url", db.url, "--migrations", str(folder))
    return {m["name"]: m["state"] for m in json.loads(out)["migrations"]}


def _journal(db):
    from lumiku_tui.journal import Journal

    return Journal.for_target(db.target)


def test_headless_fail_fix_resolve_and_deploy_again_records_the_whole_story(db, migrations, run_cli, tmp_path):
    from lumiku_tui.prisma.folder import checksum

    folder = migrations(FAILING)
    old = checksum(FAILING[BAD].encode())
    code, _out, _err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1
    fixed = FIXED
    migrations({BAD: fixed})
    code, _out, err = run_cli("resolve", "--rolled-back", BAD, "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    path = tmp_path / "record.md"
    code, out, err = run_cli("deploy", "--yes", "--record", str(path), "--database-url", db.url,
                             "--migrations", str(folder))
    assert code == 0, err
    record = path.read_text()
    story = record.split("## What happened")[1].split("## Final state")[0]
    assert "Attempt 1: deploy of 20240101000000_init, 20240102000000_bad" in story
    assert f"20240102000000_bad failed at statement 1, line 1: {ERROR}" in story
    assert "marked 20240102000000_bad rolled back (resolve --rolled-back)" in story
    assert (f"20240102000000_bad's file changed since attempt 1: checksum {old[:12]} then, "
            f"{checksum(fixed.encode())[:12]} now") in story
    assert "Attempt 2: deploy of 20240102000000_bad" in story
    assert story.index("Attempt 1") < story.index("rolled back (resolve") < story.index("Attempt 2")
    final = record.split("## Final state")[1].split("## Approval")[0]
    assert re.search(rf"\| {INIT} \| applied \| [0-9-]+ [0-9:]+ UTC \| deploy", final)
    assert re.search(rf"\| {BAD} \| applied \| [0-9-]+ [0-9:]+ UTC \| deploy", final)
    failures = record.split("## Failures")[1].split("## Verification")[0]
    assert "None." not in failures and "Failure: None" not in record
    assert f"- **Error:** {ERROR}" in failures
    assert "The last deploy attempt ended without an error." in failures
    assert "**Outcome:** FAILED" not in record
    assert "- [x] All pending migrations applied successfully _automatic_ (2 applied: " in record
    assert "- [x] `\\_prisma\\_migrations` table shows all 2 new migrations" in record or \
        "- [x] `_prisma_migrations` table shows all 2 new migrations _automatic_" in record
    assert "earlier in this deployment: 20240102000000_bad failed" in record
    assert _status(run_cli, db, folder) == {INIT: "applied", BAD: "applied"}
    assert [e.kind for e in _journal(db).entries()][-2:] == ["verification", "record_written"]


def test_a_failed_headless_deploy_with_a_record_says_it_failed(db, migrations, run_cli, tmp_path):
    folder = migrations(FAILING)
    path = tmp_path / "record.md"
    code, _out, _err = run_cli("deploy", "--yes", "--record", str(path), "--database-url", db.url,
                               "--migrations", str(folder))
    assert code == 1
    record = path.read_text()
    assert "**Outcome:** FAILED" in record
    assert ("- [ ] No migration errors in output _automatic_ (failed in the database: 20240102000000_bad; "
            f"20240102000000_bad failed at statement 1, line 1: {ERROR}") in record
    assert re.search(rf"\| {BAD} \| failed \| - \| - \|", record)
    assert "Approved but not applied: `20240102000000_bad`" in record


def test_resolve_applied_after_a_manual_fix_counts_as_applied(db, migrations, run_cli, tmp_path):
    """Recovery A: a failed migration done by hand and marked applied; the rest deployed; the checklist agrees."""
    folder = migrations({**FAILING, THIRD: 'CREATE TABLE "u" ("id" TEXT);'})
    code, _out, _err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 1
    with db.connect() as conn:  # what the migration meant, done by hand
        conn.execute('DELETE FROM "t" WHERE ctid <> (SELECT min(ctid) FROM "t")')
        conn.execute('CREATE UNIQUE INDEX "t_id_key" ON "t"("id")')
    code, _out, err = run_cli("resolve", "--applied", BAD, "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    path = tmp_path / "record.md"
    code, _out, err = run_cli("deploy", "--yes", "--record", str(path), "--database-url", db.url,
                              "--migrations", str(folder))
    assert code == 0, err
    record = path.read_text()
    assert _status(run_cli, db, folder) == {INIT: "applied", BAD: "applied", THIRD: "applied"}
    assert ("- [x] All pending migrations applied successfully _automatic_ (3 applied: 20240101000000_init "
            "(") in record
    assert "20240102000000_bad (marked applied with resolve --applied)" in record
    assert "table shows all 3 new migrations _automatic_ (3 rows finished" in record
    assert "Approved but not applied" not in record
    assert f"| {BAD} | - | not run: marked applied with resolve --applied |" in record
    assert "marked 20240102000000_bad applied (resolve --applied; not run)" in record
    assert "- [x] No migration errors in output _automatic_ (the last deploy finished without an error; earlier " \
        "in this deployment: 20240102000000_bad failed" in record
    kinds = [e.kind for e in _journal(db).entries()]
    assert kinds.count("deployment_complete") == 1 and kinds.count("approved") == 2


def test_a_new_deployment_starts_after_a_complete_one(db, migrations, run_cli, tmp_path):
    """The record tells only the current deployment: what completed before is not repeated."""
    folder = migrations(FAILING)
    run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    migrations({BAD: FIXED})
    run_cli("resolve", "--rolled-back", BAD, "--database-url", db.url, "--migrations", str(folder))
    code, _out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    migrations({THIRD: 'CREATE TABLE "u" ("id" TEXT);'})
    path = tmp_path / "record.md"
    code, _out, err = run_cli("deploy", "--yes", "--record", str(path), "--database-url", db.url,
                              "--migrations", str(folder))
    assert code == 0, err
    record = path.read_text()
    assert "Attempt 1: deploy of 20240103000000_third" in record
    assert "23505" not in record and "Attempt 2" not in record
    assert "table shows the 1 new migration" in record
    # Nothing pending afterwards: a run with nothing to do opens no new deployment.
    code, out, _err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0 and "Nothing to apply" in out
    kinds = [e.kind for e in _journal(db).entries()]
    assert kinds.count("deployment_complete") == 2


def test_lock_timeouts_retries_and_an_ended_session_are_in_the_record(db, migrations, tmp_path):
    """Recovery: two lock timeouts, the timeout raised and retried, the blocker ended; checklist agrees with status."""
    from lumiku_tui.apply.deploy import DeployOptions
    from lumiku_tui.pg.sessions import end_session
    from lumiku_tui.prisma.status import read_status

    journal = _journal(db)
    first = load_folder(migrations({INIT: 'CREATE TABLE "t" ("id" TEXT);'}))
    assert Deployment(db.target, first, journal=journal).run().ok
    second = "20240102000000_column"
    folder = load_folder(migrations({second: 'ALTER TABLE "t" ADD COLUMN "x" INTEGER;'}))
    blocker = db.connect()
    try:
        blocker.execute("SET application_name = 'report-job'")
        blocker.execute("BEGIN")
        blocker.execute('SELECT * FROM "t"')  # an open transaction holding the table
        blocker_pid = blocker.info.backend_pid
        session = DeploymentProgress.load_or_new(tmp_path / "state", db.target.display, db.target.dbname)
        session.attach(journal, lambda: read_status(db.target, folder))
        session.plan([second])
        session.record_approval("alice", checksums={second: folder.by_name()[second].checksum})
        results = []
        for timeout in (0.3, 0.6):
            if results:  # what the wizard's retry dialog journals
                journal.append("timeout_changed", which="lock timeout", option="lock_timeout_s", old=0.3, new=timeout)
                journal.append("retry", why=f"lock timeout on {second}")
            results.append(Deployment(db.target, folder, DeployOptions(lock_timeout_s=timeout, approved=(second,)),
                                      journal=journal).run())
        assert [r.failure.reason for r in results] == ["lock_timeout", "lock_timeout"]
        session.apply_evidence()
        assert not session.item("all_applied").done and "(pending)" in session.item("all_applied").evidence
        assert end_session(db.target, blocker_pid, journal)
    finally:
        blocker.close()
    journal.append("retry", why=f"lock timeout on {second}")
    assert Deployment(db.target, folder, DeployOptions(lock_timeout_s=0.6, approved=(second,)), journal=journal).run().ok
    status = read_status(db.target, folder)
    assert {m.name: m.state.value for m in status.migrations} == {INIT: "applied", second: "applied"}
    record = session.write_record(tmp_path / "records").read_text()
    story = record.split("## What happened")[1].split("## Final state")[0]
    assert "Attempt 1: deploy of 20240102000000_column" in story and "Attempt 3:" in story
    assert story.count("20240102000000_column failed at statement 1, line 1: 55P03") == 2
    assert "changed the lock timeout from 0.3 s to 0.6 s" in story
    assert story.count("retried (lock timeout on 20240102000000_column)") == 2
    assert f'ended session pid {blocker_pid} (SELECT \\* FROM "t")' in story  # Markdown-escaped
    assert story.index("ended session") < story.index("Attempt 3")
    assert INIT not in story  # the first deployment completed before this one began
    assert "- [x] All pending migrations applied successfully _automatic_ (1 applied: 20240102000000_column" in record
    assert "- [x] No migration errors in output _automatic_ (the last deploy finished without an error; earlier in " \
        "this deployment: 20240102000000_column failed" in record
    assert "table shows the 1 new migration _automatic_ (1 rows finished" in record


def test_a_journal_that_cannot_be_written_does_not_hide_the_deploy(db, migrations, tmp_path):
    """A full disk or a bad state folder: the deploy goes on and says once that the record will miss events."""
    from lumiku_tui.apply.events import MigrationFinished, Notice
    from lumiku_tui.journal import Journal

    (tmp_path / "not-a-folder").write_text("")
    journal = Journal(tmp_path / "not-a-folder" / "journal.jsonl")
    folder = load_folder(migrations({INIT: 'CREATE TABLE "t" ("id" TEXT);', THIRD: 'CREATE TABLE "u" ("id" TEXT);'}))
    seen = []
    result = Deployment(db.target, folder, journal=journal, on_event=seen.append).run()
    assert result.ok and [a.name for a in result.applied] == [INIT, THIRD]
    assert [e.name for e in seen if isinstance(e, MigrationFinished)] == [INIT, THIRD]
    said = [e.message for e in seen if isinstance(e, Notice) and "could not be written" in e.message]
    assert len(said) == 1 and "the deployment record will miss what follows" in said[0]


def test_every_engine_event_is_journaled_in_the_order_the_front_end_sees_it(db, migrations, tmp_path):
    from lumiku_tui.journal import Journal

    journal = Journal(tmp_path / "journal.jsonl")
    folder = load_folder(migrations({INIT: 'CREATE TABLE "t" ("id" TEXT);\nINSERT INTO "t" VALUES (\'a\');',
                                     THIRD: 'CREATE TABLE "u" ("id" TEXT);'}))
    seen = []
    Deployment(db.target, folder, journal=journal, on_event=lambda e: seen.append(e.to_dict()["event"])).run()
    assert [e.kind for e in journal.entries()][:len(seen)] == seen
    assert seen[-1] == "deploy_finished" and seen.count("statement_finished") == 3
    started = [e for e in journal.entries() if e.kind == "migration_started"]
    assert [e.get("checksum") for e in started] == [folder.by_name()[INIT].checksum, folder.by_name()[THIRD].checksum]
    assert journal.entries()[-1].kind == "deployment_complete"


def test_a_state_folder_that_cannot_be_written_warns_and_deploys(db, migrations, run_cli, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("LUMIKU_STATE_DIR", str(blocked / "state"))
    folder = migrations({INIT: 'CREATE TABLE "t" ("id" TEXT);'})
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, err
    assert "warning: the journal cannot be written in" in err and "Set LUMIKU_STATE_DIR" in err
    assert _status(run_cli, db, folder) == {INIT: "applied"}
