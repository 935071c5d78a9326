"""The deployment journal: an append-only record of what happened to one target, in order.

Every engine event and every operator action (approval, edit, resolve, retry, a session ended,
a checklist tick, a record written) is appended here, and flushed to disk, before a screen or a
line of output says it happened. Screens, the checklist and the written record are computed
from the journal and the database when shown, so they never contradict what happened; a
deploy running in a process of its own is followed by reading the journal it writes.

One file per target (host, port, database, schema) in the state folder, one JSON object per
line. Appends from several processes are serialised with an advisory file lock; a reader
takes only complete lines, so it can follow a file another process is writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from lumiku_tui.redact import redact
from lumiku_tui.state import default_state_dir

if TYPE_CHECKING:
    from lumiku_tui.apply.events import Event
    from lumiku_tui.pg.target import Target


def operator_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers run as a bare uid)
        return os.environ.get("USER") or f"uid {os.getuid()}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "db"


def journal_path(state_dir: Path, target: "Target") -> Path:
    """The journal of one target: host, port, database and the URL's schema decide it (never the password).

    The URL's `?schema=` rather than the schema the server picks: the journal must be found before
    any connection, and the same URL always means the same history.
    """
    key = "\n".join((target.host, str(target.port), target.dbname, target.explicit_schema or ""))
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return state_dir / "journal" / f"{_slug(target.dbname)}-{digest}.jsonl"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


@dataclass(frozen=True)
class Entry:
    """One line of the journal: `kind` names it (an engine event's name, or an operator action)."""

    kind: str
    at: datetime
    who: str
    pid: int
    fields: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at.isoformat(), "who": self.who, "pid": self.pid, **self.fields}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Entry":
        data = dict(data)
        kind = str(data.pop("kind"))
        at = datetime.fromisoformat(str(data.pop("at")))
        who = str(data.pop("who", ""))
        pid = int(data.pop("pid", 0))
        return cls(kind, at, who, pid, data)


class Journal:
    """Append-only, durable, shared by every process that works on the target."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_target(cls, target: "Target", state_dir: Path | None = None) -> "Journal":
        return cls(journal_path(state_dir or default_state_dir(), target))

    def append(self, kind: str, **fields: Any) -> Entry:
        """Write one entry and make it durable before returning (the caller shows it only after)."""
        return self.append_many([(kind, fields)])[0]

    def append_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> list[Entry]:
        """Write several entries, in order, with one flush to disk (a burst of statement events)."""
        with self._locked() as fd:
            return self._write(fd, items)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Callable[..., Entry]]:
        """Hold the journal while doing something whose consequences other processes journal (ending a session
        a deploy waits behind): the entry written with the function yielded comes before any of theirs."""
        with self._locked() as fd:
            yield lambda kind, **fields: self._write(fd, [(kind, fields)])[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @staticmethod
    def _write(fd: int, items: Iterable[tuple[str, dict[str, Any]]]) -> list[Entry]:
        now, who, pid = datetime.now(timezone.utc), operator_name(), os.getpid()
        entries = [Entry(kind, now, who, pid, _scrub(fields)) for kind, fields in items]
        if entries:
            os.write(fd, "".join(json.dumps(e.to_dict(), default=str, ensure_ascii=False) + "\n"
                                 for e in entries).encode())
            os.fsync(fd)
        return entries

    def event(self, event: "Event", **extra: Any) -> Entry:
        """An engine event, under its JSON name (`migration_failed`, ...), with `extra` fields beside its own."""
        return self.append_many([event_item(event, **extra)])[0]


    def read(self, offset: int = 0) -> tuple[list[Entry], int]:
        """The complete entries from byte `offset` on, and the offset to continue from (for following)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return [], offset
        end = data.rfind(b"\n") + 1  # a line still being written is left for the next read
        entries = [entry for raw in data[:end].splitlines() if raw.strip() and (entry := _parsed(raw)) is not None]
        return entries, offset + end

    def entries(self) -> list[Entry]:
        return self.read()[0]

    def entries_since(self, kind: str, marks: int = 1) -> list[Entry]:
        """The complete entries from the `marks`-th last entry of `kind` on (all of them when there are fewer):
        what the current deployment is read from, without parsing every deploy there ever was."""
        return self.read(self.line_offset(kind, marks) or 0)[0]

    def line_offset(self, kind: str, marks: int = 1) -> int | None:
        """Where the `marks`-th last complete line of an entry of `kind` starts; None when there are fewer. The
        file is searched from its end, a piece at a time: the journal of a long-lived target holds every
        statement of every deploy, and neither the time nor the memory this takes may grow with it."""
        marker = b'\n{"kind": %s, ' % json.dumps(kind).encode()  # the journal writes `kind` first
        try:
            with open(self.path, "rb") as handle:
                position = handle.seek(0, os.SEEK_END)
                carry = b""  # the start of the piece searched before: a mark may run across into it
                last_newline: int | None = None  # a line after it is still being written: not read
                found = 0
                while position > 0:
                    step = min(position, _TAIL_READ)
                    position -= step
                    handle.seek(position)
                    piece = handle.read(step)
                    base = position
                    if position == 0:
                        piece, base = b"\n" + piece, -1  # the first line is looked for as the others are
                    window = piece + carry
                    if last_newline is None and (newline := window.rfind(b"\n")) >= 0:
                        last_newline = base + newline
                    end = len(window)
                    while (hit := window.rfind(marker, 0, end)) >= 0:
                        end = hit  # a mark cannot overlap another: it holds one newline, its first byte
                        if last_newline is not None and base + hit < last_newline:
                            found += 1
                            if found == marks:
                                return base + hit + 1
                    carry = window[: len(marker) - 1]
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None


