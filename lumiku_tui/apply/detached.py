"""An approved deploy in a process of its own, detached from the terminal that approved it.

A closed browser tab, a laptop going to sleep or a dropped SSH link sends SIGHUP to everything on
that terminal. An approved, half-done migration must not be rolled back for that: the deploy runs
in its own session (no controlling terminal, stdin from /dev/null, output to a log file in the
state folder) and writes every engine event to the target's journal. Views (the wizard, `attach`,
`status`) follow the journal; they come and go without touching the deploy.

Stopping on purpose still stops: SIGTERM or SIGINT to the deploy process cancels as a foreground
deploy does (the migration in progress is rolled back). One view at a time controls it (an
advisory lock on a file beside the journal, released by the kernel when that view dies); the
others watch. The deploy process never waits for input: what a view would have asked its
operator is answered by the safe default when no view controls, and written to the journal.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from lumiku_tui.apply import events as ev
from lumiku_tui.errors import LumikuError
from lumiku_tui.journal import Entry, Journal, operator_name
from lumiku_tui.state import default_state_dir

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import Deployment, DeployOptions
    from lumiku_tui.pg.target import Target
    from lumiku_tui.prisma.folder import MigrationsFolder

#: The hidden command the deploy process runs as (`lumiku-tui deploy-process`).
CHILD_COMMAND = "deploy-process"
#: Names the pipe the child reads what to deploy from: never its command line (`ps` shows it to every user) nor
#: its environment (readable in /proc for the process's life); the database URL holds a password.
SPEC_VARIABLE = "LUMIKU_DEPLOY_SPEC_FD"
#: The journal's entry kinds this module writes.
STARTED = "deploy_process"
ENDED = "deploy_process_ended"
CANCEL_REQUESTED = "cancel_requested"
SAFE_DEFAULT = "question_answered"
#: How long the launcher waits for the deploy process to say it started.
_START_WAIT_S = 20.0


class DeployRunning(LumikuError):
    """A deploy process already works on this target."""

    code = "deploy_running"


# -- the state of the last deploy process, from the journal ------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether `pid` is still a deploy process (not gone, not a zombie, not reused by another program)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: alive
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return CHILD_COMMAND.encode() in (proc / "cmdline").read_bytes()
    except OSError:
        return True  # no /proc to ask: the signal said it exists


@dataclass(frozen=True)
class DeployProcess:
    """The last deploy process the journal tells of, and how far it got."""

    pid: int
    who: str
    started: datetime
    approved: tuple[str, ...]
    log: str
    #: The journal entries it wrote after it started (events, answers, the outcome).
    entries: tuple[Entry, ...]
    #: Byte offset in the journal just after its start entry (a follower reads on from there).
    offset: int
    alive: bool
    #: The view that controls it when it was read (pid, who, since, view), or None.
    controller: dict[str, Any] | None = None
    #: The process that started it (the single-file binary's bootloader, when run as that).
    ppid: int = 0
    #: The bounds it runs with (a view counts down to them).
    lock_timeout_s: float | None = None
    statement_timeout_s: float | None = None

    @property
    def outcome(self) -> Entry | None:
        for entry in reversed(self.entries):
            if entry.kind == ENDED:
                return entry
        return None

    @property
    def running(self) -> bool:
        return self.outcome is None and self.alive

    @property
    def lost(self) -> bool:
        """It ended without writing its outcome: killed (kill -9, a container restart) or crashed."""
        return self.outcome is None and not self.alive

    def _last(self, kind: str) -> Entry | None:
        for entry in reversed(self.entries):
            if entry.kind == kind:
                return entry
        return None

    @property
    def migration(self) -> Entry | None:
        """The migration it works on (or last worked on): `migration_started`."""
        return self._last("migration_started")

    @property
    def statement(self) -> Entry | None:
        started = self._last("statement_started")
        migration = self.migration
        if started is None or migration is None or started.get("migration") != migration.get("name"):
            return None
        return started

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(str(e.get("name")) for e in self.entries if e.kind == "migration_finished")

    def elapsed_s(self, now: datetime | None = None) -> float:
        end = self.outcome.at if self.outcome is not None else (now or datetime.now(timezone.utc))
        return max(0.0, (end - self.started).total_seconds())

    def describe(self) -> str:
        """One sentence: who started it, when, what it is doing (or did), how long."""
        when = f"{self.started:%Y-%m-%d %H:%M:%S} UTC"
        head = f"A deploy started by {self.who} at {when} (process {self.pid})"
        migration, statement = self.migration, self.statement
        where = ""
        if migration is not None:
            where = (f" is at migration {migration.get('position')}/{migration.get('total')} "
                     f"{migration.get('name')}")
            if statement is not None:
                where += f", statement {statement.get('index')} (line {statement.get('line')}): " \
                         f"{statement.get('summary')}"
        elapsed = f"{self.elapsed_s():.0f} s"
        if self.running:
            return f"{head}{where or ' is starting'}; running for {elapsed}."
        if self.lost:
            at = where.replace(" is at", "; it was at") if where else "; it had not started a migration"
            return (f"{head} ended without a word after {elapsed}{at}: it was killed (kill -9, a container restart) "
                    f"or crashed. {len(self.applied)} migration(s) it applied stay applied; PostgreSQL rolls back the "
                    "open transaction of the one in progress once it notices the client is gone.")
        outcome = self.outcome
        assert outcome is not None
        return f"{head} ended after {elapsed}: {outcome.get('message', outcome.get('outcome'))}"

    def to_dict(self) -> dict[str, Any]:
        migration, statement = self.migration, self.statement
        return {
            "pid": self.pid, "who": self.who, "started": self.started.isoformat(),
            "state": "running" if self.running else ("lost" if self.lost else "ended"),
            "approved": list(self.approved), "applied": list(self.applied),
            "migration": None if migration is None else {
                "name": migration.get("name"), "position": migration.get("position"),
                "total": migration.get("total")},
            "statement": None if statement is None else {
                "index": statement.get("index"), "line": statement.get("line"), "summary": statement.get("summary")},
            "elapsed_s": round(self.elapsed_s(), 1),
            "outcome": None if self.outcome is None else self.outcome.get("outcome"),
            "log": self.log,
            "controller": self.controller,
            "describe": self.describe(),
        }


def last_deploy_process(journal: Journal) -> DeployProcess | None:
    """The last deploy process this target's journal tells of, or None if none ever ran.

    Only the lines from its start entry on are parsed: the journal of a long-lived target holds every
    statement of every deploy, and status, deploy and the wizard ask this each time.
    """
    begin = journal.line_offset(STARTED)  # searched from the end: memory does not grow with the journal
    if begin is None:
        return None
    try:
        with open(journal.path, "rb") as handle:
            handle.seek(begin)
            data = handle.read()
    except OSError:  # a state folder that cannot be read
        return None
    data = data[: data.rfind(b"\n") + 1]  # a line still being written is not read
    entries: list[Entry] = []
    start = None
    offset = position = begin
    for line in data.splitlines(keepends=True):
        position += len(line)
        parsed = _parse(line)
        if parsed is None:
            continue
        entries.append(parsed)
        if parsed.kind == STARTED and start is None:
            start, offset = len(entries) - 1, position
    if start is None:
        return None
    head = entries[start]
    # Only the process itself says how it ended; views write their own entries (a cancel asked, ...).
    after = tuple(e for e in entries[start + 1:] if e.kind != ENDED or head.pid in (e.pid, e.get("for_pid")))
    approved = tuple(str(a.get("name")) for a in head.get("approved", ()))
    return DeployProcess(head.pid, head.who, head.at, approved, str(head.get("log", "")), after, offset,
                         alive=pid_alive(head.pid), controller=controller_of(journal), ppid=int(head.get("ppid", 0)),
                         lock_timeout_s=head.get("lock_timeout_s"), statement_timeout_s=head.get("statement_timeout_s"))


def _parse(line: bytes) -> Entry | None:
    try:
        return Entry.from_dict(json.loads(line))
    except (ValueError, KeyError, TypeError):
        return None  # a torn line from a crashed writer


def settle_lost(journal: Journal, process: DeployProcess | None) -> DeployProcess | None:
    """Before another deploy: `process` (the journal's last), if it died without a word, is written down as lost
    (so views stop telling of it once a later deploy has taken over); returns it, or None."""
    if process is None or not process.lost:
        return None
    journal.append(ENDED, for_pid=process.pid, outcome="lost", applied=list(process.applied),
                   message="it ended without a word (killed or crashed); PostgreSQL rolled back the open transaction "
                   "of the migration in progress when its connection closed; a later deploy took over.")
    return process


# -- control: one view at a time ------------------------------------------------------------------


def _control_path(journal: Journal) -> Path:
    return journal.path.with_suffix(".control")


class Control:
    """The right to cancel and to end blocking sessions, held by one view; the kernel frees it when the
    view's process ends however it ends, so a vanished view never keeps it."""

    def __init__(self, journal: Journal, fd: int) -> None:
        self.journal = journal
        self._fd: int | None = fd

    @classmethod
    def take(cls, journal: Journal, *, view: str) -> "Control | dict[str, Any]":
        """Control, or who holds it (pid, who, since, view)."""
        path = _control_path(journal)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return controller_of(journal) or {"who": "another view", "pid": 0}
        holder = {"pid": os.getpid(), "who": operator_name(), "since": datetime.now(timezone.utc).isoformat(),
                  "view": view}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        return cls(journal, fd)

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                os.close(self._fd)  # closing the descriptor lets go of the lock
                self._fd = None

    def cancel(self, process: DeployProcess) -> bool:
        """Ask the deploy process to cancel (it rolls back the migration in progress); False if it has ended."""
        self.journal.append(CANCEL_REQUESTED, deploy_pid=process.pid)
        try:
            os.kill(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True


def controller_of(journal: Journal) -> dict[str, Any] | None:
    """Who controls the deploy of this target now (a view holding the control lock), or None."""
    path = _control_path(journal)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(os.pread(fd, 4096, 0) or b"{}") or {"who": "another view", "pid": 0}
            except ValueError:
                return {"who": "another view", "pid": 0}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- events back from the journal -----------------------------------------------------------------

_EVENT_TYPES = {ev._snake(cls.__name__): cls for cls in vars(ev).values()
                if isinstance(cls, type) and issubclass(cls, ev.Event) and cls is not ev.Event}


def _backend(data: Any) -> Any:
    from lumiku_tui.pg.locks import Backend

    if not isinstance(data, dict):
        return data
    fields = {f.name for f in dataclasses.fields(Backend)}
    values = {k: v for k, v in data.items() if k in fields}
    for key in ("backend_start", "state_change"):
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    return Backend(**values)


def event_of(entry: Entry) -> ev.Event | None:
    """The engine event a journal entry holds (None for entries that are not engine events)."""
    cls = _EVENT_TYPES.get(entry.kind)
    if cls is None:
        return None
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in entry.fields:
            continue
        value = entry.fields[f.name]
        if f.name in ("blockers", "holders"):
            value = tuple(_backend(b) for b in value or ())
        elif isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    try:
        return cls(**values)
    except TypeError:
        return None  # written by another version: shown by its kind only


def result_of(entries: "list[Entry] | tuple[Entry, ...]", target: str) -> Any:
    """The deploy's result as the journal tells it (what a view that did not run it shows at the end)."""
    from lumiku_tui.apply.deploy import AppliedMigration, DeployResult

    result = DeployResult(target)
    for entry in entries:
        event = event_of(entry)
        if isinstance(event, ev.MigrationFinished):
            result.applied.append(AppliedMigration(event.name, event.duration_ms, event.statements))
        elif isinstance(event, ev.MigrationFailed):
            result.failure = event
            result.cancelled = event.reason == "cancelled"
        elif isinstance(event, ev.DeployFinished):
            result.duration_ms = event.duration_ms
        elif entry.kind == ENDED and entry.get("outcome") == "cancelled":
            result.cancelled = True
    return result


# -- starting the deploy process ------------------------------------------------------------------


def child_argv() -> list[str]:
    """How to run this program again: the single-file binary is its own interpreter."""
    if getattr(sys, "frozen", False):
        return [sys.executable, CHILD_COMMAND]
    return [sys.executable, "-m", "lumiku_tui", CHILD_COMMAND]


@dataclass(frozen=True)
class Started:
    pid: int  # the deploy process, as its journal entries name it
    log: Path
    journal: Journal
    process: Any  # the Popen, polled by a launcher that outlives it so it leaves no zombie


def start(target: "Target", folder: "MigrationsFolder", locations: Any, options: "DeployOptions",
          *, state_dir: Path | None = None, cwd: Path | None = None) -> Started:
    """Start the approved deploy in its own process and return once it has written its start entry.

    `locations` (lumiku_tui.locations.Locations) is handed on as given, so the deploy process finds the same project.
    """
    import subprocess

    state = state_dir or default_state_dir()
    journal = Journal.for_target(target, state)
    last = last_deploy_process(journal)
    settle_lost(journal, last)
    running = last if last is not None and last.running else None
    if running is not None:
        raise DeployRunning(running.describe() + " Nothing else was started.",
                            hint="Follow it with `lumiku-tui attach` (or open the wizard); cancel it there.")
    by_name = {m.name: m for m in folder.migrations}
    approved = [{"name": name, "checksum": by_name[name].checksum if name in by_name else None}
                for name in (options.approved or ())]
    given = {f.name: getattr(locations, f.name) for f in dataclasses.fields(locations)}
    spec = {
        "locations": {name: (None if value is None else [value.value, value.source]) for name, value in given.items()},
        # The guards are the runbook's checks, bound to this process: the deploy process builds its own.
        "options": dataclasses.asdict(dataclasses.replace(options, guards=None)),
        "approved": approved,
    }
    logs = state / "deploys"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{journal.path.stem}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}.log"
    spec_read, spec_write = os.pipe()
    env = {**os.environ, SPEC_VARIABLE: str(spec_read), "LUMIKU_STATE_DIR": str(state)}
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        process = subprocess.Popen(child_argv(), stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                   start_new_session=True, env=env, cwd=str(cwd) if cwd else None, close_fds=True,
                                   pass_fds=(spec_read,))
    finally:
        os.close(fd)
        os.close(spec_read)
    # Written from a thread: a spec larger than the pipe holds must not stall a launcher whose child died early.
    threading.Thread(target=_write_all, args=(spec_write, json.dumps(spec).encode()), daemon=True).start()
    deadline = time.monotonic() + _START_WAIT_S
    while time.monotonic() < deadline:
        found = last_deploy_process(journal)
        if found is not None and process.pid in (found.pid, found.ppid):
            return Started(found.pid, log, journal, process)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:].strip() if log.exists() else ""
    raise LumikuError("The deploy process did not start; nothing was applied by it.",
                      why=tail or f"It exited with code {process.poll()} before writing to the journal.",
                      hint=f"Its log: {log}. Run `lumiku-tui deploy` in the foreground to see the error.")


