"""Tools for fault tests: marked histories, the invariant, deploy subprocesses, a TCP proxy.

Every fault test follows one shape: build a history whose migrations each leave one
unmistakable mark (a table of their own), break something while a migration runs,
then check the invariant: a migration's mark is in the database if and only if its
`_prisma_migrations` row says applied, and a plain re-run finishes the work.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psycopg

from tests.conftest import APP_PASSWORD, Database

#: Long enough that no test waits for it to end: tests interrupt it once it is seen running.
SLOW_SECONDS = 60
#: Not part of any history: the slow migrations read how long to sleep from it.
CONTROL_TABLE = "faultkit.control"
#: No fault test may take longer than this per subprocess; a hang fails instead of stalling CI.
PROCESS_BOUND_S = 45.0

T = TypeVar("T")


# --- a history whose every migration leaves a mark ---------------------------------------------


@dataclass(frozen=True)
class MarkedHistory:
    """A migrations folder plus, for each migration, the table that proves it ran."""

    path: Path
    marks: dict[str, str]  # migration name -> table it creates

    @property
    def names(self) -> list[str]:
        return sorted(self.marks)


def mark_table(name: str) -> str:
    return "mark_" + name.split("_", 1)[1]


#: First in a script, it keeps the migration out of the message of the one before it (the deploy's notice
#: that a migration started would come before it, and PostgreSQL takes SET TRANSACTION only first).
ALONE = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\n"


def marked_scripts(count: int, *, slow: Iterable[int] = (), start: int = 1, alone: bool = False) -> dict[str, str]:
    """`count` migrations; the ones at the (1-based) positions in `slow` sleep after making their mark.
    `alone`: each migration goes to the server in a message of its own (none is sent with the one before)."""
    slow = set(slow)
    scripts: dict[str, str] = {}
    for position in range(start, start + count):
        name = f"2024010100{position:04d}_m{position:02d}"
        table = mark_table(name)
        script = (ALONE if alone else "") + (
            f'-- CreateTable\nCREATE TABLE "{table}" (\n    "id" SERIAL NOT NULL,\n    PRIMARY KEY ("id")\n);\n')
        if position in slow:
            # Sleeps as long as the test's control table says: long on the faulted run, zero on the re-run.
            script += f"\n-- keeps the migration running until the test interrupts it\nSELECT pg_sleep(seconds) FROM {CONTROL_TABLE};\n"
        script += f'\nINSERT INTO "{table}" DEFAULT VALUES;\n'
        scripts[name] = script
    return scripts


def marked_history(write: Callable[..., Path], count: int, **kwargs: object) -> MarkedHistory:
    scripts = marked_scripts(count, **kwargs)  # type: ignore[arg-type]
    path = write(scripts)
    return MarkedHistory(path, {name: mark_table(name) for name in scripts})


def set_slowness(db: Database, seconds: float) -> None:
    """How long a slow migration sleeps; set it to 0 before a re-run so the re-run is quick."""
    with db.connect() as conn:
        # Its own schema: a table in the target schema would make the database look un-baselined (P3005).
        conn.execute("CREATE SCHEMA IF NOT EXISTS faultkit")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {CONTROL_TABLE} (seconds float8 NOT NULL)")
        conn.execute(f"DELETE FROM {CONTROL_TABLE}")
        conn.execute(f"INSERT INTO {CONTROL_TABLE} VALUES (%s)", (seconds,))


# --- the invariant -----------------------------------------------------------------------------


@dataclass
class HistoryState:
    applied: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    rolled_back: set[str] = field(default_factory=set)
    rows_per_name: dict[str, int] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)


def read_state(db: Database, history: MarkedHistory, schema: str = "public") -> HistoryState:
    state = HistoryState()
    with db.admin() as conn:
        has_table = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}._prisma_migrations",)).fetchone()
        if has_table and has_table[0]:
            rows = conn.execute(
                f"SELECT migration_name, finished_at IS NOT NULL, rolled_back_at IS NOT NULL "
                f"FROM {schema}._prisma_migrations"
            ).fetchall()
            for name, finished, rolled_back in rows:
                state.rows_per_name[name] = state.rows_per_name.get(name, 0) + 1
                if rolled_back:
                    state.rolled_back.add(name)
                elif finished:
                    state.applied.add(name)
                else:
                    state.failed.add(name)
        for name, table in history.marks.items():
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'{schema}."{table}"',)).fetchone()
            if row and row[0]:
                state.present.add(name)
    return state


def assert_invariant(db: Database, history: MarkedHistory, schema: str = "public") -> HistoryState:
    """Each migration's mark is present iff its history says applied; each is applied at most once."""
    state = read_state(db, history, schema)
    applied_but_absent = sorted(state.applied - state.present)
    present_but_not_applied = sorted(state.present - state.applied)
    assert not applied_but_absent, f"history says applied, changes absent: {applied_but_absent}"
    assert not present_but_not_applied, f"changes present, history does not say applied: {present_but_not_applied}"
    with db.admin() as conn:
        if state.rows_per_name:
            twice = conn.execute(
                f"SELECT migration_name FROM {schema}._prisma_migrations WHERE finished_at IS NOT NULL "
                f"AND rolled_back_at IS NULL GROUP BY migration_name HAVING count(*) > 1"
            ).fetchall()
            assert not twice, f"applied more than once: {twice}"
        for name in state.present:
            rows = conn.execute(f'SELECT count(*) FROM {schema}."{history.marks[name]}"').fetchone()
            assert rows is not None and rows[0] <= 1, f"{name} ran its statements {rows[0]} times"
    return state


