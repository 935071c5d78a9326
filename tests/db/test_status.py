"""Every state a migration can be in, through the CLI's text and JSON."""

from __future__ import annotations

import json
import shutil

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder

TWO = {
    "20240101000000_a": "CREATE TABLE a (id int);",
    "20240102000000_b": "CREATE TABLE b (id int);",
}


def status_json(run_cli, db, path):
    code, out, err = run_cli("status", "--json", "--database-url", db.url, "--migrations", str(path))
    return code, json.loads(out)


def states(doc):
    return {m["name"]: m["state"] for m in doc["migrations"]}


def test_pending_on_a_fresh_database(db, migrations, run_cli):
    path = migrations(TWO)
    code, doc = status_json(run_cli, db, path)
    assert code == 1 and doc["up_to_date"] is False
    assert states(doc) == {n: "pending" for n in TWO}
    assert set(doc) == {"target", "schema", "prisma_next_ledger", "managed", "up_to_date", "migrations",
                        "deploy_running", "deploy_process_lost"}
    assert doc["deploy_running"] is None and doc["deploy_process_lost"] is None
    assert doc["schema"] == "public"
    assert set(doc["migrations"][0]) == {"name", "state", "checksum_ok", "started_at", "finished_at"}
    assert doc["migrations"][0]["checksum_ok"] is None and doc["migrations"][0]["started_at"] is None
    assert "***" in doc["target"] and db.name in doc["target"]


def test_applied_and_up_to_date(db, migrations, run_cli):
    path = migrations(TWO)
    Deployment(db.target, load_folder(path)).run()
    code, doc = status_json(run_cli, db, path)
    assert code == 0 and doc["up_to_date"] is True
    assert all(m["state"] == "applied" and m["checksum_ok"] is True and m["finished_at"] for m in doc["migrations"])
    code, out, _ = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert code == 0 and "Database schema is up to date." in out


def test_failed_then_rolled_back(db, migrations, run_cli):
    path = migrations({**TWO, "20240103000000_bad": "SELECT 1/0;"})
    Deployment(db.target, load_folder(path)).run()
    code, doc = status_json(run_cli, db, path)
    assert code == 1 and states(doc)["20240103000000_bad"] == "failed"
    code, out, _ = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert "FAILED" in out and "resolve --rolled-back 20240103000000_bad" in out
    run_cli("resolve", "--rolled-back", "20240103000000_bad", "--database-url", db.url, "--migrations", str(path))
    code, doc = status_json(run_cli, db, path)
    assert code == 1 and states(doc)["20240103000000_bad"] == "rolled_back"


def test_modified_after_apply(db, migrations, run_cli):
    path = migrations(TWO)
    Deployment(db.target, load_folder(path)).run()
    (path / "20240101000000_a" / "migration.sql").write_text("CREATE TABLE a (id bigint);")
    code, doc = status_json(run_cli, db, path)
    assert code == 1
    row = next(m for m in doc["migrations"] if m["name"] == "20240101000000_a")
    assert row["state"] == "modified" and row["checksum_ok"] is False


def test_line_ending_change_is_not_a_modification(db, migrations, run_cli):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"})
    Deployment(db.target, load_folder(path)).run()
    script = path / "20240101000000_a" / "migration.sql"
    script.write_bytes(script.read_bytes().replace(b"\n", b"\r\n"))
    code, doc = status_json(run_cli, db, path)
    assert code == 0 and states(doc) == {"20240101000000_a": "applied"}


def test_missing_locally(db, migrations, run_cli):
    path = migrations(TWO)
    Deployment(db.target, load_folder(path)).run()
    shutil.rmtree(path / "20240102000000_b")
    code, doc = status_json(run_cli, db, path)
    assert code == 1 and states(doc) == {"20240101000000_a": "applied", "20240102000000_b": "missing_locally"}
    code, out, _ = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert "missing locally" in out


def test_status_cannot_connect_exits_2(migrations, run_cli):
    path = migrations(TWO)
    code, out, err = run_cli("status", "--database-url", "postgresql://u:pw@127.0.0.1:1/x?connect_timeout=2",
                             "--migrations", str(path))
    assert code == 2 and "Cannot connect" in err and "Next step:" in err


def test_prisma_next_ledger_is_detected_and_never_written(db, migrations, run_cli):
    path = migrations(TWO)
    with db.admin() as admin:
        admin.execute("CREATE SCHEMA prisma_contract")
        admin.execute("CREATE TABLE prisma_contract.marker (space text PRIMARY KEY DEFAULT 'app', core_hash text)")
        admin.execute("INSERT INTO prisma_contract.marker (core_hash) VALUES ('sha256:abc')")
    code, doc = status_json(run_cli, db, path)
    assert doc["prisma_next_ledger"] == "prisma_contract.marker"
    code, out, _ = run_cli("status", "--database-url", db.url, "--migrations", str(path))
    assert "managed by Prisma Next (prisma_contract.marker" in out
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(path))
    assert code == 2 and "will not deploy here" in err
    assert db.query("SELECT to_regclass('_prisma_migrations'), to_regclass('a')") == [(None, None)]
    with db.admin() as admin:
        assert admin.execute("SELECT space, core_hash FROM prisma_contract.marker").fetchall() == [("app", "sha256:abc")]


def test_no_prisma_next_ledger_is_reported_as_none(db, migrations, run_cli):
    code, doc = status_json(run_cli, db, migrations(TWO))
    assert doc["prisma_next_ledger"] is None


def test_a_database_prisma_does_not_manage_is_said_so_with_prismas_exit_code(db, migrations, run_cli, tmp_path):
    """No history table and no local migrations: Prisma's `migrate status` says the database is not managed
    by Prisma Migrate and exits 1; so does lumiku-tui (never "up to date")."""
    from lumiku_tui.prisma.status import NOT_MANAGED

    from tests.prisma_cli.prisma_runner import prisma_available, run_prisma

    empty = migrations({})
    code, out, err = run_cli("status", "--database-url", db.url, "--migrations", str(empty))
    assert code == 1 and NOT_MANAGED in out and "up to date" not in out
    code, doc = status_json(run_cli, db, empty)
    assert code == 1 and doc["managed"] is False and doc["up_to_date"] is False
    if prisma_available():
        seen = run_prisma(["migrate", "status"], db.url, empty, tmp_path / "oracle")
        assert seen.returncode == 1 and NOT_MANAGED in seen.stdout + seen.stderr
    # With a history table (even an empty one) it is managed: up to date, exit 0.
    db.query("CREATE TABLE _prisma_migrations (id varchar(36) PRIMARY KEY, checksum varchar(64) NOT NULL, "
             "finished_at timestamptz, migration_name varchar(255) NOT NULL, logs text, rolled_back_at timestamptz, "
             "started_at timestamptz NOT NULL DEFAULT now(), applied_steps_count integer NOT NULL DEFAULT 0)")
    code, doc = status_json(run_cli, db, empty)
    assert code == 0 and doc["managed"] is True and doc["up_to_date"] is True
