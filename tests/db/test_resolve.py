"""`resolve` both ways, with Prisma's refusals."""

from __future__ import annotations

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder

SCRIPTS = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    "20240102000000_bad": "CREATE TABLE half (id int);\nSELECT 1/0;",
}


def failed_deploy(db, migrations):
    path = migrations(SCRIPTS)
    Deployment(db.target, load_folder(path)).run()
    return path


def args(db, path, *extra):
    return (*extra, "--database-url", db.url, "--migrations", str(path))


def test_resolve_rolled_back_marks_the_failed_row(db, migrations, run_cli):
    path = failed_deploy(db, migrations)
    code, out, err = run_cli(*args(db, path, "resolve", "--rolled-back", "20240102000000_bad"))
    assert code == 0 and "rolled back" in out
    rows = db.history()
    assert rows[-1][:4] == ("20240102000000_bad", False, True, 0)
    # Idempotent like Prisma: a second call is not an error... but no failed row remains to mark.
    code, out, err = run_cli(*args(db, path, "resolve", "--rolled-back", "20240102000000_bad"))
    assert code == 0


def test_resolve_applied_after_a_manual_hotfix(db, migrations, run_cli):
    path = failed_deploy(db, migrations)
    db.query("CREATE TABLE half (id int)")  # the operator finished the job by hand
    code, out, err = run_cli(*args(db, path, "resolve", "--applied", "20240102000000_bad"))
    assert code == 0 and "recorded as applied" in out
    rows = db.query("SELECT finished_at IS NOT NULL, rolled_back_at IS NOT NULL, applied_steps_count, logs, "
                    "started_at = finished_at FROM _prisma_migrations WHERE migration_name = %s ORDER BY started_at",
                    ("20240102000000_bad",))
    # The failed attempt is rolled back; the new row is what Prisma's resolve --applied writes.
    assert rows == [(False, True, 0, rows[0][3], None), (True, False, 0, "", True)]
    code, out, _ = run_cli(*args(db, path, "status"))
    assert code == 0


def test_resolve_refusals_match_prisma(db, migrations, run_cli):
    path = failed_deploy(db, migrations)
    code, _, err = run_cli(*args(db, path, "resolve", "--applied", "20240101000000_a"))
    assert code == 2 and "already recorded as applied" in err and "P3008" in err
    code, _, err = run_cli(*args(db, path, "resolve", "--rolled-back", "20240101000000_a"))
    assert code == 2 and "not in a failed state" in err and "P3012" in err
    code, _, err = run_cli(*args(db, path, "resolve", "--applied", "20249999000000_nope"))
    assert code == 2 and "is not in" in err and "P3017" in err
    code, _, err = run_cli(*args(db, path, "resolve", "--rolled-back", "20249999000000_nope"))
    assert code == 2 and "never applied" in err and "P3011" in err
    assert db.history()[-1][:3] == ("20240102000000_bad", False, False), "refusals change nothing"


def test_deploy_after_rolled_back_resolve_reapplies(db, migrations, run_cli):
    path = failed_deploy(db, migrations)
    run_cli(*args(db, path, "resolve", "--rolled-back", "20240102000000_bad"))
    (path / "20240102000000_bad" / "migration.sql").write_text("CREATE TABLE half (id int);")
    code, out, err = run_cli(*args(db, path, "deploy", "--yes"))
    assert code == 0 and "Applied 1 migration(s)" in out