def assert_rerun_completes(db: Database, history: MarkedHistory, *, lock_wait_s: float | None = None) -> None:
    """A plain re-run, as the CLI's `deploy --yes` runs it, finishes the work without any repair.

    It runs in this process (the engine the CLI drives, with the CLI's defaults): the faulted
    run was a separate process, and a second interpreter start per test would double the suite's time.
    """
    from lumiku_tui.apply.deploy import Deployment, DeployOptions
    from lumiku_tui.prisma.folder import load_folder

    set_slowness(db, 0)
    options = DeployOptions() if lock_wait_s is None else DeployOptions(advisory_lock_wait_s=lock_wait_s)
    result = Deployment(db.target, load_folder(history.path), options).run()
    assert result.ok, f"re-run failed: {result.failure}"
    state = assert_invariant(db, history)
    assert state.applied == set(history.marks), f"re-run left pending: {sorted(set(history.marks) - state.applied)}"
    assert not state.failed, f"re-run left failed rows: {state.failed}"


def assert_no_secret(*texts: str) -> None:
    from urllib.parse import quote

    for text in texts:
        for spelling in {APP_PASSWORD, quote(APP_PASSWORD, safe="")}:
            assert spelling not in text, "the database password appears in the output"


# --- processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


class DeployProcess:
    """`lumiku-tui deploy --yes` (or any command) in a child process, output kept in files."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        # Files, not pipes: a child that prints a lot must never block on a pipe nobody reads yet.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()
        full_env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in ("DATABASE_URL", "DIRECT_URL"):
            full_env.pop(name, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "lumiku_tui", *args], stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, env=full_env, cwd=tempfile.gettempdir())

    @classmethod
    def start(cls, url: str, folder: Path, *extra: str, command: str = "deploy") -> DeployProcess:
        args = [command, "--database-url", url, "--migrations", str(folder)]
        if command == "deploy":
            args.append("--yes")
        return cls([*args, *extra])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def output_so_far(self) -> str:
        text = ""
        for handle in (self._out, self._err):
            handle.seek(0)
            text += handle.read().decode(errors="replace")
        return text

    def finish(self, timeout: float = PROCESS_BOUND_S) -> Finished:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"lumiku-tui did not finish within {timeout:g} s (killed). Output so far:\n{self.output_so_far()}"
            ) from None
        self._out.seek(0)
        self._err.seek(0)
        finished = Finished(code, self._out.read().decode(errors="replace"), self._err.read().decode(errors="replace"))
        self._out.close()
        self._err.close()
        assert_no_secret(finished.out, finished.err)
        return finished

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def cli_in_process(run_cli: Callable[..., tuple[int, str, str]], url: str, folder: Path, *extra: str,
                   command: str = "deploy") -> Finished:
    """The same CLI in this process, for faults that need no process to die or be signalled."""
    args = [command, "--database-url", url, "--migrations", str(folder)]
    if command == "deploy":
        args.append("--yes")
    code, out, err = run_cli(*args, *extra)
    assert_no_secret(out, err)
    return Finished(code, out, err)


# --- waiting on the database, never on the clock -----------------------------------------------


def wait_for(check: Callable[[], T], what: str, timeout: float = 30.0, *,
             process: DeployProcess | None = None) -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if process is not None and process.proc.poll() is not None:
            raise AssertionError(f"lumiku-tui exited ({process.proc.returncode}) before {what}:\n"
                                 f"{process.output_so_far()}")
        if time.monotonic() > deadline:
            extra = f"\nOutput so far:\n{process.output_so_far()}" if process else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{extra}")
        time.sleep(0.05)


def running_backend(admin: psycopg.Connection, dbname: str, needle: str = "pg_sleep") -> int | None:
    """The pid of a backend in `dbname` currently executing a statement containing `needle`."""
    # Several small migrations go out as one message, and pg_stat_activity shows only its first kilobyte:
    # a sleep is also told by what the backend waits on.
    row = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid() "
        "AND (query LIKE %s OR (%s = 'pg_sleep' AND wait_event = 'PgSleep')) ORDER BY query_start LIMIT 1",
        (dbname, f"%{needle}%", needle),
    ).fetchone()
    return int(row[0]) if row else None


def wait_until_running(db: Database, needle: str = "pg_sleep", *, process: DeployProcess | None = None,
                       timeout: float = 30.0) -> int:
    with db.admin() as admin:
        return wait_for(lambda: running_backend(admin, db.name, needle), f"a statement with `{needle}` to run",
                        timeout, process=process)


# --- a TCP proxy the test controls -------------------------------------------------------------


class FreezableProxy:
    """Forwards 127.0.0.1:<port> to the server until `freeze()`; then forwards nothing, closes nothing.

    A frozen proxy is a peer that stops answering without resetting anything: the
    client's writes are accepted by the kernel and no byte ever comes back.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._freeze_after: bytes | None = None
        self._occurrences_left = 0
        self._sockets: list[socket.socket] = []
        self._links: list[threading.Event] = []  # one per forwarded connection: set = that link is silent
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name="fault-proxy")
        self._thread.start()

    def url(self, url: str) -> str:
        """`url` with its host:port replaced by the proxy's."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        return parts._replace(netloc=f"{userinfo}@127.0.0.1:{self.port}").geturl()

    def freeze(self) -> None:
        self._frozen.set()

    def freeze_after(self, pattern: bytes, occurrence: int = 1) -> None:
        """Deliver the `occurrence`-th client message holding `pattern` to the server, then freeze.

        The server receives and answers it; the answer never reaches the client.
        """
        self._freeze_after = pattern
        self._occurrences_left = occurrence

    def freeze_open_links(self) -> None:
        """Silence the connections open now; new ones are forwarded (a reply lost on one link only)."""
        with self._lock:
            for link in self._links:
                link.set()

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._frozen.is_set():
                with self._lock:
                    self._sockets.append(client)  # accepted by the kernel, never answered
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            link = threading.Event()
            with self._lock:
                self._sockets += [client, server]
                self._links.append(link)
            threading.Thread(target=self._pump, args=(client, server, link), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket, link: threading.Event | None = None) -> None:
        link = link or threading.Event()
        peer = {a: b, b: a}
        selector = selectors.DefaultSelector()
        selector.register(a, selectors.EVENT_READ)
        selector.register(b, selectors.EVENT_READ)
        try:
            while not self._closed.is_set():
                if self._frozen.is_set() or link.is_set():
                    self._closed.wait(0.2)  # hold both sockets open, read nothing, send nothing
                    continue
                for key, _ in selector.select(timeout=0.1):
                    if self._frozen.is_set() or link.is_set():
                        break
                    sock = key.fileobj
                    try:
                        data = sock.recv(65536)  # type: ignore[union-attr]
                    except OSError:
                        data = b""
                    if not data:
                        for s in (a, b):
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                        return
                    peer[sock].sendall(data)  # type: ignore[index]
                    if sock is a and self._freeze_after is not None and self._freeze_after in data:
                        self._occurrences_left -= 1
                        if self._occurrences_left <= 0:
                            self._frozen.set()
        finally:
            selector.close()


# --- the wizard under a pseudo-terminal -----------------------------------------------------------

_ANSI = __import__("re").compile(r"\x1b(?:\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEHMNOPZc])")


class WizardProcess:
    """`python -m lumiku_tui` (the wizard) on a pseudo-terminal: keys in, screen text out."""

    def __init__(self, args: list[str], state_dir: Path) -> None:
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "LUMIKU_STATE_DIR": str(state_dir), "COLUMNS": "140",
               "LINES": "40"}
        for name in ("DATABASE_URL", "DIRECT_URL", "NO_COLOR"):
            env.pop(name, None)
        self.proc = subprocess.Popen([sys.executable, "-m", "lumiku_tui", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True, cwd=str(state_dir))
        os.close(slave)
        self._master = master
        self._screen = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True, name="wizard-pty")
        self._reader.start()

    @classmethod
    def start(cls, url: str, folder: Path, state_dir: Path) -> WizardProcess:
        return cls(["--database-url", url, "--migrations", str(folder)], state_dir)

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._screen += data

    def text(self) -> str:
        """Everything drawn so far, escape sequences removed (words drawn in one go stay whole)."""
        with self._lock:
            raw = bytes(self._screen).decode(errors="replace")
        return _ANSI.sub("", raw)

    def raw(self) -> bytes:
        """Every byte written to the terminal, escape sequences included."""
        with self._lock:
            return bytes(self._screen)

    def drawn_since(self, mark: int) -> str:
        with self._lock:
            raw = bytes(self._screen[mark:]).decode(errors="replace")
        return _ANSI.sub("", raw)

    def mark(self) -> int:
        with self._lock:
            return len(self._screen)

    def wait_for_text(self, needle: str, timeout: float = 30.0, since: int = 0) -> None:
        wait_for(lambda: needle in self.drawn_since(since), f"the wizard to show {needle!r}", timeout)

    def press(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        try:
            os.close(self._master)
        except OSError:
            pass