# -- the deploy process itself --------------------------------------------------------------------


@contextmanager
def cancel_on_signals(deployment: "Deployment", signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM), *,
                      journal: Journal | None = None) -> Iterator[list[int]]:
    """SIGINT/SIGTERM cancel the deploy as a confirmed cancel does (the migration in progress rolls back);
    yields the signals received. With a journal, the cancel is written there first."""
    received: list[int] = []

    def cancel(signum: int) -> None:
        # Off the signal handler: the interrupted thread may itself hold the journal's file lock.
        if journal is not None:
            try:
                journal.append(CANCEL_REQUESTED, signal=signal.Signals(signum).name)
            except OSError:
                pass  # the deploy reports an unwritable journal itself; the cancel must still happen
        deployment.cancel()

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        threading.Thread(target=cancel, args=(signum,), daemon=True).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _ChildSink:
    """Every engine event to the log; what a view would ask, answered by the safe default
    when no view controls."""

    def __init__(self, journal: Journal, options: "DeployOptions", log: Callable[[dict[str, Any]], None]) -> None:
        self.journal = journal
        self.options = options
        self.log = log
        self._asked: set[tuple[str, Any]] = set()
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        with self._lock:  # the deployment wrote it to the journal before handing it here
            self.log(event.to_dict())
            self._answer(event)

    def _answer(self, event: ev.Event) -> None:
        if isinstance(event, ev.BlockedByLock) and event.blockers:
            key = ("blocked", (event.migration, event.index))
            if key in self._asked or controller_of(self.journal) is not None:
                return
            self._asked.add(key)
            limit = self.options.lock_timeout_s
            waits = (f"keep waiting; the lock timeout ({limit:g} s) gives up and rolls the migration back"
                     if limit else "keep waiting (the lock timeout is off)")
            self.journal.append(SAFE_DEFAULT, question=f"End the session that blocks {event.migration} "
                                f"(pid {event.blockers[0].pid})?", answer=f"No: {waits}.",
                                why="No view controls this deploy; ending a session needs an operator's yes.")
        elif isinstance(event, ev.MigrationFailed) and event.reason in ("lock_timeout", "statement_timeout"):
            if controller_of(self.journal) is not None:
                return
            self.journal.append(SAFE_DEFAULT, question=f"Retry {event.name} with a longer timeout?",
                                answer="No: it was rolled back and nothing was recorded; the next deploy retries it.",
                                why="No view controls this deploy; a retry needs an operator's yes.")


