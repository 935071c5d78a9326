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
