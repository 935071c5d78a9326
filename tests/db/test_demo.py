"""The demo database is in the report's state, and its deploy does what the report wanted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from lumiku_tui.demo import REPORT_PENDING, create_demo_database
from lumiku_tui.apply.deploy import Deployment
from lumiku_tui.prisma.folder import load_folder
from lumiku_tui.prisma.status import State, read_status

from tests.conftest import APP_PASSWORD, APP_ROLE, SHIPPED_MIGRATIONS, Database

REPORT_COLUMNS = [
    ("avatar_generations", "avatarId", "text", "YES"),
    ("avatar_generations", "projectId", "text", "NO"),
    ("pose_generations", "generationType", "text", "NO"),
]


def columns(db):
    return db.query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE (table_name, column_name) IN (('avatar_generations','avatarId'), ('avatar_generations','projectId'), "
        "('pose_generations','generationType')) ORDER BY table_name, column_name"
    )


def test_shipped_history_has_22_migrations_ending_with_the_reports_four():
    names = [m.name for m in load_folder(SHIPPED_MIGRATIONS).migrations]
    assert len(names) == 22 and tuple(names[-4:]) == REPORT_PENDING


@pytest.fixture
def built_demo(pg_server):  # type: ignore[no-untyped-def]
    """The demo as `lumiku-tui demo` builds it, not the suite's copy of it: the row counts below come from the
    server's activity statistics, which CREATE DATABASE ... TEMPLATE does not carry over."""
    name = f"built_demo{os.getpid()}"
    url = create_demo_database(pg_server, load_folder(SHIPPED_MIGRATIONS), dbname=name, owner=APP_ROLE,
                               password=APP_PASSWORD)
    yield Database(pg_server, name, url)
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_demo_is_in_the_reports_state(built_demo):
    demo_db = built_demo
    folder = load_folder(SHIPPED_MIGRATIONS)
    report = read_status(demo_db.target, folder)
    assert len(report.in_state(State.APPLIED)) == 18
    assert tuple(m.name for m in report.to_apply) == REPORT_PENDING
    assert columns(demo_db) == []  # the three columns the report says are missing
    counts = dict(demo_db.query(
        "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname IN "
        "('users', 'avatar_generations', 'pose_generations', 'generated_poses')"))
    assert all(counts[t] > 100 for t in ("users", "avatar_generations", "pose_generations", "generated_poses"))


def test_demo_deploy_succeeds_and_fixes_the_reports_columns(demo_db):
    result = Deployment(demo_db.target, load_folder(SHIPPED_MIGRATIONS)).run()
    assert result.ok and tuple(a.name for a in result.applied) == REPORT_PENDING
    assert columns(demo_db) == REPORT_COLUMNS
    # The NOT NULL column added to a table with rows was backfilled, not defaulted to garbage.
    assert demo_db.query('SELECT count(*) FROM avatar_generations WHERE "projectId" IS NULL') == [(0,)]
    assert read_status(demo_db.target, load_folder(SHIPPED_MIGRATIONS)).up_to_date


def test_demo_serve_prints_the_url_first_and_stops_cleanly_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "lumiku_tui", "demo", "--serve"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)  # any directory works
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("postgresql://lumiku:") and url.endswith("/lumiku")
        status = subprocess.run([sys.executable, "-m", "lumiku_tui", "status", "--json", "--database-url", url,
                                 "--migrations", str(SHIPPED_MIGRATIONS)], capture_output=True, text=True,
                                timeout=60)
        assert status.returncode == 1 and status.stdout.count('"pending"') == 4
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert "stopped" in proc.stderr.read()
        port = urlsplit(url).port
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, "the server must be down after SIGTERM"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