def _outcome(result: Any, received: list[int], error: LumikuError | None) -> dict[str, Any]:
    by = f" (by {signal.Signals(received[0]).name})" if received else ""
    if error is not None:
        return {"outcome": "refused" if not received else "cancelled", "message": error.what + by,
                "hint": error.hint}
    applied = [a.name for a in result.applied]
    failure = result.failure
    if result.ok:
        return {"outcome": "applied", "applied": applied,
                "message": f"applied {len(applied)} migration(s)."}
    if result.cancelled:
        return {"outcome": "cancelled", "applied": applied,
                "message": f"cancelled{by}: the migration in progress was rolled back; {len(applied)} migration(s) "
                "applied before it stay applied."}
    assert failure is not None
    return {"outcome": "failed", "applied": applied, "failed": failure.name, "reason": failure.reason,
            "rolled_back": failure.rolled_back, "recorded_failed": failure.recorded_failed,
            "message": f"{failure.name} failed ({failure.reason}){by}; {len(applied)} migration(s) applied before it "
            f"stay applied. {failure.next_step}".strip()}


@dataclass(frozen=True)
class Spec:
    """What the launcher hands the deploy process: where the project is (each location as given, so it is found
    as the launcher found it), the deploy options, and the approved migrations with their checksums."""

    locations: dict[str, tuple[str, str] | None]
    options: "DeployOptions"
    approved: list[dict[str, Any]]


