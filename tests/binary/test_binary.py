"""The single-file binary, run the way an operator runs it in an app container without Python.

Every run gets an empty environment and a PATH that holds no Python (`env -i
PATH=/nonexistent`), so nothing can fall back on an interpreter or packages installed on
the build machine. Build the binary first, then point LUMIKU_BINARY at it:

    packaging/build_binary.sh && LUMIKU_BINARY=dist/lumiku-tui python -m pytest tests/binary/test_binary.py
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
    "LUMIKU_BINARY=dist/lumiku-tui python -m pytest tests/binary/test_binary.py",
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


def test_health_check_reads_health_url_from_the_environment(run_binary, health_endpoint: str) -> None:
    result = run_binary("health", "--json", env={"HEALTH_URL": health_endpoint})
    assert result.returncode == 0, result.stdout + result.stderr
    check = json.loads(result.stdout)
    assert check["ok"] is True and check["status_code"] == 200
    assert _HealthEndpoint.requests == ["/health"]


# --- the wizard in a terminal ---------------------------------------------------------------------

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b.")
STEP_LIMIT_S = float(os.environ.get("LUMIKU_STEP_LIMIT_S", "40"))


def _screen_text(raw: bytes) -> str:
    return _ESCAPES.sub("", raw.decode("utf-8", errors="replace"))


class Terminal:
    """The binary in a 140x40 pseudo-terminal, read as text with the escape sequences removed."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=secondary, stdout=secondary,
                                     stderr=secondary, start_new_session=True)
        os.close(secondary)
        self.raw = b""
        self.mark = 0  # where in the text the next step's output starts

    @property
    def text(self) -> str:
        return _screen_text(self.raw)

    def _read(self, wait_s: float) -> bool:
        ready, _, _ = select.select([self.primary], [], [], wait_s)
        if ready:
            try:
                self.raw += os.read(self.primary, 65536)
            except OSError:  # the terminal closed: the program ended
                return False
        return True

    def wait_for(self, *texts: str, nudge: bytes = b"", limit_s: float = STEP_LIMIT_S) -> str:
        """Read until every text has appeared since the last step; `nudge` is re-sent meanwhile."""
        deadline = time.monotonic() + limit_s
        next_nudge = time.monotonic()
        while True:
            shown = self.text[self.mark:]
            if all(t in shown for t in texts):
                self.mark += max(shown.index(t) + len(t) for t in texts)
                return shown
            assert time.monotonic() < deadline and self.proc.poll() is None, (
                f"waited {limit_s:g} s for {texts}; the terminal showed:\n{shown[-3000:]}")
            if nudge and time.monotonic() >= next_nudge:
                self.send(nudge)
                next_nudge = time.monotonic() + 1.0
            if not self._read(0.1):
                self.proc.wait(timeout=5)

    def send(self, data: bytes) -> None:
        os.write(self.primary, data)

    def finish(self, limit_s: float = 10) -> int:
        """Quit with ctrl+q and wait for the exit code, reading everything the program still prints."""
        self.send(b"\x11")
        deadline = time.monotonic() + limit_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not self._read(0.1):
                break
        return self.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # the launcher passes it on, then removes what it unpacked
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.primary)


def test_wizard_draws_the_overview_in_a_terminal(binary: Path, db: Database, migrations, tmp_path: Path) -> None:
    folder = migrations(SCRIPTS)
    term = Terminal([str(binary), "--database-url", db.url, "--migrations", str(folder)], tmp_path,
                    {"PATH": NO_PYTHON_PATH})
    try:
        shown = term.wait_for(INIT, ADD_COLUMN)
        # The full-screen app switched to the alternate screen: this is the wizard, not a printed fallback.
        assert b"\x1b[?1049h" in term.raw and "not part of this build" not in shown
        assert_no_password(term.text)
        assert term.finish() == 0
    finally:
        term.close()
    assert db.query("SELECT to_regclass('public.\"Avatar\"') IS NULL") == [(True,)], "the wizard applied unasked"


