"""The state folder, and results remembered in it from one run of lumiku-tui to the next.

The state folder holds the journals, sessions and records, and folders of remembered results (the gate's
lint reports, the split of each script). A remembered result is a pure function of its inputs and of the
code that computed it, so its key is a digest of both (`code_identity`); it is written as one file per
key: a line naming what it holds, its format and the digest of the rest, then JSON. Only a regular file of
this user that nobody else may write is read, so a result planted by someone else is never used; a file
cut short, changed or unreadable is a miss, and the result is computed afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["code_identity", "default_state_dir", "dumps", "prune_entries", "read_entry", "touch_entry",
           "write_entry"]

_PACKAGE = Path(__file__).resolve().parent
#: A temporary file older than this was left by a process that died while writing it.
_STALE_TEMPORARY_S = 600


def default_state_dir() -> Path:
    """Where sessions and journals are kept: LUMIKU_STATE_DIR, else $XDG_STATE_HOME/lumiku-tui, else ~/.local/state."""
    override = os.environ.get("LUMIKU_STATE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lumiku-tui"


# --- the code's identity --------------------------------------------------------------------------------

_identity_lock = threading.Lock()
_identity: list[str | None] = []  # computed once per process


def code_identity() -> str | None:
    """A digest of the code that computes a remembered result: the contents of this package's .py files (or,
    in the single-file binary, the binary itself), with pglast's, psycopg's and Python's versions. None when
    the sources cannot be read: then nothing is remembered."""
    with _identity_lock:
        if not _identity:
            _identity.append(_compute_identity())
        return _identity[0]


def _compute_identity() -> str | None:
    import importlib.util

    import psycopg

    digest = hashlib.sha256()
    digest.update(f"python {sys.version}\0psycopg {psycopg.__version__}\0".encode())
    try:
        # pglast's version stands in its __init__.py: read, not imported (a remembered result needs no parser).
        spec = importlib.util.find_spec("pglast")
        if spec is None or spec.origin is None:
            return None
        digest.update(b"pglast\0" + Path(spec.origin).read_bytes())
        if getattr(sys, "frozen", False):
            # The binary holds the code compiled, not as sources: it is its own identity.
            with open(sys.executable, "rb") as binary:
                for block in iter(lambda: binary.read(1 << 20), b""):
                    digest.update(block)
            return "binary:" + digest.hexdigest()
        sources = sorted(_PACKAGE.rglob("*.py"))
        if not sources:
            return None
        for path in sources:
            data = path.read_bytes()
            digest.update(f"{path.relative_to(_PACKAGE).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
    except OSError:
        return None
    return "source:" + digest.hexdigest()


# --- entries ------------------------------------------------------------------------------------------------

def dumps(value: Any) -> str:
    """The one JSON text of `value` (keys sorted, no spaces, ASCII): what keys are digests of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_header(kind: str, format_number: int, text: bytes) -> bytes:
    """The entry's first line: what it holds, its format and the digest of the JSON after it."""
    return b"lumiku-tui %s %d sha256 %s" % (kind.encode(), format_number, hashlib.sha256(text).hexdigest().encode())


def read_entry(path: Path, kind: str, format_number: int) -> dict[str, Any] | None:
    """The JSON object `write_entry` wrote at `path`; None for anything else (missing, another user's or writable
    by others, not a regular file, cut short, changed, of another kind or format)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        # Only a file of this user that nobody else may write: a result another user planted could, say,
        # wave a deploy through the gate.
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return None
        with os.fdopen(fd, "rb") as file:
            fd = -1
            raw = file.read()
    except OSError:
        return None
    finally:
        if fd >= 0:
            os.close(fd)
    head, newline, text = raw.partition(b"\n")
    if not newline or head != entry_header(kind, format_number, text):
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def write_entry(path: Path, kind: str, format_number: int, body: Any) -> bool:
    """Write `body` at `path` (mode 0600, in a folder of mode 0700), whole or not at all. False when it cannot be
    written: the result stands, it is just not remembered. TypeError/ValueError when `body` is not JSON."""
    text = dumps(body).encode()
    data = entry_header(kind, format_number, text) + b"\n" + text
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        return False
    return True


def touch_entry(path: Path) -> None:
    """Mark the entry used now: pruning keeps the most recently used."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune_entries(folder: Path, keep: int, keep_bytes: int, newest: Path | None = None) -> None:
    """Keep the `keep` most recently used entries of `folder`, fewer when they would take more than `keep_bytes`
    together; `newest` (the entry just written) is always kept."""
    entries: list[tuple[float, int, Path]] = []
    now = time.time()
    try:
        listed = list(folder.iterdir())
    except OSError:
        return
    for path in listed:
        try:
            info = path.stat()
        except OSError:
            continue
        if path.name.startswith(".tmp-"):
            if now - info.st_mtime > _STALE_TEMPORARY_S:
                _unlink(path)
        elif path.suffix == ".json":
            entries.append((info.st_mtime, info.st_size, path))
    entries.sort(key=lambda e: (e[2] != newest, -e[0]))  # the newest first, then the most recently used
    total = 0
    for kept, (_modified, size, path) in enumerate(entries):
        total += size
        if kept >= keep or (kept and total > keep_bytes):
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