def _write_all(fd: int, data: bytes) -> None:
    try:
        with os.fdopen(fd, "wb") as pipe:
            pipe.write(data)
    except OSError:
        pass  # the child has gone: the launcher reports it from the log


def read_spec() -> Spec | None:
    """The spec from the pipe the launcher named in this process's environment, or None if it named none."""
    from lumiku_tui.apply.deploy import DeployOptions

    name = os.environ.pop(SPEC_VARIABLE, None)
    if name is None or not name.isdigit():
        return None
    try:
        with os.fdopen(int(name), "rb") as pipe:
            data = json.loads(pipe.read())
    except (OSError, ValueError):
        return None
    options = DeployOptions(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data["options"].items()})
    locations = {name: (None if value is None else (value[0], value[1])) for name, value in data["locations"].items()}
    return Spec(locations, options, data["approved"])


def serve(target: "Target", folder: "MigrationsFolder", spec: Spec, *, log: Callable[[dict[str, Any]], None],
          log_path: str = "", guards: "Callable[[str], Any] | None" = None) -> int:
    """The deploy process: journal the start, deploy, journal the outcome; `log` gets each event as a dict."""
    from lumiku_tui.apply.deploy import Deployment

    # No terminal to hang up; a SIGHUP sent to the group that approved it must not end the deploy.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    options = dataclasses.replace(spec.options, guards=guards) if guards is not None else spec.options
    journal = Journal.for_target(target)
    # ppid: the single-file binary's bootloader is the process its launcher started, this one its child.
    journal.append(STARTED, started=datetime.now(timezone.utc).isoformat(), ppid=os.getppid(),
                   approved=spec.approved,
                   target=target.display, log=log_path, lock_timeout_s=options.lock_timeout_s,
                   statement_timeout_s=options.statement_timeout_s)
    by_name = {m.name: m for m in folder.migrations}
    changed = [a["name"] for a in spec.approved if a["name"] in by_name and by_name[a["name"]].checksum != a["checksum"]]
    if changed:
        outcome: dict[str, Any] = {
            "outcome": "refused", "message": f"{', '.join(changed)} changed on disk after it was approved; nothing "
            "was applied.", "hint": "Review the migration again and approve it anew."}
        journal.append(ENDED, **outcome)
        log({"event": ENDED, **outcome})
        return 2
    deployment = Deployment(target, folder, options, _ChildSink(journal, options, log), journal=journal)
    error: LumikuError | None = None
    result = None
    with cancel_on_signals(deployment) as received:
        try:
            result = deployment.run()
        except LumikuError as err:
            error = err
        except Exception as exc:  # the journal must still say how it ended
            error = LumikuError(f"The deploy stopped: {exc}", hint="Its log in the state folder has the details.")
    outcome = _outcome(result, received, error)
    journal.append(ENDED, **outcome)
    log({"event": ENDED, **outcome})
    if outcome["outcome"] == "applied":
        return 0
    return 128 + received[0] if received else 1


__all__ = ["CHILD_COMMAND", "Control", "DeployProcess", "DeployRunning", "Started", "cancel_on_signals",
           "child_argv", "controller_of", "event_of", "last_deploy_process", "pid_alive",
           "read_spec", "result_of", "serve", "settle_lost", "start"]