def test_walk_the_whole_wizard_with_the_containers_environment(
        binary: Path, db: Database, migrations, tmp_path: Path, health_endpoint: str) -> None:
    """The issue's finish line: one file, the app's DATABASE_URL and folder, every step of the wizard."""
    app = tmp_path / "app" / "backend"
    migrations(SCRIPTS, folder=app / "prisma" / "migrations")
    (app / "package.json").write_text('{"name": "lumiku"}')  # the record is named after the app
    state = tmp_path / "state"  # where the wizard keeps its progress and, by default, its records
    term = Terminal([str(binary)], app, {"PATH": NO_PYTHON_PATH, "DATABASE_URL": db.url,
                                         "HEALTH_URL": health_endpoint, "LUMIKU_STATE_DIR": str(state)})
    try:
        term.wait_for("1/7 Overview")
        term.wait_for("2/7 Preview", nudge=b"\r")  # Enter opens the preview once the overview has read the database
        term.send(b"\r")
        term.wait_for("3/7 Approve")
        term.send(db.name.encode() + b"\r")
        term.wait_for("4/7 Applying")
        term.wait_for("5/7 Verify", nudge=b"\r")  # Enter moves on once every migration is applied
        term.wait_for("6/7 Health", nudge=b"\r")
        term.wait_for("7/7 Checklist", nudge=b"\r")
        # Without a runbook every criterion is one the program proves (applied, no errors, objects found,
        # history, health): all ticked, so Enter writes the record without asking.
        term.send(b"\r")
        term.wait_for("lumiku-deploy-")
        code = term.finish()
    finally:
        term.close()
    shown = term.text
    assert code == 0, shown[-3000:]
    assert [(name, finished) for name, finished, *_ in db.history()] == [(INIT, True), (ADD_COLUMN, True)]
    assert _HealthEndpoint.requests, "the health step never called HEALTH_URL"
    records = sorted((state / "records").glob("lumiku-deploy-*"))
    assert records, f"no deployment record in {state / 'records'}; the terminal showed:\n{shown[-2000:]}"
    assert f"Deployment record written to {records[-1]}" in " ".join(shown.split()) or records[-1].name in shown
    record = records[-1].read_text()
    assert INIT in record and ADD_COLUMN in record
    assert_no_password(shown, record)


def test_wizard_previews_a_large_migration_in_a_helper_process(
        binary: Path, db: Database, migrations, tmp_path: Path) -> None:
    """Scripts over the wizard's size threshold are parsed away from the screen's thread; in the binary too."""
    rows = 6000
    big = "20240103000000_seed_styles"
    script = 'CREATE TABLE "Style" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);\n' + "".join(
        f"INSERT INTO \"Style\" (\"id\", \"name\") VALUES ({i}, 'style number {i:06d} with a long description');\n"
        for i in range(rows))
    assert len(script) > 256 * 1024
    folder = migrations({INIT: SCRIPTS[INIT], big: script})
    term = Terminal([str(binary), "--database-url", db.url, "--migrations", str(folder)], tmp_path,
                    {"PATH": NO_PYTHON_PATH})
    try:
        term.wait_for("1/7 Overview")
        term.wait_for("2/7 Preview", nudge=b"\r")
        term.send(b"\x1b[B")  # down: select the large migration
        shown = term.wait_for(f"Statement 1/{rows + 1}")
        assert "ended without a result" not in shown and "did not run" not in term.text
        assert term.finish() == 0
    finally:
        term.close()


def test_binary_stands_in_for_python_dash_m_for_the_projects_own_modules(binary: Path) -> None:
    """`[sys.executable, "-m", "lumiku_tui..."]` helpers must work where sys.executable is this file."""
    import pickle

    from lumiku_tui.prisma.folder import load_folder

    migration = load_folder(SHIPPED_MIGRATIONS).migrations[0]
    helper = subprocess.run([str(binary), "-m", "lumiku_tui.tui.offload"], input=pickle.dumps(("plan", (migration,))),
                            capture_output=True, env={"PATH": NO_PYTHON_PATH}, timeout=RUN_TIMEOUT_S)
    assert helper.returncode == 0, helper.stderr.decode(errors="replace")
    status, answer = pickle.loads(helper.stdout)  # our own child's answer
    assert status == "ok", answer
    assert answer[0] == migration.name

    other = subprocess.run([str(binary), "-m", "os"], capture_output=True, text=True, env={"PATH": NO_PYTHON_PATH},
                           timeout=RUN_TIMEOUT_S)
    assert other.returncode == 2 and "invalid choice" in other.stderr  # not a general Python interpreter


# --- the demo, with PostgreSQL binaries from outside the file ------------------------------------


def _pg_bin_dir() -> Path | None:
    try:
        from lumiku_tui.pg.embedded import EmbeddedUnavailable, postgres_bin_dir
    except ImportError:
        return None
    try:
        return postgres_bin_dir()
    except EmbeddedUnavailable:
        return None


def test_demo_without_postgres_says_how_to_lend_it_one(run_binary) -> None:
    result = run_binary("demo")
    assert result.returncode == 2
    assert "The demo database cannot start." in result.stderr
    assert "LUMIKU_PG_BIN" in result.stderr


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
        from lumiku_tui.demo import REPORT_PENDING

        assert {name for (name,) in rows} == set(shipped) - set(REPORT_PENDING)  # the report's state
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "Demo database stopped." in err
