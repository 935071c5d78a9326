"""The runbook in the wizard: a failing precheck blocks approval; runbook checks show in the verification and
checklist screens; an app without a runbook sees nothing of Lumiku's."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.tui.screens.applying import ApplyingScreen
from lumiku_tui.tui.screens.approval import ApprovalScreen
from lumiku_tui.tui.screens.checklist import ChecklistScreen
from lumiku_tui.tui.screens.overview import OverviewScreen
from lumiku_tui.tui.screens.preview import PreviewScreen
from lumiku_tui.tui.screens.verification import VerificationScreen

from .test_tui_support import enter_name, flat, make_app, screen_text, wait_until

SIZE = (80, 24)
pytestmark = pytest.mark.anyio

INIT = {"20240101000000_init": 'CREATE TABLE "customers" ("id" TEXT NOT NULL, "email" TEXT);\n'
                               'CREATE TABLE "orders" ("id" TEXT NOT NULL, "customerId" TEXT);\n'}
PENDING = {"20240201000000_total": 'ALTER TABLE "orders" ADD COLUMN "total" INTEGER;\n'}
RUNBOOK = '''
[[precheck]]
name = "No orders without a customer"
sql = """SELECT o.id FROM orders o WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o."customerId")"""

[[verify]]
name = "Orders carry a total"
sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'total'"
expect = [["total", "integer"]]

[[manual]]
label = "The order page shows totals"
'''


def _app(db, migrations, tmp_path: Path, *, orphan: bool, runbook: str | None = RUNBOOK):  # type: ignore[no-untyped-def]
    folder = migrations(INIT)
    Deployment(db.target, load_folder(folder)).run()
    with db.connect() as conn:
        conn.execute("INSERT INTO customers VALUES ('c1', NULL)")
        conn.execute("INSERT INTO orders VALUES ('o1', %s)", ("gone" if orphan else "c1",))
    migrations(PENDING)
    if runbook is not None:
        (tmp_path / "lumiku.toml").write_text(runbook)
    return make_app(db.url, folder, tmp_path, demo=False)


async def _to_approval(pilot, app) -> ApprovalScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen) and app.screen.ready, "the overview")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, PreviewScreen) and app.screen.lint_done, "the preview")
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), "the approval gate")
    return app.screen


async def test_a_failing_precheck_blocks_approval_with_its_name_and_evidence(db, migrations, tmp_path):
    app = _app(db, migrations, tmp_path, orphan=True)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        await wait_until(pilot, lambda: approval.precheck_block is not None, "the prechecks")
        await enter_name(pilot, db.name)
        await pilot.pause()
        text = flat(screen_text(app))
        assert "Precheck “No orders without a customer” failed; nothing was applied." in text
        assert "found o1" in text
        assert isinstance(app.screen, ApprovalScreen)
        assert app.ctx.session.prechecks[0].found == "o1"
    assert db.query("SELECT count(*) FROM _prisma_migrations") == [(1,)]
    assert db.query("SELECT column_name FROM information_schema.columns WHERE column_name = 'total'") == []


async def test_passing_prechecks_let_the_deploy_run_and_runbook_checks_reach_the_checklist(db, migrations, tmp_path):
    app = _app(db, migrations, tmp_path, orphan=False)
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        await enter_name(pilot, db.name)  # typed at once: the approval waits for the prechecks
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the deploy")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done, "verify")
        text = flat(screen_text(app))
        assert "✓ The runbook's 1 check(s) pass" in text and "runbook Orders carry a total" in text
        app.open_checklist()
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        text = flat(screen_text(app))
        assert "[x] Orders carry a total automatic" in text
        assert "[ ] The order page shows totals you (space)" in text
        assert "Every object the migrations create" not in text  # the runbook's criteria replace the derived one


async def test_an_app_without_a_runbook_sees_nothing_of_lumiku(db, migrations, tmp_path):
    app = _app(db, migrations, tmp_path, orphan=True, runbook=None)
    seen = []
    async with app.run_test(size=SIZE) as pilot:
        await _to_approval(pilot, app)
        seen.append(screen_text(app))
        await enter_name(pilot, db.name)  # no runbook, no prechecks: the orphan row blocks nothing
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the deploy")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, VerificationScreen) and app.screen.done, "verify")
        seen.append(screen_text(app))
        app.open_checklist()
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen), "the checklist")
        seen.append(screen_text(app))
        items = [i.label for i in app.ctx.session.checklist]
    assert items == ["All pending migrations applied successfully", "No migration errors in output",
                     "Every object the migrations create or change is in the database as written",
                     "`_prisma_migrations` table shows the 1 new migration"]
    text = "\n".join(seen)
    for word in ("avatar", "Avatar", "pose_", "lumiku.com", "Coolify", "runbook's"):
        assert word not in text


async def test_a_gate_asks_a_second_look_at_the_warnings_it_names(demo_db, tmp_path):
    from lumiku_tui.tui.app import WizardApp, build_context
    from lumiku_tui.tui.screens.base import ConfirmModal

    from tests.conftest import SHIPPED_MIGRATIONS

    gate = tmp_path / "gate.toml"
    gate.write_text('[gate]\nconfirm = ["warning"]\n')
    ctx = build_context(database_url=demo_db.url, migrations=str(SHIPPED_MIGRATIONS), demo=True,
                        state_dir=tmp_path / "state", record_dir=tmp_path / "records", runbook=gate)
    app = WizardApp(ctx)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        assert approval._findings()[1] and not approval._findings()[0]  # the demo has warnings, no errors
        await enter_name(pilot, demo_db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal), "the second confirmation")
        assert "named in the runbook's [gate]" in flat(screen_text(app))
        await pilot.press("n")
        await pilot.pause()
        assert "Not approved: nothing was applied." in flat(screen_text(app))


async def test_a_guarded_precheck_is_listed_at_approval_and_stops_the_deploy_before_its_migration(
        db, migrations, tmp_path):
    guarded = RUNBOOK.replace('name = "No orders without a customer"\n',
                              'name = "No orders without a customer"\nmigration = "20240201000000_total"\n')
    app = _app(db, migrations, tmp_path, orphan=True, runbook=guarded)
    async with app.run_test(size=(100, 40)) as pilot:
        approval = await _to_approval(pilot, app)
        text = flat(screen_text(app))
        assert "Precheck runs right before 20240201000000_total: “No orders without a customer”" in text, text
        assert approval.precheck_block == ""  # nothing runs before approval: nothing blocks it
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished, "the deploy")
        failure = app.screen.failure
        assert failure is not None and failure.reason == "precheck" and failure.name == "20240201000000_total"
        assert "No orders without a customer" in failure.message
        # The record keeps it beside the prechecks run at approval.
        assert [(c.object, c.found, c.ok) for c in app.ctx.session.prechecks] == [
            ("No orders without a customer", "o1", False)]
    assert db.query("SELECT count(*) FROM _prisma_migrations") == [(1,)]
    assert db.query("SELECT column_name FROM information_schema.columns WHERE column_name = 'total'") == []


async def test_a_failed_precheck_runs_again_on_the_next_enter_once_the_data_is_fixed(db, migrations, tmp_path):
    app = _app(db, migrations, tmp_path, orphan=True)
    async with app.run_test(size=SIZE) as pilot:
        approval = await _to_approval(pilot, app)
        await wait_until(pilot, lambda: approval.precheck_block, "the failed precheck")
        with db.connect() as conn:  # the operator fixes the data, the approval screen still open
            conn.execute("DELETE FROM orders WHERE id = 'o1'")
        await enter_name(pilot, db.name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyingScreen) and app.screen.finished,
                         "the deploy, the precheck passing this time")
        assert app.screen.result is not None and app.screen.result.ok
    assert db.query("SELECT column_name FROM information_schema.columns WHERE column_name = 'total'") == [("total",)]
