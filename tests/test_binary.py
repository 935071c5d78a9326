"""The single-file binary, run the way an operator runs it in an app container without Python.

Every run gets an empty environment and a PATH that holds no Python (`env -i
PATH=/nonexistent`), so nothing can fall back on an interpreter or packages installed on
the build machine. Build the binary first, then point LUMIKU_BINARY at it:

    packaging/build_binary.sh && LUMIKU_BINARY=dist/lumiku-tui python -m pytest tests/test_binary.py
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from lumiku_tui import __version__
from tests.conftest import APP_PASSWORD, REPO, SHIPPED_MIGRATIONS, Database

BINARY = os.environ.get("LUMIKU_BINARY", "")
NO_PYTHON_PATH = "/nonexistent"
RUN_TIMEOUT_S = 60

pytestmark = pytest.mark.skipif(
    not BINARY,
    reason="LUMIKU_BINARY is not set: build the binary with packaging/build_binary.sh, then run "
    "LUMIKU_BINARY=dist/lumiku-tui python -m pytest tests/test_binary.py",
)

INIT = "20240101000000_init"
ADD_COLUMN = "20240102000000_add_avatar_style"
SCRIPTS = {
    INIT: 'CREATE TABLE "Avatar" ("id" TEXT NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "Avatar_pkey" PRIMARY KEY ("id"));\n',
    ADD_COLUMN: 'ALTER TABLE "Avatar" ADD COLUMN "style" TEXT;\n',
}


@pytest.fixture(scope="module")
def binary() -> Path:
    path = Path(BINARY).resolve()
    assert path.is_file() and os.access(path, os.X_OK), (
        f"LUMIKU_BINARY={BINARY} is not an executable file; build it with packaging/build_binary.sh")
    return path


@pytest.fixture
def run_binary(binary: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the binary with nothing but PATH=/nonexistent (plus `env`) in `cwd` (default: an empty folder)."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        workdir = cwd or tmp_path / "empty"
        workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [str(binary), *args], cwd=workdir, env={"PATH": NO_PYTHON_PATH, **(env or {})},
            input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
        )

    return run


def assert_no_password(*texts: str) -> None:
    for text in texts:
        assert APP_PASSWORD not in text
        assert APP_PASSWORD.replace("@", "%40").replace(":", "%3A").replace("/", "%2F") not in text


def test_help_runs_without_python_and_says_the_demo_server_is_left_out(run_binary) -> None:
    result = run_binary("--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    for command in ("status", "deploy", "resolve", "demo"):
        assert command in help_text
    assert "single-file binary does not include the embedded demo server" in help_text

    version = run_binary("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"lumiku-tui {__version__}"


def test_status_json_reports_pending_migrations(run_binary, db: Database, migrations) -> None:
    folder = migrations(SCRIPTS)
    result = run_binary("status", "--json", "--database-url", db.url, "--migrations", str(folder))
    assert result.returncode == 1, result.stderr  # pending migrations need attention
    report = json.loads(result.stdout)
    assert report["up_to_date"] is False
    assert [(m["name"], m["state"]) for m in report["migrations"]] == [(INIT, "pending"), (ADD_COLUMN, "pending")]
    assert report["target"] == db.target.display
    assert_no_password(result.stdout, result.stderr)


def test_deploy_yes_applies_and_records_like_prisma(run_binary, db: Database, migrations) -> None:
    folder = migrations(SCRIPTS)
    result = run_binary("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Applied 2 migration(s)" in result.stdout
    assert_no_password(result.stdout, result.stderr)

    history = db.history()
    assert [(name, finished, rolled_back, steps) for name, finished, rolled_back, steps, _ in history] == [
        (INIT, True, False, 1), (ADD_COLUMN, True, False, 1)]
    columns = db.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'Avatar' "
                       "ORDER BY ordinal_position")
    assert [c for (c,) in columns] == ["id", "name", "style"]

    again = run_binary("status", "--json", "--database-url", db.url, "--migrations", str(folder))
    assert again.returncode == 0
    assert json.loads(again.stdout)["up_to_date"] is True


def test_deploy_without_approval_touches_nothing(run_binary, db: Database, migrations) -> None:
    folder = migrations(SCRIPTS)
    result = run_binary("deploy", "--database-url", db.url, "--migrations", str(folder))
    assert result.returncode == 2
    assert "without approval" in result.stderr
    assert db.query("SELECT to_regclass('public._prisma_migrations') IS NULL, to_regclass('public.\"Avatar\"') IS NULL") == [
        (True, True)]


def test_finds_prisma_migrations_and_dotenv_from_the_working_directory(
        run_binary, db: Database, migrations, tmp_path: Path) -> None:
    app = tmp_path / "app" / "backend"
    migrations(SCRIPTS, folder=app / "prisma" / "migrations")
    (app / ".env").write_text(f'NODE_ENV=production\nDATABASE_URL="{db.url}"\n')

    result = run_binary("status", cwd=app)
    assert result.returncode == 1, result.stderr
    assert "found prisma/migrations in" in result.stdout
    assert f"DATABASE_URL in {app / '.env'}" in result.stdout
    assert INIT in result.stdout and ADD_COLUMN in result.stdout
    assert_no_password(result.stdout, result.stderr)


def test_reads_database_url_from_the_environment_in_the_app_folder(
        run_binary, db: Database, migrations, tmp_path: Path) -> None:
    app = tmp_path / "app"
    migrations(SCRIPTS, folder=app / "backend" / "prisma" / "migrations")

    result = run_binary("deploy", "--yes", "--quiet", cwd=app, env={"DATABASE_URL": db.url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "environment variable DATABASE_URL" in result.stdout
    assert "found backend/prisma/migrations" in result.stdout
    assert [row[0] for row in db.history()] == [INIT, ADD_COLUMN]
    assert_no_password(result.stdout, result.stderr)


def test_sigterm_reaches_the_program_and_rolls_back_the_migration_in_progress(
        binary: Path, db: Database, migrations, tmp_path: Path) -> None:
    """The one-file launcher runs the program as a child process; a stop signal must get through to it."""
    slow = "20240103000000_slow_backfill"
    folder = migrations({INIT: SCRIPTS[INIT],
                         slow: 'ALTER TABLE "Avatar" ADD COLUMN "style" TEXT;\nSELECT pg_sleep(30);\n'})
    proc = subprocess.Popen(
        [str(binary), "deploy", "--yes", "--database-url", db.url, "--migrations", str(folder)], cwd=tmp_path,
        env={"PATH": NO_PYTHON_PATH}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen = ""
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while f"[2/2] {slow}" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            seen += line
        assert f"[2/2] {slow}" in seen, seen + proc.stderr.read()  # type: ignore[union-attr]
        time.sleep(0.5)  # into pg_sleep
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, seen + out + err
    assert "Interrupted by SIGTERM" in out
    assert [(name, finished) for name, finished, *_ in db.history()] == [(INIT, True)]
    columns = db.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'Avatar'")
    assert "style" not in {c for (c,) in columns}, "the interrupted migration left its column behind"


class _HealthEndpoint(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).requests.append(self.path)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _HealthEndpoint)
    _HealthEndpoint.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/health"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(not (REPO / "lumiku_tui" / "health.py").exists(), reason="the health check is not built yet")
def test_health_check_reads_health_url_from_the_environment(run_binary, health_endpoint: str) -> None:
    result = run_binary("health", "--json", env={"HEALTH_URL": health_endpoint})
    assert result.returncode == 0, result.stdout + result.stderr
    check = json.loads(result.stdout)
    assert check["ok"] is True and check["status_code"] == 200
    assert _HealthEndpoint.requests == ["/health"]


# --- the wizard in a terminal ---------------------------------------------------------------------

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b.")
WIZARD_DRAW_LIMIT_S = 40


def _screen_text(raw: bytes) -> str:
    return _ESCAPES.sub("", raw.decode("utf-8", errors="replace"))


@pytest.mark.skipif(not (REPO / "lumiku_tui" / "tui" / "app.py").exists(),
                    reason="the wizard (lumiku_tui/tui/app.py) is not built yet")
def test_wizard_draws_the_overview_in_a_terminal(binary: Path, db: Database, migrations, tmp_path: Path) -> None:
    folder = migrations(SCRIPTS)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    proc = subprocess.Popen(
        [str(binary), "--database-url", db.url, "--migrations", str(folder)], cwd=tmp_path,
        env={"PATH": NO_PYTHON_PATH}, stdin=secondary, stdout=secondary, stderr=secondary, start_new_session=True,
    )
    os.close(secondary)
    raw = b""
    try:
        deadline = time.monotonic() + WIZARD_DRAW_LIMIT_S
        while INIT not in _screen_text(raw) and time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    raw += os.read(primary, 65536)
                except OSError:  # the terminal closed: the program ended
                    break
        shown = _screen_text(raw)
        assert INIT in shown, f"the overview did not show {INIT}; the terminal showed:\n{shown[-3000:]}"
        # The full-screen app switched to the alternate screen: this is the wizard, not a printed fallback.
        assert b"\x1b[?1049h" in raw and "not part of this build" not in shown
        assert_no_password(shown)
        os.write(primary, b"\x11")  # ctrl+q
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.terminate()  # the launcher passes it on and then removes what it unpacked
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.close(primary)
    assert db.query("SELECT to_regclass('public.\"Avatar\"') IS NULL") == [(True,)], "the wizard applied unasked"


# --- the demo, with PostgreSQL binaries from outside the file ------------------------------------


def _pg_bin_dir() -> Path | None:
    try:
        from lumiku_tui.embedded import EmbeddedUnavailable, postgres_bin_dir
    except ImportError:
        return None
    try:
        return postgres_bin_dir()
    except EmbeddedUnavailable:
        return None


def test_demo_runs_from_the_binary_with_postgres_binaries_from_lumiku_pg_bin(
        binary: Path, pg_server, tmp_path: Path) -> None:
    """The shipped migrations and the demo seed travel inside the file; only PostgreSQL stays outside."""
    pg_bin = _pg_bin_dir()
    if pg_bin is None:
        pytest.skip("no PostgreSQL binaries to lend the demo (install lumiku-tui[demo] or set LUMIKU_PG_BIN)")
    tools = tmp_path / "tools"  # what the embedded server shells out to, and no Python
    tools.mkdir()
    for tool in ("chmod", "useradd"):
        found = shutil.which(tool)
        if found:
            (tools / tool).symlink_to(found)
    proc = subprocess.Popen(
        [str(binary), "demo", "--serve"], cwd=tmp_path, env={"PATH": str(tools), "LUMIKU_PG_BIN": str(pg_bin)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], RUN_TIMEOUT_S)
        assert ready, "the demo printed no URL in time"
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("postgresql://"), proc.stderr.read() if proc.poll() is not None else url  # type: ignore[union-attr]

        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL "
                                "ORDER BY migration_name").fetchall()
        shipped = sorted(p.name for p in SHIPPED_MIGRATIONS.iterdir() if (p / "migration.sql").is_file())
        assert len(rows) == len(shipped) - 4  # the report's four pending migrations stay pending
        assert {name for (name,) in rows} < set(shipped)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Demo database stopped." in err