#: How much of the journal `line_offset` reads at a time.
_TAIL_READ = 1 << 20


def _parsed(raw: bytes) -> Entry | None:
    try:
        return Entry.from_dict(json.loads(raw))
    except (ValueError, KeyError, TypeError):
        return None  # a torn line from a crashed writer: the rest of the journal stays readable


def event_item(event: "Event", **extra: Any) -> tuple[str, dict[str, Any]]:
    """An engine event as (kind, fields) for `append_many`."""
    data = event.to_dict()
    return str(data.pop("event")), {**data, **extra}


def since_last_complete(entries: Iterable[Entry]) -> list[Entry]:
    """The entries of the current deployment: everything after the last deploy that left nothing pending."""
    entries = list(entries)
    start = 0
    for index, entry in enumerate(entries):
        if entry.kind == "deployment_complete":
            start = index + 1
    return entries[start:]


#: Entries that start or continue a deployment: after a `deployment_complete`, the next of these opens a new one.
DEPLOYMENT_ACTIVITY = frozenset({"approved", "migration_started", "migration_failed", "resolved", "file_edited",
                                 "dry_run"})


def current_deployment(entries: Iterable[Entry]) -> list[Entry]:
    """The entries the record of the current deployment tells.

    Everything since the last `deployment_complete`; but when nothing was approved, run or
    resolved since then (only verification, health, checklist ticks, a record), that complete
    deployment is still the current one: its record is written after it completed.
    """
    entries = list(entries)
    marks = [i for i, e in enumerate(entries) if e.kind == "deployment_complete"]
    if not marks:
        return entries
    last = marks[-1]
    if any(e.kind in DEPLOYMENT_ACTIVITY for e in entries[last + 1:]):
        return entries[last + 1:]
    start = marks[-2] + 1 if len(marks) > 1 else 0
    return entries[start:]


__all__ = ["DEPLOYMENT_ACTIVITY", "Entry", "Journal", "current_deployment", "event_item", "journal_path",
           "operator_name", "since_last_complete"]
