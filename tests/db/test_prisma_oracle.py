"""Real Prisma (pinned in tests/prisma_cli) and lumiku-tui read and write the same history.

Skipped when Node or the pinned CLI is missing (`cd tests/prisma_cli && npm ci --ignore-scripts`).
"""

from __future__ import annotations

import re
import shutil

import pytest

from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.prisma.status import State, read_status

from tests.conftest import SHIPPED_MIGRATIONS
from tests.prisma_cli.prisma_runner import prisma_available, run_prisma

pytestmark = pytest.mark.skipif(not prisma_available(), reason="Prisma CLI not installed: "
                                "cd tests/prisma_cli && npm ci --ignore-scripts --no-audit --no-fund")


def prisma(db, path, tmp_path, *args):
    return run_prisma(list(args), db.url, path, tmp_path / "prisma-run")


def listed_after(text: str, heading: str) -> list[str]:
    """Migration names Prisma prints under a heading, one per line, until a blank line."""
    block = text.split(heading, 1)[1].strip("\n").split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if re.match(r"\s*\d{4}", line)]


def test_shipped_history_deployed_by_lumiku_is_up_to_date_for_prisma(db, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(SHIPPED_MIGRATIONS, copy)
    assert Deployment(db.target, load_folder(copy)).run().ok
    proc = prisma(db, copy, tmp_path, "migrate", "status")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "22 migrations found" in proc.stdout and "Database schema is up to date!" in proc.stdout


def test_large_generated_history_deployed_by_lumiku_is_up_to_date_for_prisma(db, tmp_path):
    history = pytest.importorskip("bench.prisma_history")
    path = tmp_path / "big"
    history.write_history(path, migrations=300)
    result = Deployment(db.target, load_folder(path)).run()
    assert result.ok and len(result.applied) == 300
    proc = prisma(db, path, tmp_path, "migrate", "status")
    assert proc.returncode == 0 and "Database schema is up to date!" in proc.stdout, proc.stdout + proc.stderr


def test_pending_lists_agree(db, migrations, tmp_path):
    path = migrations({
        "20240101000000_a": "CREATE TABLE a (id int);",
        "20240102000000_b": "CREATE TABLE b (id int);",
        "20240103000000_c": "CREATE TABLE c (id int);",
    })
    Deployment(db.target, load_folder(path), ).run()
    (path / "20240104000000_d").mkdir()
    (path / "20240104000000_d" / "migration.sql").write_text("CREATE TABLE d (id int);")
    (path / "20240105000000_e").mkdir()
    (path / "20240105000000_e" / "migration.sql").write_text("CREATE TABLE e (id int);")
    proc = prisma(db, path, tmp_path, "migrate", "status")
    assert proc.returncode == 1
    ours = [m.name for m in read_status(db.target, load_folder(path)).to_apply]
    assert listed_after(proc.stdout, "Following migrations have not yet been applied:") == ours == [
        "20240104000000_d", "20240105000000_e"]


def test_failure_recorded_by_lumiku_is_a_failure_for_prisma(db, migrations, tmp_path):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);",
                       "20240102000000_bad": "CREATE TABLE b (id int);\nSELECT 1/0;"})
    assert Deployment(db.target, load_folder(path)).run().failure is not None
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 1
    assert "20240102000000_bad" in listed_after(status.stdout + status.stderr, "Following migration have failed:")
    deploy = prisma(db, path, tmp_path, "migrate", "deploy")
    assert deploy.returncode == 1 and "P3009" in deploy.stdout + deploy.stderr
    # Prisma's resolve works on our row, and we then see exactly what Prisma wrote.
    resolved = prisma(db, path, tmp_path, "migrate", "resolve", "--rolled-back", "20240102000000_bad")
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    states = {m.name: m.state for m in read_status(db.target, load_folder(path)).migrations}
    assert states["20240102000000_bad"] is State.ROLLED_BACK


def test_history_written_by_prisma_reads_the_same_in_lumiku(db, migrations, tmp_path):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);\r\nCREATE TABLE a2 (id int);\r\n",
                       "20240102000000_bad": "SELECT 1/0;"})
    deploy = prisma(db, path, tmp_path, "migrate", "deploy")
    assert deploy.returncode == 1  # the second one fails
    report = read_status(db.target, load_folder(path))
    assert [(m.name, m.state) for m in report.migrations] == [
        ("20240101000000_a", State.APPLIED), ("20240102000000_bad", State.FAILED)]
    assert report.migrations[0].checksum_ok is True  # Prisma's checksum of a CRLF file matches ours
    prisma(db, path, tmp_path, "migrate", "resolve", "--rolled-back", "20240102000000_bad")
    (path / "20240102000000_bad" / "migration.sql").write_text("SELECT 1;")
    result = Deployment(db.target, load_folder(path)).run()
    assert [a.name for a in result.applied] == ["20240102000000_bad"]
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    applied = prisma(db, path, tmp_path, "migrate", "resolve", "--applied", "20240101000000_a")
    assert applied.returncode == 1 and "P3008" in applied.stdout + applied.stderr


def test_missing_locally_is_reported_by_both(db, migrations, tmp_path):
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);", "20240102000000_b": "CREATE TABLE b (id int);"})
    Deployment(db.target, load_folder(path)).run()
    shutil.rmtree(path / "20240102000000_b")
    proc = prisma(db, path, tmp_path, "migrate", "status")
    ours = {m.name: m.state for m in read_status(db.target, load_folder(path)).migrations}
    assert ours["20240102000000_b"] is State.MISSING_LOCALLY
    # Prisma's CLI calls this "migrations directory is behind" and still exits 0 (see README):
    # lumiku-tui reports it and exits 1.
    assert proc.returncode == 0


def test_prisma_keeps_its_history_in_public_when_a_migration_creates_the_roles_schema(db, migrations, tmp_path):
    """The reference for lumiku-tui's refusal (apply/schema_shift.py): without ?schema=, Prisma keeps
    `_prisma_migrations` in public while later unqualified tables land in the new "$user" schema."""
    from tests.conftest import APP_ROLE

    path = migrations({"20240101000000_a": "CREATE TABLE t1 (id int);",
                       "20240102000000_schema": f'CREATE SCHEMA "{APP_ROLE}";',
                       "20240103000000_c": "CREATE TABLE t3 (id int);"})
    proc = prisma(db, path, tmp_path, "migrate", "deploy")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert db.query("SELECT count(*) FROM public._prisma_migrations WHERE finished_at IS NOT NULL") == [(3,)]
    assert db.query("SELECT to_regclass(%s)", (f'"{APP_ROLE}"._prisma_migrations',)) == [(None,)]
    assert db.query("SELECT to_regclass('public.t1') IS NOT NULL, to_regclass(%s) IS NOT NULL",
                    (f'"{APP_ROLE}".t3',)) == [(True, True)]
    status = prisma(db, path, tmp_path, "migrate", "status")
    assert "Database schema is up to date!" in status.stdout, status.stdout + status.stderr
